#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Polled I/O: io_uring with IOPOLL (fio --hipri) on a virtio-blk disk with a
# poll queue. device-mapper polls only the bio it handed the target; an
# encrypted write goes down as a separate bounce bio, which must therefore
# not be polled, or the poller spins forever waiting for it. Reads and
# writes both complete and verify.
#
# io_uring issues every I/O no-wait first, and the block layer refuses a
# no-wait bio it would have to split (or find no tag for) with EAGAIN. On
# 6.1 io_uring retries that only where it completes in the submitting task,
# and device-mapper requeues a refused polled bio from its worker still
# no-wait. So with a disk below that takes smaller requests than ebscrypt
# sends, a 1 MiB polled read and every encrypted write (sent from the
# workqueue) failed with EAGAIN in the application; the last tests give the
# disk such small requests.
# vm-args: --disk 96M --timeout 480
. /tests/kernel/lib.sh

poll_queue_enabled() {
	# virtio_blk is a module on every kernel of the matrix: reload it with
	# one poll queue (nothing holds /dev/vda yet).
	rmmod virtio_blk
	modprobe virtio_blk poll_queues=1
	for _ in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
	assert_eq "$(cat /sys/block/vda/queue/io_poll)" 1 "virtio-blk polling"
	ebs_key poll
	ebs_create eb /dev/vda 2048 poll 4096
	dm=$(dmsetup info -c --noheadings -o blkdevname eb)
	assert_eq "$(cat "/sys/block/$dm/queue/io_poll")" 1 "ebscrypt inherits polling"
}

uring() {
	# A poller that never sees its completion spins until killed.
	timeout -s KILL 120 fio --name=poll --filename=/dev/mapper/eb --direct=1 \
		--ioengine=io_uring --iodepth=8 --size=32M "$@" \
		--output-format=terse > /tmp/fio.poll
}

polled() { uring --hipri "$@"; }

# requests_below KIB: the disk below ebscrypt takes at most KIB per request,
# so it must split every larger bio ebscrypt sends it.
requests_below() {
	echo "$1" > /sys/block/vda/queue/max_sectors_kb
	assert_eq "$(cat /sys/block/vda/queue/max_sectors_kb)" "$1" "vda max_sectors_kb"
}

polled_writes_complete_and_verify() {
	polled --rw=randwrite --bssplit=4k/50:64k/30:1m/20 --verify=crc32c \
		--verify_fatal=1 --verify_backlog=16
}

polled_reads_complete_and_verify() {
	polled --rw=write --bs=64k --verify=crc32c --do_verify=0
	polled --rw=read --bs=64k --verify=crc32c --verify_only=1 --verify_fatal=1
	polled --rw=randread --bssplit=4k/60:64k/40 --io_size=16M
}

polled_reads_split_below_complete_and_verify() {
	requests_below 128
	polled --rw=write --bs=1m --verify=crc32c --do_verify=0
	polled --rw=read --bs=1m --verify=crc32c --verify_only=1 --verify_fatal=1
}

writes_split_below_complete_and_verify() {
	requests_below 64
	uring --rw=write --bs=128k --verify=crc32c --verify_fatal=1
}

polled_writes_split_below_complete_and_verify() {
	requests_below 64
	polled --rw=randwrite --bs=128k --verify=crc32c --verify_fatal=1
}

# Every 1 MiB read here is refused no-wait, and its retry from the workqueue
# reaches the disk as eight 128 KiB requests: all of them must be counted
# in the reader's cgroup (where io.max and io.weight apply), not in the
# root cgroup of the worker that sent them.
retried_reads_are_charged_to_the_reader() {
	local cg=/sys/fs/cgroup majmin rios
	cgroup_child reader "+io"
	requests_below 128
	majmin=$(cat /sys/block/vda/dev)
	sh -c 'echo $$ > '"$cg"'/reader/cgroup.procs; exec timeout -s KILL 120 fio \
		--name=cg --filename=/dev/mapper/eb --direct=1 --ioengine=io_uring \
		--iodepth=4 --rw=read --bs=1m --size=16M --output-format=terse' \
		> /dev/null || return 1
	rios=$(awk -v d="$majmin" '$1 == d { for (i = 2; i <= NF; i++)
		if (sub(/^rios=/, "", $i)) print $i }' "$cg/reader/io.stat")
	echo "the reader's cgroup counted ${rios:-no} reads from vda; the disk served 128"
	[ "${rios:-0}" -ge 128 ]
}

test_that "ebscrypt on a virtio-blk disk with a poll queue accepts polled I/O" poll_queue_enabled
test_that "polled io_uring writes through ebscrypt complete and verify" polled_writes_complete_and_verify
test_that "polled io_uring reads through ebscrypt complete and verify" polled_reads_complete_and_verify
test_that "polled 1 MiB reads that the disk below must split complete and verify" polled_reads_split_below_complete_and_verify
test_that "io_uring writes that the disk below must split complete and verify" writes_split_below_complete_and_verify
test_that "polled writes that the disk below must split complete and verify" polled_writes_split_below_complete_and_verify
test_that "reads retried below are charged to the reader's cgroup" retried_reads_are_charged_to_the_reader
cleanup_maps
tap_done
