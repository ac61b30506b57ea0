#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Wire compatibility: the unmodified AWS CLI (botocore signing and parsing,
# code nobody here wrote) drives ebscrypt-kmsd, over HTTP and over HTTPS.
# Skipped, never faked, when the AWS CLI is not installed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

AWS=$(command -v /usr/bin/aws || command -v aws || true)
NAMES=(
	"the AWS CLI creates a key, aliases it and describes it by alias"
	"the AWS CLI encrypts and decrypts under an encryption context"
	"the AWS CLI sees AWS error codes for wrong contexts, disabled and unknown keys"
	"the AWS CLI generates data keys and re-encrypts them to another key"
	"the AWS CLI creates, lists and revokes grants"
	"the AWS CLI schedules and cancels deletion and manages rotation"
	"the AWS CLI lists keys and aliases"
	"the AWS CLI puts, gets and lists a key policy"
	"the AWS CLI talks HTTPS to the service with its CA bundle"
	"the client library talks HTTPS and refuses an unverified certificate"
)
if [ -z "$AWS" ]; then
	for n in "${NAMES[@]}"; do tap_skip "$n" "AWS CLI not installed"; done
	tap_done
fi

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
export AWS_SHARED_CREDENTIALS_FILE="$STATE/credentials" AWS_CONFIG_FILE=/dev/null \
	AWS_DEFAULT_REGION=us-east-1 AWS_PROFILE=admin AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
kms() { "$AWS" --endpoint-url "$(kmsd_url)" kms "$@"; }

t_create_describe() {
	local id
	id=$(kms create-key --description "from the cli" --query KeyMetadata.KeyId --output text)
	kms create-alias --alias-name alias/cli --target-key-id "$id"
	assert_eq "$(kms describe-key --key-id alias/cli --query KeyMetadata.[KeyId,KeyState,Description] --output text)" \
		"$id	Enabled	from the cli"
	echo "$id" >"$TAP_TMP/cli-key"
}

t_encrypt_decrypt() {
	printf 'plain text for the cli' >"$TAP_TMP/p"
	kms encrypt --key-id alias/cli --plaintext "fileb://$TAP_TMP/p" --encryption-context volume=vol-1,purpose=test \
		--query CiphertextBlob --output text | base64 -d >"$TAP_TMP/c"
	assert_eq "$(kms decrypt --ciphertext-blob "fileb://$TAP_TMP/c" --encryption-context purpose=test,volume=vol-1 \
		--query Plaintext --output text | base64 -d)" "plain text for the cli"
}

t_errors() {
	local id
	id=$(cat "$TAP_TMP/cli-key")
	refute -m '(InvalidCiphertextException)' kms decrypt --ciphertext-blob "fileb://$TAP_TMP/c" --encryption-context volume=vol-2
	refute -m '(NotFoundException)' kms describe-key --key-id alias/does-not-exist
	refute -m '(AlreadyExistsException)' kms create-alias --alias-name alias/cli --target-key-id "$id"
	kms disable-key --key-id "$id"
	refute -m '(DisabledException)' kms decrypt --ciphertext-blob "fileb://$TAP_TMP/c" --encryption-context purpose=test,volume=vol-1
	kms enable-key --key-id "$id"
	AWS_PROFILE=outsider refute -m '(AccessDeniedException)' kms describe-key --key-id "$id"
	AWS_PROFILE=wrongsecret refute -m '(InvalidSignatureException)' kms list-keys
}

t_datakeys() {
	local other r
	other=$(kms create-key --query KeyMetadata.KeyId --output text)
	r=$(kms generate-data-key --key-id alias/aws/ebs --key-spec AES_256 --encryption-context v=1 --output json)
	jq -r .CiphertextBlob <<<"$r" | base64 -d >"$TAP_TMP/dk"
	kms re-encrypt --ciphertext-blob "fileb://$TAP_TMP/dk" --source-encryption-context v=1 \
		--destination-key-id "$other" --query CiphertextBlob --output text | base64 -d >"$TAP_TMP/dk2"
	assert_eq "$(kms decrypt --ciphertext-blob "fileb://$TAP_TMP/dk2" --query Plaintext --output text)" \
		"$(jq -r .Plaintext <<<"$r")"
	assert_eq "$(kms generate-data-key-without-plaintext --key-id alias/aws/ebs --number-of-bytes 64 \
		--query CiphertextBlob --output text | base64 -d | wc -c)" $((64 + 22 + 36 + 16))
}

t_grants() {
	local id gid
	id=$(cat "$TAP_TMP/cli-key")
	gid=$(kms create-grant --key-id "$id" --grantee-principal arn:aws:iam::111122223333:user/outsider \
		--operations Decrypt DescribeKey --query GrantId --output text)
	assert_eq "$(kms list-grants --key-id "$id" --query 'Grants[0].GrantId' --output text)" "$gid"
	AWS_PROFILE=outsider kms describe-key --key-id "$id" >/dev/null
	kms revoke-grant --key-id "$id" --grant-id "$gid"
	AWS_PROFILE=outsider refute -m '(AccessDeniedException)' kms describe-key --key-id "$id"
}

t_lifecycle() {
	local id
	id=$(kms create-key --query KeyMetadata.KeyId --output text)
	kms enable-key-rotation --key-id "$id"
	assert_eq "$(kms get-key-rotation-status --key-id "$id" --query KeyRotationEnabled --output text)" True
	# Older CLIs (Debian bookworm's 2.9) predate RotateKeyOnDemand.
	if "$AWS" kms rotate-key-on-demand help >/dev/null 2>&1; then
		kms rotate-key-on-demand --key-id "$id" >/dev/null
	fi
	kms disable-key-rotation --key-id "$id"
	assert_eq "$(kms schedule-key-deletion --key-id "$id" --pending-window-in-days 7 --query KeyState --output text)" PendingDeletion
	refute -m '(KMSInvalidStateException)' kms encrypt --key-id "$id" --plaintext "fileb://$TAP_TMP/p"
	kms cancel-key-deletion --key-id "$id" >/dev/null
	assert_eq "$(kms describe-key --key-id "$id" --query KeyMetadata.KeyState --output text)" Disabled
}

t_lists() {
	kms list-keys --query 'Keys[].KeyId' --output text | grep -q "$(cat "$TAP_TMP/cli-key")"
	kms list-aliases --query 'Aliases[].AliasName' --output text | grep -qw alias/cli
	# The CLI's paginator follows NextMarker across pages of one.
	[ "$(kms list-keys --page-size 1 --query 'Keys[].KeyId' --output text | wc -w)" -ge 3 ]
}

t_key_policy() {
	local id
	id=$(cat "$TAP_TMP/cli-key")
	printf '%s' '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/outsider"},"Action":"kms:DescribeKey","Resource":"*"}]}' >"$TAP_TMP/policy.json"
	kms put-key-policy --key-id "$id" --policy-name default --policy "file://$TAP_TMP/policy.json"
	assert_eq "$(kms get-key-policy --key-id "$id" --policy-name default --query Policy --output text)" "$(cat "$TAP_TMP/policy.json")"
	assert_eq "$(kms list-key-policies --key-id "$id" --query 'PolicyNames[0]' --output text)" default
	AWS_PROFILE=outsider kms describe-key --key-id "$id" >/dev/null
	refute -m '(MalformedPolicyDocumentException)' kms put-key-policy --key-id "$id" --policy-name default --policy '{"Statement":[]}'
}

make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$STATE/tls.key" -out "$STATE/tls.crt" -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
	chmod 600 "$STATE/tls.key"
}

t_https_cli() {
	kmsd_stop
	make_cert
	{ printf 'tls_cert = %s\ntls_key = %s\n' "$STATE/tls.crt" "$STATE/tls.key"; cat "$STATE/kmsd.conf"; } >"$STATE/c.new"
	mv "$STATE/c.new" "$STATE/kmsd.conf"
	chmod 600 "$STATE/kmsd.conf"
	# With TLS, listening beyond loopback is allowed.
	kmsd_start 0.0.0.0:0
	kmsd_log | grep -q 'listening on 0.0.0.0:[0-9]* (https)'
	"$AWS" --endpoint-url "$(kmsd_url)" --ca-bundle "$STATE/tls.crt" kms describe-key --key-id alias/cli >/dev/null
}

t_https_lib() {
	"$KMSC" --url "$(kmsd_url)" --ca "$STATE/tls.crt" --creds "$STATE/credentials" --profile host \
		describe alias/aws/ebs | grep -q ' Enabled 1$'
	refute -m '^ERROR Software caused connection abort$' "$KMSC" --url "$(kmsd_url)" --creds "$STATE/credentials" \
		--profile host --retries 0 describe alias/aws/ebs
	# Plain HTTP to the TLS port gets nowhere.
	refute "$KMSC" --url "$(kmsd_url | sed 's/^https/http/')" --creds "$STATE/credentials" \
		--profile host --retries 0 --timeout-ms 3000 describe alias/aws/ebs
}

test_that "${NAMES[0]}" t_create_describe
test_that "${NAMES[1]}" t_encrypt_decrypt
test_that "${NAMES[2]}" t_errors
test_that "${NAMES[3]}" t_datakeys
test_that "${NAMES[4]}" t_grants
test_that "${NAMES[5]}" t_lifecycle
test_that "${NAMES[6]}" t_lists
test_that "${NAMES[7]}" t_key_policy
test_that "${NAMES[8]}" t_https_cli
test_that "${NAMES[9]}" t_https_lib
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM" test "$stop_rc" -eq 0
tap_done
