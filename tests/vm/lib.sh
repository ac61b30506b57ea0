# SPDX-License-Identifier: GPL-2.0
#
# Shared settings of the QEMU test harness.
#
# The guest kernel is one of the kernel matrix (scripts/kernels list),
# chosen with EBSCRYPT_KERNEL=<name>; the default is 6.1, Debian 12's own
# kernel: the one the installed linux-headers-amd64 depends on, whatever
# else is installed or cached. A matrix kernel other than 6.1 is fetched
# into the cache on first use, and the module is built against it in
# build/kernels/<name>.
#
# Another kernel altogether (the debug kernel of `make check-debug`) is
# chosen with EBSCRYPT_VM_KVER, EBSCRYPT_VM_KERNEL (its bzImage),
# EBSCRYPT_VM_MODROOT (the root its modules were installed under),
# EBSCRYPT_VM_MODULE (dm-ebscrypt.ko built against it) and EBSCRYPT_VM_KDIR.

VM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [ -n "${EBSCRYPT_VM_KVER:-}" ]; then
	VM_NAME=${EBSCRYPT_KERNEL:-custom}
	VM_KVER=$EBSCRYPT_VM_KVER
	VM_KERNEL=${EBSCRYPT_VM_KERNEL:-/boot/vmlinuz-$VM_KVER}
	VM_MODROOT=${EBSCRYPT_VM_MODROOT:-/}
	VM_MODULE=${EBSCRYPT_VM_MODULE:-}
	VM_KDIR=${EBSCRYPT_VM_KDIR:-/lib/modules/$VM_KVER/build}
else
	VM_NAME=${EBSCRYPT_KERNEL:-6.1}
	if [ "$VM_NAME" != 6.1 ]; then
		"$VM_TOP/scripts/kernels" fetch "$VM_NAME" || exit 1
	fi
	eval "$("$VM_TOP/scripts/kernels" env "$VM_NAME")" || exit 1
	VM_KVER=$K_KVER
	VM_KERNEL=$K_IMAGE
	VM_MODROOT=$K_MODROOT
	VM_KDIR=$K_KDIR
	# 6.1's module is the one `make install` builds; the others are
	# built against their own tree, out of the source directory.
	VM_MODULE=
	[ "$VM_NAME" = 6.1 ] || VM_MODULE=$K_MODULE
fi
VM_MODDIR=${VM_MODROOT%/}/lib/modules/$VM_KVER
if [ -n "${EBSCRYPT_VM_BUILD:-}" ]; then
	VM_BUILD=$EBSCRYPT_VM_BUILD
elif [ "$VM_NAME" = 6.1 ]; then
	VM_BUILD=$VM_TOP/build/vm
else
	VM_BUILD=$VM_TOP/build/vm-$VM_NAME
fi

# vm_accel_args ACCEL [SELFTESTS]: the QEMU accelerator and CPU of a guest
# on ACCEL (kvm or tcg), in VM_ACCEL_ARGS, and the kernel arguments that
# go with them, in VM_ACCEL_APPEND. Every guest of the harness, initramfs
# or systemd, is started with these.
vm_accel_args() {
	if [ "$1" = kvm ]; then
		VM_ACCEL_ARGS=(-accel kvm -cpu host)
		VM_ACCEL_APPEND=""
		return
	fi
	# Under TCG, -cpu max offers 5-level paging, and a 5-level kernel is
	# not safe under emulation this early: identify_boot_cpu() clears the
	# boot CPU's feature bits and re-reads them with interrupts on, before
	# the alternatives are patched, so an interrupt in that window sees
	# pgtable_l5_enabled() false and computes the 4-level address layout.
	# A KASAN kernel then reports a wild access in the interrupt handler,
	# and any kernel may hang. 4-level paging is what the tests want anyway.
	VM_ACCEL_ARGS=(-accel tcg -cpu max,la57=off)
	# The kernel tests every crypto algorithm as it registers: under TCG,
	# loading aesni_intel alone then takes about 8 s of emulated test
	# vectors, in every guest that touches a cipher. Only the guests that
	# check the emulated ciphers themselves (SELFTESTS=1) run them; the
	# others rely on those and on the cross-checks against dm-crypt and
	# cryptsetup.
	# A vCPU is a host thread: on a loaded host it can go unscheduled for
	# longer than RCU's 21 s stall timeout while the kernel boots, and the
	# stall report's stack dump failed the run (a 6.12 guest, 45 s into a
	# boot beside five other guests, before /init had loaded anything of
	# ours). RCU still reports stalls once the kernel has booted, where
	# the module runs, and the softirq test lowers the timeout to 3 s.
	VM_ACCEL_APPEND=rcupdate.rcu_cpu_stall_suppress_at_boot=1
	[ "${2:-0}" = 1 ] || VM_ACCEL_APPEND="$VM_ACCEL_APPEND cryptomgr.notests=1"
}
