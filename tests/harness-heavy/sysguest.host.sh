#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The systemd guest (tests/vm/sysguest): a Debian 12 rootfs from mmdebstrap
# boots to multi-user, runs commands with their output and status, takes
# files in and gives them back, keeps its disk and its journal across a
# reboot and a restart, and powers off clean; a guest kernel WARNING makes
# `stop` fail. The first run on a machine builds the cached image.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/netns.sh"
S=$top/tests/vm/sysguest
work=$(mktemp -d)
G=$work/vm
NS=ebssys-$$
GUEST_IP=192.0.2.20
trap '"$S" kill "$G" 2>/dev/null; testnet_destroy "$NS"; rm -rf "$work"' EXIT

start=$SECONDS
base=$("$S" image) || { echo "not ok 1 - the systemd guest image builds"; exit 1; }
echo "# image ready after $((SECONDS - start))s"
base_mtime=$(stat -c %Y "$base")
# A KMS on the host side of a private network, for the guest to reach.
if ! { testnet_create "$NS" && testnet_tap "$NS" tapg && testnet_pki "$work/pki" "$TESTNET_HOST_IP" &&
	KMS_URL=$(testnet_kmsd_start "$NS" "$work/kms" "$work/pki"); } > "$work/net.log" 2>&1; then
	echo "not ok 1 - a test network with kmsd is set up for the guest"; tap_diag < "$work/net.log"; exit 1
fi

boots_to_multi_user() {
	"$S" start "$G" --netns "$NS" --net "tapg,ip=$GUEST_IP/24" --hostname host-a
	assert_eq "$("$S" exec "$G" 'systemctl is-system-running --wait')" running
	assert_eq "$("$S" exec "$G" hostname)" host-a
	assert_eq "$("$S" exec "$G" 'systemctl is-active multi-user.target; cat /proc/1/comm')" "active
systemd"
	local rc=0
	"$S" exec "$G" 'echo out; echo err >&2; exit 4' > "$work/out" || rc=$?
	assert_eq "$rc" 4
	assert_eq "$(cat "$work/out")" "out
err"
}

kmsd_reachable_over_tls() {
	# networkd configured the address at boot, and there is no way out.
	"$S" exec "$G" 'ip -4 -o addr show dev eth0' | grep -q "inet $GUEST_IP/24"
	assert_eq "$("$S" exec "$G" 'ip route show default')" ""
	"$S" put "$G" "$work/pki/ca.crt" /etc/ebscrypt-test/ca.crt
	"$S" exec "$G" "curl -sS --cacert /etc/ebscrypt-test/ca.crt -d '{}' \
		-H 'X-Amz-Target: TrentService.ListKeys' $KMS_URL" > "$work/reply"
	# Reached and verified; unsigned, so the service refuses it as KMS would.
	cat "$work/reply"
	jq -e '.__type | test("MissingAuthenticationToken|IncompleteSignature|AccessDenied")' "$work/reply"
}

file_goes_in_and_out() {
	head -c 3145728 /dev/urandom > "$work/blob"
	"$S" put "$G" "$work/blob" /root/in/blob.deb
	assert_eq "$("$S" exec "$G" 'sha256sum /root/in/blob.deb | cut -d" " -f1')" \
		"$(sha256sum "$work/blob" | cut -d' ' -f1)"
	"$S" get "$G" /root/in/blob.deb "$work/back"
	cmp "$work/blob" "$work/back"
}

unit_journal_is_readable() {
	"$S" exec "$G" 'cat > /etc/systemd/system/ebs-hello.service <<EOF
[Service]
Type=oneshot
ExecStart=/bin/echo hello from a unit
EOF
systemctl daemon-reload && systemctl start ebs-hello.service'
	"$S" exec "$G" 'journalctl -u ebs-hello.service -o cat --no-pager' | grep -qx 'hello from a unit'
}

reboot_keeps_disk_and_control() {
	local before after
	before=$("$S" exec "$G" 'echo kept > /root/marker; sync; cat /proc/sys/kernel/random/boot_id')
	"$S" reboot "$G"
	after=$("$S" exec "$G" 'cat /proc/sys/kernel/random/boot_id')
	[ "$before" != "$after" ] || { echo "same boot id $before after the reboot"; return 1; }
	assert_eq "$("$S" exec "$G" 'cat /root/marker')" kept
	# The journal is persistent: the unit's line is in the previous boot's.
	"$S" exec "$G" 'journalctl -b -1 -u ebs-hello.service -o cat --no-pager' | grep -qx 'hello from a unit'
}

powers_off_cleanly() {
	"$S" stop "$G"
	refute "$S" alive "$G"
	# The guest's writes went to its overlay, never into the shared image.
	assert_eq "$(stat -c %Y "$base")" "$base_mtime"
}

warning_fails_stop() {
	cp -r "$top/tests/harness/warnmod" "$work/warnmod"
	make -s -C "${KDIR:-/lib/modules/$(. "$top/tests/vm/lib.sh"; echo "$VM_KVER")/build}" \
		M="$work/warnmod" modules > /dev/null 2>&1
	"$S" start "$G" # the same disk again
	assert_eq "$("$S" exec "$G" 'cat /root/marker')" kept
	"$S" put "$G" "$work/warnmod/ebscrypt_warn_test.ko" /root/warn.ko
	"$S" exec "$G" 'insmod /root/warn.ko'
	local rc=0
	"$S" stop "$G" > "$work/stop.out" 2>&1 || rc=$?
	cat "$work/stop.out"
	assert_eq "$rc" 125
}

test_that "a Debian guest with systemd boots to multi-user and returns a command's output and status" boots_to_multi_user
test_that "the systemd guest gets its test-network address at boot and reaches kmsd over TLS" kmsd_reachable_over_tls
test_that "a file copied into the systemd guest arrives intact and comes back out" file_goes_in_and_out
test_that "a unit's output is readable in the guest's journal" unit_journal_is_readable
test_that "the guest reboots on the same disk, keeps its journal and answers again" reboot_keeps_disk_and_control
test_that "the guest powers off cleanly and leaves the shared base image untouched" powers_off_cleanly
test_that "a guest kernel WARNING makes the guest's stop fail" warning_fails_stop
echo "# sysguest.host.sh took $((SECONDS - start))s"
tap_done
