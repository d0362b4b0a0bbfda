/* SPDX-License-Identifier: ISC */
/*
 * proxy.c - the PROXY protocol header (versions 1 and 2) that a load
 * balancer sends before the client's data to name the client.  Pure:
 * given the bytes received so far it says "need more", "bad" or "done,
 * this long, from this client", so every rule is unit-tested and fuzzed
 * without a socket.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "echod.h"

/* Version 1: "PROXY " ... CRLF, at most 107 bytes with the CRLF. */
#define PROXY_V1_MAX		107

/* Version 2: the signature, then version/command, family, length. */
#define PROXY_V2_HDR		16

/* Address blocks of version 2, by family; TLVs may follow each. */
#define PROXY_V2_INET_LEN	12	/* two IPv4 addresses, two ports */
#define PROXY_V2_INET6_LEN	36	/* two IPv6 addresses, two ports */
#define PROXY_V2_UNIX_LEN	216	/* two 108-byte paths */

/* The longest v1 address field: an IPv6 address in full. */
#define PROXY_V1_ADDR_MAX	45

static const unsigned char proxy_v1_sig[] = "PROXY ";
static const unsigned char proxy_v2_sig[] =
    "\r\n\r\n\0\r\nQUIT\n";	/* 12 bytes: sizeof less the NUL */

static int	proxy_parse_v1(const unsigned char *, size_t,
		    struct proxy_addr *, const char **);
static int	proxy_parse_v2(const unsigned char *, size_t,
		    struct proxy_addr *, const char **);
static const char *proxy_v1_field(const char *, const char *, char *,
		    size_t);
static int	proxy_v1_port(const char *, uint16_t *);

/*
 * Look at the first len bytes of a connection.  Returns the header's
 * length once it is complete and valid, with the client in *pa; 0 when
 * more bytes are needed; -1 with the reason in *why when the bytes can
 * never become a valid header.  A prefix of a valid header always needs
 * more, never fails; a wrong signature, version or family fails at once,
 * the rest once the header's end (or its limit) has arrived.
 */
int
proxy_parse(const void *buf, size_t len, struct proxy_addr *pa,
    const char **why)
{
	const unsigned char	*p = buf;
	size_t			 n;

	memset(pa, 0, sizeof(*pa));
	if (len == 0)
		return (0);
	if (p[0] == proxy_v1_sig[0]) {
		n = len < sizeof(proxy_v1_sig) - 1 ? len :
		    sizeof(proxy_v1_sig) - 1;
		if (memcmp(p, proxy_v1_sig, n) != 0) {
			*why = "not a PROXY header";
			return (-1);
		}
		return (proxy_parse_v1(p, len, pa, why));
	}
	n = len < sizeof(proxy_v2_sig) - 1 ? len : sizeof(proxy_v2_sig) - 1;
	if (memcmp(p, proxy_v2_sig, n) != 0) {
		*why = "not a PROXY header";
		return (-1);
	}
	return (proxy_parse_v2(p, len, pa, why));
}

/*
 * Copy the field of s up to the next space (or the end) into out;
 * returns what follows the space, or NULL if the field is empty or does
 * not fit.
 */
static const char *
proxy_v1_field(const char *s, const char *end, char *out, size_t outlen)
{
	const char	*sp = memchr(s, ' ', end - s);
	size_t		 n = (sp != NULL ? sp : end) - s;

	if (n == 0 || n >= outlen)
		return (NULL);
	memcpy(out, s, n);
	out[n] = '\0';
	return (sp != NULL ? sp + 1 : end);
}

/* A v1 port: 1 to 5 decimal digits, no sign, 0 to 65535. */
static int
proxy_v1_port(const char *s, uint16_t *port)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (s[0] == '\0' || strlen(s) > 5 || (s[0] == '0' && s[1] != '\0'))
		return (-1);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return (-1);
	*port = (uint16_t)v;
	return (0);
}

/*
 * "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n",
 * single spaces, 107 bytes at most.  For UNKNOWN the rest of the line is
 * ignored, as the specification says.
 */
static int
proxy_parse_v1(const unsigned char *p, size_t len, struct proxy_addr *pa,
    const char **why)
{
	char		 line[PROXY_V1_MAX + 1];
	char		 proto[8], sport[8], dport[8];
	char		 src[PROXY_V1_ADDR_MAX + 1];
	char		 dst[PROXY_V1_ADDR_MAX + 1];
	const char	*s, *end;
	uint16_t	 sp, dp;
	size_t		 i, n;
	int		 af;

	n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	for (i = 0; i < n; i++) {
		if (p[i] == '\r')
			break;
		if (p[i] < 0x20 || p[i] > 0x7e) {
			*why = "v1 header has a byte that is not printable";
			return (-1);
		}
	}
	if (i == n) {
		if (len >= PROXY_V1_MAX) {
			*why = "v1 header longer than 107 bytes";
			return (-1);
		}
		return (0);
	}
	if (i + 1 == len)
		return (0);	/* the '\n' is still to come */
	if (p[i + 1] != '\n' || i + 2 > PROXY_V1_MAX) {
		*why = "v1 header does not end in CRLF";
		return (-1);
	}
	memcpy(line, p, i);
	line[i] = '\0';
	end = line + i;
	s = line + sizeof(proxy_v1_sig) - 1;

	if (strncmp(s, "UNKNOWN", 7) == 0 && (s[7] == '\0' || s[7] == ' ')) {
		pa->pa_local = 1;
		return ((int)i + 2);
	}
	if ((s = proxy_v1_field(s, end, proto, sizeof(proto))) == NULL ||
	    (strcmp(proto, "TCP4") != 0 && strcmp(proto, "TCP6") != 0)) {
		*why = "v1 protocol is not TCP4, TCP6 or UNKNOWN";
		return (-1);
	}
	af = proto[3] == '4' ? AF_INET : AF_INET6;
	if ((s = proxy_v1_field(s, end, src, sizeof(src))) == NULL ||
	    (s = proxy_v1_field(s, end, dst, sizeof(dst))) == NULL ||
	    (s = proxy_v1_field(s, end, sport, sizeof(sport))) == NULL ||
	    (s = proxy_v1_field(s, end, dport, sizeof(dport))) == NULL ||
	    s != end || end[-1] == ' ') {
		*why = "v1 header does not have four single-spaced fields";
		return (-1);
	}
	if (af == AF_INET) {
		struct in_addr	 a;

		if (inet_pton(AF_INET, src, &pa->pa_src.sin.sin_addr) != 1 ||
		    inet_pton(AF_INET, dst, &a) != 1) {
			*why = "v1 address is not IPv4";
			return (-1);
		}
	} else {
		struct in6_addr	 a;

		if (inet_pton(AF_INET6, src, &pa->pa_src.sin6.sin6_addr) !=
		    1 || inet_pton(AF_INET6, dst, &a) != 1) {
			*why = "v1 address is not IPv6";
			return (-1);
		}
	}
	if (proxy_v1_port(sport, &sp) == -1 || proxy_v1_port(dport, &dp) ==
	    -1) {
		*why = "v1 port is not a number from 0 to 65535";
		return (-1);
	}
	if (af == AF_INET) {
		pa->pa_src.sin.sin_family = AF_INET;
		pa->pa_src.sin.sin_port = htons(sp);
		pa->pa_srclen = sizeof(pa->pa_src.sin);
	} else {
		pa->pa_src.sin6.sin6_family = AF_INET6;
		pa->pa_src.sin6.sin6_port = htons(sp);
		pa->pa_srclen = sizeof(pa->pa_src.sin6);
	}
	return ((int)i + 2);
}

/*
 * The binary version 2: signature, version 2 with LOCAL or PROXY, the
 * family and transport, the length of what follows (addresses, then
 * TLVs, which are skipped), capped at PROXY_HDR_MAX in all.
 */
static int
proxy_parse_v2(const unsigned char *p, size_t len, struct proxy_addr *pa,
    const char **why)
{
	size_t		 total, alen;
	int		 cmd, fam, proto;

	if (len >= 13 && (p[12] >> 4) != 2) {
		*why = "v2 header has a version other than 2";
		return (-1);
	}
	if (len >= 13 && (p[12] & 0x0f) > 1) {
		*why = "v2 command is neither LOCAL nor PROXY";
		return (-1);
	}
	if (len >= 14 && ((p[13] >> 4) > 3 || (p[13] & 0x0f) > 2)) {
		*why = "v2 address family or transport is unknown";
		return (-1);
	}
	if (len < PROXY_V2_HDR)
		return (0);
	alen = (size_t)p[14] << 8 | p[15];
	total = PROXY_V2_HDR + alen;
	if (total > PROXY_HDR_MAX) {
		*why = "v2 header longer than echod accepts";
		return (-1);
	}
	if (len < total)
		return (0);
	cmd = p[12] & 0x0f;
	fam = p[13] >> 4;
	proto = p[13] & 0x0f;
	p += PROXY_V2_HDR;

	/* LOCAL: the proxy's own connection, say a health check. */
	if (cmd == 0 || fam == 0) {
		pa->pa_local = 1;
		return ((int)total);
	}
	if (proto == 2) {
		*why = "v2 header forwards a datagram, not a stream";
		return (-1);
	}
	switch (fam) {
	case 1:
		if (alen < PROXY_V2_INET_LEN)
			break;
		pa->pa_src.sin.sin_family = AF_INET;
		memcpy(&pa->pa_src.sin.sin_addr, p, 4);
		memcpy(&pa->pa_src.sin.sin_port, p + 8, 2);
		pa->pa_srclen = sizeof(pa->pa_src.sin);
		break;
	case 2:
		if (alen < PROXY_V2_INET6_LEN)
			break;
		pa->pa_src.sin6.sin6_family = AF_INET6;
		memcpy(&pa->pa_src.sin6.sin6_addr, p, 16);
		memcpy(&pa->pa_src.sin6.sin6_port, p + 32, 2);
		pa->pa_srclen = sizeof(pa->pa_src.sin6);
		break;
	default:
		if (alen < PROXY_V2_UNIX_LEN)
			break;
		pa->pa_src.sun.sun_family = AF_UNIX;
		memcpy(pa->pa_src.sun.sun_path, p,
		    sizeof(pa->pa_src.sun.sun_path));
		/* As long as the path, or all 108 bytes if unterminated. */
		pa->pa_srclen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + (p[0] == '\0' ? 1 + strnlen((const char *)p +
		    1, sizeof(pa->pa_src.sun.sun_path) - 1) :
		    strnlen((const char *)p, sizeof(pa->pa_src.sun.sun_path))));
		break;
	}
	if (pa->pa_srclen == 0) {
		*why = "v2 address block is shorter than its family needs";
		return (-1);
	}
	/*
	 * Unspecified transport over a known family: the specification
	 * lets the receiver accept it with the real addresses.
	 */
	if (proto == 0) {
		memset(pa, 0, sizeof(*pa));
		pa->pa_local = 1;
	}
	return ((int)total);
}
