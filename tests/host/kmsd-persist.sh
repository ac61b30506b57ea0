#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd state across restarts: clean restart, kill -9 under load,
# the root key file and what the database alone can (not) open.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
OUTSIDER=arn:aws:iam::111122223333:user/outsider

t_root_key_mode() {
	assert_eq "$(stat -c %a "$STATE/root.key")" 600
	assert_eq "$(stat -c %s "$STATE/root.key")" 32
	assert_eq "$(stat -c %a "$STATE/kmsd.conf")" 600
	assert_eq "$(stat -c %a "$STATE/admin.secret")" 600
}

t_restart() {
	local k old new r pol
	k=$(new_key persistent)
	call CreateAlias "{\"AliasName\":\"alias/persist\",\"TargetKeyId\":\"$k\"}"
	call EnableKeyRotation "{\"KeyId\":\"$k\",\"RotationPeriodInDays\":180}"
	old=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"b2xk\",\"EncryptionContext\":{\"a\":\"b\"}}" | jq -r .CiphertextBlob)
	call RotateKeyOnDemand "{\"KeyId\":\"$k\"}" >/dev/null
	new=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"bmV3\"}" | jq -r .CiphertextBlob)
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}" >/dev/null
	call DescribeKey '{"KeyId":"alias/aws/ebs"}' >/dev/null
	pol=$(jq -cn --arg o "$OUTSIDER" '{Statement:[{Effect:"Allow",Principal:{AWS:"arn:aws:iam::111122223333:root"},Action:"kms:*",Resource:"*"},{Effect:"Allow",Principal:{AWS:$o},Action:"kms:GetKeyRotationStatus",Resource:"*"}]}')
	call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$pol" '{KeyId:$k,Policy:$p}')" >/dev/null
	n=$("$KMSD" audit --state-dir "$STATE" | wc -l)
	kmsd_stop
	kmsd_start 0
	assert_eq "$(call DescribeKey '{"KeyId":"alias/persist"}' | jq -r .KeyMetadata.KeyId)" "$k"
	r=$(call GetKeyRotationStatus "{\"KeyId\":\"$k\"}")
	assert_eq "$(jq -r .KeyRotationEnabled <<<"$r")" true
	assert_eq "$(jq -r .RotationPeriodInDays <<<"$r")" 180
	assert_eq "$(call --profile outsider Decrypt "{\"CiphertextBlob\":\"$old\",\"EncryptionContext\":{\"a\":\"b\"}}" | jq -r .Plaintext)" b2xk
	assert_eq "$(call --profile outsider Decrypt "{\"CiphertextBlob\":\"$new\"}" | jq -r .Plaintext)" bmV3
	assert_eq "$(call ListGrants "{\"KeyId\":\"$k\"}" | jq '.Grants | length')" 1
	assert_eq "$(call GetKeyPolicy "{\"KeyId\":\"$k\"}" | jq -r .Policy)" "$pol"
	call --profile outsider GetKeyRotationStatus "{\"KeyId\":\"$k\"}" >/dev/null
	assert_eq "$(call ListAliases '{}' | jq '[.Aliases[] | select(.AliasName == "alias/aws/ebs")] | length')" 1
	[ "$("$KMSD" audit --state-dir "$STATE" | wc -l)" -gt "$n" ]
}

t_kill9_under_load() {
	local k i pids= ok total lines
	k=$(new_key load)
	: >"$TAP_TMP/blobs"
	for i in 1 2 3 4; do
		(
			while :; do
				r=$(call GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{\"w\":\"$i\"}}" 2>/dev/null) || continue
				# Only replies fully received count as promised to a client.
				printf '%s %s %s\n' "$i" "$(jq -r .CiphertextBlob <<<"$r")" "$(jq -r .Plaintext <<<"$r")" >>"$TAP_TMP/blobs"
			done
		) &
		pids="$pids $!"
	done
	sleep 3
	# On a loaded machine, more time for more than ten (30 s at most).
	for _ in $(seq 1 270); do
		[ "$(wc -l <"$TAP_TMP/blobs")" -gt 10 ] && break
		sleep 0.1
	done
	kmsd_kill9
	sleep 0.5
	kill $pids 2>/dev/null
	wait $pids 2>/dev/null || true
	total=$(wc -l <"$TAP_TMP/blobs")
	[ "$total" -gt 10 ] || { echo "only $total data keys before the kill"; return 1; }
	sqlite3 "$STATE/kmsd.db" 'PRAGMA integrity_check' | grep -qx ok
	kmsd_start 0
	ok=0
	while read -r w blob plain; do
		got=$(call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"w\":\"$w\"}}" | jq -r .Plaintext)
		if [ "$got" = "$plain" ]; then ok=$((ok + 1)); else echo "lost $blob"; fi
	done <"$TAP_TMP/blobs"
	assert_eq "$ok" "$total" "every data key returned before kill -9 still decrypts"
	lines=$("$KMSD" audit --state-dir "$STATE" --key "$k" --json | jq -r 'select(.operation == "GenerateDataKey" and .outcome == "success")' | jq -s length)
	[ "$lines" -ge "$total" ] || { echo "$lines audit records for $total data keys"; return 1; }
}

t_root_key_needed() {
	local k blob
	k=$(new_key rootkey)
	blob=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" | jq -r .CiphertextBlob)
	kmsd_stop
	mv "$STATE/root.key" "$STATE/root.key.real"
	# The database alone opens nothing, and no new root key is made for it.
	refute -m 'root key .* is missing' kmsd_start 0
	[ ! -e "$STATE/root.key" ]
	mv "$STATE/root.key.real" "$STATE/root.key"
	kmsd_start 0
	call Decrypt "{\"CiphertextBlob\":\"$blob\"}" >/dev/null
}

t_root_key_perms() {
	kmsd_stop
	chmod 640 "$STATE/root.key"
	refute "$KMSD" --state-dir "$STATE" --foreground
	chmod 600 "$STATE/root.key"
	kmsd_start 0
}

t_refuse_plain_http() {
	refute -m "refusing plain HTTP" "$KMSD" --state-dir "$STATE" --foreground --listen 0.0.0.0:0
	refute -m "refusing plain HTTP" "$KMSD" --state-dir "$STATE" --foreground --listen 192.0.2.1:0
}

t_unix_socket() {
	local sock="$TAP_TMP/kmsd.sock" pid
	"$KMSD" --state-dir "$STATE" --foreground --listen "unix:$sock" 2>>"$STATE/unix.log" &
	pid=$!
	for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	"$KMSC" --url http://localhost/ --unix "$sock" --creds "$STATE/credentials" --profile host \
		describe alias/aws/ebs | grep -q ' Enabled 1$'
	kill -TERM "$pid"
	wait "$pid"
	[ ! -e "$sock" ]
}

t_daemonizes() {
	kmsd_stop
	"$KMSD" --state-dir "$STATE" 2>>"$STATE/daemon.log"
	sleep 0.3
	pid=$(pgrep -f "^$KMSD --state-dir $STATE\$")
	[ -n "$pid" ]
	kill -TERM "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	refute kill -0 "$pid"
	kmsd_start 0
}

test_that "root.key, the config and the secrets are created with mode 0600" t_root_key_mode
test_that "keys, aliases, grants, key policies, rotation and audit survive a restart" t_restart
test_that "after kill -9 under GenerateDataKey load every key returned still decrypts and is audited" t_kill9_under_load
test_that "the database without its root key opens nothing" t_root_key_needed
test_that "the service refuses a root key readable by others" t_root_key_perms
test_that "plain HTTP on a non-loopback address is refused" t_refuse_plain_http
test_that "the service serves HTTP over a Unix socket and removes it on exit" t_unix_socket
test_that "without --foreground the service detaches and stops on SIGTERM" t_daemonizes
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM" test "$stop_rc" -eq 0
tap_done
