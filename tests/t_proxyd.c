/* SPDX-License-Identifier: ISC */
/*
 * t_proxyd.c - proxy: listeners in the running daemon: the PROXY header
 * is consumed and only what follows it echoed; -v names the client the
 * header names (or the real peer for LOCAL and UNKNOWN); a header split
 * over many segments works; bad, oversized and truncated headers close
 * the connection with nothing echoed and count in proxy_closed; a header
 * that does not come in time counts in proxy_timeout_closed; a plain
 * listener beside it echoes a header as data; and proxy:unix: works.
 */

#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* A few daemons and timeouts of a second or two. */
#define WATCHDOG_SEC	90

/* --proxy-timeout for the slow header: the shortest there is. */
#define PROXY_TMO	1

/* Room for any echo here. */
#define BUF_MAX		8192

/* The v2 signature. */
#define V2_SIG		"\r\n\r\n\0\r\nQUIT\n"

static struct child	 d;
static int		 proxy_port, plain_port;

static int	expect_echo(const char *, int, const void *, size_t,
		    const char *, size_t);
static int	expect_closed(const char *, const void *, size_t);
static void	test_good(void);
static void	test_split(void);
static void	test_bad(void);
static void	test_slow(void);
static void	test_plain(void);
static void	test_unix(void);

/*
 * Send header then data as one write on a new connection to the proxy
 * port, or the Unix socket path if given; 1 if exactly data came back.
 */
static int
expect_echo(const char *path, int port, const void *hdr, size_t hlen,
    const char *data, size_t dlen)
{
	char	 out[BUF_MAX], in[BUF_MAX];
	ssize_t	 n;
	int	 fd;

	fd = path != NULL ? client_connect_unix(path) : client_connect(port);
	if (fd == -1)
		bail("connect: %s", strerror(errno));
	memcpy(out, hdr, hlen);
	memcpy(out + hlen, data, dlen);
	n = client_exchange(fd, out, hlen + dlen, in, sizeof(in), tmo(5));
	close(fd);
	if (n != (ssize_t)dlen || memcmp(in, data, dlen) != 0) {
		diag("  got %zd bytes back, wanted %zu", n, dlen);
		return (0);
	}
	return (1);
}

/*
 * Send bytes (a bad header, then data) to the proxy port and let the
 * sending side end; 1 if the connection closed with nothing echoed.
 */
static int
expect_closed(const char *name, const void *bytes, size_t len)
{
	char	 in[BUF_MAX];
	ssize_t	 n;
	int	 fd;

	if ((fd = client_connect(proxy_port)) == -1)
		bail("connect: %s", strerror(errno));
	n = client_exchange(fd, bytes, len, in, sizeof(in), tmo(5));
	close(fd);
	if (n != 0)
		diag("  %s: %zd bytes back", name, n);
	return (n == 0);
}

/*
 * Good headers of both versions, with data after: only the data comes
 * back, the close line names the header's client, and the byte counters
 * count the data alone.
 */
static void
test_good(void)
{
	static const char	 v1[] = "PROXY TCP4 192.0.2.1 192.0.2.2 56324 7\r\n";
	static const char	 v1u[] = "PROXY UNKNOWN\r\n";
	static const char	 v1six[] =
	    "PROXY TCP6 2001:db8::5 2001:db8::2 4000 7\r\n";
	struct echod_stats	 st;
	unsigned char		 v2[64];
	char			 want[64];
	size_t			 from = child_log_len(&d);
	int			 fd;

	ok(expect_echo(NULL, proxy_port, v1, sizeof(v1) - 1, "hello\n", 6),
	    "v1 TCP4: only the data echoed");
	ok(child_log_wait(&d, from, "echod: close 192.0.2.1:56324 after ",
	    tmo(5)) != -1, "v1 TCP4: the close line names 192.0.2.1:56324");
	ok(expect_echo(NULL, proxy_port, v1six, sizeof(v1six) - 1, "six", 3),
	    "v1 TCP6: only the data echoed");
	ok(child_log_wait(&d, from, "echod: close [2001:db8::5]:4000 after ",
	    tmo(5)) != -1, "v1 TCP6: the close line names [2001:db8::5]:4000");

	memcpy(v2, V2_SIG, 12);
	memcpy(v2 + 12, "\x21\x11\x00\x0c" "\xc6\x33\x64\x07"
	    "\xc6\x33\x64\x08" "\x1f\x90\x00\x07", 16);
	ok(expect_echo(NULL, proxy_port, v2, 28, "version 2", 9),
	    "v2 PROXY TCP4: only the data echoed");
	ok(child_log_wait(&d, from, "echod: close 198.51.100.7:8080 after ",
	    tmo(5)) != -1, "v2 PROXY TCP4: the close line names "
	    "198.51.100.7:8080");

	/* LOCAL and UNKNOWN: the connection's own peer stands. */
	if ((fd = client_connect(proxy_port)) == -1)
		bail("connect: %s", strerror(errno));
	snprintf(want, sizeof(want), "echod: close 127.0.0.1:%d after ",
	    client_local_port(fd));
	ok(client_exchange(fd, v1u, sizeof(v1u) - 1, (char *)v2, sizeof(v2),
	    tmo(5)) == 0, "v1 UNKNOWN alone: nothing echoed");
	close(fd);
	ok(child_log_wait(&d, from, want, tmo(5)) != -1,
	    "v1 UNKNOWN: the close line names the real peer");
	memcpy(v2 + 12, "\x20\x00\x00\x00", 4);
	ok(expect_echo(NULL, proxy_port, v2, 16, "local", 5),
	    "v2 LOCAL: the data echoed");
	memcpy(v2 + 12, "\x21\x00\x00\x00", 4);
	ok(expect_echo(NULL, proxy_port, v2, 16, "unspec", 6),
	    "v2 PROXY UNSPEC: the data echoed");

	if (child_wait_stat(&d, &st, STAT(eof_closed), "==", 6, tmo(5)) == -1)
		diag("eof_closed stayed at %llu",
		    (unsigned long long)st.eof_closed);
	cmp_u64(st.eof_closed, "==", 6, "good headers: 6 closed at EOF");
	cmp_u64(st.bytes_in, "==", 6 + 3 + 9 + 5 + 6,
	    "good headers: bytes_in counts the data, not the headers");
	cmp_u64(st.bytes_out, "==", st.bytes_in, "good headers: bytes_out "
	    "likewise");
	cmp_u64(st.proxy_closed + st.proxy_timeout_closed, "==", 0,
	    "good headers: none counted as bad");
}

/*
 * A header in one-byte segments, then the data in the same segment as
 * its last byte, then more: all echoed, none of the header.
 */
static void
test_split(void)
{
	static const char	 hdr[] = "PROXY TCP4 192.0.2.9 192.0.2.2 9 7\r\n";
	char			 in[64];
	size_t			 i, from = child_log_len(&d);
	ssize_t			 n;
	int			 fd, on = 1;

	if ((fd = client_connect(proxy_port)) == -1)
		bail("connect: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	for (i = 0; i + 1 < sizeof(hdr) - 1; i++) {
		if (send(fd, hdr + i, 1, MSG_NOSIGNAL) != 1)
			bail("send: %s", strerror(errno));
		pause_sec(0.005);
	}
	if (send(fd, "\nab", 3, MSG_NOSIGNAL) != 3)
		bail("send: %s", strerror(errno));
	pause_sec(0.05);
	n = client_exchange(fd, "cd", 2, in, sizeof(in), tmo(5));
	close(fd);
	ok(n == 4 && memcmp(in, "abcd", 4) == 0,
	    "split header: 'abcd' echoed, nothing of the header (%zd bytes)",
	    n);
	ok(child_log_wait(&d, from, "echod: close 192.0.2.9:9 after ",
	    tmo(5)) != -1, "split header: the close line names 192.0.2.9:9");
}

/*
 * Bad headers, each with data after it: closed with nothing echoed, and
 * each counted once in proxy_closed.
 */
static void
test_bad(void)
{
	static const struct {
		const char	*name, *bytes;
		size_t		 len;
	} cases[] = {
		{ "not a header", "GET / HTTP/1.0\r\n\r\n", 18 },
		{ "v1 without CRLF", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\ndata",
		    39 },
		{ "v1 bad address",
		    "PROXY TCP4 192.0.2.300 192.0.2.2 1 2\r\ndata", 42 },
		{ "v1 truncated by EOF", "PROXY TCP4 192.0.2.1", 20 },
		{ "v2 bad version", V2_SIG "\x11\x11\x00\x0c" "123456789012data",
		    32 },
		{ "v2 oversized", V2_SIG "\x21\x11\xff\xff" "data", 20 },
		{ "v2 truncated by EOF", V2_SIG "\x21\x11\x00\x0c" "1234", 20 },
		{ "v2 datagram", V2_SIG "\x21\x12\x00\x0c" "123456789012data",
		    32 },
	};
	struct echod_stats	 st, st0;
	char			 big[200];
	size_t			 i, from = child_log_len(&d);

	if (child_stats(&d, &st0) == -1)
		bail("no stats");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(expect_closed(cases[i].name, cases[i].bytes, cases[i].len),
		    "%s: closed, nothing echoed", cases[i].name);
	/* 200 bytes of a v1 line: past 107, with no CRLF in sight. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "PROXY UNKNOWN ", 14);
	ok(expect_closed("v1 too long", big, sizeof(big)),
	    "v1 too long: closed, nothing echoed");
	if (child_wait_stat(&d, &st, STAT(proxy_closed), "==",
	    st0.proxy_closed + 9, tmo(5)) == -1)
		diag("proxy_closed is %llu", (unsigned long long)st.proxy_closed);
	cmp_u64(st.proxy_closed - st0.proxy_closed, "==", 9,
	    "bad headers: 9 counted in proxy_closed");
	cmp_u64(st.bytes_out, "==", st0.bytes_out,
	    "bad headers: not a byte echoed");
	cmp_u64(st.accepted - st0.accepted, "==", 9,
	    "bad headers: 9 accepted, so each counted once");
	ok(child_log_wait(&d, from, "echod: bad PROXY header: v1 header "
	    "longer than 107 bytes\n", 0) != -1, "bad headers: -v says why");
	ok(child_log_wait(&d, from, ": bad proxy header\n", 0) != -1,
	    "bad headers: the close line says 'bad proxy header'");
}

/*
 * A header that stops half way is closed by --proxy-timeout, not by the
 * idle timeout, and a trickle of header bytes does not stretch it.
 */
static void
test_slow(void)
{
	struct echod_stats	 st, st0;
	char			 in[16];
	double			 t0, took;
	ssize_t			 n;
	int			 fd, i;

	if (child_stats(&d, &st0) == -1)
		bail("no stats");
	if ((fd = client_connect(proxy_port)) == -1)
		bail("connect: %s", strerror(errno));
	t0 = now();
	for (i = 0; i < 6; i++) {
		if (send(fd, "PROXY " + i, 1, MSG_NOSIGNAL) != 1)
			break;
		pause_sec(0.3);
	}
	n = recv(fd, in, sizeof(in), 0);
	took = now() - t0;
	close(fd);
	ok(n <= 0, "slow header: closed with nothing echoed");
	cmp_dbl(took, ">=", PROXY_TMO, "slow header: not before %ds",
	    PROXY_TMO);
	cmp_dbl(took, "<", PROXY_TMO + 3 + (harness_wrapped() ? 5 : 0),
	    "slow header: closed by the timeout, despite the trickle");
	if (child_wait_stat(&d, &st, STAT(proxy_timeout_closed), "==",
	    st0.proxy_timeout_closed + 1, tmo(5)) == -1)
		diag("proxy_timeout_closed is %llu",
		    (unsigned long long)st.proxy_timeout_closed);
	cmp_u64(st.proxy_timeout_closed - st0.proxy_timeout_closed, "==", 1,
	    "slow header: counted in proxy_timeout_closed");
	cmp_u64(st.idle_closed, "==", st0.idle_closed,
	    "slow header: not counted as idle");
}

/* The plain listener beside it takes a PROXY line as data to echo. */
static void
test_plain(void)
{
	static const char	 v1[] = "PROXY TCP4 192.0.2.1 192.0.2.2 56324 7\r\n";
	char			 in[64];
	ssize_t			 n;
	int			 fd;

	if ((fd = client_connect(plain_port)) == -1)
		bail("connect: %s", strerror(errno));
	n = client_exchange(fd, v1, sizeof(v1) - 1, in, sizeof(in), tmo(5));
	close(fd);
	ok(n == (ssize_t)sizeof(v1) - 1 && memcmp(in, v1, sizeof(v1) - 1) == 0,
	    "plain listener: a PROXY line is echoed as data");
}

/* proxy:unix: a header over a Unix socket names the client too. */
static void
test_unix(void)
{
	static const char	 v1[] = "PROXY TCP4 203.0.113.4 192.0.2.2 1000 7\r\n";
	struct child		 u;
	char			 path[PATH_MAX], arg[PATH_MAX + 16];
	char			 dir[] = "/tmp/t_proxyd.XXXXXX";

	if (mkdtemp(dir) == NULL)
		bail("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/p.sock", dir);
	snprintf(arg, sizeof(arg), "proxy:unix:%s", path);
	if (child_start(&u, NULL, "-v", "-l", "127.0.0.1:0", "-l", arg,
	    NULL) == -1)
		bail("echod did not start");
	ok(expect_echo(path, 0, v1, sizeof(v1) - 1, "over unix", 9),
	    "proxy:unix: only the data echoed");
	ok(child_log_wait(&u, 0, "echod: close 203.0.113.4:1000 after ",
	    tmo(5)) != -1, "proxy:unix: the close line names the client");
	is_int(child_stop(&u, tmo(10)), 0, "proxy:unix: exit 0");
	child_done(&u);
	rmdir(dir);
}

/* One daemon with a proxy: and a plain listener serves most tests. */
int
main(void)
{
	char	 tmo_arg[16];

	harness_init(WATCHDOG_SEC);
	snprintf(tmo_arg, sizeof(tmo_arg), "%d", PROXY_TMO);
	if (child_start(&d, NULL, "-v", "--proxy-timeout", tmo_arg,
	    "-l", "proxy:127.0.0.1:0", "-l", "127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	if (d.d_nports != 2)
		bail("echod listens on %d ports, not 2", d.d_nports);
	proxy_port = d.d_ports[0];
	plain_port = d.d_ports[1];
	test_good();
	test_split();
	test_bad();
	test_slow();
	test_plain();
	is_int(child_stop(&d, tmo(10)), 0, "exit 0 on SIGTERM");
	child_done(&d);
	test_unix();
	return (tap_done());
}
