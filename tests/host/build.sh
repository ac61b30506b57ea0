#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The build as a packager and a fresh machine drive it: the caller's CFLAGS
# and a distribution's hardening flags, -Werror only on request, the
# installation layout and the paths compiled into the programs, the unit
# tests' libraries, and the kernel headers that `make check` and `make demo`
# install before they build. Every build goes to a scratch directory.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TAP_TMP=$work
# The environment must not choose for the tests.
unset CFLAGS CPPFLAGS LDFLAGS WERROR KDIR KVER PREFIX SYSCONFDIR LOCALSTATEDIR RUNSTATEDIR \
	SBINDIR UNITDIR DESTDIR BUILD SANITIZE MAKEFLAGS MFLAGS
mk() { make -C "$top" -j2 --no-print-directory "$@"; }
# The compile commands a build would run, without running them.
compile_lines() { make -n -C "$top/lib" --no-print-directory BUILD="$work/dry" "$@" | grep -- ' -c -o '; }

# The flag tests need one program, not all of them (each full build is
# minutes of CI's two cores while the other lanes run).
t_cflags_kept() {
	mk -s userspace USER_DIRS="lib tools" BUILD="$work/b1" WERROR=1 CFLAGS="-O2 -g" \
		CPPFLAGS=-D_FORTIFY_SOURCE=3
	grep -q -- "-I$top/lib" "$work/b1/.flags"
	[ -x "$work/b1/bin/ebscryptctl" ]
}

t_fortify_level() {
	# A level from the caller is used as given, and is the only one.
	assert_eq "$(grep -o '_FORTIFY_SOURCE=[0-9]' "$work/b1/.flags" | tr '\n' ' ')" "_FORTIFY_SOURCE=3 "
	nm -D "$work/b1/bin/ebscryptctl" | grep -q ' U __[a-z_]*_chk'
	# Without one, the build picks 2; and none when not optimising.
	compile_lines | grep -q -- ' -D_FORTIFY_SOURCE=2 '
	compile_lines CFLAGS=-O0 >"$work/o0"
	[ -s "$work/o0" ]
	refute grep -q _FORTIFY_SOURCE "$work/o0"
}

t_werror_on_request() {
	compile_lines >"$work/plain"
	[ -s "$work/plain" ]
	refute grep -q -- -Werror "$work/plain"
	compile_lines WERROR=1 | grep -q -- ' -Werror '
	# make check (and so CI) asks for it: make's database, without running anything.
	make -C "$top" -pq check 2>/dev/null | grep -qx 'check: WERROR = 1'
}

# Debian's build flags with every hardening feature, the way debhelper passes
# them, and a layout with the configured directories in the scratch area.
deb() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
LAYOUT=(PREFIX=/opt/ebs SYSCONFDIR="$work/etc" LOCALSTATEDIR="$work/var" RUNSTATEDIR="$work/run")

t_debian_flags() {
	mk -s install-userspace BUILD="$work/b2" WERROR=1 CFLAGS="$(deb CFLAGS)" CPPFLAGS="$(deb CPPFLAGS)" \
		LDFLAGS="$(deb LDFLAGS)" "${LAYOUT[@]}" DESTDIR="$work/root" KDIR="$work/no-kernel-tree"
	assert_eq "$(grep -o '_FORTIFY_SOURCE=[0-9]' "$work/b2/.flags" | sort -u | wc -l)" 1
}

t_install_userspace() {
	local p
	for p in ebscryptctl ebscrypt-agent ebscrypt-kmsd; do [ -x "$work/root/opt/ebs/sbin/$p" ]; done
	[ -f "$work/root/opt/ebs/share/man/man8/ebscryptctl.8" ]
	[ -f "$work/root/opt/ebs/share/doc/ebscrypt/README.md" ]
	assert_eq "$(find "$work/root" -name '*.ko')" ""
	grep -qx "ExecStart=/opt/ebs/sbin/ebscrypt-agent --foreground --config $work/etc/ebscrypt/agent.conf" \
		"$work/root/opt/ebs/lib/systemd/system/ebscrypt-agent.service"
	grep -qx "ExecStart=/opt/ebs/sbin/ebscrypt-kmsd --config $work/etc/ebscrypt/kmsd.conf --foreground" \
		"$work/root/opt/ebs/lib/systemd/system/ebscrypt-kmsd.service"
	grep -qx "ReadWritePaths=$work/var/lib/ebscrypt-kmsd" \
		"$work/root/opt/ebs/lib/systemd/system/ebscrypt-kmsd.service"
}

t_paths_compiled_in() {
	local bin=$work/root/opt/ebs/sbin
	refute -m "$work/etc/ebscrypt/agent.conf" "$bin/ebscrypt-agent" --foreground
	refute -m "$work/etc/ebscrypt/kmsd.conf" "$bin/ebscrypt-kmsd" --foreground
	# kmsd's state directory, from a config that does not name one (a file
	# there stops it before it would listen).
	printf 'listen = 127.0.0.1:0\n' >"$work/kmsd.conf"
	chmod 600 "$work/kmsd.conf"
	mkdir -p "$work/var/lib"
	: >"$work/var/lib/ebscrypt-kmsd"
	refute -m "$work/var/lib/ebscrypt-kmsd" timeout 20 "$bin/ebscrypt-kmsd" --config "$work/kmsd.conf" --foreground
	# ebscryptctl's state directory, agent socket and config file.
	"$bin/ebscryptctl" config set encrypt-by-default off
	[ -f "$work/var/lib/ebscrypt/config.json" ]
	refute -m "no socket at $work/run/ebscrypt/agent.sock" "$bin/ebscryptctl" agent status
	mkdir -p "$work/etc/ebscrypt"
	echo "not a setting" >"$work/etc/ebscrypt/ebscryptctl.conf"
	chmod 600 "$work/etc/ebscrypt/ebscryptctl.conf"
	refute -m "$work/etc/ebscrypt/ebscryptctl.conf" "$bin/ebscryptctl" config show
}

t_layout_follows_prefix() {
	local u=$work/units
	mk -s units BUILD="$u" PREFIX=/opt/ebs
	grep -qx 'ExecStart=/opt/ebs/sbin/ebscrypt-agent --foreground --config /opt/ebs/etc/ebscrypt/agent.conf' \
		"$u/systemd/ebscrypt-agent.service"
	grep -qx 'ReadWritePaths=/opt/ebs/var/lib/ebscrypt-kmsd' "$u/systemd/ebscrypt-kmsd.service"
	# The system layout by default.
	mk -s units BUILD="$u"
	grep -qx 'ExecStart=/usr/sbin/ebscrypt-agent --foreground --config /etc/ebscrypt/agent.conf' \
		"$u/systemd/ebscrypt-agent.service"
	grep -qx 'ReadWritePaths=/var/lib/ebscrypt-kmsd' "$u/systemd/ebscrypt-kmsd.service"
}

t_unit_tests_not_relinked() {
	make -s -C "$top/tests" all
	stat -c '%Y %n' "$top"/build-asan/tests/test_* "$top"/build-asan/tests/helpers/* >"$work/before"
	sleep 1
	make -s -C "$top/tests" all
	stat -c '%Y %n' "$top"/build-asan/tests/test_* "$top"/build-asan/tests/helpers/* >"$work/after"
	diff "$work/before" "$work/after"
}

# A machine on which the kernel headers are not installed yet: `deps` is a
# stand-in that installs them (a link to the real tree) where the header
# search looks, which is empty before.
t_headers_installed_by_deps() {
	local real root=$work/khroot src=$work/src
	real=$(ls -d /usr/src/linux-headers-*-amd64 | sort | tail -n 1)
	mkdir -p "$root" "$src"
	# The module is built in the source tree: in a copy of it, so that
	# guests booting meanwhile never take a half-written module.
	tar -C "$top" --exclude='./build*' --exclude=./.git --exclude='*.ko' --exclude='*.o' -cf - . |
		tar -C "$src" -xf -
	refute -m "no kernel build tree" make -C "$src" --no-print-directory module KERNEL_HEADERS_ROOT="$root"
	printf '#!/bin/sh\nmkdir -p "%s/usr/src" && ln -s "%s" "%s/usr/src/"\n' "$root" "$real" "$root" >"$work/deps"
	chmod +x "$work/deps"
	make -C "$src" -j2 --no-print-directory prepare INSTALL_DEPS="$work/deps" KERNEL_HEADERS_ROOT="$root" \
		USER_DIRS="lib kms-agent" BUILD="$work/b3" WERROR=1 >"$work/prepare.out" 2>&1 ||
		{ cat "$work/prepare.out"; return 1; }
	grep -q -- "-C $root/usr/src/${real##*/} M=$src modules" "$work/prepare.out"
	[ -f "$src/dm-ebscrypt/dm-ebscrypt.ko" ]
	[ -x "$work/b3/bin/ebscrypt-agent" ]
}

test_that "make CFLAGS=... keeps the project's own flags" t_cflags_kept
test_that "_FORTIFY_SOURCE is the caller's level when given, else 2, and only when optimising" t_fortify_level
test_that "-Werror is off by default and on for make check" t_werror_on_request
if command -v dpkg-buildflags >/dev/null; then
	test_that "Debian's hardening build flags build without a warning under -Werror" t_debian_flags
	test_that "install-userspace installs programs, docs and units with the configured paths and no module" \
		t_install_userspace
	test_that "the programs look for their config, state and socket in the configured directories" \
		t_paths_compiled_in
else
	for n in "Debian's hardening build flags build without a warning under -Werror" \
		 "install-userspace installs programs, docs and units with the configured paths and no module" \
		 "the programs look for their config, state and socket in the configured directories"; do
		tap_skip "$n" "dpkg-buildflags not installed"
	done
fi
test_that "the unit and directory layout follows PREFIX, and is the system's by default" t_layout_follows_prefix
test_that "a second make of the unit tests relinks nothing" t_unit_tests_not_relinked
if ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1; then
	test_that "make prepare (make check, make demo) builds the module against headers its deps step installed" \
		t_headers_installed_by_deps
else
	tap_skip "make prepare (make check, make demo) builds the module against headers its deps step installed" \
		"no linux-headers-*-amd64 installed"
fi
tap_done
