#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Volumes attached at boot, in a real Debian 12 guest with systemd: one
# guest, one disk, a few boots. kmsd serves TLS on the host side of a
# private test network; the guest's agent reaches it over that network.
#   boot 1: install, enrol, create a volume on /dev/vdb, list it in
#           ebscrypttab and fstab;
#   boot 2: the volume is mounted after boot; data written;
#   boot 3: still mounted with the data; the shutdown in between detached it
#           after unmounting, with no "device busy";
#   boot 4: the KMS is down: the boot finishes (nofail), the unit retries,
#           and the mount appears once the KMS is back;
#   then:   stopping the unit unmounts and detaches; no key is left.
# In `make check` (its own lane), and alone as `make check-system`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/lib.sh"
. "$top/tests/vm/netns.sh"
S=$top/tests/vm/sysguest
. "$top/tests/vm/sysguest-install.sh"
work=$(mktemp -d)
G=$work/vm
NS=ebsboot-$$
GUEST_IP=192.0.2.30
KMS_PORT=8443
trap '"$S" kill "$G" 2>/dev/null; testnet_kmsd_stop "$work/kms"; testnet_destroy "$NS"; rm -rf "$work"' EXIT
start=$SECONDS

gx() { "$S" exec "$G" "$@"; }

if ! { testnet_create "$NS" && testnet_tap "$NS" tapb && testnet_pki "$work/pki" "$TESTNET_HOST_IP" &&
	KMS_URL=$(testnet_kmsd_start "$NS" "$work/kms" "$work/pki" "$KMS_PORT"); } > "$work/net.log" 2>&1; then
	echo "not ok 1 - a test network with kmsd is set up for the guest"; tap_diag < "$work/net.log"; exit 1
fi
CREDS=$work/kms/state/credentials
profile_value() { awk -v p="[$1]" -v k="$2" '$0 == p { s = 1; next } /^\[/ { s = 0 } s && $1 == k { print $3 }' "$CREDS"; }

# The same state directory and port as before, as an operator would restart it.
kms_up() {
	# nsenter, not testnet_exec: $! of a backgrounded function is a
	# subshell's, and stopping it would leave kmsd serving.
	nsenter "--net=/run/netns/$NS" -- "$top/build/bin/ebscrypt-kmsd" --state-dir "$work/kms/state" --foreground \
		< /dev/null > /dev/null 2> "$work/kms/kmsd.log" &
	echo $! > "$work/kms/kmsd.pid"
	local i
	for i in $(seq 1 100); do
		grep -q 'listening on' "$work/kms/kmsd.log" && return 0
		sleep 0.1
	done
	cat "$work/kms/kmsd.log"; return 1
}

# mounted_within S: /srv/data is mounted from /dev/mapper/data within S seconds.
mounted_within() {
	gx "for i in \$(seq 1 $(($1 * 2))); do
		findmnt -n -o SOURCE /srv/data | grep -qx /dev/mapper/data && exit 0; sleep 0.5; done
		findmnt /srv/data; systemctl status --no-pager ebscrypt-attach@data.service; exit 1"
}

enrol_and_list() {
	"$S" start "$G" --netns "$NS" --net "tapb,ip=$GUEST_IP/24" --disk 64M --hostname ebs-host
	sysguest_install_ebscrypt "$G"
	"$S" put "$G" "$work/pki/ca.crt" /etc/ebscrypt/kms-ca.crt
	gx "umask 077; mkdir -p /etc/ebscrypt
cat > /etc/ebscrypt/agent.conf <<CONF
kms_endpoint = $KMS_URL
kms_ca_file = /etc/ebscrypt/kms-ca.crt
kms_access_key_id = $(profile_value host aws_access_key_id)
kms_secret_access_key = $(profile_value host aws_secret_access_key)
kms_timeout_ms = 3000
kms_max_retries = 0
CONF
cat > /etc/ebscrypt/ebscryptctl.conf <<CONF
kms_endpoint = $KMS_URL
kms_ca_file = /etc/ebscrypt/kms-ca.crt
kms_access_key_id = $(profile_value admin aws_access_key_id)
kms_secret_access_key = $(profile_value admin aws_secret_access_key)
CONF
systemctl enable --now ebscrypt-agent.service"
	local vol
	gx 'ebscryptctl volume create --device /dev/vdb --encrypted' > "$work/create" || { cat "$work/create"; return 1; }
	vol=$(grep -oE '^vol-[0-9a-f]{17}$' "$work/create")
	echo "$vol" > "$work/vol"
	# mkfs through a first attach; the boot attaches it again with a fresh Decrypt.
	gx "ebscryptctl volume attach $vol --name data && mkfs.ext4 -q /dev/mapper/data &&
		ebscryptctl volume detach data"
	gx "printf 'data %s _netdev\n' $vol > /etc/ebscrypt/ebscrypttab
		mkdir -p /srv/data
		echo '/dev/mapper/data /srv/data ext4 _netdev,x-systemd.requires=ebscrypt-attach@data.service 0 2' >> /etc/fstab
		systemctl daemon-reload"
	# The generator ran: the unit exists, with the line's volume.
	gx 'systemctl cat ebscrypt-attach@data.service' | grep -q "EBSCRYPT_VOLUME=$vol"
}

mounted_after_boot() {
	"$S" reboot "$G"
	mounted_within 5
	assert_eq "$(gx 'systemctl is-active ebscrypt-attach@data.service')" active
	assert_eq "$(gx 'dmsetup table data | cut -d" " -f3')" ebscrypt
	gx 'head -c 1048576 /dev/urandom > /srv/data/blob && sha256sum /srv/data/blob | cut -c1-64 > /root/blob.sum && sync'
}

stays_mounted_and_shutdown_detaches() {
	"$S" reboot "$G"
	mounted_within 5
	assert_eq "$(gx 'sha256sum /srv/data/blob | cut -c1-64')" "$(gx 'cat /root/blob.sum')"
	# The shutdown of the boot before: unmounted first, then detached, and nothing busy.
	gx 'journalctl -b -1 -o cat --no-pager -u ebscrypt-attach@data.service -u srv-data.mount' > "$work/down"
	cat "$work/down"
	grep -q "^detached " "$work/down"
	refute grep -qi "busy" "$work/down"
	local um det
	um=$(grep -n "Unmounted srv-data.mount\|Unmounted /srv/data" "$work/down" | tail -n 1 | cut -d: -f1)
	det=$(grep -n "^detached " "$work/down" | tail -n 1 | cut -d: -f1)
	[ -n "$um" ] && [ "$um" -lt "$det" ] || { echo "unmount (line $um) not before detach (line $det)"; return 1; }
}

kms_down_at_boot() {
	gx "sed -i 's/_netdev\$/_netdev,nofail/' /etc/ebscrypt/ebscrypttab
		sed -i 's|ext4 _netdev,|ext4 _netdev,nofail,|' /etc/fstab"
	testnet_kmsd_stop "$work/kms"
	# reboot returns at multi-user: the boot finished with the volume not attached.
	"$S" reboot "$G"
	assert_eq "$(gx 'systemctl is-active multi-user.target')" active
	refute gx 'findmnt /srv/data'
	assert_eq "$(gx 'systemctl is-active ebscrypt-attach@data.service')" activating
	gx 'sleep 4; journalctl -b -o cat --no-pager -u ebscrypt-attach@data.service' > "$work/retry"
	cat "$work/retry"
	grep -q "KMS at .* unreachable.*retrying in" "$work/retry"
	kms_up
	mounted_within 60
	assert_eq "$(gx 'systemctl is-active ebscrypt-attach@data.service')" active
	assert_eq "$(gx 'sha256sum /srv/data/blob | cut -c1-64')" "$(gx 'cat /root/blob.sum')"
}

stop_detaches_and_wipes() {
	gx 'systemctl stop ebscrypt-attach@data.service'
	refute gx 'findmnt /srv/data'
	refute gx 'dmsetup info data'
	refute gx 'dmsetup info data-base'
	# No volume key anywhere the kernel lists keys.
	refute gx 'grep -q ebscrypt /proc/keys'
	"$S" stop "$G"
}

test_that "a volume listed in ebscrypttab and fstab gets its unit from the generator" enrol_and_list
test_that "the volume is attached and mounted after boot" mounted_after_boot
test_that "the volume stays mounted across a reboot, whose shutdown unmounted and then detached it cleanly" \
	stays_mounted_and_shutdown_detaches
test_that "with the KMS down at boot, nofail lets the boot finish, the unit retries, and the mount appears once the KMS is back" \
	kms_down_at_boot
test_that "stopping the unit unmounts, detaches, leaves no key, and the guest powers off cleanly" \
	stop_detaches_and_wipes
echo "# boot.host.sh took $((SECONDS - start))s"
tap_done
