/* SPDX-License-Identifier: ISC */
/*
 * listener.c - binding the listening sockets, accepting on them, the
 * connection cap and the back-off when descriptors run out.  It hands each
 * accepted socket to conn.c and never touches data.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "echod.h"

/* One socket an event loop accepts on, and what its connections need. */
struct listener_sock {
	struct listeners	*lk_owner;
	struct bound		*lk_bound;	/* its b_accepted is counted */
	struct evconnlistener	*lk_evl;
};

/* One event loop's listeners: what it accepts on and its back-off. */
struct listeners {
	struct server		*l_server;
	struct conn_pool	*l_pool;	/* where connections go */
	struct stats		*l_stats;
	struct listener_sock	 l_socks[LISTEN_MAX * 4];
	size_t			 l_n;
	int			 l_paused;
	int			 l_closing;	/* a close ended the last pause */
	struct event		 l_resume_ev;
	int			 l_spare_fd;	/* given up to refuse on EMFILE */
	time_t			 l_logged;	/* last pause logged, monotonic s */
	uint64_t		 l_unlogged;	/* pauses since then */
};

static int	listener_bind_one(const struct settings *,
		    const struct listen_spec *, const struct sockaddr *,
		    socklen_t, int, int, struct bound *);
static int	listener_bind_unix(const struct settings *,
		    const struct listen_spec *, int, struct bound *);
static int	listener_clear_stale(const char *);
static void	listener_remove_path(struct bound *);
static void	listener_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	listener_error_cb(struct evconnlistener *, void *);
static void	listener_refuse_one(struct listeners *, int);
static void	listener_pause(struct listeners *, int);
static void	listener_resume(struct listeners *);
static void	listener_resume_cb(evutil_socket_t, short, void *);

/*
 * Bind one socket of type (SOCK_STREAM or SOCK_DGRAM) into b, and listen
 * on it with backlog if it is a stream: a resolved address, or a Unix
 * socket whose path listener_bind_unix() has cleared.  Returns 0, 1 when
 * the address family is missing from this host (skipped for wildcards),
 * or -1 with the reason logged.
 */
static int
listener_bind_one(const struct settings *s, const struct listen_spec *ls,
    const struct sockaddr *sa, socklen_t salen, int type, int backlog,
    struct bound *b)
{
	struct sockaddr_storage	 ss;
	struct stat		 st;
	socklen_t		 sslen = sizeof(ss);
	char			 name[sizeof(b->b_name) - 4];	/* less "tls:" */
	mode_t			 old_mask = 0;
	int			 fd, on = 1, file, rv;

	log_sockaddr(sa, salen, name, sizeof(name));
	/* A path, not an abstract name: a file that needs its mode. */
	file = sa->sa_family == AF_UNIX && ls->ls_path[0] == '/';
	fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
	 * Nagle would hold back small echoes behind delayed ACKs.  UDP has
	 * no TIME_WAIT, and there SO_REUSEADDR would let two sockets share
	 * a port, so it gets neither.  None of them means anything to a
	 * Unix socket.
	 */
	if (sa->sa_family != AF_UNIX && ((type == SOCK_STREAM &&
	    (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)) ||
	    (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1))) {
		log_warn("cannot listen on %s: setsockopt", name);
		close(fd);
		return (-1);
	}
	/*
	 * A socket file takes its mode from the umask at bind(): set it
	 * there rather than chmod() the path after, which a symbolic link
	 * swapped in meanwhile would redirect.  No thread runs yet.
	 */
	if (file)
		old_mask = umask(~s->socket_mode & 0777);
	rv = bind(fd, sa, salen);
	if (file)
		umask(old_mask);
	if (rv == -1) {
		int	 err = errno;

		close(fd);
		if (ls->ls_host[0] == '\0' && sa->sa_family == AF_INET6 &&
		    err == EADDRNOTAVAIL) {
			log_notice("not listening on %s: IPv6 is disabled "
			    "here", name);
			return (1);
		}
		errno = err;
		if (err == EACCES && sa->sa_family != AF_UNIX)
			log_warnx("cannot listen on %s: %s (ports below 1024 "
			    "need root or CAP_NET_BIND_SERVICE; try a port of "
			    "1024 or above)", name, strerror(err));
		else if (err == EADDRNOTAVAIL)
			log_warnx("cannot listen on %s: %s (not an address "
			    "of this host)", name, strerror(err));
		else if (err == EADDRINUSE && sa->sa_family == AF_UNIX)
			log_warnx("cannot listen on %s: another socket has "
			    "that name", name);
		else
			log_warn("cannot listen on %s", name);
		return (-1);
	}
	memset(b, 0, sizeof(*b));
	b->b_fd = fd;
	b->b_type = type;
	b->b_tls = ls->ls_tls;
	b->b_proxy = ls->ls_proxy;
	atomic_init(&b->b_accepted, 0);
	if (file) {
		/* Ours from here on: removed again on any failure. */
		snprintf(b->b_path, sizeof(b->b_path), "%s", ls->ls_path);
		if (lstat(b->b_path, &st) == 0) {
			b->b_dev = st.st_dev;
			b->b_ino = st.st_ino;
		}
	}
	if (type == SOCK_STREAM && listen(fd, backlog) == -1) {
		log_warn("cannot listen on %s", name);
		listener_remove_path(b);
		close(fd);
		return (-1);
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		log_sockaddr((struct sockaddr *)&ss, sslen, name, sizeof(name));
	/* Named as --listen would name it, so the log says which is TLS. */
	snprintf(b->b_name, sizeof(b->b_name), "%s%s", b->b_tls ? "tls:" : "",
	    name);
	return (0);
}

/*
 * Resolve and bind every --listen address, then every --udp one.
 * Nothing is left bound on failure.  Returns 0 or -1 with the reason
 * logged.
 */
int
listener_bind_all(struct server *srv)
{
	const struct settings	*s = srv->s_settings;
	const size_t		 max = sizeof(srv->s_bound) /
				    sizeof(srv->s_bound[0]);
	size_t			 i;

	for (i = 0; i < s->nlisten; i++)
		if (listener_bind(s, &s->listen[i], SOCK_STREAM, s->backlog,
		    srv->s_bound, max, &srv->s_nbound) == -1)
			goto fail;
	for (i = 0; i < s->nudp; i++)
		if (listener_bind(s, &s->udp[i], SOCK_DGRAM, 0, srv->s_bound,
		    max, &srv->s_nbound) == -1)
			goto fail;
	return (0);
fail:
	listener_remove_all(srv);
	listener_close_all(srv);
	return (-1);
}

/*
 * Bind every address one argument names (a Unix socket, or all a name
 * resolves to), of type, into b[*nb] on, at most max in all.  Nothing of
 * it is left bound on failure.  Returns 0 or -1 with the reason logged.
 */
int
listener_bind(const struct settings *s, const struct listen_spec *ls,
    int type, int backlog, struct bound *b, size_t max, size_t *nb)
{
	struct addrinfo		 hints, *res, *ai;
	size_t			 before = *nb;
	int			 error, rv = 0;

	if (*nb == max) {
		log_warnx("cannot listen on '%s': too many addresses",
		    ls->ls_arg);
		return (-1);
	}
	if (ls->ls_unix) {
		if (listener_bind_unix(s, ls, backlog, &b[*nb]) == -1)
			return (-1);
		(*nb)++;
		return (0);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = type;
	hints.ai_protocol = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	error = getaddrinfo(ls->ls_host[0] ? ls->ls_host : NULL, ls->ls_port,
	    &hints, &res);
	if (error != 0) {
		log_warnx("cannot listen on '%s': %s", ls->ls_arg,
		    error == EAI_SYSTEM ? strerror(errno) :
		    gai_strerror(error));
		return (-1);
	}
	for (ai = res; ai != NULL && rv != -1; ai = ai->ai_next) {
		if (*nb == max) {
			log_warnx("cannot listen on '%s': too many addresses",
			    ls->ls_arg);
			rv = -1;
		} else if ((rv = listener_bind_one(s, ls, ai->ai_addr,
		    ai->ai_addrlen, type, backlog, &b[*nb])) == 0)
			(*nb)++;
	}
	freeaddrinfo(res);
	if (rv != -1 && *nb == before) {
		log_warnx("cannot listen on '%s': no usable address",
		    ls->ls_arg);
		rv = -1;
	}
	if (rv == -1) {
		while (*nb > before)
			close(b[--(*nb)].b_fd);
		return (-1);
	}
	return (0);
}

/*
 * A Unix socket: "@name" in Linux's abstract namespace, which has no file
 * and vanishes with the socket, or a path, cleared of a stale socket
 * first.  Returns 0 or -1 (logged).
 */
static int
listener_bind_unix(const struct settings *s, const struct listen_spec *ls,
    int backlog, struct bound *b)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	size_t			 n = strlen(ls->ls_path);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, ls->ls_path, n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (ls->ls_path[0] == '@')
		sun.sun_path[0] = '\0';	/* the name is len bytes, no NUL */
	else {
		len++;
		if (listener_clear_stale(ls->ls_path) == -1)
			return (-1);
	}
	return (listener_bind_one(s, ls, (struct sockaddr *)&sun, len,
	    SOCK_STREAM, backlog, b) == 0 ? 0 : -1);
}

/*
 * A socket file left by an echod that died is in the way of bind().  It
 * is removed only when it is a socket and connecting to it is refused:
 * anything else at the path, or a live server, is somebody's, and an
 * error.  Returns 0 when the path is free, or -1 (logged).
 */
static int
listener_clear_stale(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, rv, err;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return (0);
		log_warn("cannot listen on unix:%s", path);
		return (-1);
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("cannot listen on unix:%s: a file that is not a "
		    "socket is in the way", path);
		return (-1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* Non-blocking: a live server with a full queue says EAGAIN. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("cannot listen on unix:%s: socket", path);
		return (-1);
	}
	rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	err = errno;
	close(fd);
	if (rv == 0 || err == EAGAIN) {
		log_warnx("cannot listen on unix:%s: another server is "
		    "listening on it", path);
		return (-1);
	}
	if (err != ECONNREFUSED) {
		errno = err;
		log_warn("cannot listen on unix:%s: checking the socket "
		    "there", path);
		return (-1);
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("cannot listen on unix:%s: removing the stale socket",
		    path);
		return (-1);
	}
	log_notice("removed the stale socket unix:%s", path);
	return (0);
}

/*
 * Remove a socket file echod made, if it is still the one: a file put
 * there since is somebody else's.  After --user, removing needs write
 * permission on the directory; without it the file stays, and the next
 * start replaces it as stale.
 */
static void
listener_remove_path(struct bound *b)
{
	struct stat	 st;

	if (b->b_path[0] == '\0')
		return;
	if (lstat(b->b_path, &st) == -1 ? errno != ENOENT :
	    S_ISSOCK(st.st_mode) && st.st_dev == b->b_dev &&
	    st.st_ino == b->b_ino && unlink(b->b_path) == -1)
		log_warn("cannot remove unix:%s; the next start replaces it",
		    b->b_path);
	b->b_path[0] = '\0';
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
		    (type != SOCK_DGRAM && (type != SOCK_STREAM ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
		    &len) == -1 || !listening))) {
			log_warnx("socket activation: descriptor %d is not a "
			    "listening stream socket or a datagram socket",
			    fd);
			return (-1);
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_warn("socket activation: descriptor %d", fd);
			return (-1);
		}
		/* Inherited by accepted sockets; meaningless for AF_UNIX. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		memset(b, 0, sizeof(*b));
		b->b_fd = fd;
		b->b_type = type;	/* SOCK_DGRAM goes to udp.c */
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			log_sockaddr((struct sockaddr *)&ss, len, b->b_name,
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
 * At exit: remove the socket files echod made.  Not when the sockets
 * close, which main does as soon as the workers hold duplicates.
 */
void
listener_remove_all(struct server *srv)
{
	size_t	 i;

	for (i = 0; i < srv->s_nbound; i++)
		listener_remove_path(&srv->s_bound[i]);
}

/*
 * Raise the descriptor limit as far as allowed and work out the connection
 * cap: the one asked for, or what the limit leaves after what echod itself
 * holds and some slack.
 */
long
listener_max_conns(struct server *srv)
{
	const struct settings	*s = srv->s_settings;
	struct rlimit		 rl;
	long			 limit, reserve, slack, avail;

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

	/* Each thread holds a duplicate of every listening socket. */
	reserve = FD_RESERVE_MAIN + (long)s->threads * (FD_RESERVE_WORKER +
	    (long)srv->s_nbound) + (s->metrics.ls_arg[0] ? METRICS_FDS : 0);
	slack = limit / 16 < FD_SLACK_MAX ? limit / 16 : FD_SLACK_MAX;
	avail = limit > reserve + slack ? limit - reserve - slack : 1;
	if (s->max_conns == 0)
		return (avail);
	if (s->max_conns > avail)
		log_notice("--max-conns %ld is more than the descriptor limit "
		    "of %ld leaves room for; when descriptors run out, "
		    "accepting pauses instead", s->max_conns, limit);
	return (s->max_conns);
}

/*
 * Start accepting on an event loop, on its own duplicate of each socket,
 * handing connections to pool.  evconnlistener takes the whole accept
 * queue per wake-up, so a busy loop does not keep newcomers waiting (see
 * bench/RESULTS.md).  Returns NULL on failure (logged).
 */
struct listeners *
listener_attach(struct server *srv, struct event_base *base,
    struct conn_pool *pool, struct stats *st)
{
	struct listeners	*ls;
	size_t			 i;
	int			 fd;

	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		log_warn("cannot listen");
		return (NULL);
	}
	ls->l_server = srv;
	ls->l_pool = pool;
	ls->l_stats = st;
	ls->l_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	evtimer_assign(&ls->l_resume_ev, base, listener_resume_cb, ls);
	for (i = 0; i < srv->s_nbound; i++) {
		struct listener_sock	*lk = &ls->l_socks[ls->l_n];
		struct evconnlistener	*l;

		if (srv->s_bound[i].b_type != SOCK_STREAM)
			continue;	/* udp.c serves it */
		fd = fcntl(srv->s_bound[i].b_fd, F_DUPFD_CLOEXEC, 0);
		if (fd == -1) {
			log_warn("cannot listen on %s", srv->s_bound[i].b_name);
			listener_detach(ls);
			return (NULL);
		}
		/* Backlog 0: the socket is listening already. */
		lk->lk_owner = ls;
		lk->lk_bound = &srv->s_bound[i];
		l = evconnlistener_new(base, listener_accept_cb, lk,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
		if (l == NULL) {
			log_warnx("cannot listen on %s",
			    srv->s_bound[i].b_name);
			close(fd);
			listener_detach(ls);
			return (NULL);
		}
		evconnlistener_set_error_cb(l, listener_error_cb);
		lk->lk_evl = l;
		ls->l_n++;
	}
	return (ls);
}

/*
 * Stop accepting on this loop.  Once every loop has, the socket is closed
 * and new connections are refused by the kernel.
 */
void
listener_detach(struct listeners *ls)
{
	size_t	 i;

	if (ls == NULL)
		return;
	for (i = 0; i < ls->l_n; i++)
		evconnlistener_free(ls->l_socks[i].lk_evl);
	evtimer_del(&ls->l_resume_ev);
	if (ls->l_spare_fd != -1)
		close(ls->l_spare_fd);
	free(ls);
}

/*
 * A connection closed and gave back its descriptor: if accepting paused
 * for want of one, try again now rather than at the end of the pause.
 */
void
listener_conn_closed(struct listeners *ls)
{
	if (ls->l_paused) {
		ls->l_closing = 1;
		listener_resume(ls);
	}
}

/*
 * A new connection: admit it under the cap, or close it at once.  A Unix
 * socket's client has no name of its own, so its log line names the
 * socket it came in on.
 */
static void
listener_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener_sock	*lk = arg;
	struct listeners	*ls = lk->lk_owner;
	struct server		*srv = ls->l_server;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);

	(void)l;
	if (atomic_fetch_add(&srv->s_active, 1) >= srv->s_max_conns) {
		atomic_fetch_sub(&srv->s_active, 1);
		close(fd);
		stats_add(&ls->l_stats->st_rejected, 1);
		log_info("rejected a connection: the cap of %ld is reached",
		    srv->s_max_conns);
		return;
	}
	if (sa->sa_family == AF_UNIX && log_enabled(LOG_LEVEL_INFO) &&
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		sa = (struct sockaddr *)&ss;
		salen = (int)sslen;
	}
	atomic_fetch_add_explicit(&lk->lk_bound->b_accepted, 1,
	    memory_order_relaxed);
	conn_accept(ls->l_pool, fd, sa, (socklen_t)salen,
	    lk->lk_bound->b_proxy, lk->lk_bound->b_tls);
}

/*
 * accept() failed.  Out of descriptors or memory, the queued connection
 * would wake us again at once, forever: pause instead.
 */
static void
listener_error_cb(struct evconnlistener *l, void *arg)
{
	struct listeners *ls = ((struct listener_sock *)arg)->lk_owner;
	int		 err = EVUTIL_SOCKET_ERROR();

	stats_add(&ls->l_stats->st_accept_errors, 1);
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		/*
		 * While connections are closing, descriptors come back soon
		 * and the waiting clients get them; only a shortage that
		 * lasts refuses one, so that it does not hang.
		 */
		if (!ls->l_closing)
			listener_refuse_one(ls, evconnlistener_get_fd(l));
		listener_pause(ls, err);
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
listener_refuse_one(struct listeners *ls, int lfd)
{
	int	 fd;

	if (ls->l_spare_fd == -1)
		return;
	close(ls->l_spare_fd);
	fd = accept(lfd, NULL, NULL);
	if (fd != -1) {
		close(fd);
		stats_add(&ls->l_stats->st_rejected, 1);
	}
	ls->l_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Stop accepting until a connection closes, or ACCEPT_PAUSE_SEC at most.
 * A busy server can pause and resume many times a second, so the log says
 * so at most once per ACCEPT_PAUSE_SEC, with the count.
 */
static void
listener_pause(struct listeners *ls, int err)
{
	struct timeval	 tv = { ACCEPT_PAUSE_SEC, 0 };
	struct timespec	 now;
	char		 more[64] = "";
	size_t		 i;

	if (ls->l_paused)
		return;
	for (i = 0; i < ls->l_n; i++)
		evconnlistener_disable(ls->l_socks[i].lk_evl);
	ls->l_paused = 1;
	stats_add(&ls->l_stats->st_accept_pauses, 1);
	evtimer_add(&ls->l_resume_ev, &tv);

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ls->l_logged != 0 && now.tv_sec - ls->l_logged < ACCEPT_PAUSE_SEC) {
		ls->l_unlogged++;
		return;
	}
	if (ls->l_unlogged > 0)
		snprintf(more, sizeof(more), " (and %llu pauses unlogged)",
		    (unsigned long long)ls->l_unlogged);
	log_warnx("accept: %s; pausing new connections for %ds or until one "
	    "closes, with %zu open%s", strerror(err), ACCEPT_PAUSE_SEC,
	    ls->l_pool->cp_nconns, more);
	ls->l_logged = now.tv_sec;
	ls->l_unlogged = 0;
}

/* Accept again. */
static void
listener_resume(struct listeners *ls)
{
	size_t	 i;

	ls->l_paused = 0;
	evtimer_del(&ls->l_resume_ev);
	for (i = 0; i < ls->l_n; i++)
		evconnlistener_enable(ls->l_socks[i].lk_evl);
}

/* The pause is over without a connection closing. */
static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listeners	*ls = arg;

	(void)fd;
	(void)what;
	ls->l_closing = 0;
	listener_resume(ls);
}
