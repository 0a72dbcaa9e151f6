#!/bin/sh
# SPDX-License-Identifier: MIT
#
# compare.sh EXPECTED_DIR ACTUAL_DIR ALLOWED_FILE PROGRAM...
#
# Compare the transcripts ACTUAL_DIR/PROGRAM.txt (tpio) with the reference
# EXPECTED_DIR/PROGRAM.txt (Wine), scenario by scenario, and print KTAP:
# one result "conformance.PROGRAM.SCENARIO" per scenario found on either
# side. POSIX sh and awk only, so that busybox runs it in the test VM.
#
# A transcript line is "SCENARIO: FACT". Before comparing, each tpio line
# listed in ALLOWED_FILE ("PROGRAM.SCENARIO | tpio fact | Wine fact |
# reason") is replaced by the Wine fact, or dropped when the Wine fact is
# empty (Wine printed nothing there, e.g. it had crashed). Everything else
# must match exactly, in order.

if [ $# -lt 4 ]; then
	echo "usage: compare.sh EXPECTED_DIR ACTUAL_DIR ALLOWED_FILE PROGRAM..." >&2
	exit 2
fi
exp=$1
act=$2
allowed=$3
shift 3

results=$(mktemp) || exit 2
trap 'rm -f "$results"' EXIT

for prog in "$@"; do
	e=$exp/$prog.txt
	a=$act/$prog.txt
	if [ ! -f "$e" ]; then
		echo "R not ok conformance.$prog # no reference transcript $e" >>"$results"
		continue
	fi
	if [ ! -f "$a" ]; then
		echo "R not ok conformance.$prog # no transcript $a" >>"$results"
		continue
	fi
	awk -v prog="$prog" -v allowed="$allowed" -v reffile="$e" '
	function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
	function scen(line) { return substr(line, 1, index(line, ":") - 1) }
	function fact(line) { return substr(line, index(line, ":") + 2) }
	function note(sc) { if (!(sc in seen)) { seen[sc] = 1; order[++nsc] = sc } }
	BEGIN {
		while ((getline l < allowed) > 0) {
			if (l ~ /^[ \t]*#/ || l !~ /\|/)
				continue
			n = split(l, f, "|")
			if (n < 4)
				continue
			key = trim(f[1]) SUBSEP trim(f[2])
			subst[key] = trim(f[3])
			reason[key] = trim(f[4])
		}
		while ((getline l < reffile) > 0) {
			sub(/\r$/, "", l)
			if (l !~ /^[a-z0-9]+: /)
				continue
			sc = scen(l)
			note(sc)
			want[sc] = want[sc] fact(l) "\n"
		}
	}
	{
		sub(/\r$/, "")
		if ($0 !~ /^[a-z0-9]+: /)
			next
		sc = scen($0)
		fa = fact($0)
		key = prog "." sc SUBSEP fa
		if (key in subst) {
			if (index(used[prog "." sc], reason[key]) == 0)
				used[prog "." sc] = used[prog "." sc] "; " reason[key]
			if (subst[key] == "")
				next
			fa = subst[key]
		}
		note(sc)
		got[sc] = got[sc] fa "\n"
	}
	END {
		for (i = 1; i <= nsc; i++) {
			sc = order[i]
			name = "conformance." prog "." sc
			if ((prog "." sc) in used)
				print "D # " name ": allowed difference: " substr(used[prog "." sc], 3)
			if (want[sc] == got[sc]) {
				print "R ok " name
				continue
			}
			print "R not ok " name
			nw = split(want[sc], w, "\n")
			ng = split(got[sc], g, "\n")
			for (j = 1; j < nw || j < ng; j++)
				if (w[j] != g[j])
					print "D # " sc ": Wine: " (j < nw ? w[j] : "(nothing)") " | tpio (allowed differences applied): " (j < ng ? g[j] : "(nothing)")
		}
	}' "$a" >>"$results"
done

n=$(grep -c '^R ' "$results")
echo "TAP version 13"
echo "1..$n"
awk '/^R / { sub(/^R /, ""); k++; if ($1 == "ok") print "ok " k " " substr($0, 4); else print "not ok " k " " substr($0, 8); next }
     /^D / { print substr($0, 3) }' "$results"
grep -q '^R not ok' "$results" && exit 1
exit 0
