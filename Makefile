# SPDX-License-Identifier: MIT
#
# tpio: one entry point. "make help" lists the targets.
#
# The module builds with kbuild from the top-level Kbuild file (kbuild reads
# Kbuild, never this Makefile). Everything else builds under build/.
#
# KDIR     kernel build tree for "make module" and "make install": the
#          running kernel's when its headers are installed, else the one of
#          VM_KVER.
# VM_KVER  the Debian kernel release the test VM boots (scripts/kver).
# VM_KDIR  the build tree matching the VM kernel: "make check" and
#          "make demo" build the module against it, whatever KDIR says.
# STAGES   the test stages "make check" runs (scripts/run-tests): by
#          default all of native, vm, vm-6.12 and vm-debug.

TOP      := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD    := $(TOP)/build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX   ?= /usr/local

VM_KVER  ?= $(shell $(TOP)/scripts/kver 2>/dev/null)
VM_KDIR  ?= /lib/modules/$(VM_KVER)/build
HOST_KDIR := /lib/modules/$(shell uname -r)/build
# "works": a configured tree, not a dangling build link
KDIR     ?= $(if $(and $(wildcard $(HOST_KDIR)/Makefile),$(wildcard $(HOST_KDIR)/include/generated/autoconf.h)),$(HOST_KDIR),$(VM_KDIR))

KSFT_STAMP := $(BUILD)/linux-source/.extracted
CHECKPATCH := $(BUILD)/linux-source/scripts/checkpatch.pl
DEMO_BIN   := $(BUILD)/demo/tpio-info

DEMO_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -I$(TOP)/uapi

.PHONY: all help setup module lib tests examples demo-tools check demo install \
	clean distclean checkpatch kselftest-headers conformance check-debug \
	bench fuzz tools

all: module lib tests examples demo-tools tools

help:
	@echo "make            module + library + tests (+ demo program)"
	@echo "make setup      install build and VM dependencies (apt-get)"
	@echo "make module     tpio.ko against KDIR=$(KDIR)"
	@echo "make lib        libtpio (build/libtpio/)"
	@echo "make tests      selftests (build/selftests/)"
	@echo "make check      setup, build everything, run all test stages"
	@echo "                (native, vm, vm-6.12, vm-debug; STAGES=... for some)"
	@echo "make check-debug the vm-debug stage alone (lockdep+KASAN+kmemleak kernel)"
	@echo "make conformance the Wine-differential suite (Wine as reference)"
	@echo "make bench      benchmarks against peers: tables and plots in bench/results/"
	@echo "make fuzz       the fuzzer of /dev/tpio in the VM (FUZZ_SECONDS=$(FUZZ_SECONDS))"
	@echo "make demo       setup, build, examples under load natively and in the VM, report"
	@echo "make examples   the example programs (build/examples/)"
	@echo "make tools      tpiostat, the ports of running programs (build/tools/)"
	@echo "make install    module into /lib/modules/<release>/extra, library into $(PREFIX)"
	@echo "make checkpatch kernel style check of the module and the ABI headers"
	@echo "make clean      remove build outputs"
	@echo "make distclean  remove build/ entirely (the kernel cache stays:"
	@echo "                scripts/cache-dir prints where it is)"

setup:
	$(TOP)/scripts/setup

module:
	@test -f $(TOP)/Kbuild || { echo "make: $(TOP)/Kbuild is missing"; exit 1; }
	@test -f $(KDIR)/Makefile || { echo "make: no kernel build tree at KDIR=$(KDIR) (run make setup)"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) modules

lib:
	@test -f $(TOP)/libtpio/Makefile || { echo "make: libtpio/Makefile is missing"; exit 1; }
	$(MAKE) -C $(TOP)/libtpio

kselftest-headers: $(KSFT_STAMP)

$(KSFT_STAMP):
	$(TOP)/scripts/kselftest-headers $(BUILD)

# The library tests link build/libtpio, so they wait for "lib".
tests: lib $(KSFT_STAMP)
	$(MAKE) -C $(TOP)/selftests
	$(MAKE) -C $(TOP)/conformance linux

examples: lib
	$(MAKE) -C $(TOP)/examples

demo-tools: $(DEMO_BIN)

$(DEMO_BIN): $(TOP)/scripts/demo/tpio-info.c $(TOP)/uapi/linux/tpio.h
	@mkdir -p $(dir $@)
	$(CC) $(DEMO_CFLAGS) -static -o $@ $<

# tpiostat (Documentation/tpiostat.rst): static, so that it runs in the VM
TPIOSTAT := $(BUILD)/tools/tpiostat

tools: $(TPIOSTAT)

$(TPIOSTAT): $(TOP)/tools/tpiostat/tpiostat.c $(TOP)/common/tpio_stats.h
	@mkdir -p $(dir $@)
	$(CC) $(DEMO_CFLAGS) -I$(TOP)/common -static -o $@ $<

# A failed build does not stop the tests: what was built still runs, and
# the closing "N passed, N failed" line counts the build as one failure.
# The vm-6.12 and vm-debug stages get their kernels themselves
# (scripts/kernel-fetch, scripts/build-debug-kernel: cached) and build the
# module for them out of tree, in build/kmod-6.12 and build/kmod-debug.
STAGES ?=
STAGE_ARGS := $(addprefix --stage ,$(STAGES))

check: setup
	@rc=0; $(MAKE) -k -j$(JOBS) all KDIR=$(VM_KDIR) || rc=1; \
	if [ $$rc -ne 0 ]; then $(TOP)/scripts/run-tests --build-failed $(STAGE_ARGS); \
	else $(TOP)/scripts/run-tests $(STAGE_ARGS); fi

# The vm-debug stage alone: the VM tests on the debug kernel of
# scripts/build-debug-kernel (lockdep, KASAN, kmemleak; built once and
# cached, about 4 minutes on 2 cores). Any report fails the run.
check-debug: setup
	$(MAKE) -j$(JOBS) tests
	cd $(TOP) && scripts/run-tests --stage vm-debug

# Benchmarks against peers, natively and in the VM (bench/README.md,
# Documentation/performance.md); bench/setup installs their extra packages.
bench: setup
	$(MAKE) -j$(JOBS) module lib KDIR=$(VM_KDIR)
	$(MAKE) -C $(TOP)/bench run

conformance: setup
	$(MAKE) -j$(JOBS) lib
	$(MAKE) -C $(TOP)/conformance run

# The fuzzer of /dev/tpio in the VM (Documentation/kmod.rst, "Fuzzing";
# scripts/fuzz): FUZZ_SECONDS long, from FUZZ_SEED (a number, or "random":
# the fuzzer prints the one it picked), FUZZ_THREADS workers per round, on
# FUZZ_KERNEL: auto (the debug kernel of scripts/build-debug-kernel when it
# is built, else Debian's), debug (built first if need be) or debian;
# FUZZ_DEBUG_TREE names another debug kernel tree.
# FUZZ_ARGS adds fuzzer options. Passes on no finding and a clean kernel log.
FUZZ_SECONDS    ?= 300
FUZZ_SEED       ?= 0x7470696f66757a7a
FUZZ_THREADS    ?= 4
FUZZ_KERNEL     ?= auto
FUZZ_DEBUG_TREE ?=
FUZZ_ARGS       ?=

fuzz: setup
	$(MAKE) -C $(TOP)/selftests fuzz
	$(MAKE) module KDIR=$(VM_KDIR)
	cd $(TOP) && FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_SEED='$(FUZZ_SEED)' \
		FUZZ_THREADS='$(FUZZ_THREADS)' FUZZ_KERNEL='$(FUZZ_KERNEL)' \
		FUZZ_DEBUG_TREE='$(FUZZ_DEBUG_TREE)' FUZZ_ARGS='$(FUZZ_ARGS)' \
		scripts/fuzz

# The main job: the module's ABI answering in the VM, then the examples
# under load from the bundled client, natively (user backend) and in the
# VM (kmod backend), and a short report (examples/demo).
demo: setup
	$(MAKE) -j$(JOBS) module lib demo-tools KDIR=$(VM_KDIR)
	cd $(TOP) && scripts/vm-run --module tpio.ko \
		--files build/demo/tpio-info -- build/demo/tpio-info
	cd $(TOP) && examples/demo

# The module goes to the release it was built for (its vermagic), which is
# "uname -r" when KDIR is the running kernel's tree.
install: module lib
	@rel=$$(modinfo -F vermagic $(TOP)/tpio.ko | cut -d' ' -f1); \
	test -n "$$rel" || { echo "make: cannot read tpio.ko's vermagic"; exit 1; }; \
	echo "install tpio.ko -> $(DESTDIR)/lib/modules/$$rel/extra/"; \
	install -D -m 0644 $(TOP)/tpio.ko $(DESTDIR)/lib/modules/$$rel/extra/tpio.ko && \
	if [ -z "$(DESTDIR)" ]; then depmod -a $$rel; fi
	@if grep -q '^install:' $(TOP)/libtpio/Makefile; then \
		$(MAKE) -C $(TOP)/libtpio install PREFIX=$(PREFIX); \
	else \
		echo "make: libtpio has no install target; library not installed"; \
		exit 1; \
	fi

# Cleaning tolerates parts that are missing.
clean:
	@if [ -f $(TOP)/Kbuild ] && [ -f $(KDIR)/Makefile ]; then \
		$(MAKE) -C $(KDIR) M=$(TOP) clean; fi
	@if [ -f $(TOP)/libtpio/Makefile ]; then $(MAKE) -C $(TOP)/libtpio clean; fi
	@if [ -f $(TOP)/selftests/Makefile ]; then $(MAKE) -C $(TOP)/selftests clean; fi
	@if [ -d $(BUILD) ]; then \
		find $(BUILD) -mindepth 1 -maxdepth 1 -exec rm -rf {} +; fi

distclean: clean
	rm -rf $(BUILD)

# An out-of-tree module must test LINUX_VERSION_CODE (kmod/compat.h): the
# one checkpatch rule that assumes in-tree code is ignored.
checkpatch: $(KSFT_STAMP)
	cd $(TOP) && perl $(CHECKPATCH) --strict --no-tree --ignore LINUX_VERSION_CODE -f \
		$(wildcard kmod/*.c kmod/*.h) uapi/linux/tpio.h common/tpio_word.h
