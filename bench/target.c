/* SPDX-License-Identifier: ISC */
/*
 * target.c - the server under load: resolved and reached once before the
 * run, and on loopback the source addresses its connections come from.
 */

#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "echobench.h"

/*
 * IPv4 loopback source addresses connections are spread over: with one,
 * connect() spends most of its time looking for a port whose TIME_WAIT
 * from an earlier connection may be reused; 16 make that search short
 * and give idle mode room for 16 times the ephemeral port range.
 */
#define LOOPBACK_SOURCES	16

/* Gives a loopback connection one of LOOPBACK_SOURCES source addresses. */
int
target_bind_source(int fd, uint64_t n)
{
	struct sockaddr_in	src;
	int			one = 1;

	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK +
	    (uint32_t)(n % LOOPBACK_SOURCES));
	/* The port is still chosen by connect(), for the whole 4-tuple. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

/* Connects once with a timeout: the result for each candidate address. */
static int
probe_address(const struct addrinfo *ai)
{
	struct pollfd	pfd;
	socklen_t	len = sizeof(int);
	int		fd, err = 0, rc;

	/* A UDP connect() only sets the peer: no server is contacted. */
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS)
			err = errno;
		else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			rc = poll(&pfd, 1, (int)(run.timeout_ns / NS_PER_MS));
			if (rc == 0)
				err = ETIMEDOUT;
			else if (rc == -1)
				err = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == -1)
				err = errno;
		}
	}
	close(fd);
	return err;
}

/* True if the server is IPv4 loopback and every source address binds. */
static int
loopback_sources_usable(void)
{
	const struct sockaddr_in	*sin =
	    (struct sockaddr_in *)&run.target.addr;
	int				 fd, ok;

	if (run.target.addr.ss_family != AF_INET ||
	    (ntohl(sin->sin_addr.s_addr) >> 24) != IN_LOOPBACKNET)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	ok = target_bind_source(fd, LOOPBACK_SOURCES - 1) == 0;
	close(fd);
	return ok;
}

/*
 * Resolves the server and connects once, so that an unreachable server
 * fails at once with a clear message rather than a run of errors.
 */
int
target_resolve(void)
{
	struct target	*t = &run.target;
	struct addrinfo	 hints, *res, *ai;
	int		 rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = run.opt.mode == MODE_UDP ? SOCK_DGRAM :
	    SOCK_STREAM;
	if ((rc = getaddrinfo(run.opt.host, run.opt.port, &hints, &res)) !=
	    0) {
		fprintf(stderr, "echobench: %s port %s: %s\n", run.opt.host,
		    run.opt.port, gai_strerror(rc));
		snprintf(t->host, sizeof(t->host), "%s", run.opt.host);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, t->host,
		    sizeof(t->host), NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(t->host, sizeof(t->host), "%s", run.opt.host);
		if ((err = probe_address(ai)) == 0) {
			memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
			t->len = ai->ai_addrlen;
			break;
		}
	}
	freeaddrinfo(res);
	if (err != 0) {
		fprintf(stderr, "echobench: cannot connect to %s port %s: %s\n",
		    t->host, run.opt.port, strerror(err));
		return -1;
	}
	t->spread_sources = loopback_sources_usable();
	return 0;
}
