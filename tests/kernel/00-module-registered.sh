#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest boots with the module installed where `make install` puts it,
# modprobe loads it with its dependencies, and device-mapper lists the
# target. The evidence is printed as TAP diagnostics.
# This guest also runs the kernel's crypto self-tests, which the harness
# skips in the other guests under emulation: the ciphers every test relies
# on are checked against their test vectors once per suite.
# vm-args: --disk 16M --crypto-selftests
. /tests/kernel/lib.sh

echo "# guest kernel $(uname -r)"
lsmod | grep -E '^(dm_ebscrypt|dm_mod) ' | sed 's/^/# lsmod: /'
dmsetup targets | sed 's/^/# dmsetup targets: /'

installed_where_make_install_puts_it() {
	[ -f "/lib/modules/$(uname -r)/extra/dm-ebscrypt.ko" ]
	modinfo -F license "/lib/modules/$(uname -r)/extra/dm-ebscrypt.ko" | grep -qx GPL
}
module_is_loaded() { grep -q '^dm_ebscrypt ' /proc/modules; }
target_is_listed() { dmsetup targets | grep -qE '^ebscrypt +v1\.'; }
programs_are_on_path() { command -v ebscryptctl ebscrypt-agent ebscrypt-kmsd; }

test_that "the module is installed under /lib/modules/KVER/extra with a GPL license" installed_where_make_install_puts_it
test_that "modprobe dm-ebscrypt loaded the module in the guest" module_is_loaded
test_that "dmsetup targets lists the ebscrypt target" target_is_listed
test_that "the project's programs are on PATH in the guest" programs_are_on_path
test_that "every XTS-AES driver the kernel registered passed its self-tests" xts_drivers_passed_selftests
test_that "emulated, the guest reports RCU stalls after boot but not during it" boot_stalls_suppressed_under_emulation
tap_done
