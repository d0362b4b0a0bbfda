/* SPDX-License-Identifier: ISC */
/*
 * t_shutdown.c - SIGTERM: listening stops at once, quiet connections are
 * closed, busy ones are still served until they go quiet or
 * --shutdown-timeout passes, and echod exits 0; a second SIGTERM ends
 * everything at once.  With one thread and with two.
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Six daemons each draining for a few seconds; a hang is not that. */
#define WATCHDOG_SEC	90

/*
 * A busy client sends BURST bytes every SLICE_SEC: never quiet for the
 * 0.2 s the drain looks at, yet light on a shared machine.
 */
#define BURST		(64 * 1024)
#define SLICE_SEC	0.02

/* How long the busy client goes on after SIGTERM before going quiet. */
#define BUSY_AFTER_SEC	1.5

/*
 * The drain checks every 0.2 s for connections quiet since the previous
 * check: one quiet for ~0.2-0.4 s is closed; allow a loaded machine more.
 */
#define QUIET_CLOSE_SEC	1.5

/* The deadline tested, and how late a loaded machine may be to it. */
#define DEADLINE_SEC	1
#define DEADLINE_LATE	2.0

/* With --shutdown-timeout 30, a second SIGTERM must not wait for it. */
#define SECOND_SIGNAL_SEC	5

static void	busy_for(struct xfer *, double);
static int	cut_off(const struct xfer *);
static void	test_drain(const char *);
static void	test_deadline(const char *);
static void	test_second_signal(const char *);

/* Keep a client busy for secs, or until its connection ends. */
static void
busy_for(struct xfer *x, double secs)
{
	double	 end = now() + secs;

	do {
		x->x_total = x->x_sent + BURST;
		xfer_run(x, 1, end - now());
		if (x->x_eof || x->x_err != 0)
			break;
		pause_sec(SLICE_SEC);
	} while (now() < end);
}

/* The connection was ended by echod: EOF, or a reset seen either way. */
static int
cut_off(const struct xfer *x)
{
	return (x->x_eof || x->x_err == ECONNRESET || x->x_err == EPIPE);
}

/*
 * An idle and a busy connection when SIGTERM comes: new connections are
 * refused, the idle one gets EOF, the busy one is still echoed for as
 * long as it keeps sending, and closed once it has stopped and got all
 * its echo.  Exit 0, nothing forced.
 */
static void
test_drain(const char *threads)
{
	struct child	 d;
	struct xfer	 idle, busy;
	uint64_t	 at_signal;
	double		 t0, end, refused_at = -1, quiet_at;
	int		 fd_idle, fd_busy;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "--threads",
	    threads, NULL) == -1)
		bail("echod did not start");
	if ((fd_idle = client_connect(d.d_port)) == -1 ||
	    (fd_busy = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(client_echo(fd_idle, 1, 100, tmo(5)), "drain/%s: idle client "
	    "served", threads);
	xfer_init(&idle, fd_idle, 0, 0);
	idle.x_want_eof = 1;
	xfer_init(&busy, fd_busy, 2, 0);
	busy_for(&busy, 0.3);

	at_signal = busy.x_rcvd;
	kill(d.d_pid, SIGTERM);
	t0 = now();
	end = t0 + BUSY_AFTER_SEC;
	while (now() < end) {
		busy_for(&busy, SLICE_SEC);
		xfer_run(&idle, 1, 0);
		if (refused_at < 0 && client_refused(d.d_port, 0))
			refused_at = now() - t0;
	}
	ok(refused_at >= 0 && refused_at < 1, "drain/%s: new connections "
	    "refused (after %.3fs)", threads, refused_at);
	ok(idle.x_eof && idle.x_err == 0 && idle.x_rcvd == 0,
	    "drain/%s: the idle client got EOF", threads);
	cmp_dbl(idle.x_end - t0, "<=", tmo(1), "drain/%s: ... within a "
	    "second", threads);
	ok(!busy.x_eof && busy.x_err == 0, "drain/%s: the busy client is "
	    "still open after %.1fs", threads, BUSY_AFTER_SEC);
	cmp_u64(busy.x_rcvd - at_signal, ">", 1 << 20, "drain/%s: and got "
	    "%llu MiB more echo after the signal", threads,
	    (unsigned long long)((busy.x_rcvd - at_signal) >> 20));
	cmp_u64(busy.x_bad, "==", NO_BAD, "drain/%s: all of it intact",
	    threads);

	/* Stop sending: the rest comes back, then the close. */
	busy.x_total = busy.x_sent;
	busy.x_want_eof = 1;
	quiet_at = now();
	xfer_run(&busy, 1, tmo(5));
	ok(busy.x_eof && busy.x_err == 0, "drain/%s: the busy client, gone "
	    "quiet, gets EOF", threads);
	cmp_u64(busy.x_rcvd, "==", busy.x_sent, "drain/%s: after every byte "
	    "(%llu)", threads, (unsigned long long)busy.x_sent);
	cmp_dbl(busy.x_end - quiet_at, "<=", tmo(QUIET_CLOSE_SEC),
	    "drain/%s: closed soon after going quiet", threads);

	is_int(child_wait(&d, tmo(5)), 0, "drain/%s: exit 0", threads);
	is_int((long long)child_log_count(&d, 0, ": shutdown\n"), 2,
	    "drain/%s: both closed as 'shutdown'", threads);
	is_int((long long)child_log_count(&d, 0, "shutdown forced"), 0,
	    "drain/%s: nothing forced", threads);
	close(fd_idle);
	close(fd_busy);
	child_done(&d);
}

/*
 * A client that never stops sending, --shutdown-timeout 1: it is cut off
 * about a second after SIGTERM and echod exits 0.
 */
static void
test_deadline(const char *threads)
{
	struct child	 d;
	struct xfer	 busy;
	double		 t0, secs;
	int		 fd, status;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "--threads",
	    threads, "--shutdown-timeout", "1", NULL) == -1)
		bail("echod did not start");
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&busy, fd, 3, 0);
	busy_for(&busy, 0.3);
	kill(d.d_pid, SIGTERM);
	t0 = now();
	busy_for(&busy, tmo(DEADLINE_SEC + 5));
	secs = (busy.x_eof || busy.x_err ? busy.x_end : now()) - t0;
	ok(cut_off(&busy), "deadline/%s: the endless client is cut off (%s)",
	    threads, busy.x_eof ? "EOF" : strerror(busy.x_err));
	cmp_dbl(secs, ">=", DEADLINE_SEC - 0.1, "deadline/%s: not before "
	    "%ds", threads, DEADLINE_SEC);
	cmp_dbl(secs, "<=", tmo(DEADLINE_SEC + DEADLINE_LATE),
	    "deadline/%s: soon after (%.2fs)", threads, secs);
	cmp_u64(busy.x_bad, "==", NO_BAD, "deadline/%s: what came back is "
	    "intact", threads);
	status = child_wait(&d, tmo(3));
	is_int(status, 0, "deadline/%s: exit 0", threads);
	is_int((long long)child_log_count(&d, 0, ": shutdown forced\n"), 1,
	    "deadline/%s: closed as 'shutdown forced'", threads);
	close(fd);
	child_done(&d);
}

/*
 * --shutdown-timeout 30 and a busy client: a second SIGTERM closes it and
 * exits at once instead of waiting out the deadline.
 */
static void
test_second_signal(const char *threads)
{
	struct child	 d;
	struct xfer	 busy;
	double		 t0;
	int		 fd, status;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "--threads",
	    threads, "--shutdown-timeout", "30", NULL) == -1)
		bail("echod did not start");
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&busy, fd, 4, 0);
	busy_for(&busy, 0.3);
	kill(d.d_pid, SIGTERM);
	busy_for(&busy, 0.3);
	ok(!busy.x_eof && busy.x_err == 0, "second signal/%s: still served "
	    "after the first", threads);
	kill(d.d_pid, SIGTERM);
	t0 = now();
	status = child_wait(&d, tmo(SECOND_SIGNAL_SEC));
	is_int(status, 0, "second signal/%s: exit 0", threads);
	cmp_dbl(now() - t0, "<", tmo(SECOND_SIGNAL_SEC), "second signal/%s: "
	    "at once (%.2fs), not after 30s", threads, now() - t0);
	busy_for(&busy, tmo(2));
	ok(cut_off(&busy), "second signal/%s: the client sees the end (%s)",
	    threads, busy.x_eof ? "EOF" : strerror(busy.x_err));
	close(fd);
	child_done(&d);
}

/* Every shutdown case with one thread, then with two. */
int
main(void)
{
	static const char *const threads[] = { "1", "2" };
	size_t		 i;

	harness_init(WATCHDOG_SEC);
	for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
		test_drain(threads[i]);
		test_deadline(threads[i]);
		test_second_signal(threads[i]);
	}
	return (tap_done());
}
