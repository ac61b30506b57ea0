# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt top-level build.
#
#   make                 module + userspace programs
#   make check           every test (unit, KMS over HTTP, kernel selftests in QEMU)
#   make demo            the whole EBS flow in the test VM
#   make bench           fio benchmarks in the test VM (ratios vs dm-crypt)
#   make bench-kms       ebscrypt-kmsd throughput and p99 latency (docs/benchmarks-kms.md)
#   make fuzz [FUZZ_TIME=s]  every libFuzzer target for FUZZ_TIME seconds each
#   make install DESTDIR=... KVER=...
#   make deb             the Debian packages (build/deb), checked by lintian
#                        install-module + install-userspace; the latter
#                        needs no kernel headers
#
# The variables (CFLAGS, WERROR, PREFIX, SYSCONFDIR, KDIR, ...) are listed in
# README.md, "Building for a real host".

TOP := $(CURDIR)
export TOP
include $(TOP)/mk/paths.mk
include $(TOP)/mk/version.mk
BUILD ?= $(TOP)/build

# KDIR: the kernel build tree the module is compiled against. Defaults to
# the headers of Debian 12's kernel, the one the installed
# linux-headers-amd64 depends on (the test VM's kernel), whatever else is
# installed; without that package, the running kernel's, else the newest
# installed linux-headers-*-amd64, both looked for under KERNEL_HEADERS_ROOT
# (default: /, where the first choice applies). Other kernels of the test
# matrix: scripts/kernels. KVER: the kernel release the module is for,
# derived from KDIR.
#
# Both are deferred, found with $(shell) (make caches directory listings,
# $(wildcard) would not see a tree that appeared during the run) and never
# exported: the make that builds or installs the module looks for them, by
# then `deps` has installed the headers on a fresh machine. (A value found
# empty before that and exported to the sub-make stopped the first
# `make check` with "no kernel build tree".)
KERNEL_HEADERS_ROOT ?=
KDIR ?= $(firstword $(if $(KERNEL_HEADERS_ROOT),,$(shell $(TOP)/scripts/kernels kdir 6.1 2>/dev/null)) \
          $(shell d='$(KERNEL_HEADERS_ROOT)/lib/modules/'"$$(uname -r)"/build; \
                  [ -d "$$d" ] && echo "$$d") \
          $(lastword $(sort $(shell ls -d $(KERNEL_HEADERS_ROOT)/usr/src/linux-headers-*-amd64 2>/dev/null))))
# From the tree's utsrelease.h: Debian's headers answer `make kernelrelease`
# with the upstream version (6.1.192), not the release (6.1.0-56-amd64).
KVER ?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)

# scripts/install-deps.sh; the build's own tests replace it.
INSTALL_DEPS ?= scripts/install-deps.sh

USER_DIRS := lib kms-agent tools udev
UNITS := $(patsubst systemd/%.in,$(BUILD)/systemd/%,$(wildcard systemd/*.in))

.PHONY: all module userspace install install-module install-userspace clean \
        check check-unit check-vm check-debug check-e2e prepare \
        demo demo-kernel bench bench-smoke bench-snapshot bench-kms lint deps check-kernels kernels fuzz

all: module userspace

module:
	@test -n "$(KDIR)" || { echo "no kernel build tree: install linux-headers-amd64 or set KDIR" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) modules

userspace:
	@for d in $(USER_DIRS); do $(MAKE) -C $$d || exit 1; done
	@$(MAKE) --no-print-directory units

# The systemd units, with this build's paths.
.PHONY: units
units: $(UNITS)
$(BUILD)/systemd/%: systemd/%.in FORCE
	@mkdir -p $(dir $@)
	@sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	     -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' -e 's|@RUNSTATEDIR@|$(RUNSTATEDIR)|g' $< >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi
FORCE:
.PHONY: FORCE

install: install-module install-userspace

install-module: module
	@test -n "$(KVER)" || { echo "no kernel release: set KVER or KDIR" >&2; exit 1; }
	install -D -m 0644 dm-ebscrypt/dm-ebscrypt.ko \
		$(DESTDIR)/lib/modules/$(KVER)/extra/dm-ebscrypt.ko

install-userspace: userspace
	@for d in $(USER_DIRS); do $(MAKE) -C $$d install || exit 1; done
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 README.md dm-ebscrypt/dm-ebscrypt.rst $(DESTDIR)$(DOCDIR)/
	@if [ -d docs ]; then cp -r docs/. $(DESTDIR)$(DOCDIR)/; fi
	@if [ -d man ]; then for m in man/*.[0-9]; do [ -e "$$m" ] || continue; \
		s=$${m##*.}; install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done; fi
	@for u in $(UNITS); do install -D -m 0644 $$u $(DESTDIR)$(UNITDIR)/$${u##*/}; done
	@for c in completion/*; do install -D -m 0644 $$c $(DESTDIR)$(BASHCOMPDIR)/$${c##*/}; done
	install -D -m 0644 systemd/ebscrypt.sysusers $(DESTDIR)$(SYSUSERSDIR)/ebscrypt.conf

deps:
	$(INSTALL_DEPS)

# Installs what is missing (a no-op when everything is there), then builds
# in a new make, which looks for the kernel headers only now.
prepare: deps
	$(MAKE) all

# The two README commands: each prepares, then runs. make check (and so CI)
# builds with -Werror; a plain `make`, the demo and a packager's build do not.
check: export WERROR ?= 1
check: prepare
	tests/run-all

demo: prepare
	tests/vm/run --disk 1G tests/demo/demo.sh

# The target alone, keyed by hand with keyctl and dmsetup.
demo-kernel: prepare
	tests/vm/run --disk 1G tests/demo/kernel.sh

# Unit tests and the KMS service over HTTP, on the build machine, with
# sanitizers; neither root nor QEMU needed.
check-unit:
	$(MAKE) -C tests unit

# Kernel selftests and end-to-end tests in QEMU (optionally filtered: T=kernel/10).
check-vm: all
	tests/run-vm-suite $(T)

# Only the product's end-to-end tests (kmsd + agent + ebscryptctl + target).
check-e2e: all
	tests/run-vm-suite e2e/

# The kernel selftests under a KASAN/lockdep/kmemleak kernel (builds it first).
check-debug: all
	tests/run-debug $(T)

# The kernel and end-to-end suites on every kernel of the matrix (6.1,
# 6.1-rt, 6.12, 7.x; K="6.12 7.x" for some), fetched into the cache first.
check-kernels: prepare
	tests/run-kernels $(K)

# Fetch and unpack the matrix's kernels into the cache (no tests).
kernels:
	scripts/kernels fetch

bench: prepare
	$(if $(K),EBSCRYPT_KERNEL=$(K)) tests/bench/run

bench-smoke: all
	$(if $(K),EBSCRYPT_KERNEL=$(K)) tests/bench/run --smoke

# Snapshot/restore/copy throughput against dd on the same store (SIZE=MiB, BEFORE=REV).
bench-snapshot: all
	tests/bench/run-snapshot $(if $(BEFORE),--before $(BEFORE)) $(SIZE)

# ebscrypt-kmsd requests/s and p99 on loopback: SQLite and PostgreSQL, durable
# and not, concurrency 1/8/64; writes docs/benchmarks-kms.json.
bench-kms: all
	tests/bench/kms

# Volumes moving between three hosts (graceful, crash, refused hosts, key
# states), in full; make check runs its graceful move (e2e/fleet-move).
check-fleet: all
	bash tests/fleet/fleet.host.sh

# The harness's own tests: guests on private networks, the systemd guest.
check-harness: all
	tests/run-vm-suite harness/

# The README's two commands, each the first time on a fresh Debian 12
# machine (a chroot made by mmdebstrap; REV= picks the commit to clone).
check-fresh:
	tests/fresh-machine $(if $(REV),--rev $(REV)) both

# An agent with no static secret (instance metadata) failing over between
# two kmsd instances while it attaches, in a test VM on a private network.
check-failover: all
	@for t in tests/failover/*.host.sh; do bash $$t || exit 1; done
.PHONY: check-failover

# Slower harness self-tests: the systemd guest (its first image build
# downloads a Debian rootfs), and it booting its own kernel.
check-harness-heavy: all
	@for t in tests/harness-heavy/*.host.sh; do bash $$t || exit 1; done

# The Debian packages ebscrypt and ebscrypt-dkms, into build/deb, lintian-clean.
deb:
	scripts/build-deb $(BUILD)/deb
.PHONY: deb
# The packages on real Debian 12 hosts (two systemd guests, tests/system/):
# the real-host guide step by step, ebscrypttab and fstab across reboots, the
# KMS down at boot, shutdown, a kernel upgrade with DKMS, purge. In make check.
check-system: all
	@for t in tests/system/*.host.sh; do bash $$t || exit 1; done

.PHONY: check-harness check-harness-heavy check-fresh check-fleet check-system

# libFuzzer targets, each for FUZZ_TIME seconds (default 15; 600 for a long run).
fuzz:
	$(MAKE) -C tests fuzz

lint:
	scripts/lint-module
	scripts/lint-tests

clean:
	-$(if $(KDIR),$(MAKE) -C $(KDIR) M=$(TOP) clean)
	rm -rf build build-asan build-fuzz tests/build

# The tree's one version, for scripts that build the module from a copy.
print-version:
	@echo $(EBS_VERSION)
.PHONY: print-version
