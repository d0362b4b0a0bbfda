/* SPDX-License-Identifier: ISC */
/*
 * pattern.c - the bytes echobench sends and checks every echo against:
 * deterministic, so that any stretch of a stream can be verified from
 * its offset alone.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "echobench.h"

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

/* Any fixed nonzero xorshift state: runs must be reproducible. */
#define PATTERN_SEED		0x9e3779b97f4a7c15ULL

struct pattern	pattern;

/*
 * Fills the pattern with pseudo-random bytes of all 256 values, a '\n'
 * closing every pattern.line bytes, and stores it twice so that any
 * window of up to pattern.len bytes is one contiguous memcmp or send.
 */
int
pattern_init(void)
{
	uint64_t	state = PATTERN_SEED, base, i;

	if (run.opt.mode == MODE_BULK || run.opt.mode == MODE_HALFCLOSE) {
		pattern.line = STREAM_LINE;
		base = PATTERN_MAX;
	} else {
		pattern.line = run.opt.size;
		base = run.opt.size * PATTERN_MESSAGES;
		if (base > PATTERN_MAX)
			base = PATTERN_MAX;
	}
	if (base < run.opt.size)
		base = run.opt.size;
	pattern.len = (base + pattern.line - 1) / pattern.line * pattern.line;
	if ((pattern.bytes = malloc(2 * pattern.len)) == NULL)
		return -1;
	for (i = 0; i < pattern.len; i++) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		pattern.bytes[i] = (unsigned char)(state >> 56);
	}
	for (i = pattern.line - 1; i < pattern.len; i += pattern.line)
		pattern.bytes[i] = '\n';
	memcpy(pattern.bytes + pattern.len, pattern.bytes, pattern.len);
	pattern.write_max = run.opt.mode == MODE_RR ? pattern.len :
	    run.opt.size;
	/* A read beyond one pattern's length would compare past its end. */
	pattern.read_max = pattern.len < READ_SIZE ? (size_t)pattern.len :
	    READ_SIZE;
	return 0;
}
