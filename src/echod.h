/* SPDX-License-Identifier: ISC */
/*
 * echod.h - the one project header: structures, constants and the
 * prototypes of every module, grouped by file.
 */

#ifndef ECHOD_H
#define ECHOD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "counters.h"

/* RFC 862 assigns port 7 to the echo service. */
#define ECHOD_DEFAULT_PORT	"7"

/* Longest host name or address accepted in --listen (RFC 1035 limit). */
#define HOST_MAX		255

/* Longest --listen argument we keep: "tls:proxy:[host]:65535". */
#define LISTEN_ARG_MAX		(HOST_MAX + 20)

/* Longest Unix socket path, or abstract name after its '@'. */
#define UNIX_PATH_MAX \
	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Most --listen arguments; each costs a socket per thread. */
#define LISTEN_MAX		32

/* Most threads; more than cores only costs memory. */
#define THREADS_MAX		256

/*
 * Descriptors the process holds besides connections: stdin/out/err, the
 * log file or syslog socket, the workers' done pipe, libevent's signal
 * socket pair.
 */
#define FD_RESERVE_MAIN		9

/* Per worker: its epoll, its timerfd, its command pipe, its spare. */
#define FD_RESERVE_WORKER	5

/*
 * Room for descriptors nobody counted (libraries, the name service): a
 * sixteenth of the limit, at most this many, so that a small limit still
 * leaves most of itself to clients.
 */
#define FD_SLACK_MAX		64

/*
 * Most HTTP connections the --metrics endpoint serves at once: one
 * Prometheus scrapes over one connection, and a few people may look too.
 * More are accepted and closed at once, so scrapes cannot take the
 * descriptors connections need.
 */
#define METRICS_CONNS_MAX	4

/* Most addresses one --metrics name may resolve to (localhost: two). */
#define METRICS_BOUND_MAX	4

/* Descriptors --metrics may hold: its sockets and its connections. */
#define METRICS_FDS		(METRICS_BOUND_MAX + METRICS_CONNS_MAX)

/* Seconds between the checks for idle and stalled connections. */
#define SWEEP_INTERVAL_SEC	1

/* How often draining connections are checked for having gone quiet. */
#define DRAIN_INTERVAL_MSEC	200

/* How long accepting stays paused after running out of descriptors. */
#define ACCEPT_PAUSE_SEC	1

/*
 * How often rate limits hand out their bytes: often enough that a
 * limited stream looks smooth, seldom enough to cost nothing.
 */
#define RATE_TICK_MSEC		100

/* Ticks' worth a rate limit's bucket holds: one to make up a late tick. */
#define RATE_BURST_TICKS	2

/* The least --rate: one byte per tick. */
#define RATE_MIN		(1000 / RATE_TICK_MSEC)

/* Longest --delay: a test of patience, not a place to store data. */
#define DELAY_MAX_MSEC		10000

/*
 * Marks a delay line keeps: the delay is split into this many slots less
 * two, so a byte waits at most a slot (1/30 of --delay) longer than asked.
 */
#define DELAY_MARKS		32

/* Free memory at the heap's top kept for the next burst of echoes. */
#define MALLOC_TRIM_KEEP	(16 * 1024 * 1024)

/*
 * The longest PROXY protocol header accepted.  Version 1 is at most 107
 * bytes; version 2 may announce 16 + 65535, but the addresses take at most
 * 232 and the TLVs load balancers add (a unique ID, TLS details) a few
 * hundred more, so a bigger one is refused rather than buffered.
 */
#define PROXY_HDR_MAX		4096

/* systemd passes activated sockets from this descriptor on (sd_listen_fds). */
#define LISTEN_FDS_START	3

/* Most --udp-allow-port arguments: a handful is all anyone needs. */
#define UDP_ALLOW_MAX		64

/* Exit statuses, documented in echod(8). */
#define EXIT_OK			0
#define EXIT_RUNTIME		1
#define EXIT_USAGE		2

/* One --listen argument, split but not yet resolved. */
struct listen_spec {
	char		 ls_arg[LISTEN_ARG_MAX + 1];	/* as given, for messages */
	char		 ls_host[HOST_MAX + 1];	/* empty: every address */
	char		 ls_port[6];
	int		 ls_tls;	/* "tls:": TLS on accepted connections */
	int		 ls_proxy;	/* a PROXY header precedes the data */
	int		 ls_unix;	/* ls_path, not host and port */
	char		 ls_path[UNIX_PATH_MAX + 2];	/* "@name": abstract;
							   the '@' is extra */
};

/* Who a PROXY protocol header says the client is. */
struct proxy_addr {
	int		 pa_local;	/* LOCAL, UNKNOWN or unspecified:
					   the connection's own peer stands */
	union {
		struct sockaddr		sa;
		struct sockaddr_in	sin;
		struct sockaddr_in6	sin6;
		struct sockaddr_un	sun;
	}		 pa_src;
	socklen_t	 pa_srclen;
};

/* Every tunable; settings_init() is the single source of defaults. */
struct settings {
	struct listen_spec	 listen[LISTEN_MAX];
	size_t			 nlisten;
	struct listen_spec	 udp[LISTEN_MAX];	/* --udp */
	size_t			 nudp;
	unsigned int		 udp_allow[UDP_ALLOW_MAX];	/* source ports */
	size_t			 nudp_allow;
	long			 udp_rate;	/* per source, a second; 0: any */
	long			 udp_total_rate;	/* in all; 0: any */
	int			 backlog;
	long			 max_conns;	/* 0: follow the fd limit */
	unsigned int		 idle_timeout;	/* seconds, 0: never */
	unsigned int		 stall_timeout;	/* seconds, 0: never */
	unsigned int		 shutdown_timeout;	/* seconds */
	unsigned int		 proxy_timeout;	/* seconds for a PROXY header */
	mode_t			 socket_mode;	/* of Unix socket files */
	size_t			 high_water;
	size_t			 low_water;
	size_t			 rate;		/* bytes/s per connection, 0: no cap */
	size_t			 total_rate;	/* bytes/s for all, 0: no cap */
	unsigned int		 delay_ms;	/* echo this late, 0: at once */
	int			 threads;
	int			 verbosity;
	int			 listen_default;	/* neither --listen nor --udp */
	int			 inetd;		/* serve stdin and exit */
	int			 daemonize;
	int			 use_syslog;
	const char		*log_file;	/* made absolute by main */
	const char		*pidfile;	/* made absolute by main */
	const char		*user;
	struct listen_spec	 metrics;	/* ls_arg empty: no endpoint */
	const char		*tls_cert;	/* made absolute by main */
	const char		*tls_key;	/* made absolute by main */
	const char		*tls_ciphers;	/* TLS 1.2; NULL: OpenSSL's */
};

/* What settings_parse() tells main to do next. */
enum settings_action {
	SETTINGS_RUN,
	SETTINGS_EXIT_OK,	/* --help or --version was printed */
	SETTINGS_EXIT_USAGE	/* an error was printed */
};

/* Counters of one thread.  Only the owner writes; anyone may read. */
struct stats {
#define STATS_FIELD(name, what)	_Atomic uint64_t st_##name;
	COUNTERS(STATS_FIELD)
#undef STATS_FIELD
};

/* A plain copy of the counters, summed over threads for reporting. */
struct stats_total {
	uint64_t	 active;	/* connections open now */
#define STATS_TOTAL_FIELD(name, what)	uint64_t name;
	COUNTERS(STATS_TOTAL_FIELD)
#undef STATS_TOTAL_FIELD
};

/* A socket bound (and listening, for TCP), shared by every worker. */
struct bound {
	int		 b_fd;
	int		 b_type;	/* SOCK_STREAM or SOCK_DGRAM */
	int		 b_tls;		/* a "tls:" listener */
	int		 b_proxy;	/* clients send a PROXY header first */
	char		 b_name[HOST_MAX + 20];	/* [tls:]address:port */
	char		 b_path[UNIX_PATH_MAX + 2];	/* a socket file echod
							   made, or "" */
	dev_t		 b_dev;		/* b_path's, to remove only ours */
	ino_t		 b_ino;
	_Atomic uint64_t b_accepted;	/* admitted here; every worker adds */
};

/*
 * Why a connection ended: X(reason, its counter in COUNTERS, the word in
 * the connection's log line).
 */
#define CLOSE_REASONS(X)						\
	X(CLOSE_EOF, eof_closed, "eof")	/* all echoed, peer done */	\
	X(CLOSE_ERROR, error_closed, "error")	/* reset, ... */	\
	X(CLOSE_IDLE, idle_closed, "idle timeout")			\
	X(CLOSE_STALL, stall_closed, "stall timeout")			\
	X(CLOSE_SHUTDOWN, shutdown_closed, "shutdown")	/* quiet */	\
	X(CLOSE_DEADLINE, deadline_closed, "shutdown forced")		\
	X(CLOSE_OOM, oom_closed, "out of memory")			\
	X(CLOSE_TLS, tls_closed, "tls")	/* handshake failed, bad record */ \
	X(CLOSE_PROXY, proxy_closed, "bad proxy header")		\
	X(CLOSE_PROXY_TIMEOUT, proxy_timeout_closed, "proxy header timeout")

enum close_reason {
#define CLOSE_ENUM(reason, counter, word)	reason,
	CLOSE_REASONS(CLOSE_ENUM)
#undef CLOSE_ENUM
};

/* One stretch of delayed bytes and when the last of them may leave. */
struct delay_mark {
	uint64_t	 dm_start;	/* its first byte came, monotonic ms */
	uint64_t	 dm_due;	/* its last byte may leave */
	size_t		 dm_len;
};

/* When a connection's held-back bytes fall due (--delay). */
struct delay_line {
	unsigned int		 dl_ms;
	unsigned int		 dl_slot;	/* ms within which marks merge */
	unsigned int		 dl_first;
	unsigned int		 dl_count;
	size_t			 dl_held;	/* bytes in all marks */
	struct delay_mark	 dl_marks[DELAY_MARKS];
};

/*
 * A rate limit as GCRA: the time one datagram adds to a bucket, and how
 * far ahead of now a bucket may run (the burst), in nanoseconds.
 */
struct udp_rate {
	uint64_t	 ur_interval;	/* 0: no limit */
	uint64_t	 ur_tolerance;
};

struct conn;
struct listeners;
struct ev_token_bucket_cfg;
struct bufferevent_rate_limit_group;
struct udp;
struct udp_sources;
struct metrics;
TAILQ_HEAD(conn_list, conn);

/*
 * The connections of one event loop, and all conn.c needs of their
 * owner.  cp_closed runs after every close: the owner learns that a
 * descriptor was freed without conn.c knowing who owns it.
 */
struct conn_pool {
	struct event_base	*cp_base;
	const struct settings	*cp_settings;
	struct stats		*cp_stats;
	_Atomic long		*cp_active;	/* open in the whole process */
	struct conn_list	 cp_conns;
	_Atomic size_t		 cp_nconns;	/* the metrics read it too */
	uint32_t		 cp_tick;	/* advanced by the sweep */
	int			 cp_shaped;	/* --rate, --total-rate, --delay */
	struct ev_token_bucket_cfg *cp_rate;	/* --rate, each connection */
	struct ev_token_bucket_cfg *cp_total_cfg;
	struct bufferevent_rate_limit_group *cp_total;	/* --total-rate */
	void			(*cp_closed)(void *);
	void			*cp_closed_arg;
};

/*
 * One event loop and the connections it serves.  Connections never move
 * between workers, so nothing here is locked; main talks to a worker only
 * through its control pipe and reads its counters.
 */
struct worker {
	struct server		*w_server;
	int			 w_id;
	pthread_t		 w_thread;
	struct event_base	*w_base;
	struct conn_pool	 w_pool;
	struct listeners	*w_listeners;	/* NULL: not accepting */
	struct udp		*w_udp;		/* NULL: no UDP, or draining */

	struct event		 w_sweep_ev;
	int			 w_tick_fd;	/* timerfd behind w_sweep_ev, or -1 */
	int			 w_draining;
	int			 w_exit_when_empty;	/* --inetd */
	int			 w_finished;	/* told main it is done */
	struct event		 w_deadline_ev;

	int			 w_ctl[2];	/* main writes commands, we read */
	struct event		 w_ctl_ev;

	struct stats		 w_stats;
};

/* The whole daemon: settings, sockets, workers and what they share. */
struct server {
	const struct settings	*s_settings;
	long			 s_max_conns;	/* the cap in force */
	_Atomic long		 s_active;	/* connections open, all workers */
	struct bound		 s_bound[LISTEN_MAX * 4];
	size_t			 s_nbound;
	struct worker		*s_workers;
	int			 s_nworkers;
	int			 s_nstarted;	/* workers running; all but 0 in threads */
	int			 s_done[2];	/* workers report their exit here */
	int			 s_inetd_fd;	/* --inetd: the one connection */
	struct metrics		*s_metrics;	/* --metrics, or NULL */
};

/* daemon.c */
int		 daemon_detach(void);
void		 daemon_ready(void);
int		 daemon_write_pidfile(const char *);
void		 daemon_remove_pidfile(void);
int		 daemon_abspath(const char *, char *, size_t);
int		 daemon_drop_privileges(const char *);

/* conn.c */
int		 conn_pool_init(struct conn_pool *, struct event_base *,
		    const struct settings *, struct stats *, _Atomic long *,
		    int);
void		 conn_pool_free(struct conn_pool *);
void		 conn_accept(struct conn_pool *, int, const struct sockaddr *,
		    socklen_t, int, int);
void		 conn_sweep(struct conn_pool *);
void		 conn_drain_quiet(struct conn_pool *);
void		 conn_close_all(struct conn_pool *, enum close_reason);
int		 conn_paused_next(int, size_t, size_t, size_t);
size_t		 conn_read_room(size_t, size_t);
unsigned int	 conn_quiet_sec(uint32_t, uint32_t);

/* delay.c */
void		 delay_init(struct delay_line *, unsigned int);
void		 delay_add(struct delay_line *, uint64_t, size_t);
size_t		 delay_take_due(struct delay_line *, uint64_t);
long		 delay_wait_ms(const struct delay_line *, uint64_t);

/* listener.c */
int		 listener_adopt(struct server *);
int		 listener_bind(const struct settings *,
		    const struct listen_spec *, int, int, struct bound *, size_t,
		    size_t *);
int		 listener_bind_all(struct server *);
void		 listener_close_all(struct server *);
void		 listener_remove_all(struct server *);
struct listeners *listener_attach(struct server *, struct event_base *,
		    struct conn_pool *, struct stats *);
void		 listener_detach(struct listeners *);
void		 listener_conn_closed(struct listeners *);
long		 listener_max_conns(struct server *);

/* log.c */
void		 log_init(int);
void		 log_warn(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2)));
void		 log_notice(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2)));
void		 log_info(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2), __noreturn__));
void		 fatalx(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2), __noreturn__));
int		 log_enabled(int);
void		 log_sockaddr(const struct sockaddr *, socklen_t, char *,
		    size_t);
void		 log_open_syslog(void);
int		 log_open_file(const char *);
void		 log_reopen(void);
void		 log_close(void);
#define LOG_LEVEL_ERR		(-1)
#define LOG_LEVEL_WARN		0
#define LOG_LEVEL_NOTICE	1
#define LOG_LEVEL_INFO		2
#define LOG_LEVEL_DEBUG		3

/* proxy.c */
int		 proxy_parse(const void *, size_t, struct proxy_addr *,
		    const char **);
/* metrics.c */
int		 metrics_open(struct server *);
int		 metrics_start(struct server *, struct event_base *);
void		 metrics_free(struct server *);

/* settings.c */
void		 settings_init(struct settings *);
enum settings_action settings_parse(struct settings *, int, char **, FILE *,
		    FILE *);
int		 settings_parse_listen(struct listen_spec *, const char *,
		    char *, size_t);
int		 settings_parse_size(const char *, size_t *);
int		 settings_parse_seconds(const char *, unsigned int *);
int		 settings_parse_count(const char *, long, long, long *);
void		 settings_usage(FILE *);

/* stats.c */
void		 stats_add(_Atomic uint64_t *, uint64_t);
void		 stats_sum(const struct server *, struct stats_total *);
void		 stats_log(const struct server *);

#ifdef HAVE_OPENSSL
/* tls.c */
struct bufferevent;
int		 tls_init(const struct settings *);
int		 tls_reload(void);
void		 tls_free(void);
struct bufferevent *tls_bufferevent_new(struct event_base *, int);
void		 tls_close_notify(struct bufferevent *);
const char	*tls_close_reason(struct bufferevent *, int, char *, size_t);
#endif

/* udp.c */
int		 udp_attach(struct server *, struct event_base *,
		    struct stats *, struct udp **);
void		 udp_detach(struct udp *);
int		 udp_port_blocked(const struct settings *, unsigned int);
void		 udp_rate_init(struct udp_rate *, long, int);
int		 udp_rate_take(const struct udp_rate *, uint64_t *, uint64_t);
int		 udp_source_key(const struct sockaddr *, uint8_t *,
		    unsigned int *);
struct udp_sources *udp_sources_new(uint64_t);
void		 udp_sources_free(struct udp_sources *);
int		 udp_sources_take(struct udp_sources *,
		    const struct udp_rate *, const uint8_t *, uint64_t);

/* worker.c */
int		 worker_init_all(struct server *);
int		 worker_start_threads(struct server *);
void		 worker_command_all(struct server *, char);
void		 worker_join_all(struct server *);
void		 worker_drain_check(struct worker *);
#define WORKER_CMD_DRAIN	'D'
#define WORKER_CMD_STOP		'S'

#endif /* ECHOD_H */
