/* SPDX-License-Identifier: ISC */
/*
 * t_udp.c - echo over UDP: datagrams of every size come back byte for
 * byte, many in flight and with two threads; source ports below 1024 and
 * known reflector ports get no answer unless --udp-allow-port opens them;
 * the per-source and the total limits drop what is over them; every
 * datagram is counted once; SIGTERM stops UDP at once, even while TCP
 * drains; a datagram socket from socket activation is served, and
 * [::1] too.
 */

#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* A dozen daemons, each for a second or two; a hang is not that. */
#define WATCHDOG_SEC	120

/* How long an echo may take on a loaded machine. */
#define ECHO_SEC	5

/* Datagrams in flight at once: well within loopback's socket buffers. */
#define IN_FLIGHT	100

/* Datagrams sent at a limit of one a second: most must be dropped. */
#define OVER_LIMIT	20

/* The biggest UDP payload over IPv4: 65535 less the IP and UDP headers. */
#define UDP_MAX		65507

/* A reflector port of 1024 or above, blocked without root (memcached). */
#define REFLECTOR_PORT	11211

/* A privileged port to send from as root: 1023, the highest blocked. */
#define LOW_PORT	1023

/* Where socket activation hands the socket (sd_listen_fds). */
#define LISTEN_FD	3

static uint64_t	udp_total(const struct echod_stats *);
static void	fill(uint8_t *, size_t, unsigned int);
static int	start(struct child *, const char *const *);
static void	test_sizes(void);
static void	test_in_flight(const char *);
static void	blocked_send(struct child *, int, int, int, uint64_t *,
		    uint64_t *);
static void	test_blocked(void);
static void	test_limit(int);
static void	test_sigterm(void);
static void	activation_setup(void *);
static void	test_activation(void);
static void	test_ipv6(void);

/* Every datagram received ends in exactly one of these counters. */
static uint64_t
udp_total(const struct echod_stats *st)
{
	return (st->udp_out + st->udp_dropped_rule + st->udp_dropped_source +
	    st->udp_dropped_total + st->udp_send_errors);
}

/* Bytes that differ from datagram to datagram and from offset to offset. */
static void
fill(uint8_t *buf, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
}

/*
 * Start echod on 127.0.0.1 port 0 for TCP (the harness reads its port)
 * and UDP, with the extra arguments given.  Returns the UDP port or -1.
 */
static int
start(struct child *d, const char *const *extra)
{
	const char	*argv[24];
	size_t		 n = 0;

	argv[n++] = "-l";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "-u";
	argv[n++] = "127.0.0.1:0";
	while (*extra != NULL && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *extra++;
	argv[n] = NULL;
	child_spawn(d, NULL, argv);
	if (child_wait_ready(d) == -1)
		return (-1);
	return (child_udp_port(d, 0));
}

/* Sizes 0, 1, a full Ethernet payload and the most UDP carries. */
static void
test_sizes(void)
{
	static const char *const args[] = { "--udp-rate", "0",
	    "--udp-total-rate", "0", NULL };
	static const size_t sizes[] = { 0, 1, 1472, UDP_MAX };
	static uint8_t	 buf[UDP_MAX];
	struct child	 d;
	struct echod_stats st;
	uint64_t	 bytes = 0;
	size_t		 i;
	int		 port, fd, rcvbuf = 4 * UDP_MAX;

	if ((port = start(&d, args)) == -1)
		bail("echod did not start");
	ok(port > 0, "sizes: echod says which UDP port it serves");
	if ((fd = client_udp("127.0.0.1", 0, port)) == -1)
		bail("UDP client: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(buf, sizes[i], (unsigned int)i);
		ok(client_udp_echo(fd, buf, sizes[i], tmo(ECHO_SEC)) == 0,
		    "sizes: %zu bytes echoed intact", sizes[i]);
		bytes += sizes[i];
	}
	close(fd);
	ok(child_wait_stat(&d, &st, STAT(udp_out), "==", i, tmo(5)) == 0,
	    "sizes: %zu echoes counted", i);
	cmp_u64(st.udp_in, "==", i, "sizes: datagrams in");
	cmp_u64(st.udp_bytes_in, "==", bytes, "sizes: bytes in");
	cmp_u64(st.udp_bytes_out, "==", bytes, "sizes: bytes out");
	cmp_u64(udp_total(&st), "==", st.udp_in, "sizes: none dropped");
	is_int(child_stop(&d, tmo(10)), 0, "sizes: echod exits 0");
	child_free(&d);
}

/*
 * IN_FLIGHT datagrams sent before any is read: each comes back once,
 * intact, whichever worker answers it.
 */
static void
test_in_flight(const char *threads)
{
	const char *const args[] = { "--udp-rate", "0", "--udp-total-rate",
	    "0", "--threads", threads, NULL };
	uint8_t		 buf[512], back[512];
	unsigned char	 seen[IN_FLIGHT];
	struct child	 d;
	struct echod_stats st;
	unsigned int	 i, got = 0, bad = 0;
	ssize_t		 n;
	int		 port, fd;

	if ((port = start(&d, args)) == -1)
		bail("echod did not start");
	if ((fd = client_udp("127.0.0.1", 0, port)) == -1)
		bail("UDP client: %s", strerror(errno));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < IN_FLIGHT; i++) {
		/* The first byte names the datagram; its size varies too. */
		fill(buf, sizeof(buf), i);
		buf[0] = (uint8_t)i;
		if (send(fd, buf, 1 + i * 5 % (sizeof(buf) - 1), 0) == -1)
			bail("send: %s", strerror(errno));
	}
	while (got + bad < IN_FLIGHT &&
	    (n = client_udp_recv(fd, back, sizeof(back), tmo(ECHO_SEC))) >= 0) {
		i = back[0];
		fill(buf, sizeof(buf), i);
		buf[0] = (uint8_t)i;
		if (i < IN_FLIGHT && !seen[i] &&
		    (size_t)n == 1 + i * 5 % (sizeof(buf) - 1) &&
		    memcmp(buf, back, (size_t)n) == 0) {
			seen[i] = 1;
			got++;
		} else
			bad++;
	}
	close(fd);
	is_int(got, IN_FLIGHT, "%s thread(s): every datagram in flight "
	    "echoed once, intact", threads);
	is_int(bad, 0, "%s thread(s): no datagram wrong or twice", threads);
	ok(child_wait_stat(&d, &st, STAT(udp_out), "==", IN_FLIGHT,
	    tmo(5)) == 0, "%s thread(s): %d echoes counted", threads,
	    IN_FLIGHT);
	cmp_u64(st.udp_in, "==", IN_FLIGHT, "%s thread(s): datagrams in",
	    threads);
	is_int(child_stop(&d, tmo(10)), 0, "%s thread(s): echod exits 0",
	    threads);
	child_free(&d);
}

/*
 * Send a datagram from source port src (skipped if it cannot be bound)
 * and check that it arrives and is answered or not.  *in counts the
 * datagrams sent so far, *out those that should have been echoed.
 */
static void
blocked_send(struct child *d, int port, int src, int answered,
    uint64_t *in, uint64_t *out)
{
	static const char	 msg[] = "blocked?";
	struct echod_stats	 st;
	uint8_t			 back[16];
	const char		*how = answered ? "allowed" : "blocked";
	int			 fd;

	if ((fd = client_udp("127.0.0.1", src, port)) == -1) {
		skip(2, "source port %d: %s%s", src, strerror(errno),
		    src < 1024 ? " (needs root)" : "");
		return;
	}
	if (send(fd, msg, strlen(msg), 0) == -1)
		bail("send: %s", strerror(errno));
	*in += 1;
	*out += answered;
	ok(child_wait_stat(d, &st, STAT(udp_in), "==", *in, tmo(5)) == 0,
	    "%s: a datagram from port %d arrives", how, src);
	is_int(client_udp_recv(fd, back, sizeof(back), answered ?
	    tmo(ECHO_SEC) : 0.2), answered ? (long long)strlen(msg) : -1,
	    "%s: port %d %s", how, src, answered ? "is answered" :
	    "gets no answer");
	close(fd);
}

/*
 * A known reflector port and (as root) a privileged one get no answer
 * and count as dropped by rule; --udp-allow-port answers them.
 */
static void
test_blocked(void)
{
	static const char *const deny[] = { NULL };
	char		 low[8], refl[8];
	const char *const allow[] = { "--udp-allow-port", refl,
	    "--udp-allow-port", low, NULL };
	struct child	 d;
	struct echod_stats st;
	uint64_t	 in, out;
	int		 port, pass;

	snprintf(low, sizeof(low), "%d", LOW_PORT);
	snprintf(refl, sizeof(refl), "%d", REFLECTOR_PORT);
	for (pass = 0; pass < 2; pass++) {
		const char *how = pass == 0 ? "blocked" : "allowed";

		if ((port = start(&d, pass == 0 ? deny : allow)) == -1)
			bail("echod did not start");
		in = out = 0;
		blocked_send(&d, port, REFLECTOR_PORT, pass, &in, &out);
		blocked_send(&d, port, LOW_PORT, pass, &in, &out);
		ok(child_wait_stat(&d, &st, STAT(udp_out), "==", out,
		    tmo(5)) == 0, "%s: %llu echoed", how,
		    (unsigned long long)out);
		cmp_u64(st.udp_dropped_rule, "==", in - out,
		    "%s: dropped by rule", how);
		cmp_u64(udp_total(&st), "==", st.udp_in, "%s: each counted "
		    "once", how);
		is_int(child_stop(&d, tmo(10)), 0, "%s: echod exits 0", how);
		child_free(&d);
	}
}

/*
 * A limit of one a second, per source (total 0) or in all (per source 0):
 * of OVER_LIMIT datagrams sent at once from one address the burst is
 * answered, and most of the rest dropped and counted by that limit.  Per
 * source, another address still has its own burst.
 */
static void
test_limit(int total)
{
	const char *const args[] = { "--udp-rate", total ? "0" : "1",
	    "--udp-total-rate", total ? "1" : "0", NULL };
	const char	*how = total ? "total limit" : "source limit";
	struct child	 d;
	struct echod_stats st;
	uint64_t	 dropped, other;
	uint8_t		 back[16];
	unsigned int	 i, got = 0;
	int		 port, fd;

	if ((port = start(&d, args)) == -1)
		bail("echod did not start");
	if ((fd = client_udp("127.0.0.1", 0, port)) == -1)
		bail("UDP client: %s", strerror(errno));
	for (i = 0; i < OVER_LIMIT; i++)
		if (send(fd, "x", 1, 0) == -1)
			bail("send: %s", strerror(errno));
	ok(child_wait_stat(&d, &st, STAT(udp_in), "==", OVER_LIMIT,
	    tmo(5)) == 0, "%s: %d datagrams arrive", how, OVER_LIMIT);
	while (client_udp_recv(fd, back, sizeof(back), 0.3) == 1)
		got++;
	close(fd);
	dropped = total ? st.udp_dropped_total : st.udp_dropped_source;
	other = total ? st.udp_dropped_source : st.udp_dropped_total;
	ok(st.udp_out >= 1, "%s: the burst is answered (%llu)", how,
	    (unsigned long long)st.udp_out);
	ok(dropped >= 1, "%s: the rest is dropped (%llu)", how,
	    (unsigned long long)dropped);
	cmp_u64(other, "==", 0, "%s: the other limit dropped none", how);
	cmp_u64(st.udp_out + dropped, "==", OVER_LIMIT, "%s: each counted "
	    "once", how);
	cmp_u64(got, "==", st.udp_out, "%s: every echo counted arrived",
	    how);

	/* 127.0.0.2 is loopback too, and a source of its own. */
	if (!total) {
		if ((fd = client_udp("127.0.0.2", 0, port)) == -1)
			skip(1, "cannot bind 127.0.0.2: %s", strerror(errno));
		else {
			ok(client_udp_echo(fd, "y", 1, tmo(ECHO_SEC)) == 0,
			    "%s: another address is answered", how);
			close(fd);
		}
	}
	is_int(child_stop(&d, tmo(10)), 0, "%s: echod exits 0", how);
	child_free(&d);
}

/*
 * SIGTERM while a TCP connection keeps the drain going: the UDP socket
 * closes at once (a datagram meets ICMP port unreachable), yet echod is
 * still running; it exits 0 once the connection is gone.
 */
static void
test_sigterm(void)
{
	static const char *const args[] = { "--shutdown-timeout", "30",
	    "--udp-rate", "0", "--udp-total-rate", "0", NULL };
	struct child	 d;
	struct xfer	 x;
	uint8_t		 back[16];
	double		 end;
	ssize_t		 n = 0;
	int		 port, fd, tcp;

	if ((port = start(&d, args)) == -1)
		bail("echod did not start");
	if ((fd = client_udp("127.0.0.1", 0, port)) == -1)
		bail("UDP client: %s", strerror(errno));
	ok(client_udp_echo(fd, "up", 2, tmo(ECHO_SEC)) == 0,
	    "sigterm: UDP answered before");
	if ((tcp = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, tcp, 1, 0);
	x.x_noread = 1;
	ok(child_prime(&d, &x, 16 * 1024) > 0, "sigterm: a TCP connection "
	    "is busy");
	kill(d.d_pid, SIGTERM);
	ok(child_log_wait(&d, 0, "no longer accepting", tmo(5)) != -1,
	    "sigterm: draining");
	for (end = now() + tmo(5); now() < end; pause_sec(0.05)) {
		if (send(fd, "up", 2, 0) == -1 && errno == ECONNREFUSED)
			break;
		n = client_udp_recv(fd, back, sizeof(back), 0.05);
		if (n == -1 && errno == ECONNREFUSED)
			break;
	}
	ok(now() < end, "sigterm: the UDP socket closed at once");
	is_int(child_log_count(&d, 0, "stopped"), 0, "sigterm: while TCP "
	    "still drains");
	close(tcp);
	close(fd);
	is_int(child_wait(&d, tmo(10)), 0, "sigterm: echod exits 0");
	child_free(&d);
}

/* In the child: the datagram socket becomes fd 3, as systemd passes it. */
static void
activation_setup(void *arg)
{
	int	 fd = *(int *)arg;
	char	 pid[32];

	if (fd == LISTEN_FD ? fcntl(fd, F_SETFD, 0) == -1 :
	    dup2(fd, LISTEN_FD) == -1)
		_exit(127);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) == -1 ||
	    setenv("LISTEN_PID", pid, 1) == -1)
		_exit(127);
}

/*
 * ListenDatagram=: a UDP socket handed over is echoed on, and --udp with
 * activation is refused.
 */
static void
test_activation(void)
{
	static const char *const serve[] = { "-v", "--udp-rate", "0", NULL };
	static const char *const both[] = { "-u", "127.0.0.1:0", NULL };
	struct child	 d;
	int		 sock, port, fd;

	sock = client_bound_type(SOCK_DGRAM, &port);

	child_spawn_setup(&d, NULL, NULL, activation_setup, &sock, serve);
	ok(child_log_wait(&d, 0, " ready: ", tmo(10)) != -1,
	    "activation: echod ready with a datagram socket");
	is_int(child_udp_port(&d, 0), port, "activation: it serves UDP "
	    "on the port handed over");
	if ((fd = client_udp("127.0.0.1", 0, port)) == -1)
		bail("UDP client: %s", strerror(errno));
	ok(client_udp_echo(fd, "activated", 9, tmo(ECHO_SEC)) == 0,
	    "activation: a datagram is echoed");
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "activation: echod exits 0");
	child_free(&d);

	child_spawn_setup(&d, NULL, NULL, activation_setup, &sock, both);
	is_int(child_wait(&d, tmo(10)), 1, "activation and -u: exit 1");
	like(d.d_err.cap_buf, "echod: --udp cannot be used with socket "
	    "activation", "activation and -u: refused");
	child_free(&d);
	close(sock);
}

/* Over IPv6: [::1] is served and a datagram from it echoed. */
static void
test_ipv6(void)
{
	struct sockaddr_in6	 sin6;
	struct child		 d;
	int			 port, fd;

	if (!client_ipv6_loopback()) {
		skip(3, "no IPv6 loopback here");
		return;
	}
	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-u", "[::1]:0",
	    NULL) == -1)
		bail("echod did not start");
	port = child_udp_port(&d, 0);
	ok(port > 0, "ipv6: echod serves UDP on [::1]");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	sin6.sin6_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1)
		bail("UDP over IPv6: %s", strerror(errno));
	ok(client_udp_echo(fd, "six", 3, tmo(ECHO_SEC)) == 0,
	    "ipv6: a datagram is echoed");
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "ipv6: echod exits 0");
	child_free(&d);
}

int
main(void)
{
	harness_init(WATCHDOG_SEC);
	test_sizes();
	test_in_flight("1");
	test_in_flight("2");
	test_blocked();
	test_limit(0);
	test_limit(1);
	test_sigterm();
	test_activation();
	test_ipv6();
	return (tap_done());
}
