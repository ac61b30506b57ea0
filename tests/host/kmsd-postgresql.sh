#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Two ebscrypt-kmsd instances on one real PostgreSQL server (tests/lib/pg.sh):
# they share keys, aliases and grants; concurrent rotations, alias changes
# and grants through both stay consistent; and a burst over both, during
# which one instance is killed with -9 and PostgreSQL crashes and restarts,
# loses no acknowledged operation: every key, grant and rotation answered
# is there, every data key answered decrypts, and each has its audit record.
# A volume's key flow (data key, grant to a host, decrypt under the grant,
# retire) runs across both instances, and the audit commands read, export
# and prune the shared audit trail; temporary credentials work across the
# instances; a pg_dump restores into a database a new instance serves.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
. "$top/tests/lib/pg.sh"

cleanup() {
	inst A kmsd_kill9
	inst B kmsd_kill9
	inst C kmsd_kill9
	pg_stop
	rm -rf "$TAP_TMP"
}
trap cleanup EXIT

if ! pg_available; then
	echo "1..0 # SKIP no PostgreSQL server (scripts/install-deps.sh installs it)"
	exit 0
fi

# inst A|B CMD...: CMD against that instance (tests/lib/kmsd.sh's variables).
inst() {
	local n=$1
	shift
	KMSD_RUN="$TAP_TMP/run.$n" KMSD_CONF="$TAP_TMP/$n/kmsd.conf" KMSD_LOG="$TAP_TMP/$n.log" "$@"
}

OUTSIDER=arn:aws:iam::111122223333:user/outsider

# with_session JSON A|B ARGS...: kmsc against that instance with the
# temporary credentials JSON (credential_process output) in the environment.
with_session() {
	local j=$1 n=$2
	shift 2
	env -u AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent \
		AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID="$(jq -r .AccessKeyId <<<"$j")" \
		AWS_SECRET_ACCESS_KEY="$(jq -r .SecretAccessKey <<<"$j")" \
		AWS_SESSION_TOKEN="$(jq -r .SessionToken <<<"$j")" \
		"$KMSC" --url "$(inst "$n" kmsd_url)" --retries 0 --timeout-ms 5000 "$@"
}
BURST_OPS=${KMSD_PG_BURST_OPS:-80}
BURST_SECONDS=${KMSD_PG_BURST_SECONDS:-40}

pg_start || { echo "not ok 1 - PostgreSQL starts"; exit 1; }
kmsd_setup
# Both instances: the same principals and the same root key (each instance
# holds it; the database never does), one database.
{ printf 'store = postgresql\npg_conninfo = %s\nthreads = 8\n' "$PG_CONNINFO"; cat "$STATE/kmsd.conf"; } >"$STATE/kmsd.conf.new"
mv "$STATE/kmsd.conf.new" "$STATE/kmsd.conf"
# The root key made once and copied: an instance that made its own would
# wrap new material under a key the others do not have.
head -c 32 /dev/urandom >"$STATE/root.key"
chmod 600 "$STATE/root.key"
mkdir -p "$TAP_TMP/run.A" "$TAP_TMP/run.B"
mv "$STATE" "$TAP_TMP/A"
cp -a "$TAP_TMP/A" "$TAP_TMP/B"
sed -i "s|^state_dir = .*|state_dir = $TAP_TMP/A|" "$TAP_TMP/A/kmsd.conf"
sed -i "s|^state_dir = .*|state_dir = $TAP_TMP/B|" "$TAP_TMP/B/kmsd.conf"
STATE=$TAP_TMP/A
inst A kmsd_start 0 || { echo "not ok 1 - instance A starts"; exit 1; }
inst B kmsd_start 0 || { echo "not ok 1 - instance B starts"; exit 1; }

t_schema_versioned() {
	assert_eq "$(pg_psql 'SELECT version FROM schema_version')" 3
	# No key material in the clear, and no root key, in the database.
	assert_eq "$(pg_psql "SELECT count(*) FROM materials WHERE length(wrapped) <> 60")" 0
	local wrapped
	wrapped=$(pg_psql "SELECT string_agg(encode(wrapped, 'hex'), '') FROM materials")
	refute grep -qi "$(xxd -p -c 64 "$TAP_TMP/A/root.key")" <<< "$wrapped"
}

t_shared() {
	local k blob
	k=$(inst A new_key shared)
	assert_eq "$(inst B call DescribeKey "{\"KeyId\":\"$k\"}" | jq -r .KeyMetadata.KeyState)" Enabled
	inst B call CreateAlias "{\"AliasName\":\"alias/shared\",\"TargetKeyId\":\"$k\"}" >/dev/null
	assert_eq "$(inst A call DescribeKey '{"KeyId":"alias/shared"}' | jq -r .KeyMetadata.KeyId)" "$k"
	blob=$(inst A call Encrypt "{\"KeyId\":\"alias/shared\",\"Plaintext\":\"c2hhcmVk\"}" | jq -r .CiphertextBlob)
	inst B call RotateKeyOnDemand "{\"KeyId\":\"$k\"}" >/dev/null
	assert_eq "$(inst A call Decrypt "{\"CiphertextBlob\":\"$blob\"}" | jq -r .Plaintext)" c2hhcmVk
	inst A call DisableKey "{\"KeyId\":\"$k\"}" >/dev/null
	refute -m '^ERROR DisabledException$' inst B call Decrypt "{\"CiphertextBlob\":\"$blob\"}"
}

# N concurrent calls of one request, alternating between the instances;
# prints one reply (or ERROR line) per line.
fan_out() {
	local n=$1 op=$2 body=$3 i pids=
	for i in $(seq 1 "$n"); do
		if [ $((i % 2)) = 0 ]; then who=A; else who=B; fi
		(
			if inst $who call "$op" "$body" >"$TAP_TMP/fan.$i" 2>/dev/null; then
				echo "OK $(jq -c . "$TAP_TMP/fan.$i" | tr -d '\n')"
			else
				head -1 "$TAP_TMP/fan.$i"
			fi >"$TAP_TMP/fan.$i.out"
		) &
		pids="$pids $!"
	done
	wait $pids || :
	for i in $(seq 1 "$n"); do cat "$TAP_TMP/fan.$i.out"; done
}

t_concurrent_rotations() {
	local k ok versions blobs i
	k=$(inst A new_key rotations)
	ok=$(fan_out 12 RotateKeyOnDemand "{\"KeyId\":\"$k\"}" | grep -c '"KeyId"')
	assert_eq "$ok" 12 "rotations answered"
	# Each rotation made exactly one new version: 1 + 12, no gap, no duplicate.
	versions=$(pg_psql "SELECT count(*) || ' ' || max(version) FROM materials WHERE key_id = '$k'")
	assert_eq "$versions" "13 13"
	assert_eq "$(pg_psql "SELECT current_version FROM keys WHERE id = '$k'")" 13
	assert_eq "$(pg_psql "SELECT count(*) FROM audit WHERE key_id LIKE '%$k' AND operation = 'RotateKeyOnDemand' AND outcome = 'success'")" 12
	# And the newest material encrypts on either instance, decrypts on the other.
	for i in A B; do
		blobs=$(inst $i call Encrypt "{\"KeyId\":\"$k\",\"Plaintext\":\"eA==\"}" | jq -r .CiphertextBlob)
		assert_eq "$(inst $([ $i = A ] && echo B || echo A) call Decrypt "{\"CiphertextBlob\":\"$blobs\"}" | jq -r .Plaintext)" eA==
	done
}

t_concurrent_alias() {
	local k1 k2 out
	k1=$(inst A new_key alias1)
	k2=$(inst B new_key alias2)
	out=$(fan_out 10 CreateAlias "{\"AliasName\":\"alias/race\",\"TargetKeyId\":\"$k1\"}")
	assert_eq "$(grep -c '^ERROR AlreadyExistsException$' <<<"$out")" 9 "refused duplicates"
	assert_eq "$(grep -c '^OK' <<<"$out")" 1 "one alias created"
	# Repointing from both sides at once: the alias ends on one of the two keys, once.
	out=$( (fan_out 6 UpdateAlias "{\"AliasName\":\"alias/race\",\"TargetKeyId\":\"$k2\"}") )
	refute grep -q '^ERROR' <<<"$out"
	assert_eq "$(pg_psql "SELECT count(*) || ' ' || key_id FROM aliases WHERE name = 'alias/race' GROUP BY key_id")" "1 $k2"
}

t_concurrent_grants() {
	local k out n
	k=$(inst A new_key grants)
	out=$(fan_out 16 CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}")
	assert_eq "$(grep -c '"GrantId"' <<<"$out")" 16
	n=$(inst B call ListGrants "{\"KeyId\":\"$k\"}" | jq '.Grants | length')
	assert_eq "$n" 16
	assert_eq "$(grep -o '"GrantId":"[0-9a-f]*"' <<<"$out" | sort -u | wc -l)" 16
}

# One burst worker: ops in turn, on alternating instances, for at most
# BURST_OPS/4 requests or BURST_SECONDS. Records only what was answered.
t_policy_shared() {
	local k p
	k=$(inst A new_key policy)
	p=$(jq -cn --arg o "$OUTSIDER" '{Version:"2012-10-17",Statement:[{Effect:"Allow",Principal:{AWS:"arn:aws:iam::111122223333:root"},Action:"kms:*",Resource:"*"},{Effect:"Allow",Principal:{AWS:$o},Action:"kms:DescribeKey",Resource:"*"}]}')
	inst A call PutKeyPolicy "$(jq -cn --arg k "$k" --arg p "$p" '{KeyId:$k,PolicyName:"default",Policy:$p}')" >/dev/null
	assert_eq "$(inst B call GetKeyPolicy "{\"KeyId\":\"$k\"}" | jq -c '.Policy | fromjson')" "$p"
	assert_eq "$(pg_psql "SELECT count(*) FROM keys WHERE id = '$k' AND policy IS NOT NULL")" 1
}

t_unauthenticated_counted() {
	local i before after
	before=$(pg_psql "SELECT coalesce(sum(count), 0) FROM audit_unauthenticated")
	for i in 1 2 3; do
		curl -sk -o /dev/null -X POST -H 'Content-Type: application/x-amz-json-1.1' \
			-H 'X-Amz-Target: TrentService.ListKeys' \
			-H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIANOBODY/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00' \
			-d '{}' "$(inst "$([ $i = 2 ] && echo B || echo A)" kmsd_url)"
	done
	after=$(pg_psql "SELECT coalesce(sum(count), 0) FROM audit_unauthenticated")
	assert_eq "$((after - before))" 3 "anonymous requests counted over both instances"
}

# A volume's life as the agent and ebscryptctl drive it, each call on the
# other instance than the one before (the HA deployment: any instance
# answers for any key): a data key bound to the volume's context, a grant
# for the host principal limited to that context, the host's Decrypt under
# the grant, a refusal for any other context, and the grant retired.
t_volume_flow() {
	local k ctx other blob blob2 g gid dk
	k=$(inst A new_key volume)
	ctx='{"ebscrypt:volume-id":"vol-0123456789abcdef0"}'
	other='{"ebscrypt:volume-id":"vol-0fedcba9876543210"}'
	blob=$(inst B call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":$ctx}" | jq -er .CiphertextBlob)
	blob2=$(inst A call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":$other}" | jq -er .CiphertextBlob)
	refute -m '^ERROR AccessDeniedException$' inst A call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":$ctx}"
	g=$(inst B call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":$ctx}}")
	gid=$(jq -er .GrantId <<<"$g")
	dk=$(inst A call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":$ctx}") || return 1
	assert_eq "$(jq -r .Plaintext <<<"$dk" | base64 -d | wc -c)" 32 "data key bytes"
	assert_eq "$(jq -r .KeyId <<<"$dk")" "arn:aws:kms:us-east-1:111122223333:key/$k"
	inst B call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":$ctx}" >/dev/null
	refute -m '^ERROR AccessDeniedException$' inst B call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob2\",\"EncryptionContext\":$other}"
	refute -m '^ERROR AccessDeniedException$' inst A call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":$other}"
	inst A call RetireGrant "{\"KeyId\":\"$k\",\"GrantId\":\"$gid\"}" >/dev/null
	assert_eq "$(inst B call ListGrants "{\"KeyId\":\"$k\"}" | jq '.Grants | length')" 0
	refute -m '^ERROR AccessDeniedException$' inst B call --profile outsider Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":$ctx}"
	echo "$k" >"$TAP_TMP/volume.key"
	echo "$blob" >"$TAP_TMP/volume.blob"
}

# Temporary credentials are stateless (derived from the root key the
# instances share): minted with one instance's config, they act on the
# other, are audited in the shared trail, and are refused there once expired.
t_session_across_instances() {
	local k j akid expired
	k=$(cat "$TAP_TMP/volume.key")
	j=$("$KMSD" credentials issue --config "$TAP_TMP/A/kmsd.conf" --principal admin --duration 600) || return 1
	akid=$(jq -r .AccessKeyId <<<"$j")
	assert_eq "$(with_session "$j" B call DescribeKey "{\"KeyId\":\"$k\"}" | jq -r .KeyMetadata.KeyId)" "$k"
	assert_eq "$(pg_psql "SELECT count(*) FROM audit WHERE access_key_id = '$akid' AND operation = 'DescribeKey' AND outcome = 'success'")" 1
	expired=$("$KMSD" credentials issue --config "$TAP_TMP/B/kmsd.conf" --principal admin --duration 1)
	sleep 1.5
	refute -m '^ERROR ExpiredTokenException$' with_session "$expired" A call DescribeKey "{\"KeyId\":\"$k\"}"
}

# The audit commands on the PostgreSQL store, found through the config
# (--config, or --state-dir holding kmsd.conf and no kmsd.db).
t_audit_export_pg() {
	local k out n
	k=$(cat "$TAP_TMP/volume.key")
	out=$("$KMSD" audit export --json --config "$TAP_TMP/A/kmsd.conf" --key "$k") || return 1
	n=$(pg_psql "SELECT count(*) FROM audit WHERE key_id = '$k' OR key_id LIKE '%/$k'")
	assert_eq "$(wc -l <<<"$out")" "$n" "records of the volume's key"
	jq -e . <<<"$out" >/dev/null
	# The host's decryptions under the grant, with their context as an object; and the refusals.
	assert_eq "$(jq -c 'select(.operation == "Decrypt" and .outcome == "success") | .encryption_context' <<<"$out" | sort -u)" \
		'{"ebscrypt:volume-id":"vol-0123456789abcdef0"}'
	assert_eq "$(jq -r 'select(.operation == "Decrypt" and .outcome == "success") | .principal' <<<"$out" | sort -u)" "$OUTSIDER"
	assert_eq "$(jq -r 'select(.operation == "Decrypt" and .outcome == "failure") | .error_type' <<<"$out" | sort -u)" AccessDeniedException
	"$KMSD" audit export --json --state-dir "$TAP_TMP/B" | grep -q '"record":"unauthenticated"'
	"$KMSD" audit --state-dir "$TAP_TMP/B" --key "$k" | grep -q " RetireGrant key=.*$k context={} success$"
}

t_audit_prune_pg() {
	local cut older n after
	cut=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	sleep 1.1
	inst B call ListKeys '{"Limit":1}' >/dev/null
	older=$(pg_psql "SELECT (SELECT count(*) FROM audit WHERE time COLLATE \"C\" < '$cut') + (SELECT count(*) FROM audit_unauthenticated WHERE interval_start < '$cut')")
	[ "$older" -gt 0 ] || { echo "nothing to prune"; return 1; }
	refute "$KMSD" audit prune --before yesterday --config "$TAP_TMP/A/kmsd.conf"
	out=$("$KMSD" audit prune --before "$cut" --config "$TAP_TMP/A/kmsd.conf") || return 1
	assert_eq "$out" "pruned $older audit record(s) from before $cut"
	assert_eq "$(pg_psql "SELECT count(*) FROM audit WHERE time COLLATE \"C\" < '$cut'")" 0
	# What came after the cut stays, and both instances go on recording.
	n=$(pg_psql "SELECT count(*) FROM audit")
	[ "$n" -ge 1 ] || { echo "the records after the cut went too"; return 1; }
	inst A call ListKeys '{"Limit":1}' >/dev/null
	after=$("$KMSD" audit export --json --config "$TAP_TMP/B/kmsd.conf" | grep -c '"record":"request"')
	assert_eq "$after" "$((n + 1))"
}

# The documented PostgreSQL backup: pg_dump while the instances serve,
# pg_restore into a new database, and an instance with the same root key on
# it decrypts the volume's data key from before the dump, and knows nothing
# made after it.
t_pg_dump_restore() {
	local k blob later
	k=$(cat "$TAP_TMP/volume.key")
	blob=$(cat "$TAP_TMP/volume.blob")
	"$PG_BIN/pg_dump" -h "$PG_DIR" -U "$PG_USER" --format=custom --file="$TAP_TMP/kms.dump" kms || return 1
	later=$(inst A new_key after-dump)
	pg_as "$PG_BIN/createdb" -h "$PG_DIR" -U "$PG_USER" kms_restored || return 1
	"$PG_BIN/pg_restore" -h "$PG_DIR" -U "$PG_USER" --dbname=kms_restored --exit-on-error "$TAP_TMP/kms.dump" || return 1
	cp -a "$TAP_TMP/A" "$TAP_TMP/C"
	mkdir -p "$TAP_TMP/run.C"
	sed -i -e "s|^state_dir = .*|state_dir = $TAP_TMP/C|" \
		-e "s|^pg_conninfo = .*|pg_conninfo = host=$PG_DIR dbname=kms_restored user=$PG_USER|" "$TAP_TMP/C/kmsd.conf"
	inst C kmsd_start 0 || return 1
	inst C call Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"ebscrypt:volume-id\":\"vol-0123456789abcdef0\"}}" |
		jq -e '.Plaintext | length == 44' >/dev/null
	refute -m '^ERROR NotFoundException$' inst C call DescribeKey "{\"KeyId\":\"$later\"}"
	inst C kmsd_stop
}

burst_worker() {
	local w=$1 keys=$2 end=$(($(date +%s) + BURST_SECONDS)) i=0 n=$((BURST_OPS / 4)) who r k blob
	local ctx acked=0 before
	# The budget is acknowledged operations (bounded by attempts and time):
	# counted in attempts, the calls failing fast while the database is down
	# used it up before it came back, and nothing was tried after.
	while [ "$acked" -lt "$n" ] && [ "$i" -lt $((n * 10)) ] && [ "$(date +%s)" -lt "$end" ]; do
		i=$((i + 1))
		if [ $(((i + w) % 2)) = 0 ]; then who=A; else who=B; fi
		inst $who kmsd_running || who=A
		k=$(sed -n "$((1 + (i % 3)))p" "$keys")
		ctx="{\"w\":\"$w\",\"i\":\"$i\"}"
		case $((i % 5)) in
		0) r=$(inst $who call CreateKey "{\"Description\":\"burst\"}" 2>/dev/null) &&
			echo "key $(jq -r .KeyMetadata.KeyId <<<"$r")" >>"$TAP_TMP/acked.$w" ;;
		1|3) r=$(inst $who call GenerateDataKey "{\"KeyId\":\"$k\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":$ctx}" 2>/dev/null) &&
			echo "blob $w $i $(jq -r .CiphertextBlob <<<"$r") $(jq -r .Plaintext <<<"$r")" >>"$TAP_TMP/acked.$w" ;;
		2) blob=$(grep '^blob' "$TAP_TMP/acked.$w" 2>/dev/null | tail -1)
			if [ -n "$blob" ]; then
				set -- $blob
				r=$(inst $who call Decrypt "{\"CiphertextBlob\":\"$4\",\"EncryptionContext\":{\"w\":\"$2\",\"i\":\"$3\"}}" 2>/dev/null) &&
					[ "$(jq -r .Plaintext <<<"$r")" = "$5" ] && echo "decrypt" >>"$TAP_TMP/acked.$w"
			fi ;;
		4) if [ $((i % 10)) = 4 ]; then
				r=$(inst $who call RotateKeyOnDemand "{\"KeyId\":\"$k\"}" 2>/dev/null) &&
					echo "rotate $k" >>"$TAP_TMP/acked.$w"
			else
				r=$(inst $who call CreateGrant "{\"KeyId\":\"$k\",\"GranteePrincipal\":\"$OUTSIDER\",\"Operations\":[\"Decrypt\"]}" 2>/dev/null) &&
					echo "grant $k $(jq -r .GrantId <<<"$r")" >>"$TAP_TMP/acked.$w"
			fi ;;
		esac
		before=$acked
		acked=$(wc -l <"$TAP_TMP/acked.$w")
		[ "$acked" != "$before" ] || sleep 0.2
	done
}

t_burst_crashes() {
	local w pids= keys="$TAP_TMP/burst.keys" k total before got want lost=0 start at_restart
	for w in 1 2 3; do inst A new_key "burst$w"; done >"$keys"
	before=$(pg_psql 'SELECT coalesce(max(seq), 0) FROM audit')
	for w in 1 2 3 4; do
		: >"$TAP_TMP/acked.$w"
		burst_worker "$w" "$keys" &
		pids="$pids $!"
	done
	# Mid-burst (by count or, on a slow machine, by time): instance B dies
	# with -9; later the database crashes and restarts.
	start=$(date +%s)
	until [ "$(cat "$TAP_TMP"/acked.* | wc -l)" -ge $((BURST_OPS / 4)) ] ||
		[ $(($(date +%s) - start)) -ge $((BURST_SECONDS / 4)) ]; do sleep 0.1; done
	inst B kmsd_kill9
	until [ "$(cat "$TAP_TMP"/acked.* | wc -l)" -ge $((BURST_OPS / 2)) ] ||
		[ $(($(date +%s) - start)) -ge $((BURST_SECONDS / 2)) ]; do sleep 0.1; done
	pg_restart_crash || { echo "PostgreSQL does not restart"; return 1; }
	at_restart=$(cat "$TAP_TMP"/acked.* | wc -l)
	wait $pids || :
	inst B kmsd_start 0
	total=$(cat "$TAP_TMP"/acked.* | wc -l)
	echo "# $total of $BURST_OPS operations acknowledged, $((total - at_restart)) after the database restarted"
	[ "$at_restart" -ge 8 ] || { echo "only $at_restart acknowledged before the restart"; return 1; }
	[ "$total" -gt "$at_restart" ] || { echo "nothing acknowledged after the database restarted"; return 1; }
	# Every acknowledged key, grant and rotation is there; every data key decrypts.
	while read -r kind a b c d; do
		case $kind in
		key) inst B call DescribeKey "{\"KeyId\":\"$a\"}" >/dev/null || { echo "lost key $a"; lost=$((lost + 1)); } ;;
		grant) [ "$(pg_psql "SELECT count(*) FROM grants WHERE id = '$b' AND key_id = '$a'")" = 1 ] ||
			{ echo "lost grant $b"; lost=$((lost + 1)); } ;;
		blob) got=$(inst B call Decrypt "{\"CiphertextBlob\":\"$c\",\"EncryptionContext\":{\"w\":\"$a\",\"i\":\"$b\"}}" | jq -r .Plaintext)
			[ "$got" = "$d" ] || { echo "lost data key $a/$b"; lost=$((lost + 1)); } ;;
		esac
	done < <(cat "$TAP_TMP"/acked.*)
	assert_eq "$lost" 0 "acknowledged operations lost"
	# Rotations: each key's versions number at least 1 + its acknowledged rotations.
	while read -r k; do
		want=$((1 + $(cat "$TAP_TMP"/acked.* | grep -c "^rotate $k$" || :)))
		got=$(pg_psql "SELECT count(*) FROM materials WHERE key_id = '$k'")
		[ "$got" -ge "$want" ] || { echo "key $k: $got versions, $want acknowledged"; return 1; }
	done <"$keys"
	# The audit has a success record for every acknowledged operation.
	for kind in key:CreateKey blob:GenerateDataKey decrypt:Decrypt rotate:RotateKeyOnDemand grant:CreateGrant; do
		want=$(cat "$TAP_TMP"/acked.* | grep -c "^${kind%%:*}\b" || :)
		got=$(pg_psql "SELECT count(*) FROM audit WHERE seq > $before AND operation = '${kind#*:}' AND outcome = 'success'")
		[ "$got" -ge "$want" ] || { echo "${kind#*:}: $got audit records, $want acknowledged"; return 1; }
	done
	while read -r _ k; do
		[ "$(pg_psql "SELECT count(*) FROM audit WHERE operation = 'CreateKey' AND outcome = 'success' AND key_id LIKE '%$k'")" = 1 ] ||
			{ echo "no audit record of CreateKey $k"; return 1; }
	done < <(cat "$TAP_TMP"/acked.* | grep '^key ')
}

test_that "the PostgreSQL schema is versioned and holds key material only wrapped" t_schema_versioned
test_that "two instances share keys, aliases, rotations and key states" t_shared
test_that "concurrent rotations through both instances make one version each" t_concurrent_rotations
test_that "concurrent CreateAlias of one name through both instances creates it once" t_concurrent_alias
test_that "concurrent CreateGrant through both instances creates every grant once" t_concurrent_grants
test_that "a key policy put through one instance is read through the other" t_policy_shared
test_that "requests failing authentication on either instance are counted in the shared store" t_unauthenticated_counted
test_that "a volume's data key, grant, decrypt under it and retirement work across both instances" t_volume_flow
test_that "temporary credentials minted for one instance act on the other and expire there" t_session_across_instances
test_that "audit export and audit reading the PostgreSQL store show the volume's records" t_audit_export_pg
test_that "audit prune --before removes older records from the PostgreSQL store, and only those" t_audit_prune_pg
test_that "a burst over both instances with kill -9 and a PostgreSQL crash loses no acknowledged operation" t_burst_crashes
test_that "a pg_dump taken while serving restores into a database an instance with the root key serves" t_pg_dump_restore
inst A kmsd_stop; stop_a=$?
inst B kmsd_stop; stop_b=$?
test_that "both instances stop cleanly on SIGTERM" test "$stop_a$stop_b" = 00
tap_done
