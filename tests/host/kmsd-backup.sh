#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `ebscrypt-kmsd backup`: an online, consistent copy of the SQLite store,
# taken while the service writes; restored on a "new machine" (a new state
# directory with the same root key, brought from its escrow), it decrypts
# what was made before the backup and knows nothing made after it.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
BACKUP=$TAP_TMP/backup/kmsd.db
mkdir -p "$TAP_TMP/backup"

t_backup_under_load() {
	local k i pid
	k=$(new_key before)
	call CreateAlias "{\"AliasName\":\"alias/before\",\"TargetKeyId\":\"$k\"}" >/dev/null
	call GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{\"vol\":\"vol-1\"}}" >"$TAP_TMP/dk1"
	call RotateKeyOnDemand "{\"KeyId\":\"$k\"}" >/dev/null
	call GenerateDataKey "{\"KeyId\":\"alias/before\",\"KeySpec\":\"AES_256\"}" >"$TAP_TMP/dk2"
	echo "$k" >"$TAP_TMP/key.before"
	# Writers keep going while the copy is taken (bounded: 40 requests or 30 s).
	(
		end=$(($(date +%s) + 30))
		for i in $(seq 1 40); do
			[ "$(date +%s)" -lt "$end" ] || break
			call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}" >/dev/null 2>&1
		done
	) &
	pid=$!
	sleep 0.5
	"$KMSD" backup --state-dir "$STATE" "$BACKUP" >/dev/null
	wait "$pid"
	assert_eq "$(stat -c %a "$BACKUP")" 600
	assert_eq "$(sqlite3 "$BACKUP" 'PRAGMA integrity_check')" ok
	# Standalone: no -wal file needed to read it.
	assert_eq "$(sqlite3 "$BACKUP" 'PRAGMA journal_mode')" delete
	[ "$(sqlite3 "$BACKUP" 'SELECT count(*) FROM materials')" -ge 2 ]
}

t_backup_has_no_root_key() {
	refute grep -q "$(xxd -p -c 64 "$STATE/root.key")" <(xxd -p -c 64 "$BACKUP" | tr -d '\n')
	refute test -e "$TAP_TMP/backup/root.key"
}

t_backup_refuses_bad_dest() {
	refute -m "exists" "$KMSD" backup --state-dir "$STATE" "$BACKUP"
	refute "$KMSD" backup --state-dir "$STATE" "$TAP_TMP/no/such/dir/kmsd.db"
	refute "$KMSD" backup --state-dir "$STATE"
	printf 'store = postgresql\npg_conninfo = dbname=x\n' >"$TAP_TMP/pg.conf"
	refute -m "pg_dump" "$KMSD" backup --config "$TAP_TMP/pg.conf" "$TAP_TMP/pg.db"
}

t_restore_new_machine() {
	local after new=$TAP_TMP/newhost k
	k=$(cat "$TAP_TMP/key.before")
	after=$(new_key after)
	call GenerateDataKey "{\"KeyId\":\"$after\",\"KeySpec\":\"AES_256\"}" >"$TAP_TMP/dk3"
	# The new machine: the config and secrets from configuration management,
	# the root key from its escrow, the database from the backup.
	mkdir -m 700 "$new"
	sed "s|^state_dir = .*|state_dir = $new|" "$STATE/kmsd.conf" >"$new/kmsd.conf"
	cp -p "$STATE"/*.secret "$STATE/credentials" "$new/"
	install -m 600 "$STATE/root.key" "$new/root.key"
	install -m 600 "$BACKUP" "$new/kmsd.db"
	kmsd_stop
	KMSD_CONF="$new/kmsd.conf" kmsd_start 0
	assert_eq "$(call DescribeKey '{"KeyId":"alias/before"}' | jq -r .KeyMetadata.KeyId)" "$k"
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$(jq -r .CiphertextBlob "$TAP_TMP/dk1")\",\"EncryptionContext\":{\"vol\":\"vol-1\"}}" | jq -r .Plaintext)" \
		"$(jq -r .Plaintext "$TAP_TMP/dk1")"
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$(jq -r .CiphertextBlob "$TAP_TMP/dk2")\"}" | jq -r .Plaintext)" \
		"$(jq -r .Plaintext "$TAP_TMP/dk2")"
	# What came after the backup is not in it: its key is unknown here.
	refute -m '^ERROR InvalidCiphertextException$' call Decrypt "{\"CiphertextBlob\":\"$(jq -r .CiphertextBlob "$TAP_TMP/dk3")\"}"
	# The audit came along.
	"$KMSD" audit --state-dir "$new" --key "$k" --json >"$TAP_TMP/audit.new"
	grep -q '"operation":"RotateKeyOnDemand"' "$TAP_TMP/audit.new" || { cat "$TAP_TMP/audit.new"; return 1; }
	kmsd_stop
	KMSD_CONF="$new/kmsd.conf" kmsd_start 0
}

t_restore_needs_root_key() {
	local new=$TAP_TMP/newhost2
	mkdir -m 700 "$new"
	sed "s|^state_dir = .*|state_dir = $new|" "$STATE/kmsd.conf" >"$new/kmsd.conf"
	cp -p "$STATE"/*.secret "$new/"
	install -m 600 "$BACKUP" "$new/kmsd.db"
	# Without it the service refuses to start rather than make a new root
	# key that opens none of the keys restored.
	refute -m 'is missing' timeout 20 "$KMSD" --config "$new/kmsd.conf" --foreground
	refute test -e "$new/root.key"
}

test_that "backup copies the store online, consistent and standalone, while requests are served" t_backup_under_load
test_that "the backup holds no root key" t_backup_has_no_root_key
test_that "backup refuses an existing or unwritable destination and a PostgreSQL store" t_backup_refuses_bad_dest
test_that "a restore on a new machine with the same root key decrypts what was made before the backup" t_restore_new_machine
test_that "a restore without the root key refuses to start and makes no new root key" t_restore_needs_root_key
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM" test "$stop_rc" -eq 0
tap_done
