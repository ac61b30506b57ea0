#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Polled I/O: io_uring with IOPOLL (fio --hipri) on a virtio-blk disk with a
# poll queue. device-mapper polls only the bio it handed the target; an
# encrypted write goes down as a separate bounce bio, which must therefore
# not be polled, or the poller spins forever waiting for it. Reads and
# writes both complete and verify.
# 2 GiB: once, on a host loaded three times over, a 1 MiB polled read of
# the write test's verify backlog came back EAGAIN from below the target
# (a REQ_NOWAIT bio, which reads pass down unchanged, refused where it
# could not wait) and io_uring did not reissue it; room in the guest keeps
# the no-wait paths of the block layer from running dry.
# vm-args: --disk 96M --mem 2048 --timeout 360
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

polled() {
	# A poller that never sees its completion spins until killed.
	timeout -s KILL 120 fio --name=poll --filename=/dev/mapper/eb --direct=1 \
		--ioengine=io_uring --hipri --iodepth=8 --size=32M "$@" \
		--output-format=terse > /tmp/fio.poll
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

test_that "ebscrypt on a virtio-blk disk with a poll queue accepts polled I/O" poll_queue_enabled
test_that "polled io_uring writes through ebscrypt complete and verify" polled_writes_complete_and_verify
test_that "polled io_uring reads through ebscrypt complete and verify" polled_reads_complete_and_verify
cleanup_maps
tap_done
