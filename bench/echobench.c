/* SPDX-License-Identifier: ISC */
/*
 * echobench: load generator and checker for TCP echo servers (RFC 862).
 *
 * The connections are split across threads, each running its own epoll
 * loop.  Every echoed byte is compared with a deterministic pattern,
 * latencies go into per-thread histograms merged at the end, and the last
 * line printed is a key=value summary for scripts.
 */

#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Time is kept in nanoseconds of CLOCK_MONOTONIC throughout. */
#define NS_PER_MS		1000000ULL
#define NS_PER_S		1000000000ULL

/*
 * Connects in flight per thread: enough to open thousands of connections
 * in well under a second on a LAN, few enough not to overflow a listen
 * backlog of a few hundred, which would turn into SYN retransmits.
 */
#define MAX_CONNECTING		256

/* Bytes per recv: drains a bulk stream in few calls and still fits in L2. */
#define READ_SIZE		(256 * 1024)

/*
 * rr, connect and idle: the pattern holds this many distinct messages,
 * up to PATTERN_MAX bytes, so that (below that size) 256 connections each
 * start on one of their own.  Small messages thus keep it in the L1 cache: each send
 * reads it, and a 1 MiB one cost the client an L2 miss per message, 1.5 %
 * of its CPU.
 */
#define PATTERN_MESSAGES	256

/* bulk and halfclose: the smallest pattern, and the largest of rr's. */
#define PATTERN_MAX		(1024 * 1024)

/*
 * Longest run without a newline in the bulk and halfclose streams: line
 * echo servers hold bytes until a '\n' and split lines of 16 KiB or more.
 */
#define STREAM_LINE		4096

/* Odd multiplier (Knuth's) that scatters stream starts over the pattern. */
#define SEED_STRIDE		2654435761ULL

/* Any fixed nonzero xorshift state: runs must be reproducible. */
#define PATTERN_SEED		0x9e3779b97f4a7c15ULL

/* Events per epoll_wait: amortises the call without a huge stack frame. */
#define MAX_EVENTS		512

/* Longest sleep in epoll_wait, so stop requests and deadlines act fast. */
#define POLL_MAX_NS		(100 * NS_PER_MS)

/* How often stalls are looked for: cheap, and fine beside 5 s timeouts. */
#define STALL_CHECK_NS		(100 * NS_PER_MS)

/*
 * Histogram: 2^7 linear steps per power of two keep every value within
 * 1/128 (0.8%) of the truth; shifts up to 33 cover 2^41 ns (36 minutes).
 */
#define HIST_SUB_BITS		7
#define HIST_SUB		(1U << HIST_SUB_BITS)
#define HIST_MAX_SHIFT		33
#define HIST_BUCKETS		((HIST_MAX_SHIFT + 2) * HIST_SUB)

/* Option limits: past these a run only measures the client's memory. */
#define MAX_SIZE		(16ULL * 1024 * 1024)
#define MAX_PIPELINE		4096ULL
#define MAX_CONNS		1000000ULL
#define MAX_THREADS		256ULL
#define MAX_BYTES		(1ULL << 40)
#define MAX_REQUESTS		1000000000000ULL
#define MAX_SECONDS		1000000.0
#define MAX_RATE		1e9

/*
 * Shortest duration and timeout: anything shorter measures nothing or
 * calls every connection stalled.  Slowest rate: one message in 1000 s.
 */
#define MIN_SECONDS		0.001
#define MIN_RATE		0.001

/*
 * getopt's letters; the leading ':' makes a missing value ':' rather
 * than '?', and the letters tell a known option from an unknown one.
 */
#define SHORT_OPTIONS		":H:p:m:s:P:c:d:w:t:R:r:n:qhV"

/*
 * IPv4 loopback source addresses connections are spread over: with one,
 * connect() spends most of its time looking for a port whose TIME_WAIT
 * from an earlier connection may be reused; 16 make that search short
 * and give idle mode room for 16 times the ephemeral port range.
 */
#define LOOPBACK_SOURCES	16

/* File descriptors beyond the connections: stdio, epoll sets, slack. */
#define FD_RESERVE		64

enum mode {
	MODE_RR,
	MODE_BULK,
	MODE_CONNECT,
	MODE_IDLE,
	MODE_HALFCLOSE
};

static const char *const mode_names[] = {
	"rr", "bulk", "connect", "idle", "halfclose"
};

enum error_kind {
	ERR_MISMATCH,
	ERR_RESET,
	ERR_EOF,
	ERR_STALL,
	ERR_CONNECT,
	ERR_KINDS
};

/* Summary keys and words for the error kinds, in enum order. */
static const char *const error_keys[ERR_KINDS] = {
	"mismatches", "resets", "eofs", "stalls", "connect_errors"
};
static const char *const error_words[ERR_KINDS] = {
	"mismatches", "resets", "unexpected EOFs", "stalls", "connect errors"
};

enum conn_state {
	CONN_WAITING,		/* not started yet, or held back */
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_SHUT,		/* halfclose: all sent, awaiting EOF */
	CONN_HOLD,		/* idle: echo verified, held open */
	CONN_DONE,
	CONN_DEAD
};

struct conn {
	int		 fd;
	enum conn_state	 state;
	int		 busy;		/* owes bytes or a cycle end */
	unsigned	 index;		/* within its worker */
	uint64_t	 cycle;		/* connections it has opened */
	uint64_t	 seed;		/* pattern offset of byte 0 */
	uint64_t	 want;		/* bytes to send in all */
	uint64_t	 sent;
	uint64_t	 recvd;		/* received and verified */
	uint64_t	 issued;	/* rr: messages sent */
	uint64_t	 completed;	/* rr: messages echoed */
	uint64_t	 scheduled;	/* rr -R: messages now due */
	uint64_t	 next_done;	/* recvd ending the next one */
	uint64_t	 cycle_start;
	uint64_t	 progress;	/* last move: the stall clock */
	uint64_t	*sent_at;	/* rr: ring of send times */
};

struct hist {
	uint64_t	 count[HIST_BUCKETS];
	uint64_t	 total;
	uint64_t	 max;
};

struct worker {
	pthread_t	 thread;
	int		 epfd;
	struct conn	*conns;
	unsigned	 nconns;
	uint64_t	 first;		/* global number of conns[0] */
	unsigned	*waiting;	/* stack of conns to open */
	unsigned	 nwaiting;
	unsigned	 connecting;
	unsigned	 live;		/* neither DONE nor DEAD */
	unsigned	 busy;
	unsigned	 pending;	/* idle: not yet verified nor dead */
	int		 time_up;
	int		 setup_done;
	uint64_t	 drain_end;
	uint64_t	 next_check;
	unsigned char	*rbuf;
	uint64_t	*ring;
	struct hist	*hist;

	uint64_t	 quota;		/* messages (bulk: bytes) */
	uint64_t	 started;

	double		 ns_per_msg;	/* rr -R schedule */
	uint64_t	 next_slot;
	uint64_t	 next_due;

	/* Counted only inside the measured window. */
	uint64_t	 msgs;
	uint64_t	 bytes;
	/* Counted always. */
	uint64_t	 errs[ERR_KINDS];
	uint64_t	 established;
	uint64_t	 done_total;
	uint64_t	 recv_total;
	uint64_t	 end_ns;

	/* Copies for the progress line, stored once per loop. */
	_Atomic uint64_t pub_done;
	_Atomic uint64_t pub_recv;
	_Atomic uint64_t pub_errors;
	_Atomic uint64_t pub_established;
	atomic_int	 pub_setup_done;
	atomic_int	 pub_finished;
};

struct options {
	const char	*host;
	const char	*port;
	enum mode	 mode;
	uint64_t	 size;
	uint64_t	 pipeline;
	uint64_t	 conns;
	uint64_t	 threads;
	uint64_t	 requests;	/* 0: run for the duration */
	uint64_t	 bytes;
	double		 duration;
	double		 warmup;
	double		 rate;		/* 0: closed loop */
	double		 timeout;
	int		 json;
	int		 quiet;
};

struct totals {
	double		 secs;
	double		 setup_secs;
	double		 msg_rate;
	double		 mb_rate;
	double		 conn_rate;
	uint64_t	 msgs;
	uint64_t	 bytes;
	uint64_t	 established;
	uint64_t	 errors;
	uint64_t	 errs[ERR_KINDS];
	struct hist	 hist;
};

static struct options		 opt;
static unsigned char		*pattern;
static uint64_t			 pattern_len;
static uint64_t			 pattern_line;
static uint64_t			 write_max;
static size_t			 read_max;	/* checked with one memcmp */
static struct sockaddr_storage	 target;
static socklen_t		 target_len;
static char			 target_host[NI_MAXHOST];
static uint64_t			 run_start;
static uint64_t			 measure_start;
static uint64_t			 run_end;
static uint64_t			 setup_deadline;
static uint64_t			 timeout_ns;
static struct worker		*workers;
static struct totals		 totals;
static atomic_int		 stop_flag;
static atomic_int		 error_reported[ERR_KINDS];
static volatile sig_atomic_t	 got_signal;
static sem_t			 main_wake;
static int			 show_progress;
static atomic_int		 use_pwait2 = 1;
static int			 spread_sources;

static void	conn_fail(struct worker *, struct conn *, enum error_kind,
		    const char *, int);
static void	conn_start(struct worker *, struct conn *, uint64_t);

/* The one clock every timestamp comes from. */
static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/*
 * send(2) and recv(2) as bare system calls.  Once a process has threads,
 * glibc's wrappers make each call a cancellation point and switch the
 * thread's cancel type before and after it: 0.7 % of the client's CPU per
 * message.  echobench never cancels a thread.
 */
static ssize_t
sock_send(int fd, const void *buf, size_t len)
{
	return syscall(SYS_sendto, fd, buf, len, MSG_NOSIGNAL, NULL, 0);
}

static ssize_t
sock_recv(int fd, void *buf, size_t len)
{
	return syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
}

/* Converts seconds from the options to nanoseconds. */
static uint64_t
secs_to_ns(double secs)
{
	return (uint64_t)llround(secs * (double)NS_PER_S);
}

/* Maps a latency to its bucket: linear below 256 ns, log-linear above. */
static unsigned
hist_index(uint64_t ns)
{
	unsigned	shift;

	if (ns < 2 * HIST_SUB)
		return (unsigned)ns;
	shift = 63 - (unsigned)__builtin_clzll(ns) - HIST_SUB_BITS;
	if (shift > HIST_MAX_SHIFT)
		return HIST_BUCKETS - 1;
	return (shift + 1) * HIST_SUB + (unsigned)(ns >> shift) - HIST_SUB;
}

/* Largest value a bucket holds: what its percentile is reported as. */
static uint64_t
hist_upper(unsigned index)
{
	unsigned	shift;

	if (index < 2 * HIST_SUB)
		return index;
	shift = index / HIST_SUB - 1;
	return ((uint64_t)(index % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

/* Adds one latency; no locks, each thread has its own histogram. */
static void
hist_record(struct hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
	h->total++;
	if (ns > h->max)
		h->max = ns;
}

/* Folds a thread's histogram into the total after the run. */
static void
hist_merge(struct hist *into, const struct hist *from)
{
	unsigned	i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += from->count[i];
	into->total += from->total;
	if (from->max > into->max)
		into->max = from->max;
}

/* Value below which the fraction q of the latencies fall, in ns. */
static uint64_t
hist_percentile(const struct hist *h, double q)
{
	uint64_t	rank, seen = 0, upper;
	unsigned	i;

	if (h->total == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->total);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			upper = hist_upper(i);
			return upper < h->max ? upper : h->max;
		}
	}
	return h->max;
}

/* Prints the first error of each kind in detail; later ones are counted. */
static void __attribute__((format(printf, 2, 3)))
report_error(enum error_kind kind, const char *fmt, ...)
{
	va_list	ap;

	if (atomic_exchange(&error_reported[kind], 1) != 0)
		return;
	va_start(ap, fmt);
	fputs(show_progress ? "\r\033[Kechobench: " : "echobench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * Fills the pattern with pseudo-random bytes of all 256 values, a '\n'
 * closing every pattern_line bytes, and stores it twice so that any
 * window of up to pattern_len bytes is one contiguous memcmp or send.
 */
static int
pattern_init(void)
{
	uint64_t	state = PATTERN_SEED, base, i;

	if (opt.mode == MODE_BULK || opt.mode == MODE_HALFCLOSE) {
		pattern_line = STREAM_LINE;
		base = PATTERN_MAX;
	} else {
		pattern_line = opt.size;
		base = opt.size * PATTERN_MESSAGES;
		if (base > PATTERN_MAX)
			base = PATTERN_MAX;
	}
	if (base < opt.size)
		base = opt.size;
	pattern_len = (base + pattern_line - 1) / pattern_line * pattern_line;
	if ((pattern = malloc(2 * pattern_len)) == NULL)
		return -1;
	for (i = 0; i < pattern_len; i++) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		pattern[i] = (unsigned char)(state >> 56);
	}
	for (i = pattern_line - 1; i < pattern_len; i += pattern_line)
		pattern[i] = '\n';
	memcpy(pattern + pattern_len, pattern, pattern_len);
	write_max = opt.mode == MODE_RR ? pattern_len : opt.size;
	/* A read beyond one pattern's length would compare past its end. */
	read_max = pattern_len < READ_SIZE ? (size_t)pattern_len : READ_SIZE;
	return 0;
}

/*
 * Where in the pattern stream number n starts: on a line boundary so
 * every message ends with its '\n', and scattered so that neighbouring
 * connections and successive cycles carry different bytes.
 */
static uint64_t
stream_seed(uint64_t n)
{
	return n * SEED_STRIDE % (pattern_len / pattern_line) * pattern_line;
}

/* Intended send time of a connection's message k under -R. */
static uint64_t
rate_intended(const struct worker *w, const struct conn *c, uint64_t k)
{
	double	slot = (double)(k * w->nconns + c->index);

	return run_start + (uint64_t)(slot * w->ns_per_msg);
}

/* True while now lies in the measured window. */
static int
in_window(uint64_t now)
{
	return now >= measure_start && now < run_end;
}

/* Counts connections owing us data; owing starts the stall clock. */
static void
conn_set_busy(struct worker *w, struct conn *c, int busy, uint64_t now)
{
	if (c->busy == busy)
		return;
	c->busy = busy;
	if (busy) {
		w->busy++;
		c->progress = now;
	} else
		w->busy--;
}

/* Closes the socket, leaving the slot's fate to the caller. */
static void
conn_close(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CONNECTING)
		w->connecting--;
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	conn_set_busy(w, c, 0, 0);
}

/* Takes a slot out of the run for good. */
static void
conn_retire(struct worker *w, struct conn *c, enum conn_state state)
{
	if (opt.mode == MODE_IDLE && c->state != CONN_HOLD)
		w->pending--;
	c->state = state;
	w->live--;
}

/* Counts an error against a connection and drops it. */
static void
conn_fail(struct worker *w, struct conn *c, enum error_kind kind,
    const char *what, int err)
{
	w->errs[kind]++;
	report_error(kind, "connection %" PRIu64 ": %s: %s (%" PRIu64
	    " bytes sent, %" PRIu64 " echoed)", w->first + c->index, what,
	    strerror(err), c->sent, c->recvd);
	conn_close(w, c);
	conn_retire(w, c, CONN_DEAD);
}

/* Sends what the stream owes the server, as far as the socket takes it. */
static int
conn_flush(struct worker *w, struct conn *c, uint64_t now)
{
	uint64_t	left, len;
	ssize_t		n;

	for (;;) {
		if (opt.mode == MODE_BULK) {
			if (w->time_up)
				return 0;
			left = w->quota - w->started;
		} else
			left = c->want - c->sent;
		if (left == 0)
			return 0;
		len = left < write_max ? left : write_max;
		n = sock_send(c->fd, pattern + (c->seed + c->sent) %
		    pattern_len, len);
		if (n == -1) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			conn_fail(w, c, ERR_RESET, "send", errno);
			return -1;
		}
		c->sent += (uint64_t)n;
		if (opt.mode == MODE_BULK) {
			w->started += (uint64_t)n;
			conn_set_busy(w, c, 1, now);
		}
		if ((uint64_t)n < len)
			return 0;
	}
}

/* Starts what pipeline, schedule and quota allow, sent in one write. */
static int
rr_issue(struct worker *w, struct conn *c, uint64_t now)
{
	while (!w->time_up && c->issued - c->completed < opt.pipeline) {
		if (opt.rate > 0) {
			if (c->issued == c->scheduled)
				break;
		} else {
			if (w->started == w->quota)
				break;
			w->started++;
			c->sent_at[c->issued % opt.pipeline] = now;
		}
		c->issued++;
	}
	c->want = c->issued * opt.size;
	conn_set_busy(w, c, c->issued != c->completed, now);
	return conn_flush(w, c, now);
}

/* Records every message the bytes received so far have completed. */
static void
rr_complete(struct worker *w, struct conn *c, uint64_t now)
{
	uint64_t	start;

	while (c->recvd >= c->next_done) {
		if (opt.rate > 0)
			start = rate_intended(w, c, c->completed);
		else
			start = c->sent_at[c->completed % opt.pipeline];
		c->completed++;
		c->next_done += opt.size;
		w->done_total++;
		if (in_window(now)) {
			w->msgs++;
			w->bytes += opt.size;
			hist_record(w->hist, now - start);
		}
	}
}

/*
 * Hands due -R messages to their connections, round robin; latency is
 * later taken from these intended times, not from when they went out,
 * so a server that falls behind is charged for the wait (wrk2's fix for
 * coordinated omission).
 */
static void
rate_schedule(struct worker *w, uint64_t now)
{
	struct conn	*c;
	uint64_t	 due;

	while (!w->time_up && w->next_slot < w->quota) {
		due = run_start + (uint64_t)((double)w->next_slot *
		    w->ns_per_msg);
		if (due > now) {
			w->next_due = due;
			return;
		}
		c = &w->conns[w->next_slot % w->nconns];
		w->next_slot++;
		w->started = w->next_slot;
		c->scheduled++;
		if (c->state == CONN_OPEN)
			rr_issue(w, c, now);
	}
	w->next_due = UINT64_MAX;
}

/* halfclose: sends the stream, then shuts our side once all is out. */
static int
halfclose_send(struct worker *w, struct conn *c, uint64_t now)
{
	if (conn_flush(w, c, now) == -1)
		return -1;
	if (c->sent == c->want) {
		if (shutdown(c->fd, SHUT_WR) == -1) {
			conn_fail(w, c, ERR_RESET, "shutdown", errno);
			return -1;
		}
		c->state = CONN_SHUT;
	}
	return 0;
}

/* Starts the slot's next connection or, with time or quota up, ends it. */
static void
cycle_next(struct worker *w, struct conn *c, uint64_t now)
{
	if (w->time_up || w->started >= w->quota) {
		conn_retire(w, c, CONN_DONE);
		return;
	}
	w->started++;
	conn_start(w, c, now);
}

/* connect and halfclose: one connection did all it should. */
static void
cycle_done(struct worker *w, struct conn *c, uint64_t now)
{
	w->done_total++;
	if (in_window(now)) {
		w->msgs++;
		hist_record(w->hist, now - c->cycle_start);
	}
	conn_close(w, c);
	c->state = CONN_WAITING;
	cycle_next(w, c, now);
}

/* idle: the connection echoed its message; from now on it only waits. */
static void
idle_verified(struct worker *w, struct conn *c, uint64_t now)
{
	c->state = CONN_HOLD;
	conn_set_busy(w, c, 0, now);
	w->pending--;
	w->done_total++;
	w->msgs++;
	hist_record(w->hist, now - c->cycle_start);
}

/* Gives a loopback connection one of LOOPBACK_SOURCES source addresses. */
static int
bind_source(int fd, uint64_t n)
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

/* Opens a connection for the slot, unless too many are being opened. */
static void
conn_start(struct worker *w, struct conn *c, uint64_t now)
{
	struct epoll_event	ev;
	uint64_t		stream;
	int			fd, one = 1;

	if (w->connecting >= MAX_CONNECTING) {
		c->state = CONN_WAITING;
		w->waiting[w->nwaiting++] = c->index;
		return;
	}
	stream = w->first + c->index + c->cycle * opt.conns;
	if (opt.mode == MODE_CONNECT || opt.mode == MODE_HALFCLOSE) {
		c->seed = stream_seed(stream);
		c->sent = c->recvd = 0;
		c->cycle++;
	}
	c->cycle_start = now;
	fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		conn_fail(w, c, ERR_CONNECT, "socket", errno);
		return;
	}
	c->fd = fd;
	c->state = CONN_CONNECTING;
	w->connecting++;
	if (spread_sources && bind_source(fd, stream) == -1) {
		conn_fail(w, c, ERR_CONNECT, "bind", errno);
		return;
	}
	if (opt.mode != MODE_RR && opt.mode != MODE_BULK)
		conn_set_busy(w, c, 1, now);
	/* Nagle would hold pipelined messages; one message is never held. */
	if (opt.mode == MODE_RR || opt.mode == MODE_BULK)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * Edge-triggered with both directions registered once: no
	 * epoll_ctl per message; reads and writes go on until short.
	 */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		conn_fail(w, c, ERR_CONNECT, "epoll_ctl", errno);
		return;
	}
	if (connect(fd, (struct sockaddr *)&target, target_len) == -1 &&
	    errno != EINPROGRESS)
		conn_fail(w, c, ERR_CONNECT, "connect", errno);
}

/* A connect finished; EPOLLERR alone says it failed, sparing a syscall. */
static void
conn_connected(struct worker *w, struct conn *c, uint32_t events,
    uint64_t now)
{
	socklen_t	len = sizeof(int);
	int		err = 0;

	if (events & (EPOLLERR | EPOLLHUP)) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		else if (err == 0)
			err = ENOTCONN;
		conn_fail(w, c, ERR_CONNECT, "connect", err);
		return;
	}
	w->connecting--;
	w->established++;
	c->state = CONN_OPEN;
	c->progress = now;
	switch (opt.mode) {
	case MODE_RR:
		rr_issue(w, c, now);
		break;
	case MODE_HALFCLOSE:
		halfclose_send(w, c, now);
		break;
	default:
		conn_flush(w, c, now);
		break;
	}
}

/* Checks received bytes against what was sent, in content and amount. */
static int
conn_verify(struct worker *w, struct conn *c, size_t n)
{
	const unsigned char	*expect;
	size_t			 i;

	if (n > c->sent - c->recvd) {
		w->errs[ERR_MISMATCH]++;
		report_error(ERR_MISMATCH, "connection %" PRIu64 ": echoed "
		    "%" PRIu64 " bytes where only %" PRIu64 " were sent",
		    w->first + c->index, c->recvd + n, c->sent);
		conn_close(w, c);
		conn_retire(w, c, CONN_DEAD);
		return -1;
	}
	expect = pattern + (c->seed + c->recvd) % pattern_len;
	if (memcmp(w->rbuf, expect, n) != 0) {
		for (i = 0; w->rbuf[i] == expect[i]; i++)
			continue;
		w->errs[ERR_MISMATCH]++;
		report_error(ERR_MISMATCH, "connection %" PRIu64 ": stream "
		    "byte %" PRIu64 " is 0x%02x, expected 0x%02x",
		    w->first + c->index, c->recvd + i, w->rbuf[i], expect[i]);
		conn_close(w, c);
		conn_retire(w, c, CONN_DEAD);
		return -1;
	}
	c->recvd += n;
	return 0;
}

/* The server closed its side: the end of a halfclose, an error else. */
static void
conn_eof(struct worker *w, struct conn *c, uint64_t now)
{
	if (c->state == CONN_SHUT && c->recvd == c->want) {
		cycle_done(w, c, now);
		return;
	}
	w->errs[ERR_EOF]++;
	report_error(ERR_EOF, "connection %" PRIu64 ": server closed it after"
	    " %" PRIu64 " of %" PRIu64 " bytes sent were echoed",
	    w->first + c->index, c->recvd, c->sent);
	conn_close(w, c);
	conn_retire(w, c, CONN_DEAD);
}

/*
 * Reads and verifies until the socket is empty (edge-triggered), letting
 * the mode act on each read.  A short read means empty, as later data
 * brings a new edge; but a FIN that came with this edge does not, so on
 * EPOLLRDHUP we read on to the EOF.  Returns -1 once the conn is gone.
 */
static int
conn_read(struct worker *w, struct conn *c, uint32_t events, uint64_t now)
{
	ssize_t	n;

	for (;;) {
		n = sock_recv(c->fd, w->rbuf, read_max);
		if (n == 0) {
			conn_eof(w, c, now);
			return -1;
		}
		if (n == -1) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			conn_fail(w, c, ERR_RESET, "recv", errno);
			return -1;
		}
		if (conn_verify(w, c, (size_t)n) == -1)
			return -1;
		c->progress = now;
		w->recv_total += (uint64_t)n;
		/* rr counts its bytes as messages complete; idle has none. */
		if (opt.mode != MODE_RR && opt.mode != MODE_IDLE &&
		    in_window(now))
			w->bytes += (uint64_t)n;
		switch (opt.mode) {
		case MODE_RR:
			rr_complete(w, c, now);
			if (rr_issue(w, c, now) == -1)
				return -1;
			break;
		case MODE_BULK:
			conn_set_busy(w, c, c->sent != c->recvd, now);
			break;
		case MODE_HALFCLOSE:
			break;
		case MODE_CONNECT:
			if (c->recvd == c->want) {
				cycle_done(w, c, now);
				return -1;
			}
			break;
		case MODE_IDLE:
			if (c->state == CONN_OPEN && c->recvd == c->want)
				idle_verified(w, c, now);
			break;
		}
		if ((size_t)n < read_max &&
		    (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0)
			return 0;
		/* The next read may hold echoes of what was just sent. */
		now = now_ns();
	}
}

/* Dispatches one epoll event. */
static void
conn_event(struct worker *w, struct conn *c, uint32_t events, uint64_t now)
{
	if (c->state == CONN_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_connected(w, c, events, now);
		return;
	}
	if ((events & ~(uint32_t)EPOLLOUT) != 0 &&
	    conn_read(w, c, events, now) == -1)
		return;
	if ((events & EPOLLOUT) && c->state == CONN_OPEN) {
		if (opt.mode == MODE_HALFCLOSE)
			halfclose_send(w, c, now);
		else
			conn_flush(w, c, now);
	}
}

/* Opens held-back connections as connects in flight complete. */
static void
worker_start_waiting(struct worker *w, uint64_t now)
{
	struct conn	*c;

	while (w->nwaiting > 0 && w->connecting < MAX_CONNECTING &&
	    !w->time_up) {
		c = &w->conns[w->waiting[--w->nwaiting]];
		if (c->state == CONN_WAITING)
			conn_start(w, c, now);
	}
}

/* Drops connections stuck for --timeout: a hung server ends the run. */
static void
worker_check_stalls(struct worker *w, uint64_t now)
{
	struct conn	*c;
	unsigned	 i;

	for (i = 0; i < w->nconns; i++) {
		c = &w->conns[i];
		if (c->state == CONN_CONNECTING) {
			if (now - c->cycle_start >= timeout_ns)
				conn_fail(w, c, ERR_CONNECT, "connect",
				    ETIMEDOUT);
		} else if (c->busy && now - c->progress >= timeout_ns) {
			w->errs[ERR_STALL]++;
			report_error(ERR_STALL, "connection %" PRIu64 ": no "
			    "progress for %.1f s with %" PRIu64 " bytes sent "
			    "and %" PRIu64 " echoed", w->first + i,
			    opt.timeout, c->sent, c->recvd);
			conn_close(w, c);
			conn_retire(w, c, CONN_DEAD);
		}
	}
}

/* Makes the counters visible to the progress line; plain stores on x86. */
static void
worker_publish(struct worker *w)
{
	uint64_t	errors = 0;
	int		i;

	for (i = 0; i < ERR_KINDS; i++)
		errors += w->errs[i];
	atomic_store_explicit(&w->pub_done, w->done_total,
	    memory_order_relaxed);
	atomic_store_explicit(&w->pub_recv, w->recv_total,
	    memory_order_relaxed);
	atomic_store_explicit(&w->pub_errors, errors, memory_order_relaxed);
	atomic_store_explicit(&w->pub_established, w->established,
	    memory_order_relaxed);
}

/* idle: tells main once all are verified or dead; fails laggards. */
static void
idle_check_setup(struct worker *w, uint64_t now)
{
	struct conn	*c;
	unsigned	 i;

	if (w->setup_done)
		return;
	if (w->pending > 0 && now >= setup_deadline) {
		for (i = 0; i < w->nconns; i++) {
			c = &w->conns[i];
			if (c->state == CONN_HOLD || c->state == CONN_DEAD)
				continue;
			w->errs[ERR_STALL]++;
			report_error(ERR_STALL, "connection %" PRIu64 ": not "
			    "verified by the end of the setup", w->first + i);
			conn_close(w, c);
			conn_retire(w, c, CONN_DEAD);
		}
	}
	if (w->pending == 0) {
		worker_publish(w);
		w->setup_done = 1;
		atomic_store(&w->pub_setup_done, 1);
		sem_post(&main_wake);
	}
}

/* Decides whether the thread's part of the run is over. */
static int
worker_finished(struct worker *w, uint64_t now)
{
	if (atomic_load_explicit(&stop_flag, memory_order_relaxed))
		return 1;
	if (!w->time_up && now >= run_end) {
		/* Give what is in flight up to --timeout to come back. */
		w->time_up = 1;
		w->drain_end = now + timeout_ns;
	}
	if (w->live == 0)
		return 1;
	/*
	 * -R hands the quota out on schedule, maybe to connections not
	 * yet open to send their share: their connects must end first.
	 */
	if ((w->time_up || (w->started >= w->quota &&
	    (opt.rate == 0 || w->connecting == 0))) && w->busy == 0)
		return 1;
	return w->time_up && now >= w->drain_end;
}

/*
 * Waits for events for at most timeout nanoseconds.  epoll_pwait2 keeps
 * -R sends on time, where epoll_wait's milliseconds would add up to 1 ms
 * of false latency; kernels before 5.11 fall back to epoll_wait.
 */
static int
wait_events(int epfd, struct epoll_event *events, uint64_t timeout)
{
	struct timespec	ts;
	int		n;

	if (use_pwait2) {
		ts.tv_sec = (time_t)(timeout / NS_PER_S);
		ts.tv_nsec = (long)(timeout % NS_PER_S);
		n = epoll_pwait2(epfd, events, MAX_EVENTS, &ts, NULL);
		if (n != -1 || errno != ENOSYS)
			return n;
		use_pwait2 = 0;
	}
	return epoll_wait(epfd, events, MAX_EVENTS,
	    (int)((timeout + NS_PER_MS - 1) / NS_PER_MS));
}

/* One thread's event loop over its share of the connections. */
static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 events[MAX_EVENTS];
	uint64_t		 now, timeout;
	unsigned		 i;
	int			 n;

	if (opt.rate > 0)
		prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	now = now_ns();
	w->next_check = now + STALL_CHECK_NS;
	for (;;) {
		worker_start_waiting(w, now);
		if (opt.rate > 0)
			rate_schedule(w, now);
		if (now >= w->next_check) {
			worker_check_stalls(w, now);
			w->next_check = now + STALL_CHECK_NS;
		}
		if (opt.mode == MODE_IDLE)
			idle_check_setup(w, now);
		worker_publish(w);
		if (worker_finished(w, now))
			break;
		timeout = POLL_MAX_NS;
		if (opt.rate > 0 && w->next_due - now < timeout)
			timeout = w->next_due - now;
		n = wait_events(w->epfd, events, timeout);
		if (n == -1 && errno != EINTR) {
			fprintf(stderr, "echobench: epoll_wait: %s\n",
			    strerror(errno));
			break;
		}
		for (i = 0; n > 0 && i < (unsigned)n; i++) {
			now = now_ns();
			conn_event(w, events[i].data.ptr, events[i].events,
			    now);
		}
		/* Never behind a time a long read loop stamped on a conn. */
		now = now_ns();
	}
	for (i = 0; i < w->nconns; i++)
		if (w->conns[i].fd != -1)
			close(w->conns[i].fd);
	w->end_ns = now;
	worker_publish(w);
	atomic_store(&w->pub_finished, 1);
	sem_post(&main_wake);
	return NULL;
}

/* Share of total that thread number t of n gets, remainders spread. */
static uint64_t
share(uint64_t total, uint64_t t, uint64_t n)
{
	return total * (t + 1) / n - total * t / n;
}

/* Gives a thread its connections, buffers and quota before it starts. */
static int
worker_init(struct worker *w, uint64_t t)
{
	struct conn	*c;
	uint64_t	 requests;
	unsigned	 i;

	w->first = opt.conns * t / opt.threads;
	w->nconns = (unsigned)share(opt.conns, t, opt.threads);
	w->conns = calloc(w->nconns, sizeof(*w->conns));
	w->waiting = calloc(w->nconns, sizeof(*w->waiting));
	w->rbuf = malloc(READ_SIZE);
	w->hist = calloc(1, sizeof(*w->hist));
	if (opt.mode == MODE_RR && opt.rate == 0)
		w->ring = calloc((size_t)w->nconns * opt.pipeline,
		    sizeof(*w->ring));
	if (w->conns == NULL || w->waiting == NULL || w->rbuf == NULL ||
	    w->hist == NULL || (opt.mode == MODE_RR && opt.rate == 0 &&
	    w->ring == NULL))
		return -1;
	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;

	w->quota = UINT64_MAX;
	if (opt.requests > 0) {
		/* Split like the connections: each thread a fair share. */
		requests = opt.requests * (w->first + w->nconns) / opt.conns -
		    opt.requests * w->first / opt.conns;
		w->quota = opt.mode == MODE_BULK ? requests * opt.size :
		    requests;
	}
	if (opt.rate > 0)
		w->ns_per_msg = (double)NS_PER_S * (double)opt.conns /
		    (opt.rate * (double)w->nconns);
	w->pending = w->nconns;
	for (i = 0; i < w->nconns; i++) {
		c = &w->conns[i];
		c->fd = -1;
		c->index = i;
		c->state = CONN_WAITING;
		c->seed = stream_seed(w->first + i);
		c->want = opt.mode == MODE_HALFCLOSE ? opt.bytes : opt.size;
		c->next_done = opt.size;
		if (w->ring != NULL)
			c->sent_at = w->ring + (size_t)i * opt.pipeline;
	}
	/* Pushed last to first so that connection 0 is opened first. */
	for (i = w->nconns; i-- > 0;) {
		c = &w->conns[i];
		if (opt.mode == MODE_CONNECT || opt.mode == MODE_HALFCLOSE) {
			if (w->started >= w->quota) {
				c->state = CONN_DONE;
				continue;
			}
			w->started++;
		}
		w->waiting[w->nwaiting++] = i;
		w->live++;
	}
	return 0;
}

/* Frees what worker_init allocated. */
static void
worker_free(struct worker *w)
{
	close(w->epfd);
	free(w->conns);
	free(w->waiting);
	free(w->rbuf);
	free(w->ring);
	free(w->hist);
}

/* Lets Ctrl-C end the run early with a report of what was measured. */
static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* Sleeps until deadline or until a worker or a signal wakes us. */
static void
main_sleep(uint64_t deadline)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(deadline / NS_PER_S);
	ts.tv_nsec = (long)(deadline % NS_PER_S);
	while (sem_clockwait(&main_wake, CLOCK_MONOTONIC, &ts) == -1 &&
	    errno == EINTR && !got_signal)
		continue;
}

/* Redraws the once-a-second progress line on stderr. */
static void
progress(uint64_t now, uint64_t *last_done, uint64_t *last_recv,
    uint64_t *last_ns)
{
	uint64_t	done = 0, recv_bytes = 0, errors = 0, established = 0;
	double		secs = (double)(now - *last_ns) / 1e9;
	uint64_t	t;

	for (t = 0; t < opt.threads; t++) {
		done += atomic_load_explicit(&workers[t].pub_done,
		    memory_order_relaxed);
		recv_bytes += atomic_load_explicit(&workers[t].pub_recv,
		    memory_order_relaxed);
		errors += atomic_load_explicit(&workers[t].pub_errors,
		    memory_order_relaxed);
		established += atomic_load_explicit(
		    &workers[t].pub_established, memory_order_relaxed);
	}
	if (opt.mode == MODE_IDLE)
		fprintf(stderr, "\r%6.1fs  established %" PRIu64 "/%" PRIu64
		    "  verified %" PRIu64 "  errors %" PRIu64 "\033[K",
		    (double)(now - run_start) / (double)NS_PER_S, established,
		    opt.conns, done, errors);
	else
		fprintf(stderr, "\r%6.1fs  %10.1f %s/s  %9.2f MB/s  errors %"
		    PRIu64 "%s\033[K",
		    (double)(now - run_start) / (double)NS_PER_S,
		    opt.mode == MODE_BULK ? (double)(recv_bytes - *last_recv) /
		    (double)opt.size / secs :
		    (double)(done - *last_done) / secs,
		    opt.mode == MODE_RR || opt.mode == MODE_BULK ? "msg" :
		    "conn", (double)(recv_bytes - *last_recv) / 1e6 / secs,
		    errors, now < measure_start ? "  (warm-up)" : "");
	*last_done = done;
	*last_recv = recv_bytes;
	*last_ns = now;
}

/* True once every worker has finished, or with setup, finished its setup. */
static int
all_workers(int setup)
{
	uint64_t	t;

	for (t = 0; t < opt.threads; t++)
		if (!atomic_load(setup ? &workers[t].pub_setup_done :
		    &workers[t].pub_finished))
			return 0;
	return 1;
}

/* Runs the workers, watches the clock and signals, then collects. */
static void
run(void)
{
	sigset_t	block, old;
	uint64_t	now, next_tick, deadline, hold_start = 0, hold_end = 0;
	uint64_t	last_done = 0, last_recv = 0, last_ns;
	uint64_t	t, end = 0, verified = 0;
	int		holding = 0, rc;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	last_ns = run_start = now_ns();
	measure_start = run_start + secs_to_ns(opt.warmup);
	run_end = UINT64_MAX;
	if (opt.mode != MODE_IDLE && opt.duration > 0)
		run_end = measure_start + secs_to_ns(opt.duration);
	setup_deadline = run_start + secs_to_ns(opt.duration) + timeout_ns;
	for (t = 0; t < opt.threads; t++) {
		rc = pthread_create(&workers[t].thread, NULL, worker_main,
		    &workers[t]);
		if (rc != 0) {
			fprintf(stderr, "echobench: pthread_create: %s\n",
			    strerror(rc));
			exit(1);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	next_tick = run_start + NS_PER_S;
	while (!all_workers(0)) {
		now = now_ns();
		if (got_signal)
			atomic_store(&stop_flag, 1);
		if (opt.mode == MODE_IDLE && !holding &&
		    all_workers(1)) {
			holding = 1;
			hold_start = now;
			hold_end = now + secs_to_ns(opt.duration);
			for (t = 0; t < opt.threads; t++)
				verified += atomic_load(&workers[t].pub_done);
			if (!opt.quiet)
				fprintf(stderr, "%sechobench: %" PRIu64
				    " connections open and verified, holding "
				    "them for %.2f s\n", show_progress ?
				    "\r\033[K" : "", verified,
				    opt.duration);
		}
		if (holding && now >= hold_end)
			atomic_store(&stop_flag, 1);
		if (show_progress && now >= next_tick) {
			progress(now, &last_done, &last_recv, &last_ns);
			next_tick += NS_PER_S;
		}
		deadline = now + NS_PER_S;
		if (show_progress && next_tick < deadline)
			deadline = next_tick;
		if (holding && hold_end < deadline)
			deadline = hold_end;
		main_sleep(deadline);
	}
	if (show_progress)
		fputs("\r\033[K", stderr);

	for (t = 0; t < opt.threads; t++) {
		pthread_join(workers[t].thread, NULL);
		totals.msgs += workers[t].msgs;
		totals.bytes += workers[t].bytes;
		totals.established += workers[t].established;
		for (rc = 0; rc < ERR_KINDS; rc++)
			totals.errs[rc] += workers[t].errs[rc];
		hist_merge(&totals.hist, workers[t].hist);
		if (workers[t].end_ns > end)
			end = workers[t].end_ns;
	}
	if (opt.mode == MODE_BULK)
		totals.msgs = totals.bytes / opt.size;
	if (opt.mode == MODE_IDLE) {
		if (holding) {
			totals.secs = (double)(end - hold_start) / 1e9;
			totals.setup_secs = (double)(hold_start - run_start) /
			    1e9;
		}
	} else {
		if (end > run_end)
			end = run_end;
		if (end > measure_start)
			totals.secs = (double)(end - measure_start) / 1e9;
	}
	if (totals.secs > 0) {
		if (opt.mode != MODE_IDLE)
			totals.msg_rate = (double)totals.msgs / totals.secs;
		totals.mb_rate = (double)totals.bytes / 1e6 / totals.secs;
	}
	if (opt.mode == MODE_CONNECT || opt.mode == MODE_HALFCLOSE)
		totals.conn_rate = totals.msg_rate;
	else if (opt.mode == MODE_IDLE && totals.setup_secs > 0)
		totals.conn_rate = (double)totals.established /
		    totals.setup_secs;
}

/* One name=value pair of the machine-readable result. */
struct field {
	const char	*key;
	char		 value[32];
	int		 is_string;
};

/*
 * Prints the result as the key=value line or as one JSON object, both
 * from the same list so that the two cannot drift apart.
 */
static void
print_machine(int json)
{
	struct field	 f[32];
	unsigned	 n = 0, i;
	int		 k;
	const double	 q[] = { 0.50, 0.90, 0.99, 0.999 };
	const char	*qkeys[] = {
		"p50_us", "p90_us", "p99_us", "p999_us"
	};

#define FIELD(name, quoted, ...) do {					\
	f[n].key = (name);						\
	f[n].is_string = (quoted);					\
	snprintf(f[n].value, sizeof(f[n].value), __VA_ARGS__);		\
	n++;								\
} while (0)
	FIELD("mode", 1, "%s", mode_names[opt.mode]);
	FIELD("conns", 0, "%" PRIu64, opt.conns);
	FIELD("threads", 0, "%" PRIu64, opt.threads);
	FIELD("size", 0, "%" PRIu64, opt.size);
	FIELD("secs", 0, "%.2f", totals.secs);
	FIELD("msgs", 0, "%" PRIu64, totals.msgs);
	FIELD("msg_per_s", 0, "%.1f", totals.msg_rate);
	FIELD("mb_per_s", 0, "%.2f", totals.mb_rate);
	FIELD("conn_per_s", 0, "%.1f", totals.conn_rate);
	for (i = 0; i < 4; i++)
		FIELD(qkeys[i], 0, "%" PRIu64,
		    (hist_percentile(&totals.hist, q[i]) + 500) / 1000);
	FIELD("max_us", 0, "%" PRIu64, (totals.hist.max + 500) / 1000);
	FIELD("errors", 0, "%" PRIu64, totals.errors);
	for (k = 0; k < ERR_KINDS; k++)
		FIELD(error_keys[k], 0, "%" PRIu64, totals.errs[k]);
	FIELD("established", 0, "%" PRIu64, totals.established);
#undef FIELD

	if (json) {
		putchar('{');
		for (i = 0; i < n; i++)
			printf("%s\"%s\":%s%s%s", i ? "," : "", f[i].key,
			    f[i].is_string ? "\"" : "", f[i].value,
			    f[i].is_string ? "\"" : "");
		puts("}");
	} else {
		fputs("echobench:", stdout);
		for (i = 0; i < n; i++)
			printf(" %s=%s", f[i].key, f[i].value);
		putchar('\n');
	}
}

/* Prints the summary for people, on stdout before the key=value line. */
static void
print_human(void)
{
	int	k;

	printf("mode          %s: ", mode_names[opt.mode]);
	switch (opt.mode) {
	case MODE_RR:
		printf("%" PRIu64 "-byte messages, %" PRIu64 " in flight per "
		    "connection", opt.size, opt.pipeline);
		if (opt.rate > 0)
			printf(", %.1f msg/s offered (open loop)", opt.rate);
		break;
	case MODE_BULK:
		printf("%" PRIu64 "-byte writes, both directions at once",
		    opt.size);
		break;
	case MODE_CONNECT:
		printf("connect, echo %" PRIu64 " bytes, close", opt.size);
		break;
	case MODE_IDLE:
		printf("one %" PRIu64 "-byte echo per connection, then held "
		    "open", opt.size);
		break;
	case MODE_HALFCLOSE:
		printf("%" PRIu64 " bytes each way in %" PRIu64 "-byte writes,"
		    " then half-close", opt.bytes, opt.size);
		break;
	}
	printf("\nserver        %s port %s\n", target_host, opt.port);
	printf("connections   %" PRIu64 " at once, %" PRIu64 " established"
	    ", %" PRIu64 " thread%s\n", opt.conns, totals.established,
	    opt.threads, opt.threads == 1 ? "" : "s");
	if (opt.mode == MODE_IDLE)
		printf("time          %.2f s to open and verify, %.2f s held\n",
		    totals.setup_secs, totals.secs);
	else
		printf("time          %.2f s measured after %.2f s warm-up\n",
		    totals.secs, opt.warmup);
	if (opt.mode == MODE_IDLE)
		printf("verified      %" PRIu64 " (opened at %.1f/s)\n",
		    totals.msgs, totals.conn_rate);
	else
		printf("%-13s %" PRIu64 " (%.1f/s)\n", opt.mode == MODE_RR ?
		    "messages" : opt.mode == MODE_BULK ? "chunks" :
		    "connections", totals.msgs, totals.msg_rate);
	if (opt.mode == MODE_BULK || opt.mode == MODE_HALFCLOSE ||
	    opt.mode == MODE_RR)
		printf("throughput    %.2f MB/s echoed\n", totals.mb_rate);
	if (totals.hist.total > 0)
		printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f"
		    "  max %.1f\n",
		    (double)hist_percentile(&totals.hist, 0.50) / 1e3,
		    (double)hist_percentile(&totals.hist, 0.90) / 1e3,
		    (double)hist_percentile(&totals.hist, 0.99) / 1e3,
		    (double)hist_percentile(&totals.hist, 0.999) / 1e3,
		    (double)totals.hist.max / 1e3);
	printf("errors        %" PRIu64, totals.errors);
	if (totals.errors > 0) {
		for (k = 0; k < ERR_KINDS; k++)
			printf("%s%s %" PRIu64, k ? ", " : " (",
			    error_words[k], totals.errs[k]);
		putchar(')');
	}
	putchar('\n');
}

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fputs(
"usage: echobench [options] [HOST] PORT\n"
"Loads a TCP echo server and checks every byte it echoes.\n"
"\n"
"  -m, --mode MODE        rr, bulk, connect, idle or halfclose (default rr)\n"
"  -H, --host HOST        server name or address (default 127.0.0.1)\n"
"  -p, --port PORT        server port\n"
"  -c, --connections N    connections at once (default 100)\n"
"  -t, --threads N        threads, each with its own epoll loop (default 1)\n"
"  -d, --duration SECS    measured time; idle: time held (default 10)\n"
"  -w, --warmup SECS      unmeasured time first (default 1)\n"
"  -s, --size BYTES       message size; bulk, halfclose: write size\n"
"                         (default 64; bulk, halfclose: 65536)\n"
"  -P, --pipeline N       rr: messages in flight per connection (default 1)\n"
"  -R, --rate N           rr: total messages per second, open loop\n"
"  -r, --requests N       stop after N messages (connect, halfclose: N\n"
"                         connections; bulk: N chunks); no warm-up\n"
"  -n, --bytes BYTES      halfclose: bytes per connection (default 1M)\n"
"      --timeout SECS     no progress this long is a stall (default 5)\n"
"      --json             print the result as one JSON object\n"
"  -q, --quiet            no progress line\n"
"  -h, --help             show this help and exit\n"
"  -V, --version          show the version and exit\n"
"BYTES take a k, m or g suffix (powers of 1024).\n", f);
}

/* Reports a bad command line the same way every time and exits 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("echobench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'echobench --help'\n", stderr);
	exit(2);
}

/* Parses a whole number in [min, max], with a k/m/g suffix if allowed. */
static uint64_t
parse_count(const char *name, const char *s, uint64_t min, uint64_t max,
    int suffix)
{
	unsigned long long	 v;
	uint64_t		 mult = 1;
	char			*end;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		usage_error("%s '%s' is not a number", name, s);
	v = strtoull(s, &end, 10);
	if (suffix && *end != '\0' && end[1] == '\0') {
		switch (tolower((unsigned char)*end)) {
		case 'k':
			mult = 1024;
			end++;
			break;
		case 'm':
			mult = 1024 * 1024;
			end++;
			break;
		case 'g':
			mult = 1024 * 1024 * 1024;
			end++;
			break;
		}
	}
	if (*end != '\0')
		usage_error("%s '%s' is not a number", name, s);
	if (errno == ERANGE || v > max / mult || v * mult < min ||
	    v * mult > max)
		usage_error("%s '%s' is out of range (%" PRIu64 " to %" PRIu64
		    ")", name, s, min, max);
	return v * mult;
}

/* Parses a decimal number in [0, max]; zero only where allow_zero. */
static double
parse_real(const char *name, const char *s, double min, double max)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		usage_error("%s '%s' is not a number", name, s);
	if (v < min || v > max)
		usage_error("%s '%s' is out of range (%g to %.0f)", name, s,
		    min, max);
	return v;
}

/* Reads the command line into opt; exits 2 on anything wrong. */
static void
parse_options(int argc, char **argv)
{
	enum {
		OPT_TIMEOUT = 256,
		OPT_JSON
	};
	static const struct option	longopts[] = {
		{ "host",	 required_argument, NULL, 'H' },
		{ "port",	 required_argument, NULL, 'p' },
		{ "mode",	 required_argument, NULL, 'm' },
		{ "size",	 required_argument, NULL, 's' },
		{ "pipeline",	 required_argument, NULL, 'P' },
		{ "connections", required_argument, NULL, 'c' },
		{ "duration",	 required_argument, NULL, 'd' },
		{ "warmup",	 required_argument, NULL, 'w' },
		{ "threads",	 required_argument, NULL, 't' },
		{ "rate",	 required_argument, NULL, 'R' },
		{ "requests",	 required_argument, NULL, 'r' },
		{ "bytes",	 required_argument, NULL, 'n' },
		{ "timeout",	 required_argument, NULL, OPT_TIMEOUT },
		{ "json",	 no_argument,	    NULL, OPT_JSON },
		{ "quiet",	 no_argument,	    NULL, 'q' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ NULL,		 0,		    NULL, 0 }
	};
	int	ch, size_set = 0, pipeline_set = 0, bytes_set = 0;
	int	duration_set = 0, warmup_set = 0;

	opt.host = "127.0.0.1";
	opt.mode = MODE_RR;
	opt.pipeline = 1;
	opt.conns = 100;
	opt.threads = 1;
	opt.bytes = 1024 * 1024;
	opt.duration = 10;
	opt.warmup = 1;
	opt.timeout = 5;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, SHORT_OPTIONS, longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'H':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = optarg;
			break;
		case 'm':
			for (opt.mode = MODE_RR; opt.mode <= MODE_HALFCLOSE;
			    opt.mode++)
				if (strcmp(optarg, mode_names[opt.mode]) == 0)
					break;
			if (opt.mode > MODE_HALFCLOSE)
				usage_error("unknown mode '%s' (rr, bulk, "
				    "connect, idle or halfclose)", optarg);
			break;
		case 's':
			opt.size = parse_count("--size", optarg, 1, MAX_SIZE,
			    1);
			size_set = 1;
			break;
		case 'P':
			opt.pipeline = parse_count("--pipeline", optarg, 1,
			    MAX_PIPELINE, 0);
			pipeline_set = 1;
			break;
		case 'c':
			opt.conns = parse_count("--connections", optarg, 1,
			    MAX_CONNS, 0);
			break;
		case 'd':
			opt.duration = parse_real("--duration", optarg,
			    MIN_SECONDS, MAX_SECONDS);
			duration_set = 1;
			break;
		case 'w':
			opt.warmup = parse_real("--warmup", optarg, 0,
			    MAX_SECONDS);
			warmup_set = 1;
			break;
		case 't':
			opt.threads = parse_count("--threads", optarg, 1,
			    MAX_THREADS, 0);
			break;
		case 'R':
			opt.rate = parse_real("--rate", optarg, MIN_RATE, MAX_RATE);
			break;
		case 'r':
			opt.requests = parse_count("--requests", optarg, 1,
			    MAX_REQUESTS, 0);
			break;
		case 'n':
			opt.bytes = parse_count("--bytes", optarg, 1,
			    MAX_BYTES, 1);
			bytes_set = 1;
			break;
		case OPT_TIMEOUT:
			opt.timeout = parse_real("--timeout", optarg,
			    MIN_SECONDS, MAX_SECONDS);
			break;
		case OPT_JSON:
			opt.json = 1;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			puts("echobench " PACKAGE_VERSION);
			exit(0);
		case ':':
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				usage_error("option '%s' needs a value",
				    argv[optind - 1]);
			usage_error("option '-%c' needs a value", optopt);
		default:
			/*
			 * A bad letter with more after it, as in -Wfoo,
			 * leaves optind on its word, so argv names only a
			 * long option; a known one here was given a value
			 * it does not take (--json=1).
			 */
			if (optopt == 0)
				usage_error("unknown option '%s'",
				    argv[optind - 1]);
			if (optopt >= OPT_TIMEOUT || (optopt != ':' &&
			    strchr(SHORT_OPTIONS, optopt) != NULL))
				usage_error("option '%.*s' takes no value",
				    (int)strcspn(argv[optind - 1], "="),
				    argv[optind - 1]);
			usage_error("unknown option '-%c'", optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 2)
		usage_error("too many arguments");
	if (argc == 2) {
		opt.host = argv[0];
		argv++;
		argc--;
	}
	if (argc == 1) {
		if (opt.port != NULL)
			usage_error("port given twice");
		opt.port = argv[0];
	}
	if (opt.port == NULL)
		usage_error("no port given");

	if (!size_set)
		opt.size = opt.mode == MODE_BULK ||
		    opt.mode == MODE_HALFCLOSE ? 65536 : 64;
	if (opt.mode != MODE_RR && pipeline_set)
		usage_error("--pipeline applies to rr mode only");
	if (opt.mode != MODE_RR && opt.rate > 0)
		usage_error("--rate applies to rr mode only");
	if (opt.mode != MODE_HALFCLOSE && bytes_set)
		usage_error("--bytes applies to halfclose mode only");
	if (opt.mode == MODE_IDLE && opt.requests > 0)
		usage_error("--requests does not apply to idle mode");
	if (opt.requests > 0) {
		if (warmup_set)
			usage_error("--requests counts every message, so it "
			    "takes no --warmup");
		opt.warmup = 0;
		if (!duration_set)
			opt.duration = 0;
	}
	if (opt.threads > opt.conns)
		usage_error("--threads %" PRIu64 " is more than the %" PRIu64
		    " connections", opt.threads, opt.conns);
}

/* Lifts the open files limit to its ceiling so 10000+ connections fit. */
static int
raise_fd_limit(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < opt.conns + opt.threads + FD_RESERVE) {
		fprintf(stderr, "echobench: %" PRIu64 " connections need %"
		    PRIu64 " file descriptors, the limit is %llu\n", opt.conns,
		    opt.conns + opt.threads + FD_RESERVE,
		    (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* Connects once with a timeout: the result for each candidate address. */
static int
probe_address(const struct addrinfo *ai)
{
	struct pollfd	pfd;
	socklen_t	len = sizeof(int);
	int		fd, err = 0, rc;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS)
			err = errno;
		else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			rc = poll(&pfd, 1, (int)(timeout_ns / NS_PER_MS));
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
	const struct sockaddr_in	*sin = (struct sockaddr_in *)&target;
	int				 fd, ok;

	if (target.ss_family != AF_INET ||
	    (ntohl(sin->sin_addr.s_addr) >> 24) != IN_LOOPBACKNET)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	ok = bind_source(fd, LOOPBACK_SOURCES - 1) == 0;
	close(fd);
	return ok;
}

/*
 * Resolves the server and connects once, so that an unreachable server
 * fails at once with a clear message rather than a run of errors.
 */
static int
resolve_target(void)
{
	struct addrinfo	 hints, *res, *ai;
	int		 rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(opt.host, opt.port, &hints, &res)) != 0) {
		fprintf(stderr, "echobench: %s port %s: %s\n", opt.host,
		    opt.port, gai_strerror(rc));
		snprintf(target_host, sizeof(target_host), "%s", opt.host);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, target_host,
		    sizeof(target_host), NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(target_host, sizeof(target_host), "%s",
			    opt.host);
		if ((err = probe_address(ai)) == 0) {
			memcpy(&target, ai->ai_addr, ai->ai_addrlen);
			target_len = ai->ai_addrlen;
			break;
		}
	}
	freeaddrinfo(res);
	if (err != 0) {
		fprintf(stderr, "echobench: cannot connect to %s port %s: %s\n",
		    target_host, opt.port, strerror(err));
		return -1;
	}
	spread_sources = loopback_sources_usable();
	return 0;
}

/* Sets up, runs, reports; the exit status says whether the run was clean. */
int
main(int argc, char **argv)
{
	struct sigaction	sa;
	uint64_t		t;
	int			k, status;

	parse_options(argc, argv);
	timeout_ns = secs_to_ns(opt.timeout);
	show_progress = !opt.quiet && isatty(STDERR_FILENO);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (raise_fd_limit() == -1)
		return 1;
	if (resolve_target() == -1) {
		totals.errs[ERR_CONNECT] = totals.errors = 1;
		print_machine(opt.json);
		return 1;
	}
	if (pattern_init() == -1 || sem_init(&main_wake, 0, 0) == -1 ||
	    (workers = calloc(opt.threads, sizeof(*workers))) == NULL) {
		fprintf(stderr, "echobench: out of memory\n");
		return 1;
	}
	for (t = 0; t < opt.threads; t++) {
		if (worker_init(&workers[t], t) == -1) {
			fprintf(stderr, "echobench: cannot set up thread %"
			    PRIu64 ": %s\n", t, strerror(errno));
			return 1;
		}
	}
	run();

	for (k = 0; k < ERR_KINDS; k++)
		totals.errors += totals.errs[k];
	if (!opt.json)
		print_human();
	print_machine(opt.json);
	status = 0;
	if (totals.errors > 0)
		status = 1;
	else if (totals.established == 0 || totals.msgs == 0) {
		fprintf(stderr, "echobench: nothing was echoed in the "
		    "measured time\n");
		status = 1;
	}
	for (t = 0; t < opt.threads; t++)
		worker_free(&workers[t]);
	free(workers);
	free(pattern);
	sem_destroy(&main_wake);
	return status;
}
