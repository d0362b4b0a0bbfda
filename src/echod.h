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

/* Longest --listen argument we keep: "tls:[host]:65535". */
#define LISTEN_ARG_MAX		(HOST_MAX + 12)

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

/* Seconds between the checks for idle and stalled connections. */
#define SWEEP_INTERVAL_SEC	1

/* How often draining connections are checked for having gone quiet. */
#define DRAIN_INTERVAL_MSEC	200

/* How long accepting stays paused after running out of descriptors. */
#define ACCEPT_PAUSE_SEC	1

/* Free memory at the heap's top kept for the next burst of echoes. */
#define MALLOC_TRIM_KEEP	(16 * 1024 * 1024)

/* systemd passes activated sockets from this descriptor on (sd_listen_fds). */
#define LISTEN_FDS_START	3

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
};

/* Every tunable; settings_init() is the single source of defaults. */
struct settings {
	struct listen_spec	 listen[LISTEN_MAX];
	size_t			 nlisten;
	int			 backlog;
	long			 max_conns;	/* 0: follow the fd limit */
	unsigned int		 idle_timeout;	/* seconds, 0: never */
	unsigned int		 stall_timeout;	/* seconds, 0: never */
	unsigned int		 shutdown_timeout;	/* seconds */
	size_t			 high_water;
	size_t			 low_water;
	int			 threads;
	int			 verbosity;
	int			 listen_default;	/* no --listen was given */
	int			 inetd;		/* serve stdin and exit */
	int			 daemonize;
	int			 use_syslog;
	const char		*log_file;	/* made absolute by main */
	const char		*pidfile;	/* made absolute by main */
	const char		*user;
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

/* A socket bound and listening, shared by every worker. */
struct bound {
	int		 b_fd;
	int		 b_tls;		/* a "tls:" listener */
	char		 b_name[HOST_MAX + 20];	/* [tls:]address:port */
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
	X(CLOSE_TLS, tls_closed, "tls")	/* handshake failed, bad record */

enum close_reason {
#define CLOSE_ENUM(reason, counter, word)	reason,
	CLOSE_REASONS(CLOSE_ENUM)
#undef CLOSE_ENUM
};

struct conn;
struct listeners;
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
	size_t			 cp_nconns;
	uint32_t		 cp_tick;	/* advanced by the sweep */
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
};

/* daemon.c */
int		 daemon_detach(void);
void		 daemon_ready(void);
int		 daemon_write_pidfile(const char *);
void		 daemon_remove_pidfile(void);
int		 daemon_abspath(const char *, char *, size_t);
int		 daemon_drop_privileges(const char *);

/* conn.c */
void		 conn_pool_init(struct conn_pool *, struct event_base *,
		    const struct settings *, struct stats *, _Atomic long *);
void		 conn_accept(struct conn_pool *, int, const struct sockaddr *,
		    socklen_t, int);
void		 conn_sweep(struct conn_pool *);
void		 conn_drain_quiet(struct conn_pool *);
void		 conn_close_all(struct conn_pool *, enum close_reason);
int		 conn_paused_next(int, size_t, size_t, size_t);
size_t		 conn_read_room(size_t, size_t);
unsigned int	 conn_quiet_sec(uint32_t, uint32_t);

/* listener.c */
int		 listener_adopt(struct server *);
int		 listener_bind_all(struct server *);
void		 listener_close_all(struct server *);
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
const char	*tls_version(void);
#endif

/* worker.c */
int		 worker_init_all(struct server *);
int		 worker_start_threads(struct server *);
void		 worker_command_all(struct server *, char);
void		 worker_join_all(struct server *);
void		 worker_drain_check(struct worker *);
#define WORKER_CMD_DRAIN	'D'
#define WORKER_CMD_STOP		'S'

#endif /* ECHOD_H */
