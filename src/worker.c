/* SPDX-License-Identifier: ISC */
/*
 * worker.c - one event loop per thread: its listeners, its connections,
 * the periodic sweep, and the drain when echod is asked to stop.  Main
 * steers a worker only by writing one-byte commands to its pipe.
 */

#include "config.h"

#ifdef HAVE_SYS_TIMERFD_H
#include <sys/timerfd.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"

static int	worker_init(struct worker *, struct server *, int);
static int	worker_adopt_inetd(struct worker *, int);
static void	worker_free(struct worker *);
static void	*worker_main(void *);
static int	worker_tick_init(struct worker *);
static int	worker_tick_every(struct worker *, long);
static void	worker_ctl_cb(evutil_socket_t, short, void *);
static void	worker_sweep_cb(evutil_socket_t, short, void *);
static void	worker_deadline_cb(evutil_socket_t, short, void *);
static void	worker_drain(struct worker *);
static void	worker_conn_closed(void *);

/*
 * Set up a worker's loop, connection pool, events, listeners and UDP
 * sockets; -1 on failure.
 */
static int
worker_init(struct worker *w, struct server *srv, int id)
{
	struct event_config	*cfg;

	w->w_server = srv;
	w->w_id = id;
	w->w_ctl[0] = w->w_ctl[1] = -1;
	w->w_tick_fd = -1;

	/*
	 * One thread per base, so no locks; the environment must not pick
	 * another backend under us.
	 */
	if ((cfg = event_config_new()) == NULL)
		return (-1);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK |
	    EVENT_BASE_FLAG_IGNORE_ENV);
	w->w_base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->w_base == NULL) {
		log_warnx("cannot create an event loop");
		return (-1);
	}
	if (conn_pool_init(&w->w_pool, w->w_base, srv->s_settings,
	    &w->w_stats, &srv->s_active, srv->s_settings->threads) == -1)
		return (-1);
	w->w_pool.cp_closed = worker_conn_closed;
	w->w_pool.cp_closed_arg = w;
	if (pipe2(w->w_ctl, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("cannot create a control pipe");
		return (-1);
	}
	event_assign(&w->w_ctl_ev, w->w_base, w->w_ctl[0],
	    EV_READ | EV_PERSIST, worker_ctl_cb, w);
	evtimer_assign(&w->w_deadline_ev, w->w_base, worker_deadline_cb, w);
	if (event_add(&w->w_ctl_ev, NULL) == -1 || worker_tick_init(w) == -1)
		return (-1);
	if (srv->s_inetd_fd != -1 && id == 0)
		return (worker_adopt_inetd(w, srv->s_inetd_fd));
	w->w_listeners = listener_attach(srv, w->w_base, &w->w_pool,
	    &w->w_stats);
	if (w->w_listeners == NULL)
		return (-1);
	return (udp_attach(srv, w->w_base, &w->w_stats, &w->w_udp));
}

/* --inetd: serve the one connection we were started with, then end. */
static int
worker_adopt_inetd(struct worker *w, int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == -1)
		sslen = 0;
	atomic_fetch_add(&w->w_server->s_active, 1);
	w->w_exit_when_empty = 1;
	conn_accept(&w->w_pool, fd, (struct sockaddr *)&ss, sslen, 0, 0);
	worker_drain_check(w);
	return (0);
}

/* Release what worker_init() set up; the connections are gone by now. */
static void
worker_free(struct worker *w)
{
	listener_detach(w->w_listeners);
	w->w_listeners = NULL;
	udp_detach(w->w_udp);
	w->w_udp = NULL;
	if (w->w_base != NULL) {
		/* Set-up may have failed before any of them was assigned. */
		if (event_initialized(&w->w_ctl_ev))
			event_del(&w->w_ctl_ev);
		if (event_initialized(&w->w_sweep_ev))
			event_del(&w->w_sweep_ev);
		if (event_initialized(&w->w_deadline_ev))
			event_del(&w->w_deadline_ev);
		/* The rate-limit group's timer lives on the base. */
		conn_pool_free(&w->w_pool);
		event_base_free(w->w_base);
	}
	if (w->w_tick_fd != -1)
		close(w->w_tick_fd);
	if (w->w_ctl[0] != -1)
		close(w->w_ctl[0]);
	if (w->w_ctl[1] != -1)
		close(w->w_ctl[1]);
}

/*
 * Set up every worker: loops, buffers, listeners.  Worker 0's loop is run
 * by the main thread, which also handles signals on it, so one thread is
 * all --threads 1 costs.  Returns 0 or -1 (logged).
 */
int
worker_init_all(struct server *srv)
{
	const struct settings	*s = srv->s_settings;
	int			 i;

	srv->s_workers = calloc(s->threads, sizeof(*srv->s_workers));
	if (srv->s_workers == NULL) {
		log_warn("cannot allocate workers");
		return (-1);
	}
	for (i = 0; i < s->threads; i++) {
		srv->s_nworkers = i + 1;
		if (worker_init(&srv->s_workers[i], srv, i) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Start a thread for every worker but the first.  Signals are blocked in
 * them so that only the main thread sees SIGTERM and friends.  Returns 0
 * or -1 (logged).
 */
int
worker_start_threads(struct server *srv)
{
	sigset_t	 all, old;
	int		 i, error;

	srv->s_nstarted = 1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < srv->s_nworkers; i++) {
		struct worker *w = &srv->s_workers[i];

		error = pthread_create(&w->w_thread, NULL, worker_main, w);
		if (error != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			errno = error;
			log_warn("cannot start thread %d", i);
			/* The started ones need a command to finish. */
			srv->s_nstarted = i;
			worker_command_all(srv, WORKER_CMD_STOP);
			return (-1);
		}
		srv->s_nstarted = i + 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (0);
}

/* A worker thread: run the loop until drained. */
static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	event_base_dispatch(w->w_base);
	return (NULL);
}

/* Send a command to every worker (main only). */
void
worker_command_all(struct server *srv, char cmd)
{
	int	 i;

	for (i = 0; i < srv->s_nworkers; i++) {
		if (write(srv->s_workers[i].w_ctl[1], &cmd, 1) != 1)
			log_warn("cannot send a command to thread %d", i);
	}
}

/* Wait for every thread and free the workers (main only). */
void
worker_join_all(struct server *srv)
{
	int	 i;

	for (i = 1; i < srv->s_nstarted; i++)
		pthread_join(srv->s_workers[i].w_thread, NULL);
	for (i = 0; i < srv->s_nworkers; i++)
		worker_free(&srv->s_workers[i]);
	free(srv->s_workers);
	srv->s_workers = NULL;
	srv->s_nworkers = 0;
}

/* A command from main. */
static void
worker_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	char		 cmds[16];
	ssize_t		 n, i;

	(void)what;
	while ((n = read(fd, cmds, sizeof(cmds))) > 0) {
		for (i = 0; i < n; i++) {
			worker_drain(w);
			if (cmds[i] == WORKER_CMD_STOP)
				conn_close_all(&w->w_pool, CLOSE_DEADLINE);
		}
	}
}

/*
 * Stop accepting, close what is quiet, let busy connections finish until
 * the deadline.  The sweep now runs faster and only looks for quiet.
 */
static void
worker_drain(struct worker *w)
{
	const struct settings	*s = w->w_server->s_settings;
	struct timeval		 deadline = { s->shutdown_timeout, 0 };

	if (w->w_draining)
		return;
	w->w_draining = 1;
	listener_detach(w->w_listeners);
	w->w_listeners = NULL;
	/* No datagram is in flight: UDP stops at once. */
	udp_detach(w->w_udp);
	w->w_udp = NULL;
	if (worker_tick_every(w, DRAIN_INTERVAL_MSEC) == -1)
		log_warn("cannot speed up the drain checks");
	evtimer_add(&w->w_deadline_ev, &deadline);
	w->w_pool.cp_tick++;
	conn_drain_quiet(&w->w_pool);
	worker_drain_check(w);
}

/*
 * After every close: a freed descriptor may be what accepting waits for,
 * and the last connection may be what a drain waits for.
 */
static void
worker_conn_closed(void *arg)
{
	struct worker	*w = arg;

	if (w->w_listeners != NULL)
		listener_conn_closed(w->w_listeners);
	worker_drain_check(w);
}

/*
 * When draining and nothing is left, tell main and end a thread's loop.
 * Worker 0's loop is main's own: main ends it once every worker is done.
 */
void
worker_drain_check(struct worker *w)
{
	char	 id = (char)w->w_id;

	if (w->w_finished || w->w_pool.cp_nconns != 0 ||
	    !(w->w_draining || w->w_exit_when_empty))
		return;
	w->w_finished = 1;
	/* One byte per worker: the pipe cannot fill. */
	(void)!write(w->w_server->s_done[1], &id, 1);
	if (w->w_id != 0)
		event_base_loopexit(w->w_base, NULL);
}

/*
 * The sweep's tick comes from a timerfd the loop watches like a socket.
 * A libevent timer would give every epoll_wait() a timeout, and the kernel
 * then arms and cancels a timer of its own each time the loop goes to
 * sleep (bench/RESULTS.md has the cost).  Without timerfd, a libevent
 * timer it is.
 */
static int
worker_tick_init(struct worker *w)
{
#ifdef HAVE_SYS_TIMERFD_H
	w->w_tick_fd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->w_tick_fd == -1) {
		log_warn("cannot create a timer");
		return (-1);
	}
	event_assign(&w->w_sweep_ev, w->w_base, w->w_tick_fd,
	    EV_READ | EV_PERSIST, worker_sweep_cb, w);
	if (event_add(&w->w_sweep_ev, NULL) == -1)
		return (-1);
#else
	event_assign(&w->w_sweep_ev, w->w_base, -1, EV_PERSIST,
	    worker_sweep_cb, w);
#endif
	if (worker_tick_every(w, SWEEP_INTERVAL_SEC * 1000L) == -1) {
		log_warn("cannot start the timer");
		return (-1);
	}
	return (0);
}

/* Make the tick come every msec milliseconds from now on. */
static int
worker_tick_every(struct worker *w, long msec)
{
#ifdef HAVE_SYS_TIMERFD_H
	struct itimerspec	 its;

	its.it_interval.tv_sec = msec / 1000;
	its.it_interval.tv_nsec = msec % 1000 * 1000000;
	its.it_value = its.it_interval;
	return (timerfd_settime(w->w_tick_fd, 0, &its, NULL));
#else
	struct timeval		 tv = { msec / 1000, msec % 1000 * 1000 };

	event_del(&w->w_sweep_ev);
	return (event_add(&w->w_sweep_ev, &tv));
#endif
}

/* The periodic tick. */
static void
worker_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
#ifdef HAVE_SYS_TIMERFD_H
	uint64_t	 expirations;

	/* Ticks the loop was too busy to see are not made up for. */
	(void)!read(fd, &expirations, sizeof(expirations));
#endif

	(void)fd;
	(void)what;
	w->w_pool.cp_tick++;
	if (w->w_draining)
		conn_drain_quiet(&w->w_pool);
	else
		conn_sweep(&w->w_pool);
}

/* --shutdown-timeout has passed: whatever is left is closed. */
static void
worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	conn_close_all(&w->w_pool, CLOSE_DEADLINE);
}
