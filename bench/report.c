/* SPDX-License-Identifier: ISC */
/*
 * report.c - what echobench tells: the first error of each kind as it
 * happens, then the summary for people and the last line for scripts.
 */

#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "echobench.h"

/* Summary keys and words for the error kinds, in enum order. */
static const char *const error_keys[ERR_KINDS] = {
	"mismatches", "resets", "eofs", "stalls", "connect_errors"
};
static const char *const error_words[ERR_KINDS] = {
	"mismatches", "resets", "unexpected EOFs", "stalls", "connect errors"
};

/* One name=value pair of the machine-readable result. */
struct field {
	const char	*key;
	char		 value[32];
	int		 is_string;
};

/* Prints the first error of each kind in detail; later ones are counted. */
void
report_error(enum error_kind kind, const char *fmt, ...)
{
	static atomic_int	reported[ERR_KINDS];
	va_list			ap;

	if (atomic_exchange(&reported[kind], 1) != 0)
		return;
	va_start(ap, fmt);
	fputs(run.show_progress ? "\r\033[Kechobench: " : "echobench: ",
	    stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * Prints the result as the key=value line or as one JSON object, both
 * from the same list so that the two cannot drift apart.
 */
void
report_machine(const struct totals *t, int json)
{
	struct field	 f[32];
	unsigned	 n = 0, i;
	int		 k;
	const double	 q[] = { 0.50, 0.90, 0.99, 0.999 };
	const char	*qkeys[] = {
		"p50_us", "p90_us", "p99_us", "p999_us"
	};

#define FIELD(name, quoted, ...) do {					\
	f[n].key = (name);						\
	f[n].is_string = (quoted);					\
	snprintf(f[n].value, sizeof(f[n].value), __VA_ARGS__);		\
	n++;								\
} while (0)
	FIELD("mode", 1, "%s", options_mode_names[run.opt.mode]);
	FIELD("conns", 0, "%" PRIu64, run.opt.conns);
	FIELD("threads", 0, "%" PRIu64, run.opt.threads);
	FIELD("size", 0, "%" PRIu64, run.opt.size);
	FIELD("secs", 0, "%.2f", t->secs);
	FIELD("msgs", 0, "%" PRIu64, t->msgs);
	FIELD("msg_per_s", 0, "%.1f", t->msg_rate);
	FIELD("mb_per_s", 0, "%.2f", t->mb_rate);
	FIELD("conn_per_s", 0, "%.1f", t->conn_rate);
	for (i = 0; i < 4; i++)
		FIELD(qkeys[i], 0, "%" PRIu64,
		    (hist_percentile(&t->hist, q[i]) + 500) / 1000);
	FIELD("max_us", 0, "%" PRIu64, (t->hist.max + 500) / 1000);
	FIELD("errors", 0, "%" PRIu64, t->errors);
	for (k = 0; k < ERR_KINDS; k++)
		FIELD(error_keys[k], 0, "%" PRIu64, t->errs[k]);
	FIELD("established", 0, "%" PRIu64, t->established);
	if (run.opt.mode == MODE_UDP) {
		FIELD("sent", 0, "%" PRIu64, t->sent);
		FIELD("lost", 0, "%" PRIu64, t->lost);
		FIELD("loss_pct", 0, "%.3f", t->sent > 0 ?
		    100.0 * (double)t->lost / (double)t->sent : 0.0);
		FIELD("late", 0, "%" PRIu64, t->late);
	}
#undef FIELD

	if (json) {
		putchar('{');
		for (i = 0; i < n; i++)
			printf("%s\"%s\":%s%s%s", i ? "," : "", f[i].key,
			    f[i].is_string ? "\"" : "", f[i].value,
			    f[i].is_string ? "\"" : "");
		puts("}");
	} else {
		fputs("echobench:", stdout);
		for (i = 0; i < n; i++)
			printf(" %s=%s", f[i].key, f[i].value);
		putchar('\n');
	}
}

/* Prints the summary for people, on stdout before the key=value line. */
void
report_human(const struct totals *t)
{
	const struct options	*opt = &run.opt;
	int			 k;

	printf("mode          %s: ", options_mode_names[opt->mode]);
	switch (opt->mode) {
	case MODE_RR:
		printf("%" PRIu64 "-byte messages, %" PRIu64 " in flight per "
		    "connection", opt->size, opt->pipeline);
		if (opt->rate > 0)
			printf(", %.1f msg/s offered (open loop)", opt->rate);
		break;
	case MODE_BULK:
		printf("%" PRIu64 "-byte writes, both directions at once",
		    opt->size);
		break;
	case MODE_CONNECT:
		printf("connect, echo %" PRIu64 " bytes, close", opt->size);
		break;
	case MODE_IDLE:
		printf("one %" PRIu64 "-byte echo per connection, then held "
		    "open", opt->size);
		break;
	case MODE_HALFCLOSE:
		printf("%" PRIu64 " bytes each way in %" PRIu64 "-byte writes,"
		    " then half-close", opt->bytes, opt->size);
		break;
	case MODE_UDP:
		printf("%" PRIu64 "-byte datagrams", opt->size);
		if (opt->rate > 0)
			printf(", %.1f/s offered (open loop)", opt->rate);
		else
			printf(", %" PRIu64 " in flight per socket",
			    opt->pipeline);
		break;
	}
	printf("\nserver        %s port %s\n", run.target.host, opt->port);
	printf("connections   %" PRIu64 " at once, %" PRIu64 " established"
	    ", %" PRIu64 " thread%s\n", opt->conns, t->established,
	    opt->threads, opt->threads == 1 ? "" : "s");
	if (opt->mode == MODE_IDLE)
		printf("time          %.2f s to open and verify, %.2f s held\n",
		    t->setup_secs, t->secs);
	else
		printf("time          %.2f s measured after %.2f s warm-up\n",
		    t->secs, opt->warmup);
	if (opt->mode == MODE_IDLE)
		printf("verified      %" PRIu64 " (opened at %.1f/s)\n",
		    t->msgs, t->conn_rate);
	else
		printf("%-13s %" PRIu64 " (%.1f/s)\n", opt->mode == MODE_RR ?
		    "messages" : opt->mode == MODE_BULK ? "chunks" :
		    opt->mode == MODE_UDP ? "datagrams" : "connections",
		    t->msgs, t->msg_rate);
	if (opt->mode == MODE_UDP)
		printf("loss          %" PRIu64 " of %" PRIu64 " sent (%.3f%%),"
		    " %" PRIu64 " late\n", t->lost, t->sent, t->sent > 0 ?
		    100.0 * (double)t->lost / (double)t->sent : 0.0, t->late);
	if (opt->mode == MODE_BULK || opt->mode == MODE_HALFCLOSE ||
	    opt->mode == MODE_RR || opt->mode == MODE_UDP)
		printf("throughput    %.2f MB/s echoed\n", t->mb_rate);
	if (t->hist.total > 0)
		printf("latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f"
		    "  max %.1f\n",
		    (double)hist_percentile(&t->hist, 0.50) / 1e3,
		    (double)hist_percentile(&t->hist, 0.90) / 1e3,
		    (double)hist_percentile(&t->hist, 0.99) / 1e3,
		    (double)hist_percentile(&t->hist, 0.999) / 1e3,
		    (double)t->hist.max / 1e3);
	printf("errors        %" PRIu64, t->errors);
	if (t->errors > 0) {
		for (k = 0; k < ERR_KINDS; k++)
			printf("%s%s %" PRIu64, k ? ", " : " (",
			    error_words[k], t->errs[k]);
		putchar(')');
	}
	putchar('\n');
}
