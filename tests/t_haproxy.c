/* SPDX-License-Identifier: ISC */
/*
 * t_haproxy.c - echod behind a real HAProxy: one backend sends PROXY
 * version 1 (send-proxy), the other version 2 with a TLV (send-proxy-v2
 * with a CRC32C), both to echod's proxy: listener.  Data echoes intact
 * through both, and echod's -v log names the client address HAProxy
 * saw, not HAProxy's own.  Skipped when haproxy is not installed.
 */

#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Two daemons and a few echoes; HAProxy starts in well under a second. */
#define WATCHDOG_SEC	60

/* Bytes echoed through each backend: several reads and writes. */
#define ECHO_BYTES	(256 * 1000)

/* Free ports are picked by binding and closing: retry on a collision. */
#define PORT_TRIES	5

/* Tests run when haproxy is found; one plan line either way. */
#define NTESTS		10

static const char *const haproxy_dirs[] = {
	"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin", NULL
};

static int	find_haproxy(char *, size_t);
static int	start_haproxy(struct child *, const char *, const char *, int,
		    int *, int *);
static int	through(struct child *, int, uint64_t, const char *);

/* $HAPROXY, or haproxy in the usual directories; 0 if found. */
static int
find_haproxy(char *path, size_t size)
{
	const char	*env = getenv("HAPROXY");
	size_t		 i;

	if (env != NULL && *env != '\0') {
		snprintf(path, size, "%s", env);
		return (access(path, X_OK));
	}
	for (i = 0; haproxy_dirs[i] != NULL; i++) {
		snprintf(path, size, "%s/haproxy", haproxy_dirs[i]);
		if (access(path, X_OK) == 0)
			return (0);
	}
	return (-1);
}

/*
 * Write a configuration with two frontends on free ports, v1 and v2,
 * and start HAProxy in the foreground.  Returns 0 once both frontends
 * accept, with their ports, or -1 after PORT_TRIES collisions.
 */
static int
start_haproxy(struct child *h, const char *prog, const char *cfg,
    int echod_port, int *p1, int *p2)
{
	const char	*argv[] = { prog, "-db", "-f", cfg, NULL };
	FILE		*fp;
	double		 end;
	int		 try, fd1, fd2;

	for (try = 0; try < PORT_TRIES; try++) {
		close(client_listen(p1));
		close(client_listen(p2));
		if ((fp = fopen(cfg, "w")) == NULL)
			bail("cannot write %s: %s", cfg, strerror(errno));
		fprintf(fp,
		    "global\n"
		    "\tmaxconn 64\n"
		    "defaults\n"
		    "\tmode tcp\n"
		    "\ttimeout connect 5s\n"
		    "\ttimeout client 30s\n"
		    "\ttimeout server 30s\n"
		    "frontend v1\n"
		    "\tbind 127.0.0.1:%d\n"
		    "\tdefault_backend echod_v1\n"
		    "backend echod_v1\n"
		    "\tserver echod 127.0.0.1:%d send-proxy\n"
		    "frontend v2\n"
		    "\tbind 127.0.0.1:%d\n"
		    "\tdefault_backend echod_v2\n"
		    "backend echod_v2\n"
		    "\tserver echod 127.0.0.1:%d send-proxy-v2 "
		    "proxy-v2-options crc32c\n",
		    *p1, echod_port, *p2, echod_port);
		fclose(fp);
		prog_start(h, argv);
		end = now() + tmo(5);
		fd1 = fd2 = -1;
		while (now() < end && child_log_wait(h, 0, "ALERT", 0) == -1) {
			if ((fd1 = client_connect(*p1)) != -1 &&
			    (fd2 = client_connect(*p2)) != -1)
				break;
			if (fd1 != -1)
				close(fd1);
			fd1 = -1;
			pause_sec(0.05);
		}
		if (fd1 != -1)
			close(fd1);
		if (fd2 != -1)
			close(fd2);
		if (fd2 != -1 && child_log_wait(h, 0, "ALERT", 0) == -1)
			return (0);
		diag("haproxy on ports %d and %d did not start:", *p1, *p2);
		child_diag(h);
		child_stop(h, tmo(5));
		child_free(h);
	}
	return (-1);
}

/*
 * Echo through a frontend; 1 if the bytes came back intact and echod's
 * close line names this client's own address and port, as HAProxy saw it.
 */
static int
through(struct child *d, int port, uint64_t seed, const char *name)
{
	char	 want[64];
	int	 fd, good;

	if ((fd = client_connect(port)) == -1)
		bail("connect to haproxy: %s", strerror(errno));
	snprintf(want, sizeof(want), "echod: close 127.0.0.1:%d after ",
	    client_local_port(fd));
	good = client_echo(fd, seed, ECHO_BYTES, tmo(10));
	close(fd);
	ok(good, "%s: %d bytes echoed through haproxy", name, ECHO_BYTES);
	return (child_log_wait(d, 0, want, tmo(5)) != -1);
}

/* echod with a proxy: listener, HAProxy in front of it. */
int
main(void)
{
	struct child		 d, h;
	struct echod_stats	 st;
	char			 prog[PATH_MAX], dir[] = "/tmp/t_haproxy.XXXXXX";
	char			 cfg[PATH_MAX];
	int			 p1, p2;

	harness_init(WATCHDOG_SEC);
	if (find_haproxy(prog, sizeof(prog)) == -1) {
		skip(NTESTS, "haproxy is not installed (apt-get install "
		    "haproxy)");
		return (tap_done());
	}
	if (mkdtemp(dir) == NULL)
		bail("mkdtemp: %s", strerror(errno));
	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", dir);
	if (child_start(&d, NULL, "-v", "-l", "proxy:127.0.0.1:0", NULL) == -1)
		bail("echod did not start");
	if (start_haproxy(&h, prog, cfg, d.d_port, &p1, &p2) == -1)
		bail("haproxy did not start in %d tries", PORT_TRIES);

	ok(through(&d, p1, 1, "send-proxy"), "send-proxy: echod's log names "
	    "the client haproxy saw");
	ok(through(&d, p2, 2, "send-proxy-v2"), "send-proxy-v2: echod's log "
	    "names the client haproxy saw");
	ok(through(&d, p2, 3, "send-proxy-v2 again"), "send-proxy-v2 again: "
	    "echod's log names the client haproxy saw");
	unlike(d.d_err.cap_buf, "bad PROXY header",
	    "no header from haproxy was refused");

	child_stats(&d, &st);
	cmp_u64(st.proxy_closed + st.proxy_timeout_closed, "==", 0,
	    "proxy_closed and proxy_timeout_closed stay 0");
	is_int(child_stop(&h, tmo(10)), 128 + 15, "haproxy: still running, "
	    "ended by the SIGTERM");
	child_done(&h);
	is_int(child_stop(&d, tmo(10)), 0, "echod: exit 0 on SIGTERM");
	child_done(&d);
	unlink(cfg);
	rmdir(dir);
	return (tap_done());
}
