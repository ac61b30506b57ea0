# SPDX-License-Identifier: GPL-2.0
#
# Shared setup for the tests/host/kmsd-*.sh scripts: a temporary state
# directory made by `ebscrypt-kmsd init`, plus an "outsider" principal with
# no role, the sanitizer build of the daemon started by tests/lib/kmsd.sh
# (`kmsd_start 0`: a free loopback port), and `kc`, the test client built on
# lib/kms_client.c. Source after tests/lib/tap.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/kmsd.sh"

KMSD="$BUILD/bin/ebscrypt-kmsd"
KMSC="$BUILD/tests/helpers/kmsc"
# A client of the agent's socket: tests/helpers/agent-request.py --help.
AGENT_REQUEST="$(cd "$(dirname "${BASH_SOURCE[0]}")/../helpers" && pwd)/agent-request.py"
TAP_TMP=$(mktemp -d)
STATE="$TAP_TMP/state"
KMSD_CONF="$STATE/kmsd.conf"
KMSD_LOG="$STATE/kmsd.log"
KMSD_RUN="$TAP_TMP"
# The daemon is non-dumpable (secmem_harden_process), which LeakSanitizer's
# ptrace-based stop-the-world cannot attach to; ASan's other checks stay on.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"

kmsd_setup() {
	"$KMSD" init --state-dir "$STATE" --listen 127.0.0.1:0 >/dev/null
	tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$STATE/outsider.secret"
	chmod 600 "$STATE/outsider.secret"
	cat >>"$STATE/kmsd.conf" <<-EOC

	[principal outsider]
	arn = arn:aws:iam::111122223333:user/outsider
	access_key_id = AKIAOUTSIDER0000TEST
	secret_access_key_file = outsider.secret
	role = none
	EOC
	printf '\n[outsider]\naws_access_key_id = AKIAOUTSIDER0000TEST\naws_secret_access_key = %s\n' \
		"$(cat "$STATE/outsider.secret")" >>"$STATE/credentials"
	printf '\n[wrongsecret]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$(sed -n 's/^access_key_id = //p' "$STATE/kmsd.conf" | head -1)" \
		"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" >>"$STATE/credentials"
	if [ -n "${KMSD_EXTRA_CONF:-}" ]; then
		# Top-level settings must precede the first [principal] section.
		{ printf '%s\n' "$KMSD_EXTRA_CONF"; cat "$STATE/kmsd.conf"; } >"$STATE/kmsd.conf.new"
		mv "$STATE/kmsd.conf.new" "$STATE/kmsd.conf"
	fi
}

kmsd_cleanup() {
	kmsd_kill9
	rm -rf "$TAP_TMP"
}

# agent_conf [URL]: $TAP_TMP/agent.conf for an agent on $TAP_TMP/agent.sock
# with the host principal's credentials from init's credentials file,
# reaching the KMS at URL (default: the daemon kmsd_start started).
agent_conf() {
	local id secret url=${1:-$(kmsd_url)}
	id=$(sed -n '/^\[host\]/,/^\[/ s/^aws_access_key_id = //p' "$STATE/credentials")
	secret=$(sed -n '/^\[host\]/,/^\[/ s/^aws_secret_access_key = //p' "$STATE/credentials")
	cat >"$TAP_TMP/agent.conf" <<-EOC
	socket = $TAP_TMP/agent.sock
	kms_endpoint = $url
	kms_access_key_id = $id
	kms_secret_access_key = $secret
	kms_timeout_ms = 3000
	kms_max_retries = 0
	EOC
	chmod 600 "$TAP_TMP/agent.conf"
}

# kc [--profile P] OP ARGS...: the lib/kms_client.c test client.
kc() {
	local profile=admin
	if [ "${1:-}" = "--profile" ]; then profile=$2; shift 2; fi
	"$KMSC" --url "$(kmsd_url)" --creds "$STATE/credentials" --profile "$profile" "$@"
}

# call [--profile P] OPERATION JSON: JSON reply, or "ERROR <type>" and status 3.
call() {
	local profile=admin
	if [ "${1:-}" = "--profile" ]; then profile=$2; shift 2; fi
	kc --profile "$profile" call "$@"
}

new_key() {
	call CreateKey "{\"Description\":\"${1:-test}\"}" | jq -er .KeyMetadata.KeyId
}

# raw OPERATION BODY [kmsc raw options]: "STATUS" then the body.
raw() {
	kc raw "$@"
}

# raw_expect STATUS TYPE OPERATION BODY [options]
raw_expect() {
	local status=$1 type=$2 out got gtype
	shift 2
	out=$(raw "$@") || { echo "raw failed: $out"; return 1; }
	got=$(printf '%s\n' "$out" | head -1)
	gtype=$(printf '%s\n' "$out" | sed -n 2p | jq -r '.__type // "none"' 2>/dev/null || echo unparsable)
	if [ "$got" != "$status" ] || [ "$gtype" != "$type" ]; then
		echo "expected $status $type, got $got $gtype: $(printf '%s' "$out" | sed -n 2p)"
		return 1
	fi
}

still_answers() {
	call ListKeys '{"Limit":1}' >/dev/null
}
