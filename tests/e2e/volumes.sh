#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vm-args: --timeout 1200
#
# Encrypted volumes end to end, in the test VM: real kmsd, real
# agent, real ebscrypt target. Run: tests/vm/run tests/e2e/volumes.sh
. /tests/lib/tap.sh
. /tests/e2e/lib.sh

MNT=/mnt/e2e
mkdir -p "$MNT"

t_lifecycle() {
	local vol dev
	vol=$(ctl volume create --size 32M --encrypted)
	echo "$vol" > /tmp/vol1
	dev=$(ctl volume attach "$vol")
	assert_eq "$dev" "/dev/mapper/$vol"
	assert_eq "$(dmsetup table "$vol" | awk '{print $3}')" ebscrypt
	# Under it the base a snapshot switches to snapshot-origin: linear over the whole image.
	assert_eq "$(dmsetup table "$vol-base" | awk '{print $3}')" linear
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
	umount "$MNT"
	ctl volume detach "$vol"
	refute dmsetup info "$vol"
	refute dmsetup info "$vol-base"
	dev=$(ctl volume attach "$vol")
	mount -t ext4 "$dev" "$MNT"
	check_files "$MNT"
	umount "$MNT"
	ctl volume detach "$vol"
}

t_audit_one_decrypt_per_attach() {
	local vol n0 n1
	vol=$(cat /tmp/vol1)
	# Two attaches in the lifecycle test.
	assert_eq "$(audit_decrypts "$vol")" 3 "create (key check value) + 2 attaches"
	n0=$(audit_decrypts "$vol")
	ctl volume attach "$vol" >/dev/null
	n1=$(audit_decrypts "$vol")
	assert_eq "$n1" $((n0 + 1))
	ctl volume detach "$vol"
	# The context recorded is exactly the volume's.
	sqlite3 "$KMSD_STATE/kmsd.db" "SELECT encryption_context FROM audit WHERE operation='Decrypt' ORDER BY rowid DESC LIMIT 1;" |
		grep -q "\"ebscrypt:volume-id\": *\"$vol\""
}

t_describe_json() {
	local vol j
	vol=$(cat /tmp/vol1)
	j=$(ctl volume describe "$vol" --json)
	assert_eq "$(echo "$j" | jq -r .volume_id)" "$vol"
	assert_eq "$(echo "$j" | jq -r .encrypted)" true
	assert_eq "$(echo "$j" | jq -r .state)" available
	echo "$j" | jq -r .kms_key_id | grep -q '^arn:aws:kms:us-east-1:'
	[ "$(echo "$j" | jq -r .data_encryption_key_id)" != null ]
	ctl volume attach "$vol" >/dev/null
	j=$(ctl volume list --json)
	assert_eq "$(echo "$j" | jq -r ".volumes[] | select(.volume_id==\"$vol\") | .state")" in-use
	assert_eq "$(echo "$j" | jq -r ".volumes[] | select(.volume_id==\"$vol\") | .device")" "/dev/mapper/$vol"
	ctl volume detach "$vol"
}

t_default_key_is_alias_aws_ebs() {
	local vol arn target
	vol=$(cat /tmp/vol1)
	arn=$(ctl volume describe "$vol" --json | jq -r .kms_key_id)
	target=$(ctl kms list-aliases | jq -r '.Aliases[] | select(.AliasName=="alias/aws/ebs") | .TargetKeyId')
	[ -n "$target" ]
	case "$arn" in *"$target") ;; *) echo "volume key $arn is not alias/aws/ebs ($target)"; return 1 ;; esac
}

t_unencrypted_by_default() {
	local vol
	vol=$(ctl volume create --size 16M)
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .encrypted)" false
	ctl volume attach "$vol" >/dev/null
	assert_eq "$(dmsetup table "$vol" | awk '{print $3}')" linear
	ctl volume detach "$vol"
	ctl volume delete "$vol"
}

t_encrypt_by_default() {
	local vol
	ctl config set encrypt-by-default on
	assert_eq "$(ctl config show --json | jq -r .encrypt_by_default)" true
	vol=$(ctl volume create --size 16M)
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .encrypted)" true
	ctl volume describe "$vol" --json | jq -r .kms_key_id | grep -q '^arn:'
	n=$(ls "$STATE/volumes" "$STATE/store" | wc -l)
	refute -m "encrypt-by-default is on" ctl volume create --size 16M --no-encryption
	assert_eq "$(ls "$STATE/volumes" "$STATE/store" | wc -l)" "$n" "the refused create left something"
	ctl config set encrypt-by-default off
	vol=$(ctl volume create --size 16M)
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .encrypted)" false
	ctl volume delete "$vol"
}

t_unique_dek() {
	local a b ka kb la lb
	a=$(ctl volume create --size 16M --encrypted)
	b=$(ctl volume create --size 16M --encrypted)
	ka=$(ctl header dump "$a" --json | jq -r .key_check_value)
	kb=$(ctl header dump "$b" --json | jq -r .key_check_value)
	la=$(ctl header dump "$a" --json | jq -r .data_encryption_key_id)
	lb=$(ctl header dump "$b" --json | jq -r .data_encryption_key_id)
	[ "$ka" != "$kb" ]
	[ "$la" != "$lb" ]
	[ "$(volume_dek_hex "$a")" != "$(volume_dek_hex "$b")" ]
	ctl volume delete "$a"
	ctl volume delete "$b"
}

t_named_key() {
	local key vol
	key=$(ctl kms create-key --description e2e-named | jq -r .KeyMetadata.Arn)
	ctl kms create-alias alias/e2e-named "$key" >/dev/null
	vol=$(ctl volume create --size 16M --kms-key-id alias/e2e-named)
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .kms_key_id)" "$key"
	ctl volume attach "$vol" >/dev/null
	ctl volume detach "$vol"
	ctl volume delete "$vol"
}

t_key_custody() {
	local vol dev dek d1 d2 pid maps
	vol=$(cat /tmp/vol1)
	dek=$(volume_dek_hex "$vol")
	[ ${#dek} -eq 128 ]
	d1=${dek:0:64} d2=${dek:64:64}
	dev=$(ctl volume attach "$vol")
	# The key was invalidated right after the table load: gc takes a moment.
	for i in $(seq 1 50); do grep -q ebscrypt /proc/keys || break; sleep 0.1; done
	refute grep ebscrypt /proc/keys
	refute table_has "$vol" "$d1" "$d2"
	dmsetup table "$vol" | grep -q ':64:logon:'
	pid=$(pid_of agent)
	# The agent's whole address space, the state, the logs, the image.
	: > /tmp/agent-mem
	while read -r range perms _; do
		case "$perms" in r*) ;; *) continue ;; esac
		s=$((16#${range%-*})) e=$((16#${range#*-}))
		# [vsyscall] sits above bash's signed arithmetic; nothing there anyway.
		[ "$s" -ge 0 ] && [ $((e - s)) -le $((256 << 20)) ] || continue
		dd if=/proc/$pid/mem bs=4096 skip=$((s / 4096)) count=$(((e - s) / 4096)) 2>/dev/null >> /tmp/agent-mem || :
	done < /proc/$pid/maps
	ls -l /tmp/agent-mem
	[ -s /tmp/agent-mem ]
	refute file_has_hex /tmp/agent-mem "$d1"
	refute file_has_hex /tmp/agent-mem "$d2"
	for f in $(find "$STATE" -type f) "$AGENT_LOG" "$KMSD_LOG"; do
		refute file_has_hex "$f" "$d1"
		refute file_has_hex "$f" "$d2"
	done
	# Non-dumpable: no core file possible, and the agent says PR_GET_DUMPABLE is 0.
	grep -E '^Max core file size +0 +0' /proc/$pid/limits
	assert_eq "$(ctl agent status --json | jq -r .dumpable)" 0
	assert_eq "$(ctl agent status --json | jq -r .pid)" "$pid"
	ctl volume detach "$vol"
}

t_cryptsetup_reads_the_same_files() {
	local vol dek loop
	vol=$(cat /tmp/vol1)
	dek=$(volume_dek_hex "$vol")
	printf '%s' "$dek" | xxd -r -p > /tmp/dek.bin
	loop=$(losetup -f --show "$(vol_image "$vol")")
	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --offset 2048 \
		--sector-size 4096 --key-file /tmp/dek.bin "$loop" e2e-plain
	shred -u /tmp/dek.bin 2>/dev/null || rm -f /tmp/dek.bin
	mount -t ext4 -o ro /dev/mapper/e2e-plain "$MNT"
	check_files "$MNT"
	umount "$MNT"
	cryptsetup close e2e-plain
	losetup -d "$loop"
}

t_backing_image_is_ciphertext() {
	local vol img
	vol=$(cat /tmp/vol1)
	img=$(vol_image "$vol")
	# ext4's magic 0xEF53 at byte 1080 of the filesystem is not visible.
	[ "$(od -An -tx1 -j $((1048576 + 1080)) -N 2 "$img" | tr -d ' ')" != 53ef ]
	refute grep -q "lost+found" "$img"
}

t_survives_agent_restart() {
	local vol dev
	vol=$(cat /tmp/vol1)
	dev=$(ctl volume attach "$vol")
	mount -t ext4 "$dev" "$MNT"
	agent_stop
	echo after-restart > "$MNT/restart"
	sync
	agent_start
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .state)" in-use
	check_files "$MNT"
	umount "$MNT"
	ctl volume detach "$vol"
	dev=$(ctl volume attach "$vol")
	mount -t ext4 "$dev" "$MNT"
	assert_eq "$(cat "$MNT/restart")" after-restart
	umount "$MNT"
	ctl volume detach "$vol"
}

t_rewrap() {
	local vol k1 k2 before after dev
	# A customer key: AWS-managed keys (alias/aws/ebs) cannot be disabled.
	k1=$(ctl kms create-key --description e2e-rewrap-from | jq -r .KeyMetadata.Arn)
	k2=$(ctl kms create-key --description e2e-rewrap-to | jq -r .KeyMetadata.Arn)
	vol=$(ctl volume create --size 16M --kms-key-id "$k1")
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	echo rewrap-data > "$MNT/data"
	umount "$MNT"
	ctl volume detach "$vol"
	before=$(dd if="$(vol_image "$vol")" bs=1M skip=1 2>/dev/null | sha256sum)
	ctl header rewrap "$vol" --kms-key-id "$k2"
	after=$(dd if="$(vol_image "$vol")" bs=1M skip=1 2>/dev/null | sha256sum)
	assert_eq "$after" "$before" "data area untouched"
	assert_eq "$(ctl header dump "$vol" --json | jq -r .kms_key_id)" "$k2"
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .kms_key_id)" "$k2"
	assert_eq "$(ctl header dump "$vol" --json | jq -r .seqno)" 2
	# Both copies carry the new key.
	dd if="$(vol_image "$vol")" bs=1 skip=65536 count=4096 2>/dev/null | grep -q "${k2##*/}"
	ctl kms disable-key "$k1" >/dev/null
	dev=$(ctl volume attach "$vol")
	mount -t ext4 "$dev" "$MNT"
	assert_eq "$(cat "$MNT/data")" rewrap-data
	umount "$MNT"
	ctl volume detach "$vol"
	ctl kms enable-key "$k1" >/dev/null
}

t_load_key_and_table() {
	local vol out table
	vol=$(cat /tmp/vol1)
	out=$(ctl volume load-key "$vol" --timeout 60)
	table=$(echo "$out" | grep ' ebscrypt ')
	echo "$table" | grep -q ":64:logon:ebscrypt:manual:$vol"
	assert_eq "$(ctl volume table "$vol")" "$table"
	dmsetup create e2e-manual --table "$table"
	mount -t ext4 -o ro /dev/mapper/e2e-manual "$MNT"
	check_files "$MNT"
	umount "$MNT"
	dmsetup remove e2e-manual
	losetup -d "$(echo "$out" | sed -n 's/.*`losetup -d \([^`]*\)`.*/\1/p')"
}

t_block_device_volume() {
	local vol dev
	[ -b /dev/vda ] || { echo "no /dev/vda"; return 1; }
	vol=$(ctl volume create --device /dev/vda --size 32M --encrypted)
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .backing)" /dev/vda
	dev=$(ctl volume attach "$vol")
	# No loop device: the base under the mapping names the disk itself.
	set -- $(stat -c '%t %T' /dev/vda)
	assert_eq "$(dmsetup table "$vol-base" | awk '{print $4}')" "$((16#$1)):$((16#$2))"
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
	umount "$MNT"
	ctl volume detach "$vol"
	dev=$(ctl volume attach "$vol")
	mount -t ext4 "$dev" "$MNT"
	check_files "$MNT"
	umount "$MNT"
	ctl volume detach "$vol"
	ctl volume delete "$vol"
	# Both header copies are gone, and with them the only wrapped key.
	assert_eq "$(dd if=/dev/vda bs=4096 count=1 2>/dev/null | tr -d '\0' | wc -c)" 0
	assert_eq "$(dd if=/dev/vda bs=4096 skip=16 count=1 2>/dev/null | tr -d '\0' | wc -c)" 0
}

# grown_online VOL DEV NEWSIZE_BYTES: the mounted filesystem on DEV stays up
# through `volume modify`, which takes one fresh Decrypt; resize2fs then grows it.
grown_online() {
	local vol=$1 dev=$2 want=$3 n0 blocks0 blocks1
	n0=$(audit_decrypts "$vol")
	blocks0=$(stat -f -c %b "$MNT")
	ctl volume modify "$vol" --size "$((want / 1048576))M"
	assert_eq "$(blockdev --getsize64 "$dev")" "$want" "mapping size"
	assert_eq "$(audit_decrypts "$vol")" $((n0 + 1)) "one Decrypt for the reload"
	# Never unmounted; its files are intact, then the filesystem grows online.
	grep -q " $MNT " /proc/mounts
	check_files "$MNT"
	resize2fs "$dev" > /dev/null 2>&1
	blocks1=$(stat -f -c %b "$MNT")
	[ "$blocks1" -gt $((blocks0 * 3 / 2)) ] || { echo "filesystem $blocks0 -> $blocks1 blocks"; return 1; }
	head -c 8388608 /dev/urandom > "$MNT/after-grow"
	sha256sum "$MNT/after-grow" | cut -c1-64 > /tmp/after-grow.sum
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .size)" "$want"
	assert_eq "$(ctl header dump "$vol" --json | jq -r .size)" "$want"
}

# Detached and attached again: the new size is the volume's, data and all.
reattached_at() {
	local vol=$1 want=$2 dev
	umount "$MNT"
	ctl volume detach "$vol"
	dev=$(ctl volume attach "$vol")
	assert_eq "$(blockdev --getsize64 "$dev")" "$want"
	e2fsck -fn "$dev" > /dev/null 2>&1 || { e2fsck -fn "$dev"; return 1; }
	mount -t ext4 "$dev" "$MNT"
	check_files "$MNT"
	assert_eq "$(sha256sum "$MNT/after-grow" | cut -c1-64)" "$(cat /tmp/after-grow.sum)"
	umount "$MNT"
	ctl volume detach "$vol"
}

t_grow_file_volume_online() {
	local vol dev
	vol=$(ctl volume create --size 32M --encrypted)
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
	grown_online "$vol" "$dev" $((96 * 1048576))
	# The file grew with it, sparsely.
	assert_eq "$(stat -c %s "$(vol_image "$vol")")" $((96 * 1048576 + 1048576))
	reattached_at "$vol" $((96 * 1048576))
	ctl volume delete "$vol" > /dev/null
}

t_grow_device_volume_online() {
	local vol dev rc=0
	vol=$(ctl volume create --device /dev/vda --size 32M --encrypted)
	dev=$(ctl volume attach "$vol")
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$MNT"
	write_files "$MNT"
	grown_online "$vol" "$dev" $((64 * 1048576))
	# More than the device holds: refused, nothing changed.
	ctl volume modify "$vol" --size 64T > /tmp/modify.out 2>&1 || rc=$?
	cat /tmp/modify.out
	assert_eq "$rc" 6
	grep -q "grow the device first" /tmp/modify.out
	assert_eq "$(blockdev --getsize64 "$dev")" $((64 * 1048576))
	reattached_at "$vol" $((64 * 1048576))
	ctl volume delete "$vol" > /dev/null
}

t_shrink_refused() {
	local vol before rc=0
	vol=$(ctl volume create --size 32M --encrypted)
	before=$(sha256sum "$(vol_image "$vol")" | cut -c1-64)
	ctl volume modify "$vol" --size 16M > /tmp/modify.out 2>&1 || rc=$?
	cat /tmp/modify.out
	assert_eq "$rc" 2
	grep -q "shrinking to 16777216 is refused" /tmp/modify.out
	assert_eq "$(sha256sum "$(vol_image "$vol")" | cut -c1-64)" "$before"
	assert_eq "$(ctl volume describe "$vol" --json | jq -r .size)" $((32 * 1048576))
	ctl volume delete "$vol" > /dev/null
}

t_help_and_errors() {
	ctl volume create --help | grep -q 'GenerateDataKeyWithoutPlaintext'
	refute ctl volume attach vol-00000000000000000
	refute ctl volume create
	refute ctl volume frobnicate
	refute -m "no volume" ctl volume describe vol-00000000000000000
}

e2e_setup || { echo "Bail out! e2e setup failed"; exit 1; }
test_that "create, attach, mkfs, write, detach, attach: files intact" t_lifecycle
test_that "the KMS audit shows one Decrypt per attach with the volume's context" t_audit_one_decrypt_per_attach
test_that "describe and list --json give EC2 field names and the attachment" t_describe_json
test_that "an encrypted volume without --kms-key-id is under alias/aws/ebs" t_default_key_is_alias_aws_ebs
test_that "a plain create is unencrypted while encrypt-by-default is off" t_unencrypted_by_default
test_that "encrypt-by-default on encrypts every create and refuses --no-encryption" t_encrypt_by_default
test_that "two new volumes never share a DEK" t_unique_dek
test_that "a volume can be created under a named key" t_named_key
test_that "the DEK is in no keyring, table, agent memory, state, log or image" t_key_custody
test_that "cryptsetup plain mode with the DEK reads the same files" t_cryptsetup_reads_the_same_files
test_that "the backing image holds ciphertext only" t_backing_image_is_ciphertext
test_that "a volume attached before an agent restart keeps working and detaches after" t_survives_agent_restart
test_that "header rewrap moves the key, leaves data untouched, survives disabling the old key" t_rewrap
test_that "load-key and table let dmsetup map the volume by hand" t_load_key_and_table
test_that "a volume on a block device attaches without a loop device; delete erases both headers" t_block_device_volume
test_that "volume modify grows an attached file volume under its mounted filesystem; resize2fs grows it online" t_grow_file_volume_online
test_that "volume modify grows an attached device volume within its device and refuses beyond it" t_grow_device_volume_online
test_that "volume modify refuses to shrink and changes nothing" t_shrink_refused
test_that "help texts and bad invocations fail clearly" t_help_and_errors
e2e_teardown
tap_done
