/* SPDX-License-Identifier: ISC */
/*
 * baseline-epoll: the leanest correct TCP echo server we can write, the
 * speed-of-light reference that echobench measures other servers against.
 * One thread, level-triggered epoll, one recv and one send per event;
 * what a send leaves over is kept per connection until the socket takes
 * it, and reading stops meanwhile, so no byte is ever lost.
 *
 * usage: baseline-epoll [-a ADDR] PORT
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One recv per event into a buffer this size: a full loopback segment
 * burst, the same unit libuv and libevent read in. */
#define BUF_SIZE	(64 * 1024)

/* Events per epoll_wait: amortises the call without a huge stack frame. */
#define MAX_EVENTS	256

/* Accepts per wakeup of the listener: bursts of connects are taken in a
 * few calls while established connections still get their turn. */
#define ACCEPT_BATCH	64

/* Pause after running out of descriptors: long enough not to spin on
 * EMFILE, short enough to take new clients soon after some leave. */
#define ACCEPT_PAUSE_MS	1000

/* Bytes a send left over, waiting for the socket to take them. */
struct backlog {
	size_t		len;
	size_t		off;
	unsigned char	data[];
};

static unsigned char	  buf[BUF_SIZE];
static struct backlog	**backlogs;	/* indexed by descriptor */
static size_t		  nbacklogs;
static int		  epfd;
static int		  listen_fd;

/* Prints why we cannot go on and exits. */
static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "baseline-epoll: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Monotonic milliseconds, for the accept pause. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Changes which readiness a descriptor waits for. */
static void
watch(int fd, int op, uint32_t events)
{
	struct epoll_event	ev;

	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(epfd, op, fd, &ev) == -1)
		die("epoll_ctl");
}

/* Ends a connection and whatever it still owed. */
static void
drop(int fd)
{
	free(backlogs[fd]);
	backlogs[fd] = NULL;
	close(fd);
}

/* Keeps what a send did not take, and waits for room instead of data. */
static void
keep(int fd, const unsigned char *data, size_t len)
{
	struct backlog	*b;

	if ((b = malloc(sizeof(*b) + len)) == NULL) {
		drop(fd);
		return;
	}
	b->len = len;
	b->off = 0;
	memcpy(b->data, data, len);
	backlogs[fd] = b;
	watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
}

/* The common case: one recv, one send, nothing kept. */
static void
echo(int fd)
{
	ssize_t	n, sent;

	n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0) {
		sent = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
		if (sent == n)
			return;
		if (sent == -1) {
			if (errno != EAGAIN) {
				drop(fd);
				return;
			}
			sent = 0;
		}
		keep(fd, buf + sent, (size_t)(n - sent));
		return;
	}
	/*
	 * EOF is only seen with nothing kept, as reading stops while a
	 * backlog waits, so a half-closed client gets all its bytes back.
	 */
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		drop(fd);
}

/* The socket has room again: send what was kept, then read again. */
static void
flush(int fd)
{
	struct backlog	*b = backlogs[fd];
	ssize_t		 n;

	n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			drop(fd);
		return;
	}
	b->off += (size_t)n;
	if (b->off < b->len)
		return;
	free(b);
	backlogs[fd] = NULL;
	watch(fd, EPOLL_CTL_MOD, EPOLLIN);
}

/* Takes new connections; returns when to resume after EMFILE, else 0. */
static long long
accept_clients(void)
{
	int	i, fd, one = 1;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Stop listening for a while, not spin. */
				watch(listen_fd, EPOLL_CTL_DEL, 0);
				return now_ms() + ACCEPT_PAUSE_MS;
			}
			return 0;
		}
		if ((size_t)fd >= nbacklogs) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		watch(fd, EPOLL_CTL_ADD, EPOLLIN);
	}
	return 0;
}

/* Binds and listens on ADDR:PORT, IPv4 or IPv6. */
static void
listen_on(const char *addr, const char *port_arg)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	char			*end, text[INET6_ADDRSTRLEN];
	unsigned long		 port;
	int			 one = 1;

	port = strtoul(port_arg, &end, 10);
	if (*port_arg == '\0' || *end != '\0' || port > 65535) {
		fprintf(stderr, "baseline-epoll: bad port '%s'\n", port_arg);
		exit(2);
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof(*sin6);
	} else {
		fprintf(stderr, "baseline-epoll: bad address '%s'\n", addr);
		exit(2);
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (listen_fd == -1)
		die("socket");
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&ss, len) == -1)
		die("bind");
	if (listen(listen_fd, SOMAXCONN) == -1)
		die("listen");
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) == -1)
		die("getsockname");
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
		printf("listening on %s:%u\n", text, ntohs(sin->sin_port));
	} else {
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
		printf("listening on [%s]:%u\n", text, ntohs(sin6->sin6_port));
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 events[MAX_EVENTS];
	struct rlimit		 rl;
	const char		*addr = "127.0.0.1";
	long long		 resume = 0;
	int			 ch, i, n, fd, timeout;

	while ((ch = getopt(argc, argv, "a:")) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		default:
			fputs("usage: baseline-epoll [-a ADDR] PORT\n", stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs("usage: baseline-epoll [-a ADDR] PORT\n", stderr);
		return 2;
	}

	/* As many connections as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	nbacklogs = (size_t)rl.rlim_cur;
	if ((backlogs = calloc(nbacklogs, sizeof(*backlogs))) == NULL)
		die("calloc");

	listen_on(addr, argv[optind]);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	watch(listen_fd, EPOLL_CTL_ADD, EPOLLIN);

	for (;;) {
		timeout = -1;
		if (resume != 0) {
			timeout = (int)(resume - now_ms());
			if (timeout <= 0) {
				watch(listen_fd, EPOLL_CTL_ADD, EPOLLIN);
				resume = 0;
				timeout = -1;
			}
		}
		n = epoll_wait(epfd, events, MAX_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			fd = events[i].data.fd;
			if (fd == listen_fd)
				resume = accept_clients();
			else if (backlogs[fd] != NULL)
				flush(fd);
			else
				echo(fd);
		}
	}
}
