/* SPDX-License-Identifier: ISC */
/*
 * settings.c - defaults and command-line parsing.  Pure: nothing here
 * touches the network, so every rule is unit-tested.
 */

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_OPENSSL
#include <openssl/opensslv.h>
#endif

#include "echod.h"

/*
 * Default echo data queued for a peer before reading from it pauses.  A
 * peer that reads promptly never gets near it; one that does not costs at
 * most this much, so it is also the memory bound per connection.
 */
#define DEFAULT_HIGH_WATER	(128 * 1024)

/* Reading resumes once the queue is down to this: hysteresis, so a slow
 * reader is not toggled on every write. */
#define DEFAULT_LOW_WATER	(32 * 1024)

/* Queue limit ceiling: more only lets one client hold more memory. */
#define HIGH_WATER_MAX		((size_t)1 << 30)

/* Connections nobody has written to for this long are closed. */
#define DEFAULT_IDLE_TIMEOUT	300

/* A peer that takes none of its echo for this long is closed. */
#define DEFAULT_STALL_TIMEOUT	60

/* Time busy connections get to finish after SIGTERM. */
#define DEFAULT_SHUTDOWN_TIMEOUT 5

/*
 * A client behind a load balancer gets this long for the PROXY header:
 * the balancer sends it at once, so only a stray or hostile client is
 * slower, and it should not hold a descriptor for the --idle-timeout.
 */
#define DEFAULT_PROXY_TIMEOUT	5

/*
 * Unix socket files are read-write for everyone, like a TCP port: echo
 * serves anyone who can reach it.  --socket-mode narrows it.
 */
#define DEFAULT_SOCKET_MODE	0666

/* Above Linux's default somaxconn, so bursts of connects are not dropped. */
#define DEFAULT_BACKLOG		1024

/* Longest timeout accepted: a day; longer is surely a typo. */
#define SECONDS_MAX		86400

/*
 * UDP echoes a second to one source address: plenty for probing and
 * measuring latency, little to reflect at a victim whose address is
 * spoofed.
 */
#define DEFAULT_UDP_RATE	100

/*
 * UDP echoes a second in all, whatever the sources: 1000 datagrams of
 * 1472 bytes is about 12 Mbit/s, the most echod reflects by default.
 */
#define DEFAULT_UDP_TOTAL_RATE	1000

/* Highest UDP rate accepted; past it, 0 (no limit) says what is meant. */
#define UDP_RATE_MAX		10000000

/* What marks a --listen address as TLS. */
#define SETTINGS_TLS_PREFIX	"tls:"

enum {
	OPT_BACKLOG = 256,
	OPT_IDLE_TIMEOUT,
	OPT_STALL_TIMEOUT,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_HIGH_WATER,
	OPT_LOW_WATER,
	OPT_THREADS,
	OPT_INETD,
	OPT_DAEMON,
	OPT_PIDFILE,
	OPT_SYSLOG,
	OPT_LOG_FILE,
	OPT_USER,
	OPT_RATE,
	OPT_TOTAL_RATE,
	OPT_DELAY,
	OPT_UDP_ALLOW_PORT,
	OPT_UDP_RATE,
	OPT_UDP_TOTAL_RATE,
	OPT_PROXY_TIMEOUT,
	OPT_SOCKET_MODE,
	OPT_METRICS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CIPHERS
};

static const struct option long_options[] = {
	{ "listen",		required_argument,	NULL, 'l' },
	{ "backlog",		required_argument,	NULL, OPT_BACKLOG },
	{ "max-conns",		required_argument,	NULL, 'c' },
	{ "idle-timeout",	required_argument,	NULL, OPT_IDLE_TIMEOUT },
	{ "stall-timeout",	required_argument,	NULL, OPT_STALL_TIMEOUT },
	{ "shutdown-timeout",	required_argument,	NULL,
	    OPT_SHUTDOWN_TIMEOUT },
	{ "high-water",		required_argument,	NULL, OPT_HIGH_WATER },
	{ "low-water",		required_argument,	NULL, OPT_LOW_WATER },
	{ "threads",		required_argument,	NULL, OPT_THREADS },
	{ "inetd",		no_argument,		NULL, OPT_INETD },
	{ "daemon",		no_argument,		NULL, OPT_DAEMON },
	{ "pidfile",		required_argument,	NULL, OPT_PIDFILE },
	{ "syslog",		no_argument,		NULL, OPT_SYSLOG },
	{ "log-file",		required_argument,	NULL, OPT_LOG_FILE },
	{ "user",		required_argument,	NULL, OPT_USER },
	{ "rate",		required_argument,	NULL, OPT_RATE },
	{ "total-rate",		required_argument,	NULL, OPT_TOTAL_RATE },
	{ "delay",		required_argument,	NULL, OPT_DELAY },
	{ "udp",		required_argument,	NULL, 'u' },
	{ "udp-allow-port",	required_argument,	NULL,
	    OPT_UDP_ALLOW_PORT },
	{ "udp-rate",		required_argument,	NULL, OPT_UDP_RATE },
	{ "udp-total-rate",	required_argument,	NULL,
	    OPT_UDP_TOTAL_RATE },
	{ "proxy-timeout",	required_argument,	NULL,
	    OPT_PROXY_TIMEOUT },
	{ "socket-mode",	required_argument,	NULL, OPT_SOCKET_MODE },
	{ "metrics",		required_argument,	NULL, OPT_METRICS },
	{ "tls-cert",		required_argument,	NULL, OPT_TLS_CERT },
	{ "tls-key",		required_argument,	NULL, OPT_TLS_KEY },
	{ "tls-ciphers",	required_argument,	NULL, OPT_TLS_CIPHERS },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

/*
 * A suffix a number may carry and what it multiplies by.  Tables end with
 * a '\0' suffix, which never matches: no suffix multiplies by 1.
 */
struct settings_unit {
	char			 su_suffix;
	unsigned long long	 su_mult;
};

/* Byte counts: powers of 1024; upper case too, as always accepted. */
static const struct settings_unit settings_size_units[] = {
	{ 'k', 1ULL << 10 }, { 'K', 1ULL << 10 },
	{ 'm', 1ULL << 20 }, { 'M', 1ULL << 20 },
	{ 'g', 1ULL << 30 }, { 'G', 1ULL << 30 },
	{ '\0', 0 }
};

/* Seconds: the lower-case s, m and h of echod(8), and nothing else. */
static const struct settings_unit settings_seconds_units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 },
	{ '\0', 0 }
};

static int	settings_usage_error(FILE *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
static int	settings_parse_unit(const char *,
		    const struct settings_unit *, unsigned long long,
		    unsigned long long *);
static int	settings_parse_port(const char *, char *, size_t);
static int	settings_parse_unix(struct listen_spec *, const char *,
		    char *, size_t);
static int	settings_count_opt(FILE *, const char *, long, long, long *);
static int	settings_seconds_opt(FILE *, const char *, unsigned int *);
static int	settings_size_opt(FILE *, const char *, size_t, size_t *);
static int	settings_rate_opt(FILE *, const char *, size_t *);
static int	settings_mode_opt(FILE *, mode_t *);
static int	settings_name_opt(FILE *, const char *, const char *,
		    const char **);
static int	settings_check_tls(const struct settings *, FILE *);

/* The defaults, in one place; usage() and echod(8) print the same. */
void
settings_init(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->backlog = DEFAULT_BACKLOG;
	s->max_conns = 0;
	s->idle_timeout = DEFAULT_IDLE_TIMEOUT;
	s->stall_timeout = DEFAULT_STALL_TIMEOUT;
	s->shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT;
	s->proxy_timeout = DEFAULT_PROXY_TIMEOUT;
	s->socket_mode = DEFAULT_SOCKET_MODE;
	s->high_water = DEFAULT_HIGH_WATER;
	s->low_water = DEFAULT_LOW_WATER;
	s->threads = 1;
	s->verbosity = LOG_LEVEL_NOTICE;
	s->udp_rate = DEFAULT_UDP_RATE;
	s->udp_total_rate = DEFAULT_UDP_TOTAL_RATE;
}

/* The --help text, with the defaults. */
void
settings_usage(FILE *fp)
{
	fprintf(fp,
"usage: echod [-hqVv] [-c max-conns] [-l [tls:][proxy:]address[:port]]\n"
"             [-l [tls:][proxy:]unix:path] [--backlog n] [--high-water bytes]\n"
"             [--idle-timeout seconds] [--low-water bytes]\n"
"             [--proxy-timeout seconds] [--shutdown-timeout seconds]\n"
"             [--socket-mode mode] [--stall-timeout seconds] [--threads n]\n"
"             [--inetd] [--daemon] [--pidfile file]\n"
"             [--syslog | --log-file file] [--user name]\n"
"             [--rate bytes] [--total-rate bytes] [--delay ms]\n"
"             [-u address[:port]] [--udp-allow-port port]\n"
"             [--udp-rate pps] [--udp-total-rate pps]\n"
"             [--metrics address:port] [--tls-cert file --tls-key file]\n"
"             [--tls-ciphers list]\n"
"\n"
"An RFC 862 echo server: every byte a client sends is sent back.\n"
"\n"
"  -l, --listen [tls:]ADDR[:PORT]  listen here; repeatable (IPv6 as\n"
"                             [::1]:7007, :PORT or *:PORT for every\n"
"                             address; tls: serves TLS there)\n"
"                             [default: every address, port %s]\n"
"  -l unix:PATH               listen on a Unix socket; unix:@NAME for an\n"
"                             abstract one (Linux)\n"
"  -l proxy:ADDR[:PORT], -l proxy:unix:PATH\n"
"                             clients start with a PROXY protocol v1 or v2\n"
"                             header naming the real client\n"
"      --proxy-timeout SECS   close a proxy: client whose header has not\n"
"                             come in this long [%d]\n"
"      --socket-mode MODE     permissions of Unix socket files, octal [%04o]\n"
"      --backlog N            listen queue length [%d]\n"
"  -c, --max-conns N          most connections at once; more are closed\n"
"                             [default: what the descriptor limit allows]\n"
"      --idle-timeout SECS    close a connection silent this long, 0 never [%d]\n"
"      --stall-timeout SECS   close a peer that takes no data this long,\n"
"                             0 never [%d]\n"
"      --high-water BYTES     pause reading a peer with this much queued [%zu]\n"
"      --low-water BYTES      resume reading once down to this [%zu]\n"
"      --shutdown-timeout SECS  time busy connections get to finish after\n"
"                             SIGTERM [%d]\n"
"      --threads N            event loops, one per thread [1]\n"
"      --rate BYTES           echo at most BYTES a second per connection,\n"
"                             0 unlimited [0]\n"
"      --total-rate BYTES     at most BYTES a second for all together [0]\n"
"      --delay MS             echo each byte MS milliseconds after it came,\n"
"                             up to %d [0]\n"
"      --inetd                serve the one connection on standard input\n"
"      --daemon               detach and run in the background\n"
"      --pidfile FILE         write the process ID to FILE\n"
"      --syslog               log to syslog (facility daemon), not stderr\n"
"      --log-file FILE        log to FILE, reopened on SIGHUP\n"
"      --user NAME            drop root privileges to NAME after binding\n"
"  -u, --udp ADDR[:PORT]      echo UDP datagrams here; repeatable (same forms\n"
"                             as --listen; with -u alone no TCP is served)\n"
"      --udp-allow-port N     answer source port N although it is below 1024\n"
"                             or a known reflector; repeatable\n"
"      --udp-rate PPS         UDP echoes a second per source address (and\n"
"                             thread), 0 no limit [%d]\n"
"      --udp-total-rate PPS   UDP echoes a second in all, 0 no limit [%d]\n"
"      --metrics ADDR:PORT    serve Prometheus metrics over HTTP here\n"
"                             (GET /metrics, /healthz) [default: off]\n"
"      --tls-cert FILE        certificate chain (PEM) of the tls: listeners,\n"
"                             read at start and on SIGHUP\n"
"      --tls-key FILE         its private key (PEM)\n"
"      --tls-ciphers LIST     TLS 1.2 ciphers, OpenSSL's syntax\n"
"                             [default: OpenSSL's; TLS 1.2 and 1.3 only]\n"
"  -v, --verbose              log more (one line per connection); repeatable\n"
"  -q, --quiet                log only warnings and errors\n"
"  -h, --help                 show this help and exit\n"
"  -V, --version              show the version and exit\n"
"\n"
"BYTES take a k, m or g suffix (powers of 1024); SECS take s, m or h.\n",
	    ECHOD_DEFAULT_PORT, DEFAULT_PROXY_TIMEOUT, DEFAULT_SOCKET_MODE,
	    DEFAULT_BACKLOG,
	    DEFAULT_IDLE_TIMEOUT, DEFAULT_STALL_TIMEOUT,
	    (size_t)DEFAULT_HIGH_WATER, (size_t)DEFAULT_LOW_WATER,
	    DEFAULT_SHUTDOWN_TIMEOUT, DELAY_MAX_MSEC, DEFAULT_UDP_RATE,
	    DEFAULT_UDP_TOTAL_RATE);
}

/* Say what is wrong and where to look; always returns -1. */
static int
settings_usage_error(FILE *err, const char *fmt, ...)
{
	va_list	 ap;

	fputs("echod: ", err);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputs("\nTry 'echod --help' for more information.\n", err);
	return (-1);
}

/* A decimal in [min, max]; no sign games, no trailing junk. */
int
settings_parse_count(const char *arg, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (*arg == '\0' || isspace((unsigned char)*arg))
		return (-1);
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

/*
 * A decimal with at most one suffix from units, the product at most max.
 * Refused: no leading digit (a sign, blank or empty string, which strtoull
 * would take), overflow, any other suffix, anything after the suffix.
 */
static int
settings_parse_unit(const char *arg, const struct settings_unit *units,
    unsigned long long max, unsigned long long *out)
{
	const struct settings_unit	*u;
	char				*end;
	unsigned long long		 v, mult = 1;

	if (!isdigit((unsigned char)*arg))
		return (-1);
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0)
		return (-1);
	if (*end != '\0') {
		for (u = units; u->su_suffix != '\0'; u++)
			if (u->su_suffix == *end)
				break;
		if (u->su_suffix == '\0' || end[1] != '\0')
			return (-1);
		mult = u->su_mult;
	}
	/* Divide, not multiply: the product could wrap past the check. */
	if (v > max / mult)
		return (-1);
	*out = v * mult;
	return (0);
}

/* A byte count with an optional k, m or g suffix, at most 1 GiB. */
int
settings_parse_size(const char *arg, size_t *out)
{
	unsigned long long	 v;

	if (settings_parse_unit(arg, settings_size_units, HIGH_WATER_MAX,
	    &v) == -1)
		return (-1);
	*out = (size_t)v;
	return (0);
}

/* Seconds with an optional s, m or h suffix, at most a day. */
int
settings_parse_seconds(const char *arg, unsigned int *out)
{
	unsigned long long	 v;

	if (settings_parse_unit(arg, settings_seconds_units, SECONDS_MAX,
	    &v) == -1)
		return (-1);
	*out = (unsigned int)v;
	return (0);
}

/* A numeric port, 0 to 65535, copied in canonical form. */
static int
settings_parse_port(const char *arg, char *port, size_t len)
{
	long	 v;

	if (!isdigit((unsigned char)*arg) ||
	    settings_parse_count(arg, 0, 65535, &v) == -1)
		return (-1);
	snprintf(port, len, "%ld", v);
	return (0);
}

/*
 * The path of "unix:PATH": absolute, since the daemon's working directory
 * is nobody's business, or "@name" for Linux's abstract namespace.  Either
 * must fit sun_path with room for its NUL.
 */
static int
settings_parse_unix(struct listen_spec *ls, const char *path, char *why,
    size_t whylen)
{
	if (path[0] != '/' && path[0] != '@') {
		snprintf(why, whylen, "unix: needs an absolute path or @name");
		return (-1);
	}
	if (path[0] == '@' && path[1] == '\0') {
		snprintf(why, whylen, "unix:@ needs a name after the '@'");
		return (-1);
	}
	if (path[0] == '/' && path[strlen(path) - 1] == '/') {
		snprintf(why, whylen, "unix: path names a directory");
		return (-1);
	}
	if (strlen(path + (path[0] == '@')) > UNIX_PATH_MAX) {
		snprintf(why, whylen, "unix: path is longer than %zu bytes",
		    (size_t)UNIX_PATH_MAX);
		return (-1);
	}
	ls->ls_unix = 1;
	snprintf(ls->ls_path, sizeof(ls->ls_path), "%s", path);
	return (0);
}

/*
 * Split [tls:][proxy:](unix:PATH | ADDR[:PORT]), where ADDR[:PORT] is
 * "host", "host:port", "[v6]", "[v6]:port", a bare IPv6 address, ":port",
 * "*:port", "*" or a bare port.  The prefixes come first, in that order,
 * so a host named "tls", "proxy" or "unix" needs its trailing dot.  On error
 * writes a message into why.
 */
int
settings_parse_listen(struct listen_spec *ls, const char *arg, char *why,
    size_t whylen)
{
	const char	*host, *port = NULL, *colon;
	size_t		 hostlen;

	memset(ls, 0, sizeof(*ls));
	if (strlen(arg) > LISTEN_ARG_MAX) {
		snprintf(why, whylen, "address is too long");
		return (-1);
	}
	snprintf(ls->ls_arg, sizeof(ls->ls_arg), "%s", arg);
	if (strncmp(arg, SETTINGS_TLS_PREFIX, strlen(SETTINGS_TLS_PREFIX)) ==
	    0) {
		ls->ls_tls = 1;
		arg += strlen(SETTINGS_TLS_PREFIX);
	}
	if (strncmp(arg, "proxy:", 6) == 0) {
		ls->ls_proxy = 1;
		arg += 6;
	}
	if (strncmp(arg, "unix:", 5) == 0)
		return (settings_parse_unix(ls, arg + 5, why, whylen));

	if (*arg == '[') {
		const char *close = strchr(arg, ']');

		if (close == NULL) {
			snprintf(why, whylen, "missing ']' after IPv6 address");
			return (-1);
		}
		host = arg + 1;
		hostlen = close - host;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0') {
			snprintf(why, whylen, "expected ':PORT' after ']'");
			return (-1);
		}
		if (hostlen == 0 || memchr(host, ':', hostlen) == NULL) {
			snprintf(why, whylen, "'[...]' must hold an IPv6 "
			    "address");
			return (-1);
		}
	} else if ((colon = strchr(arg, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL) {
		host = arg;		/* a bare IPv6 address: no port */
		hostlen = strlen(arg);
	} else if (colon != NULL) {
		host = arg;
		hostlen = colon - arg;
		port = colon + 1;
	} else if (*arg != '\0' && strspn(arg, "0123456789") == strlen(arg)) {
		host = "";		/* a bare port */
		hostlen = 0;
		port = arg;
	} else {
		host = arg;
		hostlen = strlen(arg);
	}

	if (hostlen == 1 && *host == '*')
		hostlen = 0;
	if (hostlen > HOST_MAX) {
		snprintf(why, whylen, "host name is too long");
		return (-1);
	}
	if (hostlen == 0 && port == NULL && *arg != '*') {
		snprintf(why, whylen, "empty address");
		return (-1);
	}
	memcpy(ls->ls_host, host, hostlen);
	ls->ls_host[hostlen] = '\0';

	if (port == NULL)
		port = ECHOD_DEFAULT_PORT;
	if (settings_parse_port(port, ls->ls_port, sizeof(ls->ls_port)) == -1) {
		snprintf(why, whylen, "port '%s' is not a number from 0 to "
		    "65535", port);
		return (-1);
	}
	return (0);
}

/*
 * Whether an ADDR[:PORT] argument names its port: the metrics endpoint
 * has no well-known one to fall back on.
 */
static int
settings_has_port(const char *arg)
{
	const char	*colon = strchr(arg, ':');

	if (*arg == '[')
		return (strstr(arg, "]:") != NULL);
	if (colon != NULL)
		return (strchr(colon + 1, ':') == NULL);
	return (*arg != '\0' && strspn(arg, "0123456789") == strlen(arg));
}

/* The --metrics address, or -1 once the mistake is reported. */
static int
settings_metrics_opt(FILE *err, struct listen_spec *ls)
{
	char	 why[128];

	if (settings_parse_listen(ls, optarg, why, sizeof(why)) == 0) {
		if (ls->ls_tls || ls->ls_proxy || ls->ls_unix)
			snprintf(why, sizeof(why), "plain HTTP on ADDR:PORT, "
			    "no tls:, proxy: or unix:");
		else if (settings_has_port(optarg))
			return (0);
		else
			snprintf(why, sizeof(why), "no port given (ADDR:PORT)");
	}
	memset(ls, 0, sizeof(*ls));
	return (settings_usage_error(err, "invalid --metrics '%s': %s",
	    optarg, why));
}

/* The value of a count option, or -1 once the mistake is reported. */
static int
settings_count_opt(FILE *err, const char *name, long min, long max,
    long *out)
{
	if (settings_parse_count(optarg, min, max, out) == 0)
		return (0);
	return (settings_usage_error(err, "invalid --%s '%s': expected a "
	    "number from %ld to %ld", name, optarg, min, max));
}

/* The value of a timeout option, or -1 once the mistake is reported. */
static int
settings_seconds_opt(FILE *err, const char *name, unsigned int *out)
{
	if (settings_parse_seconds(optarg, out) == 0)
		return (0);
	return (settings_usage_error(err, "invalid --%s '%s': expected "
	    "seconds from 0 to %d", name, optarg, SECONDS_MAX));
}

/* The value of a byte-count option, or -1 once the mistake is reported. */
static int
settings_size_opt(FILE *err, const char *name, size_t min, size_t *out)
{
	if (settings_parse_size(optarg, out) == 0 && *out >= min)
		return (0);
	return (settings_usage_error(err, "invalid --%s '%s': expected "
	    "bytes from %zu to 1g", name, optarg, min));
}

/*
 * A rate in bytes a second: 0 for none, else at least what one refill
 * tick can hand out a byte of.
 */
static int
settings_rate_opt(FILE *err, const char *name, size_t *out)
{
	if (settings_parse_size(optarg, out) == 0 && (*out == 0 ||
	    *out >= RATE_MIN))
		return (0);
	return (settings_usage_error(err, "invalid --%s '%s': expected 0 "
	    "or bytes a second from %d to 1g", name, optarg, RATE_MIN));
}

/* Octal permission bits, at most 0777: no setuid games on a socket. */
static int
settings_mode_opt(FILE *err, mode_t *out)
{
	char		*end;
	unsigned long	 v;

	if (*optarg >= '0' && *optarg <= '7') {
		errno = 0;
		v = strtoul(optarg, &end, 8);
		if (errno == 0 && *end == '\0' && v <= 0777) {
			*out = (mode_t)v;
			return (0);
		}
	}
	return (settings_usage_error(err, "invalid --socket-mode '%s': "
	    "expected octal permissions from 0 to 0777", optarg));
}

/* A file or user name: anything but empty. */
static int
settings_name_opt(FILE *err, const char *name, const char *what,
    const char **out)
{
	if (*optarg != '\0') {
		*out = optarg;
		return (0);
	}
	return (settings_usage_error(err, "--%s needs a %s", name, what));
}

/*
 * The TLS options and the "tls:" listeners need each other, and a build
 * with TLS.  Returns 0, or -1 once the mistake is reported.
 */
static int
settings_check_tls(const struct settings *s, FILE *err)
{
	const char	*tls_listen = NULL;
	size_t		 i;

	for (i = 0; i < s->nlisten && tls_listen == NULL; i++)
		if (s->listen[i].ls_tls)
			tls_listen = s->listen[i].ls_arg;
#ifndef HAVE_OPENSSL
	if (tls_listen != NULL || s->tls_cert != NULL || s->tls_key != NULL ||
	    s->tls_ciphers != NULL)
		return (settings_usage_error(err, "this echod was built "
		    "without TLS (configure --with-openssl): no --tls-cert, "
		    "--tls-key, --tls-ciphers or tls: listener"));
#endif
	if ((s->tls_cert == NULL) != (s->tls_key == NULL))
		return (settings_usage_error(err, "--tls-cert and --tls-key "
		    "go together: %s is missing", s->tls_cert == NULL ?
		    "--tls-cert" : "--tls-key"));
	if (tls_listen != NULL && s->tls_cert == NULL)
		return (settings_usage_error(err, "--listen '%s' needs "
		    "--tls-cert and --tls-key", tls_listen));
	if (tls_listen == NULL && (s->tls_cert != NULL ||
	    s->tls_ciphers != NULL))
		return (settings_usage_error(err, "--tls-cert, --tls-key and "
		    "--tls-ciphers serve tls: listeners, and no --listen "
		    "starts with tls:"));
	return (0);
}

/*
 * Parse the command line into s.  Messages go to out (--help, --version)
 * and err (mistakes); nothing is bound or opened here.
 */
enum settings_action
settings_parse(struct settings *s, int argc, char **argv, FILE *out,
    FILE *err)
{
	char		 why[128];
	long		 n;
	int		 ch, low_given = 0, high_given = 0;

	/*
	 * Forget any earlier parse, even one that stopped inside "-hv":
	 * glibc reinitialises fully only for 0.
	 */
#ifdef __GLIBC__
	optind = 0;
#else
	optind = 1;
#endif
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:hl:qu:Vv", long_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (s->nlisten == LISTEN_MAX) {
				settings_usage_error(err, "too many --listen "
				    "addresses (at most %d)", LISTEN_MAX);
				return (SETTINGS_EXIT_USAGE);
			}
			if (settings_parse_listen(&s->listen[s->nlisten],
			    optarg, why, sizeof(why)) == -1) {
				settings_usage_error(err, "invalid --listen "
				    "'%s': %s", optarg, why);
				return (SETTINGS_EXIT_USAGE);
			}
			s->nlisten++;
			break;
		case 'u':
			if (s->nudp == LISTEN_MAX) {
				settings_usage_error(err, "too many --udp "
				    "addresses (at most %d)", LISTEN_MAX);
				return (SETTINGS_EXIT_USAGE);
			}
			if (settings_parse_listen(&s->udp[s->nudp], optarg,
			    why, sizeof(why)) == -1) {
				settings_usage_error(err, "invalid --udp "
				    "'%s': %s", optarg, why);
				return (SETTINGS_EXIT_USAGE);
			}
			/* Datagrams carry no PROXY header and no stream. */
			if (s->udp[s->nudp].ls_proxy ||
			    s->udp[s->nudp].ls_unix || s->udp[s->nudp].ls_tls) {
				settings_usage_error(err, "invalid --udp '%s': "
				    "UDP takes an address and port, not tls:, "
				    "proxy: or unix:", optarg);
				return (SETTINGS_EXIT_USAGE);
			}
			s->nudp++;
			break;
		case OPT_UDP_ALLOW_PORT:
			if (s->nudp_allow == UDP_ALLOW_MAX) {
				settings_usage_error(err, "too many "
				    "--udp-allow-port ports (at most %d)",
				    UDP_ALLOW_MAX);
				return (SETTINGS_EXIT_USAGE);
			}
			if (settings_count_opt(err, "udp-allow-port", 1,
			    65535, &n) == -1)
				return (SETTINGS_EXIT_USAGE);
			s->udp_allow[s->nudp_allow++] = (unsigned int)n;
			break;
		case OPT_UDP_RATE:
			if (settings_count_opt(err, "udp-rate", 0,
			    UDP_RATE_MAX, &s->udp_rate) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_UDP_TOTAL_RATE:
			if (settings_count_opt(err, "udp-total-rate", 0,
			    UDP_RATE_MAX, &s->udp_total_rate) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_BACKLOG:
			if (settings_count_opt(err, "backlog", 1, INT_MAX,
			    &n) == -1)
				return (SETTINGS_EXIT_USAGE);
			s->backlog = (int)n;
			break;
		case 'c':
			if (settings_count_opt(err, "max-conns", 1, INT_MAX,
			    &n) == -1)
				return (SETTINGS_EXIT_USAGE);
			s->max_conns = n;
			break;
		case OPT_THREADS:
			if (settings_count_opt(err, "threads", 1, THREADS_MAX,
			    &n) == -1)
				return (SETTINGS_EXIT_USAGE);
			s->threads = (int)n;
			break;
		case OPT_IDLE_TIMEOUT:
			if (settings_seconds_opt(err, "idle-timeout",
			    &s->idle_timeout) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_STALL_TIMEOUT:
			if (settings_seconds_opt(err, "stall-timeout",
			    &s->stall_timeout) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_SHUTDOWN_TIMEOUT:
			if (settings_seconds_opt(err, "shutdown-timeout",
			    &s->shutdown_timeout) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_PROXY_TIMEOUT:
			if (settings_seconds_opt(err, "proxy-timeout",
			    &s->proxy_timeout) == -1)
				return (SETTINGS_EXIT_USAGE);
			if (s->proxy_timeout == 0) {
				settings_usage_error(err, "invalid "
				    "--proxy-timeout '%s': a header must have "
				    "a deadline (1s at least)", optarg);
				return (SETTINGS_EXIT_USAGE);
			}
			break;
		case OPT_SOCKET_MODE:
			if (settings_mode_opt(err, &s->socket_mode) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_HIGH_WATER:
			if (settings_size_opt(err, "high-water", 1,
			    &s->high_water) == -1)
				return (SETTINGS_EXIT_USAGE);
			high_given = 1;
			break;
		case OPT_LOW_WATER:
			if (settings_size_opt(err, "low-water", 0,
			    &s->low_water) == -1)
				return (SETTINGS_EXIT_USAGE);
			low_given = 1;
			break;
		case OPT_RATE:
			if (settings_rate_opt(err, "rate", &s->rate) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_TOTAL_RATE:
			if (settings_rate_opt(err, "total-rate",
			    &s->total_rate) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_DELAY:
			if (settings_count_opt(err, "delay", 0, DELAY_MAX_MSEC,
			    &n) == -1)
				return (SETTINGS_EXIT_USAGE);
			s->delay_ms = (unsigned int)n;
			break;
		case OPT_PIDFILE:
			if (settings_name_opt(err, "pidfile", "file name",
			    &s->pidfile) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_LOG_FILE:
			if (settings_name_opt(err, "log-file", "file name",
			    &s->log_file) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_USER:
			if (settings_name_opt(err, "user", "user name",
			    &s->user) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_METRICS:
			if (settings_metrics_opt(err, &s->metrics) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_TLS_CERT:
			if (settings_name_opt(err, "tls-cert", "file name",
			    &s->tls_cert) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_TLS_KEY:
			if (settings_name_opt(err, "tls-key", "file name",
			    &s->tls_key) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_TLS_CIPHERS:
			if (settings_name_opt(err, "tls-ciphers",
			    "list of ciphers", &s->tls_ciphers) == -1)
				return (SETTINGS_EXIT_USAGE);
			break;
		case OPT_INETD:
			s->inetd = 1;
			break;
		case OPT_DAEMON:
			s->daemonize = 1;
			break;
		case OPT_SYSLOG:
			s->use_syslog = 1;
			break;
		case 'v':
			s->verbosity++;
			break;
		case 'q':
			s->verbosity = LOG_LEVEL_WARN;
			break;
		case 'h':
			settings_usage(out);
			return (SETTINGS_EXIT_OK);
		case 'V':
#ifdef HAVE_OPENSSL
			/* The build's version: settings.c links nothing. */
			fprintf(out, "echod %s\nTLS: built in (%s)\n",
			    PACKAGE_VERSION, OPENSSL_VERSION_TEXT);
#else
			fprintf(out, "echod %s\nTLS: not built in\n",
			    PACKAGE_VERSION);
#endif
			return (SETTINGS_EXIT_OK);
		case ':':
			settings_usage_error(err, "option '%s' needs a value",
			    argv[optind - 1]);
			return (SETTINGS_EXIT_USAGE);
		default:
			/* For a long option glibc sets optopt to its value. */
			if (optopt != 0 && strncmp(argv[optind - 1], "--",
			    2) != 0)
				settings_usage_error(err, "unknown option "
				    "'-%c'", optopt);
			else if (optopt != 0)
				settings_usage_error(err, "option '%s' takes "
				    "no value", argv[optind - 1]);
			else
				settings_usage_error(err, "unknown option "
				    "'%s'", argv[optind - 1]);
			return (SETTINGS_EXIT_USAGE);
		}
	}
	if (optind < argc) {
		settings_usage_error(err, "unexpected argument '%s'",
		    argv[optind]);
		return (SETTINGS_EXIT_USAGE);
	}

	/* A lone --high-water below the default low mark drags it along. */
	if (high_given && !low_given && s->low_water > s->high_water)
		s->low_water = s->high_water / 4;
	if (s->low_water > s->high_water) {
		settings_usage_error(err, "--low-water (%zu) is above "
		    "--high-water (%zu)", s->low_water, s->high_water);
		return (SETTINGS_EXIT_USAGE);
	}

	/* Bytes held back are no sign of a dead peer. */
	if (s->delay_ms > 0 && ((s->idle_timeout != 0 &&
	    s->delay_ms >= s->idle_timeout * 1000ULL) ||
	    (s->stall_timeout != 0 &&
	    s->delay_ms >= s->stall_timeout * 1000ULL))) {
		settings_usage_error(err, "--delay %ums must be shorter than "
		    "--idle-timeout and --stall-timeout", s->delay_ms);
		return (SETTINGS_EXIT_USAGE);
	}

	if (s->use_syslog && s->log_file != NULL) {
		settings_usage_error(err, "--syslog and --log-file exclude "
		    "each other");
		return (SETTINGS_EXIT_USAGE);
	}
	if (s->inetd && (s->nlisten > 0 || s->daemonize || s->threads > 1)) {
		settings_usage_error(err, "--inetd serves the connection on "
		    "standard input; it takes no --listen, --daemon or "
		    "--threads");
		return (SETTINGS_EXIT_USAGE);
	}
	if (s->inetd && s->nudp > 0) {
		settings_usage_error(err, "--inetd serves the connection on "
		    "standard input; it takes no --udp");
		return (SETTINGS_EXIT_USAGE);
	}

	if (settings_check_tls(s, err) == -1)
		return (SETTINGS_EXIT_USAGE);

	/*
	 * Each --inetd connection is a process of its own: the first would
	 * hold the port, the next fail to start, and each would count only
	 * itself.
	 */
	if (s->inetd && s->metrics.ls_arg[0] != '\0') {
		settings_usage_error(err, "--metrics cannot be used with "
		    "--inetd: every connection is its own process, and only "
		    "one could serve the port");
		return (SETTINGS_EXIT_USAGE);
	}

	/* Only --udp: serve UDP alone, not TCP on the default port too. */
	if (s->nlisten == 0 && s->nudp == 0) {
		s->listen_default = 1;
		s->nlisten = 1;
		snprintf(s->listen[0].ls_arg, sizeof(s->listen[0].ls_arg),
		    "*");
		snprintf(s->listen[0].ls_port, sizeof(s->listen[0].ls_port),
		    "%s", ECHOD_DEFAULT_PORT);
	}
	return (SETTINGS_RUN);
}
