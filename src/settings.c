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

/* Above Linux's default somaxconn, so bursts of connects are not dropped. */
#define DEFAULT_BACKLOG		1024

/* Longest timeout accepted: a day; longer is surely a typo. */
#define SECONDS_MAX		86400

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
static int	settings_count_opt(FILE *, const char *, long, long, long *);
static int	settings_seconds_opt(FILE *, const char *, unsigned int *);
static int	settings_size_opt(FILE *, const char *, size_t, size_t *);
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
	s->high_water = DEFAULT_HIGH_WATER;
	s->low_water = DEFAULT_LOW_WATER;
	s->threads = 1;
	s->verbosity = LOG_LEVEL_NOTICE;
}

/* The --help text, with the defaults. */
void
settings_usage(FILE *fp)
{
	fprintf(fp,
"usage: echod [-hqVv] [-c max-conns] [-l [tls:]address[:port]] [--backlog n]\n"
"             [--high-water bytes] [--idle-timeout seconds]\n"
"             [--low-water bytes] [--shutdown-timeout seconds]\n"
"             [--stall-timeout seconds] [--threads n] [--inetd]\n"
"             [--daemon] [--pidfile file] [--syslog | --log-file file]\n"
"             [--user name] [--tls-cert file --tls-key file]\n"
"             [--tls-ciphers list]\n"
"\n"
"An RFC 862 echo server: every byte a client sends is sent back.\n"
"\n"
"  -l, --listen [tls:]ADDR[:PORT]  listen here; repeatable (IPv6 as\n"
"                             [::1]:7007, :PORT or *:PORT for every\n"
"                             address; tls: serves TLS there)\n"
"                             [default: every address, port %s]\n"
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
"      --inetd                serve the one connection on standard input\n"
"      --daemon               detach and run in the background\n"
"      --pidfile FILE         write the process ID to FILE\n"
"      --syslog               log to syslog (facility daemon), not stderr\n"
"      --log-file FILE        log to FILE, reopened on SIGHUP\n"
"      --user NAME            drop root privileges to NAME after binding\n"
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
	    ECHOD_DEFAULT_PORT, DEFAULT_BACKLOG,
	    DEFAULT_IDLE_TIMEOUT, DEFAULT_STALL_TIMEOUT,
	    (size_t)DEFAULT_HIGH_WATER, (size_t)DEFAULT_LOW_WATER,
	    DEFAULT_SHUTDOWN_TIMEOUT);
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
 * Split [tls:]ADDR[:PORT]: "host", "host:port", "[v6]", "[v6]:port", a
 * bare IPv6 address, ":port", "*:port", "*" or a bare port, after an
 * optional "tls:" prefix.  On error writes a message into why.
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
	while ((ch = getopt_long(argc, argv, ":c:hl:qVv", long_options,
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
			fprintf(out, "echod %s\nTLS: built in (%s)\n",
			    PACKAGE_VERSION, tls_version());
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

	if (settings_check_tls(s, err) == -1)
		return (SETTINGS_EXIT_USAGE);

	if (s->nlisten == 0) {
		s->listen_default = 1;
		s->nlisten = 1;
		snprintf(s->listen[0].ls_arg, sizeof(s->listen[0].ls_arg),
		    "*");
		snprintf(s->listen[0].ls_port, sizeof(s->listen[0].ls_port),
		    "%s", ECHOD_DEFAULT_PORT);
	}
	return (SETTINGS_RUN);
}
