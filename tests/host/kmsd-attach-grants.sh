#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What attach grants need from ebscrypt-kmsd: grants on the AWS managed key
# alias/aws/ebs, ListRetirableGrants for a principal with no rights of its
# own, and RetireGrant by that principal.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

OUTSIDER=arn:aws:iam::111122223333:user/outsider
VOL=vol-0123456789abcdef0
OTHER=vol-0fedcba98765432100
# Grant calls take a key id or ARN, not an alias (as in AWS).
EBS_KEY=$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.Arn)
blob_for() {
	call Encrypt "{\"KeyId\":\"alias/aws/ebs\",\"Plaintext\":\"c2VjcmV0\",\"EncryptionContext\":{\"aws:ebs:id\":\"$1\"}}" |
		jq -r .CiphertextBlob
}

t_managed_key_grant() {
	local g blob other
	blob=$(blob_for "$VOL")
	other=$(blob_for "$OTHER")
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt \
		"{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"aws:ebs:id\":\"$VOL\"}}"
	g=$(call CreateGrant "{\"KeyId\":\"$EBS_KEY\",\"GranteePrincipal\":\"$OUTSIDER\",\"RetiringPrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Name\":\"$VOL\",\"Constraints\":{\"EncryptionContextSubset\":{\"aws:ebs:id\":\"$VOL\"}}}")
	jq -r .GrantId <<<"$g" >"$TAP_TMP/gid"
	assert_eq "$(call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"aws:ebs:id\":\"$VOL\"}}" | jq -r .Plaintext)" c2VjcmV0
	# The constraint holds: another volume's key stays out of reach.
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt \
		"{\"CiphertextBlob\":\"$other\",\"EncryptionContext\":{\"aws:ebs:id\":\"$OTHER\"}}"
	# A principal without a role still cannot grant itself anything.
	refute -m '^ERROR AccessDeniedException$' call --profile outsider CreateGrant \
		"{\"KeyId\":\"$EBS_KEY\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}"
}

t_list_retirable() {
	local l
	l=$(call --profile outsider ListRetirableGrants '{}')
	assert_eq "$(jq -r '.Grants | length' <<<"$l")" 1
	assert_eq "$(jq -r '.Grants[0].GrantId' <<<"$l")" "$(cat "$TAP_TMP/gid")"
	assert_eq "$(jq -r '.Grants[0].Constraints.EncryptionContextSubset["aws:ebs:id"]' <<<"$l")" "$VOL"
	assert_eq "$(jq -r '.Grants[0].Name' <<<"$l")" "$VOL"
	assert_eq "$(jq -r .Truncated <<<"$l")" false
	# Named explicitly, the same; the admin's own list is empty.
	assert_eq "$(call --profile outsider ListRetirableGrants "{\"RetiringPrincipal\":\"$OUTSIDER\"}" | jq -r '.Grants | length')" 1
	assert_eq "$(call ListRetirableGrants '{}' | jq -r '.Grants | length')" 0
}

t_list_retirable_bad() {
	refute -m '^ERROR AccessDeniedException$' call --profile outsider ListRetirableGrants \
		'{"RetiringPrincipal":"arn:aws:iam::111122223333:role/ebscrypt-host"}'
	refute -m '^ERROR InvalidMarkerException$' call --profile outsider ListRetirableGrants '{"Marker":"x1"}'
	refute -m '^ERROR InvalidMarkerException$' call --profile outsider ListRetirableGrants '{"Marker":"-1"}'
	refute -m '^ERROR ValidationException$' call --profile outsider ListRetirableGrants '{"Limit":0}'
	refute -m '^ERROR SerializationException$' call --profile outsider ListRetirableGrants '{"RetiringPrincipal":5}'
}

t_paging() {
	local i l n
	for i in 1 2 3; do
		call CreateGrant "{\"KeyId\":\"$EBS_KEY\",\"GranteePrincipal\":\"$OUTSIDER\",\"RetiringPrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":{\"aws:ebs:id\":\"vol-0000000000000000$i\"}}}" >/dev/null
	done
	l=$(call --profile outsider ListRetirableGrants '{"Limit":3}')
	assert_eq "$(jq -r '.Grants | length' <<<"$l")" 3
	assert_eq "$(jq -r .Truncated <<<"$l")" true
	n=$(call --profile outsider ListRetirableGrants "{\"Limit\":3,\"Marker\":\"$(jq -r .NextMarker <<<"$l")\"}")
	assert_eq "$(jq -r '.Grants | length' <<<"$n")" 1
	assert_eq "$(jq -r .Truncated <<<"$n")" false
	# Four different grants over the two pages.
	assert_eq "$(jq -rs '[.[].Grants[].GrantId] | unique | length' <<<"$l$n")" 4
}

t_retire_and_revoke() {
	local blob gid l
	blob=$(blob_for "$VOL")
	gid=$(cat "$TAP_TMP/gid")
	call --profile outsider RetireGrant "{\"KeyId\":\"$EBS_KEY\",\"GrantId\":\"$gid\"}" >/dev/null
	"$KMSD" audit --state-dir "$STATE" --json </dev/null | tail -1 >"$TAP_TMP/last"
	cat "$TAP_TMP/last"
	jq -e --arg p "$OUTSIDER" '.principal == $p and .operation == "RetireGrant" and .outcome == "success"' "$TAP_TMP/last" >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt \
		"{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"aws:ebs:id\":\"$VOL\"}}"
	# The operator revokes on the managed key too.
	l=$(call --profile outsider ListRetirableGrants '{}')
	call RevokeGrant "{\"KeyId\":\"$EBS_KEY\",\"GrantId\":\"$(jq -r '.Grants[0].GrantId' <<<"$l")\"}" >/dev/null
	assert_eq "$(call --profile outsider ListRetirableGrants '{}' | jq -r '.Grants | length')" 2
	refute -m '^ERROR AccessDeniedException$' call --profile outsider RevokeGrant \
		"{\"KeyId\":\"$EBS_KEY\",\"GrantId\":\"$(jq -r '.Grants[1].GrantId' <<<"$l")\"}"
}

test_that "an admin grants Decrypt on alias/aws/ebs for one volume id and the grantee decrypts only that" t_managed_key_grant
test_that "ListRetirableGrants shows a principal with no role the grants it may retire" t_list_retirable
test_that "ListRetirableGrants refuses another principal's list and bad markers, limits and types" t_list_retirable_bad
test_that "ListRetirableGrants pages with Limit and NextMarker" t_paging
test_that "the retiring principal retires its grant, the admin revokes on the managed key, the grantee cannot" t_retire_and_revoke
tap_done
