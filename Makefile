# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt top-level build.
#
#   make                 module + userspace programs
#   make check           every test (unit, KMS over HTTP, kernel selftests in QEMU)
#   make demo            the whole EBS flow in the test VM
#   make bench           fio benchmarks in the test VM (ratios vs dm-crypt)
#   make install DESTDIR=... KVER=...
#
# KDIR: kernel build tree. Defaults to the running kernel's when it exists,
# else the newest installed Debian linux-headers-*-amd64 (the test VM's kernel).
# KVER: the kernel release the module is for; derived from KDIR.

TOP := $(CURDIR)
export TOP

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
          $(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64))))
# From the tree's utsrelease.h: Debian's headers answer `make kernelrelease`
# with the upstream version (6.1.192), not the release (6.1.0-56-amd64).
KVER ?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
export KDIR KVER

DESTDIR ?=
PREFIX  ?= /usr
SBINDIR ?= $(PREFIX)/sbin
# After the definition: `export` of a still-undefined variable defines it
# empty, and the ?= above would then never apply (programs landed in DESTDIR/).
export DESTDIR PREFIX SBINDIR
DOCDIR  ?= $(PREFIX)/share/doc/ebscrypt
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= /lib/systemd/system

USER_DIRS := lib kms-agent tools

.PHONY: all module userspace install clean check check-unit check-vm check-debug check-e2e \
        demo demo-kernel \
        bench bench-smoke bench-snapshot lint deps

all: module userspace

module:
	@test -n "$(KDIR)" || { echo "no kernel build tree: install linux-headers-amd64 or set KDIR" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) modules

userspace:
	@for d in $(USER_DIRS); do $(MAKE) -C $$d || exit 1; done

install: all
	install -D -m 0644 dm-ebscrypt/dm-ebscrypt.ko \
		$(DESTDIR)/lib/modules/$(KVER)/extra/dm-ebscrypt.ko
	@for d in $(USER_DIRS); do $(MAKE) -C $$d install || exit 1; done
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 README.md dm-ebscrypt/dm-ebscrypt.rst $(DESTDIR)$(DOCDIR)/
	@if [ -d docs ]; then cp -r docs/. $(DESTDIR)$(DOCDIR)/; fi
	@if [ -d man ]; then for m in man/*.[0-9]; do [ -e "$$m" ] || continue; \
		s=$${m##*.}; install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done; fi
	@if [ -d systemd ]; then for u in systemd/*; do [ -e "$$u" ] || continue; \
		install -D -m 0644 $$u $(DESTDIR)$(UNITDIR)/$${u##*/}; done; fi

deps:
	scripts/install-deps.sh

# The two README commands: each installs what it needs first (a no-op when
# everything is there), then builds, then runs.
check: deps
	$(MAKE) all
	tests/run-all

demo: deps
	$(MAKE) all
	tests/vm/run --disk 1G tests/demo/demo.sh

# The target alone, keyed by hand with keyctl and dmsetup.
demo-kernel: deps
	$(MAKE) all
	tests/vm/run --disk 1G tests/demo/kernel.sh

# Unit tests and the KMS service over HTTP, on the build machine, with sanitizers.
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

bench: deps
	$(MAKE) all
	tests/bench/run

bench-smoke: all
	tests/bench/run --smoke

# Snapshot/restore/copy throughput against dd on the same store (SIZE=MiB, BEFORE=REV).
bench-snapshot: all
	tests/bench/run-snapshot $(if $(BEFORE),--before $(BEFORE)) $(SIZE)

lint:
	scripts/lint-module
	scripts/lint-tests

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean
	rm -rf build build-asan tests/build
