/* SPDX-License-Identifier: ISC */
/*
 * t_proxy.c - unit tests of the PROXY protocol parser, linked against
 * the daemon's own objects: every v1 and v2 form echod accepts, with the
 * client it names and the header length; every prefix of a good header
 * needing more; and every malformed form refused with its reason.
 */

#include "config.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"
#include "tap.h"

/* Pure computation that takes milliseconds; this only catches a hang. */
#define WATCHDOG_SEC	30

/* The v2 signature, as the specification spells it. */
#define V2_SIG	"\r\n\r\n\0\r\nQUIT\n"

/* Room for the biggest v2 header built here: one over the cap. */
#define V2_BUF	(PROXY_HDR_MAX + 16)

static const char *visible(const char *);
static size_t	v2(unsigned char *, int, int, const void *, size_t);
static void	check_good(const char *, const void *, size_t, size_t,
		    const char *);
static void	check_bad(const char *, const void *, size_t, const char *);
static void	test_v1_good(void);
static void	test_v1_bad(void);
static void	test_v2_good(void);
static void	test_v2_bad(void);
static void	test_prefixes(void);

/* A v1 line as a test name: CR, LF and the like escaped. */
static const char *
visible(const char *s)
{
	static char	 buf[4 * PROXY_HDR_MAX / 16];
	size_t		 n = 0;

	for (; *s != '\0' && n + 5 < sizeof(buf); s++) {
		if (*s == '\r' || *s == '\n') {
			buf[n++] = '\\';
			buf[n++] = *s == '\r' ? 'r' : 'n';
		} else if (*s < 0x20 || *s > 0x7e)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\x%02x",
			    (unsigned char)*s);
		else
			buf[n++] = *s;
	}
	buf[n] = '\0';
	return (buf);
}

/*
 * A v2 header with version/command byte vc, family/transport byte ft and
 * the address block (and TLVs) given.  Returns its length.
 */
static size_t
v2(unsigned char *buf, int vc, int ft, const void *body, size_t len)
{
	memcpy(buf, V2_SIG, 12);
	buf[12] = (unsigned char)vc;
	buf[13] = (unsigned char)ft;
	buf[14] = (unsigned char)(len >> 8);
	buf[15] = (unsigned char)len;
	if (len > 0)
		memcpy(buf + 16, body, len);
	return (16 + len);
}

/*
 * A header that must parse: its length is hdrlen (the input may go on
 * past it) and its client prints as peer ("local" for none).
 */
static void
check_good(const char *name, const void *buf, size_t len, size_t hdrlen,
    const char *peer)
{
	struct proxy_addr	 pa;
	const char		*why = "none";
	char			 got[160];
	int			 n;

	n = proxy_parse(buf, len, &pa, &why);
	is_int(n, (long long)hdrlen, "%s: header of %zu bytes", name, hdrlen);
	if (n != (int)hdrlen)
		diag("  why: %s", why);
	if (pa.pa_local)
		snprintf(got, sizeof(got), "local");
	else
		log_sockaddr(&pa.pa_src.sa, pa.pa_srclen, got, sizeof(got));
	like(got, peer, "%s: client %s", name, peer);
}

/* A header that must be refused, with a reason mentioning reason. */
static void
check_bad(const char *name, const void *buf, size_t len, const char *reason)
{
	struct proxy_addr	 pa;
	const char		*why = "";

	is_int(proxy_parse(buf, len, &pa, &why), -1, "%s: refused", name);
	like(why, reason, "%s: reason given", name);
}

/* Version 1: TCP4, TCP6 and UNKNOWN, alone or with data after. */
static void
test_v1_good(void)
{
	static const struct {
		const char	*hdr, *peer;
	} cases[] = {
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 56324 7\r\n",
		    "192.0.2.1:56324" },
		{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
		    "0.0.0.0:0" },
		{ "PROXY TCP6 2001:db8::1 2001:db8::2 4000 7\r\n",
		    "[2001:db8::1]:4000" },
		{ "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n",
		    "[::ffff:192.0.2.1]:1" },
		{ "PROXY UNKNOWN\r\n", "local" },
		{ "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
		    "local" },
	};
	char	 buf[256];
	size_t	 i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = strlen(cases[i].hdr);
		check_good(visible(cases[i].hdr), cases[i].hdr, n, n,
		    cases[i].peer);
		snprintf(buf, sizeof(buf), "%shello\n", cases[i].hdr);
		check_good("  with data after", buf, strlen(buf), n,
		    cases[i].peer);
	}

	/* The longest v1 line: 107 bytes with its CRLF. */
	snprintf(buf, sizeof(buf), "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
	is_int((long long)strlen(buf), 104, "longest TCP6 line is 104 bytes");
	check_good("TCP6 of 104 bytes", buf, strlen(buf), strlen(buf),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memcpy(buf + 105, "\r\n", 2);
	check_good("UNKNOWN of 107 bytes", buf, 107, 107, "local");
}

/* Version 1 forms that must be refused. */
static void
test_v1_bad(void)
{
	static const struct {
		const char	*hdr, *why;
	} cases[] = {
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n", "not printable" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX", "does not end in CRLF" },
		{ "PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n", "not TCP4, TCP6" },
		{ "PROXY TCP4\r\n", "four single-spaced" },
		{ "PROXY \r\n", "not TCP4, TCP6" },
		{ "PROXY UNKNOWNX\r\n", "not TCP4, TCP6" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n", "four single-spaced" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",
		    "four single-spaced" },
		{ "PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n",
		    "four single-spaced" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",
		    "four single-spaced" },
		{ "PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n", "not TCP4, TCP6" },
		{ "PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n", "not IPv4" },
		{ "PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n", "not IPv4" },
		{ "PROXY TCP4 192.0.2.1 host 1 2\r\n", "not IPv4" },
		{ "PROXY TCP6 192.0.2.1 ::1 1 2\r\n", "not IPv6" },
		{ "PROXY TCP6 ::1 ::g 1 2\r\n", "not IPv6" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 -2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 +1 2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2x\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 123456 2\r\n", "port" },
		{ "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n", "not a PROXY header" },
		{ "PROXYTCP4", "not a PROXY header" },
		{ "GET / HTTP/1.0\r\n", "not a PROXY header" },
		{ "PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n", "not printable" },
	};
	char	 buf[256];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(visible(cases[i].hdr), cases[i].hdr,
		    strlen(cases[i].hdr), cases[i].why);

	/* 107 bytes without a CRLF can never become a header. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	check_bad("107 bytes without CRLF", buf, 107, "longer than 107");
	/* A CRLF that would make it 108. */
	memcpy(buf + 106, "\r\n", 2);
	check_bad("CRLF ending at 108", buf, 108, "does not end in CRLF");
	/* A NUL inside the line. */
	memcpy(buf, "PROXY UNKNOWN \0\r\n", 17);
	check_bad("NUL in the line", buf, 17, "not printable");
}

/* Version 2: PROXY over each family, LOCAL, UNSPEC, TLVs after. */
static void
test_v2_good(void)
{
	unsigned char	 buf[V2_BUF], body[512];
	size_t		 n;

	/* 192.0.2.1:1234 -> 192.0.2.2:7 */
	memcpy(body, "\xc0\x00\x02\x01\xc0\x00\x02\x02\x04\xd2\x00\x07", 12);
	n = v2(buf, 0x21, 0x11, body, 12);
	check_good("v2 PROXY TCP4", buf, n, 28, "192.0.2.1:1234");
	memcpy(buf + n, "data", 4);
	check_good("v2 PROXY TCP4 with data after", buf, n + 4, 28,
	    "192.0.2.1:1234");

	/* TLVs after the addresses are skipped: 12 + 7 + 5 bytes. */
	memcpy(body + 12, "\x04\x00\x04" "abcd" "\x05\x00\x02" "id", 12);
	n = v2(buf, 0x21, 0x11, body, 24);
	check_good("v2 PROXY TCP4 with TLVs", buf, n, 40, "192.0.2.1:1234");

	/* [2001:db8::1]:4000 -> [2001:db8::2]:7 */
	memset(body, 0, 36);
	memcpy(body, "\x20\x01\x0d\xb8", 4);
	body[15] = 1;
	memcpy(body + 16, "\x20\x01\x0d\xb8", 4);
	body[31] = 2;
	memcpy(body + 32, "\x0f\xa0\x00\x07", 4);
	n = v2(buf, 0x21, 0x21, body, 36);
	check_good("v2 PROXY TCP6", buf, n, 52, "[2001:db8::1]:4000");

	/* unix:/run/client.sock -> unix:/run/echod.sock, 216 bytes. */
	memset(body, 0, 216);
	memcpy(body, "/run/client.sock", 16);
	memcpy(body + 108, "/run/echod.sock", 15);
	n = v2(buf, 0x21, 0x31, body, 216);
	check_good("v2 PROXY UNIX", buf, n, 232, "unix:/run/client.sock");
	memset(body, 0, 216);
	memcpy(body, "\0abstract", 9);
	n = v2(buf, 0x21, 0x31, body, 216);
	check_good("v2 PROXY UNIX abstract", buf, n, 232, "unix:@abstract");
	/* A path filling all 108 bytes, unterminated, stays within them. */
	memset(body, 'p', 216);
	body[0] = '/';
	n = v2(buf, 0x21, 0x31, body, 216);
	check_good("v2 PROXY UNIX of 108 bytes", buf, n, 232, "unix:/ppp");

	/* LOCAL: the proxy's own connection, addresses ignored. */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	check_good("v2 LOCAL UNSPEC", buf, n, 16, "local");
	memcpy(body, "\xc0\x00\x02\x01\xc0\x00\x02\x02\x04\xd2\x00\x07", 12);
	n = v2(buf, 0x20, 0x11, body, 12);
	check_good("v2 LOCAL with TCP4 addresses", buf, n, 28, "local");
	/* LOCAL with a short block: nothing in it is read. */
	n = v2(buf, 0x20, 0x11, body, 3);
	check_good("v2 LOCAL with a short block", buf, n, 19, "local");

	/* PROXY over UNSPEC: the real endpoints stand. */
	n = v2(buf, 0x21, 0x00, body, 5);
	check_good("v2 PROXY UNSPEC", buf, n, 21, "local");
	n = v2(buf, 0x21, 0x10, body, 12);
	check_good("v2 PROXY INET, transport UNSPEC", buf, n, 28, "local");

	/* The biggest header accepted. */
	memset(body, 0, sizeof(body));
	memcpy(body, "\xc0\x00\x02\x01\xc0\x00\x02\x02\x04\xd2\x00\x07", 12);
	n = v2(buf, 0x21, 0x11, body, 12);
	memset(buf + n, 0, PROXY_HDR_MAX - n);
	buf[14] = (PROXY_HDR_MAX - 16) >> 8;
	buf[15] = (PROXY_HDR_MAX - 16) & 0xff;
	check_good("v2 of PROXY_HDR_MAX bytes", buf, PROXY_HDR_MAX,
	    PROXY_HDR_MAX, "192.0.2.1:1234");
}

/* Version 2 forms that must be refused. */
static void
test_v2_bad(void)
{
	unsigned char	 buf[V2_BUF], body[216];
	size_t		 n;

	memset(body, 0, sizeof(body));
	n = v2(buf, 0x21, 0x11, body, 12);
	buf[3] = 'X';
	check_bad("v2 bad signature", buf, n, "not a PROXY header");
	check_bad("v2 bad signature, 4 bytes", buf, 4, "not a PROXY header");
	check_bad("first byte neither 'P' nor CR", "\x00", 1,
	    "not a PROXY header");

	n = v2(buf, 0x11, 0x11, body, 12);
	check_bad("v2 version 1 in the binary form", buf, n, "version");
	n = v2(buf, 0x31, 0x11, body, 12);
	check_bad("v2 version 3", buf, n, "version");
	check_bad("v2 version 3, 13 bytes", buf, 13, "version");
	n = v2(buf, 0x22, 0x11, body, 12);
	check_bad("v2 command 2", buf, n, "neither LOCAL nor PROXY");
	n = v2(buf, 0x2f, 0x11, body, 12);
	check_bad("v2 command 15", buf, n, "neither LOCAL nor PROXY");
	n = v2(buf, 0x21, 0x41, body, 12);
	check_bad("v2 family 4", buf, n, "family or transport");
	check_bad("v2 family 4, 14 bytes", buf, 14, "family or transport");
	n = v2(buf, 0x21, 0x13, body, 12);
	check_bad("v2 transport 3", buf, n, "family or transport");
	n = v2(buf, 0x21, 0x12, body, 12);
	check_bad("v2 PROXY over UDP", buf, n, "datagram");

	n = v2(buf, 0x21, 0x11, body, 11);
	check_bad("v2 TCP4 block of 11", buf, n, "shorter than its family");
	n = v2(buf, 0x21, 0x21, body, 35);
	check_bad("v2 TCP6 block of 35", buf, n, "shorter than its family");
	n = v2(buf, 0x21, 0x31, body, 215);
	check_bad("v2 UNIX block of 215", buf, n, "shorter than its family");
	n = v2(buf, 0x21, 0x21, body, 12);
	check_bad("v2 TCP6 with a TCP4 block", buf, n,
	    "shorter than its family");

	/* One byte over the cap, and the protocol's own maximum. */
	n = v2(buf, 0x21, 0x11, body, 12);
	buf[14] = (PROXY_HDR_MAX - 15) >> 8;
	buf[15] = (PROXY_HDR_MAX - 15) & 0xff;
	check_bad("v2 one byte over PROXY_HDR_MAX", buf, 16, "longer than");
	buf[14] = buf[15] = 0xff;
	check_bad("v2 announcing 65535 bytes", buf, 16, "longer than");
}

/*
 * Every proper prefix of a good header needs more, and none fails: a
 * header split over many segments must not be refused.
 */
static void
test_prefixes(void)
{
	static const char	*v1s[] = {
		"PROXY TCP4 192.0.2.1 192.0.2.2 56324 7\r\n",
		"PROXY TCP6 2001:db8::1 2001:db8::2 4000 7\r\n",
		"PROXY UNKNOWN\r\n",
	};
	struct proxy_addr	 pa;
	unsigned char		 buf[V2_BUF], body[216];
	const char		*why;
	size_t			 i, k, n, bad;

	for (i = 0; i < sizeof(v1s) / sizeof(v1s[0]); i++) {
		n = strlen(v1s[i]);
		for (bad = 0, k = 0; k < n; k++)
			if (proxy_parse(v1s[i], k, &pa, &why) != 0)
				bad++;
		is_int((long long)bad, 0, "v1 %.10s...: all %zu prefixes need "
		    "more", v1s[i] + 6, n);
	}
	memset(body, 0, sizeof(body));
	memcpy(body, "\x7f\x00\x00\x01\x7f\x00\x00\x01\x04\xd2\x00\x07", 12);
	n = v2(buf, 0x21, 0x11, body, 216);
	for (bad = 0, k = 0; k < n; k++)
		if (proxy_parse(buf, k, &pa, &why) != 0)
			bad++;
	is_int((long long)bad, 0, "v2 with TLVs: all %zu prefixes need more",
	    n);
}

/* Pure parsing: no daemon, no sockets. */
int
main(void)
{
	tap_init();
	alarm(WATCHDOG_SEC);
	test_v1_good();
	test_v1_bad();
	test_v2_good();
	test_v2_bad();
	test_prefixes();
	return (tap_done());
}
