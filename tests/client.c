/* SPDX-License-Identifier: ISC */
/*
 * client.c - test clients.  Bytes sent come from a reproducible pattern,
 * so gigabytes can be checked without keeping them; one poll() loop
 * drives any number of connections, writing and reading at once, and
 * compares every byte echoed with the byte sent at that offset.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Bytes per send() by default: a few syscalls per MiB, yet interleaved. */
#define XFER_CHUNK	(64 * 1024)

/* Bytes per recv(): more than any socket hands over at once on loopback. */
#define RECV_BUF	(256 * 1024)

/* Sends or receives per connection per wake-up, so none starves others. */
#define XFER_BURST	4

/* FNV-1a's 64-bit offset basis and prime. */
#define FNV1A_INIT	0xcbf29ce484222325ULL
#define FNV1A_PRIME	0x100000001b3ULL

static uint64_t	fnv1a(uint64_t, const uint8_t *, size_t);
static uint64_t	pattern_mix(uint64_t);
static void	pattern_fill(uint8_t *, size_t, uint64_t, uint64_t);
static int	xfer_done(const struct xfer *);
static ssize_t	xfer_send(struct xfer *);
static ssize_t	xfer_recv(struct xfer *);

/*
 * A UDP socket bound to src_ip:src_port (port 0: any) and connected to
 * 127.0.0.1:port, so it hears only echod and learns of ICMP errors.
 * Returns it, or -1 with errno set (EACCES: a port below 1024 needs root;
 * EADDRINUSE: taken) for the caller to skip on.
 */
int
client_udp(const char *src_ip, int src_port, int port)
{
	struct sockaddr_in	 sin;
	int			 fd, err;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		bail("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)src_port);
	if (inet_pton(AF_INET, src_ip, &sin.sin_addr) != 1)
		bail("bad address %s", src_ip);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		err = errno;
		close(fd);
		errno = err;
		return (-1);
	}
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		bail("connect UDP 127.0.0.1:%d: %s", port, strerror(errno));
	return (fd);
}

/*
 * One datagram within secs: its length, or -1 with errno set (ETIMEDOUT
 * when none came; ECONNREFUSED when nothing listens any more).
 */
ssize_t
client_udp_recv(int fd, void *buf, size_t len, double secs)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	double		 end = now() + secs;
	int		 n;

	for (;;) {
		n = poll(&pfd, 1, (int)((end - now()) * 1000));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && now() >= end)) {
			errno = ETIMEDOUT;
			return (-1);
		}
		if (n == -1)
			return (-1);
		return (recv(fd, buf, len, MSG_DONTWAIT));
	}
}

/*
 * Send one datagram and check that the next one back, within secs, is
 * the same bytes.  Returns 0, or -1 with the difference said.
 */
int
client_udp_echo(int fd, const void *data, size_t len, double secs)
{
	static uint8_t	 back[65536];
	ssize_t		 n;

	if (send(fd, data, len, 0) != (ssize_t)len) {
		diag("UDP send of %zu bytes: %s", len, strerror(errno));
		return (-1);
	}
	if ((n = client_udp_recv(fd, back, sizeof(back), secs)) == -1) {
		diag("UDP echo of %zu bytes: %s", len, strerror(errno));
		return (-1);
	}
	if ((size_t)n != len || memcmp(back, data, len) != 0) {
		diag("UDP echo of %zu bytes: %zd bytes came back%s", len,
		    n, (size_t)n == len ? ", different" : "");
		return (-1);
	}
	return (0);
}

/*
 * A blocking TCP connection to an IPv4 or IPv6 literal; -1 with errno set
 * if it failed.
 */
int
client_connect_to(const char *ip, int port)
{
	return (client_connect_rcvbuf(ip, port, 0));
}

/*
 * The same with the receive buffer set to rcvbuf bytes first (0 leaves
 * it), before the window is announced, so that a client that does not
 * read stops the echo after a few KiB.
 */
int
client_connect_rcvbuf(const char *ip, int port, int rcvbuf)
{
	union {
		struct sockaddr		sa;
		struct sockaddr_in	sin;
		struct sockaddr_in6	sin6;
	}		 u;
	socklen_t	 len;
	int		 fd, r, saved;

	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, ip, &u.sin.sin_addr) == 1) {
		u.sin.sin_family = AF_INET;
		u.sin.sin_port = htons((uint16_t)port);
		len = sizeof(u.sin);
	} else if (inet_pton(AF_INET6, ip, &u.sin6.sin6_addr) == 1) {
		u.sin6.sin6_family = AF_INET6;
		u.sin6.sin6_port = htons((uint16_t)port);
		len = sizeof(u.sin6);
	} else {
		errno = EINVAL;
		return (-1);
	}
	if ((fd = socket(u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	while ((r = connect(fd, &u.sa, len)) == -1 && errno == EINTR)
		continue;
	if (r == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * A non-blocking connection to 127.0.0.1:port, left to complete by
 * itself: for clients that must wait in a listen queue.
 */
int
client_connect_start(int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		bail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS)
		bail("connect to port %d: %s", port, strerror(errno));
	return (fd);
}

/*
 * A socket bound to 127.0.0.1 at a port the kernel picks, returned in
 * *port, and not listening: the port stays taken, and a connect to it is
 * refused.
 */
int
client_bound(int *port)
{
	return (client_bound_type(SOCK_STREAM, port));
}

/* The same for a socket type: SOCK_DGRAM for a UDP server or peer. */
int
client_bound_type(int type, int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, type | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		bail("cannot bind 127.0.0.1:0: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return (fd);
}

/*
 * The same socket listening: to pass to echod, to serve as a peer, or to
 * keep a port busy.
 */
int
client_listen(int *port)
{
	int	 fd = client_bound(port);

	if (listen(fd, SOMAXCONN) == -1)
		bail("cannot listen on 127.0.0.1:%d: %s", *port,
		    strerror(errno));
	return (fd);
}

/* Whether this host can bind and use [::1]. */
int
client_ipv6_loopback(void)
{
	struct sockaddr_in6	 sin6;
	int			 fd, works;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	works = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	close(fd);
	return (works);
}

/* A socket's own IPv4 port, which echod names in its log; or -1. */
int
client_local_port(int fd)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return (-1);
	return (ntohs(sin.sin_port));
}

/* A connection to 127.0.0.1, where every test daemon listens. */
int
client_connect(int port)
{
	return (client_connect_to("127.0.0.1", port));
}

/*
 * Whether, within secs, a connect to the port is refused: nothing listens
 * there any more.  Returns 1 when refused, 0 if still accepted.
 */
int
client_refused(int port, double secs)
{
	double	 end = now() + secs;
	int	 fd;

	for (;;) {
		if ((fd = client_connect(port)) == -1 && errno == ECONNREFUSED)
			return (1);
		if (fd != -1)
			close(fd);
		if (now() >= end)
			return (0);
		pause_sec(0.01);
	}
}

/*
 * A blocking connection to a Unix socket: a path, or "@name" in the
 * abstract namespace as echod writes it.  -1 with errno set on failure.
 */
int
client_connect_unix(const char *path)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	size_t			 n = strlen(path);
	int			 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (n >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(sun.sun_path, path, n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * Send len bytes of data, shut down the sending side, and collect what
 * comes back into buf until EOF or an error (a reset is an end too) or
 * secs pass.  Returns the bytes received, or -1 if the end did not come
 * in time or sending failed other than by the peer's close.
 */
ssize_t
client_exchange(int fd, const void *data, size_t len, char *buf,
    size_t size, double secs)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	double		 end = now() + secs;
	size_t		 got = 0;
	ssize_t		 n;

	if (len > 0 && send(fd, data, len, MSG_NOSIGNAL) != (ssize_t)len &&
	    errno != EPIPE && errno != ECONNRESET)
		return (-1);
	shutdown(fd, SHUT_WR);
	for (;;) {
		if (now() >= end)
			return (-1);
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recv(fd, buf + got, size - got, 0);
		if (n > 0 && (got += (size_t)n) < size)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		return ((ssize_t)got);
	}
}

/* Close with a reset instead of a FIN, as a crashing peer would. */
void
client_reset(int fd)
{
	struct linger	 l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/*
 * Echo len pattern bytes on an open connection, reading while writing.
 * Returns 1 if every byte came back intact within secs, else 0 (with
 * the details shown).
 */
int
client_echo(int fd, uint64_t seed, size_t len, double secs)
{
	struct xfer	 x;

	xfer_init(&x, fd, seed, len);
	if (xfer_run(&x, 1, secs) == 0 && xfer_intact(&x))
		return (1);
	xfer_diag(&x, "echo");
	return (0);
}

/* FNV-1a over len more bytes, continuing from h (FNV1A_INIT to start). */
static uint64_t
fnv1a(uint64_t h, const uint8_t *p, size_t len)
{
	while (len-- > 0) {
		h ^= *p++;
		h *= FNV1A_PRIME;
	}
	return (h);
}

/* splitmix64's finaliser: cheap, and every input bit moves every output. */
static uint64_t
pattern_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/*
 * The bytes at offsets off..off+len of the stream named by seed: no byte
 * value is favoured and no two streams or offsets look alike, so a lost,
 * duplicated or swapped chunk shows.
 */
static void
pattern_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint64_t	 key = pattern_mix(seed), v;
	unsigned int	 shift;
	size_t		 i = 0;

	while (i < len) {
		v = pattern_mix(key ^ ((off + i) / 8));
		for (shift = (off + i) % 8; shift < 8 && i < len; shift++)
			buf[i++] = (uint8_t)(v >> (shift * 8));
	}
}

/* A transfer of total pattern bytes on fd, which is made non-blocking. */
void
xfer_init(struct xfer *x, int fd, uint64_t seed, uint64_t total)
{
	memset(x, 0, sizeof(*x));
	x->x_fd = fd;
	x->x_seed = seed;
	x->x_total = total;
	x->x_sum_sent = x->x_sum_rcvd = FNV1A_INIT;
	x->x_bad = NO_BAD;
	x->x_chunk = XFER_CHUNK;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*
 * Nothing more to do: failed, ended, or everything sent (and shut down if
 * asked) and, unless reading is off, echoed, and EOF seen if wanted.
 */
static int
xfer_done(const struct xfer *x)
{
	if (x->x_err != 0 || x->x_eof)
		return (1);
	if (x->x_sent < x->x_total || (x->x_shut && !x->x_shut_done))
		return (0);
	if (x->x_noread)
		return (1);
	return (x->x_rcvd >= x->x_sent && !x->x_shut && !x->x_want_eof);
}

/* Every byte sent came back, in order, unchanged, and nothing else. */
int
xfer_intact(const struct xfer *x)
{
	return (x->x_err == 0 && x->x_bad == NO_BAD &&
	    x->x_sent == x->x_total && x->x_rcvd == x->x_sent &&
	    x->x_sum_rcvd == x->x_sum_sent);
}

/* One send() of the next bytes; returns bytes sent, 0 if full, -1. */
static ssize_t
xfer_send(struct xfer *x)
{
	static uint8_t	 buf[XFER_CHUNK];
	const uint8_t	*p = buf;
	size_t		 len = x->x_total - x->x_sent;
	ssize_t		 n;

	if (len > x->x_chunk)
		len = x->x_chunk;
	if (len > sizeof(buf))
		len = sizeof(buf);
	if (x->x_data != NULL)
		p = x->x_data + x->x_sent;
	else
		pattern_fill(buf, len, x->x_seed, x->x_sent);
	if ((n = send(x->x_fd, p, len, MSG_NOSIGNAL)) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (0);
		x->x_err = errno;
		x->x_end = now();
		return (-1);
	}
	x->x_sum_sent = fnv1a(x->x_sum_sent, p, (size_t)n);
	x->x_sent += (uint64_t)n;
	return (n);
}

/*
 * One recv(), checking what came against what was sent at that offset;
 * returns bytes received, 0 if none was waiting or at EOF, -1.
 */
static ssize_t
xfer_recv(struct xfer *x)
{
	static uint8_t	 buf[RECV_BUF], want[RECV_BUF];
	const uint8_t	*expect = want;
	size_t		 valid, i;
	ssize_t		 n;

	if ((n = recv(x->x_fd, buf, sizeof(buf), 0)) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (0);
		x->x_err = errno;
		x->x_end = now();
		return (-1);
	}
	if (n == 0) {
		x->x_eof = 1;
		x->x_end = now();
		return (0);
	}
	if (x->x_bad == NO_BAD) {
		/* Only bytes already sent can be echoed. */
		valid = x->x_sent - x->x_rcvd < (uint64_t)n ?
		    (size_t)(x->x_sent - x->x_rcvd) : (size_t)n;
		if (x->x_data != NULL)
			expect = x->x_data + x->x_rcvd;
		else
			pattern_fill(want, valid, x->x_seed, x->x_rcvd);
		if (memcmp(buf, expect, valid) != 0) {
			for (i = 0; buf[i] == expect[i]; i++)
				continue;
			x->x_bad = x->x_rcvd + i;
		} else if (valid < (size_t)n)
			x->x_bad = x->x_rcvd + valid;
	}
	x->x_sum_rcvd = fnv1a(x->x_sum_rcvd, buf, (size_t)n);
	x->x_rcvd += (uint64_t)n;
	return (n);
}

/*
 * Drive n transfers at once for at most secs: send while reading, shut
 * down the write side where asked, until each is done.  Returns 0 when
 * all are, -1 at the deadline.  Callers check the fields: this judges
 * nothing.
 */
int
xfer_run(struct xfer *xs, size_t n, double secs)
{
	struct pollfd	*pfd;
	struct xfer	*x;
	size_t		*idx, i, np;
	double		 end = now() + secs, left;
	int		 k, ms, rv, first = 1;

	if ((pfd = calloc(n, sizeof(*pfd))) == NULL ||
	    (idx = calloc(n, sizeof(*idx))) == NULL)
		bail("out of memory");
	for (;;) {
		np = 0;
		for (i = 0; i < n; i++) {
			x = &xs[i];
			if (x->x_shut && !x->x_shut_done &&
			    x->x_sent == x->x_total && x->x_err == 0) {
				if (shutdown(x->x_fd, SHUT_WR) == -1) {
					x->x_err = errno;
					x->x_end = now();
				}
				x->x_shut_done = 1;
			}
			if (xfer_done(x))
				continue;
			pfd[np].fd = x->x_fd;
			pfd[np].events = (x->x_noread ? 0 : POLLIN) |
			    (x->x_sent < x->x_total ? POLLOUT : 0);
			idx[np++] = i;
		}
		if (np == 0) {
			rv = 0;
			break;
		}
		/* With no time at all, still take what is ready now. */
		if ((left = end - now()) <= 0 && !first) {
			rv = -1;
			break;
		}
		first = 0;
		ms = left > 0 ? (int)(left * 1000) + 1 : 0;
		if (poll(pfd, np, ms) == -1 && errno != EINTR)
			bail("poll: %s", strerror(errno));
		for (i = 0; i < np; i++) {
			x = &xs[idx[i]];
			if (pfd[i].revents & POLLOUT)
				for (k = 0; k < XFER_BURST && x->x_sent <
				    x->x_total && xfer_send(x) > 0; k++)
					continue;
			if (!x->x_noread && x->x_err == 0 &&
			    (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				for (k = 0; k < XFER_BURST && xfer_recv(x) > 0;
				    k++)
					continue;
		}
	}
	free(pfd);
	free(idx);
	return (rv);
}

/*
 * Send seg bytes per send(), reading nothing, until x_total is sent or
 * the socket has taken nothing for quiet seconds: the far end has stopped
 * reading.  x_total is then lowered to what was sent, which is returned,
 * so that xfer_run() afterwards only reads the echo back.
 */
uint64_t
xfer_fill(struct xfer *x, size_t seg, double quiet)
{
	struct pollfd	 pfd;
	size_t		 chunk = x->x_chunk;
	double		 blocked = -1, t;
	ssize_t		 n;

	x->x_chunk = seg;
	while (x->x_sent < x->x_total) {
		if ((n = xfer_send(x)) == -1)
			break;
		if (n > 0) {
			blocked = -1;
			continue;
		}
		t = now();
		if (blocked < 0)
			blocked = t;
		else if (t - blocked >= quiet)
			break;
		pfd.fd = x->x_fd;
		pfd.events = POLLOUT;
		poll(&pfd, 1, (int)((quiet - (t - blocked)) * 1000) + 1);
	}
	x->x_chunk = chunk;
	x->x_total = x->x_sent;
	return (x->x_sent);
}

/* Show where a transfer stands, for a failed check. */
void
xfer_diag(const struct xfer *x, const char *name)
{
	diag("%s: total=%llu sent=%llu rcvd=%llu bad=%lld eof=%d err=%s",
	    name, (unsigned long long)x->x_total,
	    (unsigned long long)x->x_sent, (unsigned long long)x->x_rcvd,
	    x->x_bad == NO_BAD ? -1LL : (long long)x->x_bad, x->x_eof,
	    x->x_err ? strerror(x->x_err) : "none");
}
