/* SPDX-License-Identifier: ISC */
/*
 * delay.c - the bookkeeping of --delay: when each stretch of a
 * connection's bytes falls due.  Pure arithmetic on a small ring of
 * marks, with the time passed in, so that it is unit-tested without
 * waiting; conn.c holds the bytes and runs the timer.
 *
 * A mark is a run of bytes that arrived within one slot, and the time the
 * last of them may leave.  Bytes that arrive within a slot of the mark's
 * first join it and push its time back, so each byte waits at least the
 * delay and at most a slot longer, and a peer sending one byte per
 * segment fills no more marks than one sending a slot's worth at once.
 * Marks start at least a slot apart and leave less than a delay and a
 * slot after they start, so no more than delay / slot + 2 are ever held:
 * the slot is sized so that the ring never overflows.
 */

#include "config.h"

#include "echod.h"

/* Start empty, holding bytes back for ms. */
void
delay_init(struct delay_line *dl, unsigned int ms)
{
	dl->dl_ms = ms;
	/* Rounded up: a shorter slot would need more marks than there are. */
	dl->dl_slot = (ms + DELAY_MARKS - 3) / (DELAY_MARKS - 2);
	if (dl->dl_slot == 0)
		dl->dl_slot = 1;
	dl->dl_first = 0;
	dl->dl_count = 0;
	dl->dl_held = 0;
}

/* len bytes arrived at now (milliseconds on a monotonic clock). */
void
delay_add(struct delay_line *dl, uint64_t now, size_t len)
{
	struct delay_mark	*last;
	uint64_t		 due = now + dl->dl_ms;

	if (len == 0)
		return;
	dl->dl_held += len;
	if (dl->dl_count > 0) {
		last = &dl->dl_marks[(dl->dl_first + dl->dl_count - 1) %
		    DELAY_MARKS];
		/* The ring cannot be full; joining then only adds a wait. */
		if (now < last->dm_start + dl->dl_slot ||
		    dl->dl_count == DELAY_MARKS) {
			last->dm_len += len;
			last->dm_due = due;
			return;
		}
	}
	last = &dl->dl_marks[(dl->dl_first + dl->dl_count) % DELAY_MARKS];
	last->dm_start = now;
	last->dm_due = due;
	last->dm_len = len;
	dl->dl_count++;
}

/* Take out and return the bytes due by now; they leave in order. */
size_t
delay_take_due(struct delay_line *dl, uint64_t now)
{
	size_t	 due = 0;

	while (dl->dl_count > 0 && dl->dl_marks[dl->dl_first].dm_due <= now) {
		due += dl->dl_marks[dl->dl_first].dm_len;
		dl->dl_first = (dl->dl_first + 1) % DELAY_MARKS;
		dl->dl_count--;
	}
	dl->dl_held -= due;
	return (due);
}

/* Milliseconds from now until the next bytes fall due; -1: none held. */
long
delay_wait_ms(const struct delay_line *dl, uint64_t now)
{
	uint64_t	 due;

	if (dl->dl_count == 0)
		return (-1);
	due = dl->dl_marks[dl->dl_first].dm_due;
	return (due > now ? (long)(due - now) : 0);
}
