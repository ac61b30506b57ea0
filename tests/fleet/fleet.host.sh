#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Volumes that move between hosts. On a private test network
# (tests/vm/netns.sh): ebscrypt-kmsd over mutual TLS and nbd-server
# exporting the operator's volume store on the namespace's host side, the
# operator's ebscryptctl and agent there too, and busybox guests A, B (and
# C) as fleet hosts. Each host holds only its own KMS principal (no role:
# no standing rights on any key), its client certificate and the test CA;
# it reaches a volume by its NBD export and finds it by its header.
#
#   tests/fleet/fleet.host.sh [--smoke]
#
# --smoke (make check): A and B, the graceful move. Without it (make
# check-fleet): three hosts and every case. Move times are reported, not
# asserted.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/netns.sh"
G=$top/tests/vm/guest
BIN=$top/build/bin
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
work=$(mktemp -d)
NS=ebsfleet-$$
KMS=$work/kms PKI=$work/pki OP=$work/op
ACCT=111122223333
HOSTS="a b c"
[ "$smoke" = 1 ] && HOSTS="a b"
declare -A IP=([a]=192.0.2.10 [b]=192.0.2.11 [c]=192.0.2.12)
VOL_SIZE=24M
# Several guests boot at once under TCG on a shared machine.
export EBSCRYPT_GUEST_READY_S=${EBSCRYPT_GUEST_READY_S:-900}
export EBSCRYPT_VM_BOOT_STALL=${EBSCRYPT_VM_BOOT_STALL:-600} EBSCRYPT_VM_BOOT_TIMEOUT=${EBSCRYPT_VM_BOOT_TIMEOUT:-1200}

cleanup() {
	local h
	for h in a b c; do "$G" kill "$work/$h" 2>/dev/null; done
	testnet_destroy "$NS"
	rm -rf "$work"
}
trap cleanup EXIT

host_arn() { echo "arn:aws:iam::$ACCT:role/ebscrypt-host/$1"; }
akid() { printf 'AKIAFLEETHOST%s00000' "${1^^}"; }
# On the host side, inside the namespace: the operator's tools.
opctl() {
	testnet_exec "$NS" "$BIN/ebscryptctl" --state-dir "$OP/state" --config "$OP/ctl.conf" \
		--agent-socket "$OP/agent.sock" "$@"
}
audit() { "$BIN/ebscrypt-kmsd" audit --state-dir "$KMS/state" --json </dev/null; }
on() { local h=$1; shift; "$G" exec "$work/$h" "$@"; }

client_cert() {
	(
		cd "$PKI" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" &&
		printf 'extendedKeyUsage=clientAuth\n' >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile "$1.ext" -out "$1.crt" && chmod 600 "$1.key"
	) >>"$PKI/openssl.log" 2>&1
}

# kmsd with one principal per host (role none), mutual TLS required.
kms_setup() {
	local h
	mkdir -p "$KMS/state"
	# TLS handshakes of TCG guests on a loaded machine take seconds.
	printf 'tls_client_ca = %s\nconnection_timeout_s = 120\n' "$PKI/ca.crt" >"$KMS/top.conf"
	: >"$KMS/principals.conf"
	for h in $HOSTS; do
		tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$KMS/state/host-$h.secret"
		chmod 600 "$KMS/state/host-$h.secret"
		printf '\n[principal host-%s]\narn = %s\naccess_key_id = %s\nsecret_access_key_file = host-%s.secret\nrole = none\n' \
			"$h" "$(host_arn "$h")" "$(akid "$h")" "$h" >>"$KMS/principals.conf"
	done
	KMS_URL=$(testnet_kmsd_start "$NS" "$KMS" "$PKI")
}

creds() { sed -n "/^\[$1\]/,/^\$/s/^$2 = //p" "$KMS/state/credentials"; }

# The operator: admin credentials, an agent (for the key check value of new
# volumes), a catalog whose store nbd-server exports.
op_setup() {
	local i
	mkdir -p "$OP/state"
	client_cert operator || return 1
	cat >"$OP/ctl.conf" <<-EOF
	kms_endpoint = $KMS_URL
	kms_ca_file = $PKI/ca.crt
	kms_client_cert = $PKI/operator.crt
	kms_client_key = $PKI/operator.key
	kms_access_key_id = $(creds admin aws_access_key_id)
	kms_secret_access_key = $(creds admin aws_secret_access_key)
	EOF
	# The operator's volume files live in its state directory, not /var/lib/ebscrypt.
	{ printf 'socket = %s/agent.sock\nvolume_file_dirs = %s/state\n' "$OP" "$OP"
	  grep -v '^kms_max' "$OP/ctl.conf"; } >"$OP/agent.conf"
	chmod 600 "$OP/ctl.conf" "$OP/agent.conf"
	# Detached, as the man page starts it; the namespace's end stops it.
	testnet_exec "$NS" "$BIN/ebscrypt-agent" --config "$OP/agent.conf" 2>"$OP/agent.log" || return 1
	for i in $(seq 1 100); do [ -S "$OP/agent.sock" ] && return 0; sleep 0.05; done
	return 1
}

new_volume() { opctl volume create --size "$VOL_SIZE" --encrypted "$@"; }

# Every volume of the operator's store, each its own NBD export named by its id.
nbd_export_all() {
	local f args=()
	testnet_nbd_stop "$work/nbd"
	for f in "$OP"/state/store/vol-*.img; do
		args+=("$(basename "$f" .img)=$f")
	done
	testnet_nbd_start "$NS" "$work/nbd" "${args[@]}"
}

host_files() {
	local h=$1 d=$work/files-$h
	mkdir -p "$d"
	client_cert "host-$h" || return 1
	cat >"$d/agent.conf" <<-EOF
	kms_endpoint = $KMS_URL
	kms_ca_file = /etc/ebscrypt/ca.crt
	kms_client_cert = /etc/ebscrypt/host.crt
	kms_client_key = /etc/ebscrypt/host.key
	kms_access_key_id = $(akid "$h")
	kms_secret_access_key = $(cat "$KMS/state/host-$h.secret")
	kms_timeout_ms = 60000
	kms_max_retries = 3
	EOF
	cp "$d/agent.conf" "$d/ebscryptctl.conf"
}

# One round trip per host: its files as a tar inside the script, then its agent.
guest_setup() {
	local h=$1 d=$work/files-$1 etc=$work/etc-$1
	mkdir -p "$etc" &&
	cp "$PKI/ca.crt" "$etc/ca.crt" && cp "$PKI/host-$h.crt" "$etc/host.crt" &&
	cp "$PKI/host-$h.key" "$etc/host.key" && cp "$d/agent.conf" "$d/ebscryptctl.conf" "$etc/" || return 1
	on "$h" "mkdir -p /etc/ebscrypt /run/ebscrypt /var/lib/ebscrypt && base64 -d <<'TAR' | tar -x -C /etc/ebscrypt
$(tar -c -C "$etc" . | base64)
TAR
		"'chmod 600 /etc/ebscrypt/*.conf /etc/ebscrypt/host.key &&
		modprobe nbd && ebscrypt-agent --config /etc/ebscrypt/agent.conf 2>>/var/log/ebscrypt-agent.log &&
		for i in $(seq 1 100); do [ -S /run/ebscrypt/agent.sock ] && exit 0; sleep 0.05; done; exit 1'
}

# Where the setup's time goes, for the TAP diagnostics.
phase_t=$SECONDS
phase() { echo "$1 $((SECONDS - phase_t))s" >>"$work/phases"; phase_t=$SECONDS; }

# The guests boot (the slow part, under TCG) while the host side comes up.
setup() {
	local h pids=() rc=0 p
	testnet_create "$NS" || return 1
	for h in $HOSTS; do testnet_tap "$NS" "tap$h" || return 1; done
	for h in $HOSTS; do
		"$G" start "$work/$h" --netns "$NS" --net "tap$h,ip=${IP[$h]}/24" --hostname "$h" \
			--mem 768 --timeout 2400 &
		pids+=($!)
	done
	phase network
	testnet_pki "$PKI" "$TESTNET_HOST_IP" && phase pki && kms_setup && phase kmsd && op_setup || return 1
	phase operator
	V1=$(new_volume) || return 1
	if [ "$smoke" = 0 ]; then
		K3=$(opctl kms create-key --description fleet-k3 | jq -r .KeyMetadata.Arn) &&
		V2=$(new_volume) && V3=$(new_volume --kms-key-id "$K3") || return 1
	fi
	phase volumes
	nbd_export_all || return 1
	for h in $HOSTS; do host_files "$h" || return 1; done
	phase host-files
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ "$rc" = 0 ] || return 1
	phase boot-rest
	pids=()
	for h in $HOSTS; do guest_setup "$h" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[ "$rc" = 0 ] || return 1
	phase guest-setup
}

start=$SECONDS
if ! setup >"$work/setup.log" 2>&1; then
	echo "not ok 1 - hosts, kmsd over mutual TLS, nbd-server and the operator come up on a private network"
	tap_diag <"$work/setup.log"
	for h in $HOSTS; do [ -e "$work/$h" ] && "$G" console "$work/$h" 2>/dev/null | tail -20 | tap_diag; done
	exit 1
fi
echo "# setup ($HOSTS, kmsd, nbd-server, operator) took $((SECONDS - start))s: $(tr '\n' ' ' <"$work/phases")"

# Connects the volume's export on a host and attaches it by id; prints the device.
attach_on() {
	on "$1" "nbd-client -N $2 $TESTNET_HOST_IP /dev/${3:-nbd0} >/dev/null && ebscryptctl volume attach $2"
}

# The DEK as hex, from the test's own route (the operator's Decrypt), to look for it.
dek_hex() {
	local vol=$1 hdr blob
	hdr=$(opctl header dump "$OP/state/store/$vol.img" --json)
	blob=$(wrapped_b64 "$vol")
	opctl kms call Decrypt "$(jq -nc --arg b "$blob" --arg k "$(jq -r .kms_key_id <<<"$hdr")" --arg v "$vol" \
		--arg l "$(jq -r .data_encryption_key_id <<<"$hdr")" \
		'{CiphertextBlob:$b, KeyId:$k, EncryptionContext:{"ebscrypt:volume-id":$v, "ebscrypt:lineage":$l}}')" |
		jq -r .Plaintext | base64 -d | od -An -tx1 -v | tr -d ' \n'
}

graceful_move() {
	local dev t0 t1 since
	opctl volume authorize "$V1" --host a
	dev=$(attach_on a "$V1")
	assert_eq "$dev" "/dev/mapper/$V1"
	# A tree of files, its checksums kept on the host side.
	on a "mkfs.ext4 -q $dev && mkdir -p /mnt/v && mount -t ext4 $dev /mnt/v && mkdir -p /mnt/v/t/d1 /mnt/v/t/d2 &&
		for i in 1 2 3 4 5 6; do dd if=/dev/urandom of=/mnt/v/t/d\$((i % 2 + 1))/f\$i bs=64k count=\$i status=none; done &&
		echo hello > /mnt/v/t/small && cd /mnt/v && find t -type f | sort | xargs sha256sum" >"$work/tree.sum"
	[ "$(wc -l <"$work/tree.sum")" = 7 ]
	assert_eq "$(opctl volume describe "$V1" --json | jq -r .attachment_host)" a
	t0=$(date +%s.%N)
	on a "umount /mnt/v && ebscryptctl volume detach $V1 && nbd-client -d /dev/nbd0"
	# A's grant was retired by A itself.
	assert_eq "$(opctl volume describe "$V1" --json | jq -r .attachment_host)" null
	audit | jq -c 'select(.operation == "RetireGrant" or .operation == "ListRetirableGrants")' >"$work/a-retire"
	cat "$work/a-retire"
	grep -q "\"principal\":\"$(host_arn a)\".*\"operation\":\"RetireGrant\".*\"outcome\":\"success\"" "$work/a-retire"
	since=$(audit | tail -1 | jq -r .seq)
	opctl volume authorize "$V1" --host b
	attach_on b "$V1" >/dev/null
	on b "mkdir -p /mnt/v && mount -t ext4 /dev/mapper/$V1 /mnt/v"
	t1=$(date +%s.%N)
	awk "BEGIN { printf \"%.1f\", $t1 - $t0 }" >"$work/move-time"
	"$G" put "$work/b" "$work/tree.sum" /tmp/tree.sum
	assert_eq "$(on b "cd /mnt/v && sha256sum -c /tmp/tree.sum" | grep -c ': OK$')" 7
	# B's own fresh Decrypt, under its grant, audited with its identity and the volume's context.
	audit | jq -c --argjson s "$since" 'select(.seq > $s and .operation == "Decrypt")' >"$work/b-decrypts"
	cat "$work/b-decrypts"
	assert_eq "$(wc -l <"$work/b-decrypts")" 1
	jq -e --arg p "$(host_arn b)" --arg v "$V1" \
		'.principal == $p and .outcome == "success" and (.encryption_context | fromjson? // .)["ebscrypt:volume-id"] == $v' \
		"$work/b-decrypts" >/dev/null
	assert_eq "$(on b "ebscryptctl volume describe $V1 --json" 2>/dev/null | jq -r .attachment_host)" b
}

key_gone_after_detach() {
	local dek pid
	dek=$(dek_hex "$V1")
	[ ${#dek} -eq 128 ]
	# A detached in the graceful move: no mapping, no key in any keyring, and
	# neither half of the DEK anywhere in its agent's memory.
	assert_eq "$(on a "dmsetup table | grep -c ebscrypt; exit 0")" 0
	assert_eq "$(on a "grep -c ebscrypt /proc/keys; exit 0")" 0
	pid=$(on a 'pidof ebscrypt-agent')
	on a "pid=$pid"'; : >/tmp/mem
		while read -r range perms _; do
			# Only writable memory can hold a copy made at run time.
			case "$perms" in rw*) ;; *) continue ;; esac
			s=$((16#${range%-*})) e=$((16#${range#*-}))
			[ "$s" -ge 0 ] && [ $((e - s)) -le $((256 << 20)) ] || continue
			dd if=/proc/$pid/mem bs=4096 skip=$((s / 4096)) count=$(((e - s) / 4096)) 2>/dev/null >>/tmp/mem || :
		done </proc/$pid/maps; test -s /tmp/mem'
	# Two passes, the second shifted by half a line, find a half that crosses a line's end.
	refute on a "xxd -p -c 4096 /tmp/mem | grep -q -e ${dek:0:64} -e ${dek:64:64} ||
		xxd -p -c 4096 -s 2048 /tmp/mem | grep -q -e ${dek:0:64} -e ${dek:64:64}"
	on a 'rm -f /tmp/mem'
}

unauthorized_host_refused() {
	local since ak sk
	since=$(audit | tail -1 | jq -r .seq)
	# Root on C with everything C holds: the agent, its credentials, the device.
	refute -m 'AccessDeniedException' attach_on c "$V1" nbd1
	audit | jq -e --argjson s "$since" --arg p "$(host_arn c)" \
		'select(.seq > $s and .principal == $p and .operation == "Decrypt" and .outcome == "failure" and .error_type == "AccessDeniedException")' >/dev/null
	on c 'nbd-client -d /dev/nbd1 >/dev/null 2>&1; exit 0'
	# The same credentials used directly: no Decrypt, no grant, no listing, no key of its own.
	ak=$(akid c) sk=$(cat "$KMS/state/host-c.secret")
	on c "printf 'user = \"%s:%s\"\n' $ak $sk >/tmp/c.curl"
	local op body
	for op in "Decrypt|{\"CiphertextBlob\":\"$(wrapped_b64 "$V1")\"}" \
		"CreateGrant|{\"KeyId\":\"$(opctl volume describe "$V1" --json | jq -r .kms_key_id)\",\"GranteePrincipal\":\"$(host_arn c)\",\"Operations\":[\"Decrypt\"]}" \
		"ListGrants|{\"KeyId\":\"$(opctl volume describe "$V1" --json | jq -r .kms_key_id)\"}" \
		"GenerateDataKey|{\"KeyId\":\"alias/aws/ebs\",\"KeySpec\":\"AES_256\"}" "CreateKey|{}" "ListKeys|{}"; do
		body=${op#*|} op=${op%%|*}
		assert_eq "$(on c "curl -sS --cacert /etc/ebscrypt/ca.crt --cert /etc/ebscrypt/host.crt --key /etc/ebscrypt/host.key \
			-K /tmp/c.curl --aws-sigv4 aws:amz:us-east-1:kms -H 'X-Amz-Target: TrentService.$op' \
			-H 'Content-Type: application/x-amz-json-1.1' -d '$body' $KMS_URL" | jq -r .__type)" AccessDeniedException
	done
	on c 'rm -f /tmp/c.curl'
}

# The wrapped DEK in a volume's primary header copy, base64.
wrapped_b64() {
	python3 - "$OP/state/store/$1.img" <<-'PY'
	import base64, struct, sys
	d = open(sys.argv[1], "rb").read(4096)
	arn = struct.unpack("<H", d[256:258])[0]
	wl = struct.unpack("<H", d[258 + arn:260 + arn])[0]
	print(base64.b64encode(d[260 + arn:260 + arn + wl]).decode())
	PY
}

double_attach_refused() {
	refute -m "$V1 is attached to host b" opctl volume authorize "$V1" --host c
	assert_eq "$(opctl volume describe "$V1" --json | jq -r .attachment_host)" b
}

key_disabled_while_attached() {
	opctl volume authorize "$V3" --host a
	attach_on a "$V3"
	on a "mkfs.ext4 -q /dev/mapper/$V3 && mkdir -p /mnt/k && mount -t ext4 /dev/mapper/$V3 /mnt/k"
	opctl kms disable-key "$K3" >/dev/null
	# The attached volume does not need the KMS: A keeps writing and reading.
	on a "dd if=/dev/urandom of=/mnt/k/while-disabled bs=64k count=8 conv=fsync status=none &&
		sha256sum /mnt/k/while-disabled >/tmp/wd.sum && echo 3 >/proc/sys/vm/drop_caches && sha256sum -c /tmp/wd.sum &&
		umount /mnt/k && ebscryptctl volume detach $V3 && nbd-client -d /dev/nbd0"
	# The guest's stdout and stderr come back as one: the sums alone, apart.
	on a "cat /tmp/wd.sum" >"$work/wd.sum"
	"$G" put "$work/b" "$work/wd.sum" /tmp/wd.sum
	opctl volume authorize "$V3" --host b
	refute -m "KMS key $K3 is Disabled" attach_on b "$V3" nbd1
	opctl kms enable-key "$K3" >/dev/null
	on b "ebscryptctl volume attach $V3 && mkdir -p /mnt/k && mount -t ext4 /dev/mapper/$V3 /mnt/k &&
		sha256sum -c /tmp/wd.sum && umount /mnt/k && ebscryptctl volume detach $V3 && nbd-client -d /dev/nbd1"
}

snapshot_and_restore_of_network_volume() {
	local snap v4
	on b "umount /mnt/v && ebscryptctl volume detach $V1 && nbd-client -d /dev/nbd0"
	# The operator snapshots the store's volume and restores it as a new one.
	snap=$(opctl snapshot create "$V1")
	v4=$(opctl volume create --snapshot-id "$snap")
	echo "$v4" >"$work/v4"
	nbd_export_all
	opctl volume authorize "$v4" --host b
	attach_on b "$v4" >/dev/null
	assert_eq "$(on b "mkdir -p /mnt/r && mount -t ext4 /dev/mapper/$v4 /mnt/r && cd /mnt/r && sha256sum -c /tmp/tree.sum" |
		grep -c ': OK$')" 7
	on b "umount /mnt/r && ebscryptctl volume detach $v4 && nbd-client -d /dev/nbd0"
	assert_eq "$(opctl volume describe "$v4" --json | jq -r .attachment_host)" null
}

crash_move() {
	local out entries
	opctl volume authorize "$V2" --host a
	attach_on a "$V2"
	on a "mkfs.ext4 -q /dev/mapper/$V2 && mkdir -p /mnt/c && mount -t ext4 /dev/mapper/$V2 /mnt/c"
	# Writes, each fsync'd, then listed in a journal that is fsync'd too: an
	# entry there is a write whose fsync A saw complete. Plus fio's writes
	# with verify and fsync beside them. Bounded in count and time.
	on a "setsid sh -c 'i=0; while [ \$i -lt 300 ]; do
			dd if=/dev/urandom of=/mnt/c/f\$i bs=16k count=2 conv=fsync status=none || break
			echo \"\$(sha256sum /mnt/c/f\$i)\" | dd of=/mnt/c/done.log oflag=append conv=notrunc,fsync status=none || break
			i=\$((i + 1)); done' >/dev/null 2>&1 &
		setsid fio --name=crash --directory=/mnt/c --rw=randwrite --bs=4k --size=4M --fsync=1 \
			--verify=crc32c --runtime=60 --time_based >/dev/null 2>&1 &
		sleep 4; exit 0"
	"$G" kill "$work/a"
	refute "$G" alive "$work/a"
	# A's grant stands: B is refused, naming A, until the operator forces it.
	refute -m "$V2 is attached to host a" opctl volume authorize "$V2" --host b
	out=$(opctl volume authorize "$V2" --host b --force 2>&1)
	echo "$out"
	grep -q "revoked a's grant for $V2" <<<"$out"
	attach_on b "$V2"
	on b "mkdir -p /mnt/c && mount -t ext4 /dev/mapper/$V2 /mnt/c" # replays the journal
	entries=$(on b "wc -l < /mnt/c/done.log")
	echo "$entries" >"$work/crash-entries"
	[ "$entries" -gt 0 ]
	on b "cd / && sha256sum -c /mnt/c/done.log >/tmp/check 2>&1; rc=\$?; grep -v ': OK\$' /tmp/check; exit \$rc"
	on b "umount /mnt/c && e2fsck -fn /dev/mapper/$V2 && ebscryptctl volume detach $V2 && nbd-client -d /dev/nbd0"
}

guests_stop_cleanly() {
	local h pids=() p rc=0
	for h in $HOSTS; do
		"$G" alive "$work/$h" || continue
		"$G" stop "$work/$h" & pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return "$rc"
}

test_that "a volume moves from host a to b: b's own Decrypt under b's grant, the tree intact, a's grant retired" graceful_move
# Reported, not asserted.
[ -s "$work/move-time" ] && echo "# move time (detach on a to mounted on b, authorize included): $(cat "$work/move-time")s"
if [ "$smoke" = 0 ]; then
	test_that "once a has detached, its kernel and its agent hold no copy of the volume key" key_gone_after_detach
	test_that "root on a host without a grant cannot attach (AccessDenied, audited) nor use the KMS directly" unauthorized_host_refused
	test_that "authorizing a volume for a second host is refused while the first holds it, naming it" double_attach_refused
	test_that "with its key disabled an attached volume keeps working, another host's attach names the key state until it is enabled" key_disabled_while_attached
	test_that "a network volume's snapshot restores into a new volume that another host attaches intact" snapshot_and_restore_of_network_volume
	test_that "after a crash of a mid-write, b takes the volume over with --force and every fsync'd write verifies" crash_move
	[ -s "$work/crash-entries" ] && echo "# $(cat "$work/crash-entries") fsync'd writes were journaled on a before the crash"
fi
# What a failure left in the daemons' logs, before the guests go.
if [ "$TAP_FAILED" -gt 0 ]; then
	for h in $HOSTS; do
		"$G" alive "$work/$h" || continue
		echo "# $h's agent log:"; on "$h" 'tail -n 30 /var/log/ebscrypt-agent.log' | tap_diag
	done
	echo "# kmsd's log:"; tail -n 30 "$KMS/kmsd.log" | tap_diag
fi
test_that "the hosts that are still running power off with no kernel problem reported" guests_stop_cleanly
echo "# fleet.host.sh took $((SECONDS - start))s"
tap_done
