/* SPDX-License-Identifier: ISC */
/*
 * log.c - the logging API.  Lines go to stderr (with the journal's
 * priority prefix when stderr is the journal), to syslog, or to a file
 * that SIGHUP reopens.  Each line is one write(2), so threads never
 * interleave inside a line; libevent's own messages come through here too.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "echod.h"

/* Longest log line; longer ones are cut, never split. */
#define LOG_LINE_MAX	1024

/* Where lines go. */
enum log_target {
	LOG_TO_STDERR,
	LOG_TO_JOURNAL,		/* stderr is the journal: "<N>" prefixes */
	LOG_TO_SYSLOG,
	LOG_TO_FILE
};

static int		 log_verbosity = LOG_LEVEL_NOTICE;
static enum log_target	 log_target = LOG_TO_STDERR;
static int		 log_fd = STDERR_FILENO;
static const char	*log_path;

/* syslog(3) priorities of our levels, from LOG_LEVEL_ERR up. */
static const int log_priorities[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};

static void	log_vwrite(int, const char *, va_list, int)
		    __attribute__((__format__(__printf__, 2, 0)));
static void	log_event_cb(int, const char *);
static void	log_event_fatal_cb(int);

/*
 * Set the level and take over libevent's messages.  systemd says in
 * JOURNAL_STREAM which stream is the journal; only when that is still our
 * stderr do lines carry a priority prefix.
 */
void
log_init(int verbosity)
{
	const char		*js = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 st;

	log_verbosity = verbosity;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_target = LOG_TO_JOURNAL;
	event_set_log_callback(log_event_cb);
	event_set_fatal_callback(log_event_fatal_cb);
	if (verbosity >= LOG_LEVEL_DEBUG + 1)
		event_enable_debug_logging(EVENT_DBG_ALL);
}

/* From now on, log to syslog with facility daemon. */
void
log_open_syslog(void)
{
	openlog("echod", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_target = LOG_TO_SYSLOG;
}

/* From now on, append to path; -1 (errno set) if it cannot be opened. */
int
log_open_file(const char *path)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return (-1);
	log_fd = fd;
	log_path = path;
	log_target = LOG_TO_FILE;
	return (0);
}

/*
 * Reopen the log file after rotation.  The new file takes over the old
 * descriptor's number, so a thread writing meanwhile writes to one or the
 * other, never to a closed descriptor.
 */
void
log_reopen(void)
{
	int	 fd;

	if (log_target != LOG_TO_FILE)
		return;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("cannot reopen %s; still writing to the old file",
		    log_path);
		return;
	}
	if (dup2(fd, log_fd) == -1)
		log_warn("cannot reopen %s", log_path);
	else
		log_info("reopened %s", log_path);
	close(fd);
}

/* Release the log at exit. */
void
log_close(void)
{
	if (log_target == LOG_TO_FILE)
		close(log_fd);
	else if (log_target == LOG_TO_SYSLOG)
		closelog();
	log_target = LOG_TO_STDERR;
	log_fd = STDERR_FILENO;
}

/* Whether a message at this level would be written. */
int
log_enabled(int level)
{
	return (level <= log_verbosity);
}

/*
 * An address as log lines and listeners name it: "192.0.2.1:7",
 * "[2001:db8::1]:7", "unix:/run/echod.sock", or "?" when unknown.
 */
void
log_sockaddr(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const void *)sa;

		if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) !=
		    NULL) {
			snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
			return;
		}
	} else if (sa->sa_family == AF_INET6 &&
	    salen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (inet_ntop(AF_INET6, &sin6->sin6_addr, host,
		    sizeof(host)) != NULL) {
			snprintf(buf, len, "[%s]:%u", host,
			    ntohs(sin6->sin6_port));
			return;
		}
	} else if (sa->sa_family == AF_UNIX &&
	    salen > offsetof(struct sockaddr_un, sun_path)) {
		const struct sockaddr_un *sun = (const void *)sa;
		size_t	 n = salen - offsetof(struct sockaddr_un, sun_path);

		if (n > sizeof(sun->sun_path))
			n = sizeof(sun->sun_path);
		/* Linux's abstract names start with a NUL; echod writes '@'. */
		if (sun->sun_path[0] == '\0')
			snprintf(buf, len, "unix:@%.*s", (int)(n - 1),
			    sun->sun_path + 1);
		else
			snprintf(buf, len, "unix:%.*s", (int)strnlen(
			    sun->sun_path, n), sun->sun_path);
		return;
	}
	snprintf(buf, len, "?");
}

/* Format one line, optionally with the errno text, and write it at once. */
static void
log_vwrite(int level, const char *fmt, va_list ap, int errnum)
{
	char		 line[LOG_LINE_MAX];
	int		 len = 0, n, body;
	struct tm	 tm;
	time_t		 now;

	if (!log_enabled(level))
		return;
	switch (log_target) {
	case LOG_TO_JOURNAL:
		len = snprintf(line, sizeof(line), "<%d>",
		    log_priorities[level - LOG_LEVEL_ERR]);
		break;
	case LOG_TO_FILE:
		now = time(NULL);
		localtime_r(&now, &tm);
		len = (int)strftime(line, sizeof(line),
		    "%Y-%m-%dT%H:%M:%S%z ", &tm);
		len += snprintf(line + len, sizeof(line) - len, "echod[%ld]: ",
		    (long)getpid());
		break;
	case LOG_TO_STDERR:
		len = snprintf(line, sizeof(line), "echod: ");
		break;
	case LOG_TO_SYSLOG:
		break;
	}
	body = len;
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
	if (log_target == LOG_TO_SYSLOG) {
		line[len] = '\0';
		syslog(log_priorities[level - LOG_LEVEL_ERR], "%s", line + body);
		return;
	}
	line[len++] = '\n';
	/* A log that cannot be written has nowhere to report that. */
	(void)!write(log_fd, line, len);
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
	log_vwrite(LOG_LEVEL_ERR, fmt, ap, saved);
	va_end(ap);
	exit(EXIT_RUNTIME);
}

/* Give up at start-up, or on a broken invariant. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, fmt, ap, 0);
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
