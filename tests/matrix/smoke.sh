#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The smoke test every kernel of the matrix gets in `make check`: the module
# built for this kernel loads, dm-crypt reads what ebscrypt wrote and the
# reverse, and fio verification holds over mixed random I/O. (6.1 runs the
# whole kernel suite instead; `make check-kernels` runs it everywhere.)
# vm-args: --disk 96M --crypto-selftests
. /tests/kernel/lib.sh

echo "# guest kernel $(uname -r) ($(cat /etc/ebscrypt-kernel 2>/dev/null))"

module_loads() {
	grep -q '^dm_ebscrypt ' /proc/modules
	modinfo -F vermagic dm_ebscrypt | grep -q "^$(uname -r) "
	dmsetup targets | grep -qE '^ebscrypt +v1\.'
}

crosscheck() {
	cleanup_maps
	ebs_key smoke
	pattern /tmp/plain 8388608
	ebs_create eb /dev/vda 2048 smoke 4096
	dmsetup status eb | awk '{ print "# cipher driver " $6 }'
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M oflag=direct status=none
	dmsetup remove eb
	cs_open cs /dev/vda 2048 smoke 4096
	assert_eq "$(dd if=/dev/mapper/cs bs=1M count=8 iflag=direct status=none | sha)" "$(sha < /tmp/plain)" "dm-crypt read of ebscrypt data"
	head -c 4194304 /dev/urandom > /tmp/rnd
	dd if=/tmp/rnd of=/dev/mapper/cs bs=64k seek=256 oflag=direct status=none
	cryptsetup close cs
	ebs_create eb /dev/vda 2048 smoke 4096
	assert_eq "$(dd if=/dev/mapper/eb bs=64k skip=256 count=64 iflag=direct status=none | sha)" "$(sha < /tmp/rnd)" "ebscrypt read of dm-crypt data"
	dmsetup remove eb
}

fio_verify() {
	ebs_create eb /dev/vda 2048 smoke 512
	fio --name=smoke --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randrw --bssplit=4k/40:64k/40:1m/20 --size=48M --io_size=64M \
		--verify=crc32c --verify_backlog=32 --verify_fatal=1 --randrepeat=0 \
		--output-format=terse > /tmp/fio.smoke
	dmsetup remove eb
}

test_that "the module built for this kernel loads and registers the target" module_loads
test_that "every XTS-AES driver the kernel registered passed its self-tests" xts_drivers_passed_selftests
test_that "dm-crypt reads what ebscrypt wrote, and ebscrypt what dm-crypt wrote" crosscheck
test_that "fio crc32c verification holds over mixed random I/O" fio_verify
test_that "emulated, the guest reports RCU stalls after boot but not during it" boot_stalls_suppressed_under_emulation
cleanup_maps
tap_done
