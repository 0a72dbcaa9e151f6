#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tpiostat against a running program (selftests/tpiostat/tpiostat_load), on
# one backend; TAP output. POSIX sh: it also runs in the VM's busybox.
#   sh check.sh TPIOSTAT LOAD user|kmod
# user: the library's statistics file (TPIO_STATS=1) shows the pool with
# completions and callbacks, rates move, nothing is left at exit. kmod: the
# same, and the port's fdinfo row (object, POST total) is there too, and
# both rows show the kernel's concurrency value and counts (CONC). On both,
# the pool's row shows the stall detector's counts (STALL), the port's not.
stat=$1 load=$2 backend=$3
n=0
fail=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
show() {
	sed 's/^/# /' "$1"
}

if [ "$backend" = kmod ]; then echo "1..8"; else echo "1..7"; fi
dir=$(mktemp -d /tmp/tpiostat.XXXXXX) || exit 1
# TPIO_KERNEL_CONC=2: the pool uses the module's control (kmod)
TPIO_STATS=1 TPIO_STATS_MS=20 TPIO_KERNEL_CONC=2 TPIO_BACKEND=$backend \
	"$load" 4 >"$dir/load.out" 2>"$dir/load.err" &
pid=$!
i=0
while [ $i -lt 300 ] && ! grep -q '^ready' "$dir/load.out"; do
	sleep 0.1
	i=$((i + 1))
done
grep -q "^ready $backend" "$dir/load.out"
ok $? "the load runs on the $backend backend"
sleep 0.2

# one report: totals (POSTS column 7, CBS column 9)
"$stat" -p "$pid" >"$dir/once" 2>&1
show "$dir/once"
awk -v p="$pid" -v b="$backend" \
	'$1 == p && $3 == "stats" && $5 == b && $6 >= 1 && $7 > 0 && $9 > 0 { f = 1 }
	 END { exit !f }' "$dir/once"
ok $? "one report shows the pool with its object, completions and callbacks"

if [ "$backend" = kmod ]; then
	# the port's fdinfo: its object, and the dropped completion's POST
	awk -v p="$pid" '$1 == p && $3 == "fdinfo" && $5 == "kmod" && $6 >= 1 && $7 >= 1 { f = 1 }
		END { exit !f }' "$dir/once"
	ok $? "one report shows the module's port from fdinfo"
	# the kernel's concurrency control: value/active/blocked/released
	awk -v p="$pid" '$1 == p && $3 == "stats" && $17 ~ /^[1-9][0-9]*\/[0-9]+\/[0-9]+\/[0-9]+$/ { s = 1 }
		$1 == p && $3 == "fdinfo" && $17 ~ /^[1-9][0-9]*\/[0-9]+\/[0-9]+\/[0-9]+$/ { k = 1 }
		END { exit !(s && k) }' "$dir/once"
	ok $? "the pool and its port show the kernel's concurrency value and counts"
else
	awk -v p="$pid" '$1 == p && $3 == "stats" && $17 == "-" { f = 1 }
		END { exit !f }' "$dir/once"
	ok $? "the pool shows no kernel concurrency counts on the user backend"
fi
# the stall detector's places: tick rule/meter/taken back (column 18)
awk -v p="$pid" '$1 == p && $3 == "stats" && $18 ~ /^[0-9]+\/[0-9]+\/[0-9]+$/ { s = 1 }
	$1 == p && $3 == "fdinfo" && $18 != "-" { k = 1 }
	END { exit !(s && !k) }' "$dir/once"
ok $? "the pool shows the stall detector's counts, a module port none"

# two reports half a second apart: the second has rates
"$stat" -p "$pid" 0.5 2 >"$dir/rates" 2>&1
show "$dir/rates"
awk -v p="$pid" '/per second/ { r = 1 }
	r && $1 == p && $3 == "stats" && $7 > 0 && $9 > 0 { f = 1 }
	END { exit !f }' "$dir/rates"
ok $? "the second report shows completions and callbacks per second"

wait $pid
rc=$?
show "$dir/load.out"
show "$dir/load.err"
ok $rc "the load exits cleanly"
"$stat" -p "$pid" >"$dir/after" 2>&1
show "$dir/after"
grep -q " 0 ports," "$dir/after"
ok $? "no port is left once the program has exited"
rm -rf "$dir"
exit $fail
