#!/bin/sh
# SPDX-License-Identifier: ISC
#
# t_tls.sh - runs t_tls.py, the test of the tls: listeners with real TLS
# clients (Python's ssl and openssl s_client), where python3 with its ssl
# module and the openssl command are installed; skipped otherwise.

srcdir=${top_srcdir:-.}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

command -v python3 >/dev/null 2>&1 || skip_all "python3 is not installed"
python3 -c 'import ssl' 2>/dev/null ||
	skip_all "python3 has no ssl module"
command -v openssl >/dev/null 2>&1 || skip_all "openssl is not installed"

exec python3 "$srcdir/tests/t_tls.py"
