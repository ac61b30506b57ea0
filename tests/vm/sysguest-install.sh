# SPDX-License-Identifier: GPL-2.0
#
# Puts ebscrypt into a systemd guest (tests/vm/sysguest) the way a host
# gets it: the one place the tests install the project into a real Debian
# guest, so the way it is installed can change here alone. Today it is
# `make install` into a staging root (programs, units, generator, man
# pages, the module for the guest's kernel), unpacked over the guest's /,
# then depmod and a daemon-reload.
#
#   . tests/vm/sysguest-install.sh
#   sysguest_install_ebscrypt DIR     # DIR: a running guest
#
# Needs tests/vm/lib.sh (VM_KVER) and the sysguest command in $S.

sysguest_install_ebscrypt() {
	local dir=$1 stage
	stage=$(mktemp -d) || return 1
	make -s -C "$VM_TOP" install DESTDIR="$stage/root" KVER="$VM_KVER" > "$stage/make.log" 2>&1 ||
		{ cat "$stage/make.log"; rm -rf "$stage"; return 1; }
	tar -C "$stage/root" -czf "$stage/ebscrypt.tgz" . || { rm -rf "$stage"; return 1; }
	"$S" put "$dir" "$stage/ebscrypt.tgz" /root/ebscrypt.tgz || { rm -rf "$stage"; return 1; }
	rm -rf "$stage"
	# /lib is a link to /usr/lib on Debian 12: keep it one.
	"$S" exec "$dir" "tar -C / --keep-directory-symlink --no-same-owner -xzf /root/ebscrypt.tgz &&
		depmod -a $VM_KVER && systemctl daemon-reload && rm /root/ebscrypt.tgz"
}
