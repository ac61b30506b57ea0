# SPDX-License-Identifier: GPL-2.0
#
# Shared by the tests that install ebscrypt's packages into systemd guests
# (tests/realhost/*.host.sh, make check-host): the guest image
# they share, and docs/real-host.md cut into its steps.
. "$(dirname "${BASH_SOURCE[0]}")/../vm/lib.sh"

# What the packages and the guide need that a minimal Debian 12 lacks:
# ebscrypt's libraries, DKMS with a compiler and the headers of the
# guest's kernel, openssl and jq for the guide, and what a kernel package
# from the archive needs to install (initramfs-tools, linux-base, pahole).
# The guest has no network to the archive, so all of it is in the image;
# one list, so every such test shares one cached image.
REALHOST_PACKAGES="dkms gcc make linux-headers-$VM_KVER libcurl4 libdevmapper1.02.1 libjson-c5
libkeyutils1 libmicrohttpd12 libsqlite3-0 libssl3 openssl jq initramfs-tools linux-base dwarves"

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
