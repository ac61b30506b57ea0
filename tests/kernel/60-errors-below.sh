#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# I/O errors of the backing device reach the reader and the writer, never
# hidden, and nothing written before the fault is lost. The fault comes from
# stacking ebscrypt on a linear mapping that is swapped for dm-error.
# vm-args: --disk 64M
. /tests/kernel/lib.sh

N=$(blockdev --getsz /dev/vda)
setup() {
	cleanup_maps
	dmsetup create lower --table "0 $N linear /dev/vda 0"
	ebs_key err
	pattern /tmp/plain 4194304
	ebs_create eb /dev/mapper/lower 2048 err 4096
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M oflag=direct status=none
}
break_lower() {
	dmsetup suspend lower
	dmsetup load lower --table "0 $N error"
	dmsetup resume lower
}
heal_lower() {
	dmsetup suspend lower
	dmsetup load lower --table "0 $N linear /dev/vda 0"
	dmsetup resume lower
}

reads_fail_when_the_device_fails() {
	setup
	break_lower
	refute dd if=/dev/mapper/eb of=/dev/null bs=1M count=1 iflag=direct
	refute dd if=/dev/mapper/eb of=/dev/null bs=4k count=1 skip=7 iflag=direct
}

writes_fail_when_the_device_fails() {
	setup
	break_lower
	refute dd if=/dev/urandom of=/dev/mapper/eb bs=1M count=1 seek=8 oflag=direct
	refute dd if=/dev/urandom of=/dev/mapper/eb bs=4k count=1 seek=3000 oflag=direct
}

errors_are_counted_in_status() {
	setup
	break_lower
	dd if=/dev/mapper/eb of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null || true
	dd if=/dev/zero of=/dev/mapper/eb bs=4k count=1 seek=5000 oflag=direct 2>/dev/null || true
	st=$(dmsetup status eb); echo "$st"
	set -- $st
	[ "${11}" -ge 2 ]
}

data_survives_the_fault() {
	setup
	break_lower
	refute dd if=/dev/urandom of=/dev/mapper/eb bs=1M count=1 oflag=direct
	heal_lower
	assert_eq "$(dd if=/dev/mapper/eb bs=1M count=4 iflag=direct status=none | sha)" "$(sha < /tmp/plain)"
}

test_that "reads through ebscrypt fail when the backing device fails them" reads_fail_when_the_device_fails
test_that "writes through ebscrypt fail when the backing device fails them" writes_fail_when_the_device_fails
test_that "backing-device errors are counted in dmsetup status" errors_are_counted_in_status
test_that "data written before the fault reads back intact after it" data_survives_the_fault
cleanup_maps
tap_done
