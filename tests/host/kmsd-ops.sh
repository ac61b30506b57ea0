#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd over real HTTP: every operation, its success and its
# documented failures, driven through the lib/kms_client.c test client.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

b64() { printf '%s' "$1" | base64 -w0; }

t_create_key() {
	local r
	r=$(call CreateKey '{"Description":"first key"}')
	assert_eq "$(jq -r .KeyMetadata.KeyState <<<"$r")" Enabled
	assert_eq "$(jq -r .KeyMetadata.Enabled <<<"$r")" true
	assert_eq "$(jq -r .KeyMetadata.Description <<<"$r")" "first key"
	assert_eq "$(jq -r .KeyMetadata.KeyManager <<<"$r")" CUSTOMER
	assert_eq "$(jq -r .KeyMetadata.KeySpec <<<"$r")" SYMMETRIC_DEFAULT
	jq -er '.KeyMetadata.Arn | test("^arn:aws:kms:us-east-1:111122223333:key/[0-9a-f-]{36}$")' <<<"$r"
	refute -m '^ERROR UnsupportedOperationException$' call CreateKey '{"KeySpec":"RSA_2048"}'
	refute -m '^ERROR UnsupportedOperationException$' call CreateKey '{"KeyUsage":"SIGN_VERIFY"}'
	refute -m '^ERROR MalformedPolicyDocumentException$' call CreateKey '{"Policy":"not json"}'
}

t_key_references() {
	local id arn
	id=$(new_key refs)
	arn="arn:aws:kms:us-east-1:111122223333:key/$id"
	call CreateAlias "{\"AliasName\":\"alias/refs\",\"TargetKeyId\":\"$id\"}"
	for ref in "$id" "$arn" alias/refs arn:aws:kms:us-east-1:111122223333:alias/refs; do
		assert_eq "$(call DescribeKey "{\"KeyId\":\"$ref\"}" | jq -r .KeyMetadata.KeyId)" "$id" "$ref"
		call Encrypt "{\"KeyId\":\"$ref\",\"Plaintext\":\"$(b64 x)\"}" >/dev/null
	done
}

t_managed_key() {
	local a b
	[ "$(call ListAliases '{}' | jq '[.Aliases[] | select(.AliasName == "alias/aws/ebs")] | length')" = 0 ]
	a=$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyId)
	b=$(call GenerateDataKeyWithoutPlaintext '{"KeyId":"alias/aws/ebs","KeySpec":"AES_256"}' | jq -r .KeyId)
	assert_eq "$b" "arn:aws:kms:us-east-1:111122223333:key/$a"
	assert_eq "$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyManager)" AWS
	assert_eq "$(call GetKeyRotationStatus "{\"KeyId\":\"$a\"}" | jq -r .KeyRotationEnabled)" true
}

t_not_found() {
	refute -m '^ERROR NotFoundException$' call DescribeKey '{"KeyId":"00000000-0000-4000-8000-000000000000"}'
	refute -m '^ERROR NotFoundException$' call DescribeKey '{"KeyId":"alias/nope"}'
	refute -m '^ERROR NotFoundException$' call DescribeKey '{"KeyId":"not-a-key"}'
	refute -m '^ERROR NotFoundException$' call DescribeKey '{"KeyId":"arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000000"}'
	refute -m '^ERROR NotFoundException$' call DescribeKey '{"KeyId":"arn:aws:kms:us-east-1:999999999999:alias/refs"}'
	refute -m '^ERROR ValidationException$' call DescribeKey '{}'
	refute -m '^ERROR NotFoundException$' call EnableKey '{"KeyId":"alias/refs"}'
}

t_list_keys() {
	local all page1 m page2
	new_key p1 >/dev/null
	new_key p2 >/dev/null
	all=$(call ListKeys '{}' | jq -r '.Keys[].KeyId' | sort)
	page1=$(call ListKeys '{"Limit":2}')
	assert_eq "$(jq -r .Truncated <<<"$page1")" true
	m=$(jq -r .NextMarker <<<"$page1")
	page2=$(call ListKeys "{\"Marker\":\"$m\",\"Limit\":1000}")
	assert_eq "$(jq -r .Truncated <<<"$page2")" false
	assert_eq "$( (jq -r '.Keys[].KeyId' <<<"$page1"; jq -r '.Keys[].KeyId' <<<"$page2") | sort)" "$all"
	refute -m '^ERROR ValidationException$' call ListKeys '{"Limit":0}'
	refute -m '^ERROR ValidationException$' call ListKeys '{"Limit":1001}'
}

t_aliases() {
	local k1 k2
	k1=$(new_key a1)
	k2=$(new_key a2)
	call CreateAlias "{\"AliasName\":\"alias/app/data\",\"TargetKeyId\":\"$k1\"}"
	assert_eq "$(call ListAliases "{\"KeyId\":\"$k1\"}" | jq -r '.Aliases[].AliasName')" alias/app/data
	call UpdateAlias "{\"AliasName\":\"alias/app/data\",\"TargetKeyId\":\"$k2\"}"
	assert_eq "$(call DescribeKey '{"KeyId":"alias/app/data"}' | jq -r .KeyMetadata.KeyId)" "$k2"
	assert_eq "$(call ListAliases '{}' | jq -r '.Aliases[] | select(.AliasName=="alias/app/data") | .AliasArn')" \
		arn:aws:kms:us-east-1:111122223333:alias/app/data
	call DeleteAlias '{"AliasName":"alias/app/data"}'
	refute -m '^ERROR NotFoundException$' call DescribeKey '{"KeyId":"alias/app/data"}'
	refute -m '^ERROR NotFoundException$' call DeleteAlias '{"AliasName":"alias/app/data"}'
	refute -m '^ERROR NotFoundException$' call UpdateAlias "{\"AliasName\":\"alias/app/data\",\"TargetKeyId\":\"$k1\"}"
}

t_alias_refusals() {
	local k
	k=$(new_key ar)
	call CreateAlias "{\"AliasName\":\"alias/dup\",\"TargetKeyId\":\"$k\"}"
	refute -m '^ERROR AlreadyExistsException$' call CreateAlias "{\"AliasName\":\"alias/dup\",\"TargetKeyId\":\"$k\"}"
	for name in alias/aws/mine noprefix alias/ 'alias/sp ace' 'alias/x*y'; do
		refute -m '^ERROR InvalidAliasNameException$' call CreateAlias "{\"AliasName\":\"$name\",\"TargetKeyId\":\"$k\"}"
	done
	refute -m '^ERROR NotFoundException$' call CreateAlias '{"AliasName":"alias/dangling","TargetKeyId":"00000000-0000-4000-8000-000000000000"}'
	refute -m '^ERROR NotFoundException$' call CreateAlias "{\"AliasName\":\"alias/viaalias\",\"TargetKeyId\":\"alias/dup\"}"
	refute -m '^ERROR InvalidAliasNameException$' call DeleteAlias '{"AliasName":"alias/aws/ebs"}'
}

t_encrypt_decrypt() {
	local k blob r
	k=$(new_key ed)
	blob=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 'attack at dawn')\",\"EncryptionContext\":{\"volume\":\"vol-1\",\"b\":\"2\"}}" | jq -r .CiphertextBlob)
	r=$(call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"b\":\"2\",\"volume\":\"vol-1\"}}")
	assert_eq "$(jq -r .Plaintext <<<"$r" | base64 -d)" "attack at dawn"
	assert_eq "$(jq -r .KeyId <<<"$r")" "arn:aws:kms:us-east-1:111122223333:key/$k"
	assert_eq "$(jq -r .EncryptionAlgorithm <<<"$r")" SYMMETRIC_DEFAULT
}

t_wrong_context() {
	local k blob
	k=$(new_key wc)
	blob=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 secret)\",\"EncryptionContext\":{\"volume\":\"vol-1\"}}" | jq -r .CiphertextBlob)
	refute -m '^ERROR InvalidCiphertextException$' call Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	refute -m '^ERROR InvalidCiphertextException$' call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"volume\":\"vol-2\"}}"
	refute -m '^ERROR InvalidCiphertextException$' call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"volume\":\"vol-1\",\"x\":\"y\"}}"
	refute -m '^ERROR InvalidCiphertextException$' call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"Volume\":\"vol-1\"}}"
}

t_incorrect_key() {
	local k1 k2 blob
	k1=$(new_key ik1)
	k2=$(new_key ik2)
	blob=$(call Encrypt "{\"KeyId\":\"$k1\",\"Plaintext\":\"$(b64 s)\"}" | jq -r .CiphertextBlob)
	refute -m '^ERROR IncorrectKeyException$' call Decrypt "{\"CiphertextBlob\":\"$blob\",\"KeyId\":\"$k2\"}"
	call Decrypt "{\"CiphertextBlob\":\"$blob\",\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/$k1\"}" >/dev/null
}

t_generate_data_key() {
	local k r spec n
	k=$(new_key gdk)
	for spec in '"KeySpec":"AES_256"=32' '"KeySpec":"AES_128"=16' '"NumberOfBytes":64=64' '"NumberOfBytes":1=1' '"NumberOfBytes":1024=1024'; do
		n=${spec##*=}
		r=$(call GenerateDataKey "{\"KeyId\":\"$k\",${spec%=*},\"EncryptionContext\":{\"v\":\"1\"}}")
		assert_eq "$(jq -r .Plaintext <<<"$r" | base64 -d | wc -c)" "$n" "$spec"
		assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$(jq -r .CiphertextBlob <<<"$r")\",\"EncryptionContext\":{\"v\":\"1\"}}" | jq -r .Plaintext)" \
			"$(jq -r .Plaintext <<<"$r")"
	done
}

t_generate_refusals() {
	local k
	k=$(new_key gr)
	refute -m '^ERROR ValidationException$' call GenerateDataKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR ValidationException$' call GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"NumberOfBytes\":32}"
	refute -m '^ERROR ValidationException$' call GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_512\"}"
	refute -m '^ERROR ValidationException$' call GenerateDataKey "{\"KeyId\":\"$k\",\"NumberOfBytes\":0}"
	refute -m '^ERROR ValidationException$' call GenerateDataKey "{\"KeyId\":\"$k\",\"NumberOfBytes\":1025}"
	refute -m '^ERROR ValidationException$' call GenerateDataKeyWithoutPlaintext '{"KeySpec":"AES_256"}'
}

t_without_plaintext() {
	local k r
	k=$(new_key wp)
	r=$(call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}")
	assert_eq "$(jq -r 'has("Plaintext")' <<<"$r")" false
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$(jq -r .CiphertextBlob <<<"$r")\"}" | jq -r .Plaintext | base64 -d | wc -c)" 32
}

t_encrypt_limits() {
	local k
	k=$(new_key el)
	refute -m '^ERROR ValidationException$' call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"\"}"
	refute -m '^ERROR ValidationException$' call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(head -c 4097 /dev/zero | base64 -w0)\"}"
	call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(head -c 4096 /dev/zero | base64 -w0)\"}" >/dev/null
	refute -m '^ERROR ValidationException$' call Encrypt "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR InvalidKeyUsageException$' call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\"}"
}

t_disable_enable() {
	local k blob
	k=$(new_key de)
	blob=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 s)\"}" | jq -r .CiphertextBlob)
	call DisableKey "{\"KeyId\":\"$k\"}"
	assert_eq "$(call DescribeKey "{\"KeyId\":\"$k\"}" | jq -r .KeyMetadata.KeyState)" Disabled
	refute -m '^ERROR DisabledException$' call Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	refute -m '^ERROR DisabledException$' call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}"
	refute -m '^ERROR DisabledException$' call GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}"
	call EnableKey "{\"KeyId\":\"$k\"}"
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$blob\"}" | jq -r .Plaintext | base64 -d)" s
}

t_pending_deletion() {
	local k blob r
	k=$(new_key pd)
	blob=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 s)\"}" | jq -r .CiphertextBlob)
	r=$(call ScheduleKeyDeletion "{\"KeyId\":\"$k\",\"PendingWindowInDays\":7}")
	assert_eq "$(jq -r .KeyState <<<"$r")" PendingDeletion
	assert_eq "$(jq -r .PendingWindowInDays <<<"$r")" 7
	[ "$(jq -r .DeletionDate <<<"$r")" -gt "$(( $(date +%s) + 6 * 86400 ))" ]
	assert_eq "$(call DescribeKey "{\"KeyId\":\"$k\"}" | jq -r .KeyMetadata.KeyState)" PendingDeletion
	refute -m '^ERROR KMSInvalidStateException$' call Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	refute -m '^ERROR KMSInvalidStateException$' call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}"
	refute -m '^ERROR KMSInvalidStateException$' call EnableKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR KMSInvalidStateException$' call ScheduleKeyDeletion "{\"KeyId\":\"$k\"}"
	assert_eq "$(call CancelKeyDeletion "{\"KeyId\":\"$k\"}" | jq -r .KeyId)" "arn:aws:kms:us-east-1:111122223333:key/$k"
	assert_eq "$(call DescribeKey "{\"KeyId\":\"$k\"}" | jq -r .KeyMetadata.KeyState)" Disabled
	refute -m '^ERROR KMSInvalidStateException$' call CancelKeyDeletion "{\"KeyId\":\"$k\"}"
	call EnableKey "{\"KeyId\":\"$k\"}"
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$blob\"}" | jq -r .Plaintext | base64 -d)" s
}

t_deletion_window() {
	local k
	k=$(new_key dw)
	refute -m '^ERROR ValidationException$' call ScheduleKeyDeletion "{\"KeyId\":\"$k\",\"PendingWindowInDays\":6}"
	refute -m '^ERROR ValidationException$' call ScheduleKeyDeletion "{\"KeyId\":\"$k\",\"PendingWindowInDays\":31}"
	assert_eq "$(call ScheduleKeyDeletion "{\"KeyId\":\"$k\"}" | jq -r .PendingWindowInDays)" 30
}

t_rotation_status() {
	local k r
	k=$(new_key rs)
	assert_eq "$(call GetKeyRotationStatus "{\"KeyId\":\"$k\"}" | jq -r .KeyRotationEnabled)" false
	call EnableKeyRotation "{\"KeyId\":\"$k\",\"RotationPeriodInDays\":90}"
	r=$(call GetKeyRotationStatus "{\"KeyId\":\"$k\"}")
	assert_eq "$(jq -r .KeyRotationEnabled <<<"$r")" true
	assert_eq "$(jq -r .RotationPeriodInDays <<<"$r")" 90
	refute -m '^ERROR ValidationException$' call EnableKeyRotation "{\"KeyId\":\"$k\",\"RotationPeriodInDays\":89}"
	call DisableKeyRotation "{\"KeyId\":\"$k\"}"
	assert_eq "$(call GetKeyRotationStatus "{\"KeyId\":\"$k\"}" | jq -r .KeyRotationEnabled)" false
	call DisableKey "{\"KeyId\":\"$k\"}"
	refute -m '^ERROR DisabledException$' call EnableKeyRotation "{\"KeyId\":\"$k\"}"
}

# Material version: the 4 bytes after the 36-byte key id in the blob header.
blob_version() {
	base64 -d <<<"$1" | od -An -tu1 -j42 -N4 | awk '{print $1*16777216+$2*65536+$3*256+$4}'
}

t_rotation() {
	local k old new r
	k=$(new_key rot)
	old=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 before)\",\"EncryptionContext\":{\"c\":\"1\"}}" | jq -r .CiphertextBlob)
	assert_eq "$(blob_version "$old")" 1
	assert_eq "$(call RotateKeyOnDemand "{\"KeyId\":\"$k\"}" | jq -r .KeyId)" "$k"
	new=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 after)\",\"EncryptionContext\":{\"c\":\"1\"}}" | jq -r .CiphertextBlob)
	assert_eq "$(blob_version "$new")" 2
	call RotateKeyOnDemand "{\"KeyId\":\"$k\"}" >/dev/null
	r=$(call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\"}" | jq -r .CiphertextBlob)
	assert_eq "$(blob_version "$r")" 3
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$old\",\"EncryptionContext\":{\"c\":\"1\"}}" | jq -r .Plaintext | base64 -d)" before
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$new\",\"EncryptionContext\":{\"c\":\"1\"}}" | jq -r .Plaintext | base64 -d)" after
	call GetKeyRotationStatus "{\"KeyId\":\"$k\"}" | jq -e .OnDemandRotationStartDate >/dev/null
	refute -m '^ERROR AccessDeniedException$' call RotateKeyOnDemand "{\"KeyId\":\"$(call DescribeKey '{"KeyId":"alias/aws/ebs"}' | jq -r .KeyMetadata.KeyId)\"}"
}

t_reencrypt() {
	local k1 k2 blob r
	k1=$(new_key re1)
	k2=$(new_key re2)
	blob=$(call Encrypt "{\"KeyId\":\"$k1\",\"Plaintext\":\"$(b64 moving)\",\"EncryptionContext\":{\"a\":\"1\"}}" | jq -r .CiphertextBlob)
	r=$(call ReEncrypt "{\"CiphertextBlob\":\"$blob\",\"SourceEncryptionContext\":{\"a\":\"1\"},\"DestinationKeyId\":\"$k2\",\"DestinationEncryptionContext\":{\"b\":\"2\"}}")
	assert_eq "$(jq -r 'has("Plaintext")' <<<"$r")" false
	assert_eq "$(jq -r .SourceKeyId <<<"$r")" "arn:aws:kms:us-east-1:111122223333:key/$k1"
	assert_eq "$(jq -r .KeyId <<<"$r")" "arn:aws:kms:us-east-1:111122223333:key/$k2"
	assert_eq "$(call Decrypt "{\"CiphertextBlob\":\"$(jq -r .CiphertextBlob <<<"$r")\",\"EncryptionContext\":{\"b\":\"2\"}}" | jq -r .KeyId)" \
		"arn:aws:kms:us-east-1:111122223333:key/$k2"
	refute -m '^ERROR InvalidCiphertextException$' call ReEncrypt "{\"CiphertextBlob\":\"$blob\",\"DestinationKeyId\":\"$k2\"}"
	refute -m '^ERROR IncorrectKeyException$' call ReEncrypt "{\"CiphertextBlob\":\"$blob\",\"SourceKeyId\":\"$k2\",\"SourceEncryptionContext\":{\"a\":\"1\"},\"DestinationKeyId\":\"$k2\"}"
	refute -m '^ERROR NotFoundException$' call ReEncrypt "{\"CiphertextBlob\":\"$blob\",\"SourceEncryptionContext\":{\"a\":\"1\"},\"DestinationKeyId\":\"alias/none\"}"
}

t_client_library() {
	local blob blob2 p1 p2 k2
	blob=$(kc gdkwp alias/aws/ebs volume=vol-0123456789abcdef0)
	p1=$(kc decrypt "$blob" volume=vol-0123456789abcdef0)
	assert_eq "$(base64 -d <<<"$p1" | wc -c)" 32
	refute -m '^ERROR InvalidCiphertextException$' kc decrypt "$blob" volume=vol-other
	k2=$(new_key lib2)
	refute -m '^ERROR InvalidCiphertextException$' kc reencrypt "$blob" "$k2"
	blob2=$(kc reencrypt "$blob" "$k2" volume=vol-0123456789abcdef0)
	refute -m '^ERROR InvalidCiphertextException$' kc decrypt "$blob2" volume=vol-0123456789abcdef0
	p2=$(kc decrypt "$blob2")
	assert_eq "$p2" "$p1"
	kc describe alias/aws/ebs | grep -Eq '^[0-9a-f-]{36} arn:aws:kms:us-east-1:111122223333:key/[0-9a-f-]{36} Enabled 1$'
	refute -m '^ERROR NotFoundException$' kc describe alias/missing
}

t_client_transport() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	refute -m '^ERROR Connection refused$' "$KMSC" --url "http://127.0.0.1:$port/" --creds "$STATE/credentials" \
		--profile admin --timeout-ms 800 --retries 3 describe alias/aws/ebs
}

t_audit() {
	local k blob n j all
	k=$(new_key audited)
	blob=$(call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"$(b64 'do-not-log-me')\",\"EncryptionContext\":{\"purpose\":\"audit-test\"}}" | jq -r .CiphertextBlob)
	call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"purpose\":\"audit-test\"}}" >/dev/null
	refute -m '^ERROR InvalidCiphertextException$' call Decrypt "{\"CiphertextBlob\":\"$blob\"}"
	j=$("$KMSD" audit --state-dir "$STATE" --key "$k" --json)
	n=$(wc -l <<<"$j")
	assert_eq "$n" 4 "CreateKey, Encrypt, Decrypt, failed Decrypt"
	assert_eq "$(jq -r .operation <<<"$j" | tr '\n' ' ')" "CreateKey Encrypt Decrypt Decrypt "
	assert_eq "$(jq -r .outcome <<<"$j" | tr '\n' ' ')" "success success success failure "
	assert_eq "$(jq -r .error_type <<<"$j" | tail -1)" InvalidCiphertextException
	assert_eq "$(jq -r .principal <<<"$j" | sort -u)" arn:aws:iam::111122223333:user/admin
	assert_eq "$(jq -r '.encryption_context.purpose' <<<"$j" | sed -n 2p)" audit-test
	jq -se 'all(.[]; .request_id | test("^[0-9a-f-]{36}$"))' <<<"$j" >/dev/null
	all=$("$KMSD" audit --state-dir "$STATE" --json)
	refute grep -q "$(b64 'do-not-log-me')" <<<"$all"
	refute grep -a -q "do-not-log-me" "$STATE"/kmsd.db*
	"$KMSD" audit --state-dir "$STATE" --key "$k" | grep -q " Decrypt key=arn:aws:kms:us-east-1:111122223333:key/$k context={} failure InvalidCiphertextException$"
}

t_audit_filters() {
	local since future
	since=$(date -u -d '-2 seconds' +%Y-%m-%dT%H:%M:%SZ)
	future=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
	call ListAliases '{}' >/dev/null
	[ "$("$KMSD" audit --state-dir "$STATE" --since "$future" | wc -l)" = 0 ]
	"$KMSD" audit --state-dir "$STATE" --since "$since" | grep -q ' ListAliases '
	[ "$("$KMSD" audit --state-dir "$STATE" --since 1970-01-01 | wc -l)" -gt "$("$KMSD" audit --state-dir "$STATE" --since "$since" | wc -l)" ]
	refute "$KMSD" audit --state-dir "$STATE" --since yesterday
}

test_that "CreateKey returns the metadata of a new enabled customer key, and refuses unsupported specs" t_create_key
test_that "a key is found by key id, key ARN, alias name and alias ARN" t_key_references
test_that "alias/aws/ebs is created on first use as an AWS managed key with rotation on" t_managed_key
test_that "unknown keys, aliases and foreign ARNs are NotFoundException" t_not_found
test_that "ListKeys pages with Limit and Marker and validates Limit" t_list_keys
test_that "CreateAlias, UpdateAlias, ListAliases and DeleteAlias manage aliases" t_aliases
test_that "CreateAlias refuses duplicates, reserved and malformed names and dangling targets" t_alias_refusals
test_that "Encrypt then Decrypt returns the plaintext under the same context in any order" t_encrypt_decrypt
test_that "Decrypt with a wrong, missing or extra encryption context is InvalidCiphertextException" t_wrong_context
test_that "Decrypt naming another key than the blob's is IncorrectKeyException" t_incorrect_key
test_that "GenerateDataKey returns AES_256, AES_128 and NumberOfBytes keys that Decrypt reproduces" t_generate_data_key
test_that "GenerateDataKey refuses both, neither or bad KeySpec and NumberOfBytes" t_generate_refusals
test_that "GenerateDataKeyWithoutPlaintext returns only a blob that decrypts to 32 bytes" t_without_plaintext
test_that "Encrypt refuses empty and oversize plaintexts and asymmetric algorithms" t_encrypt_limits
test_that "DisableKey makes every use fail with DisabledException and EnableKey restores it" t_disable_enable
test_that "a key pending deletion refuses use and CancelKeyDeletion brings it back disabled" t_pending_deletion
test_that "ScheduleKeyDeletion accepts only 7 to 30 days and defaults to 30" t_deletion_window
test_that "key rotation is enabled, reported and disabled; disabled keys refuse it" t_rotation_status
test_that "after RotateKeyOnDemand new blobs use the new material and old blobs still decrypt" t_rotation
test_that "ReEncrypt moves a blob to another key and context without returning the plaintext" t_reencrypt
test_that "the client library generates, decrypts, re-encrypts and describes end to end" t_client_library
test_that "the client library reports a refused connection after its retries" t_client_transport
test_that "the audit trail records each request with principal, key, context and outcome, never plaintext" t_audit
test_that "audit --since filters by time and rejects malformed times" t_audit_filters
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM" test "$stop_rc" -eq 0
tap_done
