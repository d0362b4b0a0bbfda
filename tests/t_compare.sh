#!/bin/sh
# SPDX-License-Identifier: ISC
#
# t_compare.sh - bench/compare works end to end: it starts echod and the
# raw-epoll baseline pinned to CPUs, loads them with echobench in a quick
# rr, connect, paired and udp run (and a tls-rr run where echod has TLS
# and the openssl command is here), and writes results.json, table.md and the
# numbers they are made of.  It checks that the figures are there and
# sane, never how fast anything is: speed is bench/'s business, not make
# check's.  Skipped without python3, taskset or a second CPU.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
echod=${ECHOD:-$builddir/src/echod}
echobench=${ECHOBENCH:-$builddir/bench/echobench}
baseline=$builddir/bench/baseline-epoll

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"
command -v taskset >/dev/null 2>&1 || skip_all "taskset is not installed"
taskset -c 1 true 2>/dev/null || skip_all "no second CPU to pin the client to"
# Sanitizer builds are many times slower and their CPU figures not echod's.
[ -z "$ECHOD_SANITIZE" ] || skip_all "echod is built with sanitizers"

out=$(mktemp -d "${TMPDIR:-/tmp}/t_compare.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT

tls=
tests=rr100,connect,pair-rr100,udp
if "$echod" --version | grep -q '^TLS: built in' &&
    command -v openssl >/dev/null 2>&1; then
	tls=" -l tls:127.0.0.1:{tlsport} --tls-cert {cert} --tls-key {key}"
	tests=$tests,tls-rr100
fi

python3 "$srcdir/bench/compare" --no-defaults --out "$out" \
    --echobench "$echobench" \
    --server "echod=$echod -q -l 127.0.0.1:{port}$tls" \
    --server "baseline-epoll=$baseline {port}" \
    --udp-server "echod-udp=$echod -q -u 127.0.0.1:{port} --udp-rate 0 --udp-total-rate 0" \
    --tests "$tests" --runs 1 --duration 1 \
    --pair-rate 5000 >"$out/log" 2>&1
status=$?
sed 's/^/# /' "$out/log"

# Every check is one line of Python over results.json; TAP comes out.
python3 - "$out" "$status" "$tests" <<'PY'
import json, math, os, sys

out, status, tests = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
n = 0

def ok(cond, what):
    global n
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, what))

ok(status == 0, "compare exits 0 (got %d)" % status)
try:
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
except (OSError, ValueError) as e:
    doc = {}
    print("# results.json: %s" % e)
ok("results" in doc and "paired" in doc, "results.json has results and paired")
results = doc.get("results", {})
paired = doc.get("paired", {})

def positive(v):
    return isinstance(v, (int, float)) and v > 0 and math.isfinite(v)

for name in ("echod", "baseline-epoll"):
    rr = results.get(name, {}).get("rr100", {}).get("median", {})
    ok(rr.get("errors") == 0, "%s rr100: no errors" % name)
    for key in ("msg_per_s", "cpu_us_per_msg", "client_cpu_us_per_msg",
                "p50_us"):
        ok(positive(rr.get(key)), "%s rr100: %s = %r" % (name, key,
                                                         rr.get(key)))
    conn = results.get(name, {}).get("connect", {}).get("median", {})
    ok(conn.get("errors") == 0, "%s connect: no errors" % name)
    for key in ("conn_per_s", "cpu_us_per_conn"):
        ok(positive(conn.get(key)), "%s connect: %s = %r" % (name, key,
                                                             conn.get(key)))

if "tls-rr100" in tests:
    tr = results.get("echod", {}).get("tls-rr100", {}).get("median", {})
    ok(tr.get("errors") == 0, "echod tls-rr100: no errors")
    for key in ("msg_per_s", "cpu_us_per_msg", "plain_cpu_us_per_msg",
                "tls_cpu_ratio"):
        ok(positive(tr.get(key)), "echod tls-rr100: %s = %r"
           % (key, tr.get(key)))
    skipped = results.get("baseline-epoll", {}).get("tls-rr100", {})
    ok("skipped" in skipped.get("median", {}),
       "baseline-epoll tls-rr100: skipped, it has no tls: listener")
else:
    print("ok %d # SKIP echod has no TLS or openssl is missing: no tls-rr"
          % (n + 1))
    n += 1

for name in ("echod (itself)", "baseline-epoll"):
    runs = paired.get(name, {}).get("pair-rr100", [])
    ok(len(runs) == 1, "pair-rr100 against %s: one round" % name)
    r = runs[0] if runs else {}
    ok(positive(r.get("ratio")), "pair-rr100 against %s: ratio = %r"
       % (name, r.get("ratio")))
    ok(all(r.get(side, {}).get("errors") == 0 for side in ("a", "b")),
       "pair-rr100 against %s: no errors on either side" % name)

udp = results.get("echod-udp", {}).get("udp", {}).get("median", {})
ok(udp.get("errors") == 0, "echod-udp udp: no errors")
for key in ("dgram_per_s", "cpu_us_per_dgram", "p50_us"):
    ok(positive(udp.get(key)), "echod-udp udp: %s = %r" % (key, udp.get(key)))
ok(isinstance(udp.get("loss_pct"), (int, float)),
   "echod-udp udp: loss_pct = %r" % udp.get("loss_pct"))

try:
    with open(os.path.join(out, "table.md")) as f:
        table = f.read()
except OSError:
    table = ""
for row in ("| echod |", "| baseline-epoll |", "| echod (itself) |",
            "| echod-udp |"):
    ok(row in table, "table.md has the row %s" % row)
print("1..%d" % n)
PY
