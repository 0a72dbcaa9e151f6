# SPDX-License-Identifier: MIT
#
# tpio: one entry point. "make help" lists the targets.
#
# The module builds with kbuild from the top-level Kbuild file (kbuild reads
# Kbuild, never this Makefile). Everything else builds under build/.
#
# KDIR     kernel build tree for "make module": the running kernel's when
#          its headers are installed, else the one of VM_KVER. The module
#          builds in build/kmod/ (scripts/kmod-tree): build/kmod/tpio.ko.
# VM_KVER  the Debian kernel release the test VM boots (scripts/kver).
# VM_KDIR  the build tree matching the VM kernel: "make check" and
#          "make demo" build the module against it, whatever KDIR says.
# STAGES   the test stages "make check" runs (scripts/run-tests): by
#          default all of native, vm, vm-6.12 and vm-debug.
#
# Installing (Documentation/tpio.rst, "Installing"):
# KVER     the kernel release "make install" and "make install-module" build
#          and install the module for: the running one (uname -r) unless
#          named; its tree is /lib/modules/KVER/build unless KDIR is given.
# DESTDIR, PREFIX (/usr/local), LIBDIR ($(PREFIX)/lib), INCLUDEDIR
#          ($(PREFIX)/include), MANDIR ($(PREFIX)/share/man): the library's
#          (libtpio/Makefile); the module goes to
#          $(DESTDIR)/lib/modules/KVER/extra, the udev rule to
#          $(DESTDIR)$(UDEVRULESDIR). depmod and ldconfig run when DESTDIR
#          is empty.
# SETUP    the package set "make setup" installs (scripts/setup: build,
#          demo, check, conformance, debug, bench, all; default check).
#          Every target that needs packages asks scripts/setup for its own
#          set ("setup-demo", "setup-check", ...): "make demo" installs no
#          Wine and no kernel sources. No target installs a kernel image:
#          the VM's vmlinuz is unpacked into the per-user cache.
# TPIO_KO  the module "make demo" loads in the VM.

TOP      := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD    := $(TOP)/build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX   ?= /usr/local
MANDIR   ?= $(PREFIX)/share/man
UDEVRULESDIR ?= /lib/udev/rules.d
DEPMOD   ?= depmod

VM_KVER  ?= $(shell $(TOP)/scripts/kver 2>/dev/null)
VM_KDIR  ?= /lib/modules/$(VM_KVER)/build
HOST_KDIR := /lib/modules/$(shell uname -r)/build
# "works": a configured tree, not a dangling build link
KDIR     ?= $(if $(and $(wildcard $(HOST_KDIR)/Makefile),$(wildcard $(HOST_KDIR)/include/generated/autoconf.h)),$(HOST_KDIR),$(VM_KDIR))

# the module's build directory and file (scripts/kmod-tree)
KMOD_BUILD := $(BUILD)/kmod
KMOD_KO    := $(KMOD_BUILD)/tpio.ko

# "make install": the running kernel unless KVER names another; its tree
# unless KDIR is given on the command line or in the environment.
INSTALL_KVER := $(or $(KVER),$(shell uname -r))
INSTALL_KDIR := $(if $(filter command environment,$(origin KDIR)),$(KDIR),/lib/modules/$(INSTALL_KVER)/build)

KSFT_STAMP := $(BUILD)/linux-source/.extracted
CHECKPATCH := $(BUILD)/linux-source/scripts/checkpatch.pl
DEMO_BIN   := $(BUILD)/demo/tpio-info
TPIO_KO    ?= $(KMOD_KO)
SETUP      ?= check
SETUP_SETS := build demo check conformance debug bench all

DEMO_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -I$(TOP)/uapi

.PHONY: $(addprefix setup-,$(SETUP_SETS))
.PHONY: all help setup module lib tests examples demo-tools check demo install \
	clean distclean checkpatch kselftest-headers conformance check-debug \
	bench fuzz install-lib install-module uninstall uninstall-lib \
	uninstall-module tools install-tools uninstall-tools

all: module lib tests examples demo-tools tools

help:
	@echo "make            module + library + tests (+ demo program)"
	@echo "make setup      install what make check needs (apt-get; SETUP=demo"
	@echo "                or another set of scripts/setup for less)"
	@echo "make module     build/kmod/tpio.ko against KDIR=$(KDIR)"
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
	@echo "make install    install-module + install-lib (make uninstall: the reverse)"
	@echo "make install-module  tpio.ko into /lib/modules/KVER/extra (KVER=$(INSTALL_KVER)),"
	@echo "                depmod, tpio(4), the udev rule"
	@echo "make install-lib  libtpio, tpio.h, linux/tpio.h, tpio.pc, man pages (3)"
	@echo "make install-tools tpiostat into BINDIR=$(PREFIX)/bin"
	@echo "                into PREFIX=$(PREFIX) (no kernel needed)"
	@echo "make deb        Debian packages tpio-dkms, libtpio0, libtpio-dev (build/deb/)"
	@echo "make deb-test   install them in a fresh Debian root, DKMS, modprobe in the VM"
	@echo "make checkpatch kernel style check of the module and the ABI headers"
	@echo "make clean      remove build outputs"
	@echo "make distclean  remove build/ entirely (the kernel cache stays:"
	@echo "                scripts/cache-dir prints where it is)"

setup:
	$(TOP)/scripts/setup $(SETUP)

$(addprefix setup-,$(SETUP_SETS)):
	$(TOP)/scripts/setup $(@:setup-%=%)

# kbuild writes its outputs next to what it builds: the module builds in
# build/kmod, a tree of links to the sources (scripts/kmod-tree).
module:
	@test -f $(TOP)/Kbuild || { echo "make: $(TOP)/Kbuild is missing"; exit 1; }
	@test -f $(KDIR)/Makefile || { echo "make: no kernel build tree at KDIR=$(KDIR) (run make setup)"; exit 1; }
	@if [ "$(origin KDIR)" = file ] && [ "$(KDIR)" != "$(HOST_KDIR)" ]; then \
		echo "make: the running kernel has no build tree: the module is for $(VM_KVER), the VM's kernel (KDIR= picks another)"; fi
	$(TOP)/scripts/kmod-tree $(KMOD_BUILD)
	$(MAKE) -C $(KDIR) M=$(KMOD_BUILD) modules

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

check: setup-check
	@rc=0; $(MAKE) -k -j$(JOBS) all KDIR=$(VM_KDIR) || rc=1; \
	if [ $$rc -ne 0 ]; then $(TOP)/scripts/run-tests --build-failed $(STAGE_ARGS); \
	else $(TOP)/scripts/run-tests $(STAGE_ARGS); fi

# The vm-debug stage alone: the VM tests on the debug kernel of
# scripts/build-debug-kernel (lockdep, KASAN, kmemleak; built once and
# cached, about 4 minutes on 2 cores). Any report fails the run.
check-debug: setup-debug
	$(MAKE) -j$(JOBS) tests
	cd $(TOP) && scripts/run-tests --stage vm-debug

# Benchmarks against peers, natively and in the VM (bench/README.md,
# Documentation/performance.md).
bench: setup-bench
	$(MAKE) -j$(JOBS) module lib KDIR=$(VM_KDIR)
	$(MAKE) -C $(TOP)/bench run

conformance: setup-conformance
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

fuzz: setup-debug
	$(MAKE) -C $(TOP)/selftests fuzz
	$(MAKE) module KDIR=$(VM_KDIR)
	cd $(TOP) && FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_SEED='$(FUZZ_SEED)' \
		FUZZ_THREADS='$(FUZZ_THREADS)' FUZZ_KERNEL='$(FUZZ_KERNEL)' \
		FUZZ_DEBUG_TREE='$(FUZZ_DEBUG_TREE)' FUZZ_ARGS='$(FUZZ_ARGS)' \
		scripts/fuzz

# The main job (examples/demo): the example echo server under load from
# the bundled client, natively (user backend) beside a plain liburing loop,
# then in one VM boot the module's ABI answering and the kmod backend
# beside the user backend, a few runs of each, and a short report.
demo: setup-demo
	$(MAKE) -j$(JOBS) module lib demo-tools examples KDIR=$(VM_KDIR)
	cd $(TOP) && TPIO_KO=$(TPIO_KO) examples/demo

# The module is installed for one kernel, KVER (default: the running one),
# built against its tree: never silently for another kernel.
install: install-module install-lib install-tools

uninstall: uninstall-module uninstall-lib uninstall-tools

# tpiostat into $(BINDIR) (default $(PREFIX)/bin)
BINDIR ?= $(PREFIX)/bin

install-tools: tools
	install -D -m 755 $(TPIOSTAT) $(DESTDIR)$(BINDIR)/tpiostat
	install -D -m 644 $(TOP)/man/man1/tpiostat.1 \
		$(DESTDIR)$(MANDIR)/man1/tpiostat.1

uninstall-tools:
	rm -f $(DESTDIR)$(BINDIR)/tpiostat $(DESTDIR)$(MANDIR)/man1/tpiostat.1

install-lib:
	$(MAKE) -C $(TOP)/libtpio install

uninstall-lib:
	$(MAKE) -C $(TOP)/libtpio uninstall

install-module:
	@if [ ! -f $(INSTALL_KDIR)/Makefile ]; then \
		echo "make: no kernel build tree for $(INSTALL_KVER) at $(INSTALL_KDIR)."; \
		if [ -z "$(KVER)" ]; then \
		echo "make: install the running kernel's headers (Debian: apt-get install linux-headers-$(INSTALL_KVER)),"; \
		echo "make: or name the kernel to install for: make install KVER=<release> (KDIR=<tree> if elsewhere);"; \
		echo "make: make install-lib installs the library alone."; \
		else echo "make: install its headers, or give its tree with KDIR=<tree>."; fi; \
		exit 1; fi
	$(MAKE) module KDIR=$(INSTALL_KDIR)
	@rel=$$(PATH=$$PATH:/sbin:/usr/sbin modinfo -F vermagic $(KMOD_KO) | cut -d' ' -f1); \
	if [ "$$rel" != "$(INSTALL_KVER)" ]; then \
		echo "make: $(KMOD_KO) was built for '$$rel' (KDIR=$(INSTALL_KDIR)), not for $(INSTALL_KVER):"; \
		echo "make: name that kernel with KVER=$$rel to install it for it."; \
		exit 1; fi
	$(MAKE) -C $(INSTALL_KDIR) M=$(KMOD_BUILD) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=extra DEPMOD=true modules_install
	install -D -m 644 $(TOP)/kmod/60-tpio.rules $(DESTDIR)$(UDEVRULESDIR)/60-tpio.rules
	install -D -m 644 $(TOP)/man/man4/tpio.4 $(DESTDIR)$(MANDIR)/man4/tpio.4
	@if [ -z "$(DESTDIR)" ]; then echo "$(DEPMOD) -a $(INSTALL_KVER)"; \
		$(DEPMOD) -a $(INSTALL_KVER); fi

uninstall-module:
	rm -f $(foreach e,ko ko.gz ko.xz ko.zst,$(DESTDIR)/lib/modules/$(INSTALL_KVER)/extra/tpio.$(e)) \
		$(DESTDIR)$(UDEVRULESDIR)/60-tpio.rules $(DESTDIR)$(MANDIR)/man4/tpio.4
	@if [ -z "$(DESTDIR)" ] && [ -d /lib/modules/$(INSTALL_KVER) ]; then \
		echo "$(DEPMOD) -a $(INSTALL_KVER)"; $(DEPMOD) -a $(INSTALL_KVER); fi

# Cleaning tolerates parts that are missing.
clean:
	@if [ -f $(TOP)/Kbuild ] && [ -f $(KDIR)/Makefile ] && [ -d $(KMOD_BUILD) ]; then \
		$(MAKE) -C $(KDIR) M=$(KMOD_BUILD) clean; fi
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
		$(wildcard kmod/*.c kmod/*.h) uapi/linux/tpio.h common/tpio_word.h \
		common/tpio_version.h common/tpio_port.h

# Debian packages (Documentation/packages.rst): "make deb" builds tpio-dkms,
# libtpio0 and libtpio-dev with dpkg-buildpackage into build/deb/ and checks
# them with lintian (scripts/deb-build); "make deb-test" installs them into
# a fresh Debian root (debootstrap, cached), where DKMS builds the module
# for the VM's kernel, then loads it with modprobe in the VM and runs the
# README's example on it (scripts/deb-test; a few minutes, not part of
# "make check"). scripts/pkg-setup installs the tools they need.
.PHONY: deb deb-test

deb:
	$(TOP)/scripts/pkg-setup build
	$(TOP)/scripts/deb-build

deb-test: deb
	$(TOP)/scripts/pkg-setup test
	$(TOP)/scripts/deb-test
