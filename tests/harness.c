/* SPDX-License-Identifier: ISC */
/*
 * harness.c - run the real echod for a functional test: fork and exec it
 * (under $ECHOD_WRAPPER if set) with its stdout and stderr read by a
 * thread into buffers the test can search, wait for its listening line,
 * ask it for its counters, measure its memory and CPU time, and stop it.
 * Other programs, such as echobench, run the same way to their end.  A
 * watchdog ends every test program, and the processes it started, in
 * bounded time.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Most words in one daemon's command line, wrapper included. */
#define ARGV_MAX	64

/* Most daemons alive at once in one test program. */
#define LIVE_MAX	16

/*
 * How often a condition is polled: prompt enough for second-scale
 * timeouts, rare enough that a stream of SIGUSR1 does not load the
 * daemon being measured.
 */
#define POLL_SEC	0.02

/* Start-up takes milliseconds; this covers a loaded machine (scaled). */
#define READY_SEC	10

/* Waiting for a stats line after SIGUSR1 (scaled). */
#define STATS_SEC	5

/* Bytes of log shown when a test fails: the end is what explains it. */
#define DIAG_TAIL	6000

/* uid and gid of "nobody" on Linux: exists, owns nothing, no privilege. */
#define NOBODY_ID	65534

/* Time is stretched this much under valgrind ... */
#define SCALE_WRAPPED	10

/* ... and this much for a sanitizer build. */
#define SCALE_SANITIZED	3

/*
 * Priming steps in a row that echod's socket took none of: its send
 * buffer has stopped growing.  More would fill a 4k queue.
 */
#define PRIME_STREAK	2

/* A send that blocks this long while priming: echod stopped reading. */
#define PRIME_BLOCKED_SEC	0.05

/* Most listening sockets looked up in /proc. */
#define INODES_MAX	64

static const char	*echod_path;
static char		*wrapper_copy;
static char		*wrapper_words[ARGV_MAX / 2];
static int		 nwrapper;
static int		 sanitized;
static volatile pid_t	 live[LIVE_MAX];

static void	harness_watchdog(int);
static void	live_set(pid_t, pid_t);
static void	capture_add(struct capture *, const char *, size_t);
static void	*child_reader(void *);
static void	child_exec(const struct spawn_opts *, int, int,
		    spawn_setup_fn *, void *, const char *const *)
		    __attribute__((__noreturn__));
static void	child_vspawn(struct child *, const struct spawn_opts *,
		    va_list);
static void	spawn_argv(struct child *, const char *,
		    const struct spawn_opts *, spawn_setup_fn *, void *,
		    const char *const *);
static int	proc_listen_port(const char *, const unsigned long *, size_t);
static int	stats_parse(const char *, struct echod_stats *);

/*
 * Out of time: kill the daemons first, so none outlives the test, then
 * tell the TAP driver.  Only async-signal-safe calls.
 */
static void
harness_watchdog(int sig)
{
	static const char msg[] = "Bail out! watchdog: out of time\n";
	int		 i;

	(void)sig;
	for (i = 0; i < LIVE_MAX; i++)
		if (live[i] > 0)
			kill(live[i], SIGKILL);
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

/* Replace pid old by new in the watchdog's list (0 is a free slot). */
static void
live_set(pid_t old, pid_t new)
{
	int	 i;

	for (i = 0; i < LIVE_MAX; i++) {
		if (live[i] == old) {
			live[i] = new;
			return;
		}
	}
	bail("more than %d daemons at once", LIVE_MAX);
}

/*
 * Set up a test program: TAP, the environment, descriptors for many
 * clients, and a watchdog of secs (stretched under a wrapper).
 */
void
harness_init(unsigned int secs)
{
	struct sigaction	 sa;
	struct rlimit		 rl;
	const char		*env;
	char			*word;

	tap_init();
	if ((echod_path = getenv("ECHOD")) == NULL || *echod_path == '\0')
		bail("ECHOD is not set; run the tests with make check");
	env = getenv("ECHOD_WRAPPER");
	if (env != NULL && *env != '\0') {
		if ((wrapper_copy = strdup(env)) == NULL)
			bail("out of memory");
		for (word = strtok(wrapper_copy, " \t"); word != NULL;
		    word = strtok(NULL, " \t")) {
			if (nwrapper == ARGV_MAX / 2)
				bail("ECHOD_WRAPPER has too many words");
			wrapper_words[nwrapper++] = word;
		}
		diag("echod runs under: %s", env);
	}
	env = getenv("ECHOD_SANITIZE");
	sanitized = env != NULL && *env != '\0';

	/*
	 * echod adopts sockets systemd passes and writes for the journal;
	 * a test run from a service must not hand it either.
	 */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("JOURNAL_STREAM");

	/* A reset peer must not kill the test; errors are checked instead. */
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

#ifdef __linux__
	/* Short pauses mean what they say, not the default 50 us slack. */
	prctl(PR_SET_TIMERSLACK, 1UL);
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = harness_watchdog;
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned int)tmo(secs));
}

/* Whether echod runs under a wrapper such as valgrind. */
int
harness_wrapped(void)
{
	return (nwrapper > 0);
}

/* Whether RSS and CPU time are the daemon's own (no valgrind, no ASan). */
int
harness_instrumented(void)
{
	return (nwrapper > 0 || sanitized);
}

/*
 * Have the watchdog kill pid too (on), or no longer (off): for a process
 * the test did not start with child_spawn(), such as a --daemon child.
 */
void
harness_watch(pid_t pid, int on)
{
	if (on)
		live_set(0, pid);
	else
		live_set(pid, 0);
}

/* A deadline of secs on a bare build, stretched for slow builds. */
double
tmo(double secs)
{
	if (nwrapper > 0)
		return (secs * SCALE_WRAPPED);
	if (sanitized)
		return (secs * SCALE_SANITIZED);
	return (secs);
}

/* Seconds on a clock that never jumps. */
double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Let secs pass: between polls, or where time itself is under test. */
void
pause_sec(double secs)
{
	struct timespec	 ts;

	if (secs <= 0)
		return;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Append to a capture, keeping it NUL-terminated. */
static void
capture_add(struct capture *cap, const char *data, size_t len)
{
	char	*p;
	size_t	 size = cap->cap_size;

	while (cap->cap_len + len + 1 > size)
		size = size == 0 ? 4096 : size * 2;
	if (size != cap->cap_size) {
		if ((p = realloc(cap->cap_buf, size)) == NULL)
			bail("out of memory");
		cap->cap_buf = p;
		cap->cap_size = size;
	}
	memcpy(cap->cap_buf + cap->cap_len, data, len);
	cap->cap_len += len;
	cap->cap_buf[cap->cap_len] = '\0';
}

/*
 * The reader thread: drain the daemon's stdout and stderr as they come,
 * so that a verbose daemon never blocks on a full pipe, and wake anyone
 * waiting for a line.
 */
static void *
child_reader(void *arg)
{
	struct child	*d = arg;
	struct pollfd	 pfd[2];
	char		 buf[16384];
	ssize_t		 n;
	int		 i, open = 2;

	for (i = 0; i < 2; i++) {
		pfd[i].fd = d->d_fds[i];
		pfd[i].events = POLLIN;
	}
	while (open > 0) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			pthread_mutex_lock(&d->d_lock);
			if (n > 0)
				capture_add(i == 0 ? &d->d_out : &d->d_err, buf,
				    (size_t)n);
			else {
				pfd[i].fd = -1;
				open--;
			}
			pthread_cond_broadcast(&d->d_cond);
			pthread_mutex_unlock(&d->d_lock);
		}
	}
	pthread_mutex_lock(&d->d_lock);
	d->d_closed = 1;
	pthread_cond_broadcast(&d->d_cond);
	pthread_mutex_unlock(&d->d_lock);
	return (NULL);
}

/*
 * In the child: limits, identity, pipes, the caller's setup, then exec.
 * Dispositions the test changed are reset so that echod has to set up its
 * own.
 */
static void
child_exec(const struct spawn_opts *o, int out, int err,
    spawn_setup_fn *setup, void *arg, const char *const *argv)
{
	static const char msg[] = "harness: cannot exec the program\n";
	struct rlimit	 rl;
	sigset_t	 none;

	if (dup2(out, STDOUT_FILENO) == -1 || dup2(err, STDERR_FILENO) == -1)
		_exit(127);
	if (o != NULL && o->so_nofile != 0) {
		rl.rlim_cur = rl.rlim_max = o->so_nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(127);
	}
	if (o != NULL && o->so_nobody && (setgroups(0, NULL) == -1 ||
	    setgid(NOBODY_ID) == -1 || setuid(NOBODY_ID) == -1 ||
	    access(echod_path, R_OK | X_OK) == -1))
		_exit(127);
#ifdef __linux__
	/* After setuid, which clears it: no daemon outlives its test. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	if (setup != NULL)
		setup(arg);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], (char *const *)argv);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

/*
 * Start echod with args (a NULL-terminated list, without the program
 * name).  Whatever it cannot do is the test's end: bail out.
 */
void
child_spawn(struct child *d, const struct spawn_opts *o,
    const char *const *args)
{
	child_spawn_setup(d, o, NULL, NULL, NULL, args);
}

/*
 * The same, with the words of prefix (NULL-terminated, or NULL) run first
 * with the wrapper and echod as their command, as systemd-socket-activate
 * runs it, and setup(arg) called in the child just before exec, after the
 * harness's own set-up, for descriptors and environment a service manager
 * would hand over.  setup must not return on failure: _exit(127).
 */
void
child_spawn_setup(struct child *d, const struct spawn_opts *o,
    const char *const *prefix, spawn_setup_fn *setup, void *arg,
    const char *const *args)
{
	const char	*argv[ARGV_MAX + 1];
	int		 i, n = 0;

	for (i = 0; prefix != NULL && prefix[i] != NULL; i++) {
		if (n == ARGV_MAX / 4)
			bail("too many words before echod");
		argv[n++] = prefix[i];
	}
	for (i = 0; i < nwrapper; i++)
		argv[n++] = wrapper_words[i];
	argv[n++] = echod_path;
	for (i = 0; args[i] != NULL; i++) {
		if (n == ARGV_MAX)
			bail("too many arguments for echod");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	spawn_argv(d, "echod", o, setup, arg, argv);
}

/*
 * Start argv, named name in messages, with its output captured; see
 * child_spawn_setup() for o, setup and arg.
 */
static void
spawn_argv(struct child *d, const char *name, const struct spawn_opts *o,
    spawn_setup_fn *setup, void *arg, const char *const *argv)
{
	pthread_condattr_t	 ca;
	int			 out[2], err[2];

	memset(d, 0, sizeof(*d));
	d->d_name = name;
	d->d_pid = -1;
	d->d_status = -1;
	d->d_fds[0] = d->d_fds[1] = -1;
	pthread_mutex_init(&d->d_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->d_cond, &ca);
	pthread_condattr_destroy(&ca);
	capture_add(&d->d_out, "", 0);
	capture_add(&d->d_err, "", 0);

	if (pipe2(out, O_CLOEXEC) == -1)
		bail("pipe: %s", strerror(errno));
	if (pipe2(err, O_CLOEXEC) == -1)
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	switch (d->d_pid = fork()) {
	case -1:
		bail("fork: %s", strerror(errno));
	case 0:
		child_exec(o, out[1], err[1], setup, arg, argv);
	default:
		break;
	}
	live_set(0, d->d_pid);
	close(out[1]);
	close(err[1]);
	d->d_fds[0] = out[0];
	d->d_fds[1] = err[0];
	if ((errno = pthread_create(&d->d_reader, NULL, child_reader, d)) != 0)
		bail("pthread_create: %s", strerror(errno));
}

/* Collect the variadic arguments and spawn. */
static void
child_vspawn(struct child *d, const struct spawn_opts *o, va_list ap)
{
	const char	*args[ARGV_MAX + 1];
	int		 n = 0;

	while ((args[n] = va_arg(ap, const char *)) != NULL)
		if (++n == ARGV_MAX)
			bail("too many arguments for echod");
	child_spawn(d, o, args);
}

/*
 * Start echod with the arguments given (NULL-terminated) and wait until it
 * has said where it listens.  Returns 0, or -1 with its log shown.
 */
int
child_start(struct child *d, const struct spawn_opts *o, ...)
{
	va_list	 ap;

	va_start(ap, o);
	child_vspawn(d, o, ap);
	va_end(ap);
	return (child_wait_ready(d));
}

/*
 * Run echod to completion (for flags that make it exit).  Returns its
 * exit status as child_wait() does; its output is in d_out and d_err.
 */
int
child_run(struct child *d, const struct spawn_opts *o, ...)
{
	va_list	 ap;

	va_start(ap, o);
	child_vspawn(d, o, ap);
	va_end(ap);
	return (child_wait(d, tmo(READY_SEC)));
}

/*
 * Run a program other than echod, never under the wrapper: argv[0] is
 * its path.  It ends by itself or is killed after secs.  Returns its exit
 * status as child_wait() does; its output is in d_out and d_err, and
 * child_free() releases it.
 */
int
prog_run(struct child *d, double secs, const char *const *argv)
{
	spawn_argv(d, argv[0], NULL, NULL, NULL, argv);
	return (child_wait(d, secs));
}

/*
 * Start a program other than echod in the background, never under the
 * wrapper, as a peer of the daemon under test; child_stop() ends it.
 */
void
prog_start(struct child *d, const char *const *argv)
{
	spawn_argv(d, argv[0], NULL, NULL, NULL, argv);
}

/* Bytes logged so far: an offset to search from for what comes next. */
size_t
child_log_len(struct child *d)
{
	size_t	 len;

	pthread_mutex_lock(&d->d_lock);
	len = d->d_err.cap_len;
	pthread_mutex_unlock(&d->d_lock);
	return (len);
}

/*
 * Wait up to secs for needle in the log at or after offset from.  Returns
 * the offset where it starts, or -1.
 */
long
child_log_wait(struct child *d, size_t from, const char *needle,
    double secs)
{
	struct timespec	 ts;
	double		 end = now() + secs, t;
	const char	*p;
	long		 at = -1;

	pthread_mutex_lock(&d->d_lock);
	for (;;) {
		if (from <= d->d_err.cap_len &&
		    (p = strstr(d->d_err.cap_buf + from, needle)) != NULL) {
			at = p - d->d_err.cap_buf;
			break;
		}
		if (d->d_closed || (t = now()) >= end)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (end - t);
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&d->d_cond, &d->d_lock, &ts);
	}
	pthread_mutex_unlock(&d->d_lock);
	return (at);
}

/* Occurrences of needle in the log at or after offset from. */
size_t
child_log_count(struct child *d, size_t from, const char *needle)
{
	const char	*p;
	size_t		 n = 0;

	pthread_mutex_lock(&d->d_lock);
	if (from <= d->d_err.cap_len) {
		for (p = d->d_err.cap_buf + from; (p = strstr(p, needle)) !=
		    NULL; p += strlen(needle))
			n++;
	}
	pthread_mutex_unlock(&d->d_lock);
	return (n);
}

/*
 * Copy the complete log line starting at offset at, waiting for its end.
 * Returns its length, or 0 if it never ended.
 */
size_t
child_log_line(struct child *d, size_t at, char *line, size_t size)
{
	long	 eol;
	size_t	 len;

	if ((eol = child_log_wait(d, at, "\n", tmo(STATS_SEC))) == -1)
		return (0);
	len = (size_t)eol - at;
	if (len >= size)
		len = size - 1;
	pthread_mutex_lock(&d->d_lock);
	memcpy(line, d->d_err.cap_buf + at, len);
	pthread_mutex_unlock(&d->d_lock);
	line[len] = '\0';
	return (len);
}

/*
 * Wait for the ready line and collect the ports of the listening lines
 * before it.  Returns 0, or -1 with the log shown.
 */
int
child_wait_ready(struct child *d)
{
	char	 line[512];
	char	*colon;
	long	 ready, at;
	size_t	 from = 0;

	ready = child_log_wait(d, 0, " ready: ", tmo(READY_SEC));
	if (ready == -1) {
		diag("echod did not get ready; its log:");
		child_diag(d);
		return (-1);
	}
	while ((at = child_log_wait(d, from, "listening on ", 0)) != -1 &&
	    at < ready && d->d_nports < CHILD_PORTS_MAX) {
		child_log_line(d, (size_t)at, line, sizeof(line));
		if ((colon = strrchr(line, ':')) != NULL)
			d->d_ports[d->d_nports++] = atoi(colon + 1);
		from = (size_t)at + 1;
	}
	if (d->d_nports == 0 || d->d_ports[0] <= 0) {
		diag("echod said where it listens in no form understood:");
		child_diag(d);
		return (-1);
	}
	d->d_port = d->d_ports[0];
	return (0);
}

/*
 * The port of echod's nth "udp on" line (from 0), logged before the ready
 * line child_wait_ready() waited for; -1 if there is none.
 */
int
child_udp_port(struct child *d, int nth)
{
	char	 line[512];
	char	*colon;
	long	 at;
	size_t	 from = 0;

	while ((at = child_log_wait(d, from, "echod: udp on ", 0)) != -1) {
		if (nth-- == 0) {
			child_log_line(d, (size_t)at, line, sizeof(line));
			colon = strrchr(line, ':');
			return (colon != NULL ? atoi(colon + 1) : -1);
		}
		from = (size_t)at + 1;
	}
	return (-1);
}

/*
 * SIGUSR1, then parse the stats line it logs.  Returns 0, or -1 if none
 * came or it could not be parsed.
 */
int
child_stats(struct child *d, struct echod_stats *st)
{
	char	 line[1024];
	size_t	 from = child_log_len(d);
	long	 at;

	if (d->d_pid == -1 || kill(d->d_pid, SIGUSR1) == -1)
		return (-1);
	if ((at = child_log_wait(d, from, "echod: stats: ",
	    tmo(STATS_SEC))) == -1 ||
	    child_log_line(d, (size_t)at, line, sizeof(line)) == 0)
		return (-1);
	return (stats_parse(strstr(line, "echod: stats: ") +
	    strlen("echod: stats: "), st));
}

/*
 * Fill st from a stats line's name=value pairs.  Every counter echod has
 * must be there, and nothing else: a counter added to echod or missing
 * from its line fails here.  Returns 0, or -1 with the reason said.
 */
static int
stats_parse(const char *text, struct echod_stats *st)
{
	static const struct {
		const char	*name;
		size_t		 offset;
	} fields[] = {
		{ "active", offsetof(struct echod_stats, active) },
#define STATS_FIELD_ENTRY(name, what)					\
		{ #name, offsetof(struct echod_stats, name) },
		COUNTERS(STATS_FIELD_ENTRY)
#undef STATS_FIELD_ENTRY
	};
	const size_t	 nfields = sizeof(fields) / sizeof(fields[0]);
	const char	*p = text;
	char		 name[64];
	uint64_t	 v;
	size_t		 i, seen = 0;
	int		 len;

	memset(st, 0, sizeof(*st));
	while (*p != '\0' && *p != '\n') {
		if (sscanf(p, " %63[a-z_]=%" SCNu64 "%n", name, &v, &len) != 2) {
			diag("unparsable stats line: %s", text);
			return (-1);
		}
		for (i = 0; i < nfields && strcmp(fields[i].name, name) != 0;
		    i++)
			;
		if (i == nfields) {
			diag("stats line has an unknown counter %s: %s", name,
			    text);
			return (-1);
		}
		memcpy((char *)st + fields[i].offset, &v, sizeof(v));
		seen++;
		p += len;
	}
	if (seen != nfields) {
		diag("stats line has %zu counters, not %zu: %s", seen, nfields,
		    text);
		return (-1);
	}
	return (0);
}

/*
 * Echo echod has read but not yet passed to its socket, from one stats
 * line.  The counters are read one after another while a thread may be
 * between adding to bytes_in and to bytes_out, so the difference can be
 * off by one read; a negative one counts as nothing queued.
 */
uint64_t
stats_queued(const struct echod_stats *st)
{
	return (st->bytes_in > st->bytes_out + st->bytes_dropped ?
	    st->bytes_in - st->bytes_out - st->bytes_dropped : 0);
}

/*
 * Poll the counters until the one at offset field (see STAT()) compares
 * to value by op, for at most secs.  Returns 0 when it did, -1 if not;
 * either way st holds the last counters read.
 */
int
child_wait_stat(struct child *d, struct echod_stats *st, size_t field,
    const char *op, uint64_t value, double secs)
{
	double		 end = now() + secs;
	uint64_t	 v;

	memset(st, 0, sizeof(*st));
	for (;;) {
		if (child_stats(d, st) == 0) {
			memcpy(&v, (char *)st + field, sizeof(v));
			if (cmp_eval((v > value) - (v < value), op, 0))
				return (0);
		}
		if (now() >= end)
			return (-1);
		pause_sec(POLL_SEC);
	}
}

/*
 * Fill echod's socket towards a client that does not read, so that from
 * then on whatever echod reads goes to its own queue.  Sends step bytes
 * at a time, waiting each time until echod has read them, until echod's
 * queue has grown by the whole step PRIME_STREAK times running: its
 * socket took none of it (it takes part while the kernel still grows a
 * blocked send buffer, to megabytes on loopback).  The client's other
 * connections must be idle.  Keep step at most a quarter of the high
 * mark so that echod never stops reading.  Returns the bytes then queued
 * in echod, or 0 if it stopped reading.
 */
uint64_t
child_prime(struct child *d, struct xfer *x, size_t step)
{
	struct echod_stats	 st0, st;
	uint64_t		 q, prev;
	int			 streak = 0;

	if (child_stats(d, &st0) == -1)
		return (0);
	prev = stats_queued(&st0);
	while (streak < PRIME_STREAK && x->x_err == 0) {
		x->x_total = x->x_sent + step;
		xfer_fill(x, step, PRIME_BLOCKED_SEC);
		if (child_wait_stat(d, &st, STAT(bytes_in), "==",
		    st0.bytes_in + x->x_sent, tmo(STATS_SEC)) == -1)
			return (0);
		q = stats_queued(&st);
		streak = q >= prev + step ? streak + 1 : 0;
		prev = q;
	}
	diag("primed: %llu bytes sent, %llu queued in echod",
	    (unsigned long long)x->x_sent, (unsigned long long)prev);
	return (prev);
}

/* The daemon's resident memory in KiB, or -1. */
long
child_rss_kb(struct child *d)
{
	char	 path[64], line[256];
	FILE	*fp;
	long	 kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)d->d_pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return (kb);
}

/* The daemon's CPU time so far, user plus system, all threads; or -1. */
double
child_cpu_sec(struct child *d)
{
	char			 path[64], buf[1024];
	unsigned long long	 utime, stime;
	const char		*p;
	FILE			*fp;
	size_t			 n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)d->d_pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The name may hold spaces; fields 14 and 15 follow the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu", &utime, &stime) != 2)
		return (-1);
	return ((double)(utime + stime) / (double)sysconf(_SC_CLK_TCK));
}

/* The port of a listening socket in a /proc/net/tcp file among inodes. */
static int
proc_listen_port(const char *path, const unsigned long *inodes,
    size_t ninodes)
{
	char		 line[512];
	unsigned int	 port, state;
	unsigned long	 inode;
	size_t		 i;
	FILE		*fp;
	int		 found = -1;

	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (found == -1 && fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x "
		    "%*x:%*x %*x:%*x %*x %*u %*u %lu", &port, &state,
		    &inode) != 3 || state != 0x0A)
			continue;
		for (i = 0; i < ninodes; i++)
			if (inodes[i] == inode)
				found = (int)port;
	}
	fclose(fp);
	return (found);
}

/*
 * Find the daemon's listening port from /proc, for runs where it was told
 * not to log it (-q).  Polls for up to secs; returns the port or -1.
 */
int
child_listen_port_proc(struct child *d, double secs)
{
	unsigned long	 inodes[INODES_MAX];
	char		 path[64], link[64];
	struct dirent	*de;
	size_t		 n;
	ssize_t		 len;
	double		 end = now() + secs;
	DIR		*dir;
	int		 port;

	for (;;) {
		n = 0;
		snprintf(path, sizeof(path), "/proc/%ld/fd", (long)d->d_pid);
		if ((dir = opendir(path)) != NULL) {
			while ((de = readdir(dir)) != NULL && n < INODES_MAX) {
				len = readlinkat(dirfd(dir), de->d_name, link,
				    sizeof(link) - 1);
				if (len <= 0)
					continue;
				link[len] = '\0';
				n += sscanf(link, "socket:[%lu]",
				    &inodes[n]) == 1;
			}
			closedir(dir);
		}
		if (n > 0 && ((port = proc_listen_port("/proc/net/tcp", inodes,
		    n)) > 0 || (port = proc_listen_port("/proc/net/tcp6",
		    inodes, n)) > 0))
			return (port);
		if (now() >= end)
			return (-1);
		pause_sec(POLL_SEC);
	}
}

/*
 * Wait up to secs for the daemon to exit and reap it.  Returns its exit
 * status, 128 + the signal if one killed it, or -1 if it was still running
 * at the deadline (it is then killed).
 */
int
child_wait(struct child *d, double secs)
{
	double	 end = now() + secs;
	pid_t	 r;
	int	 status, late = 0;

	if (d->d_pid == -1)
		return (d->d_status);
	for (;;) {
		r = waitpid(d->d_pid, &status, WNOHANG);
		if (r == d->d_pid)
			break;
		if (r == -1 && errno != EINTR)
			bail("waitpid: %s", strerror(errno));
		if (now() >= end) {
			diag("%s (pid %ld) still running after %.1fs: "
			    "killed", d->d_name, (long)d->d_pid, secs);
			kill(d->d_pid, SIGKILL);
			while (waitpid(d->d_pid, &status, 0) == -1 &&
			    errno == EINTR)
				continue;
			late = 1;
			break;
		}
		pause_sec(POLL_SEC / 2);
	}
	live_set(d->d_pid, 0);
	d->d_pid = -1;
	pthread_join(d->d_reader, NULL);
	if (late)
		d->d_status = -1;
	else if (WIFEXITED(status))
		d->d_status = WEXITSTATUS(status);
	else
		d->d_status = 128 + WTERMSIG(status);
	return (d->d_status);
}

/* SIGTERM, then child_wait(). */
int
child_stop(struct child *d, double secs)
{
	if (d->d_pid != -1)
		kill(d->d_pid, SIGTERM);
	return (child_wait(d, secs));
}

/* End of a test's daemon: its log if anything failed, then release it. */
void
child_done(struct child *d)
{
	if (tap_failed())
		child_diag(d);
	child_free(d);
}

/* Kill the daemon if it still runs and release everything. */
void
child_free(struct child *d)
{
	if (d->d_pid != -1) {
		kill(d->d_pid, SIGKILL);
		child_wait(d, tmo(READY_SEC));
	}
	if (d->d_fds[0] != -1)
		close(d->d_fds[0]);
	if (d->d_fds[1] != -1)
		close(d->d_fds[1]);
	free(d->d_out.cap_buf);
	free(d->d_err.cap_buf);
	pthread_cond_destroy(&d->d_cond);
	pthread_mutex_destroy(&d->d_lock);
	memset(d, 0, sizeof(*d));
	d->d_pid = -1;
	d->d_fds[0] = d->d_fds[1] = -1;
}

/* Show the end of the daemon's log as TAP comments. */
void
child_diag(struct child *d)
{
	const char	*p, *eol;
	size_t		 start = 0;

	pthread_mutex_lock(&d->d_lock);
	if (d->d_err.cap_len > DIAG_TAIL)
		start = d->d_err.cap_len - DIAG_TAIL;
	for (p = d->d_err.cap_buf + start; *p != '\0'; p = eol + 1) {
		if ((eol = strchr(p, '\n')) == NULL) {
			diag("| %s", p);
			break;
		}
		diag("| %.*s", (int)(eol - p), p);
	}
	pthread_mutex_unlock(&d->d_lock);
}
