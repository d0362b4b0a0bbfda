/* SPDX-License-Identifier: ISC */
/*
 * metrics.c - the --metrics endpoint: GET /metrics in the Prometheus text
 * format (version 0.0.4) and GET /healthz, served by libevent's evhttp on
 * worker 0's loop, which the main thread runs.  It only reads: counters
 * are relaxed atomic loads, so no worker waits for a scrape.
 */

#include "config.h"

#include <sys/queue.h>
#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "echod.h"

/* A listen queue for a few scrapers; more wait in their own retries. */
#define METRICS_BACKLOG		16

/*
 * Seconds a connection may stay silent, or take to send its request or
 * read the reply: long enough for any scraper on a loaded host, short
 * enough that idle connections cannot hold the few slots for long.
 */
#define METRICS_TIMEOUT_SEC	10

/* Request line and headers: curl and Prometheus send a few hundred bytes. */
#define METRICS_HEADERS_MAX	8192

/* GET and HEAD carry no body; evhttp answers 413 to one. */
#define METRICS_BODY_MAX	0

/* Every method libevent 2.1 parses. */
#define METRICS_METHODS		(EVHTTP_REQ_GET | EVHTTP_REQ_POST |		\
	EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |		\
	EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |	\
	EVHTTP_REQ_PATCH)

/* How long accepting pauses when descriptors or memory run out. */
#define METRICS_PAUSE_SEC	1

/* The Prometheus text exposition format, version 0.0.4. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* The endpoint: its sockets, evhttp, and the count behind the cap. */
struct metrics {
	struct server		*m_server;
	struct bound		 m_bound[METRICS_BOUND_MAX];
	size_t			 m_nbound;
	size_t			 m_nserved;	/* m_bound handed to evhttp */
	struct evhttp		*m_http;	/* NULL: stopped */
	struct evhttp_bound_socket *m_serve[METRICS_BOUND_MAX];
	struct evconnlistener	*m_refuse[METRICS_BOUND_MAX];
	struct event		 m_resume_ev;
	int			 m_paused;	/* accept failed: wait a while */
	int			 m_nconns;	/* open HTTP connections */
	struct event		 m_claim_ev;
	struct bufferevent	*m_unclaimed[METRICS_CONNS_MAX];
	int			 m_nunclaimed;	/* new, no close callback yet */
};

/*
 * The endpoint, for the error callback of evhttp's listeners: libevent
 * passes them the evhttp, not ours.  There is one per process.
 */
static struct metrics	*metrics_running;

static void	metrics_admit(struct metrics *);
static struct bufferevent *metrics_bev_cb(struct event_base *, void *);
static void	metrics_claim_cb(evutil_socket_t, short, void *);
static void	metrics_conn_gone(struct evhttp_connection *, void *);
static void	metrics_refuse_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	metrics_accept_error_cb(struct evconnlistener *, void *);
static void	metrics_resume_cb(evutil_socket_t, short, void *);
static void	metrics_request_cb(struct evhttp_request *, void *);
static void	metrics_reply(struct evhttp_request *, int, const char *,
		    struct evbuffer *);
static int	metrics_render(struct metrics *, struct evbuffer *);
static int	metrics_family(struct evbuffer *, const char *, const char *,
		    const char *);
static int	metrics_escaped(struct evbuffer *, const char *, int);
static long	metrics_open_fds(void);

/*
 * Bind the --metrics address, like --listen, before privileges are
 * dropped; serving starts once the loops exist.  Returns 0 (also without
 * --metrics) or -1 (logged).
 */
int
metrics_open(struct server *srv)
{
	const struct listen_spec *ls = &srv->s_settings->metrics;
	struct metrics		*m;

	if (ls->ls_arg[0] == '\0')
		return (0);
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_warn("--metrics");
		return (-1);
	}
	m->m_server = srv;
	if (listener_bind(srv->s_settings, ls, SOCK_STREAM, METRICS_BACKLOG,
	    m->m_bound, METRICS_BOUND_MAX, &m->m_nbound) == -1) {
		log_warnx("--metrics %s: the endpoint cannot start",
		    ls->ls_arg);
		free(m);
		return (-1);
	}
	srv->s_metrics = m;
	return (0);
}

/*
 * Serve the bound sockets on base.  Returns 0 (also without --metrics) or
 * -1 (logged); metrics_free() undoes what was done either way.
 *
 * libevent 2.1 has no evhttp_set_max_connections() (2.2 does), and hands
 * a new connection to us only inside a request.  So metrics_bev_cb(),
 * which evhttp calls for each connection it accepts, counts it and makes
 * its bufferevent; once evhttp has set that up, metrics_claim_cb() finds
 * the connection as the bufferevent's callback argument and sets the
 * close callback, which evhttp runs however the connection ends.  At the
 * cap, evhttp's listener is disabled and a second one on the same socket
 * accepts and closes, so that a client over the cap learns at once
 * instead of waiting in the listen queue.
 */
int
metrics_start(struct server *srv, struct event_base *base)
{
	struct metrics	*m = srv->s_metrics;
	size_t		 i;

	if (m == NULL)
		return (0);
	evtimer_assign(&m->m_resume_ev, base, metrics_resume_cb, m);
	event_assign(&m->m_claim_ev, base, -1, 0, metrics_claim_cb, m);
	if ((m->m_http = evhttp_new(base)) == NULL) {
		log_warnx("--metrics: cannot create the HTTP server");
		return (-1);
	}
	evhttp_set_timeout(m->m_http, METRICS_TIMEOUT_SEC);
	evhttp_set_max_headers_size(m->m_http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->m_http, METRICS_BODY_MAX);
	/* Every method evhttp knows reaches us, for a 405, not its 501. */
	evhttp_set_allowed_methods(m->m_http, METRICS_METHODS);
	evhttp_set_gencb(m->m_http, metrics_request_cb, m);
	evhttp_set_bevcb(m->m_http, metrics_bev_cb, m);
	metrics_running = m;
	for (i = 0; i < m->m_nbound; i++) {
		struct bound	*b = &m->m_bound[i];

		m->m_refuse[i] = evconnlistener_new(base, metrics_refuse_cb, m,
		    LEV_OPT_DISABLED | LEV_OPT_CLOSE_ON_EXEC, 0, b->b_fd);
		if (m->m_refuse[i] == NULL) {
			log_warnx("--metrics %s: cannot listen", b->b_name);
			return (-1);
		}
		evconnlistener_set_error_cb(m->m_refuse[i],
		    metrics_accept_error_cb);
		/* From here on evhttp closes the socket. */
		if ((m->m_serve[i] = evhttp_accept_socket_with_handle(m->m_http,
		    b->b_fd)) == NULL) {
			log_warnx("--metrics %s: cannot listen", b->b_name);
			return (-1);
		}
		m->m_nserved = i + 1;
		evconnlistener_set_error_cb(
		    evhttp_bound_socket_get_listener(m->m_serve[i]),
		    metrics_accept_error_cb);
		log_notice("metrics on %s", b->b_name);
	}
	return (0);
}

/* Stop serving: close the connections, then the sockets. */
void
metrics_free(struct server *srv)
{
	struct metrics	*m = srv->s_metrics;
	struct evhttp	*http;
	size_t		 i;

	if (m == NULL)
		return;
	srv->s_metrics = NULL;
	metrics_running = NULL;
	for (i = 0; i < m->m_nbound; i++) {
		if (m->m_refuse[i] != NULL)
			evconnlistener_free(m->m_refuse[i]);
	}
	if (event_initialized(&m->m_resume_ev))
		evtimer_del(&m->m_resume_ev);
	if (event_initialized(&m->m_claim_ev))
		event_del(&m->m_claim_ev);
	/* Its listeners go first: closing connections must not admit. */
	if ((http = m->m_http) != NULL) {
		m->m_http = NULL;
		evhttp_free(http);
	}
	while (m->m_nunclaimed > 0)
		bufferevent_decref(m->m_unclaimed[--m->m_nunclaimed]);
	for (i = m->m_nserved; i < m->m_nbound; i++)
		close(m->m_bound[i].b_fd);
	free(m);
}

/*
 * Accept on evhttp's listeners while under the cap and not paused; at
 * the cap, on the refusing ones.  Either one or neither listens.
 */
static void
metrics_admit(struct metrics *m)
{
	int	 full = m->m_nconns >= METRICS_CONNS_MAX;
	size_t	 i;

	if (m->m_http == NULL)
		return;
	for (i = 0; i < m->m_nserved; i++) {
		struct evconnlistener *serve =
		    evhttp_bound_socket_get_listener(m->m_serve[i]);

		if (m->m_paused || full)
			evconnlistener_disable(serve);
		if (m->m_paused || !full)
			evconnlistener_disable(m->m_refuse[i]);
		if (!m->m_paused && full)
			evconnlistener_enable(m->m_refuse[i]);
		if (!m->m_paused && !full)
			evconnlistener_enable(serve);
	}
}

/*
 * evhttp accepted a connection and wants its bufferevent: count the
 * connection, and claim it once evhttp has set it up.  The reference
 * keeps the bufferevent for metrics_claim_cb() even if evhttp gives up on
 * the connection before then.  Returning NULL would have evhttp make its
 * own, which the cap would not count, but only when memory is short, and
 * then that fails too.
 */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
	struct metrics		*m = arg;
	struct bufferevent	*bev;

	/* As evhttp makes it: evhttp closes the socket itself. */
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return (NULL);
	bufferevent_incref(bev);
	/* Below the cap, or evhttp would not be accepting: there is room. */
	m->m_unclaimed[m->m_nunclaimed++] = bev;
	event_active(&m->m_claim_ev, EV_TIMEOUT, 1);
	m->m_nconns++;
	metrics_admit(m);
	return (bev);
}

/*
 * Right after the accept, before any of their events: evhttp set each new
 * connection as its bufferevent's callback argument, so give it the close
 * callback.  Without an event callback, which evhttp always sets, it has
 * closed the connection already.
 */
static void
metrics_claim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics			*m = arg;
	struct bufferevent		*bev;
	bufferevent_event_cb		 eventcb;
	void				*evcon;

	(void)fd;
	(void)what;
	while (m->m_nunclaimed > 0) {
		bev = m->m_unclaimed[--m->m_nunclaimed];
		bufferevent_getcb(bev, NULL, NULL, &eventcb, &evcon);
		if (eventcb != NULL && evcon != NULL)
			evhttp_connection_set_closecb(evcon, metrics_conn_gone,
			    m);
		else
			metrics_conn_gone(NULL, m);
		bufferevent_decref(bev);
	}
}

/* A connection ended, however: a slot is free again. */
static void
metrics_conn_gone(struct evhttp_connection *evcon, void *arg)
{
	struct metrics	*m = arg;

	(void)evcon;
	m->m_nconns--;
	metrics_admit(m);
}

/* Over the cap: close at once, so the client need not wait to learn. */
static void
metrics_refuse_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	char	 peer[128];

	(void)l;
	(void)arg;
	log_sockaddr(sa, (socklen_t)salen, peer, sizeof(peer));
	log_info("metrics: refused %s: %d connections are open", peer,
	    METRICS_CONNS_MAX);
	close(fd);
}

/*
 * accept() failed.  Out of descriptors or memory the waiting connection
 * would wake the loop again at once: pause accepting instead.
 */
static void
metrics_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct metrics	*m = metrics_running;
	struct timeval	 tv = { METRICS_PAUSE_SEC, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	if (m == NULL)
		return;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_debug("metrics: accept: %s", strerror(err));
		return;
	}
	log_warnx("metrics: accept: %s; pausing for %ds", strerror(err),
	    METRICS_PAUSE_SEC);
	m->m_paused = 1;
	metrics_admit(m);
	evtimer_add(&m->m_resume_ev, &tv);
}

/* The pause is over. */
static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics	*m = arg;

	(void)fd;
	(void)what;
	m->m_paused = 0;
	metrics_admit(m);
}

/*
 * Every request: /metrics and /healthz answer GET and HEAD, other methods
 * get 405, other paths 404.  /healthz
 * says 503 while echod drains, so a balancer stops sending clients.
 */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics	*m = arg;
	const char	*path = evhttp_uri_get_path(
			    evhttp_request_get_evhttp_uri(req));
	struct evbuffer	*buf;
	int		 code = HTTP_OK;
	const char	*type = "text/plain";

	if ((buf = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (path == NULL || (strcmp(path, "/metrics") != 0 &&
	    strcmp(path, "/healthz") != 0)) {
		code = HTTP_NOTFOUND;
		evbuffer_add_printf(buf, "not found: try /metrics\n");
	} else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		/* evhttp_send_error() would drop the Allow header. */
		code = HTTP_BADMETHOD;
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		evbuffer_add_printf(buf, "method not allowed: GET or HEAD\n");
	} else if (strcmp(path, "/metrics") == 0) {
		if (metrics_render(m, buf) == -1) {
			evhttp_send_error(req, HTTP_INTERNAL, NULL);
			evbuffer_free(buf);
			return;
		}
		type = METRICS_CONTENT_TYPE;
	} else if (m->m_server->s_workers[0].w_draining) {
		code = HTTP_SERVUNAVAIL;
		evbuffer_add_printf(buf, "draining\n");
	} else
		evbuffer_add_printf(buf, "ok\n");
	metrics_reply(req, code, type, buf);
	evbuffer_free(buf);
}

/*
 * Send body with its type; scrapes must never come from a cache.  For
 * HEAD, only its length: evhttp 2.1 would send the body and no length.
 */
static void
metrics_reply(struct evhttp_request *req, int code, const char *type,
    struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char		 len[32];

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(h, "Content-Length", len);
		body = NULL;
	}
	evhttp_send_reply(req, code, NULL, body);
}

/*
 * Every counter as echod_NAME_total, from the COUNTERS list so that a
 * counter added there appears here too, then the gauges.  Returns 0, or
 * -1 when memory ran out.
 */
static int
metrics_render(struct metrics *m, struct evbuffer *b)
{
	struct server		*srv = m->m_server;
	struct stats_total	 t;
	struct rlimit		 rl;
	long			 fds;
	size_t			 i;
	int			 w, rv = 0;

	stats_sum(srv, &t);
#define METRICS_COUNTER(name, what)					\
	rv |= metrics_family(b, "echod_" #name "_total", what, "counter");	\
	rv |= evbuffer_add_printf(b, "echod_" #name "_total %" PRIu64 "\n",	\
	    t.name) < 0;
	COUNTERS(METRICS_COUNTER)
#undef METRICS_COUNTER

	rv |= metrics_family(b, "echod_connections", "connections open now",
	    "gauge");
	rv |= evbuffer_add_printf(b, "echod_connections %" PRIu64 "\n",
	    t.active) < 0;
	rv |= metrics_family(b, "echod_connections_max", "the connection "
	    "cap in force", "gauge");
	rv |= evbuffer_add_printf(b, "echod_connections_max %ld\n",
	    srv->s_max_conns) < 0;
	/* Read one after the other, in may lag the rest by a read. */
	rv |= metrics_family(b, "echod_queued_bytes", "bytes read and not "
	    "yet written back (bytes_in less bytes_out and bytes_dropped)",
	    "gauge");
	rv |= evbuffer_add_printf(b, "echod_queued_bytes %" PRIu64 "\n",
	    t.bytes_in > t.bytes_out + t.bytes_dropped ? t.bytes_in -
	    t.bytes_out - t.bytes_dropped : 0) < 0;
	if ((fds = metrics_open_fds()) != -1) {
		rv |= metrics_family(b, "echod_open_fds", "descriptors open",
		    "gauge");
		rv |= evbuffer_add_printf(b, "echod_open_fds %ld\n", fds) < 0;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rv |= metrics_family(b, "echod_max_fds", "the descriptor "
		    "limit (RLIMIT_NOFILE)", "gauge");
		if (rl.rlim_cur == RLIM_INFINITY)
			rv |= evbuffer_add_printf(b, "echod_max_fds +Inf\n") < 0;
		else
			rv |= evbuffer_add_printf(b, "echod_max_fds %llu\n",
			    (unsigned long long)rl.rlim_cur) < 0;
	}

	rv |= metrics_family(b, "echod_worker_connections", "connections "
	    "each worker (event loop) serves now", "gauge");
	for (w = 0; w < srv->s_nworkers; w++)
		rv |= evbuffer_add_printf(b, "echod_worker_connections"
		    "{worker=\"%d\"} %zu\n", w, atomic_load_explicit(
		    &srv->s_workers[w].w_pool.cp_nconns,
		    memory_order_relaxed)) < 0;

	if (srv->s_nbound > 0)
		rv |= metrics_family(b, "echod_listener_accepted_total",
		    "connections accepted on each listening socket and "
		    "admitted under the cap", "counter");
	for (i = 0; i < srv->s_nbound; i++) {
		rv |= evbuffer_add_printf(b, "echod_listener_accepted_total"
		    "{listener=\"") < 0;
		rv |= metrics_escaped(b, srv->s_bound[i].b_name, 1);
		rv |= evbuffer_add_printf(b, "\"} %" PRIu64 "\n",
		    atomic_load_explicit(&srv->s_bound[i].b_accepted,
		    memory_order_relaxed)) < 0;
	}
	return (rv ? -1 : 0);
}

/* A family's HELP and TYPE lines.  Returns 0 or -1 (no memory). */
static int
metrics_family(struct evbuffer *b, const char *name, const char *help,
    const char *type)
{
	int	 rv;

	rv = evbuffer_add_printf(b, "# HELP %s ", name) < 0;
	rv |= metrics_escaped(b, help, 0);
	rv |= evbuffer_add_printf(b, "\n# TYPE %s %s\n", name, type) < 0;
	return (rv ? -1 : 0);
}

/*
 * Text as the format wants it: backslash and newline escaped, and in a
 * label value the double quote too.  Returns 0 or -1 (no memory).
 */
static int
metrics_escaped(struct evbuffer *b, const char *s, int label)
{
	int	 rv = 0;

	for (; *s != '\0' && rv == 0; s++) {
		if (*s == '\\')
			rv = evbuffer_add(b, "\\\\", 2);
		else if (*s == '\n')
			rv = evbuffer_add(b, "\\n", 2);
		else if (*s == '"' && label)
			rv = evbuffer_add(b, "\\\"", 2);
		else
			rv = evbuffer_add(b, s, 1);
	}
	return (rv);
}

/*
 * Descriptors open, from /proc/self/fd less the one reading it; -1 where
 * there is no /proc, and the gauge is left out.
 */
static long
metrics_open_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	long		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return (n > 0 ? n - 1 : 0);
}
