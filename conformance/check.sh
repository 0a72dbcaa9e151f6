#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check.sh BIN_DIR REF_DIR ALLOWED_FILE [OUT_DIR]
# check.sh STAGE_DIR      (= STAGE_DIR/bin STAGE_DIR/expected
#                            STAGE_DIR/allowed-differences.txt)
#
# The tpio side of the conformance suite: run every program in BIN_DIR
# (static binaries built against libtpio) on the backend TPIO_BACKEND
# (default: kmod when /dev/tpio exists, else user), write each transcript
# to OUT_DIR/PROGRAM.txt with a closing "exit: status=N" line, and compare
# them with the reference transcripts in REF_DIR (compare.sh, KTAP on
# stdout). POSIX sh, so that busybox runs it in the test VM, where
# "make -C conformance" staged everything in one directory:
#   sh build/conformance/vm/check.sh build/conformance/vm

if [ $# = 1 ]; then
	set -- "$1/bin" "$1/expected" "$1/allowed-differences.txt"
fi
if [ $# -lt 3 ]; then
	echo "usage: check.sh BIN_DIR REF_DIR ALLOWED_FILE [OUT_DIR] | check.sh STAGE_DIR" >&2
	exit 2
fi
bin=$1
ref=$2
allowed=$3
out=${4:-$(mktemp -d)} || exit 2
here=$(dirname "$0")
limit=${TPIO_CONFORMANCE_TIMEOUT:-60}
if [ -z "$TPIO_BACKEND" ]; then
	if [ -c /dev/tpio ]; then TPIO_BACKEND=kmod; else TPIO_BACKEND=user; fi
fi
export TPIO_BACKEND
mkdir -p "$out"
echo "# conformance: tpio side on TPIO_BACKEND=$TPIO_BACKEND, reference $ref"

progs=
for b in "$bin"/*; do
	[ -x "$b" ] || continue
	p=$(basename "$b")
	progs="$progs $p"
	timeout "$limit" "$b" >"$out/$p.txt" 2>"$out/$p.err" </dev/null
	rc=$?
	echo "exit: status=$rc" >>"$out/$p.txt"
	if [ $rc != 0 ]; then
		echo "# $p exited with status $rc; its stderr:"
		sed 's/^/#   /' "$out/$p.err"
	fi
done
if [ -z "$progs" ]; then
	echo "check.sh: no programs in $bin" >&2
	exit 2
fi
# shellcheck disable=SC2086
sh "$here/compare.sh" "$ref" "$out" "$allowed" $progs
