# SPDX-License-Identifier: GPL-2.0
#
# Shared by the tests that install ebscrypt's packages into systemd guests
# (tests/system/real-host.host.sh): the guest image
# they share, and docs/real-host.md cut into its steps.
. "$(dirname "${BASH_SOURCE[0]}")/../vm/lib.sh"

# What the packages and the guide need that a minimal Debian 12 lacks:
# DKMS with a compiler and the headers of the guest's kernel, openssl and
# jq for the guide, and what a kernel package from the archive needs to
# install (initramfs-tools and its zstd, linux-base, pahole). The guest has no network
# to the archive, so all of it is in the image; one list, so every such
# test shares one cached image.
REALHOST_PACKAGES="dkms gcc make linux-headers-$VM_KVER openssl jq initramfs-tools zstd linux-base dwarves"

# realhost_packages DEB...: REALHOST_PACKAGES and whatever the built
# packages depend on (the first of each alternative, no versions), read
# from the .debs themselves (less the packages themselves, which the
# tests install): a new library the programs link cannot be missing from
# the guests.
realhost_packages() {
	local deb own
	own=$(for deb in "$@"; do dpkg-deb -f "$deb" Package; done)
	{
		printf '%s\n' $REALHOST_PACKAGES
		for deb in "$@"; do
			dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g'
		done
	} | grep . | grep -vxF "$own" | sort -u | tr '\n' ' '
}

# realhost_steps GUIDE OUTDIR: one file per step, in order: NN.MACHINE.sh
# for a shell block under "<!-- step: MACHINE -->", NN.copy holding
# "FROM:PATH TO:PATH" for "<!-- copy: FROM:PATH TO:PATH -->".
realhost_steps() {
	mkdir -p "$2"
	awk -v out="$2" '
	function name(kind) { n++; return sprintf("%s/%02d.%s", out, n, kind) }
	/^<!-- step: [a-z]+ -->$/ { machine = $3; next }
	/^<!-- copy: [^ ]+ [^ ]+ -->$/ { f = name("copy"); print $3, $4 > f; close(f); next }
	machine != "" && /^```sh$/ { f = name(machine ".sh"); print "set -e" > f; inblock = 1; next }
	inblock && /^```$/ { close(f); inblock = 0; machine = ""; next }
	inblock { print > f }
	' "$1"
}
