/* SPDX-License-Identifier: ISC */
/*
 * tap.h - a small Test Anything Protocol producer for automake's
 * tap-driver.sh: numbered results, diagnostics that show the numbers
 * compared, skips, and the plan printed at the end.
 */

#ifndef TAP_H
#define TAP_H

#include <stdint.h>

#define TAP_PRINTF(f, a)	__attribute__((__format__(__printf__, f, a)))

/* tap.c */
void		 tap_init(void);
int		 ok(int, const char *, ...) TAP_PRINTF(2, 3);
int		 is_int(long long, long long, const char *, ...)
		    TAP_PRINTF(3, 4);
int		 cmp_u64(uint64_t, const char *, uint64_t, const char *, ...)
		    TAP_PRINTF(4, 5);
int		 cmp_dbl(double, const char *, double, const char *, ...)
		    TAP_PRINTF(4, 5);
int		 like(const char *, const char *, const char *, ...)
		    TAP_PRINTF(3, 4);
int		 unlike(const char *, const char *, const char *, ...)
		    TAP_PRINTF(3, 4);
int		 cmp_eval(double, const char *, double);
void		 skip(int, const char *, ...) TAP_PRINTF(2, 3);
void		 todo(const char *);
void		 diag(const char *, ...) TAP_PRINTF(1, 2);
void		 bail(const char *, ...) TAP_PRINTF(1, 2)
		    __attribute__((__noreturn__));
int		 tap_failed(void);
int		 tap_done(void);

#endif /* TAP_H */
