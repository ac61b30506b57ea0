#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vm-args: --timeout 1200
#
# Snapshots and copies with EBS semantics (issue 6), in the test VM.
. /tests/lib/tap.sh
. /tests/e2e/lib.sh

MNT=/mnt/e2e
MNT2=/mnt/e2e2
mkdir -p "$MNT" "$MNT2"

counts() { echo "$(ls "$STATE/volumes" | wc -l) $(ls "$STATE/store" | wc -l) $(ls -a "$STATE/snapshots" 2>/dev/null | wc -l)"; }

t_snapshot_under_load() {
	local vol dev snap new pause
	vol=$(ctl volume create --size 64M --encrypted)
	echo "$vol" > /tmp/svol
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
	fio --name=load --filename="$MNT/load.dat" --size=16M --rw=randwrite --bs=4k \
		--ioengine=psync --time_based --runtime=15 --verify=crc32c --do_verify=0 \
		> /tmp/fio.out 2>&1 &
	local fpid=$!
	sleep 3
	snap=$(ctl snapshot create "$vol")
	wait $fpid
	echo "$snap" > /tmp/ssnap
	pause=$(ctl snapshot describe "$snap" --json | jq -r .pause_ms)
	echo "volume paused for $pause ms ($(ctl snapshot describe "$snap" --json | jq -r .copy))"
	umount "$MNT"
	ctl volume detach "$vol"
	new=$(ctl volume create --snapshot-id "$snap")
	echo "$new" > /tmp/srest
	dev=$(ctl volume attach "$new")
	e2fsck -fn "$dev"
	mount -t ext4 "$dev" "$MNT"
	check_files "$MNT"
	umount "$MNT"
	ctl volume detach "$new"
}

t_same_lineage_and_kcv() {
	local vol snap new fresh
	vol=$(cat /tmp/svol) snap=$(cat /tmp/ssnap) new=$(cat /tmp/srest)
	fresh=$(ctl volume create --size 16M --encrypted)
	l() { ctl header dump "$1" --json | jq -r .data_encryption_key_id; }
	k() { ctl header dump "$1" --json | jq -r .key_check_value; }
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .data_encryption_key_id)" "$(l "$vol")"
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .key_check_value)" "$(k "$vol")"
	assert_eq "$(l "$new")" "$(l "$vol")"
	assert_eq "$(k "$new")" "$(k "$vol")"
	assert_eq "$(ctl volume describe "$new" --json | jq -r .snapshot_id)" "$snap"
	assert_eq "$(ctl volume describe "$new" --json | jq -r .encrypted)" true
	# The restored volume's wrapped key is bound to its own id.
	ctl header dump "$new" --json | jq -r '.encryption_context["ebscrypt:volume-id"]' | grep -qx "$new"
	[ "$(l "$fresh")" != "$(l "$vol")" ] && [ "$(k "$fresh")" != "$(k "$vol")" ]
	ctl volume delete "$fresh"
}

t_restore_under_another_key() {
	local snap k2 new dev old
	snap=$(cat /tmp/ssnap)
	# The source is under alias/aws/ebs (cannot be disabled): use a customer key pair.
	local k1 vol
	k1=$(ctl kms create-key --description snap-k1 | jq -r .KeyMetadata.Arn)
	k2=$(ctl kms create-key --description snap-k2 | jq -r .KeyMetadata.Arn)
	vol=$(ctl volume create --size 32M --kms-key-id "$k1")
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
	umount "$MNT"
	ctl volume detach "$vol"
	snap=$(ctl snapshot create "$vol")
	new=$(ctl volume create --snapshot-id "$snap" --kms-key-id "$k2")
	old=$(ctl header dump "$vol" --json | jq -r .key_check_value)
	[ "$(ctl header dump "$new" --json | jq -r .key_check_value)" != "$old" ]
	assert_eq "$(ctl header dump "$new" --json | jq -r .kms_key_id)" "$k2"
	ctl kms disable-key "$k1" >/dev/null
	dev=$(ctl volume attach "$new")
	mount -t ext4 -o ro "$dev" "$MNT"
	check_files "$MNT"
	umount "$MNT"
	ctl volume detach "$new"
	ctl kms enable-key "$k1" >/dev/null
}

t_plain_to_encrypted_copy() {
	local vol dev snap enc new img
	vol=$(ctl volume create --size 16M)
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	yes "PLAINTEXT-MARKER-7f3a" | head -c 2000000 > "$MNT/marker.txt"
	(cd "$MNT" && sha256sum marker.txt > /tmp/marker.sum)
	umount "$MNT"
	ctl volume detach "$vol"
	grep -q PLAINTEXT-MARKER-7f3a "$(vol_image "$vol")"   # the plain image does hold it
	snap=$(ctl snapshot create "$vol")
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .encrypted)" false
	enc=$(ctl snapshot copy "$snap" --encrypted)
	assert_eq "$(ctl snapshot describe "$enc" --json | jq -r .encrypted)" true
	refute grep -q PLAINTEXT-MARKER-7f3a "$STATE/snapshots/$enc/image"
	new=$(ctl volume create --snapshot-id "$enc")
	assert_eq "$(ctl volume describe "$new" --json | jq -r .encrypted)" true
	img=$(vol_image "$new")
	refute grep -q PLAINTEXT-MARKER-7f3a "$img"
	dev=$(ctl volume attach "$new")
	mount -t ext4 -o ro "$dev" "$MNT"
	(cd "$MNT" && sha256sum -c /tmp/marker.sum)
	umount "$MNT"
	ctl volume detach "$new"
	echo "$snap" > /tmp/plainsnap
}

t_refusals_leave_nothing() {
	local snap plain before
	snap=$(cat /tmp/ssnap) plain=$(cat /tmp/plainsnap)
	before=$(counts)
	must_fail ctl volume create --snapshot-id "$snap" --no-encryption
	ctl volume create --snapshot-id "$snap" --no-encryption 2>&1 | grep -q "encrypted too"
	must_fail ctl snapshot copy "$snap" --no-encryption
	ctl config set encrypt-by-default on
	must_fail ctl snapshot copy "$plain" --no-encryption
	must_fail ctl volume create --snapshot-id "$plain" --no-encryption
	ctl config set encrypt-by-default off
	assert_eq "$(counts)" "$before" "a refused command left something"
}

t_encrypt_by_default_encrypts_copies() {
	local plain c
	plain=$(cat /tmp/plainsnap)
	ctl config set encrypt-by-default on
	c=$(ctl snapshot copy "$plain")
	ctl config set encrypt-by-default off
	assert_eq "$(ctl snapshot describe "$c" --json | jq -r .encrypted)" true
	ctl snapshot delete "$c"
}

t_damaged_snapshot_refused() {
	local snap
	snap=$(ctl snapshot copy "$(cat /tmp/ssnap)")
	printf 'X' | dd of="$STATE/snapshots/$snap/image" bs=1 seek=$((2 << 20)) conv=notrunc 2>/dev/null
	must_fail ctl volume create --snapshot-id "$snap"
	ctl volume create --snapshot-id "$snap" 2>&1 | grep -q "damaged"
	ctl snapshot delete "$snap"
}

t_interrupted_copy() {
	local vol pid before
	vol=$(ctl volume create --size 160M)
	dd if=/dev/urandom of="$(vol_image "$vol")" bs=1M seek=1 count=150 conv=notrunc 2>/dev/null
	before=$(ctl snapshot list --json | jq '.snapshots | length')
	ctl snapshot create "$vol" > /dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 200); do ls -a "$STATE/snapshots" | grep -q partial && break; sleep 0.02; done
	kill -9 $pid
	wait $pid 2>/dev/null || :
	assert_eq "$(ctl snapshot list --json | jq '.snapshots | length')" "$before"
	ctl snapshot list 2>&1 | grep -q "interrupted snapshot"
	rm -r "$STATE"/snapshots/.partial-*
	ctl volume delete "$vol"
}

e2e_setup || { echo "Bail out! e2e setup failed"; exit 1; }
test_that "a snapshot under fio load restores to a clean filesystem with the files intact" t_snapshot_under_load
test_that "snapshot and restored volume share the source's lineage and KCV; a fresh one does not" t_same_lineage_and_kcv
test_that "restore under another key: new KCV, same data, old key disabled" t_restore_under_another_key
test_that "unencrypted snapshot copied --encrypted restores encrypted, without plaintext on disk" t_plain_to_encrypted_copy
test_that "paths that would drop encryption are refused and leave nothing" t_refusals_leave_nothing
test_that "encrypt-by-default encrypts a copy of an unencrypted snapshot" t_encrypt_by_default_encrypts_copies
test_that "a damaged snapshot is refused by its checksum" t_damaged_snapshot_refused
test_that "a killed snapshot leaves nothing that looks complete and the next list says what to clean" t_interrupted_copy
e2e_teardown
tap_done
