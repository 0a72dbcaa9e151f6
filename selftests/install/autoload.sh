#!/bin/sh
# SPDX-License-Identifier: MIT
#
# In the VM (selftests/vm-tests.txt; busybox sh): /dev/tpio loads the
# module on first use, as on a system where it is installed
# (Documentation/kmod.rst, "Building and loading"). The module that the
# stage loaded (scripts/vm-run keeps it as /lib/tpio/tpio.ko, or $1) is put
# under /lib/modules/<release>/extra and depmod is run; the module is
# unloaded and its node made again with mknod from the char-major alias,
# as kmod's static-nodes does at boot from modules.devname; then an open
# of /dev/tpio must load the module (the kernel runs modprobe with the
# alias) and the loaded module must show the version modinfo shows. The
# module stays loaded for the stage's own rmmod.
ko=${1:-/lib/tpio/tpio.ko}
rel=$(uname -r)
fail() {
	echo "autoload: FAIL: $*"
	exit 1
}

[ -f "$ko" ] || fail "$ko missing"
# busybox modinfo reads modules.dep: install and depmod first
mkdir -p "/lib/modules/$rel/extra"
cp "$ko" "/lib/modules/$rel/extra/tpio.ko" || fail "cp"
depmod -a "$rel" || fail "depmod"
ver=$(modinfo -F version "$ko")
[ -n "$ver" ] || fail "modinfo shows no version"
aliases=$(modinfo -F alias "$ko")
echo "$aliases" | grep -qx 'devname:tpio' || fail "no devname:tpio alias ($aliases)"
minor=$(echo "$aliases" | sed -n 's/^char-major-10-\([0-9]*\)$/\1/p')
[ -n "$minor" ] || fail "no char-major-10-N alias ($aliases)"
echo "autoload: version $ver, aliases $(echo $aliases)"

grep -q "char-major-10-$minor" "/lib/modules/$rel/modules.alias" ||
	fail "depmod wrote no alias"
[ -d /sys/module/tpio ] || fail "the stage's module is not loaded"
rmmod tpio || fail "rmmod"
[ ! -e /dev/tpio ] || fail "/dev/tpio outlived the module"
mknod -m 0666 /dev/tpio c 10 "$minor" || fail "mknod"
echo "autoload: modprobe is $(cat /proc/sys/kernel/modprobe)"

# the first open loads the module
if ! : </dev/tpio; then
	fail "open of /dev/tpio failed"
fi
[ -d /sys/module/tpio ] || fail "open did not load the module"
got=$(cat /sys/module/tpio/version)
[ "$got" = "$ver" ] || fail "loaded version '$got', modinfo '$ver'"
echo "autoload: open(/dev/tpio) loaded tpio $got"
