#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vm-args: --timeout 1500 --mem 2048
#
# Snapshots and copies with EBS semantics, in the test VM.
. /tests/lib/tap.sh
. /tests/e2e/lib.sh
. /tests/lib/guest.sh

# PREEMPT_RT kernels get no dm-snapshot capture (dm-snapshot is not safe
# there): an attached volume stays suspended for the whole copy.
RT=0
guest_is_preempt_rt && RT=1
LIVE_COPY=dm-snapshot
[ "$RT" = 1 ] && LIVE_COPY="suspended copy"
# A test of the capture itself: skipped where there is none.
capture_test() {
	local name=$1
	shift
	if [ "$RT" = 1 ]; then
		tap_skip "$name" "PREEMPT_RT: no dm-snapshot capture, the volume stays suspended for the copy"
	else
		test_that "$name" "$@"
	fi
}
# A snapshot of attached volume $1 is under way: its capture exists, or on
# PREEMPT_RT the volume is suspended for the copy.
snapshot_under_way() {
	if [ "$RT" = 1 ]; then
		dmsetup info "$1" 2>/dev/null | grep -q 'State: *SUSPENDED'
	else
		dmsetup info "$1-capture" >/dev/null 2>&1
	fi
}

MNT=/mnt/e2e
MNT2=/mnt/e2e2
mkdir -p "$MNT" "$MNT2"

# Configured loop devices.
loops() { ls -d /sys/block/loop*/loop 2>/dev/null | wc -l; }

# "maj:min" of the loop device behind file $1.
loop_of() {
	local f
	for f in /sys/block/loop*/loop/backing_file; do
		[ "$(cat "$f" 2>/dev/null)" = "$1" ] && { cat "${f%/loop/backing_file}/dev"; return 0; }
	done
	echo "no loop device for $1"
	return 1
}

# No dm-snapshot mapping (capture or origin) is left anywhere.
no_capture_left() {
	local left
	left=$(dmsetup table 2>/dev/null | awk '$4 ~ /^snapshot/')
	[ -z "$left" ] || { echo "capture mappings left: $left"; return 1; }
}

# Volume $1 is attached and at rest: its mapping -> linear base -> its image's loop device, both live.
stack_at_rest() {
	local vol=$1 lmm bmm
	lmm=$(loop_of "$(vol_image "$vol")") || return 1
	bmm=$(dmsetup info -c --noheadings -o major,minor "$vol-base" | tr -d ' ')
	assert_eq "$(dmsetup table "$vol-base" | awk '{print $3, $4, $5}')" "linear $lmm 0"
	assert_eq "$(dmsetup table "$vol" | awk '{print $4}')" "$bmm"
	dmsetup info "$vol" | grep -q 'State: *ACTIVE'
	dmsetup info "$vol-base" | grep -q 'State: *ACTIVE'
}

# Waits for autoclear loop devices to go: the count must come back to $1.
loops_are() {
	local i
	for i in $(seq 1 50); do
		[ "$(loops)" = "$1" ] && return 0
		sleep 0.1
	done
	echo "$(loops) loop devices configured, expected $1"
	return 1
}

# Milliseconds, from bash itself (busybox date may lack %N).
ms_now() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# ctl in the background with $! its own pid (a backgrounded function is a
# subshell: killing that would leave ebscryptctl running).
ctl_exec() { exec ebscryptctl --state-dir "$STATE" --config "$E2E/ctl.conf" --agent-socket "$SOCK" "$@"; }

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
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .copy)" "$LIVE_COPY"
	no_capture_left
	stack_at_rest "$vol"
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
	[ "$(l "$fresh")" != "$(l "$vol")" ]
	[ "$(k "$fresh")" != "$(k "$vol")" ]
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
	refute -m "encrypted too" ctl volume create --snapshot-id "$snap" --no-encryption
	refute ctl snapshot copy "$snap" --no-encryption
	ctl config set encrypt-by-default on
	refute ctl snapshot copy "$plain" --no-encryption
	refute ctl volume create --snapshot-id "$plain" --no-encryption
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

# damage_byte FILE OFFSET: the byte there inverted. (Writing a fixed byte
# left random data as it was once in 256 runs, and the "damaged" snapshot
# was rightly restored.)
damage_byte() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	[ -n "$b" ] || { echo "no byte at $2 in $1"; return 1; }
	# shellcheck disable=SC2059 # an octal escape, on purpose
	printf "\\$(printf %03o $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

t_damaged_snapshot_refused() {
	local snap
	snap=$(ctl snapshot copy "$(cat /tmp/ssnap)")
	damage_byte "$STATE/snapshots/$snap/image" $((2 << 20))
	refute -m "damaged" ctl volume create --snapshot-id "$snap"
	ctl snapshot delete "$snap"
}

# Snapshot $1's meta.json rewritten the way snapshots were recorded before the
# tree checksum: one "sha256" of the whole image (here from sha256sum).
to_old_checksum() {
	local dir=$STATE/snapshots/$1 sum
	sum=$(sha256sum "$dir/image" | cut -c1-64)
	jq --arg s "$sum" 'del(.checksum_alg, .checksum) + {sha256: $s}' "$dir/meta.json" > "$dir/meta.new"
	mv "$dir/meta.new" "$dir/meta.json"
}

# A detached encrypted volume of random data and a snapshot of it: "vol snap".
random_volume_and_snapshot() {
	local vol
	vol=$(ctl volume create --size 24M --encrypted)
	dd if=/dev/urandom of="$(vol_image "$vol")" bs=1M seek=1 count=20 conv=notrunc 2>/dev/null
	echo "$vol $(ctl snapshot create "$vol")"
}

# (One leaf at a time with dd: the guest has no split(1).)
tree_sum() {
	local size i
	size=$(stat -c %s "$1")
	{ printf 'ebscrypt-sha256-tree-v1\0'; printf '%016x%016x' 2097152 "$size" | xxd -r -p
	  for ((i = 0; i < (size + 2097151) / 2097152; i++)); do
		dd if="$1" bs=2097152 skip="$i" count=1 2>/dev/null | sha256sum | cut -c1-64 | xxd -r -p
	  done; } | sha256sum | cut -c1-64
}

data_sum() { dd if="$(vol_image "$1")" bs=1M skip=1 2>/dev/null | sha256sum | cut -c1-64; }

t_checksum_recorded_as_the_tree() {
	local vol snap vs
	vs=$(random_volume_and_snapshot)
	vol=${vs% *} snap=${vs#* }
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .checksum_alg)" sha256-tree-2MiB
	# The recipe of docs/volumes.md, with coreutils alone.
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .checksum)" "$(tree_sum "$STATE/snapshots/$snap/image")"
	# The root is not the plain SHA-256, so no field may call it that.
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .sha256)" null
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol" >/dev/null
}

t_old_sha256_snapshot_restores() {
	local vol snap new vs
	vs=$(random_volume_and_snapshot)
	vol=${vs% *} snap=${vs#* }
	to_old_checksum "$snap"
	new=$(ctl volume create --snapshot-id "$snap")
	assert_eq "$(data_sum "$new")" "$(data_sum "$vol")"
	ctl volume delete "$new" >/dev/null
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol" >/dev/null
}

t_old_sha256_snapshot_damaged_refused() {
	local vol snap before vs
	vs=$(random_volume_and_snapshot)
	vol=${vs% *} snap=${vs#* }
	to_old_checksum "$snap"
	damage_byte "$STATE/snapshots/$snap/image" $((3 << 20))
	before=$(ctl volume list --json | jq '.volumes | length')
	refute -m "damaged" ctl volume create --snapshot-id "$snap"
	assert_eq "$(ctl volume list --json | jq '.volumes | length')" "$before"
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol" >/dev/null
}

t_unknown_checksum_alg_refused() {
	local vol snap dir vs
	vs=$(random_volume_and_snapshot)
	vol=${vs% *} snap=${vs#* }
	dir=$STATE/snapshots/$snap
	jq '.checksum_alg = "sha512-tree-9MiB"' "$dir/meta.json" > "$dir/meta.new"
	mv "$dir/meta.new" "$dir/meta.json"
	refute -m "sha512-tree-9MiB" ctl volume create --snapshot-id "$snap"
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol" >/dev/null
}

t_interrupted_copy() {
	local vol pid before
	vol=$(ctl volume create --size 160M)
	dd if=/dev/urandom of="$(vol_image "$vol")" bs=1M seek=1 count=150 conv=notrunc 2>/dev/null
	before=$(ctl snapshot list --json | jq '.snapshots | length')
	ctl_exec snapshot create "$vol" > /dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 200); do ls -a "$STATE/snapshots" | grep -q partial && break; sleep 0.02; done
	kill -9 $pid
	wait $pid 2>/dev/null || :
	assert_eq "$(ctl snapshot list --json | jq '.snapshots | length')" "$before"
	ctl snapshot list 2>&1 | grep -q "interrupted snapshot"
	rm -r "$STATE"/snapshots/.partial-*
	ctl volume delete "$vol"
}

t_pause_small_against_copy() {
	local vol dev snap fpid t0 t1 total pause loops0 j
	vol=$(ctl volume create --size 128M --encrypted)
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	dd if=/dev/urandom of="$MNT/fill" bs=1M count=24 conv=fsync 2>/dev/null
	# Busy for the whole create, however slow the host: the runtime is only
	# the bound, and the writer is stopped once the snapshot is taken (a
	# 120 s runtime ended first on a loaded host, 117 s into the create).
	fio --name=busy --filename="$MNT/busy.dat" --size=16M --rw=randwrite --bs=4k \
		--ioengine=psync --time_based --runtime=900 > /tmp/fio-busy.out 2>&1 &
	fpid=$!
	sleep 3
	loops0=$(loops)
	t0=$(ms_now)
	snap=$(ctl snapshot create "$vol")
	t1=$(ms_now)
	kill -0 "$fpid" || { echo "the writer stopped before the snapshot was taken"; return 1; }
	kill "$fpid"
	wait "$fpid" || :
	total=$((t1 - t0))
	j=$(ctl snapshot describe "$snap" --json)
	pause=$(echo "$j" | jq -r .pause_ms)
	echo "pause $pause ms (capture $(echo "$j" | jq -r .pause_capture_us) us + release" \
		"$(echo "$j" | jq -r .pause_release_us) us); copy $(echo "$j" | jq -r .copy_ms) ms;" \
		"snapshot create $total ms"
	assert_eq "$(echo "$j" | jq -r .copy)" "$LIVE_COPY"
	[ $((pause * 10)) -lt "$total" ] || { echo "pause is not under a tenth of the create time"; return 1; }
	no_capture_left
	stack_at_rest "$vol"
	loops_are "$loops0"
	umount "$MNT"
	ctl volume detach "$vol"
	refute dmsetup info "$vol-base"
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol"
}

t_cow_overflow_fails_cleanly() {
	local vol dev wpid before loops0 refused=0
	vol=$(ctl volume create --size 128M)
	dev=$(ctl volume attach "$vol")
	before=$(counts) loops0=$(loops)
	rm -f /tmp/stopw
	# Rewrites the first 4 MiB over and over: 1024 chunks, far more than a 64K COW holds.
	( while [ ! -e /tmp/stopw ]; do
		dd if=/dev/zero of="$dev" bs=64k count=64 oflag=direct 2>/dev/null
	  done ) &
	wpid=$!
	sleep 1
	# The writer is stopped whatever the verdict.
	refute -m "copy-on-write store filled up" ctl snapshot create "$vol" --cow-size 64K && refused=1
	touch /tmp/stopw
	wait "$wpid" || :
	[ "$refused" = 1 ]
	assert_eq "$(counts)" "$before" "the failed snapshot left something in the store"
	no_capture_left
	stack_at_rest "$vol"
	loops_are "$loops0"
	ctl volume detach "$vol"
	ctl volume delete "$vol"
}

t_full_store_fails_cleanly() {
	local vol dev before loops0 refused=0
	vol=$(ctl volume create --size 64M --encrypted)
	dev=$(ctl volume attach "$vol")
	dd if=/dev/urandom of="$dev" bs=1M count=16 oflag=direct 2>/dev/null
	before=$(counts) loops0=$(loops)
	mkdir -p "$STATE/snapshots"
	mount -t tmpfs -o size=2M tmpfs "$STATE/snapshots"
	# The store is unmounted whatever the verdict.
	refute ctl snapshot create "$vol" && refused=1
	umount "$STATE/snapshots"
	[ "$refused" = 1 ]
	grep -qi "no space" <<<"$REFUTE_OUTPUT"
	assert_eq "$(counts)" "$before"
	no_capture_left
	stack_at_rest "$vol"
	loops_are "$loops0"
	ctl volume detach "$vol"
	ctl volume delete "$vol"
}

t_killed_capture_cleaned_by_next() {
	local vol dev pid i snap loops0
	vol=$(ctl volume create --size 160M --encrypted)
	dev=$(ctl volume attach "$vol")
	dd if=/dev/urandom of="$dev" bs=1M count=64 oflag=direct 2>/dev/null
	loops0=$(loops)
	ctl_exec snapshot create "$vol" > /dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 500); do dmsetup info "$vol-capture" >/dev/null 2>&1 && break; sleep 0.01; done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || :
	dmsetup info "$vol-capture" >/dev/null 2>&1 || { echo "the capture was over before the kill"; return 1; }
	ctl snapshot list > /tmp/list.out 2>&1
	cat /tmp/list.out
	grep -q "$vol-capture.*interrupted" /tmp/list.out
	rm -r "$STATE"/snapshots/.partial-*
	snap=$(ctl snapshot create "$vol" 2> /tmp/next.err) || { cat /tmp/next.err; return 1; }
	cat /tmp/next.err
	grep -q "removed the capture mapping" /tmp/next.err
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .copy)" "$LIVE_COPY"
	no_capture_left
	stack_at_rest "$vol"
	loops_are "$loops0"
	ctl volume detach "$vol"
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol"
}

# An attached, mounted ext4 volume with files, for the leftover tests: sets the caller's vol.
mounted_volume() {
	local dev
	vol=$(ctl volume create --size 64M --encrypted)
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
}

# What a SIGKILL inside the capture switch can leave, made by hand:
#   top      the volume suspended (killed after its suspend)
#   base     the base suspended as well (killed after the second suspend)
#   origin   capture created, base suspended with snapshot-origin loaded but
#            not live, the volume suspended (killed just after the reload)
make_leftover() {
	local how=$1 vol=$2 lmm sectors cow
	case "$how" in
	top) dmsetup suspend "$vol" ;;
	base) dmsetup suspend "$vol"; dmsetup suspend "$vol-base" ;;
	origin)
		lmm=$(loop_of "$(vol_image "$vol")")
		sectors=$(blockdev --getsz "/dev/mapper/$vol-base")
		truncate -s 64M /tmp/leftover-cow
		cow=$(losetup -f --show /tmp/leftover-cow)
		echo "$cow" > /tmp/leftover-loop
		dmsetup suspend "$vol"
		dmsetup suspend "$vol-base"
		dmsetup create "$vol-capture" -u "EBSSNAP-$vol" \
			--table "0 $sectors snapshot $lmm $(cat "/sys/block/${cow#/dev/}/dev") N 8"
		dmsetup reload "$vol-base" --table "0 $sectors snapshot-origin $lmm"
		;;
	esac
	dmsetup info "$vol" | grep -q 'State: *SUSPENDED'
}

# After a repair: at rest, files intact (read from the device, not the cache), a new snapshot works.
after_repair() {
	local vol=$1 snap
	stack_at_rest "$vol"
	no_capture_left
	echo 3 > /proc/sys/vm/drop_caches
	check_files "$MNT"
	snap=$(ctl snapshot create "$vol")
	assert_eq "$(ctl snapshot describe "$snap" --json | jq -r .copy)" "$LIVE_COPY"
	stack_at_rest "$vol"
	umount "$MNT"
	ctl volume detach "$vol" >/dev/null
	ctl snapshot delete "$snap" >/dev/null
	ctl volume delete "$vol" >/dev/null
	if [ -e /tmp/leftover-loop ]; then losetup -d "$(cat /tmp/leftover-loop)"; rm -f /tmp/leftover-loop /tmp/leftover-cow; fi
}

# snapshot create repairs volume $1's leftover $2 and says so.
t_snapshot_repairs() {
	local vol snap
	mounted_volume
	make_leftover "$1" "$vol"
	snap=$(ctl snapshot create "$vol" 2> /tmp/repair.err) || { cat /tmp/repair.err; return 1; }
	cat /tmp/repair.err
	grep -q "$vol: repaired what an interrupted snapshot left" /tmp/repair.err
	ctl snapshot delete "$snap" >/dev/null
	after_repair "$vol"
}

# volume detach repairs first: with the filesystem still mounted the detach
# itself is refused, but the volume is running again.
t_detach_repairs() {
	local vol
	mounted_volume
	make_leftover "$1" "$vol"
	refute -m "$vol: repaired what an interrupted snapshot left" ctl volume detach "$vol"
	grep -qi "unmount it first" <<<"$REFUTE_OUTPUT"
	after_repair "$vol"
}

# A snapshot in progress holds the volume's capture lock: detach refuses and leaves it alone.
t_live_capture_not_repaired() {
	local vol dev pid i
	vol=$(ctl volume create --size 160M --encrypted)
	dev=$(ctl volume attach "$vol")
	dd if=/dev/urandom of="$dev" bs=1M count=150 oflag=direct 2>/dev/null
	ctl_exec snapshot create "$vol" > /tmp/live.out 2> /tmp/live.err &
	pid=$!
	for i in $(seq 1 500); do snapshot_under_way "$vol" && break; sleep 0.01; done
	snapshot_under_way "$vol" || { echo "no snapshot in progress to test with"; return 1; }
	refute -m "a snapshot of $vol is in progress (ebscryptctl pid $pid)" ctl volume detach "$vol"
	refute grep -q repaired <<<"$REFUTE_OUTPUT"
	wait "$pid" || { cat /tmp/live.out /tmp/live.err; return 1; }
	stack_at_rest "$vol"
	ctl snapshot delete "$(cat /tmp/live.out)" >/dev/null
	ctl volume detach "$vol" >/dev/null
	ctl volume delete "$vol" >/dev/null
}

e2e_setup || { echo "Bail out! e2e setup failed"; exit 1; }
test_that "a snapshot under fio load restores to a clean filesystem with the files intact" t_snapshot_under_load
test_that "snapshot and restored volume share the source's lineage and KCV; a fresh one does not" t_same_lineage_and_kcv
test_that "restore under another key: new KCV, same data, old key disabled" t_restore_under_another_key
test_that "unencrypted snapshot copied --encrypted restores encrypted, without plaintext on disk" t_plain_to_encrypted_copy
test_that "paths that would drop encryption are refused and leave nothing" t_refusals_leave_nothing
test_that "encrypt-by-default encrypts a copy of an unencrypted snapshot" t_encrypt_by_default_encrypts_copies
test_that "a damaged snapshot is refused by its checksum" t_damaged_snapshot_refused
test_that "a new snapshot records its checksum as sha256-tree-2MiB and nothing named sha256" t_checksum_recorded_as_the_tree
test_that "a snapshot recorded with only the old sha256 field still verifies and restores" t_old_sha256_snapshot_restores
test_that "a damaged snapshot recorded with only the old sha256 field is refused" t_old_sha256_snapshot_damaged_refused
test_that "a snapshot whose checksum algorithm is unknown is refused, naming it" t_unknown_checksum_alg_refused
test_that "a killed snapshot leaves nothing that looks complete and the next list says what to clean" t_interrupted_copy
capture_test "the pause of a snapshot of a busy 128 MiB volume is under a tenth of the create time" t_pause_small_against_copy
capture_test "a snapshot whose copy-on-write store overflows fails and leaves no mappings or loop devices" t_cow_overflow_fails_cleanly
test_that "a snapshot into a full store fails and puts the volume back on its loop device" t_full_store_fails_cleanly
capture_test "a killed snapshot's capture mapping is reported by list and removed by the next snapshot" t_killed_capture_cleaned_by_next
test_that "snapshot create resumes a volume a killed snapshot left suspended" t_snapshot_repairs top
test_that "snapshot create resumes a volume and base a killed snapshot left suspended" t_snapshot_repairs base
test_that "snapshot create puts back a base left suspended with snapshot-origin loaded and a capture present" t_snapshot_repairs origin
test_that "volume detach resumes a suspended volume and base before refusing a mounted one" t_detach_repairs base
test_that "volume detach puts back a half-switched base and capture" t_detach_repairs origin
test_that "volume detach refuses while a snapshot of the volume is in progress, and leaves it alone" t_live_capture_not_repaired
e2e_teardown
tap_done
