/* SPDX-License-Identifier: ISC */
/*
 * options.c - echobench's command line: defaults, limits, the usage text
 * and the one way every mistake in it is reported (exit status 2).
 */

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echobench.h"

/* Option limits: past these a run only measures the client's memory. */
#define MAX_SIZE		(16ULL * 1024 * 1024)
#define MAX_PIPELINE		4096ULL
#define MAX_CONNS		1000000ULL
#define MAX_THREADS		256ULL
#define MAX_BYTES		(1ULL << 40)
#define MAX_REQUESTS		1000000000000ULL
#define MAX_SECONDS		1000000.0
#define MAX_RATE		1e9

/*
 * Shortest duration and timeout: anything shorter measures nothing or
 * calls every connection stalled.  Slowest rate: one message in 1000 s.
 */
#define MIN_SECONDS		0.001
#define MIN_RATE		0.001

/*
 * getopt's letters; the leading ':' makes a missing value ':' rather
 * than '?', and the letters tell a known option from an unknown one.
 */
#define SHORT_OPTIONS		":H:p:m:s:P:c:d:w:t:R:r:n:qhV"

/* The -m words and the report's mode=, in enum order. */
const char *const options_mode_names[] = {
	"rr", "bulk", "connect", "idle", "halfclose", "udp"
};

/*
 * udp: a datagram carries its 8-byte sequence number, and at most what
 * one UDP datagram over IPv4 holds.
 */
#define MIN_UDP_SIZE		8
#define MAX_UDP_SIZE		UINT64_C(65507)

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fputs(
"usage: echobench [options] [HOST] PORT\n"
"Loads a TCP or UDP echo server and checks every byte it echoes.\n"
"\n"
"  -m, --mode MODE        rr, bulk, connect, idle, halfclose or udp\n"
"                         (default rr)\n"
"  -H, --host HOST        server name or address (default 127.0.0.1)\n"
"  -p, --port PORT        server port\n"
"  -c, --connections N    connections at once; udp: sockets (default 100)\n"
"  -t, --threads N        threads, each with its own epoll loop (default 1)\n"
"  -d, --duration SECS    measured time; idle: time held (default 10)\n"
"  -w, --warmup SECS      unmeasured time first (default 1)\n"
"  -s, --size BYTES       message size; bulk, halfclose: write size\n"
"                         (default 64; bulk, halfclose: 65536)\n"
"  -P, --pipeline N       rr, udp: messages in flight per connection or\n"
"                         socket (default 1)\n"
"  -R, --rate N           rr, udp: total messages per second, open loop\n"
"  -r, --requests N       stop after N messages (connect, halfclose: N\n"
"                         connections; bulk: N chunks); no warm-up\n"
"  -n, --bytes BYTES      halfclose: bytes per connection (default 1M)\n"
"      --timeout SECS     no progress this long is a stall; udp: a datagram\n"
"                         not echoed this long is lost (default 5)\n"
"      --json             print the result as one JSON object\n"
"  -q, --quiet            no progress line\n"
"  -h, --help             show this help and exit\n"
"  -V, --version          show the version and exit\n"
"BYTES take a k, m or g suffix (powers of 1024).\n", f);
}

/* Reports a bad command line the same way every time and exits 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("echobench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'echobench --help'\n", stderr);
	exit(2);
}

/* Parses a whole number in [min, max], with a k/m/g suffix if allowed. */
static uint64_t
parse_count(const char *name, const char *s, uint64_t min, uint64_t max,
    int suffix)
{
	unsigned long long	 v;
	uint64_t		 mult = 1;
	char			*end;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		usage_error("%s '%s' is not a number", name, s);
	v = strtoull(s, &end, 10);
	if (suffix && *end != '\0' && end[1] == '\0') {
		switch (tolower((unsigned char)*end)) {
		case 'k':
			mult = 1024;
			end++;
			break;
		case 'm':
			mult = 1024 * 1024;
			end++;
			break;
		case 'g':
			mult = 1024 * 1024 * 1024;
			end++;
			break;
		}
	}
	if (*end != '\0')
		usage_error("%s '%s' is not a number", name, s);
	if (errno == ERANGE || v > max / mult || v * mult < min ||
	    v * mult > max)
		usage_error("%s '%s' is out of range (%" PRIu64 " to %" PRIu64
		    ")", name, s, min, max);
	return v * mult;
}

/* Parses a decimal number in [0, max]; zero only where allow_zero. */
static double
parse_real(const char *name, const char *s, double min, double max)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		usage_error("%s '%s' is not a number", name, s);
	if (v < min || v > max)
		usage_error("%s '%s' is out of range (%g to %.0f)", name, s,
		    min, max);
	return v;
}

/* Reads the command line into opt; exits 2 on anything wrong. */
void
options_parse(struct options *opt, int argc, char **argv)
{
	enum {
		OPT_TIMEOUT = 256,
		OPT_JSON
	};
	static const struct option	longopts[] = {
		{ "host",	 required_argument, NULL, 'H' },
		{ "port",	 required_argument, NULL, 'p' },
		{ "mode",	 required_argument, NULL, 'm' },
		{ "size",	 required_argument, NULL, 's' },
		{ "pipeline",	 required_argument, NULL, 'P' },
		{ "connections", required_argument, NULL, 'c' },
		{ "duration",	 required_argument, NULL, 'd' },
		{ "warmup",	 required_argument, NULL, 'w' },
		{ "threads",	 required_argument, NULL, 't' },
		{ "rate",	 required_argument, NULL, 'R' },
		{ "requests",	 required_argument, NULL, 'r' },
		{ "bytes",	 required_argument, NULL, 'n' },
		{ "timeout",	 required_argument, NULL, OPT_TIMEOUT },
		{ "json",	 no_argument,	    NULL, OPT_JSON },
		{ "quiet",	 no_argument,	    NULL, 'q' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ NULL,		 0,		    NULL, 0 }
	};
	int	ch, size_set = 0, pipeline_set = 0, bytes_set = 0;
	int	duration_set = 0, warmup_set = 0;

	memset(opt, 0, sizeof(*opt));
	opt->host = "127.0.0.1";
	opt->mode = MODE_RR;
	opt->pipeline = 1;
	opt->conns = 100;
	opt->threads = 1;
	opt->bytes = 1024 * 1024;
	opt->duration = 10;
	opt->warmup = 1;
	opt->timeout = 5;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, SHORT_OPTIONS, longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'H':
			opt->host = optarg;
			break;
		case 'p':
			opt->port = optarg;
			break;
		case 'm':
			for (opt->mode = MODE_RR; opt->mode <= MODE_UDP;
			    opt->mode++)
				if (strcmp(optarg,
				    options_mode_names[opt->mode]) == 0)
					break;
			if (opt->mode > MODE_UDP)
				usage_error("unknown mode '%s' (rr, bulk, "
				    "connect, idle, halfclose or udp)", optarg);
			break;
		case 's':
			opt->size = parse_count("--size", optarg, 1, MAX_SIZE,
			    1);
			size_set = 1;
			break;
		case 'P':
			opt->pipeline = parse_count("--pipeline", optarg, 1,
			    MAX_PIPELINE, 0);
			pipeline_set = 1;
			break;
		case 'c':
			opt->conns = parse_count("--connections", optarg, 1,
			    MAX_CONNS, 0);
			break;
		case 'd':
			opt->duration = parse_real("--duration", optarg,
			    MIN_SECONDS, MAX_SECONDS);
			duration_set = 1;
			break;
		case 'w':
			opt->warmup = parse_real("--warmup", optarg, 0,
			    MAX_SECONDS);
			warmup_set = 1;
			break;
		case 't':
			opt->threads = parse_count("--threads", optarg, 1,
			    MAX_THREADS, 0);
			break;
		case 'R':
			opt->rate = parse_real("--rate", optarg, MIN_RATE,
			    MAX_RATE);
			break;
		case 'r':
			opt->requests = parse_count("--requests", optarg, 1,
			    MAX_REQUESTS, 0);
			break;
		case 'n':
			opt->bytes = parse_count("--bytes", optarg, 1,
			    MAX_BYTES, 1);
			bytes_set = 1;
			break;
		case OPT_TIMEOUT:
			opt->timeout = parse_real("--timeout", optarg,
			    MIN_SECONDS, MAX_SECONDS);
			break;
		case OPT_JSON:
			opt->json = 1;
			break;
		case 'q':
			opt->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			puts("echobench " PACKAGE_VERSION);
			exit(0);
		case ':':
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				usage_error("option '%s' needs a value",
				    argv[optind - 1]);
			usage_error("option '-%c' needs a value", optopt);
		default:
			/*
			 * A bad letter with more after it, as in -Wfoo,
			 * leaves optind on its word, so argv names only a
			 * long option; a known one here was given a value
			 * it does not take (--json=1).
			 */
			if (optopt == 0)
				usage_error("unknown option '%s'",
				    argv[optind - 1]);
			if (optopt >= OPT_TIMEOUT || (optopt != ':' &&
			    strchr(SHORT_OPTIONS, optopt) != NULL))
				usage_error("option '%.*s' takes no value",
				    (int)strcspn(argv[optind - 1], "="),
				    argv[optind - 1]);
			usage_error("unknown option '-%c'", optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 2)
		usage_error("too many arguments");
	if (argc == 2) {
		opt->host = argv[0];
		argv++;
		argc--;
	}
	if (argc == 1) {
		if (opt->port != NULL)
			usage_error("port given twice");
		opt->port = argv[0];
	}
	if (opt->port == NULL)
		usage_error("no port given");

	if (!size_set)
		opt->size = opt->mode == MODE_BULK ||
		    opt->mode == MODE_HALFCLOSE ? 65536 : 64;
	if (opt->mode != MODE_RR && opt->mode != MODE_UDP && pipeline_set)
		usage_error("--pipeline applies to rr and udp modes only");
	if (opt->mode != MODE_RR && opt->mode != MODE_UDP && opt->rate > 0)
		usage_error("--rate applies to rr and udp modes only");
	if (opt->mode == MODE_UDP && (opt->size < MIN_UDP_SIZE ||
	    opt->size > MAX_UDP_SIZE))
		usage_error("udp: --size %" PRIu64 " is out of range (%d to "
		    "%" PRIu64 ")", opt->size, MIN_UDP_SIZE, MAX_UDP_SIZE);
	if (opt->mode != MODE_HALFCLOSE && bytes_set)
		usage_error("--bytes applies to halfclose mode only");
	if (opt->mode == MODE_IDLE && opt->requests > 0)
		usage_error("--requests does not apply to idle mode");
	if (opt->requests > 0) {
		if (warmup_set)
			usage_error("--requests counts every message, so it "
			    "takes no --warmup");
		opt->warmup = 0;
		if (!duration_set)
			opt->duration = 0;
	}
	if (opt->threads > opt->conns)
		usage_error("--threads %" PRIu64 " is more than the %" PRIu64
		    " connections", opt->threads, opt->conns);
}
