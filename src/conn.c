/* SPDX-License-Identifier: ISC */
/*
 * conn.c - one connection's life: accepted, echoing, draining, closed.
 *
 * The fast path is one recv() into the worker's shared buffer and one
 * send() straight back, with no allocation, no copy and no change to what
 * epoll watches.  Only what the socket would not take is queued, in an
 * evbuffer that exists just while something is queued; while it is longer
 * than the high water mark nothing more is read from that peer.
 *
 * Sockets are watched edge-triggered: level-triggered epoll polls every
 * socket it reported once more on the next epoll_wait() only to find it
 * empty, a cost on every echo.  The price is ours to pay instead: a read
 * that filled its buffer may have left bytes behind, for which no new edge
 * comes, so the connection makes itself active again; and a flush writes
 * until the socket is full.
 */

#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "echod.h"

/*
 * Read interest includes the peer's FIN (EPOLLRDHUP): edge-triggered, a
 * FIN that arrives with the last bytes brings no edge of its own.
 */
#define CONN_WATCH_READ	(EV_READ | EV_CLOSED)

/* Connection state bits. */
#define CONN_PAUSED	0x01	/* queue reached the high mark; not reading */
#define CONN_PEER_EOF	0x02	/* the peer shut down its sending side */
#define CONN_FIN_SEEN	0x04	/* epoll saw the FIN; read until recv() says so */

struct conn {
	struct event		 c_ev;	/* read and/or write interest */
	struct worker		*c_worker;
	struct evbuffer		*c_queue;	/* unsent echo; NULL when empty */
	TAILQ_ENTRY(conn)	 c_entry;
	uint64_t		 c_bytes_in;
	uint64_t		 c_bytes_out;
	uint64_t		 c_start_ms;
	uint32_t		 c_tick;	/* last progress, in sweep ticks */
	short			 c_events;	/* what c_ev now waits for */
	unsigned char		 c_flags;
	union {
		struct sockaddr		sa;
		struct sockaddr_in	sin;
		struct sockaddr_in6	sin6;
	}			 c_peer;
};

static const char *const conn_close_reasons[] = {
	[CLOSE_EOF] = "eof",
	[CLOSE_ERROR] = "error",
	[CLOSE_IDLE] = "idle timeout",
	[CLOSE_STALL] = "stall timeout",
	[CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_DEADLINE] = "shutdown forced",
	[CLOSE_OOM] = "out of memory"
};

static void	conn_io_cb(evutil_socket_t, short, void *);
static int	conn_read(struct conn *);
static int	conn_flush(struct conn *);
static int	conn_queue(struct conn *, const char *, size_t);
static int	conn_update(struct conn *);
static void	conn_close(struct conn *, enum close_reason, int);
static size_t	conn_queued(const struct conn *);
static uint64_t	conn_now_ms(void);

/* Milliseconds on a clock that never jumps, for connection durations. */
static uint64_t
conn_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Bytes waiting for the peer to take them. */
static size_t
conn_queued(const struct conn *c)
{
	return (c->c_queue == NULL ? 0 : evbuffer_get_length(c->c_queue));
}

/*
 * Take over an accepted, non-blocking socket.  The caller has already
 * counted it against the connection cap; on failure it is closed here.
 */
void
conn_accept(struct worker *w, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("connection dropped");
		close(fd);
		atomic_fetch_sub(&w->w_server->s_active, 1);
		return;
	}
	c->c_worker = w;
	c->c_start_ms = conn_now_ms();
	c->c_tick = w->w_tick;
	if (salen > 0 && (size_t)salen <= sizeof(c->c_peer))
		memcpy(&c->c_peer, sa, salen);
	c->c_events = CONN_WATCH_READ;
	event_assign(&c->c_ev, w->w_base, fd, CONN_WATCH_READ | EV_PERSIST |
	    EV_ET, conn_io_cb, c);
	if (event_add(&c->c_ev, NULL) == -1) {
		log_warnx("connection dropped: cannot watch its socket");
		close(fd);
		free(c);
		atomic_fetch_sub(&w->w_server->s_active, 1);
		return;
	}
	TAILQ_INSERT_TAIL(&w->w_conns, c, c_entry);
	w->w_nconns++;
	stats_add(&w->w_stats.st_accepted, 1);
}

/* The socket is readable and/or writable. */
static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	int		 more = 0;

	(void)fd;
	if (what & EV_CLOSED)
		c->c_flags |= CONN_FIN_SEEN;
	/* Drain first: the room it makes is what reading may fill. */
	if ((what & EV_WRITE) && conn_flush(c) == -1)
		return;
	if ((what & EV_READ) && (more = conn_read(c)) == -1)
		return;
	if (conn_update(c) == -1)
		return;
	/*
	 * Bytes may be waiting that no edge will announce: come back after
	 * the other ready connections (the loop caps callbacks per pass).
	 */
	if (more && (c->c_events & EV_READ))
		event_active(&c->c_ev, EV_READ, 0);
}

/*
 * Read once and echo at once.  Reads never take more than the room left
 * below the high mark, so the queue is bounded by it whatever the peer
 * does.  Returns 1 when more may be waiting (the read filled its buffer,
 * or epoll has seen the peer's FIN behind the bytes), 0 when the socket
 * is drained for now, and -1 when the connection is gone.
 */
static int
conn_read(struct conn *c)
{
	struct worker	*w = c->c_worker;
	const struct settings *s = w->w_server->s_settings;
	int		 fd = event_get_fd(&c->c_ev);
	size_t		 queued = conn_queued(c), room;
	ssize_t		 n, sent;
	int		 more;

	room = s->high_water - queued;
	if (room == 0)		/* recv() of 0 bytes would look like EOF */
		return (0);
	if (room > READ_BUF_SIZE)
		room = READ_BUF_SIZE;
	n = recv(fd, w->w_rbuf, room, 0);
	if (n == 0) {
		c->c_flags |= CONN_PEER_EOF;
		if (queued == 0) {
			conn_close(c, CLOSE_EOF, 0);
			return (-1);
		}
		return (0);
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (0);
		conn_close(c, CLOSE_ERROR, errno);
		return (-1);
	}
	c->c_bytes_in += n;
	stats_add(&w->w_stats.st_bytes_in, n);
	more = (size_t)n == room || (c->c_flags & CONN_FIN_SEEN);

	if (queued > 0)		/* order: behind what is already queued */
		return (conn_queue(c, w->w_rbuf, n) == -1 ? -1 : more);

	sent = send(fd, w->w_rbuf, n, MSG_NOSIGNAL);
	if (sent == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			conn_close(c, CLOSE_ERROR, errno);
			return (-1);
		}
		sent = 0;
	}
	c->c_bytes_out += sent;
	stats_add(&w->w_stats.st_bytes_out, sent);
	c->c_tick = w->w_tick;
	if (sent < n && conn_queue(c, w->w_rbuf + sent, n - sent) == -1)
		return (-1);
	return (more);
}

/*
 * Queue echo data the socket would not take.  evbuffer_add() copies into
 * the tail chain, so a peer sending one byte per segment costs a byte per
 * byte, not a chain per segment.
 */
static int
conn_queue(struct conn *c, const char *data, size_t len)
{
	if (c->c_queue == NULL && (c->c_queue = evbuffer_new()) == NULL) {
		conn_close(c, CLOSE_OOM, 0);
		return (-1);
	}
	if (evbuffer_add(c->c_queue, data, len) == -1) {
		conn_close(c, CLOSE_OOM, 0);
		return (-1);
	}
	return (0);
}

/*
 * Write what is queued until it is gone or the socket is full: only a full
 * socket brings another writable edge.  Returns -1 when the connection is
 * gone.
 */
static int
conn_flush(struct conn *c)
{
	struct worker	*w = c->c_worker;
	int		 n;

	while (c->c_queue != NULL) {
		n = evbuffer_write(c->c_queue, event_get_fd(&c->c_ev));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			conn_close(c, CLOSE_ERROR, errno);
			return (-1);
		}
		c->c_bytes_out += n;
		stats_add(&w->w_stats.st_bytes_out, n);
		c->c_tick = w->w_tick;
		if (evbuffer_get_length(c->c_queue) > 0)
			continue;
		/* Idle connections keep no buffer: it is most of their cost. */
		evbuffer_free(c->c_queue);
		c->c_queue = NULL;
		if (c->c_flags & CONN_PEER_EOF) {
			conn_close(c, CLOSE_EOF, 0);
			return (-1);
		}
	}
	return (0);
}

/*
 * Watch for what the connection needs next: reading while the queue is
 * below the high mark (and, once paused, until it is back at the low
 * mark), writing while anything is queued, never reading after EOF.
 */
static int
conn_update(struct conn *c)
{
	const struct settings *s = c->c_worker->w_server->s_settings;
	size_t		 queued = conn_queued(c);
	short		 want = 0;

	if (queued >= s->high_water)
		c->c_flags |= CONN_PAUSED;
	else if (queued <= s->low_water)
		c->c_flags &= ~CONN_PAUSED;
	if (!(c->c_flags & (CONN_PAUSED | CONN_PEER_EOF)))
		want |= CONN_WATCH_READ;
	if (queued > 0)
		want |= EV_WRITE;
	if (want == c->c_events)
		return (0);

	event_del(&c->c_ev);
	event_assign(&c->c_ev, c->c_worker->w_base, event_get_fd(&c->c_ev),
	    want | EV_PERSIST | EV_ET, conn_io_cb, c);
	c->c_events = want;
	if (event_add(&c->c_ev, NULL) == -1) {
		conn_close(c, CLOSE_ERROR, 0);
		return (-1);
	}
	return (0);
}

/*
 * The one way a connection ends: log why, count it, release everything.
 * errnum is the socket error for CLOSE_ERROR, else 0.
 */
static void
conn_close(struct conn *c, enum close_reason why, int errnum)
{
	struct worker	*w = c->c_worker;
	size_t		 lost = conn_queued(c);

	if (why == CLOSE_IDLE)
		stats_add(&w->w_stats.st_idle_closed, 1);
	else if (why == CLOSE_STALL)
		stats_add(&w->w_stats.st_stall_closed, 1);

	if (log_enabled(LOG_LEVEL_INFO)) {
		char		 peer[INET6_ADDRSTRLEN + 8] = "?";
		char		 host[INET6_ADDRSTRLEN];
		uint64_t	 ms = conn_now_ms() - c->c_start_ms;

		if (c->c_peer.sa.sa_family == AF_INET &&
		    inet_ntop(AF_INET, &c->c_peer.sin.sin_addr, host,
		    sizeof(host)) != NULL)
			snprintf(peer, sizeof(peer), "%s:%u", host,
			    ntohs(c->c_peer.sin.sin_port));
		else if (c->c_peer.sa.sa_family == AF_INET6 &&
		    inet_ntop(AF_INET6, &c->c_peer.sin6.sin6_addr, host,
		    sizeof(host)) != NULL)
			snprintf(peer, sizeof(peer), "[%s]:%u", host,
			    ntohs(c->c_peer.sin6.sin6_port));
		log_info("close %s after %llu.%03llus: in=%llu out=%llu "
		    "unsent=%zu: %s%s%s", peer,
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000),
		    (unsigned long long)c->c_bytes_in,
		    (unsigned long long)c->c_bytes_out, lost,
		    conn_close_reasons[why], errnum ? ": " : "",
		    errnum ? strerror(errnum) : "");
	}

	/*
	 * Close first: that already takes the socket out of epoll, and the
	 * EPOLL_CTL_DEL event_del() then makes fails at once with EBADF,
	 * which libevent expects, instead of walking epoll's tree.  The
	 * number cannot be reused in between: only this thread accepts into
	 * this loop.
	 */
	close(event_get_fd(&c->c_ev));
	event_del(&c->c_ev);
	if (c->c_queue != NULL)
		evbuffer_free(c->c_queue);
	TAILQ_REMOVE(&w->w_conns, c, c_entry);
	w->w_nconns--;
	atomic_fetch_sub(&w->w_server->s_active, 1);
	free(c);
	worker_drain_check(w);
}

/*
 * Once a tick: close connections silent for --idle-timeout, and those
 * whose peer took nothing for --stall-timeout.
 */
void
conn_sweep(struct worker *w)
{
	const struct settings *s = w->w_server->s_settings;
	struct conn	*c, *next;
	uint32_t	 ticks, quiet;

	for (c = TAILQ_FIRST(&w->w_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		/*
		 * Progress may have come just before the last tick, so only
		 * more ticks than the timeout prove it has passed.
		 */
		ticks = w->w_tick - c->c_tick;
		quiet = (ticks > 0 ? ticks - 1 : 0) * SWEEP_INTERVAL_SEC;
		if (c->c_queue != NULL) {
			if (s->stall_timeout != 0 && quiet >= s->stall_timeout)
				conn_close(c, CLOSE_STALL, 0);
		} else if (s->idle_timeout != 0 && quiet >= s->idle_timeout)
			conn_close(c, CLOSE_IDLE, 0);
	}
}

/*
 * While shutting down: close connections with nothing queued that made
 * no progress since the last drain tick.  The busy ones keep echoing.
 */
void
conn_drain_quiet(struct worker *w)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&w->w_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		if (c->c_queue == NULL && w->w_tick - c->c_tick >= 2)
			conn_close(c, CLOSE_SHUTDOWN, 0);
	}
}

/* Close every connection, whatever it is doing. */
void
conn_close_all(struct worker *w, enum close_reason why)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&w->w_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		conn_close(c, why, 0);
	}
}
