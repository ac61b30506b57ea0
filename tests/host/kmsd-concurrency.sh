#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd under many parallel clients: GenerateDataKey and Decrypt
# for a while, no error, every data key decrypts to itself, and exactly one
# audit record per request.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

CLIENTS=${KMSD_TEST_CLIENTS:-16}
ROUNDS=${KMSD_TEST_ROUNDS:-10}
kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

client() {
	local id=$1 k=$2 i r p blob errs=0
	for i in $(seq 1 "$ROUNDS"); do
		if ! r=$(call --profile host GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{\"client\":\"$id\",\"round\":\"$i\"}}"); then
			errs=$((errs + 1)); continue
		fi
		blob=$(jq -r .CiphertextBlob <<<"$r")
		p=$(kc --profile host decrypt "$blob" client="$id" round="$i") || { errs=$((errs + 1)); continue; }
		[ "$p" = "$(jq -r .Plaintext <<<"$r")" ] || errs=$((errs + 1))
	done
	echo "$errs" >"$TAP_TMP/errs.$id"
}

t_parallel() {
	local k before after i pids= errs=0 n
	k=$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyId)
	before=$(sqlite3 "$STATE/kmsd.db" 'SELECT COALESCE(MAX(seq),0) FROM audit')
	for i in $(seq 1 "$CLIENTS"); do
		client "$i" "$k" &
		pids="$pids $!"
	done
	wait $pids || true
	for i in $(seq 1 "$CLIENTS"); do errs=$((errs + $(cat "$TAP_TMP/errs.$i"))); done
	assert_eq "$errs" 0 "failed requests"
	n=$((CLIENTS * ROUNDS))
	after=$("$KMSD" audit --state-dir "$STATE" --json | jq -r "select(.seq > $before) | .operation + \" \" + .outcome" | sort | uniq -c | awk '{print $2, $3, $1}' | tr '\n' ';')
	assert_eq "$after" "Decrypt success $n;GenerateDataKey success $n;" "audit records"
	# Distinct requests, distinct data keys and request ids.
	[ "$("$KMSD" audit --state-dir "$STATE" --json | jq -r "select(.seq > $before) | .request_id" | sort -u | wc -l)" = $((2 * n)) ]
}

test_that "$CLIENTS parallel clients doing GenerateDataKey and Decrypt see no error and lose no audit record" t_parallel
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after the load" test "$stop_rc" -eq 0
tap_done
