#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Suspend, resume and table reload (growing the device) while fio writes
# and verifies: no error, no lost write, no hang.
# vm-args: --disk 256M --mem 1024
. /tests/kernel/lib.sh

suspend_resume_under_io() {
	cleanup_maps
	ebs_key sr
	ebs_create eb /dev/vda 2048 sr 4096
	fio --name=sr --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bssplit=4k/50:64k/30:1m/20 --size=64M --time_based --runtime=25 \
		--verify=crc32c --verify_backlog=32 --verify_fatal=1 --output-format=terse > /tmp/fio.sr &
	fpid=$!
	sleep 3
	for i in 1 2 3 4 5 6 7 8; do
		dmsetup suspend eb
		sleep 0.3
		dmsetup resume eb
		sleep 1
	done
	wait $fpid
}

grow_under_io() {
	cleanup_maps
	ebs_key gr
	full=$(ebs_sectors /dev/vda 2048 4096)
	half=$((full / 2 / 8 * 8))
	dmsetup create eb --table "0 $half ebscrypt /dev/vda 2048 :64:logon:ebscrypt:gr 1 sector_size:4096"
	fio --name=gr --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bs=16k --size=48M --time_based --runtime=15 \
		--verify=crc32c --verify_backlog=32 --verify_fatal=1 --output-format=terse > /tmp/fio.gr &
	fpid=$!
	sleep 4
	dmsetup load eb --table "0 $full ebscrypt /dev/vda 2048 :64:logon:ebscrypt:gr 1 sector_size:4096"
	dmsetup suspend eb
	dmsetup resume eb
	wait $fpid
	assert_eq "$(blockdev --getsz /dev/mapper/eb)" "$full"
	# The new space works and holds data like the old.
	pattern /tmp/plain 1048576
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M seek=$((full / 2048 - 1)) oflag=direct status=none
	assert_eq "$(dd if=/dev/mapper/eb bs=1M skip=$((full / 2048 - 1)) iflag=direct status=none | sha)" "$(sha < /tmp/plain)"
}

test_that "suspend and resume under fio write load lose nothing" suspend_resume_under_io
test_that "a table reload grows the device under fio write load" grow_under_io
cleanup_maps
tap_done
