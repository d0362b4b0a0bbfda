/* SPDX-License-Identifier: ISC */
/*
 * listener.c - binding the listening sockets, accepting on them, the
 * connection cap and the back-off when descriptors run out.  It hands each
 * accepted socket to conn.c and never touches data.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "echod.h"

static int	listener_bind_one(struct server *, const struct listen_spec *,
		    const struct addrinfo *);
static void	listener_name(const struct sockaddr *, char *, size_t);
static void	listener_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	listener_error_cb(struct evconnlistener *, void *);
static void	listener_refuse_one(struct worker *, int);
static void	listener_pause(struct worker *, int);
static void	listener_resume_cb(evutil_socket_t, short, void *);

/* "192.0.2.1:7", "[2001:db8::1]:7" or "unix:/run/echo.sock". */
static void
listener_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const void *)sa;

		snprintf(buf, len, "unix:%s", sun->sun_path);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	}
}

/*
 * Bind and listen on one resolved address.  Returns 0, 1 when the address
 * family is missing from this host (skipped for wildcards), or -1 with
 * the reason logged.
 */
static int
listener_bind_one(struct server *srv, const struct listen_spec *ls,
    const struct addrinfo *ai)
{
	const struct settings	*s = srv->s_settings;
	struct bound		*b;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 name[sizeof(b->b_name)];
	int			 fd, on = 1;

	listener_name(ai->ai_addr, name, sizeof(name));
	if (srv->s_nbound == sizeof(srv->s_bound) / sizeof(srv->s_bound[0])) {
		log_warnx("cannot listen on %s: too many addresses", name);
		return (-1);
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		if (ls->ls_host[0] == '\0' && errno == EAFNOSUPPORT) {
			log_notice("not listening on %s: address family not "
			    "supported here", name);
			return (1);
		}
		log_warn("cannot listen on %s: socket", name);
		return (-1);
	}
	/*
	 * SO_REUSEADDR only lets a restart bind past old TIME_WAIT
	 * connections; SO_REUSEPORT is never set, so a second echod on the
	 * same port fails.  V6ONLY keeps [::] from claiming IPv4 as well,
	 * which would collide with the 0.0.0.0 socket.  Accepted sockets
	 * inherit TCP_NODELAY: an echo is written as soon as it is read, and
	 * Nagle would hold back small echoes behind delayed ACKs.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
		log_warn("cannot listen on %s: setsockopt", name);
		close(fd);
		return (-1);
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		int	 err = errno;

		close(fd);
		if (ls->ls_host[0] == '\0' && ai->ai_family == AF_INET6 &&
		    err == EADDRNOTAVAIL) {
			log_notice("not listening on %s: IPv6 is disabled "
			    "here", name);
			return (1);
		}
		errno = err;
		if (err == EACCES)
			log_warnx("cannot listen on %s: %s (ports below 1024 "
			    "need root or CAP_NET_BIND_SERVICE; try a port of "
			    "1024 or above)", name, strerror(err));
		else if (err == EADDRNOTAVAIL)
			log_warnx("cannot listen on %s: %s (not an address "
			    "of this host)", name, strerror(err));
		else
			log_warn("cannot listen on %s", name);
		return (-1);
	}
	if (listen(fd, s->backlog) == -1) {
		log_warn("cannot listen on %s", name);
		close(fd);
		return (-1);
	}
	b = &srv->s_bound[srv->s_nbound++];
	b->b_fd = fd;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		listener_name((struct sockaddr *)&ss, b->b_name,
		    sizeof(b->b_name));
	else
		snprintf(b->b_name, sizeof(b->b_name), "%s", name);
	return (0);
}

/*
 * Resolve and bind every --listen address.  Nothing is left bound on
 * failure.  Returns 0 or -1 with the reason logged.
 */
int
listener_bind_all(struct server *srv)
{
	const struct settings	*s = srv->s_settings;
	struct addrinfo		 hints, *res, *ai;
	size_t			 i;
	int			 error, rv;

	for (i = 0; i < s->nlisten; i++) {
		const struct listen_spec *ls = &s->listen[i];
		size_t	 before = srv->s_nbound;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_protocol = IPPROTO_TCP;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		error = getaddrinfo(ls->ls_host[0] ? ls->ls_host : NULL,
		    ls->ls_port, &hints, &res);
		if (error != 0) {
			log_warnx("cannot listen on '%s': %s", ls->ls_arg,
			    error == EAI_SYSTEM ? strerror(errno) :
			    gai_strerror(error));
			listener_close_all(srv);
			return (-1);
		}
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if ((rv = listener_bind_one(srv, ls, ai)) == -1) {
				freeaddrinfo(res);
				listener_close_all(srv);
				return (-1);
			}
		}
		freeaddrinfo(res);
		if (srv->s_nbound == before) {
			log_warnx("cannot listen on '%s': no usable address",
			    ls->ls_arg);
			listener_close_all(srv);
			return (-1);
		}
	}
	return (0);
}

/*
 * systemd socket activation: when LISTEN_PID names us, serve the
 * LISTEN_FDS sockets that start at descriptor 3 and hide the variables
 * from anything we might run.  Returns how many, or -1 (logged).
 */
int
listener_adopt(struct server *srv)
{
	const char		*pid = getenv("LISTEN_PID");
	const char		*fds = getenv("LISTEN_FDS");
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	long			 p, n, i;
	int			 fd, type, listening, on = 1;

	if (pid == NULL || fds == NULL ||
	    settings_parse_count(pid, 1, LONG_MAX, &p) == -1 ||
	    p != (long)getpid())
		return (0);
	if (settings_parse_count(fds, 0, LISTEN_MAX, &n) == -1) {
		log_warnx("socket activation: LISTEN_FDS=%s is not a number "
		    "of sockets from 0 to %d", fds, LISTEN_MAX);
		return (-1);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");

	for (i = 0; i < n; i++) {
		struct bound	*b = &srv->s_bound[srv->s_nbound];

		fd = LISTEN_FDS_START + (int)i;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
		    type != SOCK_STREAM ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
		    &len) == -1 || !listening) {
			log_warnx("socket activation: descriptor %d is not a "
			    "listening stream socket", fd);
			return (-1);
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_warn("socket activation: descriptor %d", fd);
			return (-1);
		}
		/* Inherited by accepted sockets; meaningless for AF_UNIX. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		b->b_fd = fd;
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			listener_name((struct sockaddr *)&ss, b->b_name,
			    sizeof(b->b_name));
		else
			snprintf(b->b_name, sizeof(b->b_name), "fd %d", fd);
		srv->s_nbound++;
	}
	return ((int)n);
}

/* Close the sockets main bound; workers hold their own duplicates. */
void
listener_close_all(struct server *srv)
{
	size_t	 i;

	for (i = 0; i < srv->s_nbound; i++) {
		if (srv->s_bound[i].b_fd != -1)
			close(srv->s_bound[i].b_fd);
		srv->s_bound[i].b_fd = -1;
	}
}

/*
 * Raise the descriptor limit as far as allowed and work out the connection
 * cap: the one asked for, or what the limit leaves after the reserve.
 */
long
listener_max_conns(struct server *srv)
{
	const struct settings	*s = srv->s_settings;
	struct rlimit		 rl;
	long			 limit, reserve, avail;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t	 cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_debug("cannot raise the descriptor limit to %llu",
			    (unsigned long long)rl.rlim_max);
			rl.rlim_cur = cur;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > LONG_MAX)
		limit = LONG_MAX;
	else
		limit = (long)rl.rlim_cur;

	/* Each thread holds a duplicate of every socket and a pipe. */
	reserve = FD_RESERVE + (long)srv->s_nbound * (s->threads + 1) +
	    3L * s->threads;
	avail = limit > reserve ? limit - reserve : 1;
	if (s->max_conns == 0)
		return (avail);
	if (s->max_conns > avail)
		log_notice("--max-conns %ld is more than the descriptor limit "
		    "of %ld leaves room for; when descriptors run out, "
		    "accepting pauses instead", s->max_conns, limit);
	return (s->max_conns);
}

/*
 * Start accepting in this worker, on its own duplicate of each socket.
 * evconnlistener takes the whole queue per wake-up.  Taking one connection
 * per wake-up instead measured 6.5 % less CPU per connection in a
 * connect/echo/close benchmark (fewer sockets alive at once keep the
 * kernel's socket, inode and file allocations on their fast paths), but
 * with 1000 busy connections on the loop it accepted 30-50 % fewer new
 * ones per second: a busy daemon must not keep newcomers waiting in the
 * backlog.
 */
int
listener_attach(struct worker *w)
{
	struct server	*srv = w->w_server;
	size_t		 i;
	int		 fd;

	w->w_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	evtimer_assign(&w->w_resume_ev, w->w_base, listener_resume_cb, w);
	for (i = 0; i < srv->s_nbound; i++) {
		struct evconnlistener *l;

		fd = fcntl(srv->s_bound[i].b_fd, F_DUPFD_CLOEXEC, 0);
		if (fd == -1) {
			log_warn("cannot listen on %s", srv->s_bound[i].b_name);
			return (-1);
		}
		/* Backlog 0: the socket is listening already. */
		l = evconnlistener_new(w->w_base, listener_accept_cb, w,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
		if (l == NULL) {
			log_warnx("cannot listen on %s",
			    srv->s_bound[i].b_name);
			close(fd);
			return (-1);
		}
		evconnlistener_set_error_cb(l, listener_error_cb);
		w->w_listeners[w->w_nlisteners++] = l;
	}
	return (0);
}

/*
 * Stop accepting in this worker.  Once every worker has, the socket is
 * closed and new connections are refused by the kernel.
 */
void
listener_detach(struct worker *w)
{
	size_t	 i;

	for (i = 0; i < w->w_nlisteners; i++)
		evconnlistener_free(w->w_listeners[i]);
	w->w_nlisteners = 0;
	if (evtimer_initialized(&w->w_resume_ev))
		evtimer_del(&w->w_resume_ev);
	if (w->w_spare_fd != -1)
		close(w->w_spare_fd);
	w->w_spare_fd = -1;
}

/* A new connection: admit it under the cap, or close it at once. */
static void
listener_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct worker	*w = arg;
	struct server	*srv = w->w_server;

	(void)l;
	if (atomic_fetch_add(&srv->s_active, 1) >= srv->s_max_conns) {
		atomic_fetch_sub(&srv->s_active, 1);
		close(fd);
		stats_add(&w->w_stats.st_rejected, 1);
		log_info("rejected a connection: the cap of %ld is reached",
		    srv->s_max_conns);
		return;
	}
	conn_accept(w, fd, sa, (socklen_t)salen);
}

/*
 * accept() failed.  Out of descriptors or memory, the queued connection
 * would wake us again at once, forever: pause instead.
 */
static void
listener_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker	*w = arg;
	int		 err = EVUTIL_SOCKET_ERROR();

	stats_add(&w->w_stats.st_accept_errors, 1);
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		listener_refuse_one(w, evconnlistener_get_fd(l));
		listener_pause(w, err);
		break;
	default:
		/* One failed handshake; the next accept is independent. */
		log_debug("accept: %s", strerror(err));
		break;
	}
}

/*
 * Out of descriptors: give up the spare so one waiting client can be
 * accepted and closed, and learns it was refused instead of hanging.
 */
static void
listener_refuse_one(struct worker *w, int lfd)
{
	int	 fd;

	if (w->w_spare_fd == -1)
		return;
	close(w->w_spare_fd);
	fd = accept(lfd, NULL, NULL);
	if (fd != -1) {
		close(fd);
		stats_add(&w->w_stats.st_rejected, 1);
	}
	w->w_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Stop accepting for ACCEPT_PAUSE_SEC.  Existing connections go on; the
 * pause itself is what limits the log to a line a second.
 */
static void
listener_pause(struct worker *w, int err)
{
	struct timeval	 tv = { ACCEPT_PAUSE_SEC, 0 };
	size_t		 i;

	if (w->w_accept_paused)
		return;
	for (i = 0; i < w->w_nlisteners; i++)
		evconnlistener_disable(w->w_listeners[i]);
	w->w_accept_paused = 1;
	stats_add(&w->w_stats.st_accept_pauses, 1);
	log_warnx("accept: %s; pausing new connections for %ds with %zu "
	    "open", strerror(err), ACCEPT_PAUSE_SEC, w->w_nconns);
	evtimer_add(&w->w_resume_ev, &tv);
}

/* The pause is over: try accepting again. */
static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	size_t		 i;

	(void)fd;
	(void)what;
	w->w_accept_paused = 0;
	for (i = 0; i < w->w_nlisteners; i++)
		evconnlistener_enable(w->w_listeners[i]);
}
