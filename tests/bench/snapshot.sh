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
# ebscryptctl as of another revision, when run-snapshot --before lent one.
BEFORE=/files/ebscryptctl
ctl_before() { "$BEFORE" --state-dir "$STATE" --config "$E2E/ctl.conf" --agent-socket "$SOCK" "$@"; }
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
row() { printf '%-52s %8s s %8s MB/s %7s\n' "$1" "$2" "$(mbs "$BYTES" "$2")" "$3"; }

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

# paths CTL: every path that moves a volume's bytes, timed; sets t_det t_att t_res t_rk t_cp.
paths() {
	local c=$1 s1 s2 s3 r
	t_det=$(timed "$c" snapshot create "$vol"); s1=$(cat /tmp/bench.out)
	ctl volume attach "$vol" > /dev/null
	t_att=$(timed "$c" snapshot create "$vol"); s2=$(cat /tmp/bench.out)
	ctl volume detach "$vol" > /dev/null
	d1=$(ctl snapshot describe "$s1" --json | jq -c '{copy, copy_ms}')
	d2=$(ctl snapshot describe "$s2" --json | jq -c '{copy, copy_ms, pause_ms}')
	ctl snapshot delete "$s2" > /dev/null
	t_res=$(timed "$c" volume create --snapshot-id "$s1"); r=$(cat /tmp/bench.out)
	ctl volume delete "$r" > /dev/null
	t_rk=$(timed "$c" volume create --snapshot-id "$s1" --kms-key-id "$other"); r=$(cat /tmp/bench.out)
	ctl volume delete "$r" > /dev/null
	t_cp=$(timed "$c" snapshot copy "$s1" --kms-key-id "$other"); s3=$(cat /tmp/bench.out)
	ctl snapshot delete "$s3" > /dev/null
	ctl snapshot delete "$s1" > /dev/null
}

# The cipher alone, through the kernel crypto API (AF_ALG), MiB/s.
cb=$(cryptsetup benchmark -c aes-xts-plain64 -s 512 2>/dev/null | awk '/aes-xts/ { print $3, $5 }')
enc=${cb% *} dec=${cb#* }
# One CPU decrypting then encrypting every byte, in MB/s.
cipher=$(awk -v e="$enc" -v d="$dec" 'BEGIN { printf "%.1f", 1048576 / 1e6 / (1 / e + 1 / d) }')

# table LABEL: the ebscryptctl rows of the last paths() run.
table() {
	local l=$1
	row "$l snapshot create, detached" "$t_det" "$(ratio "$ref" "$t_det")"
	row "$l snapshot create, attached (dm-snapshot)" "$t_att" "$(ratio "$ref" "$t_att")"
	row "$l volume create --snapshot-id (restore)" "$t_res" "$(ratio "$ref" "$t_res")"
	row "$l volume create --snapshot-id --kms-key-id" "$t_rk" "$(ratio "$(mbs "$BYTES" "$t_rk")" "$cipher")c"
	row "$l snapshot copy --kms-key-id" "$t_cp" "$(ratio "$(mbs "$BYTES" "$t_cp")" "$cipher")c"
	echo "# $l detached: $d1; attached: $d2"
}

# SHA-256 through OpenSSL (what ebscryptctl uses), one stream, when the host lent its openssl.
sha="n/a"
if [ -x /files/openssl ]; then
	sha=$(/files/openssl speed -evp sha256 -bytes 1048576 -seconds 3 2>/dev/null |
		awk '/^sha256/ { printf "%.1f", $2 / 1000 }')
fi
# The cipher alone, through the kernel crypto API (AF_ALG), MiB/s.
cb=$(cryptsetup benchmark -c aes-xts-plain64 -s 512 2>/dev/null | awk '/aes-xts/ { print $3, $5 }')
enc=${cb% *} dec=${cb#* }
# One CPU decrypting then encrypting every byte, in MB/s.
cipher=$(awk -v e="$enc" -v d="$dec" 'BEGIN { printf "%.1f", 1048576 / 1e6 / (1 / e + 1 / d) }')

echo "# snapshot copy throughput: $((BYTES >> 20)) MiB image (random data), ext4 on virtio /dev/vda, $(nproc) vCPUs"
echo "# ratios: to the faster dd copy; with a c, to the cipher (decrypt + encrypt on one CPU)"
printf '%-52s %10s %13s %7s\n' "path" "time" "rate" "ratio"
row "dd read, buffered" "$t_read" "-"
row "dd read, O_DIRECT" "$t_readd" "-"
row "sha256sum (read + hash)" "$t_sha" "-"
row "dd copy, buffered, conv=sparse,fsync" "$t_copy" "$(ratio "$ref" "$t_copy")"
row "dd copy, O_DIRECT, conv=fsync" "$t_copyd" "$(ratio "$ref" "$t_copyd")"
if [ -x "$BEFORE" ]; then
	paths ctl_before
	table "before:"
fi
paths ctl
table "after:"
echo "# OpenSSL SHA-256, one stream, 1 MiB blocks: $sha MB/s (every ebscryptctl copy hashes all it reads)"
echo "# cipher (cryptsetup benchmark aes-xts 512b): encrypt $enc MiB/s, decrypt $dec MiB/s;" \
     "decrypt + encrypt on one CPU: $cipher MB/s"
e2e_teardown
umount "$STORE"
