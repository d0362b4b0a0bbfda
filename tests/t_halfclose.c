/* SPDX-License-Identifier: ISC */
/*
 * t_halfclose.c - a client that sends N bytes and then shuts down its
 * sending side gets exactly those N bytes back and then EOF, never a
 * reset: for sizes from 0 to 32 MiB, with echo still queued in echod when
 * its EOF arrives, and with two threads.
 */

#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* 3 daemons, about 100 MiB each: seconds; a hang is not. */
#define WATCHDOG_SEC	90

/* The largest size: many times every buffer on the way. */
#define BIG		(32ULL << 20)

/*
 * The client's receive buffer in the queued-at-EOF case: small, so that
 * echod soon cannot pass the echo on and has to queue it.
 */
#define CLIENT_RCVBUF	4096

/* echod's --high-water when not given, as documented. */
#define DEFAULT_HIGH_WATER	(128 * 1024)

/* Priming steps: small against the high mark, few for a large one. */
#define PRIME_STEP_MAX	(8 * 1024)

/* How long the counters may take to show echod read it all (scaled). */
#define SETTLE_SEC	5

static void	test_sizes(struct child *, const char *);
static void	test_queued_at_eof(struct child *, const char *, size_t);
static void	run(const char *, const char *const *, size_t);

/* Send N while reading, shut down, expect exactly N back and then EOF. */
static void
test_sizes(struct child *d, const char *cfg)
{
	const uint64_t	 sizes[] = { 0, 1, 4095, 65536, (1 << 20) + 7, BIG };
	struct xfer	 x;
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if ((fd = client_connect(d->d_port)) == -1)
			bail("connect: %s", strerror(errno));
		xfer_init(&x, fd, 100 + i, sizes[i]);
		x.x_shut = 1;
		xfer_run(&x, 1, tmo(30));
		cmp_u64(x.x_rcvd, "==", sizes[i], "%s: %llu bytes: all back",
		    cfg, (unsigned long long)sizes[i]);
		ok(x.x_bad == NO_BAD && x.x_sum_rcvd == x.x_sum_sent,
		    "%s: %llu bytes: identical", cfg,
		    (unsigned long long)sizes[i]);
		ok(x.x_eof && x.x_err == 0, "%s: %llu bytes: then EOF, no "
		    "reset (err %s)", cfg, (unsigned long long)sizes[i],
		    x.x_err ? strerror(x.x_err) : "none");
		if (!xfer_intact(&x))
			xfer_diag(&x, cfg);
		close(fd);
	}
}

/*
 * The client primes echod's socket so that echo has to queue in echod,
 * then sends a last part and its FIN, reading nothing: echod reads all of
 * it (its counters say so) with echo still queued, so it meets EOF with
 * echo unsent, and must still deliver every byte before closing.
 */
static void
test_queued_at_eof(struct child *d, const char *cfg, size_t high)
{
	struct echod_stats	 st0, st;
	struct xfer		 x;
	uint64_t		 queued, sent;
	size_t			 step = high / 4 < PRIME_STEP_MAX ? high / 4 :
				    PRIME_STEP_MAX;
	int			 fd;

	if (child_stats(d, &st0) == -1)
		bail("no stats");
	if ((fd = client_connect_rcvbuf("127.0.0.1", d->d_port,
	    CLIENT_RCVBUF)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 99, 0);
	x.x_noread = 1;
	queued = child_prime(d, &x, step);
	cmp_u64(queued, ">", 0, "%s, queued at EOF: echo queued after "
	    "priming", cfg);

	/* Half of the room left, then FIN: echod keeps reading to EOF. */
	x.x_total = x.x_sent + (high - queued) / 2;
	x.x_shut = 1;
	xfer_run(&x, 1, tmo(10));
	sent = x.x_sent;
	ok(x.x_shut_done && x.x_err == 0 && sent == x.x_total,
	    "%s, queued at EOF: %llu bytes and FIN sent, none read", cfg,
	    (unsigned long long)sent);
	child_wait_stat(d, &st, STAT(bytes_in), "==", st0.bytes_in + sent,
	    tmo(SETTLE_SEC));
	cmp_u64(st.bytes_in - st0.bytes_in, "==", sent,
	    "%s, queued at EOF: echod read every byte", cfg);
	if (child_stats(d, &st) == -1)
		bail("no stats");
	cmp_u64(stats_queued(&st), ">", 0, "%s, queued at EOF: with %llu "
	    "bytes of echo still queued", cfg,
	    (unsigned long long)stats_queued(&st));

	x.x_noread = 0;
	xfer_run(&x, 1, tmo(30));
	cmp_u64(x.x_rcvd, "==", sent, "%s, queued at EOF: all back", cfg);
	ok(x.x_bad == NO_BAD && x.x_sum_rcvd == x.x_sum_sent,
	    "%s, queued at EOF: identical", cfg);
	ok(x.x_eof && x.x_err == 0, "%s, queued at EOF: then EOF, no reset "
	    "(err %s)", cfg, x.x_err ? strerror(x.x_err) : "none");
	close(fd);
}

/* Every size against one daemon started with these extra arguments. */
static void
run(const char *cfg, const char *const *extra, size_t high)
{
	const char	*args[16] = { "-l", "127.0.0.1:0" };
	struct child	 d;
	size_t		 n = 2;

	while (*extra != NULL && n < sizeof(args) / sizeof(args[0]) - 1)
		args[n++] = *extra++;
	args[n] = NULL;
	child_spawn(&d, NULL, args);
	if (child_wait_ready(&d) == -1)
		bail("echod did not start");
	test_sizes(&d, cfg);
	test_queued_at_eof(&d, cfg, high);
	is_int(child_stop(&d, tmo(10)), 0, "%s: exit 0", cfg);
	child_done(&d);
}

/* Defaults, a 4k queue, and two threads. */
int
main(void)
{
	static const char *const defaults[] = { NULL };
	static const char *const small[] = { "--high-water", "4k",
	    "--low-water", "1k", NULL };
	static const char *const threads[] = { "--threads", "2", NULL };

	harness_init(WATCHDOG_SEC);
	run("defaults", defaults, DEFAULT_HIGH_WATER);
	run("high water 4k", small, 4 * 1024);
	run("2 threads", threads, DEFAULT_HIGH_WATER);
	return (tap_done());
}
