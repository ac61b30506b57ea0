#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Reads that complete in hard interrupt context are decrypted in a softirq,
# and a softirq must not run for long. 1024 queued 64 KiB reads on virtio
# (whose completions arrive in interrupt context, hundreds per interrupt),
# decrypted with the slowest driver the kernel has, finish and verify with
# no RCU stall (detector at its 3 s minimum) and no softirq warning.
# vm-args: --disk 128M --timeout 420
. /tests/kernel/lib.sh

STALL=/sys/module/rcupdate/parameters/rcu_cpu_stall_timeout
[ -w "$STALL" ] && echo 3 > "$STALL"

# The generic C implementation where the kernel still has one: the more a
# read costs, the longer an unbounded drain would run.
slow_driver() {
	modprobe aes_generic 2>/dev/null || true
	if grep -qE '^driver +: aes-generic$' /proc/crypto; then
		echo "cipher_driver:xts(ecb(aes-generic))"
	fi
}

queued_reads_finish_and_verify() {
	cleanup_maps
	ebs_key sirq
	# shellcheck disable=SC2046
	ebs_create eb /dev/vda 2048 sirq 4096 $(slow_driver)
	dmsetup status eb | awk '{ print "# driver " $6 }'
	fio --name=fill --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=write --bs=64k --size=96M --verify=crc32c --do_verify=0 \
		--output-format=terse > /tmp/fio.fill
	dmesg -c > /dev/null
	# The same job again, verifying only: 1536 reads of 64 KiB, 1024 at once.
	for pass in 1 2; do
		timeout 300 fio --name=fill --filename=/dev/mapper/eb --direct=1 --ioengine=libaio \
			--iodepth=1024 --iodepth_batch_submit=1024 --iodepth_batch_complete_min=1 \
			--rw=write --bs=64k --size=96M --verify=crc32c --verify_only=1 \
			--verify_fatal=1 --output-format=terse > /tmp/fio.reads.$pass
	done
}

no_stall_and_no_softirq_warning() {
	if dmesg | grep -iE 'rcu.*stall|softirq|NOHZ tick-stop|soft lockup'; then
		echo "the kernel complained while the reads completed"
		return 1
	fi
	dmsetup remove eb
}

test_that "1024 queued 64 KiB reads completing in interrupt context finish and verify" queued_reads_finish_and_verify
test_that "no RCU stall and no softirq warning while they completed" no_stall_and_no_softirq_warning
cleanup_maps
tap_done
