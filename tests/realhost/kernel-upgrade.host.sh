#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A kernel upgrade on a real Debian 12 host (a systemd guest): with the
# packages installed and an encrypted volume in use on Debian 12's 6.1, the
# 6.12 kernel and headers from bookworm-backports are installed with apt;
# DKMS builds the module for 6.12 before the reboot, and after the reboot
# into 6.12 the volume attaches and its data is there. The KMS runs over
# TLS on the host side of the test network. Not in `make check` (a kernel
# package, its initramfs and a second DKMS build under emulation take
# minutes): `make check-host`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/realhost.sh"
. "$top/tests/vm/netns.sh"
S=$top/tests/vm/sysguest
work=$(mktemp -d)
TAP_TMP=$work
G=$work/host NS=ebsku-$$
trap '"$S" kill "$G" 2>/dev/null; testnet_kmsd_stop "$work/kms"; testnet_destroy "$NS" 2>/dev/null; rm -rf "$work"' EXIT
start=$SECONDS
VERSION=$(awk 'NR == 1 { gsub(/[()]/, "", $2); print $2; exit }' "$top/debian/changelog")
on() { "$S" exec "$G" --timeout 900 "$1"; }

installed_on_6_1() {
	# REALHOST_DEBS=DIR: packages scripts/build-deb already made there.
	if [ -n "${REALHOST_DEBS:-}" ]; then
		mkdir -p "$work/deb" && cp "$REALHOST_DEBS"/*.deb "$work/deb/"
	else
		"$top/scripts/build-deb" "$work/deb" > "$work/build-deb.out" 2>&1 || { cat "$work/build-deb.out"; return 1; }
	fi
	"$top/scripts/kernels" fetch 6.12 > "$work/kernels.out" 2>&1 || { cat "$work/kernels.out"; return 1; }
	{ testnet_create "$NS" && testnet_tap "$NS" tapu && testnet_pki "$work/pki" "$TESTNET_HOST_IP"; } \
		> "$work/net.log" 2>&1 || { cat "$work/net.log"; return 1; }
	KMS_URL=$(testnet_kmsd_start "$NS" "$work/kms" "$work/pki")
	"$S" start "$G" --packages "$REALHOST_PACKAGES" --netns "$NS" --net tapu,ip=192.0.2.30/24 --disk 128M --timeout 3600
	local f
	for f in "$work/deb/ebscrypt_${VERSION}_amd64.deb" "$work/deb/ebscrypt-dkms_${VERSION}_all.deb"; do
		"$S" put "$G" "$f" "/root/pkgs/${f##*/}"
	done
	"$S" put "$G" "$work/pki/ca.crt" /root/kms-ca.crt
	"$S" put "$G" "$work/kms/state/credentials" /root/credentials
	on 'apt-get install -y /root/pkgs/*.deb' > "$work/install.out" 2>&1 || { cat "$work/install.out"; return 1; }
	on "set -e
	key() { sed -n \"/^\\[\$1\\]/,/^\\[/s/^aws_\$2 = //p\" /root/credentials; }
	install -m 0644 /root/kms-ca.crt /etc/ebscrypt/kms-ca.crt
	cat > /etc/ebscrypt/agent.conf <<CONF
socket = /run/ebscrypt/agent.sock
group = ebscrypt
kms_endpoint = $KMS_URL
kms_ca_file = /etc/ebscrypt/kms-ca.crt
kms_region = us-east-1
kms_access_key_id = \$(key host access_key_id)
kms_secret_access_key = \$(key host secret_access_key)
CONF
	cat > /etc/ebscrypt/ebscryptctl.conf <<CONF
kms_endpoint = $KMS_URL
kms_ca_file = /etc/ebscrypt/kms-ca.crt
kms_region = us-east-1
kms_access_key_id = \$(key admin access_key_id)
kms_secret_access_key = \$(key admin secret_access_key)
CONF
	rm /root/credentials
	systemctl enable --now ebscrypt-agent
	ebscryptctl --json volume create --device /dev/vdb --encrypted > /root/vol.json
	vol=\$(jq -r .volume_id /root/vol.json)
	ebscryptctl volume attach \$vol --name data
	mkfs.ext4 -q /dev/mapper/data
	mkdir -p /srv/data && mount /dev/mapper/data /srv/data
	head -c 1048576 /dev/urandom > /srv/data/blob && sha256sum /srv/data/blob > /root/blob.sum
	umount /srv/data && ebscryptctl volume detach data"
	echo "# installed and a volume in use after $((SECONDS - start))s"
}

dkms_builds_for_the_new_kernel() {
	local f t0=$SECONDS
	KVER_NEW=$(eval "$("$top/scripts/kernels" env 6.12)"; echo "$K_KVER")
	[ -n "$KVER_NEW" ]
	echo "$KVER_NEW" > "$work/kver"
	for f in $("$top/scripts/kernels" debs 6.12); do "$S" put "$G" "$f" "/root/kernel/${f##*/}"; done
	on 'apt-get install -y --no-install-recommends /root/kernel/*.deb' > "$work/kernel.out" 2>&1 || { tail -n 60 "$work/kernel.out"; return 1; }
	echo "# kernel installed (initramfs, DKMS) in $((SECONDS - t0))s"
	on 'dkms status ebscrypt' | tee "$work/dkms"
	grep -q "^ebscrypt/$VERSION, $KVER_NEW, x86_64: installed" "$work/dkms"
	grep -q "^ebscrypt/$VERSION, $VM_KVER, x86_64: installed" "$work/dkms"
	assert_eq "$(on "modinfo -k $KVER_NEW -F version dm-ebscrypt")" "$VERSION"
	on "test -s /boot/initrd.img-$KVER_NEW"
}

attaches_after_reboot_into_it() {
	local kver_new
	kver_new=$(cat "$work/kver")
	"$S" reboot "$G" --kernel "guest:$kver_new"
	assert_eq "$(on 'uname -r')" "$kver_new"
	assert_eq "$(on 'systemctl is-system-running --wait')" running
	on 'vol=$(jq -r .volume_id /root/vol.json); ebscryptctl volume attach $vol --name data &&
		mount /dev/mapper/data /srv/data && cd /srv/data && sha256sum -c /root/blob.sum'
	assert_eq "$(on 'cat /sys/module/dm_ebscrypt/version')" "$VERSION"
	on 'umount /srv/data && ebscryptctl volume detach data'
	"$S" stop "$G"
}

test_that "the packages are installed on 6.1 and an encrypted volume holds data" installed_on_6_1
test_that "installing the 6.12 kernel and headers makes DKMS build the module for it" dkms_builds_for_the_new_kernel
test_that "after a reboot into 6.12 the volume attaches and its data is intact" attaches_after_reboot_into_it
echo "# kernel-upgrade.host.sh took $((SECONDS - start))s"
tap_done
