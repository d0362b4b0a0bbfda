/* SPDX-License-Identifier: ISC */
/*
 * udp.c - udp mode: each "connection" is a connected UDP socket that
 * keeps -P datagrams in flight (or sends its share of -R), every echo is
 * checked byte for byte against what was sent, and a datagram not back
 * within --timeout is lost.  UDP may lose or repeat datagrams, so loss is
 * measured and reported, not an error; a changed byte is.
 */

#include "config.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echobench.h"

/*
 * Datagrams one socket tracks in flight: -P's ceiling, and under -R a
 * socket's rate times its latency; one still unanswered when its slot is
 * needed again counts as lost.
 */
#define UDP_RING		4096

/* Bytes a datagram starts with: its sequence number on its socket. */
#define UDP_HEADER		8

/* Largest datagram read: any UDP payload fits. */
#define UDP_READ_MAX		65536

/* How often datagrams past --timeout are looked for and counted lost. */
#define UDP_EXPIRE_NS		(10 * NS_PER_MS)

static int	udp_send_one(struct gen *, struct uflow *, uint64_t);
static void	udp_resolve(struct uflow *);
static void	udp_verify(struct gen *, struct uflow *, size_t, uint64_t);
static void	udp_read(struct gen *, struct uflow *, uint64_t);
static void	udp_expire(struct gen *, uint64_t, int);
static void	udp_feed(struct gen *, uint64_t);

/*
 * Opens a thread's sockets, one connected UDP socket per flow gen_init()
 * gave it, spread over loopback sources like TCP connections.
 */
int
udp_gen_init(struct gen *g)
{
	struct epoll_event	 ev;
	struct uflow		*f;
	unsigned		 i;

	if ((g->uflows = calloc(g->nflows, sizeof(*g->uflows))) == NULL)
		return -1;
	for (i = 0; i < g->nflows; i++)
		g->uflows[i].fd = -1;
	for (i = 0; i < g->nflows; i++) {
		f = &g->uflows[i];
		f->index = i;
		if ((f->ring = calloc(UDP_RING, sizeof(*f->ring))) == NULL)
			return -1;
		f->fd = socket(run.target.addr.ss_family, SOCK_DGRAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (f->fd == -1 || (run.target.spread_sources &&
		    target_bind_source(f->fd, g->first + i) == -1) ||
		    connect(f->fd, (struct sockaddr *)&run.target.addr,
		    run.target.len) == -1)
			return -1;
		ev.events = EPOLLIN;
		ev.data.ptr = f;
		if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, f->fd, &ev) == -1)
			return -1;
	}
	g->established = g->nflows;
	return 0;
}

/* Closes and frees what udp_gen_init() set up; NULL-safe. */
void
udp_gen_free(struct gen *g)
{
	unsigned	 i;

	if (g->uflows == NULL)
		return;
	for (i = 0; i < g->nflows; i++) {
		if (g->uflows[i].fd != -1)
			close(g->uflows[i].fd);
		free(g->uflows[i].ring);
	}
	free(g->uflows);
	g->uflows = NULL;
}

/* Where datagram seq of flow f starts in the pattern. */
static const unsigned char *
udp_bytes(const struct gen *g, const struct uflow *f, uint64_t seq)
{
	return pattern.bytes + pattern_seed(seq * run.opt.conns + g->first +
	    f->index);
}

/* Moves f's oldest past datagrams that are answered or lost. */
static void
udp_resolve(struct uflow *f)
{
	while (f->oldest < f->next_seq &&
	    f->ring[f->oldest % UDP_RING].sent_at == 0)
		f->oldest++;
}

/*
 * Sends f's next datagram: its sequence number, then the pattern; its
 * latency will run from stamp (-R: when it was due).  A full socket
 * buffer is a datagram lost before it left.  Returns 0, or -1 when the
 * socket reports an error (the server unreachable).
 */
static int
udp_send_one(struct gen *g, struct uflow *f, uint64_t stamp)
{
	unsigned char	*buf = g->rbuf + UDP_READ_MAX;
	struct uslot	*s;
	uint64_t	 seq = f->next_seq;
	size_t		 size = (size_t)run.opt.size;

	s = &f->ring[seq % UDP_RING];
	if (s->sent_at != 0) {
		/* Its slot is wanted: a datagram this old is lost. */
		s->sent_at = 0;
		f->inflight--;
		g->busy--;
		g->lost++;
	}
	memcpy(buf, udp_bytes(g, f, seq), size);
	memcpy(buf, &seq, UDP_HEADER);
	f->next_seq++;
	g->started++;
	g->sent++;
	if (send(f->fd, buf, size, 0) == -1) {
		udp_resolve(f);
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS) {
			g->lost++;
			return 0;
		}
		g->errs[ERR_CONNECT]++;
		report_error(ERR_CONNECT, "send to %s port %s: %s",
		    run.target.host, run.opt.port, strerror(errno));
		return -1;
	}
	s->seq = seq;
	s->sent_at = stamp;
	f->inflight++;
	g->busy++;
	udp_resolve(f);
	return 0;
}

/*
 * Checks one echo of n bytes in g->rbuf: the size sent, a sequence number
 * sent, the bytes of that datagram.  An echo of a datagram already
 * answered or counted lost is late, not wrong.
 */
static void
udp_verify(struct gen *g, struct uflow *f, size_t n, uint64_t now)
{
	const unsigned char	*want;
	struct uslot		*s;
	uint64_t		 seq;
	size_t			 i;

	if (n != run.opt.size) {
		g->errs[ERR_MISMATCH]++;
		report_error(ERR_MISMATCH, "socket %" PRIu64 ": a datagram of "
		    "%zu bytes came back where all sent were %" PRIu64,
		    g->first + f->index, n, run.opt.size);
		return;
	}
	memcpy(&seq, g->rbuf, UDP_HEADER);
	want = udp_bytes(g, f, seq);
	if (seq >= f->next_seq || memcmp(g->rbuf + UDP_HEADER,
	    want + UDP_HEADER, n - UDP_HEADER) != 0) {
		for (i = UDP_HEADER; seq < f->next_seq && i < n &&
		    g->rbuf[i] == want[i]; i++)
			continue;
		g->errs[ERR_MISMATCH]++;
		if (seq >= f->next_seq)
			report_error(ERR_MISMATCH, "socket %" PRIu64 ": echo "
			    "of datagram %" PRIu64 ", which was never sent",
			    g->first + f->index, seq);
		else
			report_error(ERR_MISMATCH, "socket %" PRIu64 ": "
			    "datagram %" PRIu64 " byte %zu is 0x%02x, "
			    "expected 0x%02x", g->first + f->index, seq, i,
			    g->rbuf[i], want[i]);
		return;
	}
	s = &f->ring[seq % UDP_RING];
	if (seq < f->oldest || s->seq != seq || s->sent_at == 0) {
		g->late++;
		return;
	}
	if (now >= run.measure_start && now < run.end) {
		hist_record(g->hist, now - s->sent_at);
		g->msgs++;
		g->bytes += n;
	}
	s->sent_at = 0;
	f->inflight--;
	g->busy--;
	g->done_total++;
	g->recv_total += n;
	udp_resolve(f);
}

/* Reads every echo waiting on f. */
static void
udp_read(struct gen *g, struct uflow *f, uint64_t now)
{
	ssize_t		 n;

	for (;;) {
		n = recv(f->fd, g->rbuf, UDP_READ_MAX, MSG_TRUNC);
		if (n >= 0) {
			udp_verify(g, f, (size_t)n, now);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		/* An ICMP error: the datagram that caused it is lost. */
		g->errs[ERR_CONNECT]++;
		report_error(ERR_CONNECT, "recv from %s port %s: %s",
		    run.target.host, run.opt.port, strerror(errno));
	}
}

/*
 * Counts as lost what has been in flight past --timeout, or, with all,
 * everything still in flight.
 */
static void
udp_expire(struct gen *g, uint64_t now, int all)
{
	struct uflow	*f;
	struct uslot	*s;
	uint64_t	 seq;
	unsigned	 i;

	for (i = 0; i < g->nflows; i++) {
		f = &g->uflows[i];
		for (seq = f->oldest; seq < f->next_seq; seq++) {
			s = &f->ring[seq % UDP_RING];
			if (s->sent_at == 0)
				continue;
			/* Sent in order: the rest are younger. */
			if (!all && now - s->sent_at < run.timeout_ns)
				break;
			s->sent_at = 0;
			f->inflight--;
			g->busy--;
			g->lost++;
		}
		udp_resolve(f);
	}
}

/*
 * Sends what is due: closed loop, each socket back up to -P in flight;
 * open loop, every -R slot whose time has come, round the sockets.
 */
static void
udp_feed(struct gen *g, uint64_t now)
{
	struct uflow	*f;
	unsigned	 i;

	if (g->time_up)
		return;
	if (run.opt.rate > 0) {
		while (g->started < g->quota && (g->next_due = run.start +
		    (uint64_t)((double)g->next_slot * g->ns_per_msg)) <= now) {
			f = &g->uflows[g->next_slot++ % g->nflows];
			if (udp_send_one(g, f, g->next_due) == -1)
				return;
		}
		return;
	}
	for (i = 0; i < g->nflows; i++) {
		f = &g->uflows[i];
		while (f->inflight < run.opt.pipeline && g->started < g->quota)
			if (udp_send_one(g, f, now) == -1)
				break;
	}
}

/* One thread's loop over its sockets. */
void *
udp_gen_main(void *arg)
{
	struct gen		*g = arg;
	struct epoll_event	 events[MAX_EVENTS];
	uint64_t		 now, timeout;
	int			 i, n;

	if (run.opt.rate > 0)
		prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	now = now_ns();
	g->next_check = now + UDP_EXPIRE_NS;
	for (;;) {
		udp_feed(g, now);
		if (now >= g->next_check) {
			udp_expire(g, now, 0);
			g->next_check = now + UDP_EXPIRE_NS;
		}
		gen_publish(g);
		if (gen_finished(g, now))
			break;
		timeout = g->next_check - now;
		if (run.opt.rate > 0 && !g->time_up && g->next_due > now &&
		    g->next_due - now < timeout)
			timeout = g->next_due - now;
		n = gen_wait_events(g->epfd, events, timeout);
		if (n == -1 && errno != EINTR) {
			fprintf(stderr, "echobench: epoll_wait: %s\n",
			    strerror(errno));
			break;
		}
		now = now_ns();
		for (i = 0; i < n; i++)
			udp_read(g, events[i].data.ptr, now);
	}
	udp_expire(g, now, 1);
	g->end_ns = now;
	gen_publish(g);
	atomic_store(&g->pub_finished, 1);
	sem_post(&run.wake);
	return NULL;
}
