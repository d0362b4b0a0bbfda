/* SPDX-License-Identifier: ISC */
/*
 * log.c - the logging API.  Lines go to stderr, each in one write(2) so
 * that threads never interleave inside a line; libevent's own messages are
 * routed through the same functions.
 */

#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"

/* Longest log line; longer ones are cut, never split. */
#define LOG_LINE_MAX	1024

static int log_verbosity = LOG_LEVEL_NOTICE;

static void	log_vwrite(int, const char *, va_list, int)
		    __attribute__((__format__(__printf__, 2, 0)));
static void	log_event_cb(int, const char *);
static void	log_event_fatal_cb(int);

/* Set the level and take over libevent's messages. */
void
log_init(int verbosity)
{
	log_verbosity = verbosity;
	event_set_log_callback(log_event_cb);
	event_set_fatal_callback(log_event_fatal_cb);
	if (verbosity >= LOG_LEVEL_DEBUG + 1)
		event_enable_debug_logging(EVENT_DBG_ALL);
}

/* Whether a message at this level would be written. */
int
log_enabled(int level)
{
	return (level <= log_verbosity);
}

/* Format one line, optionally with the errno text, and write it at once. */
static void
log_vwrite(int level, const char *fmt, va_list ap, int errnum)
{
	char	 line[LOG_LINE_MAX];
	int	 len, n;

	if (!log_enabled(level))
		return;
	len = snprintf(line, sizeof(line), "echod: ");
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		return;
	len += n;
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	if (errnum != 0) {
		n = snprintf(line + len, sizeof(line) - len, ": %s",
		    strerror(errnum));
		if (n > 0)
			len += n;
		if (len > (int)sizeof(line) - 2)
			len = sizeof(line) - 2;
	}
	line[len++] = '\n';
	/* A log that cannot be written has nowhere to report that. */
	(void)!write(STDERR_FILENO, line, len);
}

/* A warning followed by the text of errno. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

/* A warning with no errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap, 0);
	va_end(ap);
}

/* Start-up, shutdown and counters: shown unless -q. */
void
log_notice(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_NOTICE, fmt, ap, 0);
	va_end(ap);
}

/* One line per connection: shown with -v. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, fmt, ap, 0);
	va_end(ap);
}

/* Detail for finding faults: shown with -vv. */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, fmt, ap, 0);
	va_end(ap);
}

/* Give up at start-up, with the text of errno. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap, saved);
	va_end(ap);
	exit(EXIT_RUNTIME);
}

/* Give up at start-up, or on a broken invariant. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap, 0);
	va_end(ap);
	exit(EXIT_RUNTIME);
}

/* libevent's messages, at the matching level of ours. */
static void
log_event_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

/* libevent found its own state broken: nothing sane is left to do. */
static void
log_event_fatal_cb(int err)
{
	log_warnx("libevent: fatal error %d", err);
	abort();
}
