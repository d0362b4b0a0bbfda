/* SPDX-License-Identifier: ISC */
/*
 * echobench.h - the load generator's one header: the structures its files
 * share, the constants more than one of them uses, and the prototypes of
 * every file, grouped by file.  Its names are its own, not src/'s: a flow
 * is one connection slot, a gen one load-generating thread.
 */

#ifndef ECHOBENCH_H
#define ECHOBENCH_H

#include <sys/epoll.h>
#include <sys/socket.h>

#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Time is kept in nanoseconds of CLOCK_MONOTONIC throughout. */
#define NS_PER_MS		1000000ULL
#define NS_PER_S		1000000000ULL

/* Bytes per recv: drains a bulk stream in few calls and still fits in L2. */
#define READ_SIZE		(256 * 1024)

/* Events per epoll_wait: amortises the call without a huge stack frame. */
#define MAX_EVENTS		512

/* Odd multiplier (Knuth's) that scatters stream starts over the pattern. */
#define SEED_STRIDE		2654435761ULL

/*
 * Histogram: 2^7 linear steps per power of two keep every value within
 * 1/128 (0.8%) of the truth; shifts up to 33 cover 2^41 ns (36 minutes).
 */
#define HIST_SUB_BITS		7
#define HIST_SUB		(1U << HIST_SUB_BITS)
#define HIST_MAX_SHIFT		33
#define HIST_BUCKETS		((HIST_MAX_SHIFT + 2) * HIST_SUB)

enum mode {
	MODE_RR,
	MODE_BULK,
	MODE_CONNECT,
	MODE_IDLE,
	MODE_HALFCLOSE,
	MODE_UDP
};

enum error_kind {
	ERR_MISMATCH,
	ERR_RESET,
	ERR_EOF,
	ERR_STALL,
	ERR_CONNECT,
	ERR_KINDS
};

enum flow_state {
	FLOW_WAITING,		/* not started yet, or held back */
	FLOW_CONNECTING,
	FLOW_OPEN,
	FLOW_SHUT,		/* halfclose: all sent, awaiting EOF */
	FLOW_HOLD,		/* idle: echo verified, held open */
	FLOW_DONE,
	FLOW_DEAD
};

struct flow {
	int		 fd;
	enum flow_state	 state;
	int		 busy;		/* owes bytes or a cycle end */
	unsigned	 index;		/* within its gen */
	uint64_t	 cycle;		/* connections it has opened */
	uint64_t	 seed;		/* pattern offset of byte 0 */
	uint64_t	 want;		/* bytes to send in all */
	uint64_t	 sent;
	uint64_t	 recvd;		/* received and verified */
	uint64_t	 issued;	/* rr: messages sent */
	uint64_t	 completed;	/* rr: messages echoed */
	uint64_t	 scheduled;	/* rr -R: messages now due */
	uint64_t	 next_done;	/* recvd ending the next one */
	uint64_t	 cycle_start;
	uint64_t	 progress;	/* last move: the stall clock */
	uint64_t	*sent_at;	/* rr: ring of send times */
};

/* udp: a datagram in flight, in its socket's ring by sequence number. */
struct uslot {
	uint64_t	 seq;
	uint64_t	 sent_at;	/* 0: answered, lost, or never used */
};

/* udp: one connected socket and the datagrams it has in flight. */
struct uflow {
	int		 fd;
	unsigned	 index;		/* within its gen */
	uint64_t	 next_seq;	/* of the next datagram sent */
	uint64_t	 oldest;	/* below it all are resolved */
	uint64_t	 inflight;
	struct uslot	*ring;
};

struct hist {
	uint64_t	 count[HIST_BUCKETS];
	uint64_t	 total;
	uint64_t	 max;
};

struct gen {
	pthread_t	 thread;
	int		 epfd;
	struct flow	*flows;
	unsigned	 nflows;
	uint64_t	 first;		/* global number of flows[0] */
	unsigned	*waiting;	/* stack of flows to open */
	unsigned	 nwaiting;
	unsigned	 connecting;
	unsigned	 live;		/* neither DONE nor DEAD */
	unsigned	 busy;		/* udp: datagrams in flight */
	unsigned	 pending;	/* idle: not yet verified nor dead */
	int		 time_up;
	int		 setup_done;
	uint64_t	 drain_end;
	uint64_t	 next_check;
	unsigned char	*rbuf;
	uint64_t	*ring;
	struct hist	*hist;
	struct uflow	*uflows;	/* udp mode's sockets */

	uint64_t	 quota;		/* messages (bulk: bytes) */
	uint64_t	 started;

	double		 ns_per_msg;	/* rr -R schedule */
	uint64_t	 next_slot;
	uint64_t	 next_due;

	/* Counted only inside the measured window. */
	uint64_t	 msgs;
	uint64_t	 bytes;
	/* Counted always. */
	uint64_t	 errs[ERR_KINDS];
	uint64_t	 established;
	uint64_t	 done_total;
	uint64_t	 recv_total;
	uint64_t	 end_ns;
	/* udp, counted always. */
	uint64_t	 sent;
	uint64_t	 lost;
	uint64_t	 late;		/* echoes of answered or lost ones */

	/* Copies for the progress line, stored once per loop. */
	_Atomic uint64_t pub_done;
	_Atomic uint64_t pub_recv;
	_Atomic uint64_t pub_errors;
	_Atomic uint64_t pub_established;
	atomic_int	 pub_setup_done;
	atomic_int	 pub_finished;
};

struct options {
	const char	*host;
	const char	*port;
	enum mode	 mode;
	uint64_t	 size;
	uint64_t	 pipeline;
	uint64_t	 conns;
	uint64_t	 threads;
	uint64_t	 requests;	/* 0: run for the duration */
	uint64_t	 bytes;
	double		 duration;
	double		 warmup;
	double		 rate;		/* 0: closed loop */
	double		 timeout;
	int		 json;
	int		 quiet;
};

/* The server, as resolved and reached once before the run. */
struct target {
	struct sockaddr_storage	 addr;
	socklen_t		 len;
	char			 host[NI_MAXHOST];
	int			 spread_sources;
};

struct totals {
	double		 secs;
	double		 setup_secs;
	double		 msg_rate;
	double		 mb_rate;
	double		 conn_rate;
	uint64_t	 msgs;
	uint64_t	 bytes;
	uint64_t	 established;
	uint64_t	 errors;
	uint64_t	 errs[ERR_KINDS];
	uint64_t	 sent;		/* udp */
	uint64_t	 lost;
	uint64_t	 late;
	struct hist	 hist;
};

/*
 * What every thread reads: set by main before the threads start and
 * never written after, but for stop and wake.
 */
struct run {
	struct options	 opt;
	struct target	 target;
	uint64_t	 start;
	uint64_t	 measure_start;
	uint64_t	 end;		/* of the measured window */
	uint64_t	 setup_deadline;
	uint64_t	 timeout_ns;
	int		 show_progress;
	atomic_int	 stop;		/* main to threads: end now */
	sem_t		 wake;		/* threads to main: look again */
};

/*
 * The bytes every stream is cut from, stored twice; read_max keeps a
 * read within one memcmp of it.
 */
struct pattern {
	unsigned char	*bytes;
	uint64_t	 len;
	uint64_t	 line;
	uint64_t	 write_max;
	size_t		 read_max;
};

/* echobench.c */
extern struct run	run;

/* flow.c */
void		flow_event(struct gen *, struct flow *, uint32_t, uint64_t);
void		flow_start_waiting(struct gen *, uint64_t);
void		flow_schedule(struct gen *, uint64_t);
void		flow_check_stalls(struct gen *, uint64_t);
void		flow_expire_setup(struct gen *);

/* gen.c */
void		gen_publish(struct gen *);
int		gen_wait_events(int, struct epoll_event *, uint64_t);
int		gen_finished(struct gen *, uint64_t);
int		gen_init(struct gen *, uint64_t);
void		gen_free(struct gen *);
void		*gen_main(void *);

/* hist.c */
void		hist_record(struct hist *, uint64_t);
void		hist_merge(struct hist *, const struct hist *);
uint64_t	hist_percentile(const struct hist *, double);

/* options.c */
extern const char *const options_mode_names[];
void		options_parse(struct options *, int, char **);

/* pattern.c */
extern struct pattern	pattern;
int		pattern_init(void);

/* report.c */
void		report_error(enum error_kind, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		report_machine(const struct totals *, int);
void		report_human(const struct totals *);

/* udp.c */
int		udp_gen_init(struct gen *);
void		udp_gen_free(struct gen *);
void		*udp_gen_main(void *);

/* target.c */
int		target_resolve(void);
int		target_bind_source(int, uint64_t);

/* The one clock every timestamp comes from. */
static inline uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/*
 * Where in the pattern stream number n starts: on a line boundary so
 * every message ends with its '\n', and scattered so that neighbouring
 * connections and successive cycles carry different bytes.
 */
static inline uint64_t
pattern_seed(uint64_t n)
{
	return n * SEED_STRIDE % (pattern.len / pattern.line) * pattern.line;
}

#endif /* ECHOBENCH_H */
