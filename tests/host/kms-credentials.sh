#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Temporary credentials and the AWS credential chain, on the build machine
# (no root): ebscrypt-kmsd mints credentials for a principal that has no
# long-lived key (`credentials issue`), verifies X-Amz-Security-Token and
# refuses it after expiry; lib/awscreds.c finds credentials in the
# environment and in the shared files (profiles, credential_process) and
# refreshes them before they expire, driven through the project's client
# library (tests/helpers/kmsc).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT
start=$(date +%s)

kmsd_setup
# A host principal with no key of its own: it acts only through temporary credentials.
cat >>"$STATE/kmsd.conf" <<EOC

[principal keyless]
arn = arn:aws:iam::111122223333:role/ebscrypt-keyless-host
role = user
EOC
kmsd_start 0
key=$(new_key sessions)
blob=$(call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$key\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{\"vol\":\"v1\"}}" |
	jq -er .CiphertextBlob)
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
export AWS_SHARED_CREDENTIALS_FILE=$TAP_TMP/none AWS_CONFIG_FILE=$TAP_TMP/none
# Nothing here may reach out to a real instance metadata service.
export AWS_EC2_METADATA_DISABLED=true

issue() { "$KMSD" credentials issue --state-dir "$STATE" --principal "${1:-keyless}" "${@:2}"; }

# with_creds JSON CMD...: CMD with the credentials as AWS_* variables.
with_creds() {
	local j=$1
	shift
	AWS_ACCESS_KEY_ID=$(jq -r .AccessKeyId <<<"$j") AWS_SECRET_ACCESS_KEY=$(jq -r .SecretAccessKey <<<"$j") \
		AWS_SESSION_TOKEN=$(jq -r .SessionToken <<<"$j") "$@"
}

kchain() { "$KMSC" --url "$(kmsd_url)" --retries 0 --timeout-ms 5000 "$@"; }

t_issue_format() {
	local j now exp
	now=$(date +%s)
	j=$(issue keyless --duration 600)
	echo "$j"
	assert_eq "$(jq -r .Version <<<"$j")" 1
	jq -r .AccessKeyId <<<"$j" | grep -Eq '^ASIA[A-Z2-7]{16}$'
	assert_eq "$(jq -r '.SecretAccessKey | length' <<<"$j")" 40
	jq -er '.SessionToken | length > 40' <<<"$j" >/dev/null
	exp=$(date -d "$(jq -r .Expiration <<<"$j")" +%s)
	[ "$exp" -ge $((now + 599)) ] && [ "$exp" -le $((now + 602)) ]
}

t_keyless_principal_decrypts() {
	local out
	out=$(with_creds "$(issue)" kchain decrypt "$blob" vol=v1)
	[ -n "$out" ]
	# The audit names the temporary key id and the principal it stands for.
	"$KMSD" audit --state-dir "$STATE" --json | jq -e 'select(.principal == "arn:aws:iam::111122223333:role/ebscrypt-keyless-host"
		and (.access_key_id | startswith("ASIA")) and .operation == "Decrypt")' >/dev/null
}

t_expired_refused() {
	local j
	j=$(issue keyless --duration 1)
	sleep 2
	refute -m 'ERROR ExpiredTokenException' with_creds "$j" kchain decrypt "$blob" vol=v1
}

# A token must be one this service's root key issued, for this key id.
t_forged_tokens_refused() {
	local a b tok other bad
	a=$(issue)
	b=$(issue)
	tok=$(jq -r .SessionToken <<<"$a")
	"$KMSD" init --state-dir "$TAP_TMP/other" --listen 127.0.0.1:0 >/dev/null
	cat >>"$TAP_TMP/other/kmsd.conf" <<-EOC

	[principal keyless]
	arn = arn:aws:iam::111122223333:role/ebscrypt-keyless-host
	EOC
	# The other service needs a root key of its own: made by its first start.
	"$KMSD" --state-dir "$TAP_TMP/other" --listen 127.0.0.1:0 --foreground >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 50); do [ -e "$TAP_TMP/other/root.key" ] && break; sleep 0.1; done
	kill "$pid"
	wait "$pid" || :
	other=$("$KMSD" credentials issue --state-dir "$TAP_TMP/other" --principal keyless)
	for bad in \
		"$(jq -c --arg t "$(jq -r .SessionToken <<<"$b")" '.SessionToken = $t' <<<"$a")" \
		"$(jq -c --arg t "${tok:0:20}$([ "${tok:20:1}" = A ] && echo B || echo A)${tok:21}" '.SessionToken = $t' <<<"$a")" \
		"$(jq -c --arg t "${tok%??}" '.SessionToken = $t' <<<"$a")" \
		"$(jq -c '.SessionToken = "not-a-token"' <<<"$a")" \
		"$(jq -c --arg s "$(jq -r .SecretAccessKey <<<"$b")" '.SecretAccessKey = $s' <<<"$a")" \
		"$other"; do
		refute -m 'ERROR UnrecognizedClientException\|ERROR InvalidSignatureException' \
			with_creds "$bad" kchain decrypt "$blob" vol=v1
	done
	# Without its token, a temporary key id is nobody's.
	refute -m 'ERROR UnrecognizedClientException' env AWS_ACCESS_KEY_ID="$(jq -r .AccessKeyId <<<"$a")" \
		AWS_SECRET_ACCESS_KEY="$(jq -r .SecretAccessKey <<<"$a")" "$KMSC" --url "$(kmsd_url)" \
		--retries 0 decrypt "$blob" vol=v1
}

# The token is bound by the signature: sent after signing, it is refused.
t_unsigned_token_refused() {
	local j
	j=$(issue)
	printf '[tmp]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$(jq -r .AccessKeyId <<<"$j")" "$(jq -r .SecretAccessKey <<<"$j")" >"$TAP_TMP/tmp.creds"
	out=$("$KMSC" --url "$(kmsd_url)" --creds "$TAP_TMP/tmp.creds" --profile tmp raw ListKeys '{}' \
		--after "X-Amz-Security-Token=$(jq -r .SessionToken <<<"$j")")
	echo "$out"
	assert_eq "$(head -1 <<<"$out")" 400
	sed -n 2p <<<"$out" | jq -e '.__type == "IncompleteSignatureException"' >/dev/null
	# Signed, the same credentials work.
	out=$("$KMSC" --url "$(kmsd_url)" --creds "$TAP_TMP/tmp.creds" --profile tmp raw ListKeys '{}' \
		--set "X-Amz-Security-Token=$(jq -r .SessionToken <<<"$j")")
	assert_eq "$(head -1 <<<"$out")" 200
}

t_issue_refusals() {
	refute -m 'no principal nobody' issue nobody
	for d in 0 -5 129601 abc 10s ""; do
		refute -m 'duration must be' issue keyless --duration "$d"
	done
	mkdir -p "$TAP_TMP/empty"
	refute -m 'no root key' "$KMSD" credentials issue --config "$STATE/kmsd.conf" \
		--state-dir "$TAP_TMP/empty" --principal keyless
	[ ! -e "$TAP_TMP/empty/root.key" ]
}

t_keyless_principal_config() {
	cp "$STATE/kmsd.conf" "$STATE/half.conf"
	printf '\n[principal half]\narn = arn:aws:iam::111122223333:user/half\naccess_key_id = AKIAHALF000000000000\n' \
		>>"$STATE/half.conf"
	refute -m 'together (or neither)' "$KMSD" credentials issue --config "$STATE/half.conf" \
		--state-dir "$STATE" --principal keyless
	cp "$STATE/kmsd.conf" "$STATE/dup.conf"
	printf '\n[principal keyless]\narn = arn:aws:iam::111122223333:user/again\n' >>"$STATE/dup.conf"
	refute -m 'configured twice' "$KMSD" credentials issue --config "$STATE/dup.conf" \
		--state-dir "$STATE" --principal keyless
}

# A profile whose credential_process prints what `credentials issue` printed.
t_credential_process() {
	issue >"$TAP_TMP/issued.json"
	printf '[profile proc]\ncredential_process = cat %s\n' "$TAP_TMP/issued.json" >"$TAP_TMP/config"
	AWS_CONFIG_FILE=$TAP_TMP/config AWS_PROFILE=proc kchain decrypt "$blob" vol=v1 >/dev/null
}

# credential_process outputs that must all be refused, with the reason.
t_credential_process_bad_output() {
	local j good bad n=0
	j=$(issue)
	good=$(jq -c . <<<"$j")
	for bad in \
		"$(jq -c '.Version = 2' <<<"$good")" \
		"$(jq -c '.Version = "1"' <<<"$good")" \
		"$(jq -c 'del(.Version)' <<<"$good")" \
		"$(jq -c 'del(.SecretAccessKey)' <<<"$good")" \
		"$(jq -c 'del(.AccessKeyId)' <<<"$good")" \
		"$(jq -c '.AccessKeyId = ""' <<<"$good")" \
		"$(jq -c '.Expiration = "tomorrow"' <<<"$good")" \
		"$(jq -c '.Expiration = "2001-01-01T00:00:00Z"' <<<"$good")" \
		"$(jq -c '.SecretAccessKey = 7' <<<"$good")" \
		'[1, 2]' 'not json at all' '' "${good%?}"; do
		n=$((n + 1))
		printf '%s' "$bad" >"$TAP_TMP/bad$n.json"
		printf '[default]\ncredential_process = cat %s\n' "$TAP_TMP/bad$n.json" >"$TAP_TMP/config$n"
		refute -m 'no usable AWS credentials' env AWS_CONFIG_FILE="$TAP_TMP/config$n" \
			"$KMSC" --url "$(kmsd_url)" --retries 0 decrypt "$blob" vol=v1
	done
	printf '[default]\ncredential_process = sh -c "exit 3"\n' >"$TAP_TMP/config-fail"
	refute -m 'credential_process failed (exit status 3)' env AWS_CONFIG_FILE="$TAP_TMP/config-fail" \
		"$KMSC" --url "$(kmsd_url)" --retries 0 decrypt "$blob" vol=v1
}

# A run longer than the credentials' lifetime: refreshed before they expire.
t_refresh_before_expiry() {
	local out keys
	printf '[profile short]\ncredential_process = %s credentials issue --state-dir %s --principal keyless --duration 3\n' \
		"$KMSD" "$STATE" >"$TAP_TMP/config-short"
	out=$(AWS_CONFIG_FILE=$TAP_TMP/config-short AWS_PROFILE=short kchain loop 7 1000 "$blob" vol=v1)
	echo "$out"
	assert_eq "$(grep -c '^ok ' <<<"$out")" 7
	# Each refresh is new credentials: more than one temporary key id served the run.
	keys=$("$KMSD" audit --state-dir "$STATE" --json |
		jq -r 'select(.principal | endswith("ebscrypt-keyless-host")) | .access_key_id' | sort -u | wc -l)
	[ "$keys" -ge 3 ]
}

# The chain's order: the environment before the shared files; a named profile must exist.
t_chain_order() {
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$(sed -n '/^\[admin\]/,/^$/s/^aws_access_key_id = //p' "$STATE/credentials")" \
		"$(sed -n '/^\[admin\]/,/^$/s/^aws_secret_access_key = //p' "$STATE/credentials")" >"$TAP_TMP/shared"
	AWS_SHARED_CREDENTIALS_FILE=$TAP_TMP/shared kchain describe "$key" | grep -q ' Enabled 1$'
	refute -m 'ERROR UnrecognizedClientException' env AWS_SHARED_CREDENTIALS_FILE="$TAP_TMP/shared" \
		AWS_ACCESS_KEY_ID=AKIANOBODY0000000000 AWS_SECRET_ACCESS_KEY=nothing "$KMSC" --url "$(kmsd_url)" \
		--retries 0 describe "$key"
	refute -m 'profile nosuch is in neither' env AWS_SHARED_CREDENTIALS_FILE="$TAP_TMP/shared" \
		AWS_PROFILE=nosuch "$KMSC" --url "$(kmsd_url)" --retries 0 describe "$key"
}

test_that "credentials issue prints credential_process JSON: Version 1, an ASIA key id, a 40-character secret, a token, the expiry asked for" t_issue_format
test_that "a principal with no long-lived key decrypts with temporary credentials, and the audit names the temporary key id" t_keyless_principal_decrypts
test_that "temporary credentials are refused with ExpiredTokenException once they expire" t_expired_refused
test_that "swapped, altered, truncated and foreign session tokens, a wrong secret, and a temporary key id without its token are all refused" t_forged_tokens_refused
test_that "a session token sent outside the signature is refused; signed, the same request passes" t_unsigned_token_refused
test_that "credentials issue refuses an unknown principal, bad durations and a state directory without a root key (and creates none)" t_issue_refusals
test_that "a principal with an access key id but no secret, or one named twice, is refused" t_keyless_principal_config
test_that "a profile's credential_process output (JSON Version 1) is used" t_credential_process
test_that "credential_process outputs with a wrong version, missing fields, a past or malformed expiry, or no JSON, and a failing process, are all refused" t_credential_process_bad_output
test_that "a client running longer than its credentials' lifetime refreshes them before they expire" t_refresh_before_expiry
test_that "the environment comes before the shared files, and a named profile that does not exist is an error" t_chain_order
kmsd_stop
echo "# kms-credentials.sh: $(($(date +%s) - start)) s"
tap_done
