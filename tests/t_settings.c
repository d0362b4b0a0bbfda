/* SPDX-License-Identifier: ISC */
/*
 * t_settings.c - unit tests of settings.c, linked against the daemon's
 * own objects: every --listen form, sizes, seconds and counts with their
 * limits and edges, the defaults, and what settings_parse() says and
 * decides for good and bad command lines, the TLS options among them
 * (which a build without TLS refuses).
 */

#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"
#include "tap.h"

/* Pure computation that takes milliseconds; this only catches a hang. */
#define WATCHDOG_SEC	30

/* Room for the longest size or seconds argument tested, escaped. */
#define VISIBLE_MAX	64

/* The most of any repeatable option (--udp-allow-port). */
#define TOO_MANY_MAX	64

/* Most arguments in one test command line. */
#define ARGS_MAX	24

/* What one settings_parse() call did. */
struct parsed {
	struct settings		 p_s;
	enum settings_action	 p_action;
	char			*p_out;
	char			*p_err;
};

static enum settings_action parse(struct parsed *, ...)
		    __attribute__((__sentinel__));
static void	parsed_free(struct parsed *);
static const char *visible(const char *);
static void	test_listen_good(void);
static void	test_listen_bad(void);
static void	test_sizes(void);
static void	test_seconds(void);
static void	test_counts(void);
static void	test_defaults(void);
static void	test_parse_good(void);
static void	test_parse_bad(void);
static void	test_listen_too_many(void);
static void	test_parse_twice(void);
static void	test_udp_options(void);
static void	too_many(const char *, const char *, int, const char *);
static void	test_tls_options(void);

/* What --version's second line says of TLS in this build. */
#ifdef HAVE_OPENSSL
#define VERSION_TLS	"TLS: built in ("
#else
#define VERSION_TLS	"TLS: not built in\n"
#endif

/*
 * Run settings_parse() on "echod" and the arguments given, capturing what
 * it prints on its out and err streams.
 */
static enum settings_action
parse(struct parsed *p, ...)
{
	char	*argv[ARGS_MAX + 2];
	size_t	 outlen, errlen;
	FILE	*out, *err;
	va_list	 ap;
	int	 argc = 0;

	memset(p, 0, sizeof(*p));
	argv[argc++] = (char *)"echod";
	va_start(ap, p);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		if (++argc > ARGS_MAX)
			bail("too many arguments");
	va_end(ap);
	if ((out = open_memstream(&p->p_out, &outlen)) == NULL ||
	    (err = open_memstream(&p->p_err, &errlen)) == NULL)
		bail("open_memstream failed");
	settings_init(&p->p_s);
	p->p_action = settings_parse(&p->p_s, argc, argv, out, err);
	fclose(out);
	fclose(err);
	return (p->p_action);
}

/* Free what parse() captured. */
static void
parsed_free(struct parsed *p)
{
	free(p->p_out);
	free(p->p_err);
}

/*
 * arg with tabs and newlines escaped: a newline in a test's name would
 * end its TAP line early.  The result lasts until the next call.
 */
static const char *
visible(const char *arg)
{
	static char	 buf[VISIBLE_MAX + 1];
	size_t		 n = 0;

	for (; *arg != '\0' && n + 2 <= VISIBLE_MAX; arg++) {
		if (*arg == '\n' || *arg == '\t') {
			buf[n++] = '\\';
			buf[n++] = *arg == '\n' ? 'n' : 't';
		} else
			buf[n++] = *arg;
	}
	buf[n] = '\0';
	return (buf);
}

/*
 * Every accepted --listen form splits into the right host and port, or
 * Unix socket path, with the prefixes noted: tls: and proxy: before
 * either form, in that order ("tls:tls:1" is host "tls"), unix: with an
 * absolute path or an abstract @name up to sun_path's limit.
 */
static void
test_listen_good(void)
{
	static const struct {
		const char	*arg, *host, *port, *path;
		int		 proxy, unx, tls;
	} cases[] = {
		{ "127.0.0.1:7007",	"127.0.0.1",	"7007",	"",	0, 0 },
		{ "127.0.0.1",		"127.0.0.1",	"7",	"",	0, 0 },
		{ "[::1]:7007",		"::1",		"7007",	"",	0, 0 },
		{ "[::1]",		"::1",		"7",	"",	0, 0 },
		{ "::1",		"::1",		"7",	"",	0, 0 },
		{ "fe80::1:2",		"fe80::1:2",	"7",	"",	0, 0 },
		{ ":7007",		"",		"7007",	"",	0, 0 },
		{ "*:7007",		"",		"7007",	"",	0, 0 },
		{ "*",			"",		"7",	"",	0, 0 },
		{ "7007",		"",		"7007",	"",	0, 0 },
		{ "0",			"",		"0",	"",	0, 0 },
		{ "007",		"",		"7",	"",	0, 0 },
		{ "localhost",		"localhost",	"7",	"",	0, 0 },
		{ "localhost:65535",	"localhost",	"65535",	"",	0, 0 },
		{ "127.0.0.1:0",	"127.0.0.1",	"0",	"",	0, 0 },
		{ "proxy:127.0.0.1:7007", "127.0.0.1", "7007", "", 1, 0, 0 },
		{ "proxy:[::1]:7007",	"::1",	"7007",	"",	1, 0 },
		{ "proxy:7007",		"",	"7007",	"",	1, 0 },
		{ "proxy:*",		"",	"7",	"",	1, 0 },
		{ "unix:/run/echod/echod.sock", "", "", "/run/echod/echod.sock",
		    0, 1, 0 },
		{ "unix:@echod",	"",	"",	"@echod",	0, 1 },
		{ "proxy:unix:/tmp/e.sock", "",	"",	"/tmp/e.sock",	1, 1 },
		{ "proxy:unix:@e",	"",	"",	"@e",		1, 1 },
		{ "proxy.:7007",	"proxy.", "7007", "",		0, 0 },
		{ "unix.:7",		"unix.", "7",	"",		0, 0 },
		{ "tls:127.0.0.1:7443", "127.0.0.1", "7443", "", 0, 0, 1 },
		{ "tls:[::]:7443", "::", "7443", "", 0, 0, 1 },
		{ "tls:[::1]", "::1", "7", "", 0, 0, 1 },
		{ "tls:::1", "::1", "7", "", 0, 0, 1 },
		{ "tls::7443", "", "7443", "", 0, 0, 1 },
		{ "tls:*:7443", "", "7443", "", 0, 0, 1 },
		{ "tls:7443", "", "7443", "", 0, 0, 1 },
		{ "tls:localhost", "localhost", "7", "", 0, 0, 1 },
		{ "tls:tls:1", "tls", "1", "", 0, 0, 1 },
		{ "tls", "tls", "7", "", 0, 0, 0 },
		{ "TLS:7443", "TLS", "7443", "", 0, 0, 0 },
		{ "tls:proxy:127.0.0.1:7007", "127.0.0.1", "7007", "", 1, 0, 1 },
		{ "tls:proxy:unix:@e", "", "", "@e", 1, 1, 1 },
	};
	struct listen_spec	 ls;
	char			 why[128], arg[LISTEN_ARG_MAX + 1];
	size_t			 i;
	int			 rv;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		rv = settings_parse_listen(&ls, cases[i].arg, why, sizeof(why));
		is_int(rv, 0, "listen '%s' accepted", cases[i].arg);
		if (rv != 0)
			diag("  why: %s", why);
		ok(strcmp(ls.ls_host, cases[i].host) == 0 &&
		    strcmp(ls.ls_port, cases[i].port) == 0 &&
		    strcmp(ls.ls_path, cases[i].path) == 0 &&
		    ls.ls_proxy == cases[i].proxy &&
		    ls.ls_unix == cases[i].unx &&
		    strcmp(ls.ls_arg, cases[i].arg) == 0,
		    "listen '%s': host '%s' port '%s' path '%s' proxy %d "
		    "unix %d", cases[i].arg, ls.ls_host, ls.ls_port,
		    ls.ls_path, ls.ls_proxy, ls.ls_unix);
		is_int(ls.ls_tls, cases[i].tls, "listen '%s' is %sTLS",
		    cases[i].arg, cases[i].tls ? "" : "not ");
	}

	/* The longest path and abstract name that fit sun_path. */
	snprintf(arg, sizeof(arg), "unix:/");
	memset(arg + 6, 'p', UNIX_PATH_MAX - 1);
	arg[6 + UNIX_PATH_MAX - 1] = '\0';
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), 0,
	    "unix: path of %zu bytes accepted", (size_t)UNIX_PATH_MAX);
	is_int((long long)strlen(ls.ls_path), (long long)UNIX_PATH_MAX,
	    "unix: path of %zu bytes kept whole", (size_t)UNIX_PATH_MAX);
	arg[5] = '@';
	memset(arg + 6, 'n', UNIX_PATH_MAX);
	arg[6 + UNIX_PATH_MAX] = '\0';
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), 0,
	    "unix:@name of %zu bytes accepted", (size_t)UNIX_PATH_MAX);
	is_int((long long)strlen(ls.ls_path), (long long)UNIX_PATH_MAX + 1,
	    "unix:@name of %zu bytes kept whole with its '@'",
	    (size_t)UNIX_PATH_MAX);
}

/*
 * Every malformed --listen, with or without prefixes, is refused with a
 * reason naming the problem.
 */
static void
test_listen_bad(void)
{
	static const struct {
		const char	*arg, *why;
	} cases[] = {
		{ "127.0.0.1:65536",	"port '65536' is not a number" },
		{ "65536",		"port '65536'" },
		{ "127.0.0.1:abc",	"port 'abc'" },
		{ "abc:",		"port ''" },
		{ ":",			"port ''" },
		{ "127.0.0.1:-1",	"port '-1'" },
		{ "127.0.0.1:+7",	"port '+7'" },
		{ "127.0.0.1:7x",	"port '7x'" },
		{ "",			"empty address" },
		{ "tls:",		"empty address" },
		{ "tls:127.0.0.1:99999", "port '99999'" },
		{ "tls:[::1",		"missing ']'" },
		{ "[::1",		"missing ']'" },
		{ "[::1]x",		"expected ':PORT' after ']'" },
		{ "[::1]:",		"port ''" },
		{ "[]:7",		"must hold an IPv6 address" },
		{ "[localhost]:7",	"must hold an IPv6 address" },
		{ "unix:",		"absolute path or @name" },
		{ "unix:echod.sock",	"absolute path or @name" },
		{ "unix:./echod.sock",	"absolute path or @name" },
		{ "unix:@",		"needs a name after the '@'" },
		{ "unix:/run/echod/",	"names a directory" },
		{ "proxy:",		"empty address" },
		{ "proxy:127.0.0.1:x",	"port 'x'" },
		{ "unix:proxy:/tmp/s",	"absolute path or @name" },
		{ "proxy:unix:",	"absolute path or @name" },
	};
	struct listen_spec	 ls;
	char			 why[128], arg[LISTEN_ARG_MAX + 2];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		is_int(settings_parse_listen(&ls, cases[i].arg, why,
		    sizeof(why)), -1, "listen '%s' refused", cases[i].arg);
		like(why, cases[i].why, "listen '%s': reason given",
		    cases[i].arg);
	}

	/* One byte over the longest argument kept. */
	memset(arg, 'a', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), -1,
	    "listen of %zu bytes refused", strlen(arg));
	like(why, "too long", "listen of %zu bytes: reason given",
	    strlen(arg));

	/* A host one byte longer than RFC 1035 allows, with a port. */
	memset(arg, 'h', HOST_MAX + 1);
	snprintf(arg + HOST_MAX + 1, sizeof(arg) - HOST_MAX - 1, ":7");
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), -1,
	    "host of %d bytes refused", HOST_MAX + 1);
	like(why, "host name is too long", "host of %d bytes: reason given",
	    HOST_MAX + 1);

	/* The longest host allowed still fits. */
	arg[HOST_MAX] = '\0';
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), 0,
	    "host of %d bytes accepted", HOST_MAX);
	is_int((long long)strlen(ls.ls_host), HOST_MAX,
	    "host of %d bytes kept whole", HOST_MAX);

	/* One byte more than sun_path holds, as a path and as a name. */
	snprintf(arg, sizeof(arg), "unix:/");
	memset(arg + 6, 'p', UNIX_PATH_MAX);
	arg[6 + UNIX_PATH_MAX] = '\0';
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), -1,
	    "unix: path of %zu bytes refused", (size_t)UNIX_PATH_MAX + 1);
	like(why, "longer than 107 bytes", "unix: path too long: reason "
	    "given");
	arg[5] = '@';
	memset(arg + 6, 'n', UNIX_PATH_MAX + 1);
	arg[6 + UNIX_PATH_MAX + 1] = '\0';
	is_int(settings_parse_listen(&ls, arg, why, sizeof(why)), -1,
	    "unix:@name of %zu bytes refused", (size_t)UNIX_PATH_MAX + 1);
	like(why, "longer than 107 bytes", "unix:@name too long: reason "
	    "given");
}

/* Byte counts: suffixes are powers of 1024, the ceiling is 1 GiB. */
static void
test_sizes(void)
{
	static const struct {
		const char	*arg;
		size_t		 v;
	} good[] = {
		{ "0",		0 },
		{ "1",		1 },
		{ "4096",	4096 },
		{ "64k",	64 * 1024 },
		{ "64K",	64 * 1024 },
		{ "3m",		3 * 1024 * 1024 },
		{ "3M",		3 * 1024 * 1024 },
		{ "1g",		1024 * 1024 * 1024 },
		{ "1G",		1024 * 1024 * 1024 },
		{ "1048576k",	1024 * 1024 * 1024 },
		{ "1073741824",	1024 * 1024 * 1024 },
		/* Zero and leading zeros take a suffix; the ceiling in each. */
		{ "0k",		0 },
		{ "0G",		0 },
		{ "007k",	7 * 1024 },
		{ "1048576K",	1024 * 1024 * 1024 },
		{ "1024m",	1024 * 1024 * 1024 },
		{ "1024M",	1024 * 1024 * 1024 },
	};
	static const char *const bad[] = {
		"", "k", "-1", "+1", " 1", "1 ", "1.5k", "12kb", "4k5", "1t",
		"2g", "1025m", "1073741825", "0x10",
		"99999999999999999999999",
		/* One over the ceiling in each suffix and case. */
		"1048577k", "1048577K", "1025M", "2G",
		/* Products that wrap to 0 in 64 bits, passing a late check. */
		"18014398509481984k", "17592186044416m", "17179869184g",
		/* ULLONG_MAX, and one past it (ERANGE), bare and suffixed. */
		"18446744073709551615", "18446744073709551616",
		"18446744073709551616k",
		/* A suffix alone, junk after or instead of one. */
		"K", "m", "G", "1k ", "1kk", "1k1", "1g\n", "1 k", "1b", "1s",
		"1h", "1e3", "1,5k",
		/* Signs, and blanks before or after. */
		"-1k", "-0", "-0k", "+1k", "\t1", "\n1", "1\t", " 1k",
	};
	size_t	 i, v;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		is_int(settings_parse_size(good[i].arg, &v), 0,
		    "size '%s' accepted", good[i].arg);
		cmp_u64(v, "==", good[i].v, "size '%s' is %zu bytes",
		    good[i].arg, good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		is_int(settings_parse_size(bad[i], &v), -1,
		    "size '%s' refused", visible(bad[i]));
		cmp_u64(v, "==", 12345, "size '%s' left the value alone",
		    visible(bad[i]));
	}
}

/* Seconds: s, m and h suffixes, at most a day. */
static void
test_seconds(void)
{
	static const struct {
		const char	*arg;
		unsigned int	 v;
	} good[] = {
		{ "0",		0 },
		{ "1",		1 },
		{ "1s",		1 },
		{ "90",		90 },
		{ "2m",		120 },
		{ "1h",		3600 },
		{ "24h",	86400 },
		{ "1440m",	86400 },
		{ "86400",	86400 },
		/* Zero and leading zeros take a suffix; the ceiling in s. */
		{ "0s",		0 },
		{ "0m",		0 },
		{ "0h",		0 },
		{ "007m",	420 },
		{ "86400s",	86400 },
	};
	static const char *const bad[] = {
		"", "s", "-1", "1.5", "1d", "1ms", "25h", "1441m", "86401",
		"1S", " 1", "99999999999999999999999",
		/* One over the ceiling in s. */
		"86401s",
		/* Products that wrap to at most a day in 64 bits. */
		"307445734561825861m", "5124095576030432h",
		/* ULLONG_MAX, and one past it (ERANGE). */
		"18446744073709551615s", "18446744073709551616",
		/* A suffix alone, junk after or instead of one. */
		"m", "h", "1s ", "1ss", "1m30s", "1h\n", "1 s", "1M", "1H",
		"1k", "1g",
		/* Signs, and blanks before or after. */
		"-1s", "-0", "+1", "\t1", "1\t", " 1s",
	};
	unsigned int	 v;
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		is_int(settings_parse_seconds(good[i].arg, &v), 0,
		    "seconds '%s' accepted", good[i].arg);
		is_int(v, good[i].v, "seconds '%s' is %u", good[i].arg,
		    good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		is_int(settings_parse_seconds(bad[i], &v), -1,
		    "seconds '%s' refused", visible(bad[i]));
		is_int(v, 12345, "seconds '%s' left the value alone",
		    visible(bad[i]));
	}
}

/* Counts: decimal only, within the bounds given. */
static void
test_counts(void)
{
	static const struct {
		const char	*arg;
		long		 min, max;
		int		 rv;
		long		 v;
	} cases[] = {
		{ "1",		1, 256,	 0, 1 },
		{ "256",	1, 256,	 0, 256 },
		{ "257",	1, 256,	-1, 0 },
		{ "0",		1, 256,	-1, 0 },
		{ "0",		0, 10,	 0, 0 },
		{ "-1",		1, 256,	-1, 0 },
		{ "",		1, 256,	-1, 0 },
		{ " 5",		1, 256,	-1, 0 },
		{ "5 ",		1, 256,	-1, 0 },
		{ "5x",		1, 256,	-1, 0 },
		{ "0x10",	1, 256,	-1, 0 },
		{ "010",	1, 256,	 0, 10 },
		{ "2147483647",	1, 2147483647L, 0, 2147483647L },
		{ "2147483648",	1, 2147483647L, -1, 0 },
		{ "99999999999999999999999", 1, 2147483647L, -1, 0 },
	};
	size_t	 i;
	long	 v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 0;
		is_int(settings_parse_count(cases[i].arg, cases[i].min,
		    cases[i].max, &v), cases[i].rv, "count '%s' in [%ld, %ld] "
		    "%s", cases[i].arg, cases[i].min, cases[i].max,
		    cases[i].rv == 0 ? "accepted" : "refused");
		is_int(v, cases[i].v, "count '%s' gives %ld", cases[i].arg,
		    cases[i].v);
	}
}

/* The defaults, as --help and echod(8) document them. */
static void
test_defaults(void)
{
	struct parsed	 p;

	is_int(parse(&p, NULL), SETTINGS_RUN, "no arguments: run");
	is_int((long long)p.p_s.nlisten, 1, "default: one listen address");
	ok(strcmp(p.p_s.listen[0].ls_host, "") == 0 &&
	    strcmp(p.p_s.listen[0].ls_port, "7") == 0,
	    "default: every address, port 7 (RFC 862)");
	is_int(p.p_s.backlog, 1024, "default backlog 1024");
	is_int(p.p_s.max_conns, 0, "default cap follows the fd limit");
	is_int(p.p_s.idle_timeout, 300, "default idle timeout 300 s");
	is_int(p.p_s.stall_timeout, 60, "default stall timeout 60 s");
	is_int(p.p_s.shutdown_timeout, 5, "default shutdown timeout 5 s");
	is_int(p.p_s.proxy_timeout, 5, "default proxy timeout 5 s");
	is_int(p.p_s.socket_mode, 0666, "default socket mode 0666");
	cmp_u64(p.p_s.high_water, "==", 128 * 1024, "default high water 128k");
	cmp_u64(p.p_s.low_water, "==", 32 * 1024, "default low water 32k");
	is_int(p.p_s.threads, 1, "default one thread");
	is_int(p.p_s.verbosity, LOG_LEVEL_NOTICE, "default verbosity notice");
	ok(p.p_s.metrics.ls_arg[0] == '\0', "default: no metrics endpoint");
	ok(p.p_out[0] == '\0' && p.p_err[0] == '\0',
	    "no arguments: nothing printed");
	parsed_free(&p);
}

/* Command lines that run, and what they set. */
static void
test_parse_good(void)
{
	struct parsed	 p;

	is_int(parse(&p, "--socket-mode", "0660", "--proxy-timeout", "2m",
	    "-l", "proxy:unix:@e", NULL), SETTINGS_RUN,
	    "--socket-mode, --proxy-timeout and a prefixed -l run");
	is_int(p.p_s.socket_mode, 0660, "--socket-mode 0660 is octal");
	is_int(p.p_s.proxy_timeout, 120, "--proxy-timeout 2m is 120 s");
	ok(p.p_s.nlisten == 1 && p.p_s.listen[0].ls_proxy &&
	    p.p_s.listen[0].ls_unix, "proxy:unix:@e is one proxy unix listener");
	parsed_free(&p);
	is_int(parse(&p, "--socket-mode", "600", NULL), SETTINGS_RUN,
	    "--socket-mode without a leading 0 runs");
	is_int(p.p_s.socket_mode, 0600, "--socket-mode 600 is octal too");
	parsed_free(&p);

	is_int(parse(&p, "-l", "127.0.0.1:0", "--listen", "[::1]:7007",
	    "-l", "8000", NULL), SETTINGS_RUN, "three --listen: run");
	is_int((long long)p.p_s.nlisten, 3, "three addresses kept");
	is_int(p.p_s.listen_default, 0, "--listen given: not the default");
	ok(strcmp(p.p_s.listen[0].ls_host, "127.0.0.1") == 0 &&
	    strcmp(p.p_s.listen[1].ls_host, "::1") == 0 &&
	    strcmp(p.p_s.listen[1].ls_port, "7007") == 0 &&
	    strcmp(p.p_s.listen[2].ls_port, "8000") == 0,
	    "addresses kept in order");
	parsed_free(&p);

	is_int(parse(&p, "--backlog", "10", "-c", "500", "--idle-timeout",
	    "2m", "--stall-timeout", "0", "--shutdown-timeout", "1h",
	    "--high-water", "1m", "--low-water", "1k", "--threads", "4",
	    "-vv", NULL), SETTINGS_RUN, "every option: run");
	is_int(p.p_s.backlog, 10, "--backlog 10");
	is_int(p.p_s.max_conns, 500, "-c 500");
	is_int(p.p_s.idle_timeout, 120, "--idle-timeout 2m is 120 s");
	is_int(p.p_s.stall_timeout, 0, "--stall-timeout 0: never");
	is_int(p.p_s.shutdown_timeout, 3600, "--shutdown-timeout 1h");
	cmp_u64(p.p_s.high_water, "==", 1024 * 1024, "--high-water 1m");
	cmp_u64(p.p_s.low_water, "==", 1024, "--low-water 1k");
	is_int(p.p_s.threads, 4, "--threads 4");
	is_int(p.p_s.verbosity, LOG_LEVEL_DEBUG, "-vv is debug");
	parsed_free(&p);

	is_int(parse(&p, "--max-conns=7", "--threads=256", "-q", NULL),
	    SETTINGS_RUN, "--opt=value forms: run");
	is_int(p.p_s.max_conns, 7, "--max-conns=7");
	is_int(p.p_s.threads, 256, "--threads=256, the most");
	is_int(p.p_s.verbosity, LOG_LEVEL_WARN, "-q is warnings only");
	parsed_free(&p);

	is_int(parse(&p, "--daemon", "--pidfile", "/run/echod.pid", "--user",
	    "nobody", "--log-file", "/var/log/echod.log", NULL), SETTINGS_RUN,
	    "service options: run");
	ok(p.p_s.daemonize && strcmp(p.p_s.pidfile, "/run/echod.pid") == 0 &&
	    strcmp(p.p_s.user, "nobody") == 0 &&
	    strcmp(p.p_s.log_file, "/var/log/echod.log") == 0,
	    "service options: all kept");
	ok(p.p_s.listen_default && !p.p_s.inetd && !p.p_s.use_syslog,
	    "service options: default address, no inetd, no syslog");
	parsed_free(&p);

	is_int(parse(&p, "--inetd", "--syslog", NULL), SETTINGS_RUN,
	    "--inetd --syslog: run");
	ok(p.p_s.inetd && p.p_s.use_syslog && p.p_s.log_file == NULL,
	    "--inetd --syslog: both set");
	parsed_free(&p);

	is_int(parse(&p, "--metrics", "[::1]:9107", NULL), SETTINGS_RUN,
	    "--metrics [::1]:9107: run");
	ok(strcmp(p.p_s.metrics.ls_host, "::1") == 0 &&
	    strcmp(p.p_s.metrics.ls_port, "9107") == 0 &&
	    p.p_s.listen_default, "--metrics: kept apart from --listen");
	parsed_free(&p);

	is_int(parse(&p, "--metrics", "9107", NULL), SETTINGS_RUN,
	    "--metrics with a bare port: run");
	ok(strcmp(p.p_s.metrics.ls_host, "") == 0 &&
	    strcmp(p.p_s.metrics.ls_port, "9107") == 0,
	    "--metrics 9107: every address");
	parsed_free(&p);

	/* A lone --high-water below the default low mark drags it along. */
	is_int(parse(&p, "--high-water", "4k", NULL), SETTINGS_RUN,
	    "--high-water 4k alone: run");
	cmp_u64(p.p_s.low_water, "==", 1024, "low water follows to 1k");
	parsed_free(&p);

	is_int(parse(&p, "--high-water", "64k", "--low-water", "64k", NULL),
	    SETTINGS_RUN, "low equal to high: run");
	parsed_free(&p);

	is_int(parse(&p, "--help", NULL), SETTINGS_EXIT_OK, "--help: exit 0");
	like(p.p_out, "usage: echod", "--help prints the usage to out");
	like(p.p_out, "[131072]", "--help shows the default high water");
	ok(p.p_err[0] == '\0', "--help prints nothing to err");
	parsed_free(&p);

	is_int(parse(&p, "-l", "x:1", "-h", "--bogus", NULL), SETTINGS_EXIT_OK,
	    "-h before a bad option: exit 0");
	like(p.p_out, "usage: echod", "-h prints the usage");
	parsed_free(&p);

	is_int(parse(&p, "--version", NULL), SETTINGS_EXIT_OK,
	    "--version: exit 0");
	ok(strncmp(p.p_out, "echod " PACKAGE_VERSION "\n" VERSION_TLS,
	    strlen("echod " PACKAGE_VERSION "\n" VERSION_TLS)) == 0,
	    "--version prints 'echod %s' and whether TLS is built in",
	    PACKAGE_VERSION);
	parsed_free(&p);

	is_int(parse(&p, "-V", NULL), SETTINGS_EXIT_OK, "-V: exit 0");
	ok(strncmp(p.p_out, "echod " PACKAGE_VERSION "\n" VERSION_TLS,
	    strlen("echod " PACKAGE_VERSION "\n" VERSION_TLS)) == 0,
	    "-V prints the version");
	parsed_free(&p);
}

/* Command lines refused: usage exit, the problem named, the hint. */
static void
test_parse_bad(void)
{
	static const struct {
		const char	*a1, *a2, *a3, *a4;
		const char	*msg;
	} cases[] = {
		{ "-l", "127.0.0.1:65536", NULL, NULL,
		    "invalid --listen '127.0.0.1:65536': port '65536'" },
		{ "-l", "", NULL, NULL, "invalid --listen '': empty address" },
		{ "-l", "[::1", NULL, NULL, "missing ']'" },
		{ "--backlog", "0", NULL, NULL, "invalid --backlog '0'" },
		{ "-c", "-5", NULL, NULL, "invalid --max-conns '-5'" },
		{ "--max-conns", "lots", NULL, NULL,
		    "invalid --max-conns 'lots'" },
		{ "--idle-timeout", "5x", NULL, NULL,
		    "invalid --idle-timeout '5x'" },
		{ "--stall-timeout", "-1", NULL, NULL,
		    "invalid --stall-timeout '-1'" },
		{ "--shutdown-timeout", "2d", NULL, NULL,
		    "invalid --shutdown-timeout '2d'" },
		{ "--high-water", "0", NULL, NULL, "invalid --high-water '0'" },
		{ "--high-water", "2g", NULL, NULL,
		    "invalid --high-water '2g'" },
		{ "--low-water", "-1", NULL, NULL, "invalid --low-water '-1'" },
		{ "--threads", "0", NULL, NULL, "invalid --threads '0'" },
		{ "--threads", "257", NULL, NULL, "invalid --threads '257'" },
		{ "--high-water", "64k", "--low-water", "128k",
		    "--low-water (131072) is above --high-water (65536)" },
		{ "--low-water", "200k", NULL, NULL,
		    "--low-water (204800) is above --high-water (131072)" },
		{ "--bogus", NULL, NULL, NULL, "unknown option '--bogus'" },
		{ "-x", NULL, NULL, NULL, "unknown option '-x'" },
		{ "-vx", NULL, NULL, NULL, "unknown option '-x'" },
		{ "--help=yes", NULL, NULL, NULL,
		    "option '--help=yes' takes no value" },
		{ "-l", NULL, NULL, NULL, "option '-l' needs a value" },
		{ "--idle-timeout", NULL, NULL, NULL,
		    "option '--idle-timeout' needs a value" },
		{ "stray", NULL, NULL, NULL, "unexpected argument 'stray'" },
		{ "--syslog", "--log-file", "/dev/null", NULL,
		    "--syslog and --log-file exclude each other" },
		{ "--inetd", "-l", "127.0.0.1:0", NULL,
		    "--inetd serves the connection on standard input" },
		{ "--inetd", "--threads", "2", NULL, "it takes no --listen" },
		{ "--inetd", "--daemon", NULL, NULL, "it takes no --listen" },
		{ "--pidfile", "", NULL, NULL, "--pidfile needs a file name" },
		{ "--log-file", "", NULL, NULL, "--log-file needs a file name" },
		{ "--user", "", NULL, NULL, "--user needs a user name" },
		{ "-l", "unix:relative", NULL, NULL,
		    "invalid --listen 'unix:relative': unix: needs an "
		    "absolute path" },
		{ "--socket-mode", "0888", NULL, NULL,
		    "invalid --socket-mode '0888': expected octal" },
		{ "--socket-mode", "01777", NULL, NULL,
		    "invalid --socket-mode '01777'" },
		{ "--socket-mode", "rw", NULL, NULL,
		    "invalid --socket-mode 'rw'" },
		{ "--socket-mode", "", NULL, NULL,
		    "invalid --socket-mode ''" },
		{ "--socket-mode", "-1", NULL, NULL,
		    "invalid --socket-mode '-1'" },
		{ "--proxy-timeout", "0", NULL, NULL,
		    "invalid --proxy-timeout '0': a header must have a "
		    "deadline" },
		{ "--proxy-timeout", "2d", NULL, NULL,
		    "invalid --proxy-timeout '2d'" },
		{ "--metrics", "127.0.0.1", NULL, NULL,
		    "invalid --metrics '127.0.0.1': no port given" },
		{ "--metrics", "::1", NULL, NULL,
		    "invalid --metrics '::1': no port given" },
		{ "--metrics", "*", NULL, NULL,
		    "invalid --metrics '*': no port given" },
		{ "--metrics", "[::1]:", NULL, NULL, "invalid --metrics" },
		{ "--metrics", "tls:127.0.0.1:9107", NULL, NULL,
		    "invalid --metrics 'tls:127.0.0.1:9107': plain HTTP" },
		{ "--metrics", "unix:/run/m.sock", NULL, NULL,
		    "invalid --metrics 'unix:/run/m.sock': plain HTTP" },
		{ "-u", "proxy:127.0.0.1:7", NULL, NULL,
		    "invalid --udp 'proxy:127.0.0.1:7': UDP takes" },
		{ "-u", "tls:127.0.0.1:7", NULL, NULL,
		    "invalid --udp 'tls:127.0.0.1:7': UDP takes" },
		{ "--inetd", "--metrics", "127.0.0.1:9107", NULL,
		    "--metrics cannot be used with --inetd" },
	};
	struct parsed	 p;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_int(parse(&p, cases[i].a1, cases[i].a2, cases[i].a3,
		    cases[i].a4, NULL), SETTINGS_EXIT_USAGE,
		    "'%s %s' refused", cases[i].a1,
		    cases[i].a2 ? cases[i].a2 : "");
		like(p.p_err, cases[i].msg, "'%s %s': problem named",
		    cases[i].a1, cases[i].a2 ? cases[i].a2 : "");
		like(p.p_err, "Try 'echod --help' for more information.\n",
		    "'%s %s': points to --help", cases[i].a1,
		    cases[i].a2 ? cases[i].a2 : "");
		ok(strncmp(p.p_err, "echod: ", 7) == 0 && p.p_out[0] == '\0',
		    "'%s %s': message prefixed, nothing on out", cases[i].a1,
		    cases[i].a2 ? cases[i].a2 : "");
		parsed_free(&p);
	}
}

/* The 33rd --listen is one too many. */
static void
test_listen_too_many(void)
{
	too_many("-l", "127.0.0.1:0", LISTEN_MAX,
	    "too many --listen addresses");
}

/*
 * settings_parse() twice in one process, the first stopping inside
 * "-hv": the second must not see a stale 'v' from the old argv.
 */
static void
test_parse_twice(void)
{
	char		*argv1[] = { (char *)"echod", (char *)"-hv", NULL };
	char		*argv2[] = { (char *)"echod", (char *)"-l",
			    (char *)"127.0.0.1:0", NULL };
	struct settings	 s;
	FILE		*null;
	int		 rv;

	if ((null = fopen("/dev/null", "w")) == NULL)
		bail("cannot open /dev/null");
	settings_init(&s);
	is_int(settings_parse(&s, 2, argv1, null, null), SETTINGS_EXIT_OK,
	    "first parse '-hv': help");
	settings_init(&s);
	rv = settings_parse(&s, 3, argv2, null, null);
	fclose(null);
	is_int(rv, SETTINGS_RUN, "second parse '-l 127.0.0.1:0' runs");
	is_int(s.verbosity, LOG_LEVEL_NOTICE,
	    "second parse sees no stale -v");
}

/*
 * The TLS options and the tls: listeners: taken together in a build with
 * TLS, each refused alone; all of them refused in a build without.
 * Whether the files load is tls.c's business, tested with the daemon.
 */
static void
test_tls_options(void)
{
	static const struct {
		const char	*args[7];
		const char	*msg;
	} bad[] = {
#ifdef HAVE_OPENSSL
		{ { "-l", "tls:127.0.0.1:0" },
		    "--listen 'tls:127.0.0.1:0' needs --tls-cert and "
		    "--tls-key" },
		{ { "-l", "tls:127.0.0.1:0", "--tls-cert", "c.pem" },
		    "--tls-cert and --tls-key go together: --tls-key is "
		    "missing" },
		{ { "-l", "tls:127.0.0.1:0", "--tls-key", "k.pem" },
		    "--tls-cert and --tls-key go together: --tls-cert is "
		    "missing" },
		{ { "-l", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key",
		    "k.pem" }, "no --listen starts with tls:" },
		{ { "--tls-cert", "c.pem", "--tls-key", "k.pem" },
		    "no --listen starts with tls:" },
		{ { "-l", "127.0.0.1:0", "--tls-ciphers", "HIGH" },
		    "no --listen starts with tls:" },
		{ { "-l", "tls:127.0.0.1:0", "--tls-ciphers", "HIGH" },
		    "needs --tls-cert and --tls-key" },
		{ { "--inetd", "--tls-cert", "c.pem", "--tls-key", "k.pem" },
		    "no --listen starts with tls:" },
#else
		{ { "-l", "tls:127.0.0.1:0" }, "built without TLS" },
		{ { "-l", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key",
		    "k.pem" }, "built without TLS" },
		{ { "-l", "127.0.0.1:0", "--tls-ciphers", "HIGH" },
		    "built without TLS" },
#endif
		{ { "-l", "tls:127.0.0.1:0", "--tls-cert", "", "--tls-key",
		    "k.pem" }, "--tls-cert needs a file name" },
		{ { "-l", "tls:127.0.0.1:0", "--tls-cert", "c.pem",
		    "--tls-key", "" }, "--tls-key needs a file name" },
		{ { "--tls-ciphers", "" },
		    "--tls-ciphers needs a list of ciphers" },
	};
	struct parsed	 p;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *a = bad[i].args;

		is_int(parse(&p, a[0], a[1], a[2], a[3], a[4], a[5], a[6],
		    NULL), SETTINGS_EXIT_USAGE, "TLS case %zu refused", i);
		like(p.p_err, bad[i].msg, "TLS case %zu: problem named", i);
		like(p.p_err, "Try 'echod --help'", "TLS case %zu: points to "
		    "--help", i);
		parsed_free(&p);
	}
#ifdef HAVE_OPENSSL
	is_int(parse(&p, "-l", "tls:127.0.0.1:0", "-l", "127.0.0.1:0",
	    "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ciphers",
	    "ECDHE+AESGCM", NULL), SETTINGS_RUN,
	    "a tls: and a plain listener with cert, key and ciphers: run");
	ok(p.p_s.nlisten == 2 && p.p_s.listen[0].ls_tls &&
	    !p.p_s.listen[1].ls_tls, "the first listener is TLS, the second "
	    "plain");
	ok(strcmp(p.p_s.tls_cert, "c.pem") == 0 &&
	    strcmp(p.p_s.tls_key, "k.pem") == 0 &&
	    strcmp(p.p_s.tls_ciphers, "ECDHE+AESGCM") == 0,
	    "cert, key and ciphers kept as given");
	parsed_free(&p);
#endif
	is_int(parse(&p, "-l", "127.0.0.1:0", NULL), SETTINGS_RUN,
	    "no TLS option: run");
	ok(p.p_s.tls_cert == NULL && p.p_s.tls_key == NULL &&
	    p.p_s.tls_ciphers == NULL && !p.p_s.listen[0].ls_tls,
	    "no TLS option: nothing is TLS");
	parsed_free(&p);
}

/* Pure parsing: no daemon, no sockets. */
/*
 * --udp and its rules: the defaults, what good values set, --udp alone
 * serving no TCP, and every bad value refused with its reason.
 */
static void
test_udp_options(void)
{
	static const struct {
		const char	*a1, *a2, *a3;
		const char	*msg;
	} bad[] = {
		{ "-u", "", NULL, "invalid --udp '': empty address" },
		{ "--udp", "127.0.0.1:65536", NULL,
		    "invalid --udp '127.0.0.1:65536': port '65536'" },
		{ "-u", "[::1", NULL, "invalid --udp '[::1': missing ']'" },
		{ "-u", NULL, NULL, "option '-u' needs a value" },
		{ "--udp-allow-port", "0", NULL,
		    "invalid --udp-allow-port '0': expected a number from 1 "
		    "to 65535" },
		{ "--udp-allow-port", "65536", NULL,
		    "invalid --udp-allow-port '65536'" },
		{ "--udp-allow-port", "dns", NULL,
		    "invalid --udp-allow-port 'dns'" },
		{ "--udp-rate", "-1", NULL, "invalid --udp-rate '-1': "
		    "expected a number from 0 to 10000000" },
		{ "--udp-rate", "10000001", NULL,
		    "invalid --udp-rate '10000001'" },
		{ "--udp-rate", "1k", NULL, "invalid --udp-rate '1k'" },
		{ "--udp-total-rate", "", NULL,
		    "invalid --udp-total-rate ''" },
		{ "--udp-total-rate", "fast", NULL,
		    "invalid --udp-total-rate 'fast'" },
		{ "--inetd", "-u", "127.0.0.1:0",
		    "standard input; it takes no --udp" },
	};
	struct parsed	 p;
	size_t		 i;

	is_int(parse(&p, NULL), SETTINGS_RUN, "udp: no arguments: run");
	is_int((long long)p.p_s.nudp, 0, "udp: none by default");
	is_int(p.p_s.udp_rate, 100, "udp: default 100 a second per source");
	is_int(p.p_s.udp_total_rate, 1000, "udp: default 1000 a second in "
	    "all");
	is_int((long long)p.p_s.nudp_allow, 0, "udp: no port allowed by "
	    "default");
	parsed_free(&p);

	is_int(parse(&p, "-u", "127.0.0.1:7007", "--udp", "[::1]",
	    "--udp-allow-port", "53", "--udp-allow-port", "11211",
	    "--udp-rate", "0", "--udp-total-rate", "10000000", NULL),
	    SETTINGS_RUN, "udp: good values: run");
	is_int((long long)p.p_s.nudp, 2, "udp: two addresses");
	ok(strcmp(p.p_s.udp[0].ls_host, "127.0.0.1") == 0 &&
	    strcmp(p.p_s.udp[0].ls_port, "7007") == 0 &&
	    strcmp(p.p_s.udp[1].ls_host, "::1") == 0 &&
	    strcmp(p.p_s.udp[1].ls_port, "7") == 0,
	    "udp: parsed as --listen is, port 7 by default");
	ok(p.p_s.nudp_allow == 2 && p.p_s.udp_allow[0] == 53 &&
	    p.p_s.udp_allow[1] == 11211, "udp: two ports allowed");
	is_int(p.p_s.udp_rate, 0, "udp: --udp-rate 0, no limit");
	is_int(p.p_s.udp_total_rate, 10000000, "udp: the highest total");
	is_int((long long)p.p_s.nlisten, 0, "udp: --udp alone serves no TCP");
	is_int(p.p_s.listen_default, 0, "udp: nor the default TCP address");
	parsed_free(&p);

	is_int(parse(&p, "-l", "127.0.0.1:0", "-u", "127.0.0.1:0", NULL),
	    SETTINGS_RUN, "udp: with --listen: run");
	ok(p.p_s.nlisten == 1 && p.p_s.nudp == 1, "udp: TCP and UDP both");
	parsed_free(&p);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(parse(&p, bad[i].a1, bad[i].a2, bad[i].a3, NULL),
		    SETTINGS_EXIT_USAGE, "'%s %s' refused", bad[i].a1,
		    bad[i].a2 ? visible(bad[i].a2) : "");
		like(p.p_err, bad[i].msg, "'%s %s': problem named",
		    bad[i].a1, bad[i].a2 ? visible(bad[i].a2) : "");
		parsed_free(&p);
	}

	too_many("-u", "127.0.0.1:0", LISTEN_MAX,
	    "too many --udp addresses (at most 32)");
	too_many("--udp-allow-port", "2000", UDP_ALLOW_MAX,
	    "too many --udp-allow-port ports (at most 64)");
}

/* One more than max of a repeatable option is refused, and said so. */
static void
too_many(const char *opt, const char *val, int max, const char *msg)
{
	char		*argv[2 * (TOO_MANY_MAX + 1) + 2];
	char		*err = NULL;
	size_t		 errlen;
	struct settings	 s;
	FILE		*out, *errfp;
	int		 argc = 0, i;

	if (max > TOO_MANY_MAX)
		bail("too_many: %d is more than %d", max, TOO_MANY_MAX);
	argv[argc++] = (char *)"echod";
	for (i = 0; i <= max; i++) {
		argv[argc++] = (char *)opt;
		argv[argc++] = (char *)val;
	}
	argv[argc] = NULL;
	if ((out = fopen("/dev/null", "w")) == NULL ||
	    (errfp = open_memstream(&err, &errlen)) == NULL)
		bail("cannot open streams");
	settings_init(&s);
	is_int(settings_parse(&s, argc, argv, out, errfp), SETTINGS_EXIT_USAGE,
	    "%d %s refused", max + 1, opt);
	fclose(out);
	fclose(errfp);
	like(err, msg, "%d %s: named", max + 1, opt);
	free(err);
}

int
main(void)
{
	tap_init();
	alarm(WATCHDOG_SEC);
	test_listen_good();
	test_listen_bad();
	test_sizes();
	test_seconds();
	test_counts();
	test_defaults();
	test_parse_good();
	test_parse_bad();
	test_listen_too_many();
	test_parse_twice();
	test_udp_options();
	test_tls_options();
	return (tap_done());
}
