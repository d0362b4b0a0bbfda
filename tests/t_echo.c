/* SPDX-License-Identifier: ISC */
/*
 * t_echo.c - the echo itself: every byte value, a connection that sends
 * nothing, 64 MiB on one connection, 2000 connections at once each with
 * its own message, all with one thread and with two, and the byte
 * counters agreeing exactly with what the clients sent; and a connection
 * streaming flat out does not hold up the others.
 */

#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Two daemons, 128 MiB and 4000 connections: seconds; a hang is not. */
#define WATCHDOG_SEC	120

/* The bulk transfer: large enough to cycle every buffer many times. */
#define BULK_BYTES	(64ULL << 20)

/* Concurrent connections: far beyond any one buffer or backlog quirk. */
#define NCONNS		2000

/* The longest of the per-connection messages. */
#define MSG_MAX		997

/* Every byte value, this many times over. */
#define ALL_BYTES_ROUNDS	16

/* Zero bytes in a row, more than a page. */
#define NULS		5000

/*
 * The fairness check: how long the stream runs, how many short echoes go
 * on beside it, and the longest any may take.  A loop that served the
 * stream until it stopped would hold an echo for seconds; a fair one
 * answers in well under a millisecond.
 */
#define STREAM_SEC	3.0
#define SHORT_ECHOES	20
#define SHORT_RTT_MAX	0.5

static uint64_t	test_all_bytes(struct child *);
static uint64_t	test_nuls(struct child *);
static void	test_zero_bytes(struct child *);
static uint64_t	test_bulk(struct child *);
static uint64_t	test_many(struct child *);
static void	run(int);
static void	test_fair(void);

/* Every byte value 0..255, in order, several times: each comes back. */
static uint64_t
test_all_bytes(struct child *d)
{
	uint8_t		 buf[256 * ALL_BYTES_ROUNDS];
	struct xfer	 x;
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	if ((fd = client_connect(d->d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 0, sizeof(buf));
	x.x_data = buf;
	x.x_shut = 1;
	xfer_run(&x, 1, tmo(10));
	cmp_u64(x.x_rcvd, "==", sizeof(buf), "all byte values: %zu bytes back",
	    sizeof(buf));
	cmp_u64(x.x_bad, "==", NO_BAD, "all byte values: each one intact");
	ok(x.x_eof && x.x_err == 0, "all byte values: then EOF");
	close(fd);
	return (x.x_sent);
}

/* A run of NUL bytes is data like any other. */
static uint64_t
test_nuls(struct child *d)
{
	static const uint8_t	 zeros[NULS];
	struct xfer		 x;
	int			 fd;

	if ((fd = client_connect(d->d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 0, sizeof(zeros));
	x.x_data = zeros;
	x.x_shut = 1;
	xfer_run(&x, 1, tmo(10));
	cmp_u64(x.x_rcvd, "==", NULS, "NULs: %d bytes back", NULS);
	cmp_u64(x.x_sum_rcvd, "==", x.x_sum_sent, "NULs: checksum equal");
	ok(x.x_eof && x.x_err == 0, "NULs: then EOF");
	close(fd);
	return (x.x_sent);
}

/* Connect and shut down at once: EOF, and not a byte back. */
static void
test_zero_bytes(struct child *d)
{
	struct xfer	 x;
	int		 fd;

	if ((fd = client_connect(d->d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 0, 0);
	x.x_shut = 1;
	xfer_run(&x, 1, tmo(10));
	ok(x.x_eof && x.x_err == 0, "zero bytes: EOF (err %s)",
	    x.x_err ? strerror(x.x_err) : "none");
	cmp_u64(x.x_rcvd, "==", 0, "zero bytes: nothing back");
	close(fd);
}

/* One connection carries BULK_BYTES, read while written; every byte checked. */
static uint64_t
test_bulk(struct child *d)
{
	uint64_t	 total = BULK_BYTES;
	struct xfer	 x;
	double		 t0, secs;
	int		 fd;

	if ((fd = client_connect(d->d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 42, total);
	x.x_shut = 1;
	t0 = now();
	xfer_run(&x, 1, tmo(60));
	secs = now() - t0;
	diag("%llu MiB echoed in %.2fs", (unsigned long long)(total >> 20),
	    secs);
	cmp_u64(x.x_rcvd, "==", total, "bulk: %llu MiB back",
	    (unsigned long long)(total >> 20));
	cmp_u64(x.x_bad, "==", NO_BAD, "bulk: no byte wrong");
	cmp_u64(x.x_sum_rcvd, "==", x.x_sum_sent, "bulk: checksum equal");
	ok(x.x_eof && x.x_err == 0, "bulk: EOF after the last byte");
	if (!xfer_intact(&x))
		xfer_diag(&x, "bulk");
	close(fd);
	return (x.x_sent);
}

/*
 * NCONNS connections open at once, each echoing its own message of its
 * own length; the counters see them all, then none.
 */
static uint64_t
test_many(struct child *d)
{
	size_t			 n = NCONNS;
	struct echod_stats	 st;
	struct xfer		*xs;
	uint64_t		 sent = 0;
	size_t			 i, bad = 0;
	int			 fd;

	if ((xs = calloc(n, sizeof(*xs))) == NULL)
		bail("out of memory");
	for (i = 0; i < n; i++) {
		if ((fd = client_connect(d->d_port)) == -1)
			bail("connection %zu: %s", i, strerror(errno));
		/* Lengths 1..MSG_MAX, seeds distinct per connection. */
		xfer_init(&xs[i], fd, 1000 + i, 1 + (i * 7919) % MSG_MAX);
	}
	is_int(child_wait_stat(d, &st, STAT(active), "==", n, tmo(20)), 0,
	    "%zu connections: all accepted", n);
	cmp_u64(st.active, "==", n, "%zu connections: active=%zu", n, n);
	xfer_run(xs, n, tmo(30));
	for (i = 0; i < n; i++) {
		if (!xfer_intact(&xs[i])) {
			if (bad++ < 5)
				xfer_diag(&xs[i], "connection");
		}
		sent += xs[i].x_sent;
	}
	cmp_u64(bad, "==", 0, "%zu connections: each got its own message", n);
	for (i = 0; i < n; i++)
		close(xs[i].x_fd);
	free(xs);
	is_int(child_wait_stat(d, &st, STAT(active), "==", 0, tmo(20)), 0,
	    "%zu connections closed: active back to 0", n);
	return (sent);
}

/* Every check above against one daemon with the given thread count. */
static void
run(int threads)
{
	struct echod_stats	 st;
	struct child		 d;
	uint64_t		 sent = 0;
	char			 nthreads[16];

	snprintf(nthreads, sizeof(nthreads), "%d", threads);
	diag("--threads %d", threads);
	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--threads", nthreads,
	    NULL) == -1)
		bail("echod did not start");
	sent += test_all_bytes(&d);
	sent += test_nuls(&d);
	test_zero_bytes(&d);
	sent += test_bulk(&d);
	sent += test_many(&d);

	if (child_stats(&d, &st) == -1)
		bail("no stats from echod");
	cmp_u64(st.bytes_in, "==", sent, "threads %d: bytes_in is every byte "
	    "sent (%llu)", threads, (unsigned long long)sent);
	cmp_u64(st.bytes_out, "==", sent, "threads %d: bytes_out is the same",
	    threads);
	/* all bytes, NULs, zero bytes, bulk, and the many. */
	cmp_u64(st.accepted, "==", 4 + NCONNS, "threads %d: accepted counts "
	    "every connection", threads);
	cmp_u64(st.rejected + st.idle_closed + st.stall_closed +
	    st.accept_errors, "==", 0, "threads %d: nothing rejected, "
	    "timed out or failed", threads);
	is_int(child_stop(&d, tmo(10)), 0, "threads %d: exit 0", threads);
	child_done(&d);
}

/*
 * A child process streams as fast as the loop will take it, reading the
 * echo as fast as it comes, so every read echod makes finds its buffer
 * full and the connection keeps making itself active again.  Meanwhile
 * short echoes on a second connection of the same loop still come back
 * at once: the loop keeps polling for others between the stream's reads.
 */
static void
test_fair(void)
{
	struct child	 d;
	struct xfer	 x;
	double		 t0, rtt, worst = 0;
	pid_t		 pid;
	int		 stream, fd, i, good = 0, status, overlapped;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	if ((stream = client_connect(d.d_port)) == -1 ||
	    (fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	if ((pid = fork()) == -1)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Until the time is up; all that came back must be right. */
		xfer_init(&x, stream, 77, UINT64_MAX);
		xfer_run(&x, 1, STREAM_SEC);
		_exit(x.x_err == 0 && x.x_bad == NO_BAD ? 0 : 1);
	}
	close(stream);
	pause_sec(0.2);
	for (i = 0; i < SHORT_ECHOES; i++) {
		t0 = now();
		good += client_echo(fd, 500 + i, 100, tmo(STREAM_SEC + 5));
		rtt = now() - t0;
		if (rtt > worst)
			worst = rtt;
		pause_sec(0.05);
	}
	overlapped = waitpid(pid, &status, WNOHANG) == 0;
	diag("fair: slowest of %d short echoes beside the stream: %.4fs",
	    SHORT_ECHOES, worst);
	is_int(good, SHORT_ECHOES, "fair: every short echo came back");
	ok(overlapped, "fair: the stream was still going throughout");
	cmp_dbl(worst, "<", tmo(SHORT_RTT_MAX), "fair: no short echo waited "
	    "for the stream");
	if (waitpid(pid, &status, 0) != pid)
		bail("waitpid: %s", strerror(errno));
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "fair: the stream's bytes all came back right");
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "fair: exit 0");
	child_done(&d);
}

/* The whole set with one event loop, then with two; then fairness. */
int
main(void)
{
	harness_init(WATCHDOG_SEC);
	run(1);
	run(2);
	test_fair();
	return (tap_done());
}
