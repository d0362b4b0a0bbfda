/* SPDX-License-Identifier: ISC */
/*
 * daemon.c - becoming a service without systemd's help: detaching from the
 * terminal, the locked pid file, and dropping root after binding.
 */

#include "config.h"

#include <sys/file.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"

/* The write end of the pipe the waiting parent reads our start-up from. */
static int		 ready_fd = -1;

/* The pid file stays open and locked while we run; -1 when there is none. */
static int		 pidfile_fd = -1;
static const char	*pidfile_path;

/*
 * Fork into the background.  The parent waits until the child says it is
 * serving (daemon_ready) and exits 0, or exits with the child's status if
 * it fails first, so start-up errors reach the terminal and the caller's
 * exit status.  Only the child returns.
 */
int
daemon_detach(void)
{
	int	 p[2], status;
	pid_t	 pid;
	ssize_t	 n;
	char	 ok;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("cannot run in the background");
		return (-1);
	}
	switch (pid = fork()) {
	case -1:
		log_warn("cannot run in the background");
		return (-1);
	case 0:
		close(p[0]);
		ready_fd = p[1];
		if (setsid() == -1 || chdir("/") == -1) {
			log_warn("cannot run in the background");
			return (-1);
		}
		return (0);
	default:
		close(p[1]);
		do
			n = read(p[0], &ok, 1);
		while (n == -1 && errno == EINTR);
		if (n == 1)
			_exit(EXIT_OK);
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			_exit(WEXITSTATUS(status));
		_exit(EXIT_RUNTIME);
	}
}

/*
 * Tell the waiting parent we are serving, and let go of the terminal:
 * stdio goes to /dev/null.  A no-op unless daemon_detach() ran.
 */
void
daemon_ready(void)
{
	int	 fd;
	char	 ok = 0;

	if (ready_fd == -1)
		return;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	(void)!write(ready_fd, &ok, 1);
	close(ready_fd);
	ready_fd = -1;
}

/*
 * Write our pid to path and hold a lock on it, so that a second echod
 * given the same file refuses to start instead of overwriting it.
 */
int
daemon_write_pidfile(const char *path)
{
	char	 buf[32];
	int	 fd, len;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		log_warn("cannot open pid file %s", path);
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			log_warnx("pid file %s is locked: is another echod "
			    "running?", path);
		else
			log_warn("cannot lock pid file %s", path);
		close(fd);
		return (-1);
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, buf, len) != len) {
		log_warn("cannot write pid file %s", path);
		close(fd);
		return (-1);
	}
	pidfile_fd = fd;
	pidfile_path = path;
	return (0);
}

/*
 * Remove the pid file at exit.  After --user its directory may no longer
 * be ours to change; then the file stays, unlocked and harmless.
 */
void
daemon_remove_pidfile(void)
{
	if (pidfile_fd == -1)
		return;
	if (unlink(pidfile_path) == -1 && errno != ENOENT)
		log_debug("cannot remove pid file %s: %s", pidfile_path,
		    strerror(errno));
	close(pidfile_fd);
	pidfile_fd = -1;
}

/*
 * path made absolute against the current directory into buf, for files
 * reopened or removed after --daemon has moved to /.  Returns 0, or -1
 * with errno set.
 */
int
daemon_abspath(const char *path, char *buf, size_t len)
{
	char	 cwd[PATH_MAX];
	int	 n;

	if (*path == '/')
		n = snprintf(buf, len, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return (-1);
	else
		n = snprintf(buf, len, "%s/%s", cwd, path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/*
 * Become user for good: supplementary groups, group, then user, and check
 * that root cannot be regained.
 */
int
daemon_drop_privileges(const char *user)
{
	struct passwd	*pw;
	uid_t		 uid;
	gid_t		 gid;

	if (geteuid() != 0) {
		log_warnx("--user %s: only root can change user; start echod "
		    "as root or leave --user out", user);
		return (-1);
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno != 0)
			log_warn("--user %s", user);
		else
			log_warnx("--user %s: no such user", user);
		return (-1);
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		log_warn("--user %s: cannot change user", user);
		return (-1);
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || (uid != 0 && setuid(0) != -1)) {
		log_warnx("--user %s: privileges were not dropped", user);
		return (-1);
	}
	return (0);
}
