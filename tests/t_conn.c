/* SPDX-License-Identifier: ISC */
/*
 * t_conn.c - unit tests of a connection's arithmetic, linked against
 * the daemon's own objects: the backpressure hysteresis between
 * --low-water and --high-water, the size of each read below the high
 * mark, the quiet time the idle and stall timeouts are measured in, and
 * when --delay lets each byte go (delay.c).
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "echod.h"
#include "tap.h"

/* Pure computation that takes microseconds; this only catches a hang. */
#define WATCHDOG_SEC	10

/* The marks the hysteresis is tested with: 128k and 32k, as by default. */
#define HIGH		(128 * 1024)
#define LOW		(32 * 1024)

static void	test_hysteresis(void);
static void	test_swings(void);
static void	test_read_room(void);
static void	test_quiet(void);
static void	test_delay(void);
static void	test_delay_stream(unsigned int);

/*
 * Each step of a queue that fills while the peer does not read and then
 * drains: reading pauses only at the high mark and resumes only at the
 * low one, whatever lies between.
 */
static void
test_hysteresis(void)
{
	static const struct {
		size_t	 queued;
		int	 paused;
	} steps[] = {
		{ 0, 0 }, { LOW, 0 }, { LOW + 1, 0 }, { HIGH - 1, 0 },
		{ HIGH, 1 },		/* full: stop reading */
		{ HIGH + 4096, 1 },	/* never reached, but still paused */
		{ HIGH - 1, 1 }, { LOW + 1, 1 },	/* draining */
		{ LOW, 0 },		/* back at the low mark: read again */
		{ LOW + 1, 0 }, { HIGH - 1, 0 }, { HIGH, 1 }, { 0, 0 }
	};
	size_t	 i;
	int	 paused = 0;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		paused = conn_paused_next(paused, steps[i].queued, HIGH, LOW);
		is_int(paused, steps[i].paused, "hysteresis: step %zu, %zu "
		    "queued: %s", i, steps[i].queued,
		    steps[i].paused ? "paused" : "reading");
	}

	/* The edges of the marks as configured. */
	is_int(conn_paused_next(0, HIGH, HIGH, HIGH), 1,
	    "low equal to high: full pauses");
	is_int(conn_paused_next(1, HIGH - 1, HIGH, HIGH), 0,
	    "low equal to high: one byte below resumes");
	is_int(conn_paused_next(1, 1, HIGH, 0), 1,
	    "low 0: a byte queued stays paused");
	is_int(conn_paused_next(1, 0, HIGH, 0), 0,
	    "low 0: empty resumes");
	is_int(conn_paused_next(0, 1, 1, 0), 1,
	    "high 1: one byte queued pauses");
}

/*
 * A slow reader: the queue fills 4 KiB per read and drains 1 KiB per
 * write.  Each swing from low to high costs one pause and one resume,
 * not one per read or write.
 */
static void
test_swings(void)
{
	size_t	 queued = 0, most = 0, pauses = 0, resumes = 0, reads = 0;
	size_t	 step;
	int	 paused = 0, was;

	for (step = 0; step < 1000; step++) {
		if (!paused) {
			queued += conn_read_room(queued, HIGH) < 4096 ?
			    conn_read_room(queued, HIGH) : 4096;
			reads++;
		} else
			queued -= queued < 1024 ? queued : 1024;
		most = queued > most ? queued : most;
		was = paused;
		paused = conn_paused_next(paused, queued, HIGH, LOW);
		pauses += !was && paused;
		resumes += was && !paused;
	}
	cmp_u64(most, "==", HIGH, "swings: the queue reaches the high mark "
	    "and never passes it");
	diag("swings: %zu reads, %zu pauses, %zu resumes", reads, pauses,
	    resumes);
	/* 32 reads fill from empty; 96 writes drain from high to low. */
	cmp_u64(pauses, ">=", 1000 / (32 + 96 + 24), "swings: paused once "
	    "per swing");
	cmp_u64(pauses, "<=", 1000 / (24 + 96) + 1, "swings: never more "
	    "than once per swing");
	cmp_u64(resumes + 1, ">=", pauses, "swings: every pause but the "
	    "last resumed");
}

/* Each read takes at most the room below the high mark, never more. */
static void
test_read_room(void)
{
	cmp_u64(conn_read_room(0, HIGH), "==", HIGH, "room: empty");
	cmp_u64(conn_read_room(HIGH - 1, HIGH), "==", 1, "room: a byte");
	cmp_u64(conn_read_room(HIGH, HIGH), "==", 0, "room: full");
	cmp_u64(conn_read_room(HIGH + 1, HIGH), "==", 0,
	    "room: over the mark is no room, not a huge one");
	cmp_u64(conn_read_room(0, 1), "==", 1, "room: high 1");
}

/*
 * The sweep measures quiet in whole ticks, and only the ticks after the
 * last progress count: progress just before a tick must not shorten the
 * timeout by that tick.
 */
static void
test_quiet(void)
{
	is_int(conn_quiet_sec(5, 5), 0, "quiet: progress this tick");
	is_int(conn_quiet_sec(6, 5), 0,
	    "quiet: one tick since may be no time at all");
	is_int(conn_quiet_sec(7, 5), SWEEP_INTERVAL_SEC,
	    "quiet: two ticks since are at least one interval");
	is_int(conn_quiet_sec(5 + 61, 5), 60 * SWEEP_INTERVAL_SEC,
	    "quiet: 61 ticks since are at least 60 intervals");
	is_int(conn_quiet_sec(2, UINT32_MAX - 1), 3 * SWEEP_INTERVAL_SEC,
	    "quiet: the tick counter wrapping changes nothing");
	is_int(conn_quiet_sec(0, UINT32_MAX), 0,
	    "quiet: one tick across the wrap");
}

/*
 * Bytes leave no earlier than the delay after they came, in order; bytes
 * close together share a mark; nothing is lost or made up.
 */
static void
test_delay(void)
{
	struct delay_line	 dl;

	delay_init(&dl, 100);
	is_int(delay_wait_ms(&dl, 0), -1, "delay: nothing held, no wait");
	cmp_u64(delay_take_due(&dl, 1000), "==", 0, "delay: nothing due");

	delay_add(&dl, 1000, 10);
	delay_add(&dl, 1001, 5);	/* within a slot (100/30: 4 ms) */
	delay_add(&dl, 1050, 7);	/* a mark of its own */
	delay_add(&dl, 1050, 0);	/* nothing: no mark */
	is_int(dl.dl_count, 2, "delay: two marks for three arrivals");
	cmp_u64(dl.dl_held, "==", 22, "delay: 22 bytes held");
	is_int(delay_wait_ms(&dl, 1000), 101, "delay: the first mark waits "
	    "for its last byte");
	cmp_u64(delay_take_due(&dl, 1100), "==", 0,
	    "delay: 99 ms after the 2nd byte, nothing due");
	cmp_u64(delay_take_due(&dl, 1101), "==", 15,
	    "delay: 100 ms after, the first 15 bytes");
	is_int(delay_wait_ms(&dl, 1101), 49, "delay: then 49 ms to the next");
	is_int(delay_wait_ms(&dl, 2000), 0, "delay: overdue is no wait");
	cmp_u64(delay_take_due(&dl, 5000), "==", 7, "delay: the last 7");
	cmp_u64(dl.dl_held, "==", 0, "delay: nothing held after");
	is_int(delay_wait_ms(&dl, 5000), -1, "delay: nothing to wait for");

	delay_init(&dl, 0);
	delay_add(&dl, 7, 3);
	cmp_u64(delay_take_due(&dl, 7), "==", 3, "delay 0: due at once");
}

/*
 * A peer sending a byte every millisecond for ten delays: the ring never
 * overflows into lost bytes, every byte waits at least the delay and at
 * most a slot and a millisecond longer, and all come out in order.
 */
static void
test_delay_stream(unsigned int ms)
{
	struct delay_line	 dl;
	uint64_t		 t, sent = 0, out = 0, early = 0, late = 0;
	uint64_t		 overflows = 0;
	size_t			 due;

	delay_init(&dl, ms);
	for (t = 0; t < 20 * ms; t++) {
		if (t < 10 * ms) {
			delay_add(&dl, t, 1);
			sent++;
			overflows += dl.dl_count == DELAY_MARKS;
		}
		due = delay_take_due(&dl, t);
		/* The bytes out now are bytes out+1 .. out+due, sent at out.. */
		if (due > 0) {
			if (t < out + due - 1 + ms)
				early++;
			if (t > out + ms + dl.dl_slot)
				late++;
		}
		out += due;
	}
	cmp_u64(out, "==", sent, "delay %u stream: every byte out", ms);
	cmp_u64(early, "==", 0, "delay %u stream: none before its delay", ms);
	cmp_u64(late, "==", 0, "delay %u stream: none a slot or more late", ms);
	cmp_u64(overflows, "==", 0, "delay %u stream: the ring never filled", ms);
	is_int(dl.dl_count, 0, "delay %u stream: no mark left", ms);
}

int
main(void)
{
	tap_init();
	alarm(WATCHDOG_SEC);
	test_hysteresis();
	test_swings();
	test_read_room();
	test_quiet();
	test_delay();
	test_delay_stream(1);
	test_delay_stream(29);
	test_delay_stream(100);
	test_delay_stream(DELAY_MAX_MSEC);
	return (tap_done());
}
