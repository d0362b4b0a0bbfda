/* SPDX-License-Identifier: ISC */
/*
 * tap.c - the Test Anything Protocol, just what the tests need.  Output
 * goes to stdout, line-buffered so that nothing is duplicated across a
 * fork() and diagnostics stay next to the result they explain.
 */

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int		 tap_count;
static int		 tap_fails;
static const char	*tap_todo;

static int	tap_result(int, const char *, va_list)
		    TAP_PRINTF(2, 0);

/* Make stdout line-buffered before anything is printed or forked. */
void
tap_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Print one numbered result; the name is printf-formatted. */
static int
tap_result(int pass, const char *fmt, va_list ap)
{
	tap_count++;
	if (!pass && tap_todo == NULL)
		tap_fails++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	if (tap_todo != NULL)
		printf(" # TODO %s", tap_todo);
	putchar('\n');
	return (pass);
}

/* A plain pass/fail. */
int
ok(int pass, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	return (pass);
}

/* Equality of signed numbers (exit statuses, counts), both shown on failure. */
int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list	 ap;
	int	 pass = got == want;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  got: %lld, expected: %lld", got, want);
	return (pass);
}

/* Evaluate "a op b" for op in ==, !=, <, <=, >, >=; unknown ops are false. */
int
cmp_eval(double a, const char *op, double b)
{
	if (strcmp(op, "==") == 0)
		return (a == b);
	if (strcmp(op, "!=") == 0)
		return (a != b);
	if (strcmp(op, "<") == 0)
		return (a < b);
	if (strcmp(op, "<=") == 0)
		return (a <= b);
	if (strcmp(op, ">") == 0)
		return (a > b);
	if (strcmp(op, ">=") == 0)
		return (a >= b);
	bail("unknown comparison '%s'", op);
}

/*
 * Compare byte counts and counters exactly; doubles would round above
 * 2^53, so the comparison is done on the integers.
 */
int
cmp_u64(uint64_t got, const char *op, uint64_t want, const char *fmt, ...)
{
	va_list	 ap;
	int	 pass;

	pass = cmp_eval((got > want) - (got < want), op, 0);
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  got: %llu, expected: %s %llu",
		    (unsigned long long)got, op, (unsigned long long)want);
	return (pass);
}

/* Compare measured quantities: seconds, ratios. */
int
cmp_dbl(double got, const char *op, double want, const char *fmt, ...)
{
	va_list	 ap;
	int	 pass = cmp_eval(got, op, want);

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  got: %.3f, expected: %s %.3f", got, op, want);
	return (pass);
}

/* The text contains the needle. */
int
like(const char *text, const char *needle, const char *fmt, ...)
{
	va_list	 ap;
	int	 pass = text != NULL && strstr(text, needle) != NULL;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  '%s' not found in: %s", needle,
		    text == NULL ? "(null)" : text);
	return (pass);
}

/* The text does not contain the needle. */
int
unlike(const char *text, const char *needle, const char *fmt, ...)
{
	va_list	 ap;
	int	 pass = text != NULL && strstr(text, needle) == NULL;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  '%s' unexpectedly found in: %s", needle,
		    text == NULL ? "(null)" : text);
	return (pass);
}

/* Results that cannot be checked here, counted so the plan stays right. */
void
skip(int n, const char *fmt, ...)
{
	va_list	 ap;

	while (n-- > 0) {
		tap_count++;
		printf("ok %d # SKIP ", tap_count);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
}

/*
 * Mark the following results as known bugs (NULL ends it): a failure is
 * reported but does not fail the suite, a pass shows the bug is gone.
 */
void
todo(const char *reason)
{
	tap_todo = reason;
}

/* A comment line; the TAP driver copies it to the log. */
void
diag(const char *fmt, ...)
{
	va_list	 ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Give up on the whole program: the driver reports it as an error. */
void
bail(const char *fmt, ...)
{
	va_list	 ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(1);
}

/* How many results failed so far (not counting TODO ones). */
int
tap_failed(void)
{
	return (tap_fails);
}

/* Print the plan; the return value is the program's exit status. */
int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return (tap_fails == 0 ? 0 : 1);
}
