# SPDX-License-Identifier: GPL-2.0
#
# Shared settings of the QEMU test harness.

VM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_BUILD=${EBSCRYPT_VM_BUILD:-$VM_TOP/build/vm}

# The guest kernel: the newest installed Debian linux-image-*-amd64 that has
# matching headers (the module is built against those), never `uname -r`.
vm_pick_kver() {
	local k best=""
	for k in /lib/modules/*/build; do
		k=${k%/build}; k=${k##*/}
		[ -e "/boot/vmlinuz-$k" ] || continue
		best=$k
	done
	[ -n "$best" ] || { echo "vm: no /boot/vmlinuz-* with matching headers (apt-get install linux-image-amd64 linux-headers-amd64)" >&2; return 1; }
	echo "$best"
}

# Another kernel (the debug kernel of `make check-debug`) is chosen with
# EBSCRYPT_VM_KVER, EBSCRYPT_VM_KERNEL (its bzImage), EBSCRYPT_VM_MODROOT (the root its
# modules were installed under) and EBSCRYPT_VM_MODULE (dm-ebscrypt.ko built
# against it).
VM_KVER=${EBSCRYPT_VM_KVER:-$(vm_pick_kver)} || exit 1
VM_KERNEL=${EBSCRYPT_VM_KERNEL:-/boot/vmlinuz-$VM_KVER}
VM_MODROOT=${EBSCRYPT_VM_MODROOT:-/}
VM_MODDIR=${VM_MODROOT%/}/lib/modules/$VM_KVER
