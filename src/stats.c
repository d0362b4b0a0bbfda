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

#define STATS_SUM(name, what)	t->name += stats_read(&st->st_##name);
		COUNTERS(STATS_SUM)
#undef STATS_SUM
	}
	t->active = (uint64_t)atomic_load_explicit(&srv->s_active,
	    memory_order_relaxed);
}

/* Write the totals as one line of name=value pairs, in COUNTERS order. */
void
stats_log(const struct server *srv)
{
	struct stats_total	 t;
	char			 line[1024];
	int			 len;

	stats_sum(srv, &t);
	len = snprintf(line, sizeof(line), "active=%" PRIu64, t.active);
#define STATS_FORMAT(name, what)					\
	if (len >= 0 && (size_t)len < sizeof(line))			\
		len += snprintf(line + len, sizeof(line) - len,		\
		    " " #name "=%" PRIu64, t.name);
	COUNTERS(STATS_FORMAT)
#undef STATS_FORMAT
	log_notice("stats: %s", line);
}
