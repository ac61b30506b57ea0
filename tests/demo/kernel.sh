#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo-kernel`, run inside the test VM: the ebscrypt target at work,
# driven by hand with keyctl and dmsetup (`make demo` is the product flow).
set -euo pipefail
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "The guest kernel and the ebscrypt target"
uname -r
run dmsetup targets
lsmod | grep -E '^(dm_ebscrypt|dm_mod)'

say "A 64-byte DEK goes into the session keyring as a logon key (unreadable from userspace)"
head -c 64 /dev/urandom > /tmp/dek
run keyctl padd logon ebscrypt:demo @s < /tmp/dek
if keyctl print "$(keyctl search @s logon ebscrypt:demo)" >/dev/null 2>&1; then
	echo "keyctl print: it printed a logon key" >&2
	exit 1
fi
echo "keyctl print: refused, as it must be for a logon key"

say "Map /dev/vda through ebscrypt: AES-256-XTS, 4096-byte sectors, data from 1 MiB"
len=$(( ($(blockdev --getsz /dev/vda) - 2048) / 8 * 8 ))
run dmsetup create demo --table "0 $len ebscrypt /dev/vda 2048 :64:logon:ebscrypt:demo 1 sector_size:4096"
keyctl invalidate "$(keyctl search @s logon ebscrypt:demo)"
echo "keyring key invalidated: the DEK now lives only inside the target"
run dmsetup table demo
run dmsetup status demo

say "A filesystem on top, with a file"
mkfs.ext4 -q /dev/mapper/demo
mkdir -p /mnt/demo && mount -t ext4 /dev/mapper/demo /mnt/demo
echo "The quick brown fox: ebscrypt demo secret" > /mnt/demo/secret.txt
run cat /mnt/demo/secret.txt
umount /mnt/demo

say "What the disk holds: ciphertext"
grep -q "quick brown fox" /dev/vda && echo "PLAINTEXT FOUND" || echo "'quick brown fox' not found on /dev/vda"
dd if=/dev/vda bs=4096 skip=256 count=1 status=none | hexdump -C | head -4 || true

say "dm-crypt with the same key reads the same filesystem (independent cross-check)"
dmsetup remove demo
run cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --key-file /tmp/dek \
	--offset 2048 --sector-size 4096 /dev/vda xcheck
mount -t ext4 -o ro /dev/mapper/xcheck /mnt/demo
run cat /mnt/demo/secret.txt
umount /mnt/demo
cryptsetup close xcheck
rm -f /tmp/dek
say "Done"
