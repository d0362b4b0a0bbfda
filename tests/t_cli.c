/* SPDX-License-Identifier: ISC */
/*
 * t_cli.c - the binary's interface: --help and --version, usage errors
 * (exit 2, the problem named, nothing bound), start-up failures (exit 1:
 * address in use, unknown host, a privileged port), what it says when it
 * listens (port 0, IPv6, two addresses, the connection cap), and what
 * -q and -v change in the log.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Each case starts a process; even under valgrind a minute covers them. */
#define WATCHDOG_SEC	90

/* A name the DNS guarantees does not resolve (RFC 6761). */
#define NO_SUCH_HOST	"no-such-host.invalid"

/* Most arguments in one bad command line below. */
#define BAD_ARGS_MAX	6

/*
 * The cap echod reports is the descriptor limit less a slack of 64 (a
 * sixteenth of smaller limits) and what echod holds, a few per socket and
 * thread; with one socket and thread, at most this few more.
 */
#define RESERVE_EXTRA_MAX	16

/* The privileged port asked for in the permission test: echo's own. */
#define PRIVILEGED_PORT		"7"

static void	test_help(void);
static void	test_version(void);
static void	test_usage_errors(void);
static void	test_in_use(void);
static void	test_in_use_threads(void);
static void	test_unknown_host(void);
static void	test_privileged(void);
static void	test_port_zero(void);
static void	test_cap(void);
static void	test_ipv6(void);
static void	test_two_addresses(void);
static void	test_quiet(void);
static void	test_verbose(void);

/* --help and -h: the usage on stdout, nothing else, exit 0. */
static void
test_help(void)
{
	static const char *const flags[] = { "--help", "-h" };
	struct child	 d;
	size_t		 i;

	for (i = 0; i < 2; i++) {
		is_int(child_run(&d, NULL, flags[i], NULL), 0,
		    "%s: exit 0", flags[i]);
		like(d.d_out.cap_buf, "usage: echod", "%s: usage on stdout",
		    flags[i]);
		like(d.d_out.cap_buf, "--high-water BYTES", "%s: lists the "
		    "flags", flags[i]);
		is_int((long long)d.d_err.cap_len, 0, "%s: stderr empty",
		    flags[i]);
		child_free(&d);
	}
}

/*
 * --version and -V: "echod VERSION" and whether TLS is built in on
 * stdout, exit 0.
 */
static void
test_version(void)
{
	static const char *const flags[] = { "--version", "-V" };
	struct child	 d;
	size_t		 i;

	for (i = 0; i < 2; i++) {
		is_int(child_run(&d, NULL, flags[i], NULL), 0,
		    "%s: exit 0", flags[i]);
		ok(strncmp(d.d_out.cap_buf, "echod " PACKAGE_VERSION "\n",
		    strlen("echod " PACKAGE_VERSION "\n")) == 0,
		    "%s: prints 'echod %s'", flags[i], PACKAGE_VERSION);
#ifdef HAVE_OPENSSL
		like(d.d_out.cap_buf, "\nTLS: built in (OpenSSL ",
		    "%s: says TLS is built in, with which OpenSSL", flags[i]);
#else
		like(d.d_out.cap_buf, "\nTLS: not built in\n",
		    "%s: says TLS is not built in", flags[i]);
#endif
		is_int((long long)d.d_err.cap_len, 0, "%s: stderr empty",
		    flags[i]);
		child_free(&d);
	}
}

/*
 * Bad command lines: exit 2, a message naming the problem, the pointer to
 * --help, and no socket bound although a good --listen came first.
 */
static void
test_usage_errors(void)
{
	static const struct {
		const char	*args[BAD_ARGS_MAX + 1];
		const char	*msg;
	} cases[] = {
		{ { "-l", "127.0.0.1:65536" },
		    "invalid --listen '127.0.0.1:65536': port '65536' is not "
		    "a number from 0 to 65535" },
		{ { "-l", "127.0.0.1:0", "-l", "abc:x" },
		    "invalid --listen 'abc:x'" },
		{ { "-l", "127.0.0.1:0", "-l", "" },
		    "invalid --listen '': empty address" },
		{ { "-l", "127.0.0.1:0", "-l", "[::1" },
		    "missing ']' after IPv6 address" },
		{ { "-l", "127.0.0.1:0", "-c", "0" },
		    "invalid --max-conns '0'" },
		{ { "-l", "127.0.0.1:0", "--backlog", "-3" },
		    "invalid --backlog '-3'" },
		{ { "-l", "127.0.0.1:0", "--threads", "257" },
		    "invalid --threads '257': expected a number from 1 to "
		    "256" },
		{ { "-l", "127.0.0.1:0", "--idle-timeout", "1d" },
		    "invalid --idle-timeout '1d'" },
		{ { "-l", "127.0.0.1:0", "--stall-timeout", "x" },
		    "invalid --stall-timeout 'x'" },
		{ { "-l", "127.0.0.1:0", "--shutdown-timeout", "-1" },
		    "invalid --shutdown-timeout '-1'" },
		{ { "-l", "127.0.0.1:0", "--high-water", "2g" },
		    "invalid --high-water '2g'" },
		{ { "-l", "127.0.0.1:0", "--low-water", "1q" },
		    "invalid --low-water '1q'" },
		{ { "-l", "127.0.0.1:0", "--high-water", "16k", "--low-water",
		    "32k" }, "--low-water (32768) is above --high-water "
		    "(16384)" },
		{ { "-l", "127.0.0.1:0", "--bogus" },
		    "unknown option '--bogus'" },
		{ { "-l", "127.0.0.1:0", "-Z" }, "unknown option '-Z'" },
		{ { "-l", "127.0.0.1:0", "--threads" },
		    "option '--threads' needs a value" },
		{ { "-l", "127.0.0.1:0", "stray" },
		    "unexpected argument 'stray'" },
	};
	struct child	 d;
	size_t		 i;
	char		 name[64];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;

		snprintf(name, sizeof(name), "%s %s", a[2] ? a[2] : a[0],
		    a[2] ? (a[3] ? a[3] : "") : a[1]);
		is_int(child_run(&d, NULL, a[0], a[1], a[2], a[3], a[4], a[5],
		    NULL), 2, "'%s': exit 2", name);
		like(d.d_err.cap_buf, cases[i].msg, "'%s': problem named",
		    name);
		like(d.d_err.cap_buf, "\nTry 'echod --help' for more "
		    "information.\n", "'%s': Try line", name);
		unlike(d.d_err.cap_buf, "listening", "'%s': nothing bound",
		    name);
		is_int((long long)d.d_out.cap_len, 0, "'%s': stdout empty",
		    name);
		child_free(&d);
	}
}

/* A port someone else holds: exit 1 naming the address, even with -q. */
static void
test_in_use(void)
{
	struct child	 d;
	char		 addr[32], want[64];
	int		 fd, port;

	fd = client_listen(&port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(want, sizeof(want), "cannot listen on %s", addr);

	is_int(child_run(&d, NULL, "-l", addr, NULL), 1,
	    "address in use: exit 1");
	like(d.d_err.cap_buf, want, "address in use: the address named");
	like(d.d_err.cap_buf, "Address already in use",
	    "address in use: the reason given");
	unlike(d.d_err.cap_buf, " ready: ", "address in use: never ready");
	child_free(&d);

	is_int(child_run(&d, NULL, "-q", "-l", addr, NULL), 1,
	    "address in use with -q: exit 1");
	like(d.d_err.cap_buf, "Address already in use",
	    "address in use with -q: the warning still shown");
	child_free(&d);

	/* The good address before it must not stay bound: exit, not run. */
	is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "-l", addr, NULL), 1,
	    "second address in use: exit 1");
	like(d.d_err.cap_buf, want, "second address in use: named");
	child_free(&d);
	close(fd);
}

/*
 * Threads share one socket instead of SO_REUSEPORT, so a second echod on
 * the port of a running two-thread one fails too, whatever its threads.
 */
static void
test_in_use_threads(void)
{
	struct child	 first, d;
	char		 addr[32];

	if (child_start(&first, NULL, "--threads", "2", "-l", "127.0.0.1:0",
	    NULL) == -1)
		bail("echod --threads 2 did not start");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", first.d_port);
	is_int(child_run(&d, NULL, "--threads", "2", "-l", addr, NULL), 1,
	    "second echod, both --threads 2: exit 1");
	like(d.d_err.cap_buf, "Address already in use",
	    "second echod, both --threads 2: address in use");
	child_free(&d);
	is_int(child_stop(&first, tmo(10)), 0, "first echod: exit 0");
	child_free(&first);
}

/* A host name that does not resolve: exit 1 naming it. */
static void
test_unknown_host(void)
{
	struct child	 d;

	is_int(child_run(&d, NULL, "-l", NO_SUCH_HOST ":7007", NULL), 1,
	    "unknown host: exit 1");
	like(d.d_err.cap_buf, "cannot listen on '" NO_SUCH_HOST ":7007'",
	    "unknown host: named");
	unlike(d.d_err.cap_buf, "listening on", "unknown host: nothing bound");
	child_free(&d);
}

/*
 * A port below 1024 without privilege: exit 1 with the hint.  Needs root
 * to become nobody, and a kernel that still reserves low ports.
 */
static void
test_privileged(void)
{
	struct spawn_opts	 o = { 0, 1 };
	struct child		 d;
	FILE			*fp;
	int			 start = -1, status;

	if ((fp = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start",
	    "r")) != NULL) {
		if (fscanf(fp, "%d", &start) != 1)
			start = -1;
		fclose(fp);
	}
	if (geteuid() != 0 || start <= atoi(PRIVILEGED_PORT)) {
		skip(3, "needs root, and ports below %d reserved (%d)",
		    atoi(PRIVILEGED_PORT) + 1, start);
		return;
	}
	status = child_run(&d, &o, "-l", "127.0.0.1:" PRIVILEGED_PORT, NULL);
	if (status == 127) {
		skip(3, "nobody (uid 65534) cannot run %s", getenv("ECHOD"));
		child_free(&d);
		return;
	}
	is_int(status, 1, "port %s as nobody: exit 1", PRIVILEGED_PORT);
	like(d.d_err.cap_buf, "cannot listen on 127.0.0.1:" PRIVILEGED_PORT
	    ": Permission denied", "port %s as nobody: the reason",
	    PRIVILEGED_PORT);
	like(d.d_err.cap_buf, "ports below 1024 need root or "
	    "CAP_NET_BIND_SERVICE", "port %s as nobody: the hint",
	    PRIVILEGED_PORT);
	child_free(&d);
}

/*
 * Port 0: the kernel's choice is printed, it answers, and the ready line
 * gives the version, the thread count and a cap that follows the limit.
 */
static void
test_port_zero(void)
{
	struct child	 d;
	struct rlimit	 rl;
	char		 want[64], line[256];
	long		 cap = -1;
	long		 at;
	int		 fd;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	ok(d.d_port > 0 && d.d_port < 65536, "port 0: bound to port %d",
	    d.d_port);
	snprintf(want, sizeof(want), "echod: listening on 127.0.0.1:%d\n",
	    d.d_port);
	ok(child_log_wait(&d, 0, want, 0) == 0, "port 0: listening line is "
	    "the first line");
	at = child_log_wait(&d, 0, "echod: echod " PACKAGE_VERSION
	    " ready: 1 thread, at most ", 0);
	ok(at > 0, "port 0: ready line with version and thread count");
	if (at > 0 && child_log_line(&d, (size_t)at, line, sizeof(line)) > 0)
		sscanf(line, "echod: echod " PACKAGE_VERSION " ready: 1 "
		    "thread, at most %ld connections", &cap);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		bail("getrlimit: %s", strerror(errno));
	if (harness_wrapped())
		skip(1, "the wrapper keeps descriptors of its own");
	else
		ok(cap <= (long)rl.rlim_max - 64 &&
		    cap >= (long)rl.rlim_max - 64 - RESERVE_EXTRA_MAX,
		    "port 0: cap %ld is the hard limit %ld less the reserve",
		    cap, (long)rl.rlim_max);
	fd = client_connect(d.d_port);
	ok(fd != -1 && client_echo(fd, 1, 1000, tmo(5)),
	    "port 0: 1000 bytes echoed");
	if (fd != -1)
		close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "port 0: exit 0 on SIGTERM");
	child_free(&d);
}

/* -c and --threads show in the ready line; a lower limit lowers the cap. */
static void
test_cap(void)
{
	struct spawn_opts	 o = { 1000, 0 };
	struct child		 d;
	char			 line[256];
	long			 cap = -1, at;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-c", "5",
	    "--threads", "3", NULL) == -1)
		bail("echod did not start");
	ok(child_log_wait(&d, 0, " ready: 3 threads, at most 5 connections\n",
	    0) != -1, "-c 5 --threads 3: in the ready line");
	is_int(child_stop(&d, tmo(10)), 0, "-c 5 --threads 3: exit 0");
	child_free(&d);

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-c", "1", NULL) == -1)
		bail("echod did not start");
	ok(child_log_wait(&d, 0, " ready: 1 thread, at most 1 connection\n",
	    0) != -1, "-c 1: 'at most 1 connection' in the ready line");
	is_int(child_stop(&d, tmo(10)), 0, "-c 1: exit 0");
	child_free(&d);

	if (harness_wrapped()) {
		skip(2, "the wrapper keeps descriptors of its own");
		return;
	}
	if (child_start(&d, &o, "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	at = child_log_wait(&d, 0, " ready: 1 thread, at most ", 0);
	if (at > 0 && child_log_line(&d, (size_t)at, line, sizeof(line)) > 0)
		sscanf(line, " ready: 1 thread, at most %ld", &cap);
	ok(cap <= 1000 - 1000 / 16 && cap >= 1000 - 1000 / 16 -
	    RESERVE_EXTRA_MAX,
	    "descriptor limit 1000: cap %ld", cap);
	is_int(child_stop(&d, tmo(10)), 0, "descriptor limit 1000: exit 0");
	child_free(&d);
}

/* [::1]:0 is printed in brackets and answers over IPv6. */
static void
test_ipv6(void)
{
	struct child	 d;
	char		 want[64];
	int		 fd;

	if (!client_ipv6_loopback()) {
		skip(3, "no IPv6 loopback here");
		return;
	}
	if (child_start(&d, NULL, "-l", "[::1]:0", NULL) == -1)
		bail("echod did not start on [::1]");
	snprintf(want, sizeof(want), "echod: listening on [::1]:%d\n",
	    d.d_port);
	ok(d.d_port > 0 && child_log_wait(&d, 0, want, 0) != -1,
	    "[::1]:0: listening on [::1]:%d", d.d_port);
	fd = client_connect_to("::1", d.d_port);
	ok(fd != -1 && client_echo(fd, 2, 5000, tmo(5)),
	    "[::1]:0: 5000 bytes echoed over IPv6");
	if (fd != -1)
		close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "[::1]:0: exit 0");
	child_free(&d);
}

/* Two --listen: two lines, two ports, both answer. */
static void
test_two_addresses(void)
{
	struct child	 d;
	int		 i, fd;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-l", "127.0.0.1:0",
	    NULL) == -1)
		bail("echod did not start");
	is_int(d.d_nports, 2, "two -l: two listening lines");
	ok(d.d_ports[0] > 0 && d.d_ports[1] > 0 &&
	    d.d_ports[0] != d.d_ports[1], "two -l: two ports (%d, %d)",
	    d.d_ports[0], d.d_ports[1]);
	for (i = 0; i < 2 && i < d.d_nports; i++) {
		fd = client_connect(d.d_ports[i]);
		ok(fd != -1 && client_echo(fd, 3 + i, 3000, tmo(5)),
		    "two -l: port %d echoes", d.d_ports[i]);
		if (fd != -1)
			close(fd);
	}
	is_int(child_stop(&d, tmo(10)), 0, "two -l: exit 0");
	child_free(&d);
}

/*
 * -q: it works, yet from start to exit (counters asked for, SIGTERM)
 * writes not a byte.  The port comes from /proc since it is not logged.
 */
static void
test_quiet(void)
{
	struct child	 d;
	const char	*args[] = { "-q", "-l", "127.0.0.1:0", NULL };
	int		 port, fd;

	child_spawn(&d, NULL, args);
	port = child_listen_port_proc(&d, tmo(10));
	ok(port > 0, "-q: listening (port %d, found in /proc)", port);
	fd = port > 0 ? client_connect(port) : -1;
	ok(fd != -1 && client_echo(fd, 5, 2000, tmo(5)),
	    "-q: 2000 bytes echoed");
	if (fd != -1)
		close(fd);
	kill(d.d_pid, SIGUSR1);
	is_int(child_stop(&d, tmo(10)), 0, "-q: exit 0 on SIGTERM");
	is_int((long long)d.d_err.cap_len, 0, "-q: nothing logged at all");
	if (d.d_err.cap_len != 0)
		child_diag(&d);
	child_free(&d);
}

/* -v: one line per closed connection, with its peer, bytes and reason. */
static void
test_verbose(void)
{
	struct child		 d;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	unsigned long long	 in = 0, out = 0, unsent = 1;
	unsigned int		 secs, msecs;
	char			 want[64], line[512], reason[32] = "";
	long			 at;
	int			 fd;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	ok(client_echo(fd, 6, 12345, tmo(5)), "-v: 12345 bytes echoed");
	close(fd);
	snprintf(want, sizeof(want), "echod: close 127.0.0.1:%u after ",
	    ntohs(sin.sin_port));
	at = child_log_wait(&d, 0, want, tmo(5));
	ok(at != -1, "-v: a close line for the client's port %u",
	    ntohs(sin.sin_port));
	if (at != -1 && child_log_line(&d, (size_t)at, line, sizeof(line)) > 0)
		sscanf(line + strlen(want), "%u.%3us: in=%llu out=%llu "
		    "unsent=%llu: %31[^\n]", &secs, &msecs, &in, &out, &unsent,
		    reason);
	cmp_u64(in, "==", 12345, "-v: in= the bytes sent");
	cmp_u64(out, "==", 12345, "-v: out= the bytes echoed");
	cmp_u64(unsent, "==", 0, "-v: nothing unsent");
	ok(strcmp(reason, "eof") == 0, "-v: reason 'eof' (got '%s')", reason);
	is_int(child_stop(&d, tmo(10)), 0, "-v: exit 0");
	child_free(&d);
}

/* Each part starts its own echod; none depends on another. */
int
main(void)
{
	harness_init(WATCHDOG_SEC);
	test_help();
	test_version();
	test_usage_errors();
	test_in_use();
	test_in_use_threads();
	test_unknown_host();
	test_privileged();
	test_port_zero();
	test_cap();
	test_ipv6();
	test_two_addresses();
	test_quiet();
	test_verbose();
	return (tap_done());
}
