#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The KMS client library (lib/kms_client.c, behind the agent and
# ebscryptctl) takes replies of any size up to its configured limit: a
# ListKeys and a ListGrants reply of over 100 KiB each parse whole, and a
# reply over the limit is refused as too large, never as malformed JSON.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

t_list_keys_over_100k() {
	local out
	kc repeat 880 CreateKey '{"Description":"big reply @N@"}' >/dev/null
	out=$(kc call ListKeys '{"Limit":1000}')
	echo "ListKeys reply: $(wc -c <<<"$out") bytes"
	[ "$(wc -c <<<"$out")" -gt 102400 ]
	assert_eq "$(jq '.Keys | length' <<<"$out")" 880
	assert_eq "$(jq '.Keys | map(.KeyId) | unique | length' <<<"$out")" 880
	# ebscryptctl's kms call, as the operator runs it.
	printf 'kms_endpoint = %s\nkms_access_key_id = %s\nkms_secret_access_key = %s\n' "$(kmsd_url)" \
		"$(sed -n 's/^aws_access_key_id = //p' "$STATE/credentials" | head -1)" \
		"$(sed -n 's/^aws_secret_access_key = //p' "$STATE/credentials" | head -1)" >"$TAP_TMP/ctl.conf"
	chmod 600 "$TAP_TMP/ctl.conf"
	"$BUILD/bin/ebscryptctl" --state-dir "$TAP_TMP/ctl" --config "$TAP_TMP/ctl.conf" \
		kms call ListKeys '{"Limit":1000}' | jq -e '.Keys | length == 880' >/dev/null
}

t_list_grants_over_100k() {
	local key long out
	key=$(new_key grants)
	long=$(printf 'g%.0s' $(seq 1 200))
	kc repeat 100 CreateGrant "{\"KeyId\":\"$key\",\"Name\":\"$long-@N@\",
		\"GranteePrincipal\":\"arn:aws:iam::111122223333:role/$long-@N@\",
		\"RetiringPrincipal\":\"arn:aws:iam::111122223333:role/retire-$long\",
		\"Operations\":[\"Decrypt\",\"Encrypt\",\"GenerateDataKey\",\"GenerateDataKeyWithoutPlaintext\",\"ReEncryptFrom\",\"ReEncryptTo\"],
		\"Constraints\":{\"EncryptionContextSubset\":{\"volume\":\"vol-@N@-$long\",\"tenant\":\"tenant-@N@\"}}}" >/dev/null
	out=$(kc call ListGrants "{\"KeyId\":\"$key\",\"Limit\":100}")
	echo "ListGrants reply: $(wc -c <<<"$out") bytes"
	[ "$(wc -c <<<"$out")" -gt 102400 ]
	assert_eq "$(jq '.Grants | length' <<<"$out")" 100
	assert_eq "$(jq '.Grants | map(.Name) | unique | length' <<<"$out")" 100
}

t_reply_over_the_limit() {
	refute -m 'larger than the 65536 bytes allowed' kc --max-reply 65536 call ListKeys '{"Limit":1000}'
	refute grep -q 'malformed' <<<"$REFUTE_OUTPUT"
	kc --max-reply 65536 call ListKeys '{"Limit":10}' | jq -e '.Keys | length == 10' >/dev/null
}

test_that "a ListKeys reply of over 100 KiB parses whole, in kmsc and ebscryptctl" t_list_keys_over_100k
test_that "a ListGrants reply of over 100 KiB parses whole" t_list_grants_over_100k
test_that "a reply over the client's configured limit is refused as too large" t_reply_over_the_limit
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after all of it" test "$stop_rc" -eq 0
tap_done
