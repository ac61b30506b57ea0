#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Key messages race with nothing: suspend, resume, "key wipe", "key set" and
# other messages are fired at the device from several processes at once,
# with fio writing and verifying underneath and a fixed pattern rewritten
# pass after pass. A wipe or set must land only while the device is suspended,
# and a device resumed without a key must be refused, so no block is ever
# written or read under a wrong key: fio verifies throughout, and at the
# end dm-crypt reads back exactly what fio wrote. Also: a key the cipher
# refuses leaves no key loaded.
# vm-args: --disk 128M --timeout 480
. /tests/kernel/lib.sh

KEY=:64:logon:ebscrypt:race
RUNTIME=15	# seconds of racing
CYCLES=60	# most suspend/resume cycles in that time

# Suspend, maybe set the key again (as a rotation would), resume; a resume
# refused for want of a key (a racing wipe got in) gets the key set again.
cycler() {
	local i=0 end=$((SECONDS + RUNTIME))
	while [ $i -lt $CYCLES ] && [ $SECONDS -lt $end ]; do
		dmsetup suspend eb
		[ $((i % 3)) -eq 0 ] && dmsetup message eb 0 key set $KEY 2>/dev/null
		until dmsetup resume eb 2>/dev/null; do
			dmsetup message eb 0 key set $KEY 2>/dev/null || true
		done
		i=$((i + 1))
	done
	echo "$i cycles" > /tmp/cycles
}

# Fire messages without regard to the device's state; count what was taken.
spammer() {
	local n=$1 ok=0 end=$((SECONDS + RUNTIME))
	while [ $SECONDS -lt $end ]; do
		case $((RANDOM % 4)) in
		0|1) dmsetup message eb 0 key wipe 2>/dev/null && ok=$((ok + 1)) ;;
		2) dmsetup message eb 0 key set $KEY 2>/dev/null && ok=$((ok + 1)) ;;
		3) dmsetup message eb 0 key rotate 2>/dev/null && echo "accepted key rotate" >> /tmp/bad ;;
		esac
	done
	echo "$ok" > "/tmp/spam.$n"
}

# Rewrite the second half with a fixed pattern, pass after pass, while the
# race lasts: whatever a pass wrote under a wrong key stays wrong on disk.
patterner() {
	local end=$((SECONDS + RUNTIME)) passes=0
	while [ $SECONDS -lt $end ]; do
		dd if=/tmp/pat of=/dev/mapper/eb bs=256k seek=$((HALF / 256)) oflag=direct \
			conv=notrunc status=none || { echo "pattern write failed" >> /tmp/bad; break; }
		passes=$((passes + 1))
	done
	echo "$passes" > /tmp/passes
}

HALF=$((48 * 1024))	# KiB: fio below, the pattern above

messages_race_resume_and_nothing_is_written_under_a_wrong_key() {
	cleanup_maps
	ebs_key race
	head -c 1048576 /dev/urandom > /tmp/block
	for i in $(seq 1 48); do printf '%08d' "$i"; tail -c +9 /tmp/block; done > /tmp/pat
	ebs_create eb /dev/vda 2048 race 4096
	: > /tmp/bad
	fio --name=race --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bssplit=4k/50:64k/30:256k/20 --size=$((HALF / 1024))M --time_based \
		--runtime=$((RUNTIME + 5)) --verify=crc32c --verify_backlog=16 --verify_fatal=1 \
		--verify_state_save=0 --output-format=terse > /tmp/fio.race &
	fpid=$!
	sleep 2
	patterner &
	pp=$!
	cycler &
	c=$!
	spids=()
	for n in 1 2 3; do spammer "$n" & spids+=($!); done
	wait "$c"
	for p in "${spids[@]}"; do wait "$p"; done
	wait "$pp"
	wait "$fpid" || { echo "fio verification failed while messages raced"; return 1; }
	echo "$(cat /tmp/cycles), $(cat /tmp/passes) pattern passes; messages accepted: $(cat /tmp/spam.* | tr '\n' ' ')"
	[ ! -s /tmp/bad ] || { cat /tmp/bad; return 1; }
	st=$(dmsetup status eb); echo "$st"
	echo "$st" | grep -q key_loaded
}

pattern_reads_back_through_dm_crypt() {
	dmsetup remove eb
	cs_open cs /dev/vda 2048 race 4096
	got=$(dd if=/dev/mapper/cs bs=256k skip=$((HALF / 256)) count=192 iflag=direct status=none | sha)
	cryptsetup close cs
	assert_eq "$got" "$(sha < /tmp/pat)" "pattern written during the race, read by dm-crypt"
}

messages_refused_unless_suspended() {
	ebs_create eb /dev/vda 2048 race 4096
	refute dmsetup message eb 0 key wipe
	refute dmsetup message eb 0 key set $KEY
	dmsetup status eb | grep -q key_loaded
	dmsetup suspend eb
	dmsetup message eb 0 key wipe
	dmsetup message eb 0 key set $KEY
	dmsetup resume eb
	refute dmsetup message eb 0 key wipe
	dmsetup remove eb
}

a_key_the_cipher_refuses_leaves_no_key() {
	# XTS with two equal halves is weak: the cipher refuses such a key, at
	# table load and in key set, and the device is then left with no key.
	head -c 32 /dev/urandom > /tmp/half
	cat /tmp/half /tmp/half | keyctl padd logon ebscrypt:weak @s > /dev/null
	refute dmsetup create weak --table "0 8 ebscrypt /dev/vda 2048 :64:logon:ebscrypt:weak"
	ebs_create eb /dev/vda 2048 race 4096
	dmsetup suspend eb
	refute dmsetup message eb 0 key set :64:logon:ebscrypt:weak
	assert_eq "$(dmsetup status eb | cut -d' ' -f4)" key_wiped
	refute dmsetup resume eb
	dmsetup message eb 0 key set $KEY
	dmsetup resume eb
	dmsetup remove eb
}

test_that "suspend, resume and key messages racing under fio verify never expose a wrong key" messages_race_resume_and_nothing_is_written_under_a_wrong_key
test_that "every block written during the race reads back through dm-crypt under the right key" pattern_reads_back_through_dm_crypt
test_that "key wipe and key set are refused unless the device is suspended" messages_refused_unless_suspended
test_that "a key the cipher refuses (equal XTS halves) leaves the device with no key" a_key_the_cipher_refuses_leaves_no_key
cleanup_maps
tap_done
