/* SPDX-License-Identifier: ISC */
/*
 * stats.c - plain counters.  Each worker owns its own set, so the data
 * path pays for no lock and no atomic read-modify-write; SIGUSR1 and exit
 * sum them.
 */

#include "config.h"

#include <inttypes.h>

#include "echod.h"

/*
 * Add to a counter only its own worker writes: a relaxed load and store is
 * a plain add on common hardware, yet another thread may read it safely.
 */
void
stats_add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter,
	    atomic_load_explicit(counter, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* A relaxed read for reporting. */
static uint64_t
stats_read(_Atomic uint64_t *counter)
{
	return (atomic_load_explicit(counter, memory_order_relaxed));
}

/* Sum every worker's counters. */
void
stats_sum(const struct server *srv, struct stats_total *t)
{
	int	 i;

	*t = (struct stats_total){ 0 };
	for (i = 0; i < srv->s_nworkers; i++) {
		struct stats *st = &srv->s_workers[i].w_stats;

		t->accepted += stats_read(&st->st_accepted);
		t->rejected += stats_read(&st->st_rejected);
		t->idle_closed += stats_read(&st->st_idle_closed);
		t->stall_closed += stats_read(&st->st_stall_closed);
		t->bytes_in += stats_read(&st->st_bytes_in);
		t->bytes_out += stats_read(&st->st_bytes_out);
		t->accept_errors += stats_read(&st->st_accept_errors);
		t->accept_pauses += stats_read(&st->st_accept_pauses);
	}
	t->active = (uint64_t)atomic_load_explicit(&srv->s_active,
	    memory_order_relaxed);
}

/* Write the totals as one line of name=value pairs. */
void
stats_log(const struct server *srv)
{
	struct stats_total	 t;

	stats_sum(srv, &t);
	log_notice("stats: accepted=%" PRIu64 " active=%" PRIu64
	    " rejected=%" PRIu64 " idle_closed=%" PRIu64
	    " stall_closed=%" PRIu64 " bytes_in=%" PRIu64
	    " bytes_out=%" PRIu64 " accept_errors=%" PRIu64
	    " accept_pauses=%" PRIu64,
	    t.accepted, t.active, t.rejected, t.idle_closed, t.stall_closed,
	    t.bytes_in, t.bytes_out, t.accept_errors, t.accept_pauses);
}
