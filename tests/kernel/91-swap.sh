#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Swap on ebscrypt in a guest with 256 MiB of RAM: swapping out needs bounce
# pages while memory is what is short, which deadlocks a target that lets
# swap bios pile up. Under a memory hog (anonymous memory, and a tmpfs file
# larger than RAM whose contents are checked after coming back from swap),
# everything finishes, no task hangs (the hung-task detector runs with a
# short timeout; the harness fails the run on its report), and what came
# back from the encrypted swap is what went out.
# vm-args: --slim --mem 256 --disk 448M --timeout 600
. /tests/kernel/lib.sh

HUNG=/proc/sys/kernel/hung_task_timeout_secs
[ -w "$HUNG" ] && echo 15 > "$HUNG"
# Proactive compaction (a timer, not anything the target asks for) churns
# through this tiny, swapping guest and, with vCPUs a loaded host starves,
# trips the soft-lockup detector in kcompactd itself.
PROACTIVE=/proc/sys/vm/compaction_proactiveness
[ -w "$PROACTIVE" ] && echo 0 > "$PROACTIVE"
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

swap_on_ebscrypt() {
	ebs_key swap
	ebs_create sw /dev/vda 2048 swap 4096
	mkswap /dev/mapper/sw > /dev/null
	swapon /dev/mapper/sw
	grep -q /dev/dm-0 /proc/swaps || grep -q mapper/sw /proc/swaps
}

hog_finishes_and_data_comes_back() {
	local out0 in0 want got
	out0=$(vmstat pswpout); in0=$(vmstat pswpin)
	mkdir -p /hog
	mount -t tmpfs -o size=320m tmpfs /hog
	# 96 MiB of non-zero data in 1 MiB blocks that all differ (zero pages
	# are not written to swap by newer kernels).
	head -c 1048576 /dev/urandom > /tmp/block
	want=$(for i in $(seq 1 96); do printf '%08d' "$i"; tail -c +9 /tmp/block; done |
		tee /hog/fill | sha)
	echo "filled at $(cut -d' ' -f1 /proc/uptime)s"
	# Anonymous memory on top, 2 x 100 MiB touched once: 296 MiB in all.
	timeout 400 dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null &
	a=$!
	timeout 400 dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null &
	b=$!
	wait "$a"; wait "$b"
	echo "hogs done at $(cut -d' ' -f1 /proc/uptime)s"
	got=$(sha < /hog/fill)
	assert_eq "$got" "$want" "tmpfs data after swap-out and swap-in"
	echo "pswpout +$(( $(vmstat pswpout) - out0 )) pswpin +$(( $(vmstat pswpin) - in0 ))"
	[ "$(vmstat pswpout)" -gt "$out0" ] || { echo "nothing was swapped out"; return 1; }
	[ "$(vmstat pswpin)" -gt "$in0" ] || { echo "nothing was swapped in"; return 1; }
}

swapoff_reads_everything_back() {
	rm -f /hog/fill
	timeout 120 swapoff /dev/mapper/sw
	umount /hog
	dmsetup remove sw
}

test_that "a swap area on ebscrypt is accepted and enabled" swap_on_ebscrypt
test_that "a memory hog in 256 MiB swaps through ebscrypt, finishes, and swapped data comes back intact" hog_finishes_and_data_comes_back
test_that "swapoff reads the encrypted swap back and the device is removed" swapoff_reads_everything_back
cleanup_maps
tap_done
