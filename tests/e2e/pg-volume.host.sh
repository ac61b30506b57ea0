#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The volume flow end to end with ebscrypt-kmsd on PostgreSQL, and a restore
# of that KMS on a new machine. On a private test network
# (tests/vm/netns.sh): kmsd on its host side with `store = postgresql`, on a
# private PostgreSQL cluster (tests/lib/pg.sh) over its Unix socket, serving
# TLS from the test PKI; the operator's ebscryptctl and agent there too,
# with the volume store exported by nbd-server; one busybox guest as the
# host that attaches, holding only its own principal (no standing rights:
# it decrypts under the operator's grants).
#
# The restore follows docs/kmsd-storage.md: a pg_dump taken while kmsd
# serves; then the old machine is gone (its kmsd stopped, its cluster and
# state directory deleted), and on a new one a new cluster, pg_restore into
# an empty database, and a new kmsd whose state directory holds only the
# configuration, the principals' secret files and the root key from escrow.
# The volume created before the backup attaches through it, its files intact.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/vm/netns.sh"
. "$top/tests/lib/pg.sh"
G=$top/tests/vm/guest
BIN=$top/build/bin
work=$(mktemp -d)
NS=ebspg-$$
KMS=$work/kms PKI=$work/pki OP=$work/op
ACCT=111122223333
HOST_IP=192.0.2.10
HOST_ARN=arn:aws:iam::$ACCT:role/ebscrypt-host/a
HOST_AKID=AKIAPGVOLUMEHOSTA000
export EBSCRYPT_GUEST_READY_S=${EBSCRYPT_GUEST_READY_S:-900}
export EBSCRYPT_VM_BOOT_STALL=${EBSCRYPT_VM_BOOT_STALL:-600} EBSCRYPT_VM_BOOT_TIMEOUT=${EBSCRYPT_VM_BOOT_TIMEOUT:-1200}

cleanup() {
	"$G" kill "$work/a" 2>/dev/null
	testnet_destroy "$NS"
	pg_stop
	# The new machine's cluster, started inside a test's subshell.
	while read -r d; do PG_DIR=$d pg_stop; done < <(cat "$work/new-clusters" 2>/dev/null)
	rm -rf "$work"
}
trap cleanup EXIT

if ! pg_available; then
	echo "1..0 # SKIP no PostgreSQL server (scripts/install-deps.sh installs it)"
	exit 0
fi

opctl() {
	testnet_exec "$NS" "$BIN/ebscryptctl" --state-dir "$OP/state" --config "$OP/ctl.conf" \
		--agent-socket "$OP/agent.sock" "$@"
}
on() { "$G" exec "$work/a" "$@"; }
creds() { sed -n "/^\[$1\]/,/^\$/s/^$2 = //p" "$KMS/state/credentials"; }
# SQL in the kms database of the cluster that runs now.
pg_sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -U "$PG_USER" -d kms -c "$1"; }
host_decrypts() {
	pg_sql "SELECT count(*) FROM audit WHERE operation = 'Decrypt' AND outcome = 'success'
		AND principal = '$HOST_ARN' AND encryption_context LIKE '%\"ebscrypt:volume-id\":\"$V1\"%'"
}

kms_setup() {
	mkdir -p "$KMS/state"
	# TLS handshakes of a TCG guest on a loaded machine take seconds.
	printf 'store = postgresql\npg_conninfo = %s\nconnection_timeout_s = 120\n' "$PG_CONNINFO" >"$KMS/top.conf"
	tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$KMS/state/host-a.secret"
	chmod 600 "$KMS/state/host-a.secret"
	printf '\n[principal host-a]\narn = %s\naccess_key_id = %s\nsecret_access_key_file = host-a.secret\nrole = none\n' \
		"$HOST_ARN" "$HOST_AKID" >"$KMS/principals.conf"
	KMS_URL=$(testnet_kmsd_start "$NS" "$KMS" "$PKI")
}

# The operator: admin credentials, an agent (for the key check value of new
# volumes), a volume store that nbd-server exports.
op_setup() {
	mkdir -p "$OP/state"
	cat >"$OP/ctl.conf" <<-EOF
	kms_endpoint = $KMS_URL
	kms_ca_file = $PKI/ca.crt
	kms_access_key_id = $(creds admin aws_access_key_id)
	kms_secret_access_key = $(creds admin aws_secret_access_key)
	EOF
	printf 'socket = %s/agent.sock\nvolume_file_dirs = %s/state\n' "$OP" "$OP" >"$OP/agent.conf"
	cat "$OP/ctl.conf" >>"$OP/agent.conf"
	chmod 600 "$OP/ctl.conf" "$OP/agent.conf"
	# Detached, as the man page starts it; the namespace's end stops it.
	testnet_exec "$NS" "$BIN/ebscrypt-agent" --config "$OP/agent.conf" 2>"$OP/agent.log" || return 1
	for _ in $(seq 1 100); do [ -S "$OP/agent.sock" ] && return 0; sleep 0.05; done
	return 1
}

# The host's files in one round trip (a tar inside the script), then its agent.
guest_setup() {
	local etc=$work/etc-a
	mkdir -p "$etc" && cp "$PKI/ca.crt" "$etc/ca.crt" || return 1
	cat >"$etc/agent.conf" <<-EOF
	kms_endpoint = $KMS_URL
	kms_ca_file = /etc/ebscrypt/ca.crt
	kms_access_key_id = $HOST_AKID
	kms_secret_access_key = $(cat "$KMS/state/host-a.secret")
	kms_timeout_ms = 60000
	kms_max_retries = 3
	EOF
	cp "$etc/agent.conf" "$etc/ebscryptctl.conf"
	on "mkdir -p /etc/ebscrypt /run/ebscrypt /var/lib/ebscrypt && base64 -d <<'TAR' | tar -x -C /etc/ebscrypt
$(tar -c -C "$etc" . | base64)
TAR
		"'chmod 600 /etc/ebscrypt/*.conf &&
		modprobe nbd && ebscrypt-agent --config /etc/ebscrypt/agent.conf 2>>/var/log/ebscrypt-agent.log &&
		for i in $(seq 1 100); do [ -S /run/ebscrypt/agent.sock ] && exit 0; sleep 0.05; done; exit 1'
}

# The guest boots (the slow part, under TCG) while the host side comes up.
setup() {
	local boot
	testnet_create "$NS" && testnet_tap "$NS" tapa || return 1
	"$G" start "$work/a" --netns "$NS" --net "tapa,ip=$HOST_IP/24" --hostname a --mem 768 --timeout 1200 &
	boot=$!
	pg_start && testnet_pki "$PKI" "$TESTNET_HOST_IP" && kms_setup && op_setup || return 1
	V1=$(opctl volume create --size 24M --encrypted) || return 1
	testnet_nbd_start "$NS" "$work/nbd" "$V1=$OP/state/store/$V1.img" || return 1
	wait "$boot" || return 1
	guest_setup
}

start=$SECONDS
if ! setup >"$work/setup.log" 2>&1; then
	echo "not ok 1 - kmsd on PostgreSQL over TLS, the operator, nbd-server and a host come up on a private network"
	tap_diag <"$work/setup.log"
	[ -e "$work/a" ] && "$G" console "$work/a" 2>/dev/null | tail -20 | tap_diag
	[ -e "$KMS/kmsd.log" ] && tail -20 "$KMS/kmsd.log" | tap_diag
	exit 1
fi
echo "# setup (PostgreSQL, kmsd, operator, nbd-server, guest) took $((SECONDS - start))s"

kmsd_on_postgresql() {
	# The keys live in PostgreSQL (the managed key, made by the volume's
	# creation), and kmsd made no SQLite store beside it.
	assert_eq "$(pg_sql "SELECT count(*) FROM keys")" 1
	refute test -e "$KMS/state/kmsd.db"
	test -s "$KMS/state/root.key"
	opctl volume describe "$V1" --json | jq -e '.encrypted' >/dev/null
}

attach_on_host() {
	on "nbd-client -N $V1 $TESTNET_HOST_IP /dev/nbd0 >/dev/null && ebscryptctl volume attach $V1"
}
detach_on_host() {
	on "umount /mnt/v && ebscryptctl volume detach $V1 && nbd-client -d /dev/nbd0 >/dev/null"
}

volume_flow() {
	opctl volume authorize "$V1" --host a
	assert_eq "$(attach_on_host)" "/dev/mapper/$V1"
	# A few files, their checksums kept on the host side.
	on "mkfs.ext4 -q /dev/mapper/$V1 && mkdir -p /mnt/v && mount -t ext4 /dev/mapper/$V1 /mnt/v && mkdir -p /mnt/v/d &&
		for i in 1 2 3; do dd if=/dev/urandom of=/mnt/v/d/f\$i bs=64k count=\$i status=none; done &&
		echo hello >/mnt/v/small && cd /mnt/v && find . -type f | sort | xargs sha256sum" >"$work/files.sum"
	assert_eq "$(wc -l <"$work/files.sum")" 4
	"$G" put "$work/a" "$work/files.sum" /tmp/files.sum
	detach_on_host
	assert_eq "$(on "dmsetup table | grep -c ebscrypt; exit 0")" 0
	# Detach retired the host's grant: the operator authorizes it again.
	opctl volume authorize "$V1" --host a
	attach_on_host >/dev/null
	assert_eq "$(on "mount -t ext4 /dev/mapper/$V1 /mnt/v && cd /mnt/v && sha256sum -c /tmp/files.sum" | grep -c ': OK$')" 4
	detach_on_host
	# Each attach was the host's own Decrypt, audited in PostgreSQL.
	assert_eq "$(host_decrypts)" 2
}

restore_on_new_machine() {
	local dump=$work/kms.dump escrow=$work/escrow new=$work/kms-new old
	# Authorized before the backup; the dump taken while kmsd serves.
	opctl volume authorize "$V1" --host a
	"$PG_BIN/pg_dump" -h "$PG_DIR" -U "$PG_USER" --format=custom --file="$dump" kms
	opctl volume describe "$V1" --json >/dev/null
	# The root key, escrowed apart from the database; then the old machine goes.
	install -m 600 "$KMS/state/root.key" "$escrow"
	testnet_kmsd_stop "$KMS"
	refute testnet_exec "$NS" curl -s -o /dev/null --cacert "$PKI/ca.crt" "$KMS_URL"
	mkdir -p "$new/state"
	cp "$KMS/state/kmsd.conf" "$KMS/state/"*.secret "$new/state/"
	rm -rf "$KMS/state"
	old=$PG_DIR
	pg_stop
	# The new machine: a new cluster, the dump restored into its empty database.
	if pg_start; then echo "$PG_DIR" >>"$work/new-clusters"; else echo "$PG_DIR" >>"$work/new-clusters"; return 1; fi
	refute test "$PG_DIR" = "$old"
	"$PG_BIN/pg_restore" -h "$PG_DIR" -U "$PG_USER" --dbname=kms --exit-on-error "$dump"
	install -m 600 "$escrow" "$new/state/root.key"
	sed -i -e "s|^state_dir = .*|state_dir = $new/state|" \
		-e "s|^pg_conninfo = .*|pg_conninfo = $PG_CONNINFO|" "$new/state/kmsd.conf"
	assert_eq "$(ls "$new/state" | sort | tr '\n' ' ')" "admin.secret host-a.secret host.secret kmsd.conf root.key "
	nsenter "--net=/run/netns/$NS" -- "$BIN/ebscrypt-kmsd" --state-dir "$new/state" --foreground \
		</dev/null >/dev/null 2>"$new/kmsd.log" &
	echo $! >"$new/kmsd.pid"
	for _ in $(seq 1 100); do grep -q 'listening on' "$new/kmsd.log" && break; sleep 0.1; done
	grep -q 'listening on' "$new/kmsd.log"
	# The volume from before the backup attaches through the new kmsd, intact.
	attach_on_host >/dev/null
	assert_eq "$(on "mount -t ext4 /dev/mapper/$V1 /mnt/v && cd /mnt/v && sha256sum -c /tmp/files.sum" | grep -c ': OK$')" 4
	on "umount /mnt/v && e2fsck -fn /dev/mapper/$V1 >/dev/null && ebscryptctl volume detach $V1 && nbd-client -d /dev/nbd0 >/dev/null"
	# The restored audit trail, and the new attach's Decrypt in it.
	assert_eq "$(host_decrypts)" 3
	refute test -e "$new/state/kmsd.db"
}

guest_stops_cleanly() {
	"$G" stop "$work/a"
}

test_that "kmsd serves on PostgreSQL over TLS, keeping no SQLite store, and the operator creates a volume on it" kmsd_on_postgresql
test_that "a volume created on kmsd on PostgreSQL attaches, holds files, detaches and attaches again intact, each Decrypt audited in PostgreSQL" volume_flow
test_that "after a pg_dump restored on a new cluster and a new kmsd with only the escrowed root key and the config, the volume from before the backup attaches intact" restore_on_new_machine
if [ "$TAP_FAILED" -gt 0 ]; then
	if "$G" alive "$work/a"; then
		echo "# the host's agent log:"; on 'tail -n 30 /var/log/ebscrypt-agent.log' | tap_diag
	fi
	for f in "$KMS/kmsd.log" "$work/kms-new/kmsd.log"; do
		if [ -e "$f" ]; then echo "# $f:"; tail -n 30 "$f" | tap_diag; fi
	done
fi
test_that "the host powers off with no kernel problem reported" guest_stops_cleanly
echo "# pg-volume.host.sh took $((SECONDS - start))s"
tap_done
