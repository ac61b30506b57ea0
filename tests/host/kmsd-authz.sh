#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd authorization: key policy, account roles and grants.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

OUTSIDER=arn:aws:iam::111122223333:user/outsider
HOST=arn:aws:iam::111122223333:role/ebscrypt-host
ctxblob() { call Encrypt "{\"KeyId\":\"$1\",\"Plaintext\":\"c2VjcmV0\",\"EncryptionContext\":$2}" | jq -r .CiphertextBlob; }

t_denied() {
	local k blob
	k=$(new_key denied)
	blob=$(ctxblob "$k" '{}')
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider DescribeKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider DisableKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider CreateKey '{}'
	refute -m '^ERROR AccessDeniedException$' call --profile outsider ListKeys '{}'
	refute -m '^ERROR AccessDeniedException$' call --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}"
	call DescribeKey '{"KeyId":"alias/aws/ebs"}' >/dev/null
	refute -m '^ERROR AccessDeniedException$' kc --profile outsider gdkwp alias/aws/ebs
}

t_grant_lets_in() {
	local k blob g
	k=$(new_key granted)
	blob=$(ctxblob "$k" '{}')
	g=$(call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\",\"GenerateDataKeyWithoutPlaintext\"],\"Name\":\"t\"}")
	jq -er '.GrantId | test("^[0-9a-f]{64}$")' <<<"$g" >/dev/null
	jq -er .GrantToken <<<"$g" >/dev/null
	assert_eq "$(call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}" | jq -r .Plaintext)" c2VjcmV0
	call --profile outsider GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}" >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider DisableKey "{\"KeyId\":\"$k\"}"
	echo "$k $(jq -r .GrantId <<<"$g") $blob" >"$TAP_TMP/grant"
}

t_list_revoke() {
	local k gid blob l
	read -r k gid blob <"$TAP_TMP/grant"
	l=$(call ListGrants "{\"KeyId\":\"$k\"}")
	assert_eq "$(jq -r '.Grants | length' <<<"$l")" 1
	assert_eq "$(jq -r '.Grants[0].GrantId' <<<"$l")" "$gid"
	assert_eq "$(jq -r '.Grants[0].GranteePrincipal' <<<"$l")" "$OUTSIDER"
	assert_eq "$(jq -r '.Grants[0].Operations | join(",")' <<<"$l")" Decrypt,GenerateDataKeyWithoutPlaintext
	assert_eq "$(jq -r '.Grants[0].KeyId' <<<"$l")" "arn:aws:kms:us-east-1:111122223333:key/$k"
	assert_eq "$(jq -r '.Grants[0].Name' <<<"$l")" t
	assert_eq "$(call ListGrants "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\"}" | jq -r '.Grants | length')" 0
	refute -m '^ERROR AccessDeniedException$' call --profile outsider RevokeGrant "{\"KeyId\":\"$k\",\"GrantId\":\"$gid\"}"
	call RevokeGrant "{\"KeyId\":\"$k\",\"GrantId\":\"$gid\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	refute -m '^ERROR NotFoundException$' call RevokeGrant "{\"KeyId\":\"$k\",\"GrantId\":\"$gid\"}"
	assert_eq "$(call ListGrants "{\"KeyId\":\"$k\"}" | jq -r '.Grants | length')" 0
}

t_subset_constraint() {
	local k good bad
	k=$(new_key subset)
	good=$(ctxblob "$k" '{"volume":"vol-1","extra":"x"}')
	bad=$(ctxblob "$k" '{"volume":"vol-2"}')
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":{\"volume\":\"vol-1\"}}}" >/dev/null
	call --profile outsider Decrypt "{\"CiphertextBlob\":\"$good\",\"EncryptionContext\":{\"volume\":\"vol-1\",\"extra\":\"x\"}}" >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$bad\",\"EncryptionContext\":{\"volume\":\"vol-2\"}}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$bad\"}"
}

t_equals_constraint() {
	local k exact more
	k=$(new_key equals)
	exact=$(ctxblob "$k" '{"volume":"vol-1"}')
	more=$(ctxblob "$k" '{"volume":"vol-1","x":"y"}')
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextEquals\":{\"volume\":\"vol-1\"}}}" >/dev/null
	call --profile outsider Decrypt "{\"CiphertextBlob\":\"$exact\",\"EncryptionContext\":{\"volume\":\"vol-1\"}}" >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$more\",\"EncryptionContext\":{\"volume\":\"vol-1\",\"x\":\"y\"}}"
}

t_retire() {
	local k g1 g2 blob
	k=$(new_key retire)
	blob=$(ctxblob "$k" '{}')
	g1=$(call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"RetiringPrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}")
	g2=$(call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Encrypt\"]}")
	refute -m '^ERROR AccessDeniedException$' call --profile outsider RetireGrant "{\"GrantToken\":\"$(jq -r .GrantToken <<<"$g2")\"}"
	call --profile outsider RetireGrant "{\"GrantToken\":\"$(jq -r .GrantToken <<<"$g1")\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	call RetireGrant "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/$k\",\"GrantId\":\"$(jq -r .GrantId <<<"$g2")\"}"
	refute -m '^ERROR InvalidGrantTokenException$' call RetireGrant "{\"GrantToken\":\"$(jq -r .GrantToken <<<"$g1")\"}"
	refute -m '^ERROR ValidationException$' call RetireGrant '{}'
}

t_grant_refusals() {
	local k
	k=$(new_key gref)
	refute -m '^ERROR ValidationException$' call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Frobnicate\"]}"
	refute -m '^ERROR ValidationException$' call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[]}"
	refute -m '^ERROR ValidationException$' call CreateGrant "{\"KeyId\":\"$k\",\"Operations\":[\"Decrypt\"]}"
	refute -m '^ERROR ValidationException$' call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\"}"
	refute -m '^ERROR ValidationException$' call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"Other\":{}}}"
	refute -m '^ERROR SerializationException$' call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":{\"a\":1}}}"
	refute -m '^ERROR SerializationException$' call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":\"Decrypt\"}"
	refute -m '^ERROR NotFoundException$' call CreateGrant "{\"KeyId\":\"00000000-0000-4000-8000-000000000000\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}"
}

t_grant_chain() {
	local k blob
	k=$(new_key chain)
	blob=$(ctxblob "$k" '{}')
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"CreateGrant\",\"Encrypt\"]}" >/dev/null
	# The grantee may pass on what it holds, not more.
	call --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Encrypt\"]}" >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
}

t_user_role() {
	local k blob
	k=$(new_key userrole)
	blob=$(kc --profile host gdkwp "$k" volume=v)
	kc --profile host decrypt "$blob" volume=v >/dev/null
	call --profile host DescribeKey "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile host ListAliases '{}' >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile host DisableKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile host ScheduleKeyDeletion "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile host CreateKey '{}'
	refute -m '^ERROR AccessDeniedException$' call --profile host CreateAlias "{\"AliasName\":\"alias/byhost\",\"TargetKeyId\":\"$k\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile host CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Decrypt\"]}"
}

t_policy() {
	local k blob pol
	pol=$(jq -cn --arg o "$OUTSIDER" '{Version:"2012-10-17",Statement:[
		{Effect:"Allow",Principal:{AWS:"arn:aws:iam::111122223333:root"},Action:"kms:*",Resource:"*"},
		{Effect:"Allow",Principal:{AWS:$o},Action:["kms:Decrypt","kms:Encrypt","kms:DescribeKey"],Resource:"*"}]}')
	k=$(call CreateKey "$(jq -cn --arg p "$pol" '{Policy:$p}')" | jq -r .KeyMetadata.KeyId)
	blob=$(call --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" | jq -r .CiphertextBlob)
	call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}" >/dev/null
	refute -m '^ERROR AccessDeniedException$' call --profile outsider DisableKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR AccessDeniedException$' call --profile outsider GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}"
}

t_managed_untouchable() {
	local m
	m=$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyId)
	for op in DisableKey ScheduleKeyDeletion EnableKeyRotation; do
		refute -m '^ERROR AccessDeniedException$' call "$op" "{\"KeyId\":\"$m\"}"
	done
	refute -m '^ERROR AccessDeniedException$' call CreateAlias "{\"AliasName\":\"alias/mine\",\"TargetKeyId\":\"$m\"}"
	assert_eq "$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyState)" Enabled
}

test_that "a principal with neither key policy nor grant gets AccessDeniedException" t_denied
test_that "a grant lets its grantee perform the granted operations and nothing else" t_grant_lets_in
test_that "ListGrants shows the grant and RevokeGrant shuts the grantee out again" t_list_revoke
test_that "a grant with an EncryptionContextSubset constraint refuses other contexts" t_subset_constraint
test_that "a grant with an EncryptionContextEquals constraint needs exactly that context" t_equals_constraint
test_that "RetireGrant works for the retiring principal and an admin, not for others" t_retire
test_that "CreateGrant refuses unknown operations, missing fields and bad constraints" t_grant_refusals
test_that "a grantee holding CreateGrant can pass on only the operations it holds" t_grant_chain
test_that "a principal with role user uses keys but cannot administer them" t_user_role
test_that "a CreateKey Policy allows its principals exactly the actions it lists" t_policy
test_that "nobody can disable, delete, rotate or re-alias the AWS managed key" t_managed_untouchable
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM" test "$stop_rc" -eq 0
tap_done
