#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Discards pass only with allow_discards; flushes and FUA writes reach the
# backing device with their flags (seen in the block tracepoint and in the
# device's own counters).
# vm-args: --disk 64M
. /tests/kernel/lib.sh

# /sys/block/X/stat: field 12 discard I/Os, field 16 flush I/Os.
stat_field() { awk -v f="$2" '{ print $f }' "/sys/block/$1/stat"; }

TR=/sys/kernel/tracing
[ -d $TR/events ] || mount -t tracefs nodev $TR 2>/dev/null
VDA_DEV=$(cat /sys/block/vda/dev | tr : ,)

trace_start() {
	echo 0 > $TR/tracing_on
	echo > $TR/trace
	echo 1 > $TR/events/block/block_bio_queue/enable
	echo 1 > $TR/tracing_on
}
# Prints the RWBS flags of bios queued to vda since trace_start.
trace_vda_rwbs() {
	echo 0 > $TR/tracing_on
	echo 0 > $TR/events/block/block_bio_queue/enable
	grep "block_bio_queue: $VDA_DEV " $TR/trace | awk '{ for (i = 1; i <= NF; i++) if ($i == "'"$VDA_DEV"'") { print $(i + 1); break } }'
}

discard_refused_without_allow_discards() {
	cleanup_maps
	ebs_key d
	ebs_create eb /dev/vda 2048 d 4096
	assert_eq "$(cat /sys/block/dm-0/queue/discard_max_bytes)" 0
	before=$(stat_field vda 12)
	refute blkdiscard /dev/mapper/eb
	assert_eq "$(stat_field vda 12)" "$before"
}

discard_passes_with_allow_discards() {
	cleanup_maps
	ebs_key d
	ebs_create eb /dev/vda 2048 d 4096 allow_discards
	[ "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0 ] || { echo "vda has no discard"; return 1; }
	before=$(stat_field vda 12)
	blkdiscard -o 0 -l 1048576 /dev/mapper/eb
	[ "$(stat_field vda 12)" -gt "$before" ]
}

flush_reaches_the_device() {
	cleanup_maps
	ebs_key f
	ebs_create eb /dev/vda 2048 f 4096
	before=$(stat_field vda 16)
	trace_start
	dd if=/dev/urandom of=/dev/mapper/eb bs=4k count=4 conv=fsync status=none
	rwbs=$(trace_vda_rwbs); echo "$rwbs" | sort | uniq -c
	echo "$rwbs" | grep -q '^F'
	[ "$(stat_field vda 16)" -gt "$before" ]
}

fua_reaches_the_device() {
	cleanup_maps
	ebs_key f
	ebs_create eb /dev/vda 2048 f 4096
	trace_start
	dd if=/dev/urandom of=/dev/mapper/eb bs=4k count=4 oflag=direct,dsync status=none
	rwbs=$(trace_vda_rwbs); echo "$rwbs" | sort | uniq -c
	# W then F: a write with FUA (a leading F would be a preflush).
	echo "$rwbs" | grep -q '^WF'
}

plain_writes_carry_no_fua() {
	cleanup_maps
	ebs_key f
	ebs_create eb /dev/vda 2048 f 4096
	trace_start
	dd if=/dev/urandom of=/dev/mapper/eb bs=4k count=4 oflag=direct status=none
	rwbs=$(trace_vda_rwbs); echo "$rwbs" | sort | uniq -c
	echo "$rwbs" | grep -q '^W'
	refute grep -q '^WF\|^F' <<<"$rwbs"
}

block_sizes_follow_the_sector_size() {
	cleanup_maps
	ebs_key h
	ebs_create eb /dev/vda 2048 h 4096
	assert_eq "$(blockdev --getss /dev/mapper/eb)" 4096
	assert_eq "$(blockdev --getpbsz /dev/mapper/eb)" 4096
	dmsetup remove eb
	ebs_create eb /dev/vda 2048 h 512
	assert_eq "$(blockdev --getss /dev/mapper/eb)" 512
}

deps_name_the_backing_device() {
	cleanup_maps
	ebs_key h
	ebs_create eb /dev/vda 2048 h 4096
	dmsetup deps eb | tee /dev/stderr | grep -q "($(cat /sys/block/vda/dev | sed 's/:/, /'))"
	ls /sys/block/dm-0/slaves | grep -q vda
}

test_that "discards are refused without allow_discards" discard_refused_without_allow_discards
test_that "discards reach the device with allow_discards" discard_passes_with_allow_discards
test_that "a flush through ebscrypt reaches the backing device" flush_reaches_the_device
test_that "a FUA write through ebscrypt reaches the backing device as FUA" fua_reaches_the_device
test_that "ordinary writes reach the backing device without FUA or flush" plain_writes_carry_no_fua
test_that "the logical and physical block sizes follow sector_size" block_sizes_follow_the_sector_size
test_that "dmsetup deps and sysfs name the backing device" deps_name_the_backing_device
cleanup_maps
tap_done
