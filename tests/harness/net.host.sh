#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Several long-lived guests on a private test network (tests/vm/guest,
# tests/vm/netns.sh): the control channel returns output and status, the
# guests reach each other and the servers on the namespace's host side (a
# real ebscrypt-kmsd over TLS, a real nbd-server), steps on different
# guests run in the order the host gives, nothing is routed out, and a
# killed guest's disk serves a new guest.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/netns.sh"
G=$top/tests/vm/guest
work=$(mktemp -d)
NS=ebsnet-$$
A=$work/a B=$work/b
A_IP=192.0.2.10 B_IP=192.0.2.11

cleanup() {
	"$G" kill "$A" 2>/dev/null
	"$G" kill "$B" 2>/dev/null
	testnet_destroy "$NS"
	rm -rf "$work"
}
trap cleanup EXIT

setup() {
	testnet_create "$NS" && testnet_tap "$NS" tapa && testnet_tap "$NS" tapb &&
	testnet_pki "$work/pki" "$TESTNET_HOST_IP" && testnet_pki "$work/other-pki" "$TESTNET_HOST_IP" &&
	KMS_URL=$(testnet_kmsd_start "$NS" "$work/kms" "$work/pki") &&
	truncate -s 32M "$work/store.img" &&
	testnet_nbd_start "$NS" "$work/nbd" "store=$work/store.img" || return 1
	# Both boot at once: the harness must cope with concurrent guests.
	"$G" start "$A" --netns "$NS" --net "tapa,ip=$A_IP/24" --hostname a --disk 64M --timeout 900 &
	local pa=$!
	"$G" start "$B" --netns "$NS" --net "tapb,ip=$B_IP/24" --hostname b --timeout 900
	local rb=$?
	wait "$pa" && [ "$rb" -eq 0 ]
}
start=$SECONDS
if ! setup > "$work/setup.log" 2>&1; then
	echo "not ok 1 - two guests boot on a private test network with kmsd and nbd-server beside them"
	tap_diag < "$work/setup.log"
	exit 1
fi
echo "# setup (namespace, kmsd, nbd-server, two guests) took $((SECONDS - start))s"

output_and_status_return() {
	local out rc=0
	out=$("$G" exec "$A" 'printf "%s|" "$(hostname)" "two  spaces" "q'"'"'uote"; echo; echo to-stderr >&2; exit 3') || rc=$?
	assert_eq "$rc" 3
	assert_eq "$out" "a|two  spaces|q'uote|
to-stderr"
	out=$(printf 'echo from stdin; exit 0\n' | "$G" exec "$B" -)
	assert_eq "$out" "from stdin"
}

overlong_step_is_killed() {
	local rc=0
	"$G" exec "$A" --timeout 2 'sleep 60' || rc=$?
	[ "$rc" -ne 0 ] || { echo "a 60 s sleep passed a 2 s limit"; return 1; }
	assert_eq "$("$G" exec "$A" 'echo still here')" "still here"
}

guests_reach_each_other() {
	"$G" exec "$A" "ping -c 2 -W 5 $B_IP"
	"$G" exec "$B" "ping -c 2 -W 5 $A_IP"
}

kmsd_over_tls() {
	local ak sk
	ak=$(sed -n '/^\[host\]/,/^$/s/^aws_access_key_id = //p' "$work/kms/state/credentials")
	sk=$(sed -n '/^\[host\]/,/^$/s/^aws_secret_access_key = //p' "$work/kms/state/credentials")
	printf 'user = "%s:%s"\n' "$ak" "$sk" > "$work/curl.conf"
	"$G" put "$B" "$work/pki/ca.crt" /root/ca.crt
	"$G" put "$B" "$work/curl.conf" /root/curl.conf
	# A SigV4-signed KMS call, the certificate checked against the test CA.
	"$G" exec "$B" "curl -sS --fail-with-body --cacert /root/ca.crt -K /root/curl.conf \
		--aws-sigv4 aws:amz:us-east-1:kms -H 'X-Amz-Target: TrentService.DescribeKey' \
		-H 'Content-Type: application/x-amz-json-1.1' -d '{\"KeyId\":\"alias/aws/ebs\"}' \
		$KMS_URL" > "$work/describe.json"
	jq -e '.KeyMetadata.KeyState == "Enabled"' "$work/describe.json"
	# Against another CA the same call must fail verification (curl status 60).
	local rc=0
	"$G" put "$B" "$work/other-pki/ca.crt" /root/other-ca.crt
	"$G" exec "$B" "curl -sS -o /dev/null --cacert /root/other-ca.crt -K /root/curl.conf -d '{}' $KMS_URL" || rc=$?
	assert_eq "$rc" 60
}

nothing_routed_out() {
	testnet_assert_isolated "$NS"
	local routes
	routes=$("$G" exec "$A" 'ip route')
	assert_eq "$routes" "192.0.2.0/24 dev eth0 scope link  src 192.0.2.10 "
	# 198.51.100.1 (TEST-NET-2) has no route: refused before anything is sent.
	"$G" exec "$A" 'ping -c 1 -W 1 198.51.100.1 2>&1; exit 0' | grep -q 'unreachable'
}

steps_in_host_order() {
	"$G" exec "$A" 'modprobe nbd && nbd-client -N store 192.0.2.1 /dev/nbd0 && 
		echo written-by-a | dd of=/dev/nbd0 bs=4096 conv=sync,fsync status=none && nbd-client -d /dev/nbd0'
	"$G" exec "$B" 'modprobe nbd && nbd-client -N store 192.0.2.1 /dev/nbd0 &&
		test "$(head -c 12 /dev/nbd0)" = written-by-a &&
		echo written-by-b | dd of=/dev/nbd0 bs=4096 seek=1 conv=sync,fsync status=none && nbd-client -d /dev/nbd0'
	assert_eq "$("$G" exec "$A" 'nbd-client -N store 192.0.2.1 /dev/nbd0 >/dev/null 2>&1 &&
		dd if=/dev/nbd0 bs=4096 skip=1 count=1 status=none | head -c 12; nbd-client -d /dev/nbd0 >/dev/null 2>&1')" \
		written-by-b
	# And the store on the host side holds both.
	assert_eq "$(head -c 12 "$work/store.img")" written-by-a
}

killed_guest_disk_is_reusable() {
	local sum
	"$G" exec "$A" 'mkfs.ext4 -q -F /dev/vda && mkdir -p /mnt/d && mount -t ext4 /dev/vda /mnt/d &&
		dd if=/dev/urandom of=/mnt/d/synced bs=1M count=4 status=none && sync /mnt/d/synced && sync'
	sum=$("$G" exec "$A" 'sha256sum /mnt/d/synced | cut -d" " -f1')
	# Writes in flight when the "host" dies (bounded in count and time).
	"$G" exec "$A" 'setsid sh -c "i=0; while [ \$i -lt 200 ]; do dd if=/dev/zero of=/mnt/d/f\$i bs=64k count=4 status=none; i=\$((i+1)); done" >/dev/null 2>&1 & sleep 1; exit 0'
	"$G" kill "$A"
	refute "$G" alive "$A"
	"$G" start "$A"
	"$G" exec "$A" 'mkdir -p /mnt/d && mount -t ext4 /dev/vda /mnt/d' # replays the journal
	assert_eq "$("$G" exec "$A" 'sha256sum /mnt/d/synced | cut -d" " -f1')" "$sum"
	"$G" exec "$A" 'umount /mnt/d && e2fsck -fn /dev/vda'
}

guests_stop_cleanly() {
	"$G" stop "$A"
	"$G" stop "$B"
}

test_that "a guest command's output and exit status come back over the control channel" output_and_status_return
test_that "a guest command that outlives its timeout is killed and the guest still answers" overlong_step_is_killed
test_that "two guests on the test network reach each other" guests_reach_each_other
test_that "a guest reaches ebscrypt-kmsd over TLS on the bridge address and verifies its certificate" kmsd_over_tls
test_that "nothing is routed out of the test network, from the namespace or from a guest" nothing_routed_out
test_that "steps on guest A, then B, then A run in that order and see each other's NBD writes" steps_in_host_order
test_that "a guest killed during writes leaves a disk that a restarted guest mounts intact" killed_guest_disk_is_reusable
test_that "both guests power off cleanly with no guest kernel problem reported" guests_stop_cleanly
echo "# net.host.sh took $((SECONDS - start))s"
tap_done
