/* SPDX-License-Identifier: ISC */
/*
 * t_udp_limit.c - unit tests of udp.c's rules and limits, linked against
 * the daemon's own objects, with time given rather than read: which
 * source ports are refused, the token bucket's burst and refill, the
 * total rate split over threads, and the per-source table, whose memory
 * is fixed whatever sources flood it.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "echod.h"
#include "tap.h"

/* Pure computation that takes milliseconds; this only catches a hang. */
#define WATCHDOG_SEC	10

/* Nanoseconds: the limits' unit of time. */
#define SEC		1000000000ULL

/* A start time far from 0, as the monotonic clock is. */
#define T0		(1000 * SEC)

/* Sources that flood the table: far more than it holds. */
#define FLOOD		100000

static int	take_n(const struct udp_rate *, uint64_t *, uint64_t, int);
static void	key_v4(uint8_t *, const char *);
static void	test_ports(void);
static void	test_bucket(void);
static void	test_share(void);
static void	test_keys(void);
static void	test_sources(void);

/* How many of n datagrams at time now the bucket lets through. */
static int
take_n(const struct udp_rate *r, uint64_t *tat, uint64_t now, int n)
{
	int	 passed = 0;

	while (n-- > 0)
		if (udp_rate_take(r, tat, now) == 0)
			passed++;
	return (passed);
}

/* The table key of an IPv4 source. */
static void
key_v4(uint8_t *key, const char *ip)
{
	struct sockaddr_in	 sin;
	unsigned int		 port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
		bail("bad address %s", ip);
	if (udp_source_key((struct sockaddr *)&sin, key, &port) == -1 ||
	    port != 40000)
		bail("no key for %s", ip);
}

/* Privileged and reflector ports are refused; --udp-allow-port opens. */
static void
test_ports(void)
{
	static const unsigned int refused[] = { 0, 7, 17, 19, 37, 53, 111,
	    123, 137, 138, 161, 162, 389, 520, 1023, 1900, 3283, 3702, 5353,
	    5683, 10001, 11211, 27015 };
	static const unsigned int open[] = { 1024, 1025, 8080, 33333,
	    40000, 65535 };
	struct settings	 s;
	size_t		 i;

	settings_init(&s);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		is_int(udp_port_blocked(&s, refused[i]), 1, "port %u is "
		    "refused", refused[i]);
	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		is_int(udp_port_blocked(&s, open[i]), 0, "port %u is "
		    "answered", open[i]);
	s.udp_allow[s.nudp_allow++] = 53;
	s.udp_allow[s.nudp_allow++] = 11211;
	is_int(udp_port_blocked(&s, 53), 0, "allowed: port 53 is answered");
	is_int(udp_port_blocked(&s, 11211), 0, "allowed: port 11211 is "
	    "answered");
	is_int(udp_port_blocked(&s, 123), 1, "allowed: port 123 still "
	    "refused");
}

/* 5 a second: a burst of 5, then one per 200 ms, full after a second. */
static void
test_bucket(void)
{
	struct udp_rate	 r;
	uint64_t	 tat = 0;

	udp_rate_init(&r, 5, 1);
	is_int(take_n(&r, &tat, T0, 100), 5, "bucket: a burst of 5");
	is_int(take_n(&r, &tat, T0 + SEC / 10, 100), 0, "bucket: none "
	    "after 100 ms");
	is_int(take_n(&r, &tat, T0 + SEC / 5, 100), 1, "bucket: one after "
	    "200 ms");
	is_int(take_n(&r, &tat, T0 + 10 * SEC, 100), 5, "bucket: idle "
	    "10 s, a burst of 5 again, no more");
	is_int(take_n(&r, &tat, T0 + 10 * SEC + SEC / 2, 100), 2,
	    "bucket: two in the next 500 ms");

	udp_rate_init(&r, 1, 1);
	tat = 0;
	is_int(take_n(&r, &tat, T0, 10), 1, "bucket at 1/s: a burst of 1");
	is_int(take_n(&r, &tat, T0 + SEC - 1, 10), 0, "bucket at 1/s: none "
	    "before a second");
	is_int(take_n(&r, &tat, T0 + SEC, 10), 1, "bucket at 1/s: one at "
	    "a second");

	udp_rate_init(&r, 0, 1);
	tat = 0;
	is_int(take_n(&r, &tat, T0, 100000), 100000, "bucket: 0 is no "
	    "limit");

	udp_rate_init(&r, 10000000, 1);
	tat = 0;
	is_int(take_n(&r, &tat, T0, 20000000), 10000000, "bucket at the "
	    "highest rate: a second's worth");
}

/* The total rate over 4 threads: a quarter each, never more in all. */
static void
test_share(void)
{
	struct udp_rate	 r;
	uint64_t	 tat[4] = { 0, 0, 0, 0 };
	int		 i, sum = 0;

	udp_rate_init(&r, 1000, 4);
	for (i = 0; i < 4; i++)
		sum += take_n(&r, &tat[i], T0, 1000);
	is_int(sum, 1000, "share: 4 threads together pass 1000 at once");
	is_int(take_n(&r, &tat[0], T0, 1000), 0, "share: a thread's "
	    "quarter is spent");
	is_int(take_n(&r, &tat[0], T0 + SEC, 1000), 250, "share: a second "
	    "later, 250 again");

	udp_rate_init(&r, 3, 8);
	tat[0] = 0;
	is_int(take_n(&r, &tat[0], T0, 10), 1, "share: 3/s over 8 threads "
	    "still passes one");
	is_int(take_n(&r, &tat[0], T0 + 2 * SEC, 10), 0, "share: then "
	    "none for 8/3 s");
	is_int(take_n(&r, &tat[0], T0 + 3 * SEC, 10), 1, "share: one "
	    "after 8/3 s");
}

/* IPv4 by address, IPv6 by /64, ports kept apart, others refused. */
static void
test_keys(void)
{
	struct sockaddr_in6	 a, b;
	struct sockaddr_un	 sun;
	uint8_t			 ka[16], kb[16], k4[16];
	unsigned int		 port;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(5000);
	inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
	b = a;
	b.sin6_port = htons(6000);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &b.sin6_addr);
	ok(udp_source_key((struct sockaddr *)&a, ka, &port) == 0 &&
	    port == 5000, "keys: IPv6 source and port");
	ok(udp_source_key((struct sockaddr *)&b, kb, &port) == 0 &&
	    port == 6000, "keys: another in the same /64");
	ok(memcmp(ka, kb, 16) == 0, "keys: one /64 is one source");
	inet_pton(AF_INET6, "2001:db8:1:3::1", &b.sin6_addr);
	udp_source_key((struct sockaddr *)&b, kb, &port);
	ok(memcmp(ka, kb, 16) != 0, "keys: the next /64 is another");
	key_v4(k4, "192.0.2.1");
	key_v4(ka, "192.0.2.2");
	ok(memcmp(ka, k4, 16) != 0, "keys: IPv4 by whole address");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	is_int(udp_source_key((struct sockaddr *)&sun, ka, &port), -1,
	    "keys: no key for a Unix socket");
}

/*
 * One bucket per source; a flood of other sources cannot grow the table
 * (it is one allocation) and does not push out a source over its limit.
 */
static void
test_sources(void)
{
	struct udp_sources	*ss;
	struct udp_rate		 r;
	uint8_t			 a[16], b[16], k[16];
	char			 ip[32];
	uint64_t		 now = T0;
	int			 i, passed;

	if ((ss = udp_sources_new(0x5eed)) == NULL)
		bail("udp_sources_new: out of memory");
	udp_rate_init(&r, 3, 1);
	key_v4(a, "192.0.2.1");
	key_v4(b, "192.0.2.2");
	for (i = passed = 0; i < 10; i++)
		passed += udp_sources_take(ss, &r, a, now) == 0;
	is_int(passed, 3, "sources: one source gets its burst of 3");
	for (i = passed = 0; i < 10; i++)
		passed += udp_sources_take(ss, &r, b, now) == 0;
	is_int(passed, 3, "sources: another gets its own burst");
	is_int(udp_sources_take(ss, &r, a, now), -1, "sources: the first "
	    "is still limited");

	for (i = passed = 0; i < FLOOD; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		key_v4(k, ip);
		passed += udp_sources_take(ss, &r, k, now) == 0;
	}
	is_int(passed, FLOOD, "sources: each of %d new sources passes once",
	    FLOOD);
	/* A full bucket is the one pushed out, never a spent one. */
	is_int(udp_sources_take(ss, &r, a, now), -1, "sources: a source "
	    "over its limit is not forgotten in the flood");
	is_int(udp_sources_take(ss, &r, a, now + SEC), 0, "sources: and "
	    "passes again after a second");
	udp_rate_init(&r, 0, 1);
	is_int(udp_sources_take(ss, &r, a, now), 0, "sources: 0 is no "
	    "limit");
	udp_sources_free(ss);
}

int
main(void)
{
	tap_init();
	alarm(WATCHDOG_SEC);
	test_ports();
	test_bucket();
	test_share();
	test_keys();
	test_sources();
	return (tap_done());
}
