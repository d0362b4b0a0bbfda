/* SPDX-License-Identifier: ISC */
/*
 * t_limits.c - what echod does at its limits: the connection cap refuses
 * the extra clients and serves the rest; running out of descriptors
 * pauses accepting (a line and a refused client a second, no spinning)
 * and recovers; idle connections are closed after --idle-timeout and
 * busy ones are not; a reset costs only the connection reset; --backlog
 * sets the listen queue; a small descriptor limit still serves dozens
 * of clients, and accepting resumes as soon as a client leaves.
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Two timeouts and a two-second CPU window: seconds; a hang is not. */
#define WATCHDOG_SEC	90

/* The cap tested, and the clients turned away beyond it. */
#define CAP		3
#define OVER_CAP	2

/*
 * The hard descriptor limit echod gets in the EMFILE test: enough to
 * start and serve a few dozen clients, few enough to run out quickly.
 */
#define EMFILE_NOFILE	64

/* Clients in the EMFILE test: more than descriptors, some left waiting. */
#define EMFILE_CLIENTS	(EMFILE_NOFILE + 16)

/*
 * What a limit of EMFILE_NOFILE must leave for clients: the reserve
 * scales with the limit, so most of a small one serves clients.
 */
#define SMALL_LIMIT_CLIENTS	40

/*
 * Clients that connect at once under EMFILE_NOFILE, most left queued,
 * and how soon after they all leave a newcomer must be echoed: well
 * inside the one-second pause, so only resuming on close can do it.
 */
#define BURST_CLIENTS		300
#define BURST_RECOVERY_SEC	1.0

/* How long descriptors stay exhausted while CPU time is measured. */
#define CPU_WINDOW_SEC	2.0

/* A daemon pausing for a second at a time uses almost no CPU. */
#define CPU_SHARE_MAX	0.25

/* The pause after EMFILE, as documented: one warning and refusal each. */
#define ACCEPT_PAUSE_SEC	1

/* The idle timeout tested; timeouts are checked once a tick. */
#define IDLE_SEC	1
#define TICK_SEC	1

/* A trickling client writes this often: well inside the idle timeout. */
#define TRICKLE_SEC	0.3

/* Clients that connect and reset at once. */
#define RESET_BURST	50

/*
 * --backlog tested, and the clients that queue up while echod is stopped:
 * Linux queues one more than the backlog and leaves the rest unanswered.
 */
#define BACKLOG		2
#define BACKLOG_CLIENTS	6

/* How long a full queue is watched for connections beyond it. */
#define BACKLOG_SETTLE_SEC	0.3

static void	test_cap(void);
static void	test_backlog(void);
static long	listen_queue(int);
static void	test_emfile(void);
static void	test_small_limit(void);
static void	test_burst_recovery(void);
static void	test_idle(void);
static void	test_reset(void);
static int	expect_eof(int, double);

/* Whether the connection ends in EOF, without data or reset, in time. */
static int
expect_eof(int fd, double secs)
{
	struct xfer	 x;

	xfer_init(&x, fd, 0, 0);
	x.x_want_eof = 1;
	xfer_run(&x, 1, secs);
	if (!x.x_eof || x.x_err != 0 || x.x_rcvd != 0)
		xfer_diag(&x, "expected EOF");
	return (x.x_eof && x.x_err == 0 && x.x_rcvd == 0);
}

/*
 * -c 3: a fourth and fifth client are accepted and closed at once (EOF,
 * counted as rejected) while the three keep echoing; a slot freed is
 * taken by the next client.
 */
static void
test_cap(void)
{
	struct echod_stats	 st;
	struct child		 d;
	int			 fds[CAP], extra, i;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "-c", "3",
	    NULL) == -1)
		bail("echod did not start");
	for (i = 0; i < CAP; i++) {
		if ((fds[i] = client_connect(d.d_port)) == -1)
			bail("connect: %s", strerror(errno));
		ok(client_echo(fds[i], i, 100, tmo(5)),
		    "cap: client %d of %d served", i + 1, CAP);
	}
	for (i = 0; i < OVER_CAP; i++) {
		if ((extra = client_connect(d.d_port)) == -1)
			bail("connect: %s", strerror(errno));
		ok(expect_eof(extra, tmo(5)), "cap: client %d gets EOF",
		    CAP + i + 1);
		close(extra);
	}
	is_int(child_wait_stat(&d, &st, STAT(rejected), "==", OVER_CAP,
	    tmo(5)), 0, "cap: rejected=%d", OVER_CAP);
	cmp_u64(st.accepted, "==", CAP, "cap: accepted=%d", CAP);
	cmp_u64(st.active, "==", CAP, "cap: active=%d", CAP);
	is_int((long long)child_log_count(&d, 0, "rejected a connection: "
	    "the cap of 3 is reached"), OVER_CAP, "cap: a line per rejection");
	for (i = 0; i < CAP; i++)
		ok(client_echo(fds[i], 10 + i, 100000, tmo(5)),
		    "cap: client %d still echoes 100000 bytes", i + 1);

	close(fds[0]);
	is_int(child_wait_stat(&d, &st, STAT(active), "==", CAP - 1, tmo(5)),
	    0, "cap: one closed, active=%d", CAP - 1);
	if ((fds[0] = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(client_echo(fds[0], 20, 1000, tmo(5)), "cap: the freed slot "
	    "serves a new client");
	for (i = 0; i < CAP; i++)
		close(fds[i]);
	is_int(child_stop(&d, tmo(10)), 0, "cap: exit 0");
	child_done(&d);
}

/*
 * The accept queue of the IPv4 socket listening on port, as the kernel
 * shows it in /proc/net/tcp; -1 if there is no such socket or file.
 */
static long
listen_queue(int port)
{
	FILE		*f;
	char		 line[512];
	unsigned	 lport, state;
	unsigned long	 txq, rxq;
	long		 queue = -1;

	if ((f = fopen("/proc/net/tcp", "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, " %*u: %*x:%x %*x:%*x %x %lx:%lx", &lport,
		    &state, &txq, &rxq) == 4 && lport == (unsigned)port &&
		    state == 0x0A) {	/* TCP_LISTEN */
			queue = (long)rxq;
			break;
		}
	fclose(f);
	return (queue);
}

/*
 * --backlog 2: with echod stopped, the kernel queues exactly three of six
 * clients (the default of 1024 would queue all six); once echod runs
 * again, all six are served.
 */
static void
test_backlog(void)
{
	struct xfer	 xs[BACKLOG_CLIENTS];
	struct child	 d;
	double		 end;
	long		 queue;
	int		 i, served = 0;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--backlog", "2",
	    NULL) == -1)
		bail("echod did not start");
	if (listen_queue(d.d_port) == -1) {
		skip(3, "no listening socket in "
		    "/proc/net/tcp");
		child_stop(&d, tmo(10));
		child_done(&d);
		return;
	}
	kill(d.d_pid, SIGSTOP);
	for (i = 0; i < BACKLOG_CLIENTS; i++)
		xfer_init(&xs[i], client_connect_start(d.d_port), (uint64_t)i,
		    1000);
	end = now() + tmo(5);
	while (listen_queue(d.d_port) < BACKLOG + 1 && now() < end)
		pause_sec(0.01);
	pause_sec(BACKLOG_SETTLE_SEC);
	queue = listen_queue(d.d_port);
	kill(d.d_pid, SIGCONT);
	is_int(queue, BACKLOG + 1, "backlog: a stopped echod's queue holds "
	    "--backlog + 1 = %d of %d clients", BACKLOG + 1, BACKLOG_CLIENTS);

	/* The rest retry their handshakes after a second or three. */
	xfer_run(xs, BACKLOG_CLIENTS, tmo(15));
	for (i = 0; i < BACKLOG_CLIENTS; i++) {
		if (xfer_intact(&xs[i]))
			served++;
		else
			xfer_diag(&xs[i], "backlog client");
		close(xs[i].x_fd);
	}
	is_int(served, BACKLOG_CLIENTS, "backlog: all %d served once echod "
	    "runs again", BACKLOG_CLIENTS);
	is_int(child_stop(&d, tmo(10)), 0, "backlog: exit 0");
	child_done(&d);
}

/*
 * Out of descriptors (a low hard limit, a cap above it): accepting pauses
 * a second at a time with one warning each, one waiting client per pause
 * is refused, served clients keep echoing, the CPU stays idle, and once
 * clients leave new ones are served again.
 */
static void
test_emfile(void)
{
	struct spawn_opts	 o = { EMFILE_NOFILE, 0 };
	struct echod_stats	 st0, st;
	struct child		 d;
	double			 cpu0, cpu1, t0, t1;
	size_t			 lines, mark;
	char			 want[128];
	int			 fds[EMFILE_CLIENTS], i, served, fd;

	if (child_start(&d, &o, "-l", "127.0.0.1:0", "-c", "1000",
	    NULL) == -1)
		bail("echod did not start");
	/*
	 * echod says it is ready before its own copy of the listening socket
	 * is closed; once its loop answers SIGUSR1, that descriptor is free
	 * and the count of clients served stays put.
	 */
	if (child_stats(&d, &st0) == -1)
		bail("no stats");
	for (i = 0; i < EMFILE_CLIENTS; i++)
		if ((fds[i] = client_connect(d.d_port)) == -1)
			bail("connect %d: %s", i, strerror(errno));
	is_int(child_wait_stat(&d, &st0, STAT(accept_pauses), ">=", 1,
	    tmo(5)), 0, "EMFILE: accepting paused");
	served = (int)st0.accepted;
	diag("EMFILE: %d of %d clients accepted before descriptors ran out",
	    served, EMFILE_CLIENTS);
	ok(served > 0 && served < EMFILE_CLIENTS, "EMFILE: some served (%d), "
	    "some waiting", served);
	snprintf(want, sizeof(want), "echod: accept: Too many open files; "
	    "pausing new connections for 1s or until one closes, with %d "
	    "open\n", served);
	ok(child_log_wait(&d, 0, want, tmo(2)) != -1,
	    "EMFILE: the pause is logged with the %d connections open",
	    served);
	ok(served > 0 && served < EMFILE_CLIENTS &&
	    expect_eof(fds[served], tmo(5)),
	    "EMFILE: the first waiting client is refused with EOF");
	ok(served > 0 && client_echo(fds[0], 1, 50000, tmo(5)) &&
	    client_echo(fds[served - 1], 2, 50000, tmo(5)),
	    "EMFILE: served clients keep echoing");

	/* The window: descriptors exhausted, nothing else going on. */
	mark = child_log_len(&d);
	cpu0 = child_cpu_sec(&d);
	t0 = now();
	pause_sec(CPU_WINDOW_SEC);
	cpu1 = child_cpu_sec(&d);
	t1 = now();
	if (child_stats(&d, &st) == -1)
		bail("no stats");
	lines = child_log_count(&d, mark, "accept: Too many open files");
	diag("EMFILE: %.2fs CPU in %.2fs; %zu warnings, pauses %llu -> %llu, "
	    "rejected %llu -> %llu", cpu1 - cpu0, t1 - t0, lines,
	    (unsigned long long)st0.accept_pauses,
	    (unsigned long long)st.accept_pauses,
	    (unsigned long long)st0.rejected, (unsigned long long)st.rejected);
	if (harness_instrumented())
		skip(1, "CPU time is not echod's own under a wrapper or "
		    "sanitizer");
	else
		cmp_dbl((cpu1 - cpu0) / (t1 - t0), "<", CPU_SHARE_MAX,
		    "EMFILE: CPU share while paused");
	cmp_u64(st.accept_pauses - st0.accept_pauses, ">=", 1,
	    "EMFILE: pauses go on while descriptors stay short");
	cmp_u64(st.accept_pauses - st0.accept_pauses, "<=",
	    (uint64_t)((t1 - t0) / ACCEPT_PAUSE_SEC) + 1,
	    "EMFILE: at most one pause a second");
	cmp_u64(lines, "<=", (uint64_t)((t1 - t0) / ACCEPT_PAUSE_SEC) + 2,
	    "EMFILE: at most about one warning a second");
	cmp_u64(st.accept_errors, ">=", st.accept_pauses,
	    "EMFILE: accept_errors counts every failure");
	cmp_u64(st.rejected - st0.rejected, ">=", 1,
	    "EMFILE: waiting clients refused one by one");
	cmp_u64(st.accepted, "==", st0.accepted,
	    "EMFILE: nothing accepted while full");

	for (i = 0; i < EMFILE_CLIENTS; i++)
		close(fds[i]);
	is_int(child_wait_stat(&d, &st, STAT(active), "==", 0,
	    tmo(ACCEPT_PAUSE_SEC + 5)), 0, "EMFILE: clients gone, active=0");
	/*
	 * valgrind keeps descriptors of its own below the limit, and when
	 * accept() returns one above what it allows, it closes it and says
	 * EMFILE: a waiting client is reset, where the kernel would have left
	 * it queued.  Which client that is depends on the descriptor count.
	 */
	if (harness_wrapped())
		skip(1, "under a wrapper, accept() may reset waiting clients");
	else {
		if ((fd = client_connect(d.d_port)) == -1)
			bail("connect: %s", strerror(errno));
		ok(client_echo(fd, 3, 50000, tmo(ACCEPT_PAUSE_SEC + 5)),
		    "EMFILE: a new client is served again");
		close(fd);
	}
	is_int(child_stop(&d, tmo(10)), 0, "EMFILE: exit 0");
	child_done(&d);
}

/*
 * A hard limit of 64 descriptors: echod reserves what it holds itself
 * and a little slack, not a flat 64, so it says it serves at least
 * SMALL_LIMIT_CLIENTS and does serve that many at once.
 */
static void
test_small_limit(void)
{
	struct spawn_opts	 o = { EMFILE_NOFILE, 0 };
	struct echod_stats	 st;
	struct child		 d;
	char			 line[256];
	long			 at, cap = 0;
	int			 fds[SMALL_LIMIT_CLIENTS], i, served = 0;

	if (child_start(&d, &o, "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	at = child_log_wait(&d, 0, " ready: 1 thread, at most ", 0);
	if (at >= 0 && child_log_line(&d, (size_t)at, line, sizeof(line)) > 0)
		sscanf(strstr(line, "at most ") + strlen("at most "), "%ld",
		    &cap);
	diag("small limit: %s", line);
	if (harness_wrapped())
		skip(1, "the wrapper keeps descriptors of its own");
	else
		cmp_u64((uint64_t)cap, ">=", SMALL_LIMIT_CLIENTS,
		    "small limit: a limit of %d leaves room for at least %d "
		    "clients", EMFILE_NOFILE, SMALL_LIMIT_CLIENTS);

	for (i = 0; i < SMALL_LIMIT_CLIENTS; i++)
		if ((fds[i] = client_connect(d.d_port)) == -1)
			bail("connect %d: %s", i, strerror(errno));
	for (i = 0; i < SMALL_LIMIT_CLIENTS; i++)
		served += client_echo(fds[i], (uint64_t)i, 1000, tmo(5));
	if (harness_wrapped())
		skip(2, "the wrapper keeps descriptors of its own");
	else {
		is_int(served, SMALL_LIMIT_CLIENTS, "small limit: %d clients "
		    "echoed at once", SMALL_LIMIT_CLIENTS);
		is_int(child_wait_stat(&d, &st, STAT(active), "==",
		    SMALL_LIMIT_CLIENTS, tmo(5)), 0, "small limit: all %d "
		    "open together", SMALL_LIMIT_CLIENTS);
		cmp_u64(st.rejected, "==", 0, "small limit: none refused");
	}
	for (i = 0; i < SMALL_LIMIT_CLIENTS; i++)
		close(fds[i]);
	is_int(child_stop(&d, tmo(10)), 0, "small limit: exit 0");
	child_done(&d);
}

/*
 * BURST_CLIENTS connect at once under a limit of 64 with a cap far
 * above it: descriptors run out and accepting pauses.  When they all
 * leave, each close frees a descriptor and accepting resumes at once,
 * so the queue of departed clients drains and a newcomer queued behind
 * them is echoed well within one pause, not after several.
 */
static void
test_burst_recovery(void)
{
	struct spawn_opts	 o = { EMFILE_NOFILE, 0 };
	struct echod_stats	 st;
	struct child		 d;
	double			 t0, took;
	int			 fds[BURST_CLIENTS], i, fd, echoed;

	if (child_start(&d, &o, "-l", "127.0.0.1:0", "-c", "2000",
	    NULL) == -1)
		bail("echod did not start");
	for (i = 0; i < BURST_CLIENTS; i++)
		if ((fds[i] = client_connect_start(d.d_port)) == -1)
			bail("connect %d: %s", i, strerror(errno));
	is_int(child_wait_stat(&d, &st, STAT(accept_pauses), ">=", 1,
	    tmo(5)), 0, "burst: %d clients at once run echod out of "
	    "descriptors", BURST_CLIENTS);
	for (i = 0; i < BURST_CLIENTS; i++)
		close(fds[i]);

	/* The newcomer queues behind every departed client. */
	t0 = now();
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	echoed = client_echo(fd, 7, 100, tmo(BURST_RECOVERY_SEC));
	took = now() - t0;
	diag("burst: the newcomer was echoed %.3fs after the burst left",
	    took);
	if (harness_wrapped())
		skip(1, "under a wrapper, accept() may reset waiting clients");
	else
		ok(echoed, "burst: a newcomer is echoed within %.1fs of the "
		    "burst leaving", tmo(BURST_RECOVERY_SEC));
	close(fd);

	/* Every departed client was accepted, saw EOF and was closed. */
	is_int(child_wait_stat(&d, &st, STAT(active), "==", 0, tmo(10)), 0,
	    "burst: every client gone");
	diag("burst: accepted %llu, rejected %llu, pauses %llu",
	    (unsigned long long)st.accepted, (unsigned long long)st.rejected,
	    (unsigned long long)st.accept_pauses);
	is_int(child_stop(&d, tmo(10)), 0, "burst: exit 0");
	child_done(&d);
}

/*
 * --idle-timeout 1: a silent client is closed after a second or two and
 * sees EOF; one writing a byte every 0.3 s is never closed.
 */
static void
test_idle(void)
{
	struct echod_stats	 st;
	struct child		 d;
	struct xfer		 x;
	double			 t0, secs, end;
	char			 want[64];
	int			 quiet, busy, seed = 0, echoes = 0, good = 0;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "--idle-timeout",
	    "1", NULL) == -1)
		bail("echod did not start");
	if ((quiet = client_connect(d.d_port)) == -1 ||
	    (busy = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(client_echo(quiet, 1, 10, tmo(5)), "idle: served");
	t0 = now();

	/* Wait for the quiet one's EOF while the busy one trickles. */
	xfer_init(&x, quiet, 0, 0);
	x.x_want_eof = 1;
	end = t0 + tmo(IDLE_SEC + TICK_SEC + 3);
	while (!x.x_eof && x.x_err == 0 && now() < end) {
		xfer_run(&x, 1, TRICKLE_SEC);
		echoes++;
		good += client_echo(busy, seed++, 1, tmo(2));
	}
	secs = x.x_end - t0;
	ok(x.x_eof && x.x_err == 0 && x.x_rcvd == 0, "idle: the silent client "
	    "gets EOF");
	diag("idle: closed %.2fs after its last byte", secs);
	cmp_dbl(secs, ">=", IDLE_SEC - 0.1, "idle: not before %ds", IDLE_SEC);
	cmp_dbl(secs, "<=", tmo(IDLE_SEC + TICK_SEC + 1),
	    "idle: within the timeout and a tick");
	is_int(child_wait_stat(&d, &st, STAT(idle_closed), "==", 1, tmo(2)),
	    0, "idle: idle_closed=1");
	snprintf(want, sizeof(want), "127.0.0.1:%d after ",
	    client_local_port(quiet));
	ok(child_log_wait(&d, 0, want, 0) != -1 && child_log_wait(&d, 0,
	    "unsent=0: idle timeout\n", 0) != -1, "idle: logged as idle "
	    "timeout");

	/* The trickle goes on past two more timeouts. */
	end = now() + 2 * IDLE_SEC + TICK_SEC;
	while (now() < end) {
		pause_sec(TRICKLE_SEC);
		echoes++;
		good += client_echo(busy, seed++, 1, tmo(2));
	}
	is_int(good, echoes, "idle: the trickling client got all %d echoes",
	    echoes);
	if (child_stats(&d, &st) == -1)
		bail("no stats");
	cmp_u64(st.idle_closed, "==", 1, "idle: the trickling client was not "
	    "closed");
	cmp_u64(st.active, "==", 1, "idle: active=1");
	close(quiet);
	close(busy);
	is_int(child_stop(&d, tmo(10)), 0, "idle: exit 0");
	child_done(&d);
}

/*
 * A client reset in the middle of a transfer, and clients that connect
 * and reset at once, cost only their own connections.
 */
static void
test_reset(void)
{
	struct echod_stats	 st0, st;
	struct child		 d;
	struct xfer		 x;
	char			 want[64];
	int			 steady, victim, fd, i;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	if ((steady = client_connect(d.d_port)) == -1 ||
	    (victim = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(client_echo(steady, 1, 10000, tmo(5)), "reset: steady client "
	    "served");

	/* The victim has echo in flight and unread when it resets. */
	xfer_init(&x, victim, 2, 1 << 20);
	x.x_noread = 1;
	xfer_fill(&x, 64 * 1024, 0.05);
	snprintf(want, sizeof(want), "close 127.0.0.1:%d after ",
	    client_local_port(victim));
	client_reset(victim);
	is_int(child_wait_stat(&d, &st, STAT(active), "==", 1, tmo(5)), 0,
	    "reset mid-stream: active back to 1");
	ok(child_log_wait(&d, 0, want, tmo(2)) != -1 &&
	    child_log_wait(&d, 0, ": error: ", 0) != -1,
	    "reset mid-stream: logged as an error");
	ok(client_echo(steady, 3, 256 * 1024, tmo(5)), "reset mid-stream: "
	    "the steady client still echoes 256 KiB");
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(client_echo(fd, 4, 1000, tmo(5)), "reset mid-stream: new clients "
	    "served");
	close(fd);
	is_int(child_wait_stat(&d, &st0, STAT(active), "==", 1, tmo(5)), 0,
	    "reset mid-stream: active=1 again");

	for (i = 0; i < RESET_BURST; i++) {
		if ((fd = client_connect(d.d_port)) == -1)
			bail("connect: %s", strerror(errno));
		client_reset(fd);
	}
	is_int(child_wait_stat(&d, &st, STAT(accepted), ">=", st0.accepted +
	    RESET_BURST, tmo(5)), 0, "connect and reset: all %d accepted",
	    RESET_BURST);
	is_int(child_wait_stat(&d, &st, STAT(active), "==", 1, tmo(5)), 0,
	    "connect and reset: active back to 1");
	ok(client_echo(steady, 5, 100000, tmo(5)), "connect and reset: the "
	    "steady client still echoes");
	close(steady);
	is_int(child_stop(&d, tmo(10)), 0, "reset: exit 0");
	child_done(&d);
}

/* Each limit against a daemon of its own. */
int
main(void)
{
	harness_init(WATCHDOG_SEC);
	test_cap();
	test_backlog();
	test_emfile();
	test_small_limit();
	test_burst_recovery();
	test_idle();
	test_reset();
	return (tap_done());
}
