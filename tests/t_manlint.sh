#!/bin/sh
# SPDX-License-Identifier: ISC
#
# t_manlint.sh - the manual pages are clean mdoc: "mandoc -Tlint -W warning"
# prints nothing for each page in man/ and bench/ (echod.8 must be there).
# The lint is skipped where mandoc is not installed.

srcdir=${top_srcdir:-.}
mandoc=${MANDOC:-$(command -v mandoc)}

n=0
# ok NAME STATUS: one TAP result.
ok() {
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
	fi
}

[ -f "$srcdir/man/echod.8" ]
ok "man/echod.8 exists" $?

for path in "$srcdir"/man/*.[1-9] "$srcdir"/bench/*.[1-9]; do
	[ -f "$path" ] || continue
	page=${path#"$srcdir"/}
	if [ -z "$mandoc" ] || [ ! -x "$mandoc" ]; then
		n=$((n + 1))
		echo "ok $n # SKIP mandoc is not installed: $page not linted"
		continue
	fi
	out=$("$mandoc" -Tlint -W warning "$path" 2>&1)
	status=$?
	if [ -n "$out" ]; then
		echo "$out" | sed 's/^/# /'
	fi
	[ -z "$out" ]
	ok "$page: mandoc -Tlint prints nothing" $?
	ok "$page: mandoc -Tlint exits 0 (got $status)" "$status"
done
echo "1..$n"
