#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What reaches the storage is ciphertext only: a recognisable pattern
# written through ebscrypt in the guest must not be found in the host-side
# scratch image, while the guest reads it back intact.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/guest.sh" <<'GUEST'
#!/bin/bash
. /tests/kernel/lib.sh
set -e
ebs_key ct
pattern /tmp/plain 16777216
for ss in 512 4096; do
	off=$(( ss == 512 ? 2048 : 4096 ))
	dev=/dev/vda; [ "$ss" = 4096 ] && dev=/dev/vdb
	ebs_create eb "$dev" "$off" ct "$ss"
	dd if=/tmp/plain of=/dev/mapper/eb bs=1M oflag=direct status=none
	# Buffered writes too: the page cache path must be encrypted as well.
	dd if=/tmp/plain of=/dev/mapper/eb bs=64k seek=512 conv=fsync status=none
	[ "$(dd if=/dev/mapper/eb bs=1M count=16 iflag=direct status=none | sha)" = "$(sha < /tmp/plain)" ]
	dmsetup remove eb
done
echo GUEST-OK
GUEST

written_pattern_reads_back() {
	rc=0
	bash "$top/tests/vm/run" --disk 64M --disk 64M --diskdir "$work/disks" "$work/guest.sh" > "$work/out" 2>&1 || rc=$?
	cat "$work/out"
	[ "$rc" -eq 0 ]
	grep -q GUEST-OK "$work/out"
}

image_holds_no_plaintext() {
	for img in "$work"/disks/disk0.img "$work"/disks/disk1.img; do
		refute grep -c "EBSCRYPT-PLAINTEXT-PATTERN" "$img"
	done
}

image_holds_ciphertext() {
	# Not zeros either: the data must be there, encrypted.
	for img in "$work"/disks/disk0.img "$work"/disks/disk1.img; do
		nz=$(dd if="$img" bs=1M skip=2 count=14 status=none | tr -d '\0' | wc -c)
		[ "$nz" -gt 14500000 ] || { echo "$img: only $nz non-zero bytes"; return 1; }
	done
}

test_that "a pattern written through ebscrypt reads back intact in the guest" written_pattern_reads_back
test_that "the backing image on the host does not contain the plaintext pattern" image_holds_no_plaintext
test_that "the backing image on the host holds the data as ciphertext" image_holds_ciphertext
tap_done
