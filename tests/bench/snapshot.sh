#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Snapshot-copy throughput, in the test VM (run by tests/bench/run-snapshot):
# one boot, one ext4 store on the scratch disk (/dev/vda) holding the state
# directory, volume images and snapshots. A volume of SIZE MiB (default 384)
# full of random data (zeros would take the sparse path and skip the
# writes) is copied by dd and by every ebscryptctl path that moves its bytes;
# the table gives MB/s (10^6 bytes of the whole image per second of the whole
# command) and the ratio to the store's own dd copy of the same image.
# Re-encryption goes through the kernel cipher twice (decrypt the source,
# encrypt the copy), so it is compared with the cipher, not the disk.
. /tests/lib/tap.sh
. /tests/e2e/lib.sh
set -euo pipefail

SIZE=${1:-384}
STORE=/mnt/store
STATE=$STORE/state

now() { echo "${EPOCHREALTIME/./}"; }          # microseconds
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# timed LABEL CMD...: runs CMD with a cold cache, prints its seconds.
timed() {
	local t0 t1
	cold
	t0=$(now)
	"$@" > /tmp/bench.out 2>/tmp/bench.err || { cat /tmp/bench.err >&2; return 1; }
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }'
}
mbs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-44s %8s s %8s MB/s %7s\n' "$1" "$2" "$(mbs "$BYTES" "$2")" "$3"; }

mkfs.ext4 -q -F /dev/vda
mkdir -p "$STORE"
mount -t ext4 /dev/vda "$STORE"
e2e_setup > /dev/null || { echo "e2e setup failed"; exit 1; }
mkdir -p "$STATE"

vol=$(ctl volume create --size "${SIZE}M" --encrypted)
img=$(vol_image "$vol")
# Random ciphertext: it decrypts to random plaintext, so no path sees zeros.
dd if=/dev/urandom of="$img" bs=1M seek=1 count="$SIZE" conv=notrunc,fsync 2>/dev/null
BYTES=$(stat -c %s "$img")
other=$(ctl kms create-key --description bench-other | jq -r .KeyMetadata.Arn)

t_read=$(timed dd if="$img" of=/dev/null bs=1M)
t_readd=$(timed dd if="$img" of=/dev/null bs=1M iflag=direct)
t_copy=$(timed dd if="$img" of="$STORE/raw" bs=1M conv=sparse,fsync); rm -f "$STORE/raw"
t_copyd=$(timed dd if="$img" of="$STORE/raw" bs=1M iflag=direct oflag=direct conv=fsync); rm -f "$STORE/raw"
t_sha=$(timed sha256sum "$img")
# The reference: the faster of the two dd copies.
ref=$(awk -v a="$t_copy" -v b="$t_copyd" 'BEGIN { print (a < b) ? a : b }')

t_det=$(timed ctl snapshot create "$vol"); s1=$(cat /tmp/bench.out)
dev=$(ctl volume attach "$vol")
t_att=$(timed ctl snapshot create "$vol"); s2=$(cat /tmp/bench.out)
ctl volume detach "$vol" > /dev/null
d1=$(ctl snapshot describe "$s1" --json | jq -c '{copy, copy_ms}')
d2=$(ctl snapshot describe "$s2" --json | jq -c '{copy, copy_ms, pause_ms}')
t_res=$(timed ctl volume create --snapshot-id "$s1"); r1=$(cat /tmp/bench.out)
ctl volume delete "$r1" > /dev/null
ctl snapshot delete "$s2" > /dev/null
t_cp=$(timed ctl snapshot copy "$s1" --kms-key-id "$other"); s3=$(cat /tmp/bench.out)
ctl snapshot delete "$s3" > /dev/null
t_rk=$(timed ctl volume create --snapshot-id "$s1" --kms-key-id "$other"); r2=$(cat /tmp/bench.out)
ctl volume delete "$r2" > /dev/null

# The cipher alone, through the kernel crypto API (AF_ALG), MiB/s.
cb=$(cryptsetup benchmark -c aes-xts-plain64 -s 512 2>/dev/null | awk '/aes-xts/ { print $3, $5 }')
enc=${cb% *} dec=${cb#* }
# One CPU decrypting then encrypting every byte, in MB/s.
cipher=$(awk -v e="$enc" -v d="$dec" 'BEGIN { printf "%.1f", 1048576 / 1e6 / (1 / e + 1 / d) }')

echo "# snapshot copy throughput: $((BYTES >> 20)) MiB image (random data), ext4 on virtio /dev/vda, $(nproc) vCPUs"
printf '%-44s %10s %13s %7s\n' "path" "time" "rate" "vs dd"
row "dd read, buffered" "$t_read" "-"
row "dd read, O_DIRECT" "$t_readd" "-"
row "sha256sum (read + hash)" "$t_sha" "-"
row "dd copy, buffered, conv=sparse,fsync" "$t_copy" "$(ratio "$ref" "$t_copy")"
row "dd copy, O_DIRECT, conv=fsync" "$t_copyd" "$(ratio "$ref" "$t_copyd")"
row "snapshot create, detached" "$t_det" "$(ratio "$ref" "$t_det")"
row "snapshot create, attached (dm-snapshot)" "$t_att" "$(ratio "$ref" "$t_att")"
row "volume create --snapshot-id (restore)" "$t_res" "$(ratio "$ref" "$t_res")"
row "volume create --snapshot-id --kms-key-id" "$t_rk" "-"
row "snapshot copy --kms-key-id (re-encrypt)" "$t_cp" "-"
echo "# cipher (cryptsetup benchmark aes-xts 512b): encrypt $enc MiB/s, decrypt $dec MiB/s;" \
     "decrypt+encrypt on one CPU: $cipher MB/s"
echo "# re-encrypting restore vs that: $(ratio "$(mbs "$BYTES" "$t_rk")" "$cipher");" \
     "snapshot copy --kms-key-id vs that: $(ratio "$(mbs "$BYTES" "$t_cp")" "$cipher")"
echo "# detached snapshot: $d1; attached snapshot: $d2"
# SHA-256 through OpenSSL (what ebscryptctl uses), one stream, when the host lent its openssl.
if [ -x /files/openssl ]; then
	echo "# openssl sha256, 1 MiB blocks: $(/files/openssl speed -evp sha256 -bytes 1048576 -seconds 3 2>/dev/null |
		awk '/^sha256/ { printf "%.1f MB/s", $2 / 1000 }')"
fi
ctl snapshot delete "$s1" > /dev/null
e2e_teardown
umount "$STORE"
