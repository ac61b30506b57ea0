#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Credentials from the EC2 instance metadata service (IMDSv2), on the build
# machine: in a network namespace this test makes (root only; skipped
# otherwise), a test metadata service (tests/helpers/imds-server.py)
# listens on 169.254.169.254:80 and hands out credentials that
# ebscrypt-kmsd issues, a few seconds long. The client library and the
# agent, with no secret configured, must find them, refresh them during a
# run longer than their lifetime, get a new IMDS session token when the
# service forgets theirs, and refuse clearly once nothing valid is left.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

if [ "${1:-}" != --in-netns ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
		tap_skip "instance metadata credentials" "needs root and ip(8) for a network namespace"
		tap_done
	fi
	. "$top/tests/vm/netns.sh"
	ns=ebsimds-$$
	trap 'testnet_destroy "$ns"' EXIT
	testnet_create "$ns" || exit 1
	ip -n "$ns" addr add 169.254.169.254/32 dev lo
	testnet_exec "$ns" bash "$0" --in-netns
	exit $?
fi

. "$top/tests/host/lib.sh"
AGENT="$BUILD/bin/ebscrypt-agent"
IMDS="$top/tests/helpers/imds-server.py"
start=$(date +%s)
cleanup() {
	[ -e "$TAP_TMP/agent.pid" ] && kill "$(cat "$TAP_TMP/agent.pid")" 2>/dev/null
	imds_stop
	kmsd_cleanup
}
trap cleanup EXIT

kmsd_setup
cat >>"$STATE/kmsd.conf" <<EOC

[principal instance]
arn = arn:aws:iam::111122223333:role/ebscrypt-instance-role
role = user
EOC
kmsd_start 0
key=$(new_key imds)
blob=$(call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$key\",\"NumberOfBytes\":64,\"EncryptionContext\":{\"vol\":\"v1\"}}" |
	jq -er .CiphertextBlob)
arn=$(call DescribeKey "{\"KeyId\":\"$key\"}" | jq -er .KeyMetadata.Arn)
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_EC2_METADATA_DISABLED \
	AWS_EC2_METADATA_SERVICE_ENDPOINT
export AWS_SHARED_CREDENTIALS_FILE=$TAP_TMP/none AWS_CONFIG_FILE=$TAP_TMP/none

# imds_start LIFETIME: the metadata service, each credentials GET minting LIFETIME-second ones.
imds_start() {
	: >"$TAP_TMP/imds.out"
	python3 "$IMDS" --listen 169.254.169.254:80 --role ebscrypt-instance-role --log "$TAP_TMP/imds.log" \
		--issue "$KMSD credentials issue --state-dir $STATE --principal instance --duration $1" \
		>"$TAP_TMP/imds.out" 2>&1 &
	echo $! >"$TAP_TMP/imds.pid"
	for _ in $(seq 100); do grep -q listening "$TAP_TMP/imds.out" && return 0; sleep 0.05; done
	cat "$TAP_TMP/imds.out"
	return 1
}
# Tests run in subshells: the pid lives in a file, and a kill is waited for by polling.
imds_stop() {
	local pid
	pid=$(cat "$TAP_TMP/imds.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || :
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	rm -f "$TAP_TMP/imds.pid"
}
M=http://169.254.169.254

t_imdsv2_semantics() {
	local tok code
	code=$(curl -s -o /dev/null -w '%{http_code}' $M/latest/meta-data/iam/security-credentials/)
	assert_eq "$code" 401 "GET without a token"
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT $M/latest/api/token)
	assert_eq "$code" 400 "PUT without a TTL"
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 0' $M/latest/api/token)
	assert_eq "$code" 400 "PUT with TTL 0"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-aws-ec2-metadata-token: forged' \
		$M/latest/meta-data/iam/security-credentials/)
	assert_eq "$code" 401 "GET with an unknown token"
	tok=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' $M/latest/api/token)
	assert_eq "$(curl -sf -H "X-aws-ec2-metadata-token: $tok" $M/latest/meta-data/iam/security-credentials/)" \
		ebscrypt-instance-role
}

t_client_uses_imds() {
	local out
	: >"$TAP_TMP/imds.log"
	out=$("$KMSC" --url "$(kmsd_url)" --retries 0 loop 1 0 "$blob" vol=v1)
	echo "$out"
	grep -q '^ok .*instance metadata (http://169.254.169.254, role ebscrypt-instance-role)' <<<"$out"
	# The session token first, then the GETs that carry it.
	assert_eq "$(head -1 "$TAP_TMP/imds.log")" "PUT /latest/api/token 200"
	grep -q '^GET /latest/meta-data/iam/security-credentials/ebscrypt-instance-role 200$' "$TAP_TMP/imds.log"
	refute grep -q ' 401$' "$TAP_TMP/imds.log"
}

# agent_kcv N MS: N kcv requests (each a KMS Decrypt), MS apart; one line each.
agent_kcv() {
	"$AGENT_REQUEST" "$TAP_TMP/agent.sock" --summary --count "$1" --interval "$2" \
		"{\"op\": \"kcv\", \"kms_key_arn\": \"$arn\", \"wrapped\": \"$blob\", \"context\": {\"vol\": \"v1\"}}"
}

t_agent_refreshes() {
	local out keys
	imds_stop
	imds_start 3
	# No key and no secret: the chain ends at the instance metadata service.
	cat >"$TAP_TMP/agent.conf" <<-CONF
	socket = $TAP_TMP/agent.sock
	kms_endpoint = $(kmsd_url)
	kms_timeout_ms = 5000
	CONF
	chmod 600 "$TAP_TMP/agent.conf"
	"$AGENT" --foreground --config "$TAP_TMP/agent.conf" 2>"$TAP_TMP/agent.log" &
	echo $! >"$TAP_TMP/agent.pid"
	for _ in $(seq 100); do [ -S "$TAP_TMP/agent.sock" ] && break; sleep 0.05; done
	agent_kcv 4 1000 >"$TAP_TMP/kcv.out"
	# The service restarts and forgets every session token: the agent asks for a new one.
	imds_stop
	: >"$TAP_TMP/imds.log"
	imds_start 3
	agent_kcv 4 1000 >>"$TAP_TMP/kcv.out"
	out=$(cat "$TAP_TMP/kcv.out")
	echo "$out"
	assert_eq "$(grep -c '^ok$' <<<"$out")" 8
	grep -q '^GET .* 401$' "$TAP_TMP/imds.log"
	grep -q '^PUT /latest/api/token 200$' "$TAP_TMP/imds.log"
	# More than one set of credentials served the 8-second run of 3-second credentials.
	keys=$("$KMSD" audit --state-dir "$STATE" --json |
		jq -r 'select(.principal | endswith("ebscrypt-instance-role")) | select(.operation == "Decrypt") |
			.access_key_id' | sort -u | wc -l)
	echo "$keys temporary key ids"
	[ "$keys" -ge 3 ]
}

t_expired_and_no_imds() {
	local out
	imds_stop
	sleep 4
	out=$(agent_kcv 1 0)
	echo "$out"
	grep -q '^FAILED KMSNoCredentials: no usable KMS credentials' <<<"$out"
}

imds_start 60
test_that "the test metadata service follows IMDSv2: a TTL to get a token, a live token on every GET" t_imdsv2_semantics
test_that "a client with no configured credentials gets them from the instance metadata service with an IMDSv2 token" t_client_uses_imds
test_that "the agent, with no secret configured, refreshes credentials from IMDS through a run longer than their lifetime and a metadata restart" t_agent_refreshes
test_that "once its credentials expired and IMDS is gone, the agent refuses with KMSNoCredentials" t_expired_and_no_imds
kmsd_stop
echo "# kms-imds.sh: $(($(date +%s) - start)) s"
tap_done
