#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One version, from one place (the newest entry of debian/changelog):
# every program's --version says it, and so does the module when built.
# A tree without debian/ (the module source ebscrypt-dkms installs) takes
# it from its VERSION file. The packages themselves are checked in a real
# Debian guest (tests/system/real-host.host.sh).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
BIN=${BUILD:-$top/build}/bin
TAP_TMP=$(mktemp -d)
trap 'rm -rf "$TAP_TMP"' EXIT
VERSION=$(awk 'NR == 1 { gsub(/[()]/, "", $2); print $2; exit }' "$top/debian/changelog")

t_changelog() {
	grep -qx '[0-9][0-9.]*[0-9a-z.+~-]*' <<<"$VERSION"
	# dpkg reads the same version from the same file.
	if command -v dpkg-parsechangelog > /dev/null; then
		assert_eq "$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)" "$VERSION"
	fi
}

t_programs() {
	local p
	for p in ebscrypt-kmsd ebscrypt-agent ebscryptctl ebscrypt-probe; do
		assert_eq "$("$BIN/$p" --version)" "$p $VERSION"
	done
}

t_version_file() {
	# What mk/version.mk gives a tree with only a VERSION file.
	mkdir -p "$TAP_TMP/src/mk"
	cp "$top/mk/version.mk" "$TAP_TMP/src/mk/"
	echo 7.8.9 > "$TAP_TMP/src/VERSION"
	printf 'include mk/version.mk\nall:\n\t@echo $(EBS_VERSION)\n' > "$TAP_TMP/src/Makefile"
	assert_eq "$(make -s --no-print-directory -C "$TAP_TMP/src" EBS_VERSION_TOP="$TAP_TMP/src")" 7.8.9
	# Neither: the build stops, rather than making an unversioned module.
	rm "$TAP_TMP/src/VERSION"
	refute make -s --no-print-directory -C "$TAP_TMP/src" EBS_VERSION_TOP="$TAP_TMP/src"
}

t_module() {
	local ko=$top/dm-ebscrypt/dm-ebscrypt.ko
	[ -e "$ko" ] || { echo "# not built here"; return 0; }
	assert_eq "$(modinfo -F version "$ko")" "$VERSION"
}

test_that "debian/changelog's newest entry is a version dpkg reads the same" t_changelog
test_that "every program's --version prints the changelog's version" t_programs
test_that "a tree with a VERSION file and no changelog builds with that version, one with neither not at all" t_version_file
test_that "the module built from this tree carries it as MODULE_VERSION" t_module
tap_done
