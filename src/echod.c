/* SPDX-License-Identifier: ISC */
/*
 * echod.c - main: settings, logging, sockets, service set-up, the workers
 * (the main thread runs the first one's loop), signals, and teardown in
 * reverse order of set-up.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"

/* Handled on worker 0's loop, which the main thread runs. */
static const int	 main_signals[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };

/* How many signals main handles: sizes main_state's events. */
#define MAIN_NSIGNALS	(sizeof(main_signals) / sizeof(main_signals[0]))

/*
 * What main's signal and done callbacks need, and what main_teardown()
 * must undo: an event is NULL until it has been made.
 */
struct main_state {
	struct server		*m_srv;
	struct event_base	*m_base;
	int			 m_stopping;
	int			 m_finished;	/* workers that have exited */
	struct event		*m_sigev[MAIN_NSIGNALS];
	struct event		*m_done_ev;
};

static int	main_open_sockets(struct server *, const struct settings *);
static int	main_inetd_socket(struct server *, const struct settings *);
static int	main_become_service(struct server *, const struct settings *);
static void	main_signal_cb(evutil_socket_t, short, void *);
static void	main_done_cb(evutil_socket_t, short, void *);
static void	main_teardown(struct main_state *);

/*
 * --inetd: the connection is our standard input.  inetd hands it over as
 * stderr too, where a log line would be taken for echo data, so then the
 * log goes to syslog unless --log-file said otherwise.
 */
static int
main_inetd_socket(struct server *srv, const struct settings *s)
{
	struct sockaddr_storage	 ss;
	struct stat		 in, err;
	socklen_t		 len, sslen = sizeof(ss);
	int			 type;

	/* A listening socket (inetd's "wait" mode) has no peer: ENOTCONN. */
	len = sizeof(type);
	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM || getpeername(STDIN_FILENO,
	    (struct sockaddr *)&ss, &sslen) == -1) {
		log_warnx("--inetd needs a connected stream socket on standard "
		    "input");
		return (-1);
	}
	if (!s->use_syslog && s->log_file == NULL &&
	    fstat(STDIN_FILENO, &in) == 0 && fstat(STDERR_FILENO, &err) == 0 &&
	    in.st_dev == err.st_dev && in.st_ino == err.st_ino)
		log_open_syslog();
	if (fcntl(STDIN_FILENO, F_SETFL,
	    fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK) == -1) {
		log_warn("--inetd: standard input");
		return (-1);
	}
	srv->s_inetd_fd = STDIN_FILENO;
	return (0);
}

/*
 * Where connections come from: standard input (--inetd), sockets systemd
 * passed us, or the --listen addresses.  Activation and --listen together
 * are refused: silently serving one set would surprise.
 */
static int
main_open_sockets(struct server *srv, const struct settings *s)
{
	int	 adopted;

	if (s->inetd)
		return (main_inetd_socket(srv, s));
	if ((adopted = listener_adopt(srv)) == -1)
		return (-1);
	if (adopted == 0)
		return (listener_bind_all(srv));
	if (!s->listen_default || s->nudp > 0) {
		log_warnx("%s cannot be used with socket activation "
		    "(LISTEN_FDS): the service manager chooses the sockets",
		    s->nudp > 0 ? "--udp" : "--listen");
		listener_close_all(srv);
		return (-1);
	}
	return (0);
}

/*
 * With the sockets open: detach, write the pid file, and give up root,
 * in that order (the pid must be the daemon's; the file may need root).
 */
static int
main_become_service(struct server *srv, const struct settings *s)
{
	if (s->daemonize && daemon_detach() == -1)
		return (-1);
	if (s->pidfile != NULL && daemon_write_pidfile(s->pidfile) == -1)
		return (-1);
	/* Raising the descriptor limit needs no root, but do it first. */
	srv->s_max_conns = listener_max_conns(srv);
	if (s->user != NULL && daemon_drop_privileges(s->user) == -1)
		return (-1);
	return (0);
}

/*
 * SIGTERM/SIGINT drain, a second one forces; SIGUSR1 logs the counters;
 * SIGHUP reopens the log file after rotation and reloads the TLS
 * certificate and key.
 */
static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state	*m = arg;

	(void)what;
	switch (sig) {
	case SIGUSR1:
		stats_log(m->m_srv);
		break;
	case SIGHUP:
		log_reopen();
#ifdef HAVE_OPENSSL
		(void)tls_reload();
#endif
		break;
	case SIGTERM:
	case SIGINT:
		if (m->m_stopping) {
			log_notice("%s again: closing every connection now",
			    strsignal(sig));
			worker_command_all(m->m_srv, WORKER_CMD_STOP);
			break;
		}
		m->m_stopping = 1;
		log_notice("%s: no longer accepting; draining %ld "
		    "connections for up to %us", strsignal(sig),
		    atomic_load(&m->m_srv->s_active),
		    m->m_srv->s_settings->shutdown_timeout);
		worker_command_all(m->m_srv, WORKER_CMD_DRAIN);
		break;
	}
}

/* A worker has finished; once all have, main's loop ends too. */
static void
main_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state	*m = arg;
	char			 ids[64];
	ssize_t			 n;

	(void)what;
	while ((n = read(fd, ids, sizeof(ids))) > 0)
		m->m_finished += (int)n;
	if (m->m_finished >= m->m_srv->s_nworkers)
		event_base_loopexit(m->m_base, NULL);
}

/*
 * Undo what set-up got done, in reverse order.  Every step tells by a NULL
 * or a -1 whether it happened, so that each exit, however early, comes
 * through here and leaves no pid file behind.
 */
static void
main_teardown(struct main_state *m)
{
	struct server	*srv = m->m_srv;
	size_t		 i;

	for (i = 0; i < MAIN_NSIGNALS; i++) {
		if (m->m_sigev[i] != NULL)
			event_free(m->m_sigev[i]);
		m->m_sigev[i] = NULL;
	}
	if (m->m_done_ev != NULL)
		event_free(m->m_done_ev);
	m->m_done_ev = NULL;
	/* Before the loop it runs on; it was bound before the workers. */
	metrics_free(srv);
	/* Also frees the worker whose set-up failed half way. */
	worker_join_all(srv);
	if (srv->s_done[0] != -1) {
		close(srv->s_done[0]);
		close(srv->s_done[1]);
		srv->s_done[0] = srv->s_done[1] = -1;
	}
	daemon_remove_pidfile();
	listener_close_all(srv);
	listener_remove_all(srv);
#ifdef HAVE_OPENSSL
	tls_free();
#endif
	log_close();
	/* Last: the loops and events above were libevent's to the end. */
	libevent_global_shutdown();
}

/*
 * Set up, serve until the workers are done, tear down.  Once set-up has
 * begun, every failure goes to "out", whose teardown undoes what was done.
 */
int
main(int argc, char *argv[])
{
	struct settings		 settings;
	struct server		 srv;
	struct main_state	 m;
	char			 log_path[PATH_MAX], pid_path[PATH_MAX];
	char			 cert_path[PATH_MAX], key_path[PATH_MAX];
	size_t			 i;
	int			 status = EXIT_RUNTIME;

	settings_init(&settings);
	switch (settings_parse(&settings, argc, argv, stdout, stderr)) {
	case SETTINGS_RUN:
		break;
	case SETTINGS_EXIT_OK:
		return (fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME);
	case SETTINGS_EXIT_USAGE:
		return (EXIT_USAGE);
	}
	log_init(settings.verbosity);
	/* --daemon moves to /, yet SIGHUP and exit find these by name. */
	if (settings.log_file != NULL) {
		if (daemon_abspath(settings.log_file, log_path,
		    sizeof(log_path)) == -1)
			fatal("--log-file %s", settings.log_file);
		settings.log_file = log_path;
	}
	if (settings.pidfile != NULL) {
		if (daemon_abspath(settings.pidfile, pid_path,
		    sizeof(pid_path)) == -1)
			fatal("--pidfile %s", settings.pidfile);
		settings.pidfile = pid_path;
	}
	if (settings.tls_cert != NULL) {
		if (daemon_abspath(settings.tls_cert, cert_path,
		    sizeof(cert_path)) == -1)
			fatal("--tls-cert %s", settings.tls_cert);
		if (daemon_abspath(settings.tls_key, key_path,
		    sizeof(key_path)) == -1)
			fatal("--tls-key %s", settings.tls_key);
		settings.tls_cert = cert_path;
		settings.tls_key = key_path;
	}

	/* libevent writes with writev(), which raises SIGPIPE on a reset. */
	signal(SIGPIPE, SIG_IGN);
#if defined(HAVE_MALLOPT) && defined(M_TRIM_THRESHOLD)
	/*
	 * Echo queues grow and drain by up to --high-water per connection
	 * many times a second.  glibc hands memory freed at the top of the
	 * heap back to the kernel past 128 KiB, and every page of the next
	 * burst then costs a fault (bench/RESULTS.md has the cost).
	 */
	mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_KEEP);
#endif

	/* main_teardown() reads these to tell what got set up. */
	memset(&srv, 0, sizeof(srv));
	srv.s_settings = &settings;
	srv.s_done[0] = srv.s_done[1] = -1;
	srv.s_inetd_fd = -1;
	memset(&m, 0, sizeof(m));
	m.m_srv = &srv;

	if (settings.log_file != NULL && log_open_file(settings.log_file) == -1) {
		log_warn("cannot open log file %s", settings.log_file);
		goto out;
	}
	if (settings.use_syslog)
		log_open_syslog();

	/* Before binding, and before --user: key files are often root's. */
#ifdef HAVE_OPENSSL
	if (tls_init(&settings) == -1)
		goto out;
#endif
	if (main_open_sockets(&srv, &settings) == -1 ||
	    metrics_open(&srv) == -1 ||
	    main_become_service(&srv, &settings) == -1)
		goto out;

	if (pipe2(srv.s_done, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("pipe");
		goto out;
	}
	if (worker_init_all(&srv) == -1)
		goto out;
	/* Every worker holds duplicates now; ours would outlive a drain. */
	listener_close_all(&srv);

	/* The main thread runs worker 0's loop and handles signals on it. */
	m.m_base = srv.s_workers[0].w_base;
	m.m_done_ev = event_new(m.m_base, srv.s_done[0], EV_READ | EV_PERSIST,
	    main_done_cb, &m);
	if (m.m_done_ev == NULL || event_add(m.m_done_ev, NULL) == -1) {
		log_warnx("cannot watch the workers");
		goto out;
	}
	for (i = 0; i < MAIN_NSIGNALS; i++) {
		m.m_sigev[i] = evsignal_new(m.m_base, main_signals[i],
		    main_signal_cb, &m);
		if (m.m_sigev[i] == NULL ||
		    evsignal_add(m.m_sigev[i], NULL) == -1) {
			log_warnx("cannot handle %s",
			    strsignal(main_signals[i]));
			goto out;
		}
	}
	if (metrics_start(&srv, m.m_base) == -1)
		goto out;

	/*
	 * The sockets are listening, so clients already queue: say so, and
	 * let a --daemon parent exit, before threads that may log start.
	 */
	for (i = 0; i < srv.s_nbound; i++)
		log_notice(srv.s_bound[i].b_type == SOCK_DGRAM ? "udp on %s" :
		    "listening on %s", srv.s_bound[i].b_name);
	if (!settings.inetd)
		log_notice("echod %s ready: %d thread%s, at most %ld "
		    "connection%s", PACKAGE_VERSION, settings.threads,
		    settings.threads == 1 ? "" : "s", srv.s_max_conns,
		    srv.s_max_conns == 1 ? "" : "s");
	if (settings.daemonize) {
		/* stderr is about to be /dev/null. */
		if (!settings.use_syslog && settings.log_file == NULL)
			log_open_syslog();
		daemon_ready();
	}

	/* The threads started are told to stop; teardown joins them. */
	if (worker_start_threads(&srv) == -1)
		goto out;

	event_base_dispatch(m.m_base);

	if (!settings.inetd) {
		stats_log(&srv);
		log_notice("stopped");
	}
	status = EXIT_OK;
out:
	main_teardown(&m);
	return (status);
}
