#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd key policies over HTTP: conditions enforced, each action
# allowing exactly its operations, Deny/NotAction/NotPrincipal, the default
# key policy, Get/Put/ListKeyPolicies with the lockout safety check, grant
# chains that never loosen constraints, and bad documents refused by name.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

ACCT=111122223333
ROOT=arn:aws:iam::$ACCT:root
ADMIN=arn:aws:iam::$ACCT:user/admin
OUTSIDER=arn:aws:iam::$ACCT:user/outsider
HOST=arn:aws:iam::$ACCT:role/ebscrypt-host
ROOT_ST=$(jq -cn --arg r "$ROOT" '{Sid:"root",Effect:"Allow",Principal:{AWS:$r},Action:"kms:*",Resource:"*"}')

# doc STATEMENT...: a policy document of the given statements (JSON objects).
doc() {
	printf '%s\n' "$@" | jq -cs '{Version:"2012-10-17",Statement:.}'
}
# st EFFECT PRINCIPAL_JSON ACTION_JSON [CONDITION_JSON]
st() {
	jq -cn --arg e "$1" --argjson p "$2" --argjson a "$3" --argjson c "${4:-null}" \
		'{Effect:$e,Principal:$p,Action:$a,Resource:"*"} + (if $c then {Condition:$c} else {} end)'
}
aws() { jq -cn --arg a "$1" '{AWS:$a}'; }
# key_with POLICY [extra CreateKey members as JSON]: a new key's id.
key_with() {
	call CreateKey "$(jq -cn --arg p "$1" --argjson x "${2:-{\}}" '{Policy:$p} + $x')" | jq -er .KeyMetadata.KeyId
}
blob_of() {
	call Encrypt "{\"KeyId\":\"$1\",\"Plaintext\":\"c2VjcmV0\",\"EncryptionContext\":${2:-{\}}}" | jq -er .CiphertextBlob
}
denied() { refute -m '^ERROR AccessDeniedException$' call "$@"; }

t_condition_enforced() {
	local k blob own
	k=$(key_with "$(doc "$ROOT_ST" "$(st Allow '"*"' '"kms:*"' '{"StringEquals":{"kms:CallerAccount":"999999999999"}}')")")
	blob=$(blob_of "$k")
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	denied --profile outsider DisableKey "{\"KeyId\":\"$k\"}"
	denied --profile outsider ScheduleKeyDeletion "{\"KeyId\":\"$k\",\"PendingWindowInDays\":7}"
	denied --profile outsider DescribeKey "{\"KeyId\":\"$k\"}"
	assert_eq "$(call DescribeKey "{\"KeyId\":\"$k\"}" | jq -r .KeyMetadata.KeyState)" Enabled
	# The same statement for this account lets the principal in: the condition decided.
	own=$(key_with "$(doc "$ROOT_ST" "$(st Allow '"*"' '"kms:DescribeKey"' "{\"StringEquals\":{\"kms:CallerAccount\":\"$ACCT\"}}")")")
	call --profile outsider DescribeKey "{\"KeyId\":\"$own\"}" >/dev/null
}

t_create_grant_is_not_admin() {
	local k blob
	k=$(key_with "$(doc "$ROOT_ST" "$(st Allow "$(aws "$OUTSIDER")" '"kms:CreateGrant"')")")
	blob=$(blob_of "$k")
	call --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Encrypt\"]}" >/dev/null
	denied --profile outsider DisableKey "{\"KeyId\":\"$k\"}"
	denied --profile outsider ScheduleKeyDeletion "{\"KeyId\":\"$k\"}"
	denied --profile outsider EnableKeyRotation "{\"KeyId\":\"$k\"}"
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	denied --profile outsider DescribeKey "{\"KeyId\":\"$k\"}"
	denied --profile outsider PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$(doc "$(st Allow '"*"' '"kms:*"')")" '{KeyId:$k,Policy:$p,BypassPolicyLockoutSafetyCheck:true}')"
	denied --profile outsider RevokeGrant "{\"KeyId\":\"$k\",\"GrantId\":\"0000\"}"
}

t_equals_empty_not_dropped() {
	local k blob plain
	k=$(call CreateKey '{}' | jq -r .KeyMetadata.KeyId)
	blob=$(blob_of "$k" '{"volume":"vol-1"}')
	plain=$(blob_of "$k")
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"CreateGrant\",\"Decrypt\"],\"Constraints\":{\"EncryptionContextEquals\":{}}}" >/dev/null
	denied --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}"
	denied --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":{\"volume\":\"vol-1\"}}}"
	denied --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextEquals\":{\"volume\":\"vol-1\"}}}"
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"volume\":\"vol-1\"}}"
	# What the grant does hold, it can pass on.
	call --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextEquals\":{}}}" >/dev/null
	assert_eq "$(call --profile outsider Decrypt "{\"CiphertextBlob\":\"$plain\"}" | jq -r .Plaintext)" c2VjcmV0
}

t_chain_constraints() {
	local k g c good bad
	k=$(call CreateKey '{}' | jq -r .KeyMetadata.KeyId)
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"CreateGrant\",\"Decrypt\",\"Encrypt\"],\"Constraints\":{\"EncryptionContextSubset\":{\"volume\":\"vol-1\"}}}" >/dev/null
	g() { printf '{"KeyId":"%s","GranteePrincipal":"%s","Operations":%s%s}' "$k" "$HOST" "$1" "${2:+,\"Constraints\":$2}"; }
	for good in '["Decrypt"]|{"EncryptionContextSubset":{"volume":"vol-1"}}' \
		    '["Decrypt","Encrypt"]|{"EncryptionContextSubset":{"volume":"vol-1","snap":"s"}}' \
		    '["Encrypt"]|{"EncryptionContextEquals":{"volume":"vol-1"}}' \
		    '["Decrypt"]|{"EncryptionContextSubset":{"Volume":"vol-1"}}' \
		    '["CreateGrant","Decrypt"]|{"EncryptionContextEquals":{"volume":"vol-1","x":"y"}}'; do
		call --profile outsider CreateGrant "$(g "${good%%|*}" "${good#*|}")" >/dev/null ||
			{ echo "refused: $good"; return 1; }
	done
	for bad in '["Decrypt"]|' \
		   '["Decrypt"]|{"EncryptionContextSubset":{}}' \
		   '["Decrypt"]|{"EncryptionContextSubset":{"volume":"vol-2"}}' \
		   '["Decrypt"]|{"EncryptionContextSubset":{"snap":"s"}}' \
		   '["Decrypt"]|{"EncryptionContextEquals":{"volume":"vol-2"}}' \
		   '["Decrypt"]|{"EncryptionContextEquals":{}}' \
		   '["Decrypt"]|{"EncryptionContextSubset":{"volume":"VOL-1"}}' \
		   '["GenerateDataKey"]|{"EncryptionContextSubset":{"volume":"vol-1"}}' \
		   '["Decrypt","RetireGrant"]|{"EncryptionContextSubset":{"volume":"vol-1"}}'; do
		denied --profile outsider CreateGrant "$(g "${bad%%|*}" "${bad#*|}")" || { echo "accepted: $bad"; return 1; }
	done
}

t_deny_beats_all() {
	local k blob
	k=$(key_with "$(doc "$ROOT_ST" "$(st Deny "$(jq -cn --arg h "$HOST" --arg o "$OUTSIDER" '{AWS:[$h,$o]}')" '"kms:Decrypt"')")")
	blob=$(blob_of "$k")
	call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\",\"Encrypt\"]}" >/dev/null
	refute -m 'explicit deny' call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	refute -m 'explicit deny' call --profile host Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	call --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" >/dev/null
	call --profile host Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" >/dev/null
	call Decrypt "{\"CiphertextBlob\":\"$blob\"}" >/dev/null
}

t_not_principal_not_action() {
	local k blob
	k=$(key_with "$(doc "$ROOT_ST" \
		"$(jq -cn --arg a "$ADMIN" '{Effect:"Deny",NotPrincipal:{AWS:$a},Action:"kms:Decrypt",Resource:"*"}')" \
		"$(jq -cn --arg o "$OUTSIDER" '{Effect:"Allow",Principal:{AWS:$o},NotAction:["kms:Decrypt","kms:Disable*","kms:*KeyDeletion","kms:PutKeyPolicy"],Resource:"*"}')")")
	blob=$(blob_of "$k")
	call Decrypt "{\"CiphertextBlob\":\"$blob\"}" >/dev/null
	refute -m 'explicit deny' call --profile host Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	call --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" >/dev/null
	call --profile outsider DescribeKey "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile outsider GetKeyRotationStatus "{\"KeyId\":\"$k\"}" >/dev/null
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	denied --profile outsider DisableKey "{\"KeyId\":\"$k\"}"
	denied --profile outsider ScheduleKeyDeletion "{\"KeyId\":\"$k\"}"
}

t_wildcards() {
	local k blob
	k=$(key_with "$(doc "$ROOT_ST" "$(st Allow "$(aws "$OUTSIDER")" '["kms:Describe*","kms:Get*","kms:List*","kms:GenerateDataKey*","kms:ReEncrypt*"]')")")
	blob=$(blob_of "$k")
	call --profile outsider DescribeKey "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile outsider GetKeyPolicy "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile outsider GetKeyRotationStatus "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile outsider ListGrants "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile outsider ListKeyPolicies "{\"KeyId\":\"$k\"}" >/dev/null
	call --profile outsider GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}" >/dev/null
	call --profile outsider GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}" >/dev/null
	call --profile outsider ReEncrypt "{\"CiphertextBlob\":\"$blob\",\"DestinationKeyId\":\"$k\"}" >/dev/null
	denied --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}"
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	denied --profile outsider DisableKeyRotation "{\"KeyId\":\"$k\"}"
	denied --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Decrypt\"]}"
}

t_context_conditions() {
	local k one two
	k=$(key_with "$(doc "$ROOT_ST" "$(st Allow "$(aws "$OUTSIDER")" '["kms:Decrypt"]' '{"StringLike":{"kms:EncryptionContext:volume":"vol-1*"},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["volume","snapshot"]}}')")")
	one=$(blob_of "$k" '{"volume":"vol-1"}')
	two=$(blob_of "$k" '{"volume":"vol-2"}')
	call --profile outsider Decrypt "{\"CiphertextBlob\":\"$one\",\"EncryptionContext\":{\"volume\":\"vol-1\"}}" >/dev/null
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$two\",\"EncryptionContext\":{\"volume\":\"vol-2\"}}"
	two=$(blob_of "$k" '{"volume":"vol-1","extra":"x"}')
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$two\",\"EncryptionContext\":{\"volume\":\"vol-1\",\"extra\":\"x\"}}"
	two=$(blob_of "$k")
	denied --profile outsider Decrypt "{\"CiphertextBlob\":\"$two\"}"
}

t_grant_conditions() {
	local k
	k=$(key_with "$(doc "$ROOT_ST" \
		"$(st Allow "$(aws "$OUTSIDER")" '"kms:CreateGrant"' "$(jq -cn --arg h "$HOST" '{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","DescribeKey"]},StringEquals:{"kms:GranteePrincipal":$h},Bool:{"kms:GrantIsForAWSResource":"false"}}')")" \
		"$(st Allow "$(aws "$OUTSIDER")" '["kms:ListGrants","kms:RevokeGrant"]' '{"Bool":{"kms:GrantIsForAWSResource":"true"}}')")")
	call --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Decrypt\"]}" >/dev/null
	denied --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$HOST\",\"Operations\":[\"Decrypt\",\"Encrypt\"]}"
	denied --profile outsider CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}"
	# No request here comes from an AWS service on the caller's behalf.
	denied --profile outsider ListGrants "{\"KeyId\":\"$k\"}"
}

t_via_service() {
	local k
	k=$(key_with "$(doc "$ROOT_ST" \
		"$(st Allow "$(aws "$OUTSIDER")" '"kms:DescribeKey"' '{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}')" \
		"$(st Allow "$(aws "$OUTSIDER")" '"kms:GetKeyRotationStatus"' '{"StringNotEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}')")")
	denied --profile outsider DescribeKey "{\"KeyId\":\"$k\"}"
	call --profile outsider GetKeyRotationStatus "{\"KeyId\":\"$k\"}" >/dev/null
}

t_default_policy() {
	local k p
	k=$(call CreateKey '{}' | jq -r .KeyMetadata.KeyId)
	p=$(call GetKeyPolicy "{\"KeyId\":\"$k\",\"PolicyName\":\"default\"}")
	assert_eq "$(jq -r .PolicyName <<<"$p")" default
	assert_eq "$(jq -r .Policy <<<"$p" | jq -c .)" \
		"{\"Version\":\"2012-10-17\",\"Id\":\"key-default-1\",\"Statement\":[{\"Sid\":\"Enable IAM User Permissions\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$ROOT\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"
	assert_eq "$(call ListKeyPolicies "{\"KeyId\":\"$k\"}" | jq -c .)" '{"PolicyNames":["default"],"Truncated":false}'
	call --profile host Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" >/dev/null
	denied --profile host DisableKey "{\"KeyId\":\"$k\"}"
	denied --profile host GetKeyPolicy "{\"KeyId\":\"$k\"}"
	denied --profile host PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$(doc "$ROOT_ST")" '{KeyId:$k,Policy:$p}')"
	denied --profile outsider Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}"
	refute -m '^ERROR NotFoundException$' call GetKeyPolicy "{\"KeyId\":\"$k\",\"PolicyName\":\"other\"}"
}

t_put_get() {
	local k p
	k=$(call CreateKey '{}' | jq -r .KeyMetadata.KeyId)
	denied --profile outsider DescribeKey "{\"KeyId\":\"$k\"}"
	p=$(jq -n --arg r "$ROOT" --arg o "$OUTSIDER" '{Version:"2012-10-17",Statement:[{Effect:"Allow",Principal:{AWS:$r},Action:"kms:*",Resource:"*"},{Effect:"Allow",Principal:{AWS:$o},Action:"kms:DescribeKey",Resource:"*"}]}')
	call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$p" '{KeyId:$k,PolicyName:"default",Policy:$p}')" >/dev/null
	assert_eq "$(call GetKeyPolicy "{\"KeyId\":\"$k\"}" | jq -r .Policy)" "$p"
	call --profile outsider DescribeKey "{\"KeyId\":\"$k\"}" >/dev/null
	refute -m '^ERROR NotFoundException$' call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$p" '{KeyId:$k,PolicyName:"second",Policy:$p}')"
}

t_lockout() {
	local k p locked
	k=$(call CreateKey '{}' | jq -r .KeyMetadata.KeyId)
	locked=$(doc "$(st Allow "$(aws "$OUTSIDER")" '"kms:*"')")
	refute -m 'will not allow you to update the key policy' \
		call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$locked" '{KeyId:$k,Policy:$p}')"
	refute -m 'will not allow you to update the key policy' \
		call CreateKey "$(jq -cn --arg p "$locked" '{Policy:$p}')"
	# A Deny of PutKeyPolicy to the caller locks it out as well.
	p=$(doc "$ROOT_ST" "$(st Deny "$(aws "$ADMIN")" '"kms:PutKeyPolicy"')")
	refute -m 'will not allow you' call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$p" '{KeyId:$k,Policy:$p}')"
	call --profile outsider DescribeKey "{\"KeyId\":\"$k\"}" >/dev/null 2>&1 && { echo "refused Put changed the policy"; return 1; }
	call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$locked" '{KeyId:$k,Policy:$p,BypassPolicyLockoutSafetyCheck:true}')" >/dev/null
	denied PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$(doc "$ROOT_ST")" '{KeyId:$k,Policy:$p}')"
	denied DisableKey "{\"KeyId\":\"$k\"}"
	# The principal the new policy names can give the account its access back.
	call --profile outsider PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$(doc "$ROOT_ST")" '{KeyId:$k,Policy:$p,BypassPolicyLockoutSafetyCheck:true}')" >/dev/null
	call DisableKey "{\"KeyId\":\"$k\"}" >/dev/null
	k=$(key_with "$locked" '{"BypassPolicyLockoutSafetyCheck":true}')
	call --profile outsider DescribeKey "{\"KeyId\":\"$k\"}" >/dev/null
	denied DescribeKey "{\"KeyId\":\"$k\"}"
}

t_managed() {
	local m
	m=$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyId)
	call GetKeyPolicy "{\"KeyId\":\"$m\"}" | jq -r .Policy | jq -e '.Statement | length == 2' >/dev/null
	denied PutKeyPolicy "$(jq -cn --arg k "$m" --arg p "$(doc "$ROOT_ST")" '{KeyId:$k,Policy:$p}')"
	kc --profile host gdkwp alias/aws/ebs >/dev/null
}

t_bad_policies() {
	local k before p pat
	k=$(call CreateKey '{}' | jq -r .KeyMetadata.KeyId)
	before=$(call GetKeyPolicy "{\"KeyId\":\"$k\"}" | jq -r .Policy)
	while IFS='|' read -r pat p; do
		[ -n "$pat" ] || continue
		refute -m "MalformedPolicyDocumentException.*$pat" \
			call CreateKey "$(jq -cn --arg p "$p" '{Policy:$p}')" || { echo "CreateKey took: $p"; return 1; }
		refute -m "MalformedPolicyDocumentException.*$pat" \
			call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$p" '{KeyId:$k,Policy:$p}')" || { echo "PutKeyPolicy took: $p"; return 1; }
	done <<-EOF
	not a JSON object|{"Statement":
	element Frob|{"Statement":[$ROOT_ST],"Frob":1}
	Resource 'arn:aws:kms:us-east-1:$ACCT:key/$k' refused|{"Statement":[{"Effect":"Allow","Principal":{"AWS":"$ROOT"},"Action":"kms:*","Resource":"arn:aws:kms:us-east-1:$ACCT:key/$k"}]}
	no Resource|{"Statement":[{"Effect":"Allow","Principal":{"AWS":"$ROOT"},"Action":"kms:*"}]}
	'kms:Frobnicate' is not a KMS action|{"Statement":[$ROOT_ST,{"Effect":"Allow","Principal":"*","Action":"kms:Frobnicate","Resource":"*"}]}
	operator NumericLessThan|{"Statement":[$ROOT_ST,{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:CallerAccount":"5"}}}]}
	condition key aws:SourceIp|{"Statement":[$ROOT_ST,{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}}]}
	type Service|{"Statement":[$ROOT_ST,{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]}
	element NotResource|{"Statement":[{"Effect":"Allow","Principal":{"AWS":"$ROOT"},"Action":"kms:*","NotResource":"*"}]}
	policy variables|{"Statement":[$ROOT_ST,{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalArn":"\${aws:username}"}}}]}
	EOF
	assert_eq "$(call GetKeyPolicy "{\"KeyId\":\"$k\"}" | jq -r .Policy)" "$before"
}

test_that "a kms:CallerAccount condition of another account keeps a role-none principal out" t_condition_enforced
test_that "a kms:CreateGrant statement allows CreateGrant and nothing else" t_create_grant_is_not_admin
test_that "a grantee under EncryptionContextEquals {} cannot grant itself an unconstrained grant" t_equals_empty_not_dropped
test_that "a grant passed on keeps at least its source's operations and constraints" t_chain_constraints
test_that "an explicit Deny beats the account roles and grants" t_deny_beats_all
test_that "NotPrincipal and NotAction apply to everything they do not list" t_not_principal_not_action
test_that "Describe*, Get*, List*, GenerateDataKey* and ReEncrypt* allow what AWS's do" t_wildcards
test_that "kms:EncryptionContext conditions decide Decrypt by the request's context" t_context_conditions
test_that "kms:GrantOperations, kms:GranteePrincipal and kms:GrantIsForAWSResource limit grants" t_grant_conditions
test_that "kms:ViaService is absent from every request" t_via_service
test_that "a key created without a policy gets AWS's default, through which the roles apply" t_default_policy
test_that "PutKeyPolicy replaces the policy and GetKeyPolicy returns it as given" t_put_get
test_that "the lockout safety check refuses a policy that locks the caller out, unless bypassed" t_lockout
test_that "the AWS managed key's policy can be read but not changed" t_managed
test_that "bad policies are refused with MalformedPolicyDocumentException naming what was refused" t_bad_policies
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM" test "$stop_rc" -eq 0
tap_done
