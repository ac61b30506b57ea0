#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Where large bios are converted: fragments go to the online housekeeping
# CPUs only, never to one isolated with isolcpus=, and CPUs going offline
# and online under load lose nothing. The CPU each fragment ran on is read
# from the workqueue tracepoints.
# vm-args: --cpus 3 --append isolcpus=2 --disk 96M --timeout 420
. /tests/kernel/lib.sh

T=/sys/kernel/tracing
[ -d "$T/events" ] || T=/sys/kernel/debug/tracing
grep -q " /sys/kernel/tracing " /proc/mounts || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
[ -d "$T/events" ] || T=/sys/kernel/tracing

big_writes() {
	fio --name=big --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=4 \
		--rw=randwrite --bs=1m --size=64M "$@" --verify=crc32c --verify_fatal=1 \
		--output-format=terse > /tmp/fio.big
}

fragments_never_run_on_an_isolated_cpu() {
	cleanup_maps
	grep -q 'isolcpus=2' /proc/cmdline
	ebs_key cpu
	ebs_create eb /dev/vda 2048 cpu 4096
	echo 0 > "$T/tracing_on"
	: > "$T/trace"
	echo 1 > "$T/events/workqueue/workqueue_execute_start/enable"
	echo 1 > "$T/tracing_on"
	big_writes --io_size=48M
	echo 0 > "$T/tracing_on"
	echo 0 > "$T/events/workqueue/workqueue_execute_start/enable"
	grep ebscrypt_frag_work "$T/trace" | sed -n 's/.*\[\([0-9]*\)\].*/\1/p' | sort | uniq -c > /tmp/cpus
	echo "fragments per CPU:"; cat /tmp/cpus
	[ -s /tmp/cpus ] || { echo "no fragment was traced"; return 1; }
	if awk '$2 + 0 == 2' /tmp/cpus | grep -q .; then
		echo "a fragment ran on isolated CPU 2"; return 1
	fi
	# Both housekeeping CPUs share the work.
	[ "$(wc -l < /tmp/cpus)" -eq 2 ]
}

cpus_going_offline_under_load_lose_nothing() {
	[ -w /sys/devices/system/cpu/cpu1/online ] || { echo "CPU 1 cannot go offline here"; return 0; }
	big_writes --time_based --runtime=12 &
	f=$!
	for _ in 1 2; do
		sleep 2
		echo 0 > /sys/devices/system/cpu/cpu1/online
		sleep 2
		echo 1 > /sys/devices/system/cpu/cpu1/online
	done
	wait "$f"
	dmsetup remove eb
}

test_that "fragments of large bios never run on a CPU isolated with isolcpus" fragments_never_run_on_an_isolated_cpu
test_that "a CPU going offline and online under large writes loses nothing" cpus_going_offline_under_load_lose_nothing
cleanup_maps
tap_done
