/* SPDX-License-Identifier: ISC */
/*
 * t_shaping.c - what echod does for people who test clients against a
 * slow or distant peer: --rate caps each connection, --total-rate all of
 * them together, --delay echoes each byte that much later; backpressure,
 * half-close and the memory bound still hold; bad values are refused.
 *
 * The rates are a small fraction of what any machine echoes, so a slow
 * one meets them as well as a fast one; only the delay's upper bound is
 * left out under a wrapper or sanitizer.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Three 5-second transfers and some smaller ones: a hang is not. */
#define WATCHDOG_SEC	90

/* The rate tested, and how long a transfer at it lasts. */
#define RATE		(200 * 1024)
#define RATE_ARG	"200k"
#define RATE_SEC	5.0

/* How far a limited transfer's rate may be from the one set. */
#define RATE_TOLERANCE	0.05

/* --delay tested, how many echoes are timed, and the bound on p99. */
#define DELAY_MS	100
#define DELAY_ARG	"100"
#define DELAY_PINGS	50
#define DELAY_SLACK_MS	20

/*
 * The high mark in the memory test, and what the client tries to send:
 * more than loopback socket buffers hold.
 */
#define HIGH		(64 * 1024)
#define HIGH_ARG	"64k"
#define FLOOD		(32 * 1024 * 1024)

static void	test_rate(void);
static void	test_total_rate(void);
static void	test_delay(void);
static void	test_delay_bound(void);
static void	test_bad_options(void);
static void	check_rate(const char *, double);
static double	timed_transfer(struct xfer *, size_t, const struct child *,
		    uint64_t);
static int	cmp_double(const void *, const void *);

/*
 * n connections each send total bytes and shut down, reading their echo
 * all the while; returns the seconds until the last byte came back, or
 * -1 if any transfer failed.
 */
static double
timed_transfer(struct xfer *xs, size_t n, const struct child *d,
    uint64_t total)
{
	double	 t0;
	size_t	 i;
	int	 fd;

	for (i = 0; i < n; i++) {
		if ((fd = client_connect(d->d_port)) == -1)
			bail("connect: %s", strerror(errno));
		xfer_init(&xs[i], fd, i + 1, total);
		xs[i].x_shut = 1;
	}
	t0 = now();
	xfer_run(xs, n, tmo(RATE_SEC * 4));
	for (i = 0; i < n; i++) {
		close(xs[i].x_fd);
		if (!xfer_intact(&xs[i]) || !xs[i].x_eof) {
			xfer_diag(&xs[i], "shaped transfer");
			return (-1);
		}
	}
	return (now() - t0);
}

/*
 * RATE_SEC worth of bytes took secs: the rate they came back at is RATE
 * within the tolerance (no faster ever; no slower unless a wrapper or
 * sanitizer slows echod itself down).
 */
static void
check_rate(const char *what, double secs)
{
	double	 rate = RATE * RATE_SEC / secs;

	diag("%s %s: %.3fs, %.0f bytes/s", what, RATE_ARG, secs, rate);
	cmp_dbl(rate, "<=", RATE * (1 + RATE_TOLERANCE), "%s: no faster "
	    "than the rate", what);
	if (harness_instrumented())
		skip(1, "a wrapper or sanitizer may not keep up with the rate");
	else
		cmp_dbl(rate, ">=", RATE * (1 - RATE_TOLERANCE), "%s: no "
		    "slower either", what);
}

/*
 * --rate: RATE_SEC worth of bytes at RATE take RATE_SEC, within the
 * tolerance, come back whole, and the connection then ends normally.
 */
static void
test_rate(void)
{
	struct echod_stats	 st;
	struct xfer		 x;
	struct child		 d;
	double			 secs;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--rate", RATE_ARG,
	    NULL) == -1)
		bail("echod did not start");
	secs = timed_transfer(&x, 1, &d, (uint64_t)(RATE * RATE_SEC));
	ok(secs > 0, "--rate: %.0f bytes echoed whole, then EOF",
	    RATE * RATE_SEC);
	check_rate("--rate", secs);
	is_int(child_wait_stat(&d, &st, STAT(eof_closed), "==", 1, tmo(5)),
	    0, "--rate: the connection ended as finished");
	is_int(child_stop(&d, tmo(10)), 0, "--rate: exit 0");
	child_done(&d);
}

/*
 * --total-rate: two connections together get the rate, not each; one
 * that is shaped still gets the half-close right.
 */
static void
test_total_rate(void)
{
	struct xfer	 xs[2];
	struct child	 d;
	double		 secs;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--total-rate",
	    RATE_ARG, NULL) == -1)
		bail("echod did not start");
	secs = timed_transfer(xs, 2, &d, (uint64_t)(RATE * RATE_SEC / 2));
	ok(secs > 0, "--total-rate: two connections echoed whole");
	check_rate("--total-rate", secs);
	is_int(child_stop(&d, tmo(10)), 0, "--total-rate: exit 0");
	child_done(&d);
}

/* For qsort(): ascending doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

/*
 * --delay: small echoes one at a time, each waited for: none comes back
 * sooner than the delay, and the 99th percentile no more than
 * DELAY_SLACK_MS later.  Then a half-close: the delayed bytes still all
 * come back before EOF.
 */
static void
test_delay(void)
{
	double		 lat[DELAY_PINGS], t0;
	struct xfer	 x;
	struct child	 d;
	int		 fd, i, echoed = 0;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--delay", DELAY_ARG,
	    NULL) == -1)
		bail("echod did not start");
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	for (i = 0; i < DELAY_PINGS; i++) {
		t0 = now();
		echoed += client_echo(fd, (uint64_t)i, 64, tmo(5));
		lat[i] = (now() - t0) * 1000;
		pause_sec(0.01);
	}
	close(fd);
	is_int(echoed, DELAY_PINGS, "--delay: %d echoes whole", DELAY_PINGS);
	qsort(lat, DELAY_PINGS, sizeof(lat[0]), cmp_double);
	diag("--delay %s: min %.1f ms, median %.1f ms, p99 %.1f ms",
	    DELAY_ARG, lat[0], lat[DELAY_PINGS / 2],
	    lat[DELAY_PINGS * 99 / 100]);
	cmp_dbl(lat[0], ">=", DELAY_MS, "--delay: none sooner than %d ms",
	    DELAY_MS);
	if (harness_instrumented())
		skip(1, "a wrapper or sanitizer adds its own delay");
	else
		cmp_dbl(lat[DELAY_PINGS * 99 / 100], "<=", DELAY_MS +
		    DELAY_SLACK_MS, "--delay: p99 at most %d ms later",
		    DELAY_SLACK_MS);

	/* Sent in one go and shut down at once: all delayed, all back. */
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 99, 300000);
	x.x_shut = 1;
	t0 = now();
	xfer_run(&x, 1, tmo(10));
	ok(xfer_intact(&x) && x.x_eof, "--delay: a half-closed client gets "
	    "all 300000 bytes, then EOF");
	cmp_dbl((now() - t0) * 1000, ">=", DELAY_MS, "--delay: and not "
	    "before the delay");
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "--delay: exit 0");
	child_done(&d);
}

/*
 * --delay with a client that never reads: what echod holds, delayed or
 * queued, stays within --high-water, and reading stops instead.
 */
static void
test_delay_bound(void)
{
	struct echod_stats	 st;
	struct xfer		 x;
	struct child		 d;
	uint64_t		 sent;
	int			 fd;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--delay", DELAY_ARG,
	    "--high-water", HIGH_ARG, NULL) == -1)
		bail("echod did not start");
	if ((fd = client_connect_rcvbuf("127.0.0.1", d.d_port, 4096)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 5, FLOOD);
	sent = xfer_fill(&x, 16384, 1.0 + DELAY_MS / 1000.0);
	if (child_stats(&d, &st) == -1)
		bail("no stats");
	diag("--delay bound: sent %llu, echod read %llu and holds %llu",
	    (unsigned long long)sent, (unsigned long long)st.bytes_in,
	    (unsigned long long)stats_queued(&st));
	cmp_u64(sent, "<", FLOOD, "--delay bound: the client was stopped");
	cmp_u64(stats_queued(&st), "<=", HIGH, "--delay bound: echod holds "
	    "at most --high-water");
	xfer_run(&x, 1, tmo(20));
	ok(xfer_intact(&x) && x.x_rcvd == sent, "--delay bound: everything "
	    "sent comes back once the client reads");
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "--delay bound: exit 0");
	child_done(&d);
}

/* Values that make no sense are refused before anything starts. */
static void
test_bad_options(void)
{
	static const struct {
		const char	*args[4];
		const char	*says;
	} bad[] = {
		{ { "--rate", "5" }, "invalid --rate '5'" },
		{ { "--rate", "fast" }, "invalid --rate 'fast'" },
		{ { "--total-rate", "2g" }, "invalid --total-rate '2g'" },
		{ { "--delay", "10001" }, "invalid --delay '10001'" },
		{ { "--delay", "-1" }, "invalid --delay '-1'" },
		{ { "--delay", "5000", "--idle-timeout", "5" },
		    "--delay 5000ms must be shorter than" },
		{ { "--delay", "2000", "--stall-timeout", "1" },
		    "--delay 2000ms must be shorter than" },
	};
	struct child	 d;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *a = bad[i].args;

		is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", a[0], a[1],
		    a[2], a[3], NULL), 2, "%s %s%s%s: exit 2", a[0], a[1],
		    a[2] ? " " : "", a[2] ? a[2] : "");
		ok(strstr(d.d_err.cap_buf, bad[i].says) != NULL,
		    "%s %s: says '%s'", a[0], a[1], bad[i].says);
		child_done(&d);
	}
}

/* Each kind of shaping against a daemon of its own. */
int
main(void)
{
	harness_init(WATCHDOG_SEC);
	test_rate();
	test_total_rate();
	test_delay();
	test_delay_bound();
	test_bad_options();
	return (tap_done());
}
