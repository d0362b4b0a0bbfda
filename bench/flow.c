/* SPDX-License-Identifier: ISC */
/*
 * flow.c - one connection slot's life, in every mode: opened, fed its
 * share of the pattern, every echoed byte checked, timed, closed or
 * opened again.  The modes' steps stay in this file with the reads and
 * sends they follow: what runs per message is then static and inlined
 * into the few functions gen.c calls, hist_record() apart.
 */

#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "echobench.h"

/*
 * Connects in flight per thread: enough to open thousands of connections
 * in well under a second on a LAN, few enough not to overflow a listen
 * backlog of a few hundred, which would turn into SYN retransmits.
 */
#define MAX_CONNECTING		256

static void	flow_fail(struct gen *, struct flow *, enum error_kind,
		    const char *, int);
static void	flow_start(struct gen *, struct flow *, uint64_t);

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

/* Intended send time of a connection's message k under -R. */
static uint64_t
rate_intended(const struct gen *g, const struct flow *f, uint64_t k)
{
	double	slot = (double)(k * g->nflows + f->index);

	return run.start + (uint64_t)(slot * g->ns_per_msg);
}

/* True while now lies in the measured window. */
static int
in_window(uint64_t now)
{
	return now >= run.measure_start && now < run.end;
}

/* Counts connections owing us data; owing starts the stall clock. */
static void
flow_set_busy(struct gen *g, struct flow *f, int busy, uint64_t now)
{
	if (f->busy == busy)
		return;
	f->busy = busy;
	if (busy) {
		g->busy++;
		f->progress = now;
	} else
		g->busy--;
}

/* Closes the socket, leaving the slot's fate to the caller. */
static void
flow_close(struct gen *g, struct flow *f)
{
	if (f->state == FLOW_CONNECTING)
		g->connecting--;
	if (f->fd != -1) {
		close(f->fd);
		f->fd = -1;
	}
	flow_set_busy(g, f, 0, 0);
}

/* Takes a slot out of the run for good. */
static void
flow_retire(struct gen *g, struct flow *f, enum flow_state state)
{
	if (run.opt.mode == MODE_IDLE && f->state != FLOW_HOLD)
		g->pending--;
	f->state = state;
	g->live--;
}

/* Counts an error against a connection and drops it. */
static void
flow_fail(struct gen *g, struct flow *f, enum error_kind kind,
    const char *what, int err)
{
	g->errs[kind]++;
	report_error(kind, "connection %" PRIu64 ": %s: %s (%" PRIu64
	    " bytes sent, %" PRIu64 " echoed)", g->first + f->index, what,
	    strerror(err), f->sent, f->recvd);
	flow_close(g, f);
	flow_retire(g, f, FLOW_DEAD);
}

/* Sends what the stream owes the server, as far as the socket takes it. */
static int
flow_flush(struct gen *g, struct flow *f, uint64_t now)
{
	uint64_t	left, len;
	ssize_t		n;

	for (;;) {
		if (run.opt.mode == MODE_BULK) {
			if (g->time_up)
				return 0;
			left = g->quota - g->started;
		} else
			left = f->want - f->sent;
		if (left == 0)
			return 0;
		len = left < pattern.write_max ? left : pattern.write_max;
		n = sock_send(f->fd, pattern.bytes + (f->seed + f->sent) %
		    pattern.len, len);
		if (n == -1) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			flow_fail(g, f, ERR_RESET, "send", errno);
			return -1;
		}
		f->sent += (uint64_t)n;
		if (run.opt.mode == MODE_BULK) {
			g->started += (uint64_t)n;
			flow_set_busy(g, f, 1, now);
		}
		if ((uint64_t)n < len)
			return 0;
	}
}

/* Starts what pipeline, schedule and quota allow, sent in one write. */
static int
rr_issue(struct gen *g, struct flow *f, uint64_t now)
{
	while (!g->time_up && f->issued - f->completed < run.opt.pipeline) {
		if (run.opt.rate > 0) {
			if (f->issued == f->scheduled)
				break;
		} else {
			if (g->started == g->quota)
				break;
			g->started++;
			f->sent_at[f->issued % run.opt.pipeline] = now;
		}
		f->issued++;
	}
	f->want = f->issued * run.opt.size;
	flow_set_busy(g, f, f->issued != f->completed, now);
	return flow_flush(g, f, now);
}

/* Records every message the bytes received so far have completed. */
static void
rr_complete(struct gen *g, struct flow *f, uint64_t now)
{
	uint64_t	start;

	while (f->recvd >= f->next_done) {
		if (run.opt.rate > 0)
			start = rate_intended(g, f, f->completed);
		else
			start = f->sent_at[f->completed % run.opt.pipeline];
		f->completed++;
		f->next_done += run.opt.size;
		g->done_total++;
		if (in_window(now)) {
			g->msgs++;
			g->bytes += run.opt.size;
			hist_record(g->hist, now - start);
		}
	}
}

/*
 * Hands due -R messages to their connections, round robin; latency is
 * later taken from these intended times, not from when they went out,
 * so a server that falls behind is charged for the wait (wrk2's fix for
 * coordinated omission).
 */
void
flow_schedule(struct gen *g, uint64_t now)
{
	struct flow	*f;
	uint64_t	 due;

	while (!g->time_up && g->next_slot < g->quota) {
		due = run.start + (uint64_t)((double)g->next_slot *
		    g->ns_per_msg);
		if (due > now) {
			g->next_due = due;
			return;
		}
		f = &g->flows[g->next_slot % g->nflows];
		g->next_slot++;
		g->started = g->next_slot;
		f->scheduled++;
		if (f->state == FLOW_OPEN)
			rr_issue(g, f, now);
	}
	g->next_due = UINT64_MAX;
}

/* halfclose: sends the stream, then shuts our side once all is out. */
static int
halfclose_send(struct gen *g, struct flow *f, uint64_t now)
{
	if (flow_flush(g, f, now) == -1)
		return -1;
	if (f->sent == f->want) {
		if (shutdown(f->fd, SHUT_WR) == -1) {
			flow_fail(g, f, ERR_RESET, "shutdown", errno);
			return -1;
		}
		f->state = FLOW_SHUT;
	}
	return 0;
}

/* Starts the slot's next connection or, with time or quota up, ends it. */
static void
cycle_next(struct gen *g, struct flow *f, uint64_t now)
{
	if (g->time_up || g->started >= g->quota) {
		flow_retire(g, f, FLOW_DONE);
		return;
	}
	g->started++;
	flow_start(g, f, now);
}

/* connect and halfclose: one connection did all it should. */
static void
cycle_done(struct gen *g, struct flow *f, uint64_t now)
{
	g->done_total++;
	if (in_window(now)) {
		g->msgs++;
		hist_record(g->hist, now - f->cycle_start);
	}
	flow_close(g, f);
	f->state = FLOW_WAITING;
	cycle_next(g, f, now);
}

/* idle: the connection echoed its message; from now on it only waits. */
static void
idle_verified(struct gen *g, struct flow *f, uint64_t now)
{
	f->state = FLOW_HOLD;
	flow_set_busy(g, f, 0, now);
	g->pending--;
	g->done_total++;
	g->msgs++;
	hist_record(g->hist, now - f->cycle_start);
}

/* Opens a connection for the slot, unless too many are being opened. */
static void
flow_start(struct gen *g, struct flow *f, uint64_t now)
{
	struct epoll_event	ev;
	uint64_t		stream;
	int			fd, one = 1;

	if (g->connecting >= MAX_CONNECTING) {
		f->state = FLOW_WAITING;
		g->waiting[g->nwaiting++] = f->index;
		return;
	}
	stream = g->first + f->index + f->cycle * run.opt.conns;
	if (run.opt.mode == MODE_CONNECT ||
	    run.opt.mode == MODE_HALFCLOSE) {
		f->seed = pattern_seed(stream);
		f->sent = f->recvd = 0;
		f->cycle++;
	}
	f->cycle_start = now;
	fd = socket(run.target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		flow_fail(g, f, ERR_CONNECT, "socket", errno);
		return;
	}
	f->fd = fd;
	f->state = FLOW_CONNECTING;
	g->connecting++;
	if (run.target.spread_sources &&
	    target_bind_source(fd, stream) == -1) {
		flow_fail(g, f, ERR_CONNECT, "bind", errno);
		return;
	}
	if (run.opt.mode != MODE_RR && run.opt.mode != MODE_BULK)
		flow_set_busy(g, f, 1, now);
	/* Nagle would hold pipelined messages; one message is never held. */
	if (run.opt.mode == MODE_RR || run.opt.mode == MODE_BULK)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * Edge-triggered with both directions registered once: no
	 * epoll_ctl per message; reads and writes go on until short.
	 */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = f;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		flow_fail(g, f, ERR_CONNECT, "epoll_ctl", errno);
		return;
	}
	if (connect(fd, (struct sockaddr *)&run.target.addr,
	    run.target.len) == -1 && errno != EINPROGRESS)
		flow_fail(g, f, ERR_CONNECT, "connect", errno);
}

/* A connect finished; EPOLLERR alone says it failed, sparing a syscall. */
static void
flow_connected(struct gen *g, struct flow *f, uint32_t events,
    uint64_t now)
{
	socklen_t	len = sizeof(int);
	int		err = 0;

	if (events & (EPOLLERR | EPOLLHUP)) {
		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		else if (err == 0)
			err = ENOTCONN;
		flow_fail(g, f, ERR_CONNECT, "connect", err);
		return;
	}
	g->connecting--;
	g->established++;
	f->state = FLOW_OPEN;
	f->progress = now;
	switch (run.opt.mode) {
	case MODE_RR:
		rr_issue(g, f, now);
		break;
	case MODE_HALFCLOSE:
		halfclose_send(g, f, now);
		break;
	default:
		flow_flush(g, f, now);
		break;
	}
}

/* Checks received bytes against what was sent, in content and amount. */
static int
flow_verify(struct gen *g, struct flow *f, size_t n)
{
	const unsigned char	*expect;
	size_t			 i;

	if (n > f->sent - f->recvd) {
		g->errs[ERR_MISMATCH]++;
		report_error(ERR_MISMATCH, "connection %" PRIu64 ": echoed "
		    "%" PRIu64 " bytes where only %" PRIu64 " were sent",
		    g->first + f->index, f->recvd + n, f->sent);
		flow_close(g, f);
		flow_retire(g, f, FLOW_DEAD);
		return -1;
	}
	expect = pattern.bytes + (f->seed + f->recvd) % pattern.len;
	if (memcmp(g->rbuf, expect, n) != 0) {
		for (i = 0; g->rbuf[i] == expect[i]; i++)
			continue;
		g->errs[ERR_MISMATCH]++;
		report_error(ERR_MISMATCH, "connection %" PRIu64 ": stream "
		    "byte %" PRIu64 " is 0x%02x, expected 0x%02x",
		    g->first + f->index, f->recvd + i, g->rbuf[i], expect[i]);
		flow_close(g, f);
		flow_retire(g, f, FLOW_DEAD);
		return -1;
	}
	f->recvd += n;
	return 0;
}

/* The server closed its side: the end of a halfclose, an error else. */
static void
flow_eof(struct gen *g, struct flow *f, uint64_t now)
{
	if (f->state == FLOW_SHUT && f->recvd == f->want) {
		cycle_done(g, f, now);
		return;
	}
	g->errs[ERR_EOF]++;
	report_error(ERR_EOF, "connection %" PRIu64 ": server closed it after"
	    " %" PRIu64 " of %" PRIu64 " bytes sent were echoed",
	    g->first + f->index, f->recvd, f->sent);
	flow_close(g, f);
	flow_retire(g, f, FLOW_DEAD);
}

/*
 * Reads and verifies until the socket is empty (edge-triggered), letting
 * the mode act on each read.  A short read means empty, as later data
 * brings a new edge; but a FIN that came with this edge does not, so on
 * EPOLLRDHUP we read on to the EOF.  Returns -1 once the conn is gone.
 */
static int
flow_read(struct gen *g, struct flow *f, uint32_t events, uint64_t now)
{
	ssize_t	n;

	for (;;) {
		n = sock_recv(f->fd, g->rbuf, pattern.read_max);
		if (n == 0) {
			flow_eof(g, f, now);
			return -1;
		}
		if (n == -1) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			flow_fail(g, f, ERR_RESET, "recv", errno);
			return -1;
		}
		if (flow_verify(g, f, (size_t)n) == -1)
			return -1;
		f->progress = now;
		g->recv_total += (uint64_t)n;
		/* rr counts its bytes as messages complete; idle has none. */
		if (run.opt.mode != MODE_RR && run.opt.mode != MODE_IDLE &&
		    in_window(now))
			g->bytes += (uint64_t)n;
		switch (run.opt.mode) {
		case MODE_RR:
			rr_complete(g, f, now);
			if (rr_issue(g, f, now) == -1)
				return -1;
			break;
		case MODE_BULK:
			flow_set_busy(g, f, f->sent != f->recvd, now);
			break;
		case MODE_HALFCLOSE:
		case MODE_UDP:		/* udp.c's own loop, never here */
			break;
		case MODE_CONNECT:
			if (f->recvd == f->want) {
				cycle_done(g, f, now);
				return -1;
			}
			break;
		case MODE_IDLE:
			if (f->state == FLOW_OPEN && f->recvd == f->want)
				idle_verified(g, f, now);
			break;
		}
		if ((size_t)n < pattern.read_max &&
		    (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0)
			return 0;
		/* The next read may hold echoes of what was just sent. */
		now = now_ns();
	}
}

/* Dispatches one epoll event. */
void
flow_event(struct gen *g, struct flow *f, uint32_t events, uint64_t now)
{
	if (f->state == FLOW_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			flow_connected(g, f, events, now);
		return;
	}
	if ((events & ~(uint32_t)EPOLLOUT) != 0 &&
	    flow_read(g, f, events, now) == -1)
		return;
	if ((events & EPOLLOUT) && f->state == FLOW_OPEN) {
		if (run.opt.mode == MODE_HALFCLOSE)
			halfclose_send(g, f, now);
		else
			flow_flush(g, f, now);
	}
}

/* Opens held-back connections as connects in flight complete. */
void
flow_start_waiting(struct gen *g, uint64_t now)
{
	struct flow	*f;

	while (g->nwaiting > 0 && g->connecting < MAX_CONNECTING &&
	    !g->time_up) {
		f = &g->flows[g->waiting[--g->nwaiting]];
		if (f->state == FLOW_WAITING)
			flow_start(g, f, now);
	}
}

/* Drops connections stuck for --timeout: a hung server ends the run. */
void
flow_check_stalls(struct gen *g, uint64_t now)
{
	struct flow	*f;
	unsigned	 i;

	for (i = 0; i < g->nflows; i++) {
		f = &g->flows[i];
		if (f->state == FLOW_CONNECTING) {
			if (now - f->cycle_start >= run.timeout_ns)
				flow_fail(g, f, ERR_CONNECT, "connect",
				    ETIMEDOUT);
		} else if (f->busy && now - f->progress >= run.timeout_ns) {
			g->errs[ERR_STALL]++;
			report_error(ERR_STALL, "connection %" PRIu64 ": no "
			    "progress for %.1f s with %" PRIu64 " bytes sent "
			    "and %" PRIu64 " echoed", g->first + i,
			    run.opt.timeout, f->sent, f->recvd);
			flow_close(g, f);
			flow_retire(g, f, FLOW_DEAD);
		}
	}
}

/* idle: the setup time is up; connections not yet verified are stalls. */
void
flow_expire_setup(struct gen *g)
{
	struct flow	*f;
	unsigned	 i;

	for (i = 0; i < g->nflows; i++) {
		f = &g->flows[i];
		if (f->state == FLOW_HOLD || f->state == FLOW_DEAD)
			continue;
		g->errs[ERR_STALL]++;
		report_error(ERR_STALL, "connection %" PRIu64 ": not "
		    "verified by the end of the setup", g->first + i);
		flow_close(g, f);
		flow_retire(g, f, FLOW_DEAD);
	}
}
