/* SPDX-License-Identifier: ISC */
/*
 * counters.h - the one list of echod's counters.  The per-thread struct,
 * the sum over threads, the SIGUSR1 log line and the tests' parser are
 * all generated from it, so a counter added here appears everywhere.
 * It has no dependencies, so the test harness includes it too.
 */

#ifndef COUNTERS_H
#define COUNTERS_H

/*
 * X(name, what it counts).  The names are the keys of the "stats:" line,
 * in this order; echod(8) documents each.  The *_closed counters follow
 * the close reasons, one each, so every connection that ends is counted
 * once.
 */
#define COUNTERS(X)							\
	X(accepted, "connections accepted and served")			\
	X(rejected, "connections closed at once: over the cap, or "	\
	    "no descriptors left")					\
	X(eof_closed, "connections the client finished, every byte "	\
	    "echoed")							\
	X(error_closed, "connections closed on a socket error")		\
	X(idle_closed, "connections closed by --idle-timeout")		\
	X(stall_closed, "connections closed by --stall-timeout")	\
	X(shutdown_closed, "connections closed quiet while draining")	\
	X(deadline_closed, "connections closed busy at the drain's "	\
	    "deadline or a second signal")				\
	X(oom_closed, "connections closed for want of memory")		\
	X(proxy_closed, "proxy: connections closed for a malformed, "	\
	    "oversized or truncated PROXY header")			\
	X(proxy_timeout_closed, "proxy: connections closed when no "	\
	    "whole PROXY header came within --proxy-timeout")		\
	X(tls_closed, "connections closed on a TLS error: a failed "	\
	    "handshake or a bad record")				\
	X(bytes_in, "bytes read from clients")				\
	X(bytes_out, "bytes written back to clients")			\
	X(bytes_dropped, "bytes read but never written back: still "	\
	    "queued when their connection closed")			\
	X(accept_errors, "failed calls to accept()")			\
	X(accept_pauses, "times accepting paused for lack of "		\
	    "descriptors or memory")					\
	X(tls_handshakes, "TLS handshakes completed")			\
	X(tls_handshake_failed, "TLS connections that ended before "	\
	    "their handshake completed: an error, the peer closing, "	\
	    "or --idle-timeout")					\
	X(udp_in, "datagrams received")					\
	X(udp_bytes_in, "bytes in datagrams received")			\
	X(udp_out, "datagrams echoed")					\
	X(udp_bytes_out, "bytes in datagrams echoed")			\
	X(udp_dropped_rule, "datagrams unanswered for their source "	\
	    "port (or family)")						\
	X(udp_dropped_source, "datagrams over the per-source limit")	\
	X(udp_dropped_total, "datagrams over the total limit")		\
	X(udp_send_errors, "echoes the kernel refused (buffer full, "	\
	    "ICMP error)")

#endif /* COUNTERS_H */
