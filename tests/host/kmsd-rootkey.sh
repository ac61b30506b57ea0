#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd never starts on a root key that cannot open the store's
# keys: with root.key missing, replaced or truncated while kmsd.db holds
# keys, it refuses to start, names both files, and creates nothing. Only an
# empty store gets a new root key.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup

t_empty_store_gets_a_root_key() {
	[ ! -e "$STATE/root.key" ]
	kmsd_start 0
	[ "$(stat -c %s "$STATE/root.key")" = 32 ]
	KEY=$(new_key rootkey)
	echo "$KEY" >"$TAP_TMP/key"
	call Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":\"$(printf 'kept' | base64)\"}" | jq -r .CiphertextBlob >"$TAP_TMP/blob"
	kmsd_stop
	cp -p "$STATE/root.key" "$TAP_TMP/root.key.orig"
}

refused_start() {
	refute kmsd_start 0
	kmsd_log | grep -F "$STATE/root.key" | grep -qF "$STATE/kmsd.db"
}

t_missing_root_key() {
	rm "$STATE/root.key"
	refused_start
	kmsd_log | grep -q 'missing'
	[ ! -e "$STATE/root.key" ]
}

t_replaced_root_key() {
	head -c 32 /dev/urandom >"$STATE/root.key"
	chmod 600 "$STATE/root.key"
	refused_start
	kmsd_log | grep -q 'cannot open the material of key'
}

t_restored_root_key() {
	cp -p "$TAP_TMP/root.key.orig" "$STATE/root.key"
	kmsd_start 0
	[ "$(call Decrypt "{\"CiphertextBlob\":\"$(cat "$TAP_TMP/blob")\"}" | jq -r .Plaintext | base64 -d)" = kept ]
	kmsd_stop
}

test_that "the first start of an empty store creates the root key" t_empty_store_gets_a_root_key
test_that "with keys in the store and root.key missing, kmsd refuses to start and creates none" t_missing_root_key
test_that "with root.key replaced by another key, kmsd refuses to start naming both files" t_replaced_root_key
test_that "with the original root.key restored, kmsd starts and opens its keys" t_restored_root_key
tap_done
