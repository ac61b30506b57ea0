#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The systemd guest boots its own kernel: with a linux-image package
# installed in the guest, `sysguest reboot --kernel guest` boots the newest
# /boot/vmlinuz-* of the guest's disk with the guest's own initrd, and the
# default boot is the test VM's kernel through the harness's initramfs.
# Not in `make check` (its image holds a kernel package and takes a few
# minutes to build the first time): `make check-harness-heavy`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/lib.sh"
S=$top/tests/vm/sysguest
work=$(mktemp -d)
G=$work/vm
trap '"$S" kill "$G" 2>/dev/null; rm -rf "$work"' EXIT
start=$SECONDS

default_kernel_boots() {
	"$S" start "$G" --packages linux-image-amd64
	assert_eq "$("$S" exec "$G" 'uname -r')" "$VM_KVER"
	"$S" exec "$G" 'cat /proc/cmdline' | grep -q 'rdinit=/init'
}

guest_kernel_boots() {
	local newest
	newest=$("$S" exec "$G" 'ls /boot | sed -n "s/^vmlinuz-//p" | sort -V | tail -n 1')
	[ -n "$newest" ]
	"$S" reboot "$G" --kernel guest
	assert_eq "$("$S" exec "$G" 'uname -r')" "$newest"
	"$S" exec "$G" 'cat /proc/cmdline' | grep -q '^root=/dev/vda ro'
	assert_eq "$("$S" exec "$G" 'systemctl is-system-running --wait')" running
	# The choice sticks for later boots of this guest.
	"$S" reboot "$G"
	assert_eq "$("$S" exec "$G" 'uname -r')" "$newest"
	"$S" stop "$G"
}

test_that "the systemd guest boots the test VM's kernel by default" default_kernel_boots
test_that "the systemd guest reboots into the kernel installed on its own disk" guest_kernel_boots
echo "# sysguest-kernel.host.sh took $((SECONDS - start))s"
tap_done
