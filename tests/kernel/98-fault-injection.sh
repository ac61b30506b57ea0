#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Allocation failures injected into the paths dm-ebscrypt allocates on
# (failslab and fail_page_alloc, for the processes doing the I/O and the
# table loads only) surface as retries or clean errors: fio verification
# holds, refused table loads leave nothing behind (the debug kernel's
# kmemleak scan after the script fails the run on a leak), and the kernel
# reports nothing. Needs a kernel with fault injection (the debug kernel of
# `make check-debug`); skipped elsewhere.
# vm-args: --disk 128M --timeout 900
. /tests/kernel/lib.sh

FI=/sys/kernel/debug
if [ ! -d "$FI/failslab" ] || [ ! -d "$FI/fail_page_alloc" ]; then
	tap_skip "fio verification holds while allocations in the I/O path fail" "no fault injection in this kernel"
	tap_skip "table loads under failing allocations fail cleanly or succeed, and leak nothing" "no fault injection in this kernel"
	tap_done
fi

TIMES=1000000
# inject WHAT WAIT: fail WHAT (failslab, fail_page_alloc) at random, 10% of
# the time, in tasks that asked for it; WAIT=N also fails allocations that
# may sleep (GFP_KERNEL), WAIT=Y only those that may not (GFP_NOWAIT, the
# write path's first attempts).
inject() {
	echo 10 > "$FI/$1/probability"
	echo 1 > "$FI/$1/interval"
	echo $TIMES > "$FI/$1/times"
	echo 0 > "$FI/$1/verbose"
	echo Y > "$FI/$1/task-filter"
	echo "$2" > "$FI/$1/ignore-gfp-wait"
}
injected() { echo $((TIMES - $(cat "$FI/$1/times"))); }
off() { echo 0 > "$FI/$1/probability"; }
# Run a command with fault injection on for it (and its threads) only.
failing() { sh -c 'echo 1 > /proc/self/make-it-fail; exec "$@"' sh "$@"; }

io_survives_failing_allocations() {
	cleanup_maps
	ebs_key fi
	ebs_create eb /dev/vda 2048 fi 4096
	inject failslab Y
	inject fail_page_alloc Y
	echo 0 > "$FI/fail_page_alloc/min-order"
	failing fio --name=fi --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randrw --bssplit=4k/40:16k/20:64k/20:1m/20 --size=64M --io_size=96M \
		--verify=crc32c --verify_backlog=16 --verify_fatal=1 --output-format=terse > /tmp/fio.fi
	off failslab; off fail_page_alloc
	echo "injected: failslab $(injected failslab), fail_page_alloc $(injected fail_page_alloc)"
	[ "$(injected fail_page_alloc)" -gt 0 ] || { echo "no page allocation failed"; return 1; }
	# A clean pass over everything, no faults: still intact.
	fio --name=fi --filename=/dev/mapper/eb --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randrw --bssplit=4k/40:16k/20:64k/20:1m/20 --size=64M --io_size=96M \
		--verify=crc32c --verify_backlog=16 --verify_fatal=1 --output-format=terse > /tmp/fio.fi2
	dmsetup remove eb
}

table_loads_fail_cleanly() {
	local ok=0 refused=0 i
	inject failslab N
	inject fail_page_alloc N
	for i in $(seq 1 40); do
		if failing dmsetup create "fi$i" --table \
			"0 8192 ebscrypt /dev/vda 2048 :64:logon:ebscrypt:fi 1 sector_size:4096" 2>/dev/null; then
			ok=$((ok + 1))
			dmsetup remove "fi$i" 2>/dev/null || { sleep 1; dmsetup remove "fi$i"; }
		else
			refused=$((refused + 1))
			dmsetup remove "fi$i" 2>/dev/null || true
		fi
	done
	off failslab; off fail_page_alloc
	echo "table loads: $ok succeeded, $refused refused; injected: failslab $(injected failslab)"
	[ "$refused" -gt 0 ]
	if dmsetup ls | grep -q '^fi[0-9]'; then
		echo "a refused table left a device behind"; dmsetup ls; return 1
	fi
	# The target still works after all that.
	ebs_create eb /dev/vda 2048 fi 4096
	dd if=/dev/urandom of=/tmp/x bs=64k count=16 status=none
	dd if=/tmp/x of=/dev/mapper/eb bs=64k oflag=direct status=none
	assert_eq "$(dd if=/dev/mapper/eb bs=64k count=16 iflag=direct status=none | sha)" "$(sha < /tmp/x)"
	dmsetup remove eb
}

test_that "fio verification holds while allocations in the I/O path fail" io_survives_failing_allocations
test_that "table loads under failing allocations fail cleanly or succeed, and leak nothing" table_loads_fail_cleanly
cleanup_maps
tap_done
