/* SPDX-License-Identifier: ISC */
/*
 * t_service.c - echod as a service: sockets a service manager passes
 * (faked, then with systemd-socket-activate), the one connection inetd
 * hands over, --daemon with its pid file, --log-file reopened on SIGHUP,
 * the journal's priority prefixes, --user and --syslog, and no pid file
 * left behind by a start that fails.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* A dozen short-lived daemons; a hang is caught long before this. */
#define WATCHDOG_SEC	60

/* Where a service manager puts the first socket it passes. */
#define LISTEN_FD	3

/* Bytes echoed to show a daemon serves: more than a segment. */
#define ECHO_BYTES	10000

/* What inetd's client sends: a few KiB, so several reads, NULs included. */
#define INETD_BYTES	(5 * 1024 + 7)

/*
 * Ports tried with systemd-socket-activate, which must be told one: a
 * parallel test may take the free port found before the tool binds it.
 */
#define PORT_TRIES	5

/* The tool that stands in for a systemd socket unit. */
#define SOCKET_ACTIVATE	"/usr/bin/systemd-socket-activate"

/* Starting in the background takes milliseconds; this is "promptly". */
#define PROMPT_SEC	2

/* How often a log file, or a --daemon child's exit, is checked. */
#define POLL_SEC	0.02

/* Most bytes of a log file read back: a few dozen lines. */
#define FILE_MAX	16384

/* A user name no system has. */
#define NO_SUCH_USER	"no-such-user-xyz"

/*
 * Threads enough that their event loops, pipes and timers need more
 * descriptors than NOFILE_LOW: echod then fails while setting them up,
 * long after binding and writing its pid file.
 */
#define NOFILE_THREADS	"32"

/* A descriptor limit with room to bind and write the pid file. */
#define NOFILE_LOW	64

/*
 * libevent 2.1 aborts when a new event loop cannot get its 3 descriptors;
 * one limit 4 higher then runs out at a step echod handles instead.
 */
#define NOFILE_STEP	4

/* Limits tried: two already step past libevent's three. */
#define NOFILE_TRIES	3

/* What a pid file from an earlier run holds: not echod's own. */
#define STALE_PID	"99999\n"

/* What a child is handed, as a service manager or inetd would. */
struct setup {
	int	 su_listen;	/* becomes fd 3 with LISTEN_FDS=1, or -1 */
	int	 su_conn;	/* becomes stdin and stdout, or -1 */
	int	 su_conn_err;	/* and stderr too */
	int	 su_journal;	/* the fd JOURNAL_STREAM names, or -1 */
};

/* Hands over nothing: a plain start. */
#define SETUP_INIT	{ -1, -1, 0, -1 }

static char	tmpdir[] = "/tmp/t_service.XXXXXX";

static void	service_child_setup(void *);
static int	echo_port(int, uint64_t);
static void	file_read(const char *, char *, size_t);
static void	file_write(const char *, const char *);
static int	file_wait(const char *, const char *, double);
static int	reap_wait(pid_t, double);
static void	test_activation(void);
static void	test_socket_activate(void);
static void	test_inetd(void);
static void	test_daemon(void);
static void	test_log_file(void);
static void	test_journal(void);
static void	test_user(void);
static void	test_syslog(void);
static void	test_pidfile_user(void);
static void	test_pidfile_workers(void);

/* In the child before exec: hand over what struct setup says. */
static void
service_child_setup(void *arg)
{
	const struct setup	*su = arg;
	struct stat		 st;
	char			 buf[64];

	if (su->su_listen != -1) {
		if (su->su_listen == LISTEN_FD ?
		    fcntl(LISTEN_FD, F_SETFD, 0) == -1 :
		    dup2(su->su_listen, LISTEN_FD) == -1)
			_exit(127);
		snprintf(buf, sizeof(buf), "%ld", (long)getpid());
		if (setenv("LISTEN_FDS", "1", 1) == -1 ||
		    setenv("LISTEN_PID", buf, 1) == -1)
			_exit(127);
	}
	if (su->su_conn != -1 && (dup2(su->su_conn, STDIN_FILENO) == -1 ||
	    dup2(su->su_conn, STDOUT_FILENO) == -1 || (su->su_conn_err &&
	    dup2(su->su_conn, STDERR_FILENO) == -1)))
		_exit(127);
	if (su->su_journal != -1) {
		if (fstat(su->su_journal, &st) == -1)
			_exit(127);
		snprintf(buf, sizeof(buf), "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
		if (setenv("JOURNAL_STREAM", buf, 1) == -1)
			_exit(127);
	}
}

/* Whether a new connection to port echoes ECHO_BYTES intact. */
static int
echo_port(int port, uint64_t seed)
{
	int	 fd, good;

	if ((fd = client_connect(port)) == -1)
		return (0);
	good = client_echo(fd, seed, ECHO_BYTES, tmo(5));
	close(fd);
	return (good);
}

/* The start of a file, NUL-terminated; "" if it cannot be read. */
static void
file_read(const char *path, char *buf, size_t size)
{
	ssize_t	 n = -1;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
}

/* Replace a file's contents with text, or bail out. */
static void
file_write(const char *path, const char *text)
{
	size_t	 len = strlen(text);
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, text, len) != (ssize_t)len)
		bail("cannot write %s: %s", path, strerror(errno));
	close(fd);
}

/* Poll a file for needle for up to secs; 1 once it holds it. */
static int
file_wait(const char *path, const char *needle, double secs)
{
	char	 buf[FILE_MAX];
	double	 end = now() + secs;

	for (;;) {
		file_read(path, buf, sizeof(buf));
		if (strstr(buf, needle) != NULL)
			return (1);
		if (now() >= end)
			return (0);
		pause_sec(POLL_SEC);
	}
}

/*
 * Wait up to secs for a --daemon child to exit.  We are its subreaper, so
 * it is ours to reap: its exit status as child_wait() gives it, or -1.
 */
static int
reap_wait(pid_t pid, double secs)
{
	double	 end = now() + secs;
	pid_t	 r;
	int	 status;

	for (;;) {
		if ((r = waitpid(pid, &status, WNOHANG)) == pid)
			return (WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status));
		if ((r == -1 && errno != EINTR) || now() >= end)
			return (-1);
		pause_sec(POLL_SEC);
	}
}

/*
 * A socket passed as systemd passes it (fd 3, LISTEN_FDS=1, LISTEN_PID):
 * echod names and serves it and exits 0 on SIGTERM, closing it.  With -l
 * as well, or a descriptor that is not a listening socket, exit 1.
 */
static void
test_activation(void)
{
	static const char *const serve[] = { "-v", NULL };
	static const char *const both[] = { "-v", "-l", "127.0.0.1:0", NULL };
	struct setup	 su = SETUP_INIT;
	struct child	 d;
	char		 want[64];
	int		 port;

	su.su_listen = client_listen(&port);
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, serve);
	close(su.su_listen);
	is_int(child_wait_ready(&d) == 0 ? d.d_port : -1, port,
	    "activation: serves the port passed");
	is_int(d.d_nports, 1, "activation: one socket, none bound");
	snprintf(want, sizeof(want), "echod: listening on 127.0.0.1:%d\n",
	    port);
	is_int(child_log_wait(&d, 0, want, 0), 0, "activation: '%.*s' "
	    "first", (int)strlen(want) - 1, want);
	ok(echo_port(port, 1), "activation: %d bytes echoed", ECHO_BYTES);
	is_int(child_stop(&d, tmo(10)), 0, "activation: exit 0 on SIGTERM");
	ok(client_refused(port, tmo(2)), "activation: the socket closed");
	child_free(&d);

	su.su_listen = client_listen(&port);
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, both);
	close(su.su_listen);
	is_int(child_wait(&d, tmo(10)), 1, "activation and -l: exit 1");
	like(d.d_err.cap_buf, "echod: --listen cannot be used with socket "
	    "activation", "activation and -l: refused");
	unlike(d.d_err.cap_buf, "listening on", "activation and -l: "
	    "nothing served");
	child_free(&d);

	if ((su.su_listen = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		bail("/dev/null: %s", strerror(errno));
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, serve);
	close(su.su_listen);
	is_int(child_wait(&d, tmo(10)), 1, "activation of /dev/null: exit 1");
	like(d.d_err.cap_buf, "echod: socket activation: descriptor 3 is not "
	    "a listening stream socket or a datagram socket\n",
	    "activation of /dev/null: refused");
	child_free(&d);
}

/*
 * The same through systemd-socket-activate: it binds the port, waits for
 * a first client, then execs echod in its own process, so SIGTERM to
 * that pid stops echod, with exit 0.
 */
static void
test_socket_activate(void)
{
	static const char *const args[] = { "-v", NULL };
	const char	*prefix[] = { SOCKET_ACTIVATE, "-l", NULL, NULL };
	struct child	 d;
	char		 addr[32], want[64];
	int		 port = -1, try;

	if (access(SOCKET_ACTIVATE, X_OK) == -1) {
		skip(5, "no %s", SOCKET_ACTIVATE);
		return;
	}
	for (try = 0; try < PORT_TRIES; try++) {
		close(client_listen(&port));
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		prefix[2] = addr;
		child_spawn_setup(&d, NULL, prefix, NULL, NULL, args);
		snprintf(want, sizeof(want), "Listening on %s as 3.", addr);
		if (child_log_wait(&d, 0, want, tmo(10)) != -1)
			break;
		diag("systemd-socket-activate on port %d failed:", port);
		child_diag(&d);
		child_free(&d);
	}
	if (try == PORT_TRIES)
		bail("systemd-socket-activate failed %d times", PORT_TRIES);
	ok(echo_port(port, 2), "systemd-socket-activate: %d bytes echoed",
	    ECHO_BYTES);
	snprintf(want, sizeof(want), "echod: listening on %s\n", addr);
	ok(child_log_wait(&d, 0, want, tmo(5)) != -1,
	    "systemd-socket-activate: '%.*s'", (int)strlen(want) - 1, want);
	is_int(child_stop(&d, tmo(10)), 0, "systemd-socket-activate: exit 0 "
	    "on SIGTERM to its pid");
	like(d.d_err.cap_buf, "echod: Terminated: no longer accepting",
	    "systemd-socket-activate: echod got the SIGTERM");
	like(d.d_err.cap_buf, "echod: stopped\n",
	    "systemd-socket-activate: echod stopped");
	child_free(&d);
}

/*
 * --inetd as inetd starts it: an accepted TCP connection as stdin, stdout
 * and stderr, where nothing but the echo may appear; then with stderr
 * apart, where -v logs the connection.  A few KiB with NULs come back
 * exactly, then EOF, and echod exits 0.  Anything but a socket on stdin
 * is refused, and so is -l.
 */
static void
test_inetd(void)
{
	static const char *const args[] = { "-v", "--inetd", NULL };
	static const char *const names[] = { "stderr the socket",
	    "stderr apart" };
	static uint8_t	 data[INETD_BYTES];
	struct setup	 su = SETUP_INIT;
	struct child	 d;
	struct xfer	 x;
	char		 want[64], tail[64];
	int		 lfd, port, fd, p[2], i;

	for (i = 0; i < INETD_BYTES; i++)
		data[i] = (uint8_t)(i % 251);
	lfd = client_listen(&port);
	for (i = 0; i < 2; i++) {
		if ((fd = client_connect(port)) == -1 ||
		    (su.su_conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			bail("inetd connection: %s", strerror(errno));
		su.su_conn_err = i == 0;
		child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, args);
		close(su.su_conn);
		xfer_init(&x, fd, 0, INETD_BYTES);
		x.x_data = data;
		x.x_shut = 1;
		xfer_run(&x, 1, tmo(5));
		cmp_u64(x.x_rcvd, "==", INETD_BYTES, "inetd, %s: %d bytes "
		    "back", names[i], INETD_BYTES);
		ok(xfer_intact(&x) && x.x_eof, "inetd, %s: the same bytes, "
		    "then EOF", names[i]);
		if (!xfer_intact(&x) || !x.x_eof)
			xfer_diag(&x, "inetd");
		is_int(child_wait(&d, tmo(10)), 0, "inetd, %s: exit 0",
		    names[i]);
		/* With stderr the socket, -v's close line went to syslog. */
		snprintf(want, sizeof(want), "echod: close 127.0.0.1:%d after ",
		    client_local_port(fd));
		snprintf(tail, sizeof(tail), " in=%d out=%d unsent=0: eof\n",
		    INETD_BYTES, INETD_BYTES);
		if (i == 1)
			ok(child_log_wait(&d, 0, want, 0) != -1 &&
			    child_log_wait(&d, 0, tail, 0) != -1, "inetd, %s: "
			    "logged with in=out=%d", names[i], INETD_BYTES);
		child_done(&d);
		close(fd);
	}

	/* inetd's "wait" mode hands over the listening socket: refused. */
	su.su_conn = lfd;
	su.su_conn_err = 0;
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, args);
	close(lfd);
	is_int(child_wait(&d, tmo(10)), 1, "inetd, a listening socket: exit 1");
	like(d.d_err.cap_buf, "echod: --inetd needs a connected stream socket "
	    "on standard input\n", "inetd, a listening socket: refused");
	child_free(&d);

	if (pipe2(p, O_CLOEXEC) == -1)
		bail("pipe: %s", strerror(errno));
	su.su_conn = p[0];
	su.su_conn_err = 0;
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, args);
	close(p[0]);
	close(p[1]);
	is_int(child_wait(&d, tmo(10)), 1, "inetd, a pipe: exit 1");
	like(d.d_err.cap_buf, "echod: --inetd needs a connected stream socket "
	    "on standard input\n", "inetd, a pipe: refused");
	child_free(&d);

	is_int(child_run(&d, NULL, "--inetd", "-l", "x", NULL), 2,
	    "--inetd -l x: exit 2");
	like(d.d_err.cap_buf, "it takes no --listen", "--inetd -l x: why");
	child_free(&d);
}

/*
 * --daemon --pidfile: the parent exits 0 once the child serves, having
 * passed on the listening line; the pid file, named relative to the
 * directory echod started in, names the child, which runs
 * in its own session.  A second echod with the file, or on the port,
 * fails with exit 1 from its parent.  SIGTERM ends the child with exit 0
 * and removes the file.
 */
static void
test_daemon(void)
{
	static const char *const args[] = { "--daemon", "--pidfile", NULL,
	    "-l", "127.0.0.1:0", NULL };
	const char	*argv[sizeof(args) / sizeof(args[0])];
	struct child	 d;
	char		 pidfile[64], buf[64], addr[32], want[96];
	const char	*p;
	char		*cwd;
	double		 t0;
	long		 pid = -1;
	pid_t		 parent;
	int		 port = -1, status;

	if (harness_wrapped()) {
		skip(15, "under a wrapper the background child's errors "
		    "would reach no exit status");
		return;
	}
	snprintf(pidfile, sizeof(pidfile), "%s/echod.pid", tmpdir);
	memcpy(argv, args, sizeof(args));
	/* Relative: the daemon moves to / yet must write and remove it here. */
	argv[2] = "echod.pid";
	if ((cwd = getcwd(NULL, 0)) == NULL || chdir(tmpdir) == -1)
		bail("cannot change to %s: %s", tmpdir, strerror(errno));
	t0 = now();
	child_spawn(&d, NULL, argv);
	if (chdir(cwd) == -1)
		bail("cannot change back to %s: %s", cwd, strerror(errno));
	free(cwd);
	parent = d.d_pid;
	status = child_wait(&d, tmo(10));
	is_int(status, 0, "--daemon: the parent exits 0");
	cmp_dbl(now() - t0, "<", tmo(PROMPT_SEC), "--daemon: promptly");
	if ((p = strstr(d.d_err.cap_buf, "echod: listening on 127.0.0.1:")) !=
	    NULL)
		port = atoi(p + strlen("echod: listening on 127.0.0.1:"));
	ok(port > 0, "--daemon: the listening line reaches the caller "
	    "(port %d)", port);
	file_read(pidfile, buf, sizeof(buf));
	if (sscanf(buf, "%ld\n", &pid) != 1 || pid <= 1)
		bail("no pid in %s: '%s'", pidfile, buf);
	harness_watch((pid_t)pid, 1);
	ok(pid != (long)parent && kill((pid_t)pid, 0) == 0, "--daemon: the "
	    "pid file names a live child (%ld), not the parent (%ld)", pid,
	    (long)parent);
	is_int(getsid((pid_t)pid), pid, "--daemon: the child leads its own "
	    "session");
	child_free(&d);
	ok(port > 0 && echo_port(port, 3), "--daemon: %d bytes echoed",
	    ECHO_BYTES);

	is_int(child_run(&d, NULL, "--daemon", "--pidfile", pidfile, "-l",
	    "127.0.0.1:0", NULL), 1, "--daemon, same pid file: exit 1");
	snprintf(want, sizeof(want), "echod: pid file %s is locked", pidfile);
	like(d.d_err.cap_buf, want, "--daemon, same pid file: refused");
	child_free(&d);
	file_read(pidfile, buf, sizeof(buf));
	is_int(atol(buf), pid, "--daemon, same pid file: left as it was");

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	is_int(child_run(&d, NULL, "--daemon", "-l", addr, NULL), 1,
	    "--daemon, same port: exit 1");
	snprintf(want, sizeof(want), "echod: cannot listen on %s: Address "
	    "already in use", addr);
	like(d.d_err.cap_buf, want, "--daemon, same port: the reason");
	child_free(&d);
	ok(echo_port(port, 4), "--daemon: still serving");

	kill((pid_t)pid, SIGTERM);
	is_int(reap_wait((pid_t)pid, tmo(10)), 0, "--daemon: exit 0 on "
	    "SIGTERM");
	ok(kill((pid_t)pid, 0) == -1 && errno == ESRCH, "--daemon: gone");
	ok(access(pidfile, F_OK) == -1 && errno == ENOENT, "--daemon: the pid "
	    "file removed");
	harness_watch((pid_t)pid, 0);
}

/*
 * --log-file: lines go to the file, stamped with the time and the pid,
 * none to stderr.  Once the file is renamed, SIGHUP makes echod write to
 * a new file at the path, and the renamed one keeps the lines before.
 * A path in a missing directory is refused with exit 1, naming it.
 */
static void
test_log_file(void)
{
	struct setup	 su = SETUP_INIT;
	struct child	 d;
	const char	*args[] = { "-v", "--log-file", NULL, NULL };
	char		 path[64], old[64], buf[FILE_MAX], want[2][64];
	long		 pid = -1;
	int		 port, lport = -1, n, i, fd;

	snprintf(path, sizeof(path), "%s/echod.log", tmpdir);
	snprintf(old, sizeof(old), "%s/echod.log.1", tmpdir);
	args[2] = path;
	su.su_listen = client_listen(&port);
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, args);
	close(su.su_listen);
	ok(file_wait(path, " ready: ", tmo(10)), "--log-file: ready logged");
	file_read(path, buf, sizeof(buf));
	n = sscanf(buf, "%*4d-%*2d-%*2dT%*2d:%*2d:%*2d%*[+-]%*4d "
	    "echod[%ld]: listening on 127.0.0.1:%d\n", &pid, &lport);
	is_int(n, 2, "--log-file: 'TIME echod[PID]: listening on' first");
	is_int(pid, d.d_pid, "--log-file: the pid");
	is_int(lport, port, "--log-file: the port");
	for (i = 0; i < 2; i++) {
		if (i == 1) {
			if (rename(path, old) == -1)
				bail("rename: %s", strerror(errno));
			kill(d.d_pid, SIGHUP);
			snprintf(buf, sizeof(buf), "]: reopened %s\n", path);
			ok(file_wait(path, buf, tmo(5)), "--log-file: "
			    "reopened at the path on SIGHUP");
		}
		if ((fd = client_connect(port)) == -1)
			bail("connect: %s", strerror(errno));
		ok(client_echo(fd, 5 + i, ECHO_BYTES, tmo(5)),
		    "--log-file: client %d served", i + 1);
		snprintf(want[i], sizeof(want[i]), "]: close 127.0.0.1:%d "
		    "after ", client_local_port(fd));
		close(fd);
		ok(file_wait(path, want[i], tmo(5)), "--log-file: client "
		    "%d's close line in the file at the path", i + 1);
	}
	file_read(old, buf, sizeof(buf));
	like(buf, "]: listening on ", "--log-file: the renamed file kept the "
	    "start-up lines");
	like(buf, want[0], "--log-file: and client 1's close line");
	unlike(buf, want[1], "--log-file: but not client 2's");
	is_int(child_stop(&d, tmo(10)), 0, "--log-file: exit 0");
	file_read(path, buf, sizeof(buf));
	like(buf, "]: stopped\n", "--log-file: the new file has the last line");
	unlike(buf, "]: listening on ", "--log-file: and none from before");
	is_int((long long)d.d_err.cap_len, 0, "--log-file: nothing on stderr");
	child_free(&d);
	unlink(path);
	unlink(old);

	snprintf(path, sizeof(path), "%s/missing/echod.log", tmpdir);
	is_int(child_run(&d, NULL, "--log-file", path, "-l", "127.0.0.1:0",
	    NULL), 1, "--log-file in a missing directory: exit 1");
	snprintf(buf, sizeof(buf), "echod: cannot open log file %s: No such "
	    "file or directory\n", path);
	like(d.d_err.cap_buf, buf, "--log-file in a missing directory: named");
	child_free(&d);
}

/*
 * JOURNAL_STREAM naming echod's stderr: each line starts with its syslog
 * priority, <5> for notices, <6> for -v's close line.  Naming another
 * stream (stdout, as after a redirection): the plain "echod: " lines.
 */
static void
test_journal(void)
{
	static const char *const args[] = { "-v", "-l", "127.0.0.1:0", NULL };
	static const struct {
		int		 fd;	/* the stream JOURNAL_STREAM names */
		const char	*name, *notice, *info, *never;
	} cases[] = {
		{ STDERR_FILENO, "journal", "<5>", "<6>", "echod: " },
		{ STDOUT_FILENO, "journal elsewhere", "echod: ", "echod: ",
		    "<5>" },
	};
	struct setup	 su = SETUP_INIT;
	struct child	 d;
	char		 want[64];
	int		 fd, i;

	for (i = 0; i < 2; i++) {
		su.su_journal = cases[i].fd;
		child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, args);
		if (child_wait_ready(&d) == -1)
			bail("echod did not start");
		snprintf(want, sizeof(want), "%slistening on 127.0.0.1:%d\n",
		    cases[i].notice, d.d_port);
		is_int(child_log_wait(&d, 0, want, 0), 0, "%s: '%slistening "
		    "on' first", cases[i].name, cases[i].notice);
		if ((fd = client_connect(d.d_port)) == -1)
			bail("connect: %s", strerror(errno));
		ok(client_echo(fd, 7, ECHO_BYTES, tmo(5)), "%s: served",
		    cases[i].name);
		snprintf(want, sizeof(want), "\n%sclose 127.0.0.1:%d after ",
		    cases[i].info, client_local_port(fd));
		close(fd);
		ok(child_log_wait(&d, 0, want, tmo(5)) != -1, "%s: '%sclose' "
		    "line", cases[i].name, cases[i].info);
		is_int(child_stop(&d, tmo(10)), 0, "%s: exit 0",
		    cases[i].name);
		snprintf(want, sizeof(want), "\n%sstopped\n", cases[i].notice);
		like(d.d_err.cap_buf, want, "%s: '%sstopped'", cases[i].name,
		    cases[i].notice);
		unlike(d.d_err.cap_buf, cases[i].never, "%s: no '%s'",
		    cases[i].name, cases[i].never);
		child_free(&d);
	}
}

/*
 * --user as root: after binding, echod runs as the user with its group
 * alone, and still serves; an unknown user is refused.  Not as root:
 * refused, with the reason.
 */
static void
test_user(void)
{
	struct spawn_opts	 o = { 0, 0 };
	struct passwd		*pw;
	struct child		 d;
	char			 path[64], status[FILE_MAX], want[3][64];
	unsigned long		 uid, gid;
	int			 i, rc;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		skip(7, "needs root and a user nobody");
	} else {
		uid = (unsigned long)pw->pw_uid;
		gid = (unsigned long)pw->pw_gid;
		if (child_start(&d, NULL, "-v", "--user", "nobody", "-l",
		    "127.0.0.1:0", NULL) == -1)
			bail("echod did not start");
		snprintf(path, sizeof(path), "/proc/%ld/status",
		    (long)d.d_pid);
		file_read(path, status, sizeof(status));
		/* Real, effective, saved and file-system ids; the groups. */
		snprintf(want[0], sizeof(want[0]), "\nUid:\t%lu\t%lu\t%lu\t"
		    "%lu\n", uid, uid, uid, uid);
		snprintf(want[1], sizeof(want[1]), "\nGid:\t%lu\t%lu\t%lu\t"
		    "%lu\n", gid, gid, gid, gid);
		snprintf(want[2], sizeof(want[2]), "\nGroups:\t%lu \n", gid);
		for (i = 0; i < 3; i++)
			like(status, want[i], "--user nobody: %.*s all %lu",
			    (int)strcspn(want[i] + 1, ":"), want[i] + 1,
			    i == 0 ? uid : gid);
		ok(echo_port(d.d_port, 8), "--user nobody: still echoes");
		is_int(child_stop(&d, tmo(10)), 0, "--user nobody: exit 0");
		child_free(&d);

		is_int(child_run(&d, NULL, "--user", NO_SUCH_USER, "-l",
		    "127.0.0.1:0", NULL), 1, "--user " NO_SUCH_USER ": exit 1");
		like(d.d_err.cap_buf, "echod: --user " NO_SUCH_USER ": no such "
		    "user\n", "--user " NO_SUCH_USER ": refused");
		child_free(&d);
	}

	o.so_nobody = geteuid() == 0;
	rc = child_run(&d, &o, "--user", "nobody", "-l", "127.0.0.1:0", NULL);
	if (rc == 127) {
		skip(2, "nobody (uid 65534) cannot run %s", getenv("ECHOD"));
	} else {
		is_int(rc, 1, "--user, not root: exit 1");
		like(d.d_err.cap_buf, "echod: --user nobody: only root can "
		    "change user", "--user, not root: the reason");
	}
	child_free(&d);
}

/*
 * --syslog: not a byte on stderr or stdout, whether or not a syslog
 * daemon listens, and echod still serves.  The port is one passed in,
 * since the listening line is not on stderr.
 */
static void
test_syslog(void)
{
	static const char *const args[] = { "-v", "--syslog", NULL };
	struct setup	 su = SETUP_INIT;
	struct child	 d;
	int		 port;

	su.su_listen = client_listen(&port);
	child_spawn_setup(&d, NULL, NULL, service_child_setup, &su, args);
	close(su.su_listen);
	ok(echo_port(port, 9), "--syslog: %d bytes echoed", ECHO_BYTES);
	is_int(child_stop(&d, tmo(10)), 0, "--syslog: exit 0");
	is_int((long long)(d.d_err.cap_len + d.d_out.cap_len), 0,
	    "--syslog: nothing on stderr or stdout");
	child_done(&d);
}

/*
 * A start that fails after the pid file is written, at --user (an unknown
 * user as root, any user otherwise): exit 1, and the file gone.  A stale
 * file is there first, so its going shows echod took it over and then
 * removed it, rather than failing before it.
 */
static void
test_pidfile_user(void)
{
	struct child	 d;
	char		 pidfile[64];

	snprintf(pidfile, sizeof(pidfile), "%s/user.pid", tmpdir);
	file_write(pidfile, STALE_PID);
	is_int(child_run(&d, NULL, "--pidfile", pidfile, "--user",
	    NO_SUCH_USER, "-l", "127.0.0.1:0", NULL), 1,
	    "--pidfile, --user fails: exit 1");
	like(d.d_err.cap_buf, "echod: --user " NO_SUCH_USER ": ",
	    "--pidfile, --user fails: the reason");
	ok(access(pidfile, F_OK) == -1 && errno == ENOENT,
	    "--pidfile, --user fails: no pid file left");
	/* A sanitizer's report also exits 1: only its text tells. */
	unlike(d.d_err.cap_buf, "Sanitizer", "--pidfile, --user fails: "
	    "no sanitizer report");
	child_done(&d);
	unlink(pidfile);
}

/*
 * A start that fails setting up the workers, out of descriptors: exit 1,
 * never ready, and the pid file gone.  A limit at which libevent aborts
 * instead is passed over for one a step higher.
 */
static void
test_pidfile_workers(void)
{
	struct spawn_opts	 o = { 0, 0 };
	struct child		 d;
	char			 pidfile[64];
	int			 try, rc;

	snprintf(pidfile, sizeof(pidfile), "%s/workers.pid", tmpdir);
	for (try = 0; ; try++) {
		file_write(pidfile, STALE_PID);
		o.so_nofile = NOFILE_LOW + try * NOFILE_STEP;
		rc = child_run(&d, &o, "--pidfile", pidfile, "--threads",
		    NOFILE_THREADS, "-l", "127.0.0.1:0", NULL);
		if (rc == 1 || try == NOFILE_TRIES - 1)
			break;
		diag("descriptor limit %lu: exit %d; trying %d higher",
		    o.so_nofile, rc, NOFILE_STEP);
		child_diag(&d);
		child_free(&d);
	}
	is_int(rc, 1, "--threads %s, %lu descriptors: exit 1", NOFILE_THREADS,
	    o.so_nofile);
	like(d.d_err.cap_buf, "Too many open files", "--threads %s, %lu "
	    "descriptors: the reason", NOFILE_THREADS, o.so_nofile);
	unlike(d.d_err.cap_buf, " ready: ", "--threads %s, %lu descriptors: "
	    "never ready", NOFILE_THREADS, o.so_nofile);
	ok(access(pidfile, F_OK) == -1 && errno == ENOENT, "--threads %s, "
	    "%lu descriptors: no pid file left", NOFILE_THREADS, o.so_nofile);
	unlike(d.d_err.cap_buf, "Sanitizer", "--threads %s, %lu descriptors: "
	    "no sanitizer report", NOFILE_THREADS, o.so_nofile);
	child_done(&d);
	unlink(pidfile);
}

/* Each feature against daemons of its own, files in a directory of ours. */
int
main(void)
{
	static const char *const files[] = { "echod.pid", "echod.log",
	    "echod.log.1" };
	char	 path[64];
	size_t	 i;

	harness_init(WATCHDOG_SEC);
	if (mkdtemp(tmpdir) == NULL)
		bail("mkdtemp: %s", strerror(errno));
#ifdef __linux__
	/* A --daemon child is then ours to reap when its parent exits. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1UL) == -1)
		bail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
#endif
	test_activation();
	test_socket_activate();
	test_inetd();
	test_daemon();
	test_log_file();
	test_journal();
	test_user();
	test_syslog();
	test_pidfile_user();
	test_pidfile_workers();
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return (tap_done());
}
