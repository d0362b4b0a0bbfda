/* SPDX-License-Identifier: ISC */
/*
 * echobench: load generator and checker for echo servers (RFC 862), over
 * TCP and UDP.
 *
 * The connections are split across threads, each running its own epoll
 * loop.  Every echoed byte is compared with a deterministic pattern,
 * latencies go into per-thread histograms merged at the end, and the last
 * line printed is a key=value summary for scripts.
 */

#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echobench.h"

/* File descriptors beyond the connections: stdio, epoll sets, slack. */
#define FD_RESERVE		64

struct run			 run;
static volatile sig_atomic_t	 got_signal;

/* Converts seconds from the options to nanoseconds. */
static uint64_t
secs_to_ns(double secs)
{
	return (uint64_t)llround(secs * (double)NS_PER_S);
}

/* Lets Ctrl-C end the run early with a report of what was measured. */
static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* Sleeps until deadline or until a thread or a signal wakes us. */
static void
main_sleep(uint64_t deadline)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(deadline / NS_PER_S);
	ts.tv_nsec = (long)(deadline % NS_PER_S);
	while (sem_clockwait(&run.wake, CLOCK_MONOTONIC, &ts) == -1 &&
	    errno == EINTR && !got_signal)
		continue;
}

/* Redraws the once-a-second progress line on stderr. */
static void
progress(const struct gen *gens, uint64_t now, uint64_t *last_done,
    uint64_t *last_recv, uint64_t *last_ns)
{
	uint64_t	done = 0, recv_bytes = 0, errors = 0, established = 0;
	double		secs = (double)(now - *last_ns) / 1e9;
	uint64_t	t;

	for (t = 0; t < run.opt.threads; t++) {
		done += atomic_load_explicit(&gens[t].pub_done,
		    memory_order_relaxed);
		recv_bytes += atomic_load_explicit(&gens[t].pub_recv,
		    memory_order_relaxed);
		errors += atomic_load_explicit(&gens[t].pub_errors,
		    memory_order_relaxed);
		established += atomic_load_explicit(
		    &gens[t].pub_established, memory_order_relaxed);
	}
	if (run.opt.mode == MODE_IDLE)
		fprintf(stderr, "\r%6.1fs  established %" PRIu64 "/%" PRIu64
		    "  verified %" PRIu64 "  errors %" PRIu64 "\033[K",
		    (double)(now - run.start) / (double)NS_PER_S, established,
		    run.opt.conns, done, errors);
	else
		fprintf(stderr, "\r%6.1fs  %10.1f %s/s  %9.2f MB/s  errors %"
		    PRIu64 "%s\033[K",
		    (double)(now - run.start) / (double)NS_PER_S,
		    run.opt.mode == MODE_BULK ? (double)(recv_bytes -
		    *last_recv) / (double)run.opt.size / secs :
		    (double)(done - *last_done) / secs,
		    run.opt.mode == MODE_RR || run.opt.mode == MODE_BULK ?
		    "msg" : run.opt.mode == MODE_UDP ? "dgram" : "conn",
		    (double)(recv_bytes - *last_recv) / 1e6 / secs,
		    errors, now < run.measure_start ? "  (warm-up)" : "");
	*last_done = done;
	*last_recv = recv_bytes;
	*last_ns = now;
}

/* True once every thread has finished, or with setup, finished its setup. */
static int
all_gens(const struct gen *gens, int setup)
{
	uint64_t	t;

	for (t = 0; t < run.opt.threads; t++)
		if (!atomic_load(setup ? &gens[t].pub_setup_done :
		    &gens[t].pub_finished))
			return 0;
	return 1;
}

/* Runs the threads, watches the clock and signals, then collects. */
static void
supervise(struct gen *gens, struct totals *totals)
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
	last_ns = run.start = now_ns();
	run.measure_start = run.start + secs_to_ns(run.opt.warmup);
	run.end = UINT64_MAX;
	if (run.opt.mode != MODE_IDLE && run.opt.duration > 0)
		run.end = run.measure_start + secs_to_ns(run.opt.duration);
	run.setup_deadline = run.start + secs_to_ns(run.opt.duration) +
	    run.timeout_ns;
	for (t = 0; t < run.opt.threads; t++) {
		rc = pthread_create(&gens[t].thread, NULL,
		    run.opt.mode == MODE_UDP ? udp_gen_main : gen_main,
		    &gens[t]);
		if (rc != 0) {
			fprintf(stderr, "echobench: pthread_create: %s\n",
			    strerror(rc));
			exit(1);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	next_tick = run.start + NS_PER_S;
	while (!all_gens(gens, 0)) {
		now = now_ns();
		if (got_signal)
			atomic_store(&run.stop, 1);
		if (run.opt.mode == MODE_IDLE && !holding &&
		    all_gens(gens, 1)) {
			holding = 1;
			hold_start = now;
			hold_end = now + secs_to_ns(run.opt.duration);
			for (t = 0; t < run.opt.threads; t++)
				verified += atomic_load(&gens[t].pub_done);
			if (!run.opt.quiet)
				fprintf(stderr, "%sechobench: %" PRIu64
				    " connections open and verified, holding "
				    "them for %.2f s\n", run.show_progress ?
				    "\r\033[K" : "", verified,
				    run.opt.duration);
		}
		if (holding && now >= hold_end)
			atomic_store(&run.stop, 1);
		if (run.show_progress && now >= next_tick) {
			progress(gens, now, &last_done, &last_recv, &last_ns);
			next_tick += NS_PER_S;
		}
		deadline = now + NS_PER_S;
		if (run.show_progress && next_tick < deadline)
			deadline = next_tick;
		if (holding && hold_end < deadline)
			deadline = hold_end;
		main_sleep(deadline);
	}
	if (run.show_progress)
		fputs("\r\033[K", stderr);

	for (t = 0; t < run.opt.threads; t++) {
		pthread_join(gens[t].thread, NULL);
		totals->msgs += gens[t].msgs;
		totals->bytes += gens[t].bytes;
		totals->established += gens[t].established;
		totals->sent += gens[t].sent;
		totals->lost += gens[t].lost;
		totals->late += gens[t].late;
		for (rc = 0; rc < ERR_KINDS; rc++)
			totals->errs[rc] += gens[t].errs[rc];
		hist_merge(&totals->hist, gens[t].hist);
		if (gens[t].end_ns > end)
			end = gens[t].end_ns;
	}
	if (run.opt.mode == MODE_BULK)
		totals->msgs = totals->bytes / run.opt.size;
	if (run.opt.mode == MODE_IDLE) {
		if (holding) {
			totals->secs = (double)(end - hold_start) / 1e9;
			totals->setup_secs = (double)(hold_start - run.start) /
			    1e9;
		}
	} else {
		if (end > run.end)
			end = run.end;
		if (end > run.measure_start)
			totals->secs = (double)(end - run.measure_start) / 1e9;
	}
	if (totals->secs > 0) {
		if (run.opt.mode != MODE_IDLE)
			totals->msg_rate = (double)totals->msgs / totals->secs;
		totals->mb_rate = (double)totals->bytes / 1e6 / totals->secs;
	}
	if (run.opt.mode == MODE_CONNECT || run.opt.mode == MODE_HALFCLOSE)
		totals->conn_rate = totals->msg_rate;
	else if (run.opt.mode == MODE_IDLE && totals->setup_secs > 0)
		totals->conn_rate = (double)totals->established /
		    totals->setup_secs;
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
	if (rl.rlim_cur < run.opt.conns + run.opt.threads + FD_RESERVE) {
		fprintf(stderr, "echobench: %" PRIu64 " connections need %"
		    PRIu64 " file descriptors, the limit is %llu\n",
		    run.opt.conns, run.opt.conns + run.opt.threads + FD_RESERVE,
		    (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* Sets up, runs, reports; the exit status says whether the run was clean. */
int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	struct totals		 totals;
	struct gen		*gens;
	uint64_t		 t;
	int			 k, status;

	memset(&totals, 0, sizeof(totals));
	options_parse(&run.opt, argc, argv);
	run.timeout_ns = secs_to_ns(run.opt.timeout);
	run.show_progress = !run.opt.quiet && isatty(STDERR_FILENO);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (raise_fd_limit() == -1)
		return 1;
	if (target_resolve() == -1) {
		totals.errs[ERR_CONNECT] = totals.errors = 1;
		report_machine(&totals, run.opt.json);
		return 1;
	}
	if (pattern_init() == -1 || sem_init(&run.wake, 0, 0) == -1 ||
	    (gens = calloc(run.opt.threads, sizeof(*gens))) == NULL) {
		fprintf(stderr, "echobench: out of memory\n");
		return 1;
	}
	for (t = 0; t < run.opt.threads; t++) {
		if (gen_init(&gens[t], t) == -1 || (run.opt.mode == MODE_UDP &&
		    udp_gen_init(&gens[t]) == -1)) {
			fprintf(stderr, "echobench: cannot set up thread %"
			    PRIu64 ": %s\n", t, strerror(errno));
			return 1;
		}
	}
	supervise(gens, &totals);

	for (k = 0; k < ERR_KINDS; k++)
		totals.errors += totals.errs[k];
	if (!run.opt.json)
		report_human(&totals);
	report_machine(&totals, run.opt.json);
	status = 0;
	if (totals.errors > 0)
		status = 1;
	else if (totals.established == 0 || totals.msgs == 0) {
		fprintf(stderr, "echobench: nothing was echoed in the "
		    "measured time\n");
		status = 1;
	}
	for (t = 0; t < run.opt.threads; t++)
		gen_free(&gens[t]);
	free(gens);
	free(pattern.bytes);
	sem_destroy(&run.wake);
	return status;
}
