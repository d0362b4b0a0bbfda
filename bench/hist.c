/* SPDX-License-Identifier: ISC */
/*
 * hist.c - the latency histogram: fixed buckets, so recording is a few
 * instructions without locks and threads' histograms add up exactly.
 */

#include "config.h"

#include <math.h>
#include <stdint.h>

#include "echobench.h"

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
void
hist_record(struct hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
	h->total++;
	if (ns > h->max)
		h->max = ns;
}

/* Folds a thread's histogram into the total after the run. */
void
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
uint64_t
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
