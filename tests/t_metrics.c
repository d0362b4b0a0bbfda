/* SPDX-License-Identifier: ISC */
/*
 * t_metrics.c - the --metrics endpoint: /metrics read by the Prometheus
 * client library's own parser (skipped without python3-prometheus-client)
 * and every counter equal to the SIGUSR1 line taken right after, the
 * gauges and labels, /healthz, HTTP errors (404, 405 with Allow, a
 * malformed request, oversized headers, a body), the connection cap with
 * the echo service unaffected, the idle timeout, /healthz while draining,
 * a clean exit with metrics connections open, and bad --metrics values.
 */

#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Several daemons, one idle timeout, a few Python runs: all well within. */
#define WATCHDOG_SEC		180

/* echod's METRICS_CONNS_MAX: HTTP connections served at once. */
#define METRICS_CONNS		4

/* echod's METRICS_TIMEOUT_SEC: how long an idle connection is kept. */
#define METRICS_TIMEOUT		10

/* Longest reply read: the whole /metrics page is a few KiB. */
#define HTTP_MAX		65536

/* Python starts slowly on a loaded machine. */
#define PYTHON_SEC		60

/* Threads and listening sockets of the scraped daemon. */
#define THREADS			"2"

/* Echo connections made on the first and the second socket. */
#define CONNS_FIRST		3
#define CONNS_SECOND		2

/* Bytes each of them echoes. */
#define ECHO_BYTES		5000

/* A small queue limit, so the client that never reads stalls soon. */
#define HIGH_WATER		"64k"

/* Receive buffer of that client: a few KiB, so echod's queue fills. */
#define CLIENT_RCVBUF		4096

/* More than the socket buffers and the queue hold together. */
#define FILL_MAX		(64 * 1024 * 1024)

/* The send() gap that means the peer stopped reading. */
#define BLOCKED_SEC		0.2

/* Most tries for two equal stats lines in a row. */
#define SETTLE_TRIES		20

/* A name the DNS guarantees does not resolve (RFC 6761). */
#define NO_SUCH_HOST		"no-such-host.invalid"

/* Prints each sample the parser found: type name labels value help. */
static const char parse_script[] =
"import sys\n"
"from prometheus_client.parser import text_string_to_metric_families\n"
"for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
"    for s in f.samples:\n"
"        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n"
"        print(f.type, s.name, labels or '-', '%.17g' % s.value,\n"
"              'help' if f.documentation else 'nohelp')\n";

/* Each counter: its name, to find it in a scrape, and its stats field. */
static const struct {
	const char	*c_name;
	size_t		 c_field;
} counters[] = {
#define COUNTER_ENTRY(name, what)	{ #name, STAT(name) },
	COUNTERS(COUNTER_ENTRY)
#undef COUNTER_ENTRY
};

/* The number of counters. */
#define NCOUNTERS	(sizeof(counters) / sizeof(counters[0]))

static char	 tmpdir[] = "/tmp/t_metrics.XXXXXX";
static const char *python;	/* one with prometheus_client, or NULL */

static int	metrics_port(struct child *);
static int	http_open(int, const char *);
static int	http_read(int, char *, size_t, const char *, double);
static void	http(int, const char *, char *, size_t);
static uint64_t	counter(const struct echod_stats *, size_t);
static int	http_status(const char *);
static const char *http_body(const char *);
static int	scrape_value(const char *, const char *, uint64_t *);
static void	find_python(void);
static int	parsed_value(const char *, const char *, const char *,
		    const char *, double *);
static void	settle(struct child *, struct echod_stats *);
static void	test_scrape(void);
static void	test_parser(const char *, const struct echod_stats *, int,
		    int);
static void	test_http(void);
static void	test_cap(void);
static void	test_timeout(void);
static void	test_drain(void);
static void	test_bad_values(void);

/* The port of the "metrics on" line, or -1 with the log shown. */
static int
metrics_port(struct child *d)
{
	char	 line[512];
	char	*colon;
	long	 at;

	if ((at = child_log_wait(d, 0, "metrics on ", 0)) == -1 ||
	    child_log_line(d, (size_t)at, line, sizeof(line)) == 0 ||
	    (colon = strrchr(line, ':')) == NULL || atoi(colon + 1) <= 0) {
		diag("echod named no metrics port; its log:");
		child_diag(d);
		return (-1);
	}
	return (atoi(colon + 1));
}

/* Connect and send a request; the connection, or -1. */
static int
http_open(int port, const char *req)
{
	int	 fd;

	if ((fd = client_connect(port)) == -1)
		return (-1);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Read into buf (kept NUL-terminated) until until appears (NULL: never),
 * EOF, an error or secs.  Returns 1 when until came, 0 at EOF, -1 on an
 * error or at the deadline.
 */
static int
http_read(int fd, char *buf, size_t size, const char *until, double secs)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	double		 end = now() + secs;
	size_t		 len = 0;
	ssize_t		 n;

	buf[0] = '\0';
	while (len + 1 < size && now() < end) {
		if (poll(&pfd, 1, (int)((end - now()) * 1000) + 1) <= 0)
			continue;
		if ((n = recv(fd, buf + len, size - 1 - len, 0)) <= 0)
			return (n == 0 ? 0 : -1);
		len += (size_t)n;
		buf[len] = '\0';
		if (until != NULL && strstr(buf, until) != NULL)
			return (1);
	}
	return (-1);
}

/* One HTTP/1.0 exchange: the reply, whole, in buf ("" if none came). */
static void
http(int port, const char *req, char *buf, size_t size)
{
	int	 fd;

	buf[0] = '\0';
	if ((fd = http_open(port, req)) == -1)
		return;
	http_read(fd, buf, size, NULL, tmo(5));
	close(fd);
}

/* A counter's value in a stats line, by its STAT() field. */
static uint64_t
counter(const struct echod_stats *st, size_t field)
{
	uint64_t	 v;

	memcpy(&v, (const char *)st + field, sizeof(v));
	return (v);
}

/* The status code of a reply, or -1. */
static int
http_status(const char *reply)
{
	int	 code;

	if (sscanf(reply, "HTTP/1.%*d %d ", &code) != 1)
		return (-1);
	return (code);
}

/* The body of a reply: after the blank line, or "" without one. */
static const char *
http_body(const char *reply)
{
	const char	*p = strstr(reply, "\r\n\r\n");

	return (p != NULL ? p + 4 : "");
}

/* The value of the line "name value" in a scrape.  Returns 0 or -1. */
static int
scrape_value(const char *text, const char *name, uint64_t *v)
{
	const char	*p = text;
	size_t		 len = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == ' ')
			return (sscanf(p + len, " %" SCNu64, v) == 1 ? 0 :
			    -1);
		p += len;
	}
	return (-1);
}

/*
 * A python3 with prometheus_client: the one on PATH, else the system's
 * own, where the distribution's package installs it.
 */
static void
find_python(void)
{
	static const char *const candidates[] = { "python3",
	    "/usr/bin/python3" };
	struct child	 p;
	size_t		 i;

	for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		const char *argv[] = { candidates[i], "-c",
		    "import prometheus_client.parser", NULL };
		int	 status = prog_run(&p, tmo(PYTHON_SEC), argv);

		child_free(&p);
		if (status == 0) {
			python = candidates[i];
			return;
		}
	}
}

/*
 * The value of the sample name{labels} of the given type in the parser's
 * output, whose family must have had a HELP.  Returns 0 or -1.
 */
static int
parsed_value(const char *out, const char *type, const char *name,
    const char *labels, double *v)
{
	char		 want[256], help[16];
	const char	*p;

	snprintf(want, sizeof(want), "%s %s %s ", type, name, labels);
	for (p = out; (p = strstr(p, want)) != NULL; p++) {
		if (p == out || p[-1] == '\n')
			return (sscanf(p + strlen(want), "%lf %15s", v,
			    help) == 2 && strcmp(help, "help") == 0 ? 0 : -1);
	}
	return (-1);
}

/* Wait until two stats lines in a row agree: nothing moves any more. */
static void
settle(struct child *d, struct echod_stats *st)
{
	struct echod_stats	 next;
	int			 i;

	if (child_stats(d, st) == -1)
		bail("no stats");
	for (i = 0; i < SETTLE_TRIES; i++) {
		pause_sec(0.1);
		if (child_stats(d, &next) == -1)
			bail("no stats");
		if (memcmp(st, &next, sizeof(next)) == 0)
			return;
		*st = next;
	}
	bail("the counters never settled");
}

/*
 * Traffic on two sockets in two threads, one client that never reads,
 * then a scrape and SIGUSR1 at once: every counter and gauge must agree.
 */
static void
test_scrape(void)
{
	struct child		 d;
	struct echod_stats	 st;
	struct xfer		 x;
	char			 reply[HTTP_MAX], name[64];
	const char		*body;
	uint64_t		 v;
	size_t			 i;
	int			 port, held, fd, k, agree = 1;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "-l", "127.0.0.1:0",
	    "--threads", THREADS, "--high-water", HIGH_WATER, "--metrics",
	    "127.0.0.1:0", NULL) == -1 || d.d_nports != 2)
		bail("echod did not start on two sockets");
	if ((port = metrics_port(&d)) == -1)
		bail("no metrics port");
	ok(child_log_count(&d, 0, "listening on ") == 2,
	    "the metrics line is not taken for a listening one");

	for (k = 0; k < CONNS_FIRST + CONNS_SECOND; k++) {
		if ((fd = client_connect(d.d_ports[k < CONNS_FIRST ? 0 :
		    1])) == -1 || !client_echo(fd, (uint64_t)k, ECHO_BYTES,
		    tmo(10)))
			bail("echo %d failed", k);
		close(fd);
	}
	if ((held = client_connect(d.d_ports[0])) == -1 ||
	    !client_echo(held, 99, ECHO_BYTES, tmo(10)))
		bail("held connection failed");
	if ((fd = client_connect_rcvbuf("127.0.0.1", d.d_ports[1],
	    CLIENT_RCVBUF)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 7, FILL_MAX);
	x.x_noread = 1;
	xfer_fill(&x, 16384, BLOCKED_SEC);
	if (child_wait_stat(&d, &st, STAT(eof_closed), "==",
	    CONNS_FIRST + CONNS_SECOND, tmo(10)) == -1)
		bail("the echo connections did not close");
	settle(&d, &st);

	http(port, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	if (child_stats(&d, &st) == -1)
		bail("no stats");
	is_int(http_status(reply), 200, "/metrics: 200");
	like(reply, "\r\nContent-Type: text/plain; version=0.0.4",
	    "/metrics: the text format, version 0.0.4");
	body = http_body(reply);
	cmp_u64(st.active, "==", 2, "two connections open");
	cmp_u64(stats_queued(&st), ">", 0, "echo is queued");

	for (i = 0; i < NCOUNTERS; i++) {
		snprintf(name, sizeof(name), "echod_%s_total",
		    counters[i].c_name);
		if (scrape_value(body, name, &v) == -1 ||
		    v != counter(&st, counters[i].c_field)) {
			diag("%s: not %llu as SIGUSR1 says", name,
			    (unsigned long long)counter(&st,
			    counters[i].c_field));
			agree = 0;
		}
	}
	ok(agree, "every counter scraped equals the SIGUSR1 line's");
	ok(scrape_value(body, "echod_connections", &v) == 0 && v == st.active,
	    "echod_connections is the active count");
	ok(scrape_value(body, "echod_queued_bytes", &v) == 0 &&
	    v == stats_queued(&st), "echod_queued_bytes is bytes_in less "
	    "bytes_out");
	like(body, "\n# TYPE echod_accepted_total counter\n",
	    "counters are typed counter");
	like(body, "\n# HELP echod_bytes_in_total bytes read from clients\n",
	    "counters have their help");

	if (python == NULL)
		skip(9, "no python3 with prometheus_client "
		    "(python3-prometheus-client)");
	else
		test_parser(body, &st, d.d_ports[0], d.d_ports[1]);

	/* The client that never read goes: its echo is dropped, not queued. */
	client_reset(fd);
	if (child_wait_stat(&d, &st, STAT(active), "==", 1, tmo(10)) == -1)
		bail("the reset connection stayed open");
	settle(&d, &st);
	http(port, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	body = http_body(reply);
	ok(scrape_value(body, "echod_queued_bytes", &v) == 0 && v == 0,
	    "nothing queued once the stalled client is gone");
	ok(scrape_value(body, "echod_bytes_dropped_total", &v) == 0 &&
	    v > 0 && v == st.bytes_dropped, "what it left is counted dropped");
	close(held);
	is_int(child_stop(&d, tmo(10)), 0, "scraped daemon: exit 0");
	child_done(&d);
}

/*
 * The scrape through prometheus_client's parser: it must take all of
 * it, and what it read must match the SIGUSR1 line.
 */
static void
test_parser(const char *body, const struct echod_stats *st, int port0,
    int port1)
{
	struct child	 p;
	char		 path[64], labels[64];
	const char	*out;
	double		 v, w0, w1;
	FILE		*fp;
	size_t		 i;
	int		 agree = 1;

	snprintf(path, sizeof(path), "%s/scrape", tmpdir);
	if ((fp = fopen(path, "w")) == NULL || fputs(body, fp) == EOF ||
	    fclose(fp) == EOF)
		bail("%s: %s", path, strerror(errno));
	{
		const char *argv[] = { python, "-c", parse_script, path,
		    NULL };

		is_int(prog_run(&p, tmo(PYTHON_SEC), argv), 0,
		    "the Prometheus parser takes the whole scrape");
	}
	out = p.d_out.cap_buf;
	if (p.d_err.cap_len > 0)
		diag("parser: %s", p.d_err.cap_buf);
	unlike(out, " nohelp\n", "every family has a HELP");

	for (i = 0; i < NCOUNTERS; i++) {
		char	 name[64];

		snprintf(name, sizeof(name), "echod_%s_total",
		    counters[i].c_name);
		if (parsed_value(out, "counter", name, "-", &v) == -1 ||
		    v != (double)counter(st, counters[i].c_field)) {
			diag("parsed %s is not %llu", name,
			    (unsigned long long)counter(st,
			    counters[i].c_field));
			agree = 0;
		}
	}
	ok(agree, "parsed: every counter equals the SIGUSR1 line's");
	ok(parsed_value(out, "gauge", "echod_connections", "-", &v) == 0 &&
	    v == (double)st->active, "parsed: echod_connections");
	ok(parsed_value(out, "gauge", "echod_queued_bytes", "-", &v) == 0 &&
	    v == (double)stats_queued(st), "parsed: echod_queued_bytes");
	ok(parsed_value(out, "gauge", "echod_worker_connections",
	    "worker=0", &w0) == 0 && parsed_value(out, "gauge",
	    "echod_worker_connections", "worker=1", &w1) == 0 &&
	    w0 + w1 == (double)st->active,
	    "parsed: the workers' connections add up to the active ones");
	snprintf(labels, sizeof(labels), "listener=127.0.0.1:%d", port0);
	ok(parsed_value(out, "counter", "echod_listener_accepted_total",
	    labels, &v) == 0 && v == CONNS_FIRST + 1,
	    "parsed: accepted on the first socket");
	snprintf(labels, sizeof(labels), "listener=127.0.0.1:%d", port1);
	ok(parsed_value(out, "counter", "echod_listener_accepted_total",
	    labels, &v) == 0 && v == CONNS_SECOND + 1,
	    "parsed: accepted on the second socket");
	ok(parsed_value(out, "gauge", "echod_open_fds", "-", &v) == 0 &&
	    parsed_value(out, "gauge", "echod_max_fds", "-", &w0) == 0 &&
	    v > 0 && v <= w0, "parsed: descriptors open, within the limit");
	child_free(&p);
	unlink(path);
}

/* /healthz, HEAD, and what a bad request gets. */
static void
test_http(void)
{
	struct child	 d;
	static const struct {
		const char	*request;
		int		 status;
		const char	*what;
	} replies[] = {
		{ "GET /metrics?x=1 HTTP/1.0\r\n\r\n", 200,
		    "/metrics with a query" },
		{ "GET /nothing HTTP/1.0\r\n\r\n", 404, "unknown path" },
		{ "POST /metrics HTTP/1.0\r\n\r\n", 405, "POST" },
		{ "DELETE /healthz HTTP/1.0\r\n\r\n", 405, "DELETE" },
		{ "OPTIONS /metrics HTTP/1.0\r\n\r\n", 405, "OPTIONS" },
		{ "FROB /metrics HTTP/1.0\r\n\r\n", 501, "an unknown method" },
		{ "GARBAGE\r\n\r\n", 400, "a malformed request" },
		{ "GET /metrics HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
		    413, "a body" },
	};
	char		 reply[HTTP_MAX], req[16384];
	const char	*p;
	size_t		 i, len;
	int		 port;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--metrics",
	    "127.0.0.1:0", NULL) == -1 || (port = metrics_port(&d)) == -1)
		bail("echod did not start");

	http(port, "GET /healthz HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	is_int(http_status(reply), 200, "/healthz: 200");
	is_int(strcmp(http_body(reply), "ok\n"), 0, "/healthz: ok");

	http(port, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	len = strlen(http_body(reply));
	http(port, "HEAD /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	is_int(http_status(reply), 200, "HEAD /metrics: 200");
	is_int((p = strstr(reply, "\r\nContent-Length: ")) != NULL ?
	    atoll(p + 18) : -1, (long long)len,
	    "HEAD /metrics: the length of the GET's body");
	is_int((long long)strlen(http_body(reply)), 0,
	    "HEAD /metrics: no body");

	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		http(port, replies[i].request, reply, sizeof(reply));
		is_int(http_status(reply), replies[i].status, "%s: %d",
		    replies[i].what, replies[i].status);
		if (replies[i].status == 405)
			like(reply, "\r\nAllow: GET, HEAD\r\n",
			    "%s: Allow: GET, HEAD", replies[i].what);
	}

	snprintf(req, sizeof(req), "GET /metrics HTTP/1.0\r\nX-Pad: %0*d"
	    "\r\n\r\n", 9000, 0);
	http(port, req, reply, sizeof(reply));
	ok(http_status(reply) >= 400 && http_status(reply) < 500,
	    "headers over 8 KiB: refused with a 4xx");

	http(port, "GET /healthz HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	is_int(http_status(reply), 200, "still serving after bad requests");
	is_int(child_stop(&d, tmo(10)), 0, "after bad requests: exit 0");
	child_done(&d);
}

/*
 * The cap: with every slot held by a keep-alive connection, one more is
 * closed at once, the held ones are still served, echo is untouched, and
 * a slot freed is taken again.
 */
static void
test_cap(void)
{
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child	 d;
	char		 reply[HTTP_MAX];
	double		 end;
	int		 port, fds[METRICS_CONNS], fd, i, r, served = 0;

	if (child_start(&d, NULL, "-v", "-l", "127.0.0.1:0", "--metrics",
	    "127.0.0.1:0", NULL) == -1 || (port = metrics_port(&d)) == -1)
		bail("echod did not start");
	for (i = 0; i < METRICS_CONNS; i++) {
		if ((fds[i] = http_open(port, get)) == -1)
			bail("connect: %s", strerror(errno));
		/* Kept alive: the reply comes, the connection stays. */
		served += http_read(fds[i], reply, sizeof(reply), "\r\n\r\nok\n",
		    tmo(5)) == 1;
	}
	is_int(served, METRICS_CONNS, "%d keep-alive connections served",
	    METRICS_CONNS);

	if ((fd = http_open(port, get)) == -1)
		bail("connect: %s", strerror(errno));
	r = http_read(fd, reply, sizeof(reply), "\r\n", tmo(5));
	ok(reply[0] == '\0' && (r == 0 || (r == -1 && errno == ECONNRESET)),
	    "one more: closed at once, unanswered");
	close(fd);
	ok(child_log_wait(&d, 0, "metrics: refused 127.0.0.1:", tmo(5)) !=
	    -1, "the refusal is logged with -v");

	if ((fd = client_connect(d.d_port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(client_echo(fd, 1, ECHO_BYTES, tmo(10)),
	    "echo unaffected while the metrics are full");
	close(fd);

	if (send(fds[0], get, strlen(get), MSG_NOSIGNAL) == -1)
		bail("send: %s", strerror(errno));
	is_int(http_read(fds[0], reply, sizeof(reply), "\r\n\r\nok\n",
	    tmo(5)), 1, "a held connection is still served");

	close(fds[1]);
	for (end = now() + tmo(5); now() < end; pause_sec(0.05)) {
		http(port, "GET /healthz HTTP/1.0\r\n\r\n", reply,
		    sizeof(reply));
		if (http_status(reply) == 200)
			break;
	}
	is_int(http_status(reply), 200, "a freed slot is taken again");

	/* The metrics connections still open go with the daemon. */
	is_int(child_stop(&d, tmo(10)), 0, "with metrics connections open: "
	    "exit 0");
	for (i = 0; i < METRICS_CONNS; i++) {
		if (i != 1)
			close(fds[i]);
	}
	child_done(&d);
}

/* A connection that never sends a request is closed after the timeout. */
static void
test_timeout(void)
{
	struct child	 d;
	char		 reply[64];
	int		 port, fd;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--metrics",
	    "127.0.0.1:0", NULL) == -1 || (port = metrics_port(&d)) == -1)
		bail("echod did not start");
	if ((fd = client_connect(port)) == -1)
		bail("connect: %s", strerror(errno));
	ok(http_read(fd, reply, sizeof(reply), NULL, tmo(METRICS_TIMEOUT +
	    10)) == 0 && reply[0] == '\0', "idle connection closed after %ds",
	    METRICS_TIMEOUT);
	close(fd);
	is_int(child_stop(&d, tmo(10)), 0, "after the timeout: exit 0");
	child_done(&d);
}

/*
 * While echod drains after SIGTERM, held up by a client that reads
 * nothing, /healthz says 503 and /metrics still answers.
 */
static void
test_drain(void)
{
	struct child	 d;
	struct xfer	 x;
	char		 reply[HTTP_MAX];
	int		 port, fd;

	if (child_start(&d, NULL, "-l", "127.0.0.1:0", "--high-water",
	    HIGH_WATER, "--shutdown-timeout", "30", "--metrics",
	    "127.0.0.1:0", NULL) == -1 || (port = metrics_port(&d)) == -1)
		bail("echod did not start");
	if ((fd = client_connect_rcvbuf("127.0.0.1", d.d_port,
	    CLIENT_RCVBUF)) == -1)
		bail("connect: %s", strerror(errno));
	xfer_init(&x, fd, 3, FILL_MAX);
	x.x_noread = 1;
	xfer_fill(&x, 16384, BLOCKED_SEC);
	kill(d.d_pid, SIGTERM);
	if (child_log_wait(&d, 0, "draining 1 connection", tmo(10)) == -1)
		bail("echod did not drain");

	http(port, "GET /healthz HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	is_int(http_status(reply), 503, "/healthz while draining: 503");
	is_int(strcmp(http_body(reply), "draining\n"), 0,
	    "/healthz while draining: says so");
	http(port, "GET /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	is_int(http_status(reply), 200, "/metrics while draining: 200");

	/* A second signal ends the drain. */
	is_int(child_stop(&d, tmo(10)), 0, "after the drain: exit 0");
	close(fd);
	child_done(&d);
}

/* Bad --metrics values: exit 2 for the syntax, 1 for the address. */
static void
test_bad_values(void)
{
	static const struct {
		const char	*arg;
		const char	*why;
	} usage[] = {
		{ "127.0.0.1", "invalid --metrics '127.0.0.1': no port given" },
		{ "[::1]", "invalid --metrics '[::1]': no port given" },
		{ "127.0.0.1:65536", "invalid --metrics '127.0.0.1:65536': "
		    "port" },
		{ "127.0.0.1:http", "invalid --metrics" },
		{ "[::1:9100", "missing ']'" },
		{ "", "invalid --metrics '': empty address" },
	};
	struct child	 d;
	char		 addr[32], want[128];
	size_t		 i;
	int		 fd, port;

	for (i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "--metrics",
		    usage[i].arg, NULL), 2, "--metrics '%s': exit 2",
		    usage[i].arg);
		like(d.d_err.cap_buf, usage[i].why, "--metrics '%s': why",
		    usage[i].arg);
		child_free(&d);
	}

	is_int(child_run(&d, NULL, "--inetd", "--metrics", "127.0.0.1:0",
	    NULL), 2, "--inetd --metrics: exit 2");
	like(d.d_err.cap_buf, "--metrics cannot be used with --inetd",
	    "--inetd --metrics: why");
	child_free(&d);

	fd = client_listen(&port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(want, sizeof(want), "cannot listen on %s: Address already "
	    "in use", addr);
	is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "--metrics", addr,
	    NULL), 1, "--metrics port in use: exit 1");
	like(d.d_err.cap_buf, want, "--metrics port in use: address named");
	snprintf(want, sizeof(want), "--metrics %s: the endpoint cannot "
	    "start", addr);
	like(d.d_err.cap_buf, want, "--metrics port in use: the option "
	    "named");
	unlike(d.d_err.cap_buf, " ready: ", "--metrics port in use: never "
	    "ready");
	child_free(&d);
	close(fd);

	is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "--metrics",
	    NO_SUCH_HOST ":9100", NULL), 1, "--metrics unknown host: exit 1");
	like(d.d_err.cap_buf, "cannot listen on '" NO_SUCH_HOST ":9100'",
	    "--metrics unknown host: named");
	child_free(&d);

	/* TEST-NET-1 (RFC 5737): no host has it, nothing is sent. */
	is_int(child_run(&d, NULL, "-l", "127.0.0.1:0", "--metrics",
	    "192.0.2.1:9100", NULL), 1, "--metrics foreign address: exit 1");
	like(d.d_err.cap_buf, "cannot listen on 192.0.2.1:9100: ",
	    "--metrics foreign address: named");
	like(d.d_err.cap_buf, "(not an address of this host)",
	    "--metrics foreign address: the reason given");
	child_free(&d);

	is_int(child_run(&d, NULL, "--help", NULL), 0, "--help: exit 0");
	like(d.d_out.cap_buf, "--metrics ADDR:PORT", "--help: --metrics");
	like(d.d_out.cap_buf, "(GET /metrics, /healthz) [default: off]",
	    "--help: its default");
	child_free(&d);
}

int
main(void)
{
	harness_init(WATCHDOG_SEC);
	if (mkdtemp(tmpdir) == NULL)
		bail("mkdtemp: %s", strerror(errno));
	find_python();
	test_scrape();
	test_http();
	test_cap();
	test_timeout();
	test_drain();
	test_bad_values();
	rmdir(tmpdir);
	return (tap_done());
}
