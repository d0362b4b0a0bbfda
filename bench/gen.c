/* SPDX-License-Identifier: ISC */
/*
 * gen.c - one load-generating thread: its share of the connections and
 * of the quota, its epoll loop, and the counters it hands to main.
 */

#include "config.h"

#include <sys/epoll.h>
#include <sys/prctl.h>

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echobench.h"

/* Longest sleep in epoll_wait, so stop requests and deadlines act fast. */
#define POLL_MAX_NS		(100 * NS_PER_MS)

/* How often stalls are looked for: cheap, and fine beside 5 s timeouts. */
#define STALL_CHECK_NS		(100 * NS_PER_MS)

/* Makes the counters visible to the progress line; plain stores on x86. */
void
gen_publish(struct gen *g)
{
	uint64_t	errors = 0;
	int		i;

	for (i = 0; i < ERR_KINDS; i++)
		errors += g->errs[i];
	atomic_store_explicit(&g->pub_done, g->done_total,
	    memory_order_relaxed);
	atomic_store_explicit(&g->pub_recv, g->recv_total,
	    memory_order_relaxed);
	atomic_store_explicit(&g->pub_errors, errors, memory_order_relaxed);
	atomic_store_explicit(&g->pub_established, g->established,
	    memory_order_relaxed);
}

/* idle: tells main once all are verified or dead; fails laggards. */
static void
gen_check_setup(struct gen *g, uint64_t now)
{
	if (g->setup_done)
		return;
	if (g->pending > 0 && now >= run.setup_deadline)
		flow_expire_setup(g);
	if (g->pending == 0) {
		gen_publish(g);
		g->setup_done = 1;
		atomic_store(&g->pub_setup_done, 1);
		sem_post(&run.wake);
	}
}

/*
 * Decides whether the thread's part of the run is over; udp mode's too,
 * with its datagrams in flight as busy.
 */
int
gen_finished(struct gen *g, uint64_t now)
{
	if (atomic_load_explicit(&run.stop, memory_order_relaxed))
		return 1;
	if (!g->time_up && now >= run.end) {
		/* Give what is in flight up to --timeout to come back. */
		g->time_up = 1;
		g->drain_end = now + run.timeout_ns;
	}
	if (g->live == 0)
		return 1;
	/*
	 * -R hands the quota out on schedule, maybe to connections not
	 * yet open to send their share: their connects must end first.
	 */
	if ((g->time_up || (g->started >= g->quota &&
	    (run.opt.rate == 0 || g->connecting == 0))) && g->busy == 0)
		return 1;
	return g->time_up && now >= g->drain_end;
}

/*
 * Waits for events for at most timeout nanoseconds.  epoll_pwait2 keeps
 * -R sends on time, where epoll_wait's milliseconds would add up to 1 ms
 * of false latency; kernels before 5.11 fall back to epoll_wait.
 */
int
gen_wait_events(int epfd, struct epoll_event *events, uint64_t timeout)
{
	static atomic_int	use_pwait2 = 1;
	struct timespec		ts;
	int			n;

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
void *
gen_main(void *arg)
{
	struct gen		*g = arg;
	struct epoll_event	 events[MAX_EVENTS];
	uint64_t		 now, timeout;
	unsigned		 i;
	int			 n;

	if (run.opt.rate > 0)
		prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	now = now_ns();
	g->next_check = now + STALL_CHECK_NS;
	for (;;) {
		flow_start_waiting(g, now);
		if (run.opt.rate > 0)
			flow_schedule(g, now);
		if (now >= g->next_check) {
			flow_check_stalls(g, now);
			g->next_check = now + STALL_CHECK_NS;
		}
		if (run.opt.mode == MODE_IDLE)
			gen_check_setup(g, now);
		gen_publish(g);
		if (gen_finished(g, now))
			break;
		timeout = POLL_MAX_NS;
		if (run.opt.rate > 0 && g->next_due - now < timeout)
			timeout = g->next_due - now;
		n = gen_wait_events(g->epfd, events, timeout);
		if (n == -1 && errno != EINTR) {
			fprintf(stderr, "echobench: epoll_wait: %s\n",
			    strerror(errno));
			break;
		}
		for (i = 0; n > 0 && i < (unsigned)n; i++) {
			now = now_ns();
			flow_event(g, events[i].data.ptr, events[i].events,
			    now);
		}
		/* Never behind a time a long read loop stamped on a conn. */
		now = now_ns();
	}
	for (i = 0; i < g->nflows; i++)
		if (g->flows[i].fd != -1)
			close(g->flows[i].fd);
	g->end_ns = now;
	gen_publish(g);
	atomic_store(&g->pub_finished, 1);
	sem_post(&run.wake);
	return NULL;
}

/* Share of total that thread number t of n gets, remainders spread. */
static uint64_t
share(uint64_t total, uint64_t t, uint64_t n)
{
	return total * (t + 1) / n - total * t / n;
}

/* Gives a thread its connections, buffers and quota before it starts. */
int
gen_init(struct gen *g, uint64_t t)
{
	const struct options	*opt = &run.opt;
	struct flow		*f;
	uint64_t		 requests;
	unsigned		 i;

	g->first = opt->conns * t / opt->threads;
	g->nflows = (unsigned)share(opt->conns, t, opt->threads);
	g->flows = calloc(g->nflows, sizeof(*g->flows));
	g->waiting = calloc(g->nflows, sizeof(*g->waiting));
	g->rbuf = malloc(READ_SIZE);
	g->hist = calloc(1, sizeof(*g->hist));
	if (opt->mode == MODE_RR && opt->rate == 0)
		g->ring = calloc((size_t)g->nflows * opt->pipeline,
		    sizeof(*g->ring));
	if (g->flows == NULL || g->waiting == NULL || g->rbuf == NULL ||
	    g->hist == NULL || (opt->mode == MODE_RR && opt->rate == 0 &&
	    g->ring == NULL))
		return -1;
	if ((g->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;

	g->quota = UINT64_MAX;
	if (opt->requests > 0) {
		/* Split like the connections: each thread a fair share. */
		requests = opt->requests * (g->first + g->nflows) / opt->conns -
		    opt->requests * g->first / opt->conns;
		g->quota = opt->mode == MODE_BULK ? requests * opt->size :
		    requests;
	}
	if (opt->rate > 0)
		g->ns_per_msg = (double)NS_PER_S * (double)opt->conns /
		    (opt->rate * (double)g->nflows);
	g->pending = g->nflows;
	for (i = 0; i < g->nflows; i++) {
		f = &g->flows[i];
		f->fd = -1;
		f->index = i;
		f->state = FLOW_WAITING;
		f->seed = pattern_seed(g->first + i);
		f->want = opt->mode == MODE_HALFCLOSE ? opt->bytes : opt->size;
		f->next_done = opt->size;
		if (g->ring != NULL)
			f->sent_at = g->ring + (size_t)i * opt->pipeline;
	}
	/* Pushed last to first so that connection 0 is opened first. */
	for (i = g->nflows; i-- > 0;) {
		f = &g->flows[i];
		if (opt->mode == MODE_CONNECT || opt->mode == MODE_HALFCLOSE) {
			if (g->started >= g->quota) {
				f->state = FLOW_DONE;
				continue;
			}
			g->started++;
		}
		g->waiting[g->nwaiting++] = i;
		g->live++;
	}
	return 0;
}

/* Frees what gen_init allocated. */
void
gen_free(struct gen *g)
{
	udp_gen_free(g);
	close(g->epfd);
	free(g->flows);
	free(g->waiting);
	free(g->rbuf);
	free(g->ring);
	free(g->hist);
}
