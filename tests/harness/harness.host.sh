#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The harness must report exactly what happened in the guest: the script's
# exit status, what reached the scratch disk, and failure for a kernel
# oops, a kernel warning or a hang, even when the script itself "passed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
RUN=$top/tests/vm/run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

guest() { printf '#!/bin/sh\n%s\n' "$1" > "$work/script.sh"; }

status_zero_and_disk_written() {
	guest 'echo EBSCRYPT-HARNESS-MARK | dd of=/dev/vda conv=fsync status=none; exit 0'
	"$RUN" --disk 16M --diskdir "$work/disks" "$work/script.sh"
	grep -q EBSCRYPT-HARNESS-MARK "$work/disks/disk0.img"
}

status_three_is_returned() {
	guest 'exit 3'
	rc=0; "$RUN" "$work/script.sh" || rc=$?
	assert_eq "$rc" 3
}

arguments_and_output_pass_intact() {
	guest 'printf "[%s]" "$@"; echo; cat /files/data.txt'
	echo "file from the host" > "$work/data.txt"
	out=$("$RUN" --file "$work/data.txt" "$work/script.sh" "two words" "it's" '$x')
	assert_eq "$out" "[two words][it's][\$x]
file from the host"
}

oops_fails_the_run() {
	guest 'echo c > /proc/sysrq-trigger; sleep 5; exit 0'
	rc=0; "$RUN" --timeout 120 "$work/script.sh" > "$work/out" 2>&1 || rc=$?
	cat "$work/out"
	[ "$rc" -ne 0 ]
	grep -q "problem\|without reporting" "$work/out"
}

warning_fails_the_run() {
	cp -r "$top/tests/harness/warnmod" "$work/warnmod"
	make -s -C "${KDIR:-$(. "$top/tests/vm/lib.sh"; echo "$VM_KDIR")}" \
		M="$work/warnmod" modules >/dev/null 2>&1
	guest 'insmod /files/ebscrypt_warn_test.ko; exit 0'
	rc=0; "$RUN" --file "$work/warnmod/ebscrypt_warn_test.ko" "$work/script.sh" > "$work/out" 2>&1 || rc=$?
	cat "$work/out"
	assert_eq "$rc" 125
	grep -q "WARNING" "$work/out"
}

hang_is_killed_and_reported() {
	guest 'sleep 100000'
	rc=0; "$RUN" --timeout 25 "$work/script.sh" > "$work/out" 2>&1 || rc=$?
	cat "$work/out"
	assert_eq "$rc" 124
	grep -q "did not finish" "$work/out"
}

boot_stall_is_told_from_a_hang() {
	# A kernel that never starts our /init (here: told to run another
	# init, and to hang rather than reboot should it panic) is a boot
	# failure, reported as such within the boot bound, not a test hang
	# after the script's timeout.
	guest 'exit 0'
	t0=$SECONDS
	rc=0; EBSCRYPT_VM_BOOT_STALL=15 "$RUN" --timeout 600 --append "rdinit=/nonexistent panic=0" \
		"$work/script.sh" > "$work/out" 2>&1 || rc=$?
	cat "$work/out"
	echo "took $((SECONDS - t0))s"
	assert_eq "$rc" 123 && grep -q "no boot progress" "$work/out" && [ $((SECONDS - t0)) -lt 300 ]
}

test_that "a guest script that exits 0 returns 0 and its disk writes reach the host image" status_zero_and_disk_written
test_that "a guest script that exits 3 returns 3" status_three_is_returned
test_that "arguments, files and output pass between host and guest intact" arguments_and_output_pass_intact
test_that "a guest kernel oops fails the run" oops_fails_the_run
test_that "a guest kernel WARNING fails the run even though the script exited 0" warning_fails_the_run
test_that "a hung guest is killed by the timeout and reported as failed" hang_is_killed_and_reported
test_that "a guest that makes no boot progress is reported as a boot failure within the boot bound" boot_stall_is_told_from_a_hang
tap_done
