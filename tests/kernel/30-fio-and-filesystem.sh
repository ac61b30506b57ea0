#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt under real workloads: fio with crc32c verification over mixed
# random reads and writes of mixed block sizes, and ext4 with a tree of
# files that must survive unmount, fsck and remount bit for bit.
# vm-args: --disk 320M --mem 1024
. /tests/kernel/lib.sh

fio_verify() {
	local ss=$1
	ebs_key "fio$ss"
	ebs_create eb /dev/vda 2048 "fio$ss" "$ss"
	fio --name=mixed --filename=/dev/mapper/eb --direct=1 --ioengine=libaio \
		--iodepth=16 --rw=randrw --rwmixread=40 --bssplit=4k/40:16k/25:64k/20:256k/10:1m/5 \
		--size=96M --io_size=192M --verify=crc32c --verify_backlog=64 --verify_fatal=1 \
		--randrepeat=0 --group_reporting --output-format=terse > /tmp/fio.out
	# A final pass that reads back and checks everything written.
	fio --name=mixed --filename=/dev/mapper/eb --direct=1 --ioengine=libaio \
		--iodepth=16 --rw=randwrite --bssplit=4k/40:16k/25:64k/20:256k/10:1m/5 \
		--size=96M --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
		--output-format=terse >> /tmp/fio.out
	dmsetup remove eb
}

FILES_SRC="/usr/lib /tests /usr/sbin /usr/bin"

filesystem_roundtrip() {
	ebs_key fs
	ebs_create eb /dev/vda 2048 fs 4096
	mkfs.ext4 -q -F /dev/mapper/eb
	mkdir -p /mnt/eb
	mount -t ext4 /dev/mapper/eb /mnt/eb
	for d in $FILES_SRC; do mkdir -p "/mnt/eb/tree$d"; cp -a "$d/." "/mnt/eb/tree$d/"; done
	(cd /mnt/eb/tree && find . -type f -exec sha256sum {} + | sort -k2) > /tmp/sums
	n=$(wc -l < /tmp/sums); echo "$n files"; [ "$n" -gt 100 ]
	umount /mnt/eb
	e2fsck -fn /dev/mapper/eb
	# Drop everything cached: the next read must come through decryption.
	dmsetup remove eb
	ebs_create eb /dev/vda 2048 fs 4096
	mount -t ext4 -o ro /dev/mapper/eb /mnt/eb
	(cd /mnt/eb/tree && sha256sum -c --quiet /tmp/sums)
	umount /mnt/eb
	dmsetup remove eb
}

test_that "fio crc32c verification passes over mixed random I/O with 4096-byte sectors" fio_verify 4096
cleanup_maps
test_that "fio crc32c verification passes over mixed random I/O with 512-byte sectors" fio_verify 512
cleanup_maps
test_that "an ext4 tree survives unmount, a clean e2fsck -fn and remount bit for bit" filesystem_roundtrip
tap_done
