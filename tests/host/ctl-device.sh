#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `ebscryptctl volume create --device` on devices that already hold data:
# loop devices carrying a filesystem (ext4, xfs, vfat), a GPT, LUKS, an md
# RAID member, swap, or an ebscrypt volume. Each must be refused, naming
# what was found, with every byte of the device unchanged; --force then
# creates the volume and leaves no old signature behind. A device with a
# /dev/disk/by-id name is recorded under that name.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

CTL="${BUILD:-$top/build}/bin/ebscryptctl"
TAP_TMP=$(mktemp -d)
# Loop devices are listed in a file: tests run in subshells.
cleanup() {
	local l
	for l in $(cat "$TAP_TMP/loops" 2>/dev/null); do losetup -d "$l" 2>/dev/null; done
	rm -rf "$TAP_TMP"
}
trap cleanup EXIT
mkdir "$TAP_TMP/state"
: >"$TAP_TMP/ebscryptctl.conf"
chmod 600 "$TAP_TMP/ebscryptctl.conf"
export EBSCRYPT_CONFIG="$TAP_TMP/ebscryptctl.conf" EBSCRYPT_AGENT_SOCKET="$TAP_TMP/no-agent.sock"
export ASAN_OPTIONS="abort_on_error=1"
ctl() { "$CTL" --state-dir "$TAP_TMP/state" "$@"; }

if [ "$(id -u)" -ne 0 ] || ! L=$(losetup -f --show "$(truncate -s 1M "$TAP_TMP/probe" && echo "$TAP_TMP/probe")" 2>/dev/null); then
	tap_skip "volume create --device on devices holding data" "needs root and loop devices"
	tap_done
fi
losetup -d "$L"

# new_loop NAME MIB: a fresh loop device over a sparse file; prints its path.
new_loop() {
	local img="$TAP_TMP/$1.img" l
	truncate -s "${2}M" "$img"
	l=$(losetup -f --show "$img")
	echo "$l" >>"$TAP_TMP/loops"
	echo "$l" >"$TAP_TMP/$1.dev"
	echo "$l"
}

# An md v1.2 superblock 4 KiB in, checksummed, as mdadm --create writes it
# (this machine may have no md driver to create a real array with).
md_member() {
	python3 - "$1" "$(blockdev --getsize64 "$1")" <<'PY'
import struct, sys, uuid
path, size = sys.argv[1], int(sys.argv[2])
sb = bytearray(256 + 4)
struct.pack_into("<IIII", sb, 0, 0xa92b4efc, 1, 0, 0)
sb[16:32] = uuid.uuid4().bytes
sb[32:64] = b"ebscrypt-test:0".ljust(32, b"\0")
struct.pack_into("<QIIQIII", sb, 64, 0, 1, 0, size // 512 - 2056, 0, 2, 0)
struct.pack_into("<QQQQ", sb, 128, 2048, size // 512 - 2048, 8, 0)
sb[168:184] = uuid.uuid4().bytes
struct.pack_into("<I", sb, 220, 2)
struct.pack_into("<HH", sb, 256, 0, 1)
csum = sum(struct.unpack_from("<I", sb, i)[0] for i in range(0, len(sb), 4))
struct.pack_into("<I", sb, 216, ((csum & 0xffffffff) + (csum >> 32)) & 0xffffffff)
with open(path, "r+b") as f:
    f.seek(4096)
    f.write(sb)
PY
}

# make_sig KIND DEV: writes KIND's signature onto DEV; prints the word the refusal must name.
make_sig() {
	case "$1" in
	ext4) mkfs.ext4 -q -F -L olddata "$2" && echo ext4 ;;
	xfs) mkfs.xfs -q -f "$2" && echo xfs ;;
	vfat) mkfs.vfat "$2" >/dev/null && echo vfat ;;
	gpt) printf 'label: gpt\nsize=8M\n' | sfdisk -q "$2" 2>/dev/null; echo "gpt partition table" ;;
	luks) head -c 32 /dev/urandom >"$TAP_TMP/luks.key" &&
	      cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		      --key-file "$TAP_TMP/luks.key" "$2" && echo crypto_LUKS ;;
	mdraid) md_member "$2" && echo linux_raid_member ;;
	swap) mkswap -q "$2" && echo swap ;;
	ebscrypt) ctl volume create --device "$2" --no-encryption >/dev/null && echo "ebscrypt volume header" ;;
	esac
}

KINDS="ext4 xfs vfat gpt luks mdraid swap ebscrypt"
for k in $KINDS; do
	case $k in
	xfs) command -v mkfs.xfs >/dev/null || continue ;;
	vfat) command -v mkfs.vfat >/dev/null || continue ;;
	gpt) command -v sfdisk >/dev/null || continue ;;
	luks) command -v cryptsetup >/dev/null || continue ;;
	esac
	HAVE="${HAVE:-} $k"
done

t_refused_untouched() {
	local k dev word before after
	for k in $HAVE; do
		# xfs wants 300 MiB at least; the others fit in 32.
		dev=$(new_loop "$k" "$([ "$k" = xfs ] && echo 304 || echo 32)")
		word=$(make_sig "$k" "$dev")
		[ -n "$word" ] || { echo "$k: could not write the signature"; return 1; }
		sync
		before=$(sha256sum <"$dev")
		refute -m "holds existing data: .*$word.*--force destroys it" ctl volume create --device "$dev" --no-encryption
		after=$(sha256sum <"$dev")
		assert_eq "$after" "$before" "$k: the device is unchanged"
		echo "$k refused"
	done
}

t_force_destroys() {
	local k dev left
	for k in $HAVE; do
		dev=$(cat "$TAP_TMP/$k.dev")
		ctl volume create --device "$dev" --no-encryption --force 2>"$TAP_TMP/force.err" >"$TAP_TMP/force.out" ||
			{ cat "$TAP_TMP/force.err"; return 1; }
		grep -q "destroyed (--force)" "$TAP_TMP/force.err"
		ctl header dump "$dev" | grep -q "$(cat "$TAP_TMP/force.out")"
		# No old signature outlives the volume (a backup GPT or an md superblock included).
		sync
		left=$(wipefs --noheadings "$dev")
		assert_eq "$left" "" "$k: signatures left on $dev"
		echo "$k overwritten with --force"
	done
}

t_blank_device_needs_no_force() {
	local dev
	dev=$(new_loop blank 16)
	ctl volume create --device "$dev" --no-encryption >/dev/null
}

# In a mount namespace whose /dev is a tmpfs holding the loop device and a
# by-id link to it, as udev would make.
t_stable_path_recorded() {
	local dev vol
	dev=$(new_loop byid 16)
	vol=$(unshare -m --propagation private /bin/sh -eu -c '
		dev=$1 ctl=$2 state=$3
		set -- $(stat -c "%t %T" "$dev")
		mount -n -t tmpfs tmpfs /dev
		mknod "$dev" b $((0x$1)) $((0x$2))
		mknod /dev/null c 1 3
		mkdir -p /dev/disk/by-id
		ln -s "../../${dev##*/}" /dev/disk/by-id/virtio-ebscrypt-test-disk
		"$ctl" --state-dir "$state" volume create --device "$dev" --no-encryption
	' sh "$dev" "$CTL" "$TAP_TMP/state")
	ctl volume describe "$vol" --json | jq -e '.backing == "/dev/disk/by-id/virtio-ebscrypt-test-disk"' >/dev/null ||
		{ ctl volume describe "$vol" --json; return 1; }
}

test_that "a device holding$HAVE is refused, naming what it holds, and left byte for byte unchanged" t_refused_untouched
test_that "--force creates the volume on each of them and erases every old signature" t_force_destroys
test_that "a blank device needs no --force" t_blank_device_needs_no_force
test_that "a device with a /dev/disk/by-id name is recorded under that name" t_stable_path_recorded
tap_done
