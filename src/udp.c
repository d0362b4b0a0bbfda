/* SPDX-License-Identifier: ISC */
/*
 * udp.c - echo over UDP (RFC 862 section 2), made safe to expose: a
 * datagram goes back to its sender unless its source port is one a
 * reflection attack would aim at, or a rate limit (per source address and
 * in all) is spent.  Nothing is ever queued: a datagram that cannot be
 * answered at once is dropped and counted.  Each worker reads its own
 * dup() of every UDP socket and keeps its own limits, so nothing here is
 * shared or locked.
 */

#include "config.h"

#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echod.h"

/*
 * Datagrams taken per recvmmsg() and answered per sendmmsg().  Batching
 * pays: under load, at 32 the server spends 3.65 us of CPU per datagram,
 * at 1 (one call each way per datagram) 6.72 us (bench/RESULTS.md).
 * Build with -DUDP_BATCH=1 to measure the unbatched path.
 */
#ifndef UDP_BATCH
#define UDP_BATCH		32
#endif

/*
 * Room for any UDP payload: 65507 bytes over IPv4, 65527 over IPv6
 * without jumbograms.  The batch buffer is allocated once per worker and
 * only the pages datagrams reach are ever touched, so small datagrams
 * keep it small in memory.
 */
#define UDP_DATAGRAM_MAX	65536

/* Batches read per wake-up before other events get their turn. */
#define UDP_BATCHES_PER_EVENT	4

/*
 * The per-source table: sets of a few ways.  4096 sources per worker, 24
 * bytes each, is 96 KiB whatever addresses a spoofer uses; a new source
 * takes the way whose bucket is fullest (its entry says the least).
 */
#define UDP_SOURCE_WAYS		4
#define UDP_SOURCE_SETS		1024

/* Nanoseconds in a second: the rate limits' unit of time. */
#define NSEC_PER_SEC		1000000000ULL

/*
 * Source ports of 1024 and above that reflection and amplification
 * attacks use (ports below 1024 are refused anyway); echod(8) lists them.
 */
static const uint16_t udp_reflectors[] = {
	1194,	/* OpenVPN */
	1434,	/* MS SQL monitor */
	1701,	/* L2TP */
	1900,	/* SSDP */
	3283,	/* Apple Remote Desktop */
	3478,	/* STUN */
	3702,	/* WS-Discovery */
	5060,	/* SIP */
	5351,	/* NAT-PMP */
	5353,	/* mDNS */
	5683,	/* CoAP */
	6881,	/* BitTorrent DHT */
	10001,	/* Ubiquiti discovery */
	10074,	/* Mitel TP-240 */
	11211,	/* memcached */
	17185,	/* VxWorks WDB */
	26000,	/* Quake */
	27015,	/* Steam */
	27960,	/* Quake 3 */
	30718,	/* Lantronix discovery */
	32414,	/* Plex discovery */
	33848,	/* Jenkins discovery */
	37810,	/* DVR DHCPDiscover */
	41794,	/* Crestron */
	47808,	/* BACnet */
};

/* One source's bucket: the address (IPv6 /64) and its arrival time. */
struct udp_source {
	uint8_t		 so_key[16];
	uint64_t	 so_tat;	/* 0: unused */
};

/* The bounded per-source table, keyed by a random seed. */
struct udp_sources {
	uint64_t		 ss_seed;
	struct udp_source	 ss_slots[UDP_SOURCE_SETS * UDP_SOURCE_WAYS];
};

struct udp;

/* One worker's duplicate of one UDP socket. */
struct udp_sock {
	struct udp	*uk_udp;
	int		 uk_fd;
	struct event	 uk_ev;
};

/* One worker's UDP state: sockets, batch buffers, limits. */
struct udp {
	struct stats		*u_stats;
	struct udp_sock		*u_socks;
	size_t			 u_nsocks;
	struct udp_rate		 u_source_rate;
	struct udp_rate		 u_total_rate;	/* this worker's share */
	uint64_t		 u_total_tat;
	struct udp_sources	*u_sources;
	uint8_t			 u_blocked[65536 / 8];	/* by source port */
	uint8_t			*u_buf;		/* UDP_BATCH datagrams */
	struct mmsghdr		 u_in[UDP_BATCH];
	struct iovec		 u_in_iov[UDP_BATCH];
	struct sockaddr_storage	 u_from[UDP_BATCH];
	struct mmsghdr		 u_out[UDP_BATCH];
	struct iovec		 u_out_iov[UDP_BATCH];
};

static uint64_t	udp_now(void);
static void	udp_read_cb(evutil_socket_t, short, void *);
static void	udp_answer(struct udp *, int, int);
static void	udp_send(struct udp *, int, int);

/*
 * Whether datagrams from this source port go unanswered: the privileged
 * ports and the known reflectors, unless --udp-allow-port opened it.
 */
int
udp_port_blocked(const struct settings *s, unsigned int port)
{
	size_t	 i;

	for (i = 0; i < s->nudp_allow; i++)
		if (s->udp_allow[i] == port)
			return (0);
	if (port < 1024)
		return (1);
	for (i = 0; i < sizeof(udp_reflectors) / sizeof(udp_reflectors[0]);
	    i++)
		if (udp_reflectors[i] == port)
			return (1);
	return (0);
}

/*
 * A limit of pps datagrams a second split over share workers, with a
 * burst of one second's worth (at least one datagram).  0 is no limit.
 */
void
udp_rate_init(struct udp_rate *r, long pps, int share)
{
	if (pps <= 0) {
		r->ur_interval = 0;
		r->ur_tolerance = 0;
		return;
	}
	r->ur_interval = NSEC_PER_SEC * (uint64_t)share / (uint64_t)pps;
	if (r->ur_interval == 0)
		r->ur_interval = 1;
	r->ur_tolerance = r->ur_interval < NSEC_PER_SEC ?
	    NSEC_PER_SEC - r->ur_interval : 0;
}

/*
 * A token bucket as one number (GCRA): *tat is when the bucket will be
 * full again.  A datagram passes if that is at most a burst ahead of now,
 * and pushes it one interval on.  now is in nanoseconds and never 0.
 * Returns 0 (pass) or -1 (over the limit; *tat unchanged).
 */
int
udp_rate_take(const struct udp_rate *r, uint64_t *tat, uint64_t now)
{
	uint64_t	 t;

	if (r->ur_interval == 0)
		return (0);
	t = *tat > now ? *tat : now;
	if (t - now > r->ur_tolerance)
		return (-1);
	*tat = t + r->ur_interval;
	return (0);
}

/* A per-source table with a seed that makes its slots unguessable. */
struct udp_sources *
udp_sources_new(uint64_t seed)
{
	struct udp_sources	*ss;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return (NULL);
	ss->ss_seed = seed;
	return (ss);
}

/* Free a table from udp_sources_new(). */
void
udp_sources_free(struct udp_sources *ss)
{
	free(ss);
}

/*
 * The key of a source: an IPv4 address (as v4-mapped IPv6) or an IPv6
 * /64, which one host holds whole.  Returns 0, or -1 for other families.
 */
int
udp_source_key(const struct sockaddr *sa, uint8_t *key, unsigned int *port)
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return (0);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		memcpy(key, &sin6->sin6_addr, 8);
		*port = ntohs(sin6->sin6_port);
		return (0);
	}
	return (-1);
}

/*
 * Charge one datagram to the bucket of the source key (udp_source_key())
 * in the table.  A source not
 * in its set replaces the fullest bucket there and starts full itself, so
 * memory stays fixed; the total limit bounds what fresh buckets let
 * through.  Returns 0 (pass) or -1 (over the limit).
 */
int
udp_sources_take(struct udp_sources *ss, const struct udp_rate *r,
    const uint8_t *key, uint64_t now)
{
	struct udp_source	*set, *victim;
	uint64_t		 a, b, h;
	size_t			 i;

	if (r->ur_interval == 0)
		return (0);
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	/* A seeded mix (splitmix64 finaliser): spread, and not aimable. */
	h = (a ^ ss->ss_seed) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 30) ^ b) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	set = &ss->ss_slots[(h % UDP_SOURCE_SETS) * UDP_SOURCE_WAYS];
	victim = set;
	for (i = 0; i < UDP_SOURCE_WAYS; i++) {
		if (set[i].so_tat != 0 && memcmp(set[i].so_key, key, 16) == 0)
			return (udp_rate_take(r, &set[i].so_tat, now));
		if (set[i].so_tat < victim->so_tat)
			victim = &set[i];
	}
	memcpy(victim->so_key, key, 16);
	victim->so_tat = now;
	return (udp_rate_take(r, &victim->so_tat, now));
}

/* Monotonic nanoseconds, never 0 (0 marks an unused bucket). */
static uint64_t
udp_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec + 1);
}

/*
 * Start answering datagrams on an event loop, on its own duplicate of
 * each UDP socket main bound, with this worker's share of the total rate.
 * *up stays NULL when there is no UDP socket.  Returns 0 or -1 (logged).
 */
int
udp_attach(struct server *srv, struct event_base *base, struct stats *st,
    struct udp **up)
{
	const struct settings	*s = srv->s_settings;
	struct udp		*u;
	uint64_t		 seed;
	size_t			 i, n = 0;
	unsigned int		 port;
	int			 fd;

	*up = NULL;
	for (i = 0; i < srv->s_nbound; i++)
		if (srv->s_bound[i].b_type == SOCK_DGRAM)
			n++;
	if (n == 0)
		return (0);
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->u_socks = calloc(n, sizeof(*u->u_socks))) == NULL ||
	    (u->u_buf = malloc((size_t)UDP_BATCH * UDP_DATAGRAM_MAX)) == NULL) {
		log_warn("cannot serve UDP");
		if (u != NULL)
			free(u->u_socks);
		free(u);
		return (-1);
	}
	*up = u;
	u->u_stats = st;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = udp_now() ^ (uint64_t)getpid() << 32;
	if ((u->u_sources = udp_sources_new(seed)) == NULL) {
		log_warn("cannot serve UDP");
		return (-1);
	}
	udp_rate_init(&u->u_source_rate, s->udp_rate, 1);
	udp_rate_init(&u->u_total_rate, s->udp_total_rate, s->threads);
	for (port = 0; port < 65536; port++)
		if (udp_port_blocked(s, port))
			u->u_blocked[port / 8] |= 1 << port % 8;
	for (i = 0; i < UDP_BATCH; i++) {
		u->u_in_iov[i].iov_base = u->u_buf + i * UDP_DATAGRAM_MAX;
		u->u_in_iov[i].iov_len = UDP_DATAGRAM_MAX;
		u->u_in[i].msg_hdr.msg_iov = &u->u_in_iov[i];
		u->u_in[i].msg_hdr.msg_iovlen = 1;
		u->u_in[i].msg_hdr.msg_name = &u->u_from[i];
		u->u_out[i].msg_hdr.msg_iov = &u->u_out_iov[i];
		u->u_out[i].msg_hdr.msg_iovlen = 1;
	}
	for (i = 0; i < srv->s_nbound; i++) {
		struct udp_sock	*uk = &u->u_socks[u->u_nsocks];

		if (srv->s_bound[i].b_type != SOCK_DGRAM)
			continue;
		fd = fcntl(srv->s_bound[i].b_fd, F_DUPFD_CLOEXEC, 0);
		if (fd == -1) {
			log_warn("cannot serve UDP on %s",
			    srv->s_bound[i].b_name);
			return (-1);
		}
		uk->uk_udp = u;
		uk->uk_fd = fd;
		u->u_nsocks++;
		event_assign(&uk->uk_ev, base, fd, EV_READ | EV_PERSIST,
		    udp_read_cb, uk);
		if (event_add(&uk->uk_ev, NULL) == -1) {
			log_warnx("cannot serve UDP on %s",
			    srv->s_bound[i].b_name);
			return (-1);
		}
	}
	return (0);
}

/*
 * Stop answering and free it all: UDP has nothing in flight to drain.
 * Takes NULL, and a udp_attach() that failed half way.
 */
void
udp_detach(struct udp *u)
{
	size_t	 i;

	if (u == NULL)
		return;
	for (i = 0; i < u->u_nsocks; i++) {
		event_del(&u->u_socks[i].uk_ev);
		close(u->u_socks[i].uk_fd);
	}
	udp_sources_free(u->u_sources);
	free(u->u_socks);
	free(u->u_buf);
	free(u);
}

/*
 * Datagrams are waiting: take them a batch at a time, answer what the
 * rules and limits allow, and yield after a few batches.
 */
static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock	*uk = arg;
	struct udp	*u = uk->uk_udp;
	int		 i, n, round;

	(void)what;
	for (round = 0; round < UDP_BATCHES_PER_EVENT; round++) {
		for (i = 0; i < UDP_BATCH; i++)
			u->u_in[i].msg_hdr.msg_namelen = sizeof(u->u_from[i]);
		n = recvmmsg(fd, u->u_in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			/* Nothing left, or an error the next read clears. */
			if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR)
				log_debug("udp: recvmmsg: %s", strerror(errno));
			return;
		}
		udp_answer(u, fd, n);
		if (n < UDP_BATCH)
			return;
	}
}

/*
 * Sort n datagrams just read into dropped (counted by why) and answered,
 * then send the answers.
 */
static void
udp_answer(struct udp *u, int fd, int n)
{
	struct stats	*st = u->u_stats;
	uint64_t	 now = udp_now(), bytes = 0;
	uint8_t		 key[16];
	unsigned int	 port;
	int		 i, nout = 0;

	for (i = 0; i < n; i++) {
		struct msghdr	*mh = &u->u_in[i].msg_hdr;
		struct sockaddr	*from = mh->msg_name;

		bytes += u->u_in[i].msg_len;
		if ((mh->msg_flags & MSG_TRUNC) ||
		    udp_source_key(from, key, &port) == -1 ||
		    (u->u_blocked[port / 8] & 1 << port % 8)) {
			stats_add(&st->st_udp_dropped_rule, 1);
			continue;
		}
		if (udp_sources_take(u->u_sources, &u->u_source_rate, key,
		    now) == -1) {
			stats_add(&st->st_udp_dropped_source, 1);
			continue;
		}
		if (udp_rate_take(&u->u_total_rate, &u->u_total_tat,
		    now) == -1) {
			stats_add(&st->st_udp_dropped_total, 1);
			continue;
		}
		u->u_out[nout].msg_hdr.msg_name = from;
		u->u_out[nout].msg_hdr.msg_namelen = mh->msg_namelen;
		u->u_out_iov[nout].iov_base = u->u_in_iov[i].iov_base;
		u->u_out_iov[nout].iov_len = u->u_in[i].msg_len;
		nout++;
	}
	stats_add(&st->st_udp_in, (uint64_t)n);
	stats_add(&st->st_udp_bytes_in, bytes);
	if (nout > 0)
		udp_send(u, fd, nout);
}

/*
 * Send the answers.  One the kernel refuses (a full socket buffer, an
 * ICMP error reported back) is dropped and counted; after EAGAIN the rest
 * of the batch would meet the same full buffer, so it is dropped too.
 */
static void
udp_send(struct udp *u, int fd, int n)
{
	struct stats	*st = u->u_stats;
	uint64_t	 bytes = 0;
	int		 i = 0, j, sent;

	while (i < n) {
		sent = sendmmsg(fd, u->u_out + i, (unsigned int)(n - i),
		    MSG_DONTWAIT);
		if (sent > 0) {
			for (j = i; j < i + sent; j++)
				bytes += u->u_out[j].msg_len;
			stats_add(&st->st_udp_out, (uint64_t)sent);
			i += sent;
			continue;
		}
		if (sent == -1 && errno == EINTR)
			continue;
		if (sent == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			stats_add(&st->st_udp_send_errors, (uint64_t)(n - i));
			break;
		}
		log_debug("udp: sendmmsg: %s", strerror(errno));
		stats_add(&st->st_udp_send_errors, 1);
		i++;
	}
	stats_add(&st->st_udp_bytes_out, bytes);
}
