/* SPDX-License-Identifier: ISC */
/*
 * fuzz_proxy.c - libFuzzer harness for proxy_parse(): whatever a client
 * sends first must give "need more", "bad" or a header length, never a
 * crash or a read past the bytes given, and the answers must agree with
 * each other: a header found is found again with nothing after it, and
 * not a byte earlier.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "echod.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One input: the first bytes of a connection, as they might arrive. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_addr	 pa, pb;
	const char		*why = NULL;
	uint8_t			*copy;
	int			 n, m;

	/* An exact-size copy, so ASan sees any read past the end. */
	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		return (0);
	memcpy(copy, data, size);
	n = proxy_parse(copy, size, &pa, &why);
	if (n == -1 && why == NULL)
		abort();		/* refused without a reason */
	if (n < -1 || (n > 0 && ((size_t)n > size || n > PROXY_HDR_MAX)))
		abort();
	if (n > 0) {
		if (proxy_parse(copy, (size_t)n, &pb, &why) != n ||
		    memcmp(&pa, &pb, sizeof(pa)) != 0)
			abort();	/* the data after it changed the header */
		if (proxy_parse(copy, (size_t)n - 1, &pb, &why) != 0)
			abort();	/* a prefix of a header must need more */
		if (!pa.pa_local && (pa.pa_srclen == 0 ||
		    pa.pa_srclen > sizeof(pa.pa_src)))
			abort();
	}
	free(copy);
	return (0);
}
