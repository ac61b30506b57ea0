#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-probe, the program the udev rule runs on every block device: the
# keys it exports for a volume, nothing for anything else, and no crash or
# false id on damaged or hostile bytes. (The rule itself, with udevd and
# real block devices, is tested in the systemd guest: tests/sysguest/.)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
BIN=${BUILD:-$top/build}/bin
PROBE=$BIN/ebscrypt-probe
TAP_TMP=$(mktemp -d)
trap 'rm -rf "$TAP_TMP"' EXIT
export ASAN_OPTIONS="abort_on_error=1"
: > "$TAP_TMP/ctl.conf"; chmod 600 "$TAP_TMP/ctl.conf"
ctl() { EBSCRYPT_CONFIG=$TAP_TMP/ctl.conf "$BIN/ebscryptctl" --state-dir "$TAP_TMP/state" "$@"; }
mkdir -p "$TAP_TMP/state"
ctl --json volume create --size 4M --no-encryption > "$TAP_TMP/vol.json"
VOL=$(jq -r .volume_id "$TAP_TMP/vol.json")
LINEAGE=$(jq -r .data_encryption_key_id "$TAP_TMP/vol.json")
IMG=$(jq -r .backing "$TAP_TMP/vol.json")

t_volume() {
	"$PROBE" "$IMG" > "$TAP_TMP/out"
	assert_eq "$(cat "$TAP_TMP/out")" "ID_FS_TYPE=ebscrypt
ID_FS_USAGE=crypto
ID_FS_VERSION=1
ID_EBSCRYPT_HEADER=primary
ID_EBSCRYPT_VOLUME_ID=$VOL
ID_EBSCRYPT_LINEAGE=$LINEAGE
ID_EBSCRYPT_ENCRYPTED=0"
}

t_not_a_volume() {
	local f
	head -c 1M /dev/urandom > "$TAP_TMP/random"
	: > "$TAP_TMP/empty"
	head -c 100 "$IMG" > "$TAP_TMP/short"
	truncate -s 1M "$TAP_TMP/zeros"
	for f in random empty short zeros; do
		"$PROBE" "$TAP_TMP/$f" > "$TAP_TMP/out" || { echo "$f: exit $?"; return 1; }
		[ ! -s "$TAP_TMP/out" ] || { echo "$f:"; cat "$TAP_TMP/out"; return 1; }
	done
}

t_backup_copy() {
	cp "$IMG" "$TAP_TMP/primary-bad"
	printf 'XXXX' | dd of="$TAP_TMP/primary-bad" bs=1 seek=200 conv=notrunc status=none
	"$PROBE" "$TAP_TMP/primary-bad" > "$TAP_TMP/out"
	grep -qx "ID_EBSCRYPT_VOLUME_ID=$VOL" "$TAP_TMP/out"
	grep -qx "ID_EBSCRYPT_HEADER=backup" "$TAP_TMP/out"
}

t_both_bad() {
	cp "$TAP_TMP/primary-bad" "$TAP_TMP/both-bad"
	printf 'XXXX' | dd of="$TAP_TMP/both-bad" bs=1 seek=$((65536 + 200)) conv=notrunc status=none
	"$PROBE" "$TAP_TMP/both-bad" > "$TAP_TMP/out"
	assert_eq "$(cat "$TAP_TMP/out")" "ID_FS_TYPE=ebscrypt
ID_FS_USAGE=crypto
ID_EBSCRYPT_HEADER=invalid"
}

t_hostile_bytes() {
	# Every header byte flipped in turn, in both copies: never a crash, and
	# an id is exported only when it is the volume's own.
	local i out rc
	for i in $(seq 0 8 520); do
		head -c 131072 "$IMG" > "$TAP_TMP/flip"
		for off in "$i" $((65536 + i)); do
			printf '\xa5' | dd of="$TAP_TMP/flip" bs=1 seek="$off" conv=notrunc status=none
		done
		rc=0
		out=$("$PROBE" "$TAP_TMP/flip") || rc=$?
		[ "$rc" -eq 0 ] || { echo "byte $i: exit $rc"; return 1; }
		case $out in
		*ID_EBSCRYPT_VOLUME_ID=*) grep -qx "ID_EBSCRYPT_VOLUME_ID=vol-[0-9a-f]\{17\}" <<<"$out" ||
			{ echo "byte $i: $out"; return 1; } ;;
		esac
	done
}

t_bad_usage() {
	local rc args
	for args in "" "-x" "a b" "--help"; do
		rc=0
		# shellcheck disable=SC2086
		"$PROBE" $args > /dev/null 2>&1 || rc=$?
		assert_eq "$rc" 2
	done
	rc=0; "$PROBE" "$TAP_TMP/missing" 2> "$TAP_TMP/err" || rc=$?
	assert_eq "$rc" 1
	grep -q "No such file" "$TAP_TMP/err"
	rc=0; "$PROBE" "$TAP_TMP" 2> /dev/null || rc=$?
	assert_eq "$rc" 1
}

test_that "a volume's header gives ID_FS_TYPE=ebscrypt, its id and its lineage" t_volume
test_that "random, empty, short and zeroed devices give no keys" t_not_a_volume
test_that "a damaged primary copy is read from the backup" t_backup_copy
test_that "both copies damaged: ebscrypt, marked invalid, with no id" t_both_bad
test_that "flipped header bytes never crash the probe nor export a malformed id" t_hostile_bytes
test_that "bad arguments and unreadable paths are refused with their own exit status" t_bad_usage
tap_done
