/* SPDX-License-Identifier: ISC */
/*
 * echod.c - main: settings, logging, binding, the workers, signals, and
 * teardown in reverse order of set-up.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"

/* What main's own loop needs in its callbacks. */
struct main_state {
	struct server		*m_srv;
	struct event_base	*m_base;
	int			 m_stopping;
	int			 m_finished;	/* workers that have exited */
};

static void	main_signal_cb(evutil_socket_t, short, void *);
static void	main_done_cb(evutil_socket_t, short, void *);

/* SIGTERM/SIGINT drain, a second one forces; SIGUSR1 logs the counters. */
static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state	*m = arg;

	(void)what;
	switch (sig) {
	case SIGUSR1:
		stats_log(m->m_srv);
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

int
main(int argc, char *argv[])
{
	static const int	 signals[] = { SIGTERM, SIGINT, SIGUSR1 };
	struct event		*sigev[sizeof(signals) / sizeof(signals[0])];
	struct settings		 settings;
	struct server		 srv;
	struct main_state	 m;
	struct event_config	*cfg;
	struct event		*done_ev;
	size_t			 i;

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

	/* libevent writes with writev(), which raises SIGPIPE on a reset. */
	signal(SIGPIPE, SIG_IGN);

	memset(&srv, 0, sizeof(srv));
	srv.s_settings = &settings;
	srv.s_done[0] = srv.s_done[1] = -1;
	if (listener_bind_all(&srv) == -1)
		return (EXIT_RUNTIME);
	srv.s_max_conns = listener_max_conns(&srv);

	if ((cfg = event_config_new()) == NULL)
		fatalx("cannot create an event loop");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV);
	m.m_base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (m.m_base == NULL)
		fatalx("cannot create an event loop");
	m.m_srv = &srv;
	m.m_stopping = 0;
	m.m_finished = 0;

	if (pipe2(srv.s_done, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe");
	done_ev = event_new(m.m_base, srv.s_done[0], EV_READ | EV_PERSIST,
	    main_done_cb, &m);
	if (done_ev == NULL || event_add(done_ev, NULL) == -1)
		fatalx("cannot watch the workers");
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		sigev[i] = evsignal_new(m.m_base, signals[i], main_signal_cb,
		    &m);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("cannot handle %s", strsignal(signals[i]));
	}

	if (worker_start_all(&srv) == -1)
		return (EXIT_RUNTIME);
	/* Every worker holds duplicates now; ours would outlive a drain. */
	listener_close_all(&srv);
	for (i = 0; i < srv.s_nbound; i++)
		log_notice("listening on %s", srv.s_bound[i].b_name);
	log_notice("echod %s ready: %d thread%s, at most %ld connections",
	    PACKAGE_VERSION, srv.s_nworkers, srv.s_nworkers == 1 ? "" : "s",
	    srv.s_max_conns);

	event_base_dispatch(m.m_base);

	stats_log(&srv);
	worker_join_all(&srv);
	log_notice("stopped");
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		event_free(sigev[i]);
	event_free(done_ev);
	event_base_free(m.m_base);
	close(srv.s_done[0]);
	close(srv.s_done[1]);
	libevent_global_shutdown();
	return (EXIT_OK);
}
