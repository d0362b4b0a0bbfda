/* SPDX-License-Identifier: ISC */
/*
 * t_backpressure.c - a client that sends and never reads costs echod at
 * most --high-water bytes of queue and little memory, whether it sends
 * in large writes or in one-byte segments; everything it sent still comes
 * back exactly once it reads; and one that never reads again is closed
 * by --stall-timeout.
 */

#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Everything here takes seconds; a hang does not. */
#define WATCHDOG_SEC	90

/* The queue bound under test, small so a full queue is quick to reach. */
#define HIGH_WATER	(64 * 1024)
#define HIGH_WATER_ARG	"64k"
#define LOW_WATER_ARG	"16k"

/*
 * The client's receive buffer: small, so that little of the echo hides
 * in it and what the client sends soon has to queue in echod.
 */
#define CLIENT_RCVBUF	4096

/* A client that has not been able to send for this long has been stopped. */
#define BLOCKED_SEC	0.05

/* Most a non-reading client sends: beyond what any socket buffers hold. */
#define FILL_MAX	(64ULL << 20)

/*
 * Bytes per send() while priming: small against the high mark, so the
 * queue is nearly empty when the tiny segments start.
 */
#define PRIME_STEP	(8 * 1024)

/*
 * Time between one-byte sends while filling the queue: long enough for
 * echod to take most in a read of their own (a chain each, if it queued
 * reads as they come), short enough to fill 64k in well under a second.
 * Spent spinning: a sleep this short lasts ~50 us on a VM.
 */
#define PACE_SEC	5e-6

/* One-byte sends once the queue is full, all pressing on a paused echod. */
#define TINY_SENDS	200000

/*
 * RSS the daemon may gain with a full queue: the queue, a read buffer
 * and allocator slack are well under this; a chain per tiny segment, or
 * an unbounded queue, is far over.
 */
#define RSS_GROWTH_MAX_KB	(4 * 1024)

/* The stall timeout tested, and the timeout's granularity: a tick. */
#define STALL_SEC	1
#define TICK_SEC	1

/* Waiting for the queue to fill after the client stopped (scaled). */
#define SETTLE_SEC	5

/* A queue unchanged this long below the mark has stopped growing. */
#define STEADY_SEC	1

/* Between looks at the counters while waiting for the queue to fill. */
#define SETTLE_POLL_SEC	0.01

static long	rss_base_kb;

static void	warm_up(struct child *);
static uint64_t	queue_settle(struct child *, uint64_t *);
static void	fill_tiny(struct child *, struct xfer *);
static void	test_unread(struct child *, const char *, size_t, uint64_t);
static void	test_stall(void);

/*
 * One echo first, so the read buffer and the allocator's arenas are in
 * the baseline and only what a full queue costs is measured.
 */
static void
warm_up(struct child *d)
{
	struct echod_stats	 st;
	int			 fd;

	if ((fd = client_connect(d->d_port)) == -1)
		bail("connect: %s", strerror(errno));
	if (!client_echo(fd, 1, 200000, tmo(10)))
		bail("warm-up echo failed");
	close(fd);
	if (child_wait_stat(d, &st, STAT(active), "==", 0, tmo(10)) == -1)
		bail("warm-up connection not closed");
	rss_base_kb = child_rss_kb(d);
	diag("RSS after start and one echo: %ld KiB", rss_base_kb);
}

/*
 * Poll the counters until echod's queue (bytes_in - bytes_out) stops
 * growing for good: it is at the high mark, or unchanged for a while.
 * Returns the largest queue seen; *last gets the final one.
 */
static uint64_t
queue_settle(struct child *d, uint64_t *last)
{
	struct echod_stats	 st;
	uint64_t		 q, max = 0, prev = UINT64_MAX;
	double			 end = now() + tmo(SETTLE_SEC), same = now();

	*last = 0;
	while (now() < end && child_stats(d, &st) == 0) {
		q = stats_queued(&st);
		if (q > max)
			max = q;
		*last = q;
		if (q == HIGH_WATER)
			break;
		if (q != prev)
			same = now();
		else if (now() - same > STEADY_SEC)
			break;
		prev = q;
		pause_sec(SETTLE_POLL_SEC);
	}
	return (max);
}

/*
 * Tiny segments reach echod's queue only once its socket is full, so
 * prime that first; then fill the rest of the queue a byte at a time,
 * PACE_SEC apart, so that echod takes most of them in reads of their own.
 */
static void
fill_tiny(struct child *d, struct xfer *x)
{
	uint64_t	 queued, before, i;
	double		 t0 = now(), until;

	queued = child_prime(d, x, PRIME_STEP);
	for (i = 0; i < HIGH_WATER - queued && x->x_err == 0; i++) {
		before = x->x_sent;
		x->x_total = before + 1;
		if (xfer_fill(x, 1, BLOCKED_SEC) == before)
			break;
		for (until = now() + PACE_SEC; now() < until;)
			continue;
	}
	diag("1-byte segments: %llu sent paced in %.2fs",
	    (unsigned long long)i, now() - t0);
}

/*
 * A client sends without reading, seg bytes per send(), until it cannot:
 * the queue stays within the high mark, RSS barely moves, and when the
 * client reads at last, every byte comes back in order.
 */
static void
test_unread(struct child *d, const char *name, size_t seg, uint64_t limit)
{
	struct echod_stats	 st0, st;
	struct xfer		 x;
	uint64_t		 sent, max, last;
	long			 rss;
	int			 fd, one = 1;

	if (child_stats(d, &st0) == -1)
		bail("no stats");
	if ((fd = client_connect_rcvbuf("127.0.0.1", d->d_port,
	    CLIENT_RCVBUF)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, seg, limit);
	x.x_noread = 1;
	if (seg == 1) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fill_tiny(d, &x);
	}
	x.x_total = x.x_sent + limit;
	sent = xfer_fill(&x, seg, BLOCKED_SEC);
	diag("%s: sent %llu bytes without reading", name,
	    (unsigned long long)sent);
	ok(x.x_err == 0, "%s: sending raised no error", name);
	cmp_u64(sent, ">", HIGH_WATER, "%s: sent more than the high mark",
	    name);

	max = queue_settle(d, &last);
	diag("%s: echod's queue: at most %llu, finally %llu bytes", name,
	    (unsigned long long)max, (unsigned long long)last);
	cmp_u64(max, "<=", HIGH_WATER, "%s: queue never above %d", name,
	    HIGH_WATER);
	cmp_u64(last, "==", HIGH_WATER, "%s: queue filled to the mark and "
	    "no further", name);
	if (harness_instrumented())
		skip(1, "RSS is not echod's own under a wrapper or sanitizer");
	else {
		rss = child_rss_kb(d);
		cmp_dbl((double)(rss - rss_base_kb), "<", RSS_GROWTH_MAX_KB,
		    "%s: RSS grew %ld KiB (from %ld)", name,
		    rss - rss_base_kb, rss_base_kb);
	}

	/* Now read: all of it comes back, then EOF. */
	x.x_noread = 0;
	x.x_shut = 1;
	xfer_run(&x, 1, tmo(30));
	cmp_u64(x.x_rcvd, "==", sent, "%s: every byte sent came back", name);
	cmp_u64(x.x_bad, "==", NO_BAD, "%s: in order and intact", name);
	cmp_u64(x.x_sum_rcvd, "==", x.x_sum_sent, "%s: checksum equal", name);
	ok(x.x_eof && x.x_err == 0, "%s: then EOF", name);
	close(fd);

	if (child_stats(d, &st) == -1)
		bail("no stats");
	cmp_u64(st.bytes_in - st0.bytes_in, "==", sent, "%s: bytes_in grew "
	    "by what was sent", name);
	cmp_u64(st.bytes_out - st0.bytes_out, "==", sent, "%s: bytes_out "
	    "likewise", name);
}

/*
 * --stall-timeout: a client that fills its queue and then takes nothing
 * is closed after the timeout, not before, counted, and logged with what
 * it left unsent.
 */
static void
test_stall(void)
{
	struct echod_stats	 st;
	struct child		 d;
	struct xfer		 x;
	double			 t0, secs;
	int			 fd;
	char			 want[64];

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "--stall-timeout",
	    "1", "--high-water", HIGH_WATER_ARG, "--low-water", LOW_WATER_ARG,
	    NULL) == -1)
		bail("echod did not start");
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 7, FILL_MAX);
	x.x_noread = 1;
	xfer_fill(&x, 64 * 1024, BLOCKED_SEC);
	t0 = now();

	is_int(child_wait_stat(&d, &st, STAT(stall_closed), "==", 1,
	    tmo(STALL_SEC + 2 * TICK_SEC + 2)), 0, "stall: stall_closed=1");
	secs = now() - t0;
	diag("stall: closed %.2fs after the client stopped", secs);
	cmp_dbl(secs, ">=", STALL_SEC - 0.1, "stall: not before %ds",
	    STALL_SEC);
	cmp_dbl(secs, "<=", tmo(STALL_SEC + TICK_SEC + 1),
	    "stall: within the timeout and a tick");
	cmp_u64(st.idle_closed, "==", 0, "stall: not counted as idle");
	is_int(child_wait_stat(&d, &st, STAT(active), "==", 0, tmo(2)), 0,
	    "stall: active=0");
	snprintf(want, sizeof(want), "unsent=%d: stall timeout\n", HIGH_WATER);
	ok(child_log_wait(&d, 0, want, tmo(2)) != -1,
	    "stall: logged with a full queue unsent");

	/* The client sees its connection end, by EOF or reset. */
	x.x_want_eof = 1;
	x.x_noread = 0;
	xfer_run(&x, 1, tmo(5));
	ok(x.x_eof || x.x_err == ECONNRESET, "stall: the client sees the end "
	    "(%s)", x.x_eof ? "EOF" : x.x_err ? strerror(x.x_err) : "none");
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "stall: exit 0");
	child_done(&d);
}

/* Bulk and tiny-segment clients on one daemon, then the stall timeout. */
int
main(void)
{
	struct child	 d;

	harness_init(WATCHDOG_SEC);
	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--high-water",
	    HIGH_WATER_ARG, "--low-water", LOW_WATER_ARG, NULL) == -1)
		bail("echod did not start");
	warm_up(&d);
	test_unread(&d, "64k writes", 64 * 1024, FILL_MAX);
	test_unread(&d, "1-byte segments", 1, TINY_SENDS);
	is_int(child_stop(&d, tmo(10)), 0, "exit 0");
	child_done(&d);
	test_stall();
	return (tap_done());
}
