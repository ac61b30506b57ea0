#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscryptctl volume authorize / revoke / describe on the build machine: the
# operator's grants in a real ebscrypt-kmsd, and what each host's own
# credentials can see and do. The kernel side (attach under the grant) is
# in tests/fleet/.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap 'kill "$apid" 2>/dev/null; kmsd_cleanup' EXIT

CTL="$BUILD/bin/ebscryptctl"
AGENT="$BUILD/bin/ebscrypt-agent"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
ACCT=111122223333
host_arn() { echo "arn:aws:iam::$ACCT:role/ebscrypt-host/$1"; }

kmsd_setup
for h in a b; do
	tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$STATE/host-$h.secret"
	chmod 600 "$STATE/host-$h.secret"
	printf '\n[principal host-%s]\narn = %s\naccess_key_id = AKIAHOST%s000000TEST\nsecret_access_key_file = host-%s.secret\nrole = none\n' \
		"$h" "$(host_arn "$h")" "${h^^}" "$h" >>"$STATE/kmsd.conf"
done
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

creds() { sed -n "/^\[$1\]/,/^\$/s/^$2 = //p" "$STATE/credentials"; }
# ctl.conf for the operator (admin) and for each host (its own principal only).
ctl_conf() {
	local f=$TAP_TMP/ctl-$1.conf
	printf 'kms_endpoint = %s\nkms_access_key_id = %s\nkms_secret_access_key = %s\nkms_max_retries = 0\n' \
		"$(kmsd_url)" "$2" "$3" >"$f"
	chmod 600 "$f"
}
ctl_conf op "$(creds admin aws_access_key_id)" "$(creds admin aws_secret_access_key)"
for h in a b; do ctl_conf "$h" "AKIAHOST${h^^}000000TEST" "$(cat "$STATE/host-$h.secret")"; done
# The operator's agent computes the key check value of new volumes.
printf 'socket = %s/agent.sock\nkms_endpoint = %s\nkms_access_key_id = %s\nkms_secret_access_key = %s\n' \
	"$TAP_TMP" "$(kmsd_url)" "$(creds admin aws_access_key_id)" "$(creds admin aws_secret_access_key)" >"$TAP_TMP/agent.conf"
[ "$(id -u)" -eq 0 ] || echo "group = $(id -gn)" >>"$TAP_TMP/agent.conf"
chmod 600 "$TAP_TMP/agent.conf"
# Detached, as the man page starts it.
"$AGENT" --config "$TAP_TMP/agent.conf" >"$TAP_TMP/agent.log" 2>&1
for _ in $(seq 1 100); do [ -S "$TAP_TMP/agent.sock" ] && break; sleep 0.05; done
apid=$(pgrep -f -n "^$AGENT --config $TAP_TMP/agent.conf")

# One catalog for all (as if shared), each with its own KMS credentials.
ctl() {
	local who=$1
	shift
	"$CTL" --state-dir "$TAP_TMP/state" --config "$TAP_TMP/ctl-$who.conf" --agent-socket "$TAP_TMP/agent.sock" "$@"
}
VOL=$(ctl op volume create --size 8M --encrypted) || { echo "not ok 1 - an encrypted volume is created"; cat "$TAP_TMP/agent.log"; exit 1; }
PLAIN=$(ctl op volume create --size 8M --no-encryption)

t_authorize() {
	local out
	out=$(ctl op volume authorize "$VOL" --host a --json)
	assert_eq "$(jq -r .attachment_principal <<<"$out")" "$(host_arn a)"
	jq -r .attachment_grant_id <<<"$out" >"$TAP_TMP/gid-a"
	out=$(ctl op volume describe "$VOL" --json)
	assert_eq "$(jq -r .attachment_host <<<"$out")" a
	assert_eq "$(jq -r .attachment_principal <<<"$out")" "$(host_arn a)"
	jq -er '.attachment_time | test("^20[0-9-]+T[0-9:]+Z$")' <<<"$out"
	# The grant as the KMS holds it: only Decrypt, for this volume only, retirable by the host.
	out=$(call ListGrants "{\"KeyId\":\"$(ctl op volume describe "$VOL" --json | jq -r .kms_key_id)\"}")
	assert_eq "$(jq -r '.Grants | length' <<<"$out")" 1
	assert_eq "$(jq -r '.Grants[0].Operations | join(",")' <<<"$out")" Decrypt
	assert_eq "$(jq -r '.Grants[0].RetiringPrincipal' <<<"$out")" "$(host_arn a)"
	assert_eq "$(jq -c '.Grants[0].Constraints' <<<"$out")" "{\"EncryptionContextSubset\":{\"ebscrypt:volume-id\":\"$VOL\"}}"
}

t_again_same_host() {
	local out
	out=$(ctl op volume authorize "$VOL" --host a --json)
	assert_eq "$(jq -r .attachment_grant_id <<<"$out")" "$(cat "$TAP_TMP/gid-a")"
}

t_second_host_refused() {
	refute -m "$VOL is attached to host a (authorized since .*grant $(cat "$TAP_TMP/gid-a"))" \
		ctl op volume authorize "$VOL" --host b
	assert_eq "$(ctl op volume describe "$VOL" --json | jq -r .attachment_host)" a
}

t_hosts_see_their_own() {
	# A host has no ListGrants: it sees its own grant, and nothing of another's.
	assert_eq "$(ctl a volume describe "$VOL" --json 2>/dev/null | jq -r .attachment_host)" a
	assert_eq "$(ctl b volume describe "$VOL" --json 2>/dev/null | jq -r .attachment_host)" null
}

t_host_cannot_authorize() {
	refute -m 'AccessDenied' ctl b volume authorize "$VOL" --host b
	refute -m 'AccessDenied' ctl a volume authorize "$VOL" --host b --force
	# a sees its own grant but may only retire it (at detach), not revoke; b sees nothing.
	refute -m 'RevokeGrant: KMS says AccessDeniedException' ctl a volume revoke "$VOL"
	refute -m "is not authorized for any host" ctl b volume revoke "$VOL"
	assert_eq "$(ctl op volume describe "$VOL" --json | jq -r .attachment_host)" a
	local key
	key=$(ctl op volume describe "$VOL" --json | jq -r .kms_key_id)
	refute -m '^ERROR AccessDeniedException$' call --profile outsider ListGrants "{\"KeyId\":\"$key\"}"
}

t_force_takes_over() {
	local out
	out=$(ctl op volume authorize "$VOL" --host b --force 2>&1)
	echo "$out"
	grep -q "revoked a's grant for $VOL" <<<"$out"
	assert_eq "$(ctl op volume describe "$VOL" --json | jq -r .attachment_host)" b
	assert_eq "$(ctl a volume describe "$VOL" --json 2>/dev/null | jq -r .attachment_host)" null
	assert_eq "$(ctl b volume describe "$VOL" --json 2>/dev/null | jq -r .attachment_host)" b
}

t_revoke() {
	refute -m "$VOL is not authorized for a" ctl op volume revoke "$VOL" --host a
	ctl op volume revoke "$VOL" | grep -q "revoked b's grant"
	assert_eq "$(ctl op volume describe "$VOL" --json | jq -r .attachment_host)" null
	refute -m "$VOL is not authorized for any host" ctl op volume revoke "$VOL"
}

t_bad_input() {
	refute -m 'is not encrypted' ctl op volume authorize "$PLAIN" --host a
	refute -m 'usage' ctl op volume authorize "$VOL"
	refute -m 'usage' ctl op volume authorize --host a
	refute -m 'not a volume id' ctl op volume authorize nonsense --host a
	refute -m 'no volume vol-00000000000000000' ctl op volume authorize vol-00000000000000000 --host a
	local h
	for h in '' 'a b' 'a/b' '$(x)' "$(printf 'h%.0s' $(seq 1 70))"; do
		refute -m 'give a host name' ctl op volume authorize "$VOL" --host "$h"
	done
	assert_eq "$(ctl op volume describe "$VOL" --json | jq -r .attachment_host)" null
}

test_that "authorize creates a Decrypt grant for one volume to the host's principal, shown by describe" t_authorize
test_that "authorizing the same host again keeps its grant" t_again_same_host
test_that "authorizing a second host is refused while the first's grant stands, naming the first" t_second_host_refused
test_that "with its own credentials a host sees its own authorization and none of another host's" t_hosts_see_their_own
test_that "a host's credentials cannot authorize, take over or revoke" t_host_cannot_authorize
test_that "--force revokes the holder's grant and authorizes the new host" t_force_takes_over
test_that "revoke removes the grant; revoking what is not there is an error" t_revoke
test_that "authorize refuses unencrypted volumes, bad ids, missing arguments and bad host names" t_bad_input
tap_done
