#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt and dm-crypt's aes-xts-plain64 must be the same cipher, byte for
# byte, for every sector size and a non-zero offset: each reads what the
# other wrote.
# vm-args: --disk 64M
. /tests/kernel/lib.sh
. /tests/lib/guest.sh

DEV=/dev/vda
OFF=2048
MB=8

ebscrypt_to_cryptsetup() {
	local ss=$1
	ebs_key "w$ss"
	pattern /tmp/plain "$((MB * 1048576))"
	ebs_create eb "$DEV" "$OFF" "w$ss" "$ss"
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M oflag=direct status=none
	dmsetup remove eb
	cs_open cs "$DEV" "$OFF" "w$ss" "$ss"
	got=$(dd if=/dev/mapper/cs bs=1M count=$MB iflag=direct status=none | sha)
	cryptsetup close cs
	assert_eq "$got" "$(sha < /tmp/plain)" "cryptsetup read of ebscrypt data"
}

cryptsetup_to_ebscrypt() {
	local ss=$1
	ebs_key "r$ss"
	head -c $((MB * 1048576)) /dev/urandom > /tmp/plain
	cs_open cs "$DEV" "$OFF" "r$ss" "$ss"
	dd if=/tmp/plain of=/dev/mapper/cs bs=1M oflag=direct status=none
	cryptsetup close cs
	ebs_create eb "$DEV" "$OFF" "r$ss" "$ss"
	got=$(dd if=/dev/mapper/eb bs=1M count=$MB iflag=direct status=none | sha)
	dmsetup remove eb
	assert_eq "$got" "$(sha < /tmp/plain)" "ebscrypt read of dm-crypt data"
}

unaligned_offset_crosscheck() {
	# Odd offset with 512-byte sectors: IVs count from the offset, not 0.
	ebs_key odd
	pattern /tmp/plain 1048576
	ebs_create eb "$DEV" 7 odd 512
	dd if=/tmp/plain of=/dev/mapper/eb bs=64k oflag=direct status=none
	dmsetup remove eb
	cs_open cs "$DEV" 7 odd 512
	got=$(dd if=/dev/mapper/cs bs=64k count=16 iflag=direct status=none | sha)
	cryptsetup close cs
	assert_eq "$got" "$(sha < /tmp/plain)"
}

tasklets() { awk '/TASKLET:/ { s = 0; for (i = 2; i <= NF; i++) s += $i; print s }' /proc/softirqs; }

# The virtio disk completes reads in hard interrupt context, where nothing
# may be decrypted: small ones must go to the per-CPU softirq (one tasklet
# run per read here, at QD1), and still be right, 4 KiB at a time.
small_reads_from_interrupts() {
	local before after n=512
	ebs_key irq
	head -c $((n * 4096)) /dev/urandom > /tmp/plain
	cs_open cs "$DEV" "$OFF" irq 4096
	dd if=/tmp/plain of=/dev/mapper/cs bs=1M oflag=direct status=none
	cryptsetup close cs
	ebs_create eb "$DEV" "$OFF" irq 4096
	before=$(tasklets)
	got=$(dd if=/dev/mapper/eb bs=4k count=$n iflag=direct status=none | sha)
	after=$(tasklets)
	dmsetup remove eb
	assert_eq "$got" "$(sha < /tmp/plain)" "4 KiB reads completed $where"
	echo "tasklet runs: $before -> $after for $n reads"
	if [ "$RT" = 1 ]; then
		[ $((after - before)) -lt $((n / 2)) ]
	else
		[ $((after - before)) -ge $((n / 2)) ]
	fi
}

for ss in 512 4096; do
	test_that "data written through ebscrypt with ${ss}-byte sectors reads back through cryptsetup plain" \
		ebscrypt_to_cryptsetup $ss
	cleanup_maps
	test_that "data written through cryptsetup plain with ${ss}-byte sectors reads back through ebscrypt" \
		cryptsetup_to_ebscrypt $ss
	cleanup_maps
done
for ss in 1024 2048; do
	test_that "ebscrypt and cryptsetup agree with ${ss}-byte sectors" ebscrypt_to_cryptsetup $ss
	cleanup_maps
done
test_that "IVs count from an odd offset exactly as dm-crypt's do" unaligned_offset_crosscheck
cleanup_maps
# PREEMPT_RT runs interrupt handlers in threads: there a read completes
# where it may be decrypted at once, and no softirq is involved.
if guest_is_preempt_rt; then
	RT=1 where="in a threaded interrupt handler (PREEMPT_RT) are decrypted there"
else
	RT=0 where="in interrupt context are decrypted in a softirq"
fi
test_that "small reads completed $where and match dm-crypt" small_reads_from_interrupts
tap_done
