/* SPDX-License-Identifier: ISC */
/*
 * conn.c - one connection's life on a socket bufferevent: read, echo,
 * backpressure, half-close, timeouts, close.
 *
 * The read callback echoes what libevent read.  While nothing is queued it
 * writes straight from the input buffer, so an echo the socket takes at
 * once costs no copy, no queue and no change to what epoll watches; only
 * what the socket refused moves to the output buffer, whose write event
 * libevent arms while it holds bytes.  The output is bounded by
 * --high-water: each read is sized to the room left below it, reading
 * stops when it is full, and the write callback, at the --low-water
 * watermark, starts it again.  A read that filled libevent's 4 KiB is
 * queued instead and the read event made active again, so that several
 * reads leave in one write.
 *
 * TLS and shaped connections (--rate, --total-rate, --delay) take none of
 * these short cuts: every byte goes through the output, where
 * bufferevent_openssl encrypts it and the token buckets see it; with
 * --delay the input holds what is not due yet.
 *
 * A connection from a proxy: listener starts in the header phase: nothing
 * is echoed or counted as data until proxy_parse() has found a whole
 * PROXY header, which is drained and names the client in the log line.
 */

#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>

#include "echod.h"

/*
 * libevent 2.1 reads at most this much per read event, whatever
 * bufferevent_set_max_single_read() says; only smaller caps matter.
 */
#define CONN_READ_CAP	4096

/* Connection state bits. */
#define CONN_PAUSED	0x01	/* the queue reached --high-water */
#define CONN_PEER_EOF	0x02	/* the peer shut down its sending side */
#define CONN_READ_CAPPED 0x04	/* reads capped below CONN_READ_CAP */
#define CONN_COUNTING	0x08	/* conn_written_cb watches the output */
#define CONN_LOGGED	0x10	/* a struct conn_log follows */
#define CONN_DELAYED	0x20	/* a struct conn_delay follows */
#define CONN_PROXY_WAIT	0x40	/* the PROXY header has not come yet */
#define CONN_TLS	0x80	/* from a "tls:" listener: see tls.c */
#define CONN_TLS_UP	0x100	/* its handshake has completed */

/*
 * What only the per-connection log line (-v) needs.  Without -v it is
 * not allocated at all: 10,000 idle connections are mostly libevent's
 * bufferevents, and this would be another 128 bytes each
 * (a Unix socket path is the largest address it may hold).
 */
struct conn_log {
	uint64_t		 cl_start_ms;
	uint64_t		 cl_bytes_in;	/* out: this less what is queued */
	union {
		struct sockaddr		sa;
		struct sockaddr_in	sin;
		struct sockaddr_in6	sin6;
		struct sockaddr_un	sun;
	}			 cl_peer;
};

/* What --delay needs: the bytes are in the input until they fall due. */
struct conn_delay {
	struct event		 cd_timer;
	struct delay_line	 cd_line;
};

struct conn {
	struct bufferevent	*c_bev;
	struct conn_pool	*c_pool;
	TAILQ_ENTRY(conn)	 c_entry;
	uint32_t		 c_tick;	/* last progress, in sweep ticks */
	unsigned short		 c_flags;
	uint64_t		 c_ext[];	/* conn_log, then conn_delay */
};

/* Each close reason's word for the log and the counter it adds to. */
static const struct {
	const char	*cr_word;
	size_t		 cr_counter;	/* offset in struct stats */
} conn_close_reasons[] = {
#define CLOSE_ENTRY(reason, counter, word)				\
	[reason] = { word, offsetof(struct stats, st_##counter) },
	CLOSE_REASONS(CLOSE_ENTRY)
#undef CLOSE_ENTRY
};

static struct conn_log *conn_log(struct conn *);
static struct conn_delay *conn_delay(struct conn *);
static size_t	conn_queued(struct conn *);
static struct bufferevent *conn_bufferevent_new(struct event_base *, int,
		    int);
static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_delay_arm(struct conn *, uint64_t);
static void	conn_delay_cb(evutil_socket_t, short, void *);
static void	conn_resume(struct conn *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_written_cb(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static int	conn_proxy_header(struct conn *, struct evbuffer *);
static int	conn_queue(struct conn *, struct evbuffer *, size_t);
static void	conn_limit_read(struct conn *, size_t);
static void	conn_close(struct conn *, enum close_reason, int);
static uint64_t	conn_now_ms(void);

/* Milliseconds on a clock that never jumps, for connection durations. */
static uint64_t
conn_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The log line's details; only with CONN_LOGGED. */
static struct conn_log *
conn_log(struct conn *c)
{
	return ((struct conn_log *)c->c_ext);
}

/* The delay line; only with CONN_DELAYED. */
static struct conn_delay *
conn_delay(struct conn *c)
{
	return ((struct conn_delay *)((char *)c->c_ext +
	    (c->c_flags & CONN_LOGGED ? sizeof(struct conn_log) : 0)));
}

/*
 * Bytes read and not yet written back: the output, and with --delay the
 * input that is not due yet (otherwise the input is always empty here).
 */
static size_t
conn_queued(struct conn *c)
{
	return (evbuffer_get_length(bufferevent_get_output(c->c_bev)) +
	    evbuffer_get_length(bufferevent_get_input(c->c_bev)));
}

/*
 * Backpressure with hysteresis: reading pauses once the queue holds the
 * high mark and resumes only when it is back at the low mark, so a slow
 * reader costs one pause and one resume per low-to-high swing, not one
 * per write.
 */
int
conn_paused_next(int paused, size_t queued, size_t high, size_t low)
{
	if (queued >= high)
		return (1);
	if (queued <= low)
		return (0);
	return (paused);
}

/* The most the next read may take so the queue stays within high. */
size_t
conn_read_room(size_t queued, size_t high)
{
	return (queued >= high ? 0 : high - queued);
}

/*
 * Whole seconds a connection has been quiet, from the sweep ticks of now
 * and of its last progress.  Progress may have come just before the last
 * tick, so only the ticks after it count; unsigned arithmetic survives
 * the tick counter wrapping.
 */
unsigned int
conn_quiet_sec(uint32_t now, uint32_t last)
{
	uint32_t	 ticks = now - last;

	return ((ticks > 0 ? ticks - 1 : 0) * SWEEP_INTERVAL_SEC);
}

/*
 * An empty pool for one event loop's connections.  share is how many
 * loops split --total-rate.  Returns 0, or -1 (logged).
 */
int
conn_pool_init(struct conn_pool *cp, struct event_base *base,
    const struct settings *s, struct stats *st, _Atomic long *active,
    int share)
{
	struct timeval	 tick = { 0, RATE_TICK_MSEC * 1000 };
	size_t		 per_tick;

	memset(cp, 0, sizeof(*cp));
	cp->cp_base = base;
	cp->cp_settings = s;
	cp->cp_stats = st;
	cp->cp_active = active;
	TAILQ_INIT(&cp->cp_conns);
	cp->cp_shaped = s->rate != 0 || s->total_rate != 0 || s->delay_ms != 0;

	/*
	 * Reads and writes alike, so a limited peer is also slowed down.
	 * A bucket holds two ticks' worth: libevent credits every tick that
	 * passed, up to that, so a refill the busy loop ran late loses
	 * nothing, and a stream gets at most one tick ahead.
	 */
	if (s->rate != 0) {
		per_tick = s->rate / (1000 / RATE_TICK_MSEC);
		if ((cp->cp_rate = ev_token_bucket_cfg_new(per_tick,
		    RATE_BURST_TICKS * per_tick, per_tick,
		    RATE_BURST_TICKS * per_tick, &tick)) == NULL) {
			log_warnx("cannot set up --rate");
			return (-1);
		}
	}
	if (s->total_rate != 0) {
		per_tick = s->total_rate / (1000 / RATE_TICK_MSEC) /
		    (size_t)share;
		if (per_tick == 0)
			per_tick = 1;
		if ((cp->cp_total_cfg = ev_token_bucket_cfg_new(per_tick,
		    RATE_BURST_TICKS * per_tick, per_tick,
		    RATE_BURST_TICKS * per_tick, &tick)) == NULL ||
		    (cp->cp_total = bufferevent_rate_limit_group_new(base,
		    cp->cp_total_cfg)) == NULL) {
			log_warnx("cannot set up --total-rate");
			conn_pool_free(cp);
			return (-1);
		}
	}
	return (0);
}

/* Release what conn_pool_init() set up; the connections are closed. */
void
conn_pool_free(struct conn_pool *cp)
{
	if (cp->cp_total != NULL)
		bufferevent_rate_limit_group_free(cp->cp_total);
	if (cp->cp_total_cfg != NULL)
		ev_token_bucket_cfg_free(cp->cp_total_cfg);
	if (cp->cp_rate != NULL)
		ev_token_bucket_cfg_free(cp->cp_rate);
	cp->cp_total = NULL;
	cp->cp_total_cfg = cp->cp_rate = NULL;
}

/*
 * The connection's bufferevent, which owns fd: a socket bufferevent, or
 * for a "tls:" listener one that runs the TLS handshake first.  NULL, fd
 * closed, for want of memory.
 */
static struct bufferevent *
conn_bufferevent_new(struct event_base *base, int fd, int tls)
{
	struct bufferevent	*bev;

#ifdef HAVE_OPENSSL
	if (tls)
		return (tls_bufferevent_new(base, fd));
#else
	(void)tls;
#endif
	if ((bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		close(fd);
	return (bev);
}

/*
 * Take over an accepted, non-blocking socket; with proxy, a PROXY header
 * comes first, with tls, the TLS handshake.  The caller has already
 * counted it in *cp_active; on failure it is closed and uncounted here.
 */
void
conn_accept(struct conn_pool *cp, int fd, const struct sockaddr *sa,
    socklen_t salen, int proxy, int tls)
{
	const struct settings	*s = cp->cp_settings;
	struct conn		*c;
	int			 logged = log_enabled(LOG_LEVEL_INFO);
	size_t			 size = sizeof(*c);

	if (logged)
		size += sizeof(struct conn_log);
	if (s->delay_ms != 0)
		size += sizeof(struct conn_delay);
	if ((c = calloc(1, size)) == NULL)
		close(fd);
	else
		c->c_bev = conn_bufferevent_new(cp->cp_base, fd, tls);
	if (c == NULL || c->c_bev == NULL) {
		log_warnx("connection dropped: out of memory");
		free(c);
		atomic_fetch_sub(cp->cp_active, 1);
		stats_add(&cp->cp_stats->st_oom_closed, 1);
		return;
	}
	c->c_pool = cp;
	c->c_tick = cp->cp_tick;
	if (proxy)
		c->c_flags |= CONN_PROXY_WAIT;
	if (tls)
		c->c_flags |= CONN_TLS;
	if (logged) {
		c->c_flags |= CONN_LOGGED;
		conn_log(c)->cl_start_ms = conn_now_ms();
		if (salen > 0 && (size_t)salen <= sizeof(conn_log(c)->cl_peer))
			memcpy(&conn_log(c)->cl_peer, sa, salen);
	}
	if (s->delay_ms != 0) {
		c->c_flags |= CONN_DELAYED;
		evtimer_assign(&conn_delay(c)->cd_timer, cp->cp_base,
		    conn_delay_cb, c);
		delay_init(&conn_delay(c)->cd_line, s->delay_ms);
	}
	bufferevent_setcb(c->c_bev, conn_read_cb, conn_write_cb,
	    conn_event_cb, c);
	bufferevent_setwatermark(c->c_bev, EV_WRITE, s->low_water, 0);
	/* A writable socket takes the whole queue, not 16 KiB of it. */
	bufferevent_set_max_single_write(c->c_bev, EV_SSIZE_MAX);
	conn_limit_read(c, 0);
	if ((cp->cp_rate != NULL &&
	    bufferevent_set_rate_limit(c->c_bev, cp->cp_rate) == -1) ||
	    (cp->cp_total != NULL &&
	    bufferevent_add_to_rate_limit_group(c->c_bev, cp->cp_total) == -1) ||
	    bufferevent_enable(c->c_bev, EV_READ) == -1) {
		log_warnx("connection dropped: cannot watch its socket");
		if (cp->cp_total != NULL)
			bufferevent_remove_from_rate_limit_group(c->c_bev);
		bufferevent_free(c->c_bev);
		free(c);
		atomic_fetch_sub(cp->cp_active, 1);
		stats_add(&cp->cp_stats->st_error_closed, 1);
		return;
	}
	TAILQ_INSERT_TAIL(&cp->cp_conns, c, c_entry);
	cp->cp_nconns++;
	stats_add(&cp->cp_stats->st_accepted, 1);
}

/*
 * libevent has read: echo it.  A short read while nothing is queued is
 * written back at once.  A full read means more is waiting: it is queued
 * and the read event made active again, so that several reads go out in
 * one write, where libevent alone would read 4 KiB per trip through
 * epoll_wait() and echo each on its own.  Shaped connections queue
 * everything; with --delay the bytes stay in the input until due.
 */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct conn_pool *cp = c->c_pool;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer	*out = bufferevent_get_output(bev);
	size_t		 n, queued;
	ssize_t		 sent;
	int		 direct;

	if ((c->c_flags & CONN_PROXY_WAIT) && conn_proxy_header(c, in) == -1)
		return;
	n = evbuffer_get_length(in);
	if (c->c_flags & CONN_DELAYED) {
		/* This millisecond may have begun just before the bytes came. */
		uint64_t	 now = conn_now_ms() + 1;

		n -= conn_delay(c)->cd_line.dl_held;
		delay_add(&conn_delay(c)->cd_line, now, n);
		conn_delay_arm(c, now);
	}
	if (n == 0)
		return;
	if (c->c_flags & CONN_LOGGED)
		conn_log(c)->cl_bytes_in += n;
	stats_add(&cp->cp_stats->st_bytes_in, n);
	c->c_tick = cp->cp_tick;

	/*
	 * The input, not the output: libevent keeps a socket bufferevent's
	 * output frozen at its start, so only its own write event may
	 * drain it.  send() rather than evbuffer_write()'s writev(): a short
	 * read is one chain, and a socket's writev() also takes the file
	 * position lock (bench/RESULTS.md has the cost).  Never for TLS: its
	 * socket carries records, so all of its echo goes through the
	 * output, which bufferevent_openssl encrypts; nor when shaping, whose
	 * buckets must see every byte.
	 */
	direct = !cp->cp_shaped && !(c->c_flags & CONN_TLS);
	if (direct && n < CONN_READ_CAP && evbuffer_get_length(out) == 0) {
		sent = send(bufferevent_getfd(bev), evbuffer_pullup(in, n), n,
		    MSG_NOSIGNAL);
		if (sent == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			conn_close(c, CLOSE_ERROR, errno);
			return;
		}
		if (sent > 0) {
			evbuffer_drain(in, (size_t)sent);
			stats_add(&cp->cp_stats->st_bytes_out, (uint64_t)sent);
		}
	}
	if (!(c->c_flags & CONN_DELAYED) && evbuffer_get_length(in) > 0 &&
	    conn_queue(c, in, evbuffer_get_length(in)) == -1)
		return;

	queued = conn_queued(c);
	if (conn_paused_next(0, queued, cp->cp_settings->high_water,
	    cp->cp_settings->low_water)) {
		c->c_flags |= CONN_PAUSED;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	conn_limit_read(c, queued);
	/*
	 * Not for TLS, whose read event takes a whole record, nor when
	 * shaping, where the buckets pace the reads.
	 */
	if (direct && n >= CONN_READ_CAP)
		event_active(&bev->ev_read, EV_READ, 1);
}

/* --delay: unless it already runs, start the timer for the next bytes. */
static void
conn_delay_arm(struct conn *c, uint64_t now)
{
	struct conn_delay	*cd = conn_delay(c);
	struct timeval		 tv;
	long			 wait;

	if (evtimer_pending(&cd->cd_timer, NULL) ||
	    (wait = delay_wait_ms(&cd->cd_line, now)) == -1)
		return;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = wait % 1000 * 1000;
	evtimer_add(&cd->cd_timer, &tv);
}

/* --delay: move what has fallen due from the input to the output. */
static void
conn_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	uint64_t	 now = conn_now_ms();
	size_t		 due;

	(void)fd;
	(void)what;
	due = delay_take_due(&conn_delay(c)->cd_line, now);
	if (due > 0) {
		if (conn_queue(c, bufferevent_get_input(c->c_bev), due) == -1)
			return;
		c->c_tick = c->c_pool->cp_tick;
	}
	conn_delay_arm(c, now);
	conn_resume(c);
}

/*
 * The header phase: look for a whole PROXY header in what has come so
 * far, at most PROXY_HDR_MAX bytes of it.  Once found it is drained, its
 * client replaces the proxy's address in the log line, and the read
 * callback goes on to echo what followed it.  Returns 0 for that, or -1
 * while the header is incomplete (the deadline is conn_sweep's) or when
 * it was bad and the connection is gone.
 */
static int
conn_proxy_header(struct conn *c, struct evbuffer *in)
{
	struct proxy_addr	 pa;
	const char		*why = NULL;
	size_t			 len = evbuffer_get_length(in);
	unsigned char		*p;
	int			 n;

	if (len > PROXY_HDR_MAX)
		len = PROXY_HDR_MAX;
	if ((p = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
		conn_close(c, CLOSE_OOM, 0);
		return (-1);
	}
	if ((n = proxy_parse(p, len, &pa, &why)) == 0)
		return (-1);
	if (n == -1) {
		log_info("bad PROXY header: %s", why);
		conn_close(c, CLOSE_PROXY, 0);
		return (-1);
	}
	evbuffer_drain(in, (size_t)n);
	c->c_flags &= ~CONN_PROXY_WAIT;
	c->c_tick = c->c_pool->cp_tick;
	if ((c->c_flags & CONN_LOGGED) && !pa.pa_local)
		memcpy(&conn_log(c)->cl_peer, &pa.pa_src, pa.pa_srclen);
	return (0);
}

/*
 * Copy len bytes from the input to the output.  evbuffer_add() copies
 * into the output's tail chain: moving the input's chains instead would
 * keep a chain of at least 1 KiB per read, and a peer sending one byte
 * per segment could then hold a thousand times the high mark.  Returns
 * -1 when the connection is gone.
 */
static int
conn_queue(struct conn *c, struct evbuffer *in, size_t len)
{
	struct evbuffer		*out = bufferevent_get_output(c->c_bev);
	struct evbuffer_iovec	 v[4];
	size_t			 take;
	int			 i, nv;

	/* Only libevent's writes drain the output: that is what we count. */
	if (!(c->c_flags & CONN_COUNTING)) {
		if (evbuffer_add_cb(out, conn_written_cb, c) == NULL) {
			conn_close(c, CLOSE_OOM, 0);
			return (-1);
		}
		c->c_flags |= CONN_COUNTING;
	}
	while (len > 0 && (nv = evbuffer_peek(in, (ev_ssize_t)len, NULL, v,
	    4)) > 0) {
		size_t	 moved = 0;

		for (i = 0; i < nv && i < 4 && moved < len; i++) {
			take = v[i].iov_len < len - moved ? v[i].iov_len :
			    len - moved;
			if (evbuffer_add(out, v[i].iov_base, take) == -1) {
				conn_close(c, CLOSE_OOM, 0);
				return (-1);
			}
			moved += take;
		}
		evbuffer_drain(in, moved);
		len -= moved;
	}
	return (0);
}

/*
 * Size the next read to the room below the high mark.  Only caps below
 * what libevent reads anyway need setting, so the common case costs a
 * test.
 */
static void
conn_limit_read(struct conn *c, size_t queued)
{
	size_t	 room = conn_read_room(queued, c->c_pool->cp_settings->high_water);

	if (room < CONN_READ_CAP) {
		bufferevent_set_max_single_read(c->c_bev, room);
		c->c_flags |= CONN_READ_CAPPED;
	} else if (c->c_flags & CONN_READ_CAPPED) {
		bufferevent_set_max_single_read(c->c_bev, 0);	/* default */
		c->c_flags &= ~CONN_READ_CAPPED;
	}
}

/*
 * libevent wrote part of the queue: count it as progress.  Every change
 * to the output comes here; only removals are writes.
 */
static void
conn_written_cb(struct evbuffer *out, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn	*c = arg;

	(void)out;
	if (info->n_deleted == 0)
		return;
	stats_add(&c->c_pool->cp_stats->st_bytes_out, info->n_deleted);
	c->c_tick = c->c_pool->cp_tick;
}

/*
 * The queue has drained to the write low watermark: --low-water while
 * echoing, so a paused connection reads again; 0 after the peer's EOF, so
 * the connection ends once every byte is back.
 */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_resume(arg);
}

/*
 * After the queue shrank: end a half-closed connection with nothing left,
 * or read again once the queue is back at the low mark.
 */
static void
conn_resume(struct conn *c)
{
	size_t		 queued = conn_queued(c);

	if (c->c_flags & CONN_PEER_EOF) {
		if (queued == 0)
			conn_close(c, CLOSE_EOF, 0);
		return;
	}
	if ((c->c_flags & CONN_PAUSED) && !conn_paused_next(1, queued,
	    c->c_pool->cp_settings->high_water,
	    c->c_pool->cp_settings->low_water)) {
		c->c_flags &= ~CONN_PAUSED;
		conn_limit_read(c, queued);
		if (bufferevent_enable(c->c_bev, EV_READ) == -1)
			conn_close(c, CLOSE_ERROR, 0);
	}
}

/*
 * EOF or an error, or a TLS handshake completed.  libevent has already
 * stopped reading; after EOF the queue is still owed to the peer, so the
 * connection ends only when the write callback finds it empty (low
 * watermark 0).  A TLS connection whose handshake has not completed ends
 * at once, and any error of a TLS connection is a TLS close: its reason
 * (OpenSSL's, or the socket's) is logged.
 */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->c_flags |= CONN_TLS_UP;
		c->c_tick = c->c_pool->cp_tick;
		stats_add(&c->c_pool->cp_stats->st_tls_handshakes, 1);
		return;
	}
	if ((c->c_flags & CONN_TLS) && ((what & BEV_EVENT_ERROR) ||
	    !(c->c_flags & CONN_TLS_UP))) {
		conn_close(c, CLOSE_TLS, (what & BEV_EVENT_ERROR) ?
		    EVUTIL_SOCKET_ERROR() : 0);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		conn_close(c, CLOSE_ERROR, EVUTIL_SOCKET_ERROR());
		return;
	}
	if (!(what & BEV_EVENT_EOF))
		return;
	if (c->c_flags & CONN_PROXY_WAIT) {
		log_info("bad PROXY header: truncated by the client's EOF");
		conn_close(c, CLOSE_PROXY, 0);
		return;
	}
	if (conn_queued(c) == 0) {
		conn_close(c, CLOSE_EOF, 0);
		return;
	}
	c->c_flags |= CONN_PEER_EOF;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	/* bufferevent_openssl stops writing too at EOF: the echo is owed. */
	if ((c->c_flags & CONN_TLS) && bufferevent_enable(bev, EV_WRITE) == -1)
		conn_close(c, CLOSE_ERROR, 0);
}

/*
 * The one way a connection ends: log why, count it, release everything.
 * errnum is the socket error for CLOSE_ERROR or CLOSE_TLS, else 0.
 */
static void
conn_close(struct conn *c, enum close_reason why, int errnum)
{
	struct conn_pool *cp = c->c_pool;
	struct evbuffer	*out = bufferevent_get_output(c->c_bev);
	/* Before its PROXY header ends, the input is header, not data. */
	size_t		 lost = c->c_flags & CONN_PROXY_WAIT ? 0 : conn_queued(c);
	int		 handshaking;

	stats_add((_Atomic uint64_t *)((char *)cp->cp_stats +
	    conn_close_reasons[why].cr_counter), 1);
	/* Read and never to be echoed: in - out - dropped stays the queue. */
	stats_add(&cp->cp_stats->st_bytes_dropped, lost);
	/* Cut short by echod's own shutdown is no failure of the peer's. */
	handshaking = (c->c_flags & (CONN_TLS | CONN_TLS_UP)) == CONN_TLS;
	if (handshaking && why != CLOSE_SHUTDOWN && why != CLOSE_DEADLINE)
		stats_add(&cp->cp_stats->st_tls_handshake_failed, 1);
	if (c->c_flags & CONN_LOGGED) {
		struct conn_log	*cl = conn_log(c);
		char		 peer[128];
		const char	*detail = errnum ? strerror(errnum) : NULL;
		uint64_t	 ms = conn_now_ms() - cl->cl_start_ms;
#ifdef HAVE_OPENSSL
		char		 tls_why[256];

		if (why == CLOSE_TLS)
			detail = tls_close_reason(c->c_bev, errnum, tls_why,
			    sizeof(tls_why));
		else if (handshaking)
			detail = "in the TLS handshake";
#endif

		log_sockaddr(&cl->cl_peer.sa, sizeof(cl->cl_peer), peer,
		    sizeof(peer));
		log_info("close %s after %llu.%03llus: in=%llu out=%llu "
		    "unsent=%zu: %s%s%s", peer,
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000),
		    (unsigned long long)cl->cl_bytes_in,
		    (unsigned long long)(cl->cl_bytes_in - lost), lost,
		    conn_close_reasons[why].cr_word, detail ? ": " : "",
		    detail ? detail : "");
	}

	if (c->c_flags & CONN_DELAYED)
		evtimer_del(&conn_delay(c)->cd_timer);
	/* Freeing drops what is queued: that is no write to count. */
	if (c->c_flags & CONN_COUNTING)
		evbuffer_remove_cb(out, conn_written_cb, c);
	/* The group may be freed before libevent finishes the free. */
	if (cp->cp_total != NULL)
		bufferevent_remove_from_rate_limit_group(c->c_bev);
#ifdef HAVE_OPENSSL
	if ((c->c_flags & CONN_TLS_UP) && why != CLOSE_TLS)
		tls_close_notify(c->c_bev);
#endif
	bufferevent_free(c->c_bev);
	TAILQ_REMOVE(&cp->cp_conns, c, c_entry);
	cp->cp_nconns--;
	atomic_fetch_sub(cp->cp_active, 1);
	free(c);
	if (cp->cp_closed != NULL)
		cp->cp_closed(cp->cp_closed_arg);
}

/*
 * Once a tick: close connections silent for --idle-timeout with nothing
 * queued, those whose peer took nothing for --stall-timeout, and those
 * whose PROXY header is not whole after --proxy-timeout (counted from
 * the accept: a byte at a time does not stretch it).
 */
void
conn_sweep(struct conn_pool *cp)
{
	const struct settings *s = cp->cp_settings;
	struct conn	*c, *next;
	unsigned int	 quiet;

	for (c = TAILQ_FIRST(&cp->cp_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		quiet = conn_quiet_sec(cp->cp_tick, c->c_tick);
		if (c->c_flags & CONN_PROXY_WAIT) {
			if (quiet >= s->proxy_timeout)
				conn_close(c, CLOSE_PROXY_TIMEOUT, 0);
		} else if (conn_queued(c) > 0) {
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
conn_drain_quiet(struct conn_pool *cp)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&cp->cp_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		if (conn_queued(c) == 0 && cp->cp_tick - c->c_tick >= 2)
			conn_close(c, CLOSE_SHUTDOWN, 0);
	}
}

/* Close every connection, whatever it is doing. */
void
conn_close_all(struct conn_pool *cp, enum close_reason why)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&cp->cp_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		conn_close(c, why, 0);
	}
}
