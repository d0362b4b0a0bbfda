/* SPDX-License-Identifier: ISC */
/*
 * harness.h - what the functional tests share: running the real echod
 * (optionally under $ECHOD_WRAPPER), reading its log and counters, and
 * clients that check every byte of the echo.
 */

#ifndef HARNESS_H
#define HARNESS_H

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/counters.h"
#include "tap.h"

/* Most listening lines remembered from one daemon's start-up. */
#define CHILD_PORTS_MAX	8

/* The counters of one "stats:" line, from echod's own list. */
struct echod_stats {
	uint64_t	 active;
#define ECHOD_STATS_FIELD(name, what)	uint64_t name;
	COUNTERS(ECHOD_STATS_FIELD)
#undef ECHOD_STATS_FIELD
};

/* Names a counter for child_wait_stat(). */
#define STAT(field)	offsetof(struct echod_stats, field)

/* Output of a child collected by the reader thread. */
struct capture {
	char		*cap_buf;	/* always NUL-terminated */
	size_t		 cap_len;
	size_t		 cap_size;
};

/* How to start the daemon, beyond its arguments. */
struct spawn_opts {
	unsigned long	 so_nofile;	/* RLIMIT_NOFILE, soft and hard */
	int		 so_nobody;	/* as uid 65534; exit 127 if it can't */
};

/* Prepares a child for child_spawn_setup(), just before exec. */
typedef void	 spawn_setup_fn(void *);

/* One running (or finished) echod, or another program (prog_run()). */
struct child {
	const char	*d_name;	/* for messages */
	pid_t		 d_pid;		/* -1 once reaped */
	int		 d_status;	/* see child_wait() */
	int		 d_ports[CHILD_PORTS_MAX];	/* "listening on" */
	int		 d_nports;
	int		 d_port;	/* the first of them */
	int		 d_fds[2];	/* its stdout and stderr */
	pthread_t	 d_reader;
	pthread_mutex_t	 d_lock;
	pthread_cond_t	 d_cond;
	struct capture	 d_out;		/* stdout; stable once reaped */
	struct capture	 d_err;		/* stderr, the log; likewise */
	int		 d_closed;	/* both pipes reached EOF */
};

/*
 * One client connection's transfer: the bytes sent come from a
 * reproducible pattern (or a caller's buffer), and every byte echoed is
 * compared with what was sent at that offset.
 */
struct xfer {
	int		 x_fd;
	uint64_t	 x_seed;	/* picks the pattern */
	const uint8_t	*x_data;	/* bytes to send instead, or NULL */
	uint64_t	 x_total;	/* to send; set to x_sent to stop */
	uint64_t	 x_sent;
	uint64_t	 x_rcvd;
	uint64_t	 x_sum_sent;	/* FNV-1a of the bytes sent */
	uint64_t	 x_sum_rcvd;	/* FNV-1a of the bytes echoed */
	uint64_t	 x_bad;		/* first offset echoed wrong */
	size_t		 x_chunk;	/* most bytes per send() */
	int		 x_shut;	/* shutdown(SHUT_WR) once all is sent */
	int		 x_shut_done;
	int		 x_want_eof;	/* done only at EOF, as with x_shut */
	int		 x_noread;	/* leave the echo unread */
	int		 x_eof;		/* recv() returned 0 */
	int		 x_err;		/* errno of a failed send() or recv() */
	double		 x_end;		/* when EOF or the error came */
};

/* x_bad while every byte echoed so far was right. */
#define NO_BAD		UINT64_MAX

/* harness.c */
void		 harness_init(unsigned int);
int		 harness_wrapped(void);
int		 harness_instrumented(void);
void		 harness_watch(pid_t, int);
double		 tmo(double);
double		 now(void);
void		 pause_sec(double);
void		 child_spawn(struct child *, const struct spawn_opts *,
		    const char *const *);
void		 child_spawn_setup(struct child *, const struct spawn_opts *,
		    const char *const *, spawn_setup_fn *, void *,
		    const char *const *);
int		 child_start(struct child *, const struct spawn_opts *, ...)
		    __attribute__((__sentinel__));
int		 child_run(struct child *, const struct spawn_opts *, ...)
		    __attribute__((__sentinel__));
int		 prog_run(struct child *, double, const char *const *);
void		 prog_start(struct child *, const char *const *);
int		 child_wait_ready(struct child *);
size_t		 child_log_len(struct child *);
long		 child_log_wait(struct child *, size_t, const char *, double);
size_t		 child_log_count(struct child *, size_t, const char *);
size_t		 child_log_line(struct child *, size_t, char *, size_t);
int		 child_stats(struct child *, struct echod_stats *);
uint64_t	 stats_queued(const struct echod_stats *);
int		 child_wait_stat(struct child *, struct echod_stats *, size_t,
		    const char *, uint64_t, double);
uint64_t	 child_prime(struct child *, struct xfer *, size_t);
long		 child_rss_kb(struct child *);
double		 child_cpu_sec(struct child *);
int		 child_listen_port_proc(struct child *, double);
int		 child_udp_port(struct child *, int);
int		 child_wait(struct child *, double);
int		 child_stop(struct child *, double);
void		 child_free(struct child *);
void		 child_done(struct child *);
void		 child_diag(struct child *);

/* client.c */
int		 client_bound(int *);
int		 client_bound_type(int, int *);
int		 client_listen(int *);
int		 client_ipv6_loopback(void);
int		 client_local_port(int);
int		 client_connect(int);
int		 client_connect_to(const char *, int);
int		 client_connect_start(int);
int		 client_connect_rcvbuf(const char *, int, int);
int		 client_connect_unix(const char *);
ssize_t		 client_exchange(int, const void *, size_t, char *, size_t,
		    double);
int		 client_refused(int, double);
void		 client_reset(int);
int		 client_echo(int, uint64_t, size_t, double);
int		 client_udp(const char *, int, int);
ssize_t		 client_udp_recv(int, void *, size_t, double);
int		 client_udp_echo(int, const void *, size_t, double);
void		 xfer_init(struct xfer *, int, uint64_t, uint64_t);
int		 xfer_intact(const struct xfer *);
int		 xfer_run(struct xfer *, size_t, double);
uint64_t	 xfer_fill(struct xfer *, size_t, double);
void		 xfer_diag(const struct xfer *, const char *);

#endif /* HARNESS_H */
