/* SPDX-License-Identifier: ISC */
/*
 * t_unix.c - Unix socket listeners: echo over a path and an abstract
 * name, --socket-mode on the file, the path in the log line, the file
 * removed at exit, a stale socket replaced, and every refusal (a live
 * socket, a file that is no socket, a name in use, a missing directory,
 * bad paths and modes) with its message and exit status; and a Unix
 * socket handed over by socket activation.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Several daemons that start and stop: seconds; a hang is not. */
#define WATCHDOG_SEC	90

/* Bytes echoed per check: more than one read, less than a window. */
#define ECHO_BYTES	(100 * 1000)

/* sun_path's size: a path this long leaves no room for its NUL. */
#define SUN_PATH_LEN	((int)sizeof(((struct sockaddr_un *)0)->sun_path))

/* Where socket activation hands over the listening socket. */
#define LISTEN_FD	3

static char	tmpdir[] = "/tmp/t_unix.XXXXXX";

static int	unix_listen(const char *, int);
static void	activation_setup(void *);
static int	echo_unix(const char *, uint64_t);
static int	gone(const char *);
static void	test_serve(void);
static void	test_stale(void);
static void	test_refused(void);
static void	test_bad_args(void);
static void	test_activation(void);
static void	test_user(void);

/*
 * A Unix socket bound to path ("@name": abstract), listening unless told
 * not to: a stale socket is one bound and closed without listening.
 */
static int
unix_listen(const char *path, int listening)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path) + 1);
	if (path[0] == '@') {
		sun.sun_path[0] = '\0';
		len--;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, len) == -1 ||
	    (listening && listen(fd, SOMAXCONN) == -1))
		bail("cannot bind unix:%s: %s", path, strerror(errno));
	return (fd);
}

/* In the child: the socket becomes fd 3, announced as systemd does. */
static void
activation_setup(void *arg)
{
	int	 fd = *(int *)arg;
	char	 pid[32];

	if (dup2(fd, LISTEN_FD) == -1)
		_exit(127);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) == -1 ||
	    setenv("LISTEN_PID", pid, 1) == -1)
		_exit(127);
}

/* Whether a new connection to a Unix socket echoes ECHO_BYTES intact. */
static int
echo_unix(const char *path, uint64_t seed)
{
	int	 fd, good;

	if ((fd = client_connect_unix(path)) == -1) {
		diag("connect to unix:%s: %s", path, strerror(errno));
		return (0);
	}
	good = client_echo(fd, seed, ECHO_BYTES, tmo(10));
	close(fd);
	return (good);
}

/* Whether nothing is at path any more. */
static int
gone(const char *path)
{
	struct stat	 st;

	return (lstat(path, &st) == -1 && errno == ENOENT);
}

/*
 * A path and an abstract name beside a TCP port: each echoes, the file
 * has --socket-mode, -v names the socket in the close line, and the file
 * is removed at exit.
 */
static void
test_serve(void)
{
	struct child	 d;
	struct stat	 st;
	char		 path[PATH_MAX], lpath[PATH_MAX + 8], abs[64];
	char		 want[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/echod.sock", tmpdir);
	snprintf(lpath, sizeof(lpath), "unix:%s", path);
	snprintf(abs, sizeof(abs), "@t_unix.%ld", (long)getpid());
	snprintf(want, sizeof(want), "unix:%s", abs);
	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "-l", lpath,
	    "-l", want, "--socket-mode", "0600", NULL) == -1)
		bail("echod did not start");
	snprintf(want, sizeof(want), "echod: listening on unix:%s\n", path);
	ok(child_log_wait(&d, 0, want, 0) != -1, "serve: '%.*s'",
	    (int)strlen(want) - 1, want);
	snprintf(want, sizeof(want), "echod: listening on unix:%s\n", abs);
	ok(child_log_wait(&d, 0, want, 0) != -1, "serve: '%.*s'",
	    (int)strlen(want) - 1, want);
	ok(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
	    "serve: the path is a socket");
	is_int(st.st_mode & 07777, 0600, "serve: --socket-mode 0600 applied");

	ok(echo_unix(path, 1), "serve: %d bytes echoed over the path",
	    ECHO_BYTES);
	ok(echo_unix(abs, 2), "serve: %d bytes echoed over the abstract name",
	    ECHO_BYTES);
	snprintf(want, sizeof(want), "echod: close unix:%s after ", path);
	ok(child_log_wait(&d, 0, want, tmo(5)) != -1,
	    "serve: the close line names the path");
	snprintf(want, sizeof(want), "echod: close unix:%s after ", abs);
	ok(child_log_wait(&d, 0, want, tmo(5)) != -1,
	    "serve: the close line names the abstract socket");

	is_int(child_stop(&d, tmo(10)), 0, "serve: exit 0 on SIGTERM");
	ok(gone(path), "serve: the socket file removed at exit");
	ok(client_connect_unix(abs) == -1 && errno == ECONNREFUSED,
	    "serve: the abstract name is gone too");
	child_done(&d);
}

/*
 * A socket file that nobody listens on, left by a crash, is replaced; the
 * default mode is 0666.
 */
static void
test_stale(void)
{
	struct child	 d;
	struct stat	 st;
	char		 path[PATH_MAX], lpath[PATH_MAX + 8], want[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/stale.sock", tmpdir);
	snprintf(lpath, sizeof(lpath), "unix:%s", path);
	close(unix_listen(path, 0));
	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-l", lpath,
	    NULL) == -1)
		bail("echod did not start");
	snprintf(want, sizeof(want), "echod: removed the stale socket "
	    "unix:%s\n", path);
	ok(child_log_wait(&d, 0, want, 0) != -1, "stale: '%.*s'",
	    (int)strlen(want) - 1, want);
	ok(echo_unix(path, 3), "stale: the new socket echoes");
	ok(lstat(path, &st) == 0 && (st.st_mode & 07777) == 0666,
	    "stale: default mode 0666 (got %04o)",
	    (unsigned int)(st.st_mode & 07777));
	is_int(child_stop(&d, tmo(10)), 0, "stale: exit 0 on SIGTERM");
	ok(gone(path), "stale: removed at exit");
	child_done(&d);
}

/*
 * What must not be replaced: a socket somebody listens on, a file that is
 * no socket, an abstract name in use, a path whose directory is missing.
 * Each is exit 1 naming the path, and what was there stays.
 */
static void
test_refused(void)
{
	static const struct {
		const char	*name, *file, *why;
	} cases[] = {
		{ "live socket", "live.sock",
		    ": another server is listening on it\n" },
		{ "regular file", "file",
		    ": a file that is not a socket is in the way\n" },
		{ "directory", "dir",
		    ": a file that is not a socket is in the way\n" },
		{ "symbolic link", "link",
		    ": a file that is not a socket is in the way\n" },
		{ "missing directory", "none/echod.sock",
		    ": No such file or directory\n" },
	};
	struct child	 d;
	struct stat	 st;
	char		 path[PATH_MAX], lpath[PATH_MAX + 8], want[PATH_MAX + 128];
	char		 abs[64];
	size_t		 i;
	int		 fd = -1;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, cases[i].file);
		snprintf(lpath, sizeof(lpath), "unix:%s", path);
		if (i == 0)
			fd = unix_listen(path, 1);
		else if (i == 1)
			close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		else if (i == 2 && mkdir(path, 0755) == -1)
			bail("mkdir %s: %s", path, strerror(errno));
		else if (i == 3 && symlink("live.sock", path) == -1)
			bail("symlink %s: %s", path, strerror(errno));
		is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "-l", lpath,
		    NULL), 1, "%s: exit 1", cases[i].name);
		snprintf(want, sizeof(want), "echod: cannot listen on unix:%s%s",
		    path, cases[i].why);
		like(d.d_err.cap_buf, want, "%s: refused, naming the path",
		    cases[i].name);
		if (i < 4)
			ok(lstat(path, &st) == 0, "%s: left in place",
			    cases[i].name);
		child_done(&d);
	}
	snprintf(path, sizeof(path), "%s/live.sock", tmpdir);
	ok(fd != -1 && (close(fd), lstat(path, &st) == 0 && S_ISSOCK(
	    st.st_mode)), "live socket: still a socket after echod gave up");

	snprintf(abs, sizeof(abs), "@t_unix.busy.%ld", (long)getpid());
	fd = unix_listen(abs, 1);
	snprintf(lpath, sizeof(lpath), "unix:%s", abs);
	is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "-l", lpath, NULL), 1,
	    "abstract name in use: exit 1");
	snprintf(want, sizeof(want), "echod: cannot listen on unix:%s: "
	    "another socket has that name\n", abs);
	like(d.d_err.cap_buf, want, "abstract name in use: refused");
	child_done(&d);
	close(fd);
}

/* Bad -l unix: forms and modes: usage errors, exit 2. */
static void
test_bad_args(void)
{
	static const struct {
		const char	*opt, *arg, *why;
	} cases[] = {
		{ "-l", "unix:echod.sock", "invalid --listen 'unix:echod.sock': "
		    "unix: needs an absolute path or @name" },
		{ "-l", "unix:@", "unix:@ needs a name after the '@'" },
		{ "-l", "unix:/tmp/", "unix: path names a directory" },
		{ "--socket-mode", "888", "invalid --socket-mode '888': "
		    "expected octal permissions from 0 to 0777" },
		{ "--socket-mode", "4755", "invalid --socket-mode '4755'" },
	};
	struct child	 d;
	char		 arg[SUN_PATH_LEN + 16];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_int(child_run(&d, NULL, cases[i].opt, cases[i].arg, NULL),
		    2, "'%s %s': exit 2", cases[i].opt, cases[i].arg);
		like(d.d_err.cap_buf, cases[i].why, "'%s %s': reason given",
		    cases[i].opt, cases[i].arg);
		child_done(&d);
	}
	/* 108 bytes: one more than sun_path holds with its NUL. */
	snprintf(arg, sizeof(arg), "unix:/");
	memset(arg + 6, 'p', SUN_PATH_LEN - 1);
	arg[6 + SUN_PATH_LEN - 1] = '\0';
	is_int(child_run(&d, NULL, "-l", arg, NULL), 2,
	    "path of %d bytes: exit 2", SUN_PATH_LEN);
	like(d.d_err.cap_buf, "unix: path is longer than 107 bytes",
	    "path of %d bytes: reason given", SUN_PATH_LEN);
	child_done(&d);
}

/*
 * Socket activation with a Unix socket: echod names it, serves it, and
 * leaves the file alone at exit, since the service manager made it.
 */
static void
test_activation(void)
{
	static const char *const args[] = { "-v", NULL };
	struct child	 d;
	char		 path[PATH_MAX], want[PATH_MAX + 64];
	int		 fd;

	snprintf(path, sizeof(path), "%s/activated.sock", tmpdir);
	fd = unix_listen(path, 1);
	child_spawn_setup(&d, NULL, NULL, activation_setup, &fd, args);
	close(fd);
	ok(child_log_wait(&d, 0, " ready: ", tmo(10)) != -1,
	    "activation: ready");
	snprintf(want, sizeof(want), "echod: listening on unix:%s\n", path);
	ok(child_log_wait(&d, 0, want, 0) != -1, "activation: '%.*s'",
	    (int)strlen(want) - 1, want);
	ok(echo_unix(path, 4), "activation: %d bytes echoed", ECHO_BYTES);
	snprintf(want, sizeof(want), "echod: close unix:%s after ", path);
	ok(child_log_wait(&d, 0, want, tmo(5)) != -1,
	    "activation: the close line names the path");
	is_int(child_stop(&d, tmo(10)), 0, "activation: exit 0 on SIGTERM");
	ok(!gone(path), "activation: the manager's socket file is left");
	child_done(&d);
	unlink(path);
}

/*
 * With --user the file is removed as that user: from a directory it may
 * write, it goes; from one it may not, echod says so and it stays, to be
 * replaced as stale by the next start.
 */
static void
test_user(void)
{
	static const char *const dirs[] = { "user-rw", "user-ro" };
	struct passwd	*pw;
	struct child	 d;
	char		 dir[PATH_MAX], path[PATH_MAX + 16], lpath[PATH_MAX + 24];
	char		 want[PATH_MAX + 64];
	size_t		 i;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		skip(8, "needs root and a user nobody");
		return;
	}
	/* nobody must reach the directories below to remove anything. */
	if (chmod(tmpdir, 0711) == -1)
		bail("chmod %s: %s", tmpdir, strerror(errno));
	for (i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", tmpdir, dirs[i]);
		if (mkdir(dir, 0755) == -1 || (i == 0 &&
		    chown(dir, pw->pw_uid, pw->pw_gid) == -1))
			bail("mkdir %s: %s", dir, strerror(errno));
		snprintf(path, sizeof(path), "%s/u.sock", dir);
		snprintf(lpath, sizeof(lpath), "unix:%s", path);
		if (child_start(&d, NULL, "--user", "nobody", "-l",
		    "127.0.0.1:0", "-l", lpath, NULL) == -1)
			bail("echod did not start");
		ok(echo_unix(path, 5 + i), "--user, %s: echoes", dirs[i]);
		is_int(child_stop(&d, tmo(10)), 0, "--user, %s: exit 0",
		    dirs[i]);
		snprintf(want, sizeof(want), "echod: cannot remove unix:%s; "
		    "the next start replaces it: Permission denied\n", path);
		if (i == 0) {
			ok(gone(path), "--user, %s: the file removed",
			    dirs[i]);
			unlike(d.d_err.cap_buf, "cannot remove",
			    "--user, %s: no warning", dirs[i]);
		} else {
			ok(!gone(path), "--user, %s: the file stays",
			    dirs[i]);
			like(d.d_err.cap_buf, want, "--user, %s: echod says "
			    "why", dirs[i]);
		}
		child_done(&d);
	}
}

/* Every daemon here listens on 127.0.0.1 port 0 and in a private dir. */
int
main(void)
{
	char	 cmd[PATH_MAX + 16];

	harness_init(WATCHDOG_SEC);
	if (mkdtemp(tmpdir) == NULL)
		bail("mkdtemp: %s", strerror(errno));
	test_serve();
	test_stale();
	test_refused();
	test_bad_args();
	test_activation();
	test_user();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	return (tap_done());
}
