/* SPDX-License-Identifier: ISC */
/*
 * t_echobench.c - the load generator checks what it claims to.  Against
 * a real echod every mode runs clean and counts what it did: pipelining,
 * messages larger than a socket buffer, two threads, a fixed rate, exact
 * request counts (which echod's own counters confirm), --json, IPv6.
 * Against small servers run here that break the echo on purpose (a byte
 * changed, added or swapped, a close or a reset instead of the echo,
 * silence, no close after a half-close, nothing listening) it counts the
 * right kind of error, exits 1 and ends in bounded time.  Bad command
 * lines exit 2 with the problem named and no summary.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* About 40 echobench runs of a second at most each; a hang is not. */
#define WATCHDOG_SEC	120

/* Most arguments in one echobench command line here. */
#define ARGS_MAX	24

/* A clean run takes well under a second; a hung one is killed (scaled). */
#define BENCH_SEC	30

/* The measured time of a run against echod: thousands of messages. */
#define RUN_SECS	"0.3"

/*
 * --timeout against the servers that stop answering, and the bound on
 * the whole run that follows from it: duration plus timeout is about
 * 1.3 s, so a slow machine has plenty of room.
 */
#define STALL_TIMEOUT	"1"
#define END_MAX_SEC	15.0

/* Longest last line of stdout kept: the summary is about 300 bytes. */
#define LINE_MAX_LEN	1024

/* Connections one misbehaving server holds at once; echobench opens few. */
#define PEER_CONNS	64

/* Bytes per recv() in a misbehaving server. */
#define PEER_BUF	65536

/* Bytes each way per half-close transfer: many writes, yet quick. */
#define HALFCLOSE_BYTES	"100k"

/* rr with -r: not a multiple of -c, so the shares are uneven. */
#define EXACT_MSGS	1000
#define EXACT_CONNS	"3"

/* Message size in the exact count: what echod's counters must add up to. */
#define EXACT_SIZE	64

/* A brief run: two connections, measured from the start. */
#define BRIEF		"-c", "2", "-d", RUN_SECS, "-w", "0"

/* How a server run here breaks the echo. */
enum peer_kind {
	PEER_FLIP,	/* changes the first byte of each connection's echo */
	PEER_SWAP,	/* swaps two unequal neighbours in the first echo */
	PEER_EXTRA,	/* adds a byte to the first echo */
	PEER_CLOSE,	/* reads, then closes without echoing */
	PEER_RESET,	/* reads, then resets */
	PEER_SILENT,	/* reads, never answers */
	PEER_NOCLOSE,	/* echoes, but never closes after the client's FIN */
	PEER_NONE,	/* a port taken but not listening: connects refused */
	PEER_UDP_FLIP,	/* UDP: changes a byte of every datagram */
	PEER_UDP_DROP	/* UDP: echoes every other datagram only */
};

/*
 * A misbehaving server: a child process listening on 127.0.0.1, or for
 * PEER_NONE only the socket holding the port.
 */
struct peer {
	pid_t		 p_pid;		/* -1 for PEER_NONE */
	int		 p_fd;		/* the socket, PEER_NONE's only */
	int		 p_port;
};

/* One echobench run. */
struct bench {
	struct child	 b_proc;	/* its output is in here */
	int		 b_status;	/* exit status; -1 if killed late */
	double		 b_secs;	/* wall time from start to exit */
	char		 b_last[LINE_MAX_LEN];	/* last line of stdout */
	int		 b_fails;	/* failed checks before it ran */
};

/*
 * A run against echod that must be clean, and what else it must show:
 * summary values compared, and text in its stdout.
 */
struct clean_case {
	const char	*args[11];
	const char	*mode;
	const char	*name;
	struct {
		const char	*key;	/* NULL: no check */
		const char	*op;
		double		 value;
	}		 values[2];
	const char	*out;		/* one line's text, or NULL */
};

static const char	*echobench_path;

static void	bench_run(struct bench *, ...)
		    __attribute__((__sentinel__));
static void	bench_done(struct bench *);
static double	bench_value(const struct bench *, const char *);
static size_t	summary_keys(const char *, const char *, size_t *, size_t *);
static void	check_clean(struct bench *, const char *, const char *);
static void	check_error(struct bench *, const char *, const char *);
static void	peer_answer(struct pollfd *, int *, enum peer_kind);
static void	peer_serve(int, enum peer_kind) __attribute__((__noreturn__));
static void	peer_start(struct peer *, enum peer_kind);
static void	peer_stop(struct peer *);
static void	test_help(void);
static void	test_usage_errors(void);
static void	run_clean(const struct clean_case *, const char *,
		    const char *);
static void	test_clean(const char *);
static void	test_idle(const char *);
static void	test_exact(struct child *, const char *);
static void	test_json(const char *);
static void	test_ipv6(void);
static void	test_broken(void);
static void	udp_peer_serve(int, enum peer_kind)
		    __attribute__((__noreturn__));
static void	test_udp(void);
static void	test_udp_broken(void);

/*
 * Run echobench with the arguments given (NULL-terminated) to its end,
 * timing it and keeping its last line of stdout.
 */
static void
bench_run(struct bench *b, ...)
{
	const char	*argv[ARGS_MAX + 2];
	const char	*out, *end, *start;
	va_list		 ap;
	double		 t0;
	size_t		 len;
	int		 n = 0;

	argv[n++] = echobench_path;
	va_start(ap, b);
	while ((argv[n] = va_arg(ap, const char *)) != NULL)
		if (n++ == ARGS_MAX)
			bail("too many arguments for echobench");
	va_end(ap);

	b->b_fails = tap_failed();
	t0 = now();
	b->b_status = prog_run(&b->b_proc, tmo(BENCH_SEC), argv);
	b->b_secs = now() - t0;

	out = b->b_proc.d_out.cap_buf;
	end = out + b->b_proc.d_out.cap_len;
	if (end > out && end[-1] == '\n')
		end--;
	for (start = end; start > out && start[-1] != '\n'; start--)
		continue;
	len = (size_t)(end - start);
	if (len >= sizeof(b->b_last))
		len = sizeof(b->b_last) - 1;
	memcpy(b->b_last, start, len);
	b->b_last[len] = '\0';
}

/* Show what a run said if one of its checks failed, then release it. */
static void
bench_done(struct bench *b)
{
	if (tap_failed() > b->b_fails) {
		diag("echobench exit %d after %.2fs; last line: %s",
		    b->b_status, b->b_secs, b->b_last);
		child_diag(&b->b_proc);
	}
	child_free(&b->b_proc);
}

/*
 * A number from the summary line, key=value or JSON; -1 if the key is
 * not there.
 */
static double
bench_value(const struct bench *b, const char *key)
{
	char		 pat[64];
	const char	*p;

	if (b->b_last[0] == '{')
		snprintf(pat, sizeof(pat), "\"%s\":", key);
	else
		snprintf(pat, sizeof(pat), " %s=", key);
	if ((p = strstr(b->b_last, pat)) == NULL)
		return (-1);
	return (strtod(p + strlen(pat), NULL));
}

/*
 * How many keys of the key=value line kv are in the JSON object json;
 * *total gets the number of keys in kv, *njson that in json.
 */
static size_t
summary_keys(const char *kv, const char *json, size_t *total,
    size_t *njson)
{
	const char	*p, *eq;
	char		 pat[64];
	size_t		 found = 0;

	*total = 0;
	for (p = strchr(kv, ' '); p != NULL; p = strchr(p + 1, ' ')) {
		if ((eq = strchr(p, '=')) == NULL)
			break;
		snprintf(pat, sizeof(pat), "\"%.*s\":", (int)(eq - p - 1),
		    p + 1);
		(*total)++;
		found += strstr(json, pat) != NULL;
	}
	/* Every key ends in '":'; no value has a colon in it. */
	*njson = 0;
	for (p = strstr(json, "\":"); p != NULL; p = strstr(p + 2, "\":"))
		(*njson)++;
	return (found);
}

/*
 * What every clean run shows: exit 0, its summary as the last line of
 * stdout, no error of any kind, something echoed, and nothing on stderr
 * (no error described, no progress line off a terminal).
 */
static void
check_clean(struct bench *b, const char *mode, const char *name)
{
	char	 want[64];

	is_int(b->b_status, 0, "%s: exit 0", name);
	if (b->b_last[0] == '{')
		snprintf(want, sizeof(want), "{\"mode\":\"%s\",", mode);
	else
		snprintf(want, sizeof(want), "echobench: mode=%s ", mode);
	ok(strncmp(b->b_last, want, strlen(want)) == 0,
	    "%s: the summary is the last line", name);
	cmp_dbl(bench_value(b, "errors"), "==", 0, "%s: errors=0", name);
	cmp_dbl(bench_value(b, "msgs"), ">", 0, "%s: msgs>0", name);
	is_int((long long)b->b_proc.d_err.cap_len, 0, "%s: stderr empty",
	    name);
}

/* Run one clean case against host and port, and check all it names. */
static void
run_clean(const struct clean_case *c, const char *host, const char *port)
{
	const char *const	*a = c->args;
	struct bench		 b;
	size_t			 i;

	bench_run(&b, "-H", host, "-p", port, a[0], a[1], a[2], a[3], a[4],
	    a[5], a[6], a[7], a[8], a[9], a[10], NULL);
	check_clean(&b, c->mode, c->name);
	for (i = 0; i < 2 && c->values[i].key != NULL; i++)
		cmp_dbl(bench_value(&b, c->values[i].key), c->values[i].op,
		    c->values[i].value, "%s: %s %s %g", c->name,
		    c->values[i].key, c->values[i].op, c->values[i].value);
	if (c->out != NULL)
		like(b.b_proc.d_out.cap_buf, c->out, "%s: says '%s'", c->name,
		    c->out);
	bench_done(&b);
}

/*
 * What every failed run shows: exit 1, the summary still last, and
 * errors of the kind named and of no other.
 */
static void
check_error(struct bench *b, const char *kind, const char *name)
{
	double	 n = bench_value(b, kind);

	is_int(b->b_status, 1, "%s: exit 1", name);
	ok(strncmp(b->b_last, "echobench: mode=", 16) == 0,
	    "%s: the summary is the last line", name);
	cmp_dbl(n, ">=", 1, "%s: %s counted", name, kind);
	cmp_dbl(bench_value(b, "errors"), "==", n, "%s: no other error",
	    name);
}

/*
 * One readable connection of a misbehaving server: read what came and
 * answer as kind says.  *fresh is set until the first echo went out.
 */
static void
peer_answer(struct pollfd *p, int *fresh, enum peer_kind kind)
{
	static uint8_t	 buf[PEER_BUF + 1];
	uint8_t		 b;
	ssize_t		 n, i, w;

	n = recv(p->fd, buf, PEER_BUF, 0);
	if (n == 0 && kind == PEER_NOCLOSE && p->events != 0) {
		/* Keep it open, and stop polling what would stay readable. */
		p->events = 0;
		return;
	}
	if (n <= 0 || kind == PEER_CLOSE) {
		close(p->fd);
		p->fd = -1;
		return;
	}
	if (kind == PEER_RESET) {
		client_reset(p->fd);
		p->fd = -1;
		return;
	}
	if (kind == PEER_SILENT)
		return;
	if (*fresh && kind == PEER_FLIP)
		buf[0] ^= 1;
	if (*fresh && kind == PEER_SWAP) {
		for (i = 0; i + 1 < n && buf[i] == buf[i + 1]; i++)
			continue;
		if (i + 1 < n) {
			b = buf[i];
			buf[i] = buf[i + 1];
			buf[i + 1] = b;
		}
	}
	if (*fresh && kind == PEER_EXTRA)
		buf[n++] = '\n';
	*fresh = 0;
	for (i = 0; i < n; i += w) {
		w = send(p->fd, buf + i, (size_t)(n - i), MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0) {
			close(p->fd);
			p->fd = -1;
			return;
		}
	}
}

/*
 * The server's loop, in the child: accept on lfd and answer every
 * connection, until killed.  One poll() loop with blocking sends is
 * enough: echobench reads while it writes.
 */
static void
peer_serve(int lfd, enum peer_kind kind)
{
	struct pollfd	 pfd[PEER_CONNS + 1];
	int		 fresh[PEER_CONNS + 1];
	int		 fd, i;

	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	for (i = 1; i <= PEER_CONNS; i++)
		pfd[i].fd = -1;
	for (;;) {
		if (poll(pfd, PEER_CONNS + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if ((pfd[0].revents & POLLIN) &&
		    (fd = accept(lfd, NULL, NULL)) != -1) {
			for (i = 1; i <= PEER_CONNS && pfd[i].fd != -1; i++)
				continue;
			if (i > PEER_CONNS)
				close(fd);
			else {
				pfd[i].fd = fd;
				pfd[i].events = POLLIN;
				fresh[i] = 1;
			}
		}
		for (i = 1; i <= PEER_CONNS; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (pfd[i].events == 0) {
				/* A kept connection, gone at the far end. */
				close(pfd[i].fd);
				pfd[i].fd = -1;
			} else
				peer_answer(&pfd[i], &fresh[i], kind);
		}
	}
}

/* Start a misbehaving server of the given kind on a port of its own. */
static void
peer_start(struct peer *p, enum peer_kind kind)
{
	pid_t	 parent = getpid();
	int	 lfd;

	p->p_pid = -1;
	if (kind == PEER_NONE) {
		p->p_fd = client_bound(&p->p_port);
		return;
	}
	p->p_fd = -1;
	if (kind == PEER_UDP_FLIP || kind == PEER_UDP_DROP)
		lfd = client_bound_type(SOCK_DGRAM, &p->p_port);
	else
		lfd = client_listen(&p->p_port);
	fflush(stdout);
	if ((p->p_pid = fork()) == -1)
		bail("fork: %s", strerror(errno));
	if (p->p_pid == 0) {
#ifdef __linux__
		/*
		 * It holds the TAP pipe open: it must not outlive the test,
		 * even one that bailed out before this line ran.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
#endif
		if (kind == PEER_UDP_FLIP || kind == PEER_UDP_DROP)
			udp_peer_serve(lfd, kind);
		peer_serve(lfd, kind);
	}
	close(lfd);
	harness_watch(p->p_pid, 1);
}

/* Kill the server and reap it. */
static void
peer_stop(struct peer *p)
{
	if (p->p_pid == -1) {
		close(p->p_fd);
		return;
	}
	kill(p->p_pid, SIGKILL);
	while (waitpid(p->p_pid, NULL, 0) == -1 && errno == EINTR)
		continue;
	harness_watch(p->p_pid, 0);
}

/* --help and --version: on stdout, exit 0, no summary. */
static void
test_help(void)
{
	struct bench	 b;

	bench_run(&b, "--help", NULL);
	is_int(b.b_status, 0, "--help: exit 0");
	like(b.b_proc.d_out.cap_buf, "usage: echobench [options] [HOST] PORT",
	    "--help: usage on stdout");
	like(b.b_proc.d_out.cap_buf, "--timeout SECS", "--help: lists the "
	    "options");
	bench_done(&b);

	bench_run(&b, "--version", NULL);
	is_int(b.b_status, 0, "--version: exit 0");
	ok(strcmp(b.b_proc.d_out.cap_buf, "echobench " PACKAGE_VERSION "\n") ==
	    0, "--version: prints 'echobench %s'", PACKAGE_VERSION);
	bench_done(&b);
}

/*
 * Bad command lines: exit 2, the problem named on stderr with the
 * pointer to --help, and nothing on stdout; the port is never contacted.
 */
static void
test_usage_errors(void)
{
	static const struct {
		const char	*args[5];
		const char	*msg;
	} cases[] = {
		{ { "-m", "bogus", "1" }, "unknown mode 'bogus'" },
		{ { "-s", "0", "1" }, "--size '0' is out of range" },
		{ { "-c", "many", "1" }, "--connections 'many' is not a "
		    "number" },
		{ { "-d", "0", "1" }, "--duration '0' is out of range" },
		{ { "--timeout", "1e-9", "1" }, "--timeout '1e-9' is out of "
		    "range" },
		{ { "-R", "1e-9", "1" }, "--rate '1e-9' is out of range" },
		{ { "--bogus", "1" }, "unknown option '--bogus'" },
		{ { "-q", "-Wfoo", "1" }, "unknown option '-W'" },
		{ { "--json=1", "1" }, "option '--json' takes no value" },
		{ { "-q", "-s" }, "option '-s' needs a value" },
		{ { "-q" }, "no port given" },
		{ { "-m", "bulk", "-P", "4", "1" }, "--pipeline applies to rr "
		    "and udp modes only" },
		{ { "-m", "udp", "-s", "4", "1" }, "udp: --size 4 is out of "
		    "range (8 to 65507)" },
		{ { "-m", "udp", "-s", "65508", "1" }, "udp: --size 65508 is "
		    "out of range" },
		{ { "-m", "udp", "-n", "1k", "1" }, "--bytes applies to "
		    "halfclose mode only" },
		{ { "-r", "5", "-w", "1", "1" }, "takes no --warmup" },
		{ { "-t", "3", "-c", "2", "1" }, "--threads 3 is more than "
		    "the 2 connections" },
	};
	struct bench	 b;
	size_t		 i, j, len;
	char		 name[64];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;

		for (j = 0, len = 0; j < 5 && a[j] != NULL; j++)
			len += (size_t)snprintf(name + len, sizeof(name) - len,
			    "%s%s", j ? " " : "", a[j]);
		bench_run(&b, a[0], a[1], a[2], a[3], a[4], NULL);
		is_int(b.b_status, 2, "'%s': exit 2", name);
		like(b.b_proc.d_err.cap_buf, cases[i].msg, "'%s': problem named",
		    name);
		like(b.b_proc.d_err.cap_buf, "\nTry 'echobench --help'\n",
		    "'%s': Try line", name);
		is_int((long long)b.b_proc.d_out.cap_len, 0,
		    "'%s': stdout empty", name);
		bench_done(&b);
	}
}

/*
 * Clean runs against echod: each mode briefly, rr's options (messages in
 * flight, sizes up to beyond a socket buffer, two threads, a fixed rate),
 * and -r, which counts rr messages, bulk chunks or connections exactly
 * however they split over connections and threads.
 */
static void
test_clean(const char *port)
{
	static const struct clean_case cases[] = {
		{ { "-c", "4", "-d", RUN_SECS, "-w", "0" }, "rr", "rr",
		    { { "established", "==", 4 } }, "errors        0" },
		{ { "-m", "bulk", BRIEF }, "bulk", "bulk",
		    { { "mb_per_s", ">", 0 } }, NULL },
		{ { "-m", "connect", BRIEF }, "connect", "connect",
		    { { "conn_per_s", ">", 0 }, { "mb_per_s", ">", 0 } },
		    NULL },
		{ { "-m", "halfclose", "-c", "2", "-n", HALFCLOSE_BYTES, "-r",
		    "6" }, "halfclose", "halfclose -r 6",
		    { { "msgs", "==", 6 }, { "mb_per_s", ">", 0 } }, NULL },
		{ { "-P", "4", "-s", "1000", "-c", "4", "-d", RUN_SECS, "-w",
		    "0" }, "rr", "-P 4 -s 1000", { { "size", "==", 1000 } },
		    NULL },
		{ { "-P", "2", "-s", "300000", "-c", "2", "-r", "20" }, "rr",
		    "-P 2 -s 300000 -r 20", { { "msgs", "==", 20 } }, NULL },
		/*
		 * 64 KiB in flight on one connection: reads longer than the
		 * pattern, and echoes of messages sent within the same burst
		 * of reads, which must not be timed at 0 us.
		 */
		{ { "-P", "1000", "-c", "1", "-r", "20000" }, "rr",
		    "-P 1000 -r 20000", { { "msgs", "==", 20000 }, { "p50_us",
		    ">", 0 } }, NULL },
		{ { "-t", "2", "-c", "4", "-d", RUN_SECS, "-w", "0" }, "rr",
		    "-t 2", { { "threads", "==", 2 }, { "established", "==",
		    4 } }, NULL },
		{ { "-R", "200", "-r", "20", "-c", "2" }, "rr", "-R 200 -r 20",
		    { { "msgs", "==", 20 } },
		    "200.0 msg/s offered (open loop)" },
		/* The one message falls due before the connection is open. */
		{ { "-R", "100", "-r", "1", "-c", "1" }, "rr", "-R 100 -r 1",
		    { { "msgs", "==", 1 } }, NULL },
		{ { "-r", "1001", "-t", "2", "-c", "4" }, "rr",
		    "-r 1001 -t 2 -c 4", { { "msgs", "==", 1001 } }, NULL },
		{ { "-m", "connect", "-r", "7", "-c", "3" }, "connect",
		    "connect -r 7", { { "msgs", "==", 7 }, { "established",
		    "==", 7 } }, NULL },
		{ { "-m", "bulk", "-r", "10", "-s", "4k", "-c", "2" }, "bulk",
		    "bulk -r 10 -s 4k", { { "msgs", "==", 10 }, { "size",
		    "==", 4096 } }, NULL },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_clean(&cases[i], "127.0.0.1", port);
}

/*
 * idle: every connection established and verified, held, and the notice
 * that the hold begins as the only word on stderr.
 */
static void
test_idle(const char *port)
{
	struct bench	 b;
	char		 want[128];

	bench_run(&b, "-m", "idle", "-c", "8", "-d", RUN_SECS, "127.0.0.1",
	    port, NULL);
	is_int(b.b_status, 0, "idle: exit 0");
	cmp_dbl(bench_value(&b, "errors"), "==", 0, "idle: errors=0");
	cmp_dbl(bench_value(&b, "established"), "==", 8,
	    "idle: established=8");
	cmp_dbl(bench_value(&b, "msgs"), "==", 8, "idle: all 8 verified");
	snprintf(want, sizeof(want), "echobench: 8 connections open and "
	    "verified, holding them for %.2f s\n", atof(RUN_SECS));
	ok(strcmp(b.b_proc.d_err.cap_buf, want) == 0,
	    "idle: only the notice on stderr");
	bench_done(&b);
}

/*
 * -r N: exactly N messages, split unevenly over the connections, and
 * echod's byte counters agree to the byte.
 */
static void
test_exact(struct child *d, const char *port)
{
	struct echod_stats	 st0, st;
	struct bench		 b;
	char			 msgs[16], size[16], name[32];

	snprintf(msgs, sizeof(msgs), "%d", EXACT_MSGS);
	snprintf(name, sizeof(name), "-r %d", EXACT_MSGS);
	snprintf(size, sizeof(size), "%d", EXACT_SIZE);
	if (child_stats(d, &st0) == -1)
		bail("no stats from echod");
	bench_run(&b, "-r", msgs, "-s", size, "-c", EXACT_CONNS, "127.0.0.1",
	    port, NULL);
	check_clean(&b, "rr", name);
	cmp_dbl(bench_value(&b, "msgs"), "==", EXACT_MSGS, "%s: msgs=%d",
	    name, EXACT_MSGS);
	if (child_stats(d, &st) == -1)
		bail("no stats from echod");
	cmp_u64(st.bytes_in - st0.bytes_in, "==", EXACT_MSGS * EXACT_SIZE,
	    "%s: echod read %d messages' bytes", name, EXACT_MSGS);
	cmp_u64(st.bytes_out - st0.bytes_out, "==", EXACT_MSGS * EXACT_SIZE,
	    "%s: and wrote them back", name);
	bench_done(&b);
}

/*
 * --json: one line, one object, the same keys as the key=value line,
 * and no summary for people.
 */
static void
test_json(const char *port)
{
	struct bench	 kv, js;
	size_t		 total, found, njson;
	const char	*out;

	bench_run(&kv, "-r", "50", "-c", "2", "127.0.0.1", port, NULL);
	check_clean(&kv, "rr", "key=value");
	bench_run(&js, "--json", "-r", "50", "-c", "2", "127.0.0.1", port,
	    NULL);
	check_clean(&js, "rr", "--json");
	out = js.b_proc.d_out.cap_buf;
	ok(strchr(out, '\n') == out + strlen(out) - 1,
	    "--json: stdout is one line");
	ok(out[0] == '{' && strcmp(out + strlen(out) - 2, "}\n") == 0,
	    "--json: one object");
	found = summary_keys(kv.b_last, js.b_last, &total, &njson);
	cmp_u64(total, ">=", 20, "key=value: %zu keys", total);
	cmp_u64(found, "==", total, "--json: has every key of key=value");
	cmp_u64(njson, "==", total, "--json: and no other");
	cmp_dbl(bench_value(&js, "msgs"), "==", 50, "--json: \"msgs\":50");
	cmp_dbl(bench_value(&js, "established"), "==", 2,
	    "--json: \"established\":2");
	like(js.b_last, "\"mismatches\":0,\"resets\":0,\"eofs\":0,"
	    "\"stalls\":0,\"connect_errors\":0,", "--json: every error kind 0");
	bench_done(&kv);
	bench_done(&js);
}

/* echod on [::1]: echobench reaches it over IPv6. */
static void
test_ipv6(void)
{
	static const struct clean_case	 v6 = { { BRIEF }, "rr", "::1",
		{ { "established", "==", 2 } }, "server        ::1 port " };
	struct child			 d;
	char				 port[16];

	if (!client_ipv6_loopback()) {
		skip(8, "no IPv6 loopback here");
		return;
	}
	if (child_start(&d, NULL, "-l", "[::1]:0", NULL) == -1)
		bail("echod did not start on [::1]");
	snprintf(port, sizeof(port), "%d", d.d_port);
	run_clean(&v6, "::1", port);
	is_int(child_stop(&d, tmo(10)), 0, "::1: echod exit 0");
	child_done(&d);
}

/*
 * Servers that break the echo, each in its own way: echobench counts
 * errors of the right kind and no other, says what it saw, exits 1 with
 * the summary still printed, and ends in bounded time; a stall no sooner
 * than --timeout.  The added byte comes in a half-close, where all was
 * sent before the echo, so it can only be excess.
 */
static void
test_broken(void)
{
	static const struct {
		enum peer_kind	 kind;
		const char	*args[11];
		const char	*error;
		const char	*name;
		const char	*msg;
	} cases[] = {
		{ PEER_FLIP, { BRIEF }, "mismatches", "a byte changed",
		    "stream byte 0 is " },
		{ PEER_SWAP, { BRIEF }, "mismatches", "two bytes swapped",
		    ", expected 0x" },
		{ PEER_EXTRA, { "-m", "halfclose", "-n", "1000", "-s", "1000",
		    "-c", "1", "-r", "1" }, "mismatches", "a byte added",
		    "echoed 1001 bytes where only 1000 were sent" },
		{ PEER_CLOSE, { BRIEF }, "eofs", "closed unechoed",
		    "server closed it after 0 of 64 bytes sent were echoed" },
		{ PEER_RESET, { BRIEF }, "resets", "reset",
		    "recv: Connection reset by peer" },
		{ PEER_SILENT, { BRIEF }, "stalls", "silent",
		    "no progress for 1.0 s with 64 bytes sent and 0 echoed" },
		{ PEER_NOCLOSE, { "-m", "halfclose", "-n", "10k", BRIEF },
		    "stalls", "no close after FIN",
		    "with 10240 bytes sent and 10240 echoed" },
		{ PEER_NONE, { BRIEF }, "connect_errors",
		    "nothing listening", "cannot connect to 127.0.0.1 port " },
	};
	struct peer	 p;
	struct bench	 b;
	size_t		 i;
	char		 port[16];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;

		peer_start(&p, cases[i].kind);
		snprintf(port, sizeof(port), "%d", p.p_port);
		bench_run(&b, "--timeout", STALL_TIMEOUT, "-H", "127.0.0.1",
		    "-p", port, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
		    a[8], a[9], a[10], NULL);
		check_error(&b, cases[i].error, cases[i].name);
		like(b.b_proc.d_err.cap_buf, cases[i].msg, "%s: described",
		    cases[i].name);
		if (strcmp(cases[i].error, "stalls") == 0)
			cmp_dbl(b.b_secs, ">=", atof(STALL_TIMEOUT),
			    "%s: waited --timeout first", cases[i].name);
		cmp_dbl(b.b_secs, "<", END_MAX_SEC, "%s: ended (%.2fs)",
		    cases[i].name, b.b_secs);
		bench_done(&b);
		peer_stop(&p);
	}
}

/*
 * A broken UDP echo server, in the child: a byte past the sequence
 * number changed in every datagram, or every other datagram dropped.
 */
static void
udp_peer_serve(int fd, enum peer_kind kind)
{
	static uint8_t		 buf[PEER_BUF];
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	ssize_t			 n;
	unsigned long		 count = 0;

	for (;;) {
		len = sizeof(ss);
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss,
		    &len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			_exit(1);
		if (kind == PEER_UDP_FLIP && n > 8)
			buf[8] ^= 1;
		if (kind == PEER_UDP_DROP && count++ % 2 == 1)
			continue;
		(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&ss,
		    len);
	}
}

/*
 * udp mode against echod serving UDP without limits: clean runs closed
 * and open loop, several sockets and threads, the largest datagram, and
 * -r counted exactly, as echod's own counters confirm.
 */
static void
test_udp(void)
{
	static const struct clean_case cases[] = {
		{ { "-m", "udp", BRIEF }, "udp", "udp",
		    { { "established", "==", 2 }, { "lost", "==", 0 } },
		    "loss          0 of " },
		{ { "-m", "udp", "-R", "2000", BRIEF }, "udp", "udp -R 2000",
		    { { "msg_per_s", ">", 0 } }, "2000.0/s offered" },
		{ { "-m", "udp", "-s", "65507", "-c", "1", "-r", "20" }, "udp",
		    "udp -s 65507 -r 20", { { "msgs", "==", 20 },
		    { "size", "==", 65507 } }, NULL },
	};
	struct echod_stats	 st0, st;
	struct child		 d;
	struct bench		 b;
	char			 port[16];
	size_t			 i;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-u", "127.0.0.1:0",
	    "--udp-rate", "0", "--udp-total-rate", "0", NULL) == -1)
		bail("echod did not start");
	snprintf(port, sizeof(port), "%d", child_udp_port(&d, 0));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_clean(&cases[i], "127.0.0.1", port);

	if (child_stats(&d, &st0) == -1)
		bail("no stats from echod");
	bench_run(&b, "-m", "udp", "-P", "4", "-c", "3", "-t", "2", "-r",
	    "1000", "127.0.0.1", port, NULL);
	check_clean(&b, "udp", "udp -P 4 -c 3 -t 2 -r 1000");
	cmp_dbl(bench_value(&b, "msgs"), "==", 1000, "udp -r 1000: msgs=1000");
	cmp_dbl(bench_value(&b, "sent"), "==", 1000, "udp -r 1000: sent=1000");
	bench_done(&b);
	ok(child_wait_stat(&d, &st, STAT(udp_out), "==", st0.udp_out + 1000,
	    tmo(5)) == 0, "udp -r 1000: echod echoed 1000");
	cmp_u64(st.udp_in - st0.udp_in, "==", 1000, "udp -r 1000: echod "
	    "received 1000");
	is_int(child_stop(&d, tmo(10)), 0, "udp: echod exit 0");
	child_done(&d);
}

/*
 * udp mode against servers that break the echo: a changed byte is a
 * mismatch (exit 1); dropped datagrams are loss, counted after --timeout
 * but no error; a port nobody serves is a connect error.
 */
static void
test_udp_broken(void)
{
	struct peer	 p;
	struct bench	 b;
	char		 port[16];
	int		 fd;

	peer_start(&p, PEER_UDP_FLIP);
	snprintf(port, sizeof(port), "%d", p.p_port);
	bench_run(&b, "--timeout", STALL_TIMEOUT, "-m", "udp", BRIEF,
	    "127.0.0.1", port, NULL);
	check_error(&b, "mismatches", "udp: a byte changed");
	like(b.b_proc.d_err.cap_buf, "byte 8 is 0x", "udp: a byte changed: "
	    "described");
	bench_done(&b);
	peer_stop(&p);

	peer_start(&p, PEER_UDP_DROP);
	snprintf(port, sizeof(port), "%d", p.p_port);
	bench_run(&b, "--timeout", STALL_TIMEOUT, "-m", "udp", "-P", "4",
	    BRIEF, "127.0.0.1", port, NULL);
	check_clean(&b, "udp", "udp: every other dropped");
	cmp_dbl(bench_value(&b, "lost"), ">=", 1, "udp: every other "
	    "dropped: lost counted");
	cmp_dbl(bench_value(&b, "loss_pct"), ">", 0, "udp: every other "
	    "dropped: loss_pct");
	cmp_dbl(b.b_secs, ">=", atof(STALL_TIMEOUT), "udp: every other "
	    "dropped: waited --timeout for the last");
	cmp_dbl(b.b_secs, "<", END_MAX_SEC, "udp: every other dropped: "
	    "ended (%.2fs)", b.b_secs);
	bench_done(&b);
	peer_stop(&p);

	/* A port just freed: nothing answers, ICMP says so. */
	fd = client_bound_type(SOCK_DGRAM, &p.p_port);
	close(fd);
	snprintf(port, sizeof(port), "%d", p.p_port);
	bench_run(&b, "--timeout", STALL_TIMEOUT, "-m", "udp", BRIEF,
	    "127.0.0.1", port, NULL);
	check_error(&b, "connect_errors", "udp: nothing served");
	like(b.b_proc.d_err.cap_buf, "Connection refused", "udp: nothing "
	    "served: described");
	bench_done(&b);
}

/* One echod serves every clean run; each broken server serves one. */
int
main(void)
{
	struct child	 d;
	char		 port[16];

	harness_init(WATCHDOG_SEC);
	if ((echobench_path = getenv("ECHOBENCH")) == NULL ||
	    *echobench_path == '\0')
		bail("ECHOBENCH is not set; run the tests with make check");

	test_help();
	test_usage_errors();

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	snprintf(port, sizeof(port), "%d", d.d_port);
	test_clean(port);
	test_idle(port);
	test_exact(&d, port);
	test_json(port);
	is_int(child_stop(&d, tmo(10)), 0, "echod: exit 0");
	child_done(&d);

	test_ipv6();
	test_broken();
	test_udp();
	test_udp_broken();
	return (tap_done());
}
