# SPDX-License-Identifier: GPL-2.0
#
# Guest-side helpers for the end-to-end tests (tests/e2e/*.sh run inside the
# test VM by tests/vm/run): a real ebscrypt-kmsd on loopback with a fresh key
# store and three principals (admin, the host, and one with no rights), a
# real ebscrypt-agent holding the host's credentials, and ebscryptctl with
# the admin's. Source it after /tests/lib/tap.sh, then call e2e_setup.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/kmsd.sh"

E2E=/tmp/e2e
KMS_PORT=8700
KMS_URL=http://127.0.0.1:$KMS_PORT/
ACCOUNT=111122223333
ADMIN_ARN=arn:aws:iam::$ACCOUNT:user/admin
HOST_ARN=arn:aws:iam::$ACCOUNT:role/ebscrypt-host
NOBODY_ARN=arn:aws:iam::$ACCOUNT:user/nobody
STATE=$E2E/state
SOCK=$E2E/agent.sock
AGENT_LOG=$E2E/agent.log
KMSD_STATE=$E2E/kmsd
# For tests/lib/kmsd.sh.
KMSD_CONF=$E2E/kmsd.conf
KMSD_LOG=$E2E/kmsd.log
KMSD_RUN=$E2E

ctl() { ebscryptctl --state-dir "$STATE" --config "$E2E/ctl.conf" --agent-socket "$SOCK" "$@"; }

# Writes a secret file the way kmsd wants it (0600) and prints its path.
e2e_secret() {
	printf '%s' "$2" > "$E2E/$1.secret"
	chmod 600 "$E2E/$1.secret"
	echo "$E2E/$1.secret"
}

# PIDs live in files: tests run in subshells, which must be able to stop and
# restart the daemons the top-level shell started (and the reverse).
pid_of() { cat "$E2E/$1.pid" 2>/dev/null; }

# Stops a daemon by pidfile; waits until it is gone (it may not be our child).
stop_daemon() {
	local pid i
	pid=$(pid_of "$1")
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for i in $(seq 1 400); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	# Gone before the next one starts: an agent refuses to take over a
	# socket a running one still listens on.
	if kill -0 "$pid" 2>/dev/null; then
		echo "# $1 (pid $pid) ignored SIGTERM for 20 s: killed"
		kill -KILL "$pid" 2>/dev/null
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
	fi
	rm -f "$E2E/$1.pid"
}

# agent_config NAME ACCESS_KEY SECRET [ENDPOINT] [TIMEOUT_MS]
agent_config() {
	cat > "$E2E/agent.conf" <<-CONF
	# written by tests/e2e/lib.sh
	socket = $SOCK
	kms_endpoint = ${4:-$KMS_URL}
	kms_region = us-east-1
	kms_access_key_id = $2
	kms_secret_access_key = $3
	kms_timeout_ms = ${5:-5000}
	kms_max_retries = 2
	volume_file_dirs = $E2E
	CONF
	chmod 600 "$E2E/agent.conf"
}

agent_start() {
	ebscrypt-agent --foreground --config "$E2E/agent.conf" >> "$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	echo "$AGENT_PID" > "$E2E/agent.pid"
	local i
	for i in $(seq 1 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || { cat "$AGENT_LOG"; return 1; }
		sleep 0.05
	done
	echo "agent did not come up"; cat "$AGENT_LOG"; return 1
}

agent_stop() { stop_daemon agent; }

# Restart the agent as another principal or against another endpoint.
agent_as() {
	agent_stop
	agent_config "$@"
	agent_start
}
agent_as_host() { agent_as host AKIAHOST00000000000 "$HOST_SECRET" "$@"; }

e2e_setup() {
	rm -rf "$E2E"
	mkdir -p "$E2E" "$KMSD_STATE"
	ADMIN_SECRET=adminSecretKey0000000000000000000000000
	HOST_SECRET=hostSecretKey00000000000000000000000000
	NOBODY_SECRET=nobodySecretKey0000000000000000000000
	cat > "$E2E/kmsd.conf" <<-CONF
	listen = 127.0.0.1:$KMS_PORT
	state_dir = $KMSD_STATE
	region = us-east-1
	account_id = $ACCOUNT

	[principal admin]
	arn = $ADMIN_ARN
	access_key_id = AKIAADMIN0000000000
	secret_access_key_file = $(e2e_secret admin "$ADMIN_SECRET")
	role = admin

	[principal host]
	arn = $HOST_ARN
	access_key_id = AKIAHOST00000000000
	secret_access_key_file = $(e2e_secret host "$HOST_SECRET")
	role = user

	[principal nobody]
	arn = $NOBODY_ARN
	access_key_id = AKIANOBODY000000000
	secret_access_key_file = $(e2e_secret nobody "$NOBODY_SECRET")
	role = none
	CONF
	cat > "$E2E/ctl.conf" <<-CONF
	kms_endpoint = $KMS_URL
	kms_region = us-east-1
	kms_access_key_id = AKIAADMIN0000000000
	kms_secret_access_key = $ADMIN_SECRET
	kms_timeout_ms = 5000
	CONF
	chmod 600 "$E2E/ctl.conf"
	kmsd_start "$KMS_PORT" || return 1
	agent_config host AKIAHOST00000000000 "$HOST_SECRET"
	agent_start
}

e2e_teardown() {
	local m
	for m in $(dmsetup ls --target ebscrypt 2>/dev/null | awk 'NF == 2 {print $1}') \
		 $(dmsetup ls --target linear 2>/dev/null | awk 'NF == 2 {print $1}'); do
		umount "/dev/mapper/$m" 2>/dev/null || :
		dmsetup remove "$m" 2>/dev/null || :
	done
	agent_stop
	kmsd_stop
	return 0
}

# Prints the volume's backing image path.
vol_image() { echo "$STATE/store/$1.img"; }

# Reads a u16 (little-endian) at byte offset $2 of file $1.
u16_at() { od -An -tu2 -j "$2" -N 2 "$1" | tr -d ' '; }

# The wrapped DEK of a volume's header copy at byte offset $2 (default 0), base64.
header_wrapped_b64() {
	local img=$1 base=${2:-0} arn_len wl
	arn_len=$(u16_at "$img" $((base + 256)))
	wl=$(u16_at "$img" $((base + 258 + arn_len)))
	dd if="$img" bs=1 skip=$((base + 260 + arn_len)) count="$wl" 2>/dev/null | base64 | tr -d '\n'
}

# The volume's DEK as hex, from KMS Decrypt with the admin's credentials: the
# test's own route to the key, independent of the agent.
volume_dek_hex() {
	local vol=$1 img blob lineage arn
	img=$(vol_image "$vol")
	blob=$(header_wrapped_b64 "$img")
	lineage=$(ctl header dump "$vol" --json | jq -r .data_encryption_key_id)
	arn=$(ctl header dump "$vol" --json | jq -r .kms_key_id)
	ctl kms call Decrypt "$(jq -nc --arg b "$blob" --arg k "$arn" --arg v "$vol" --arg l "$lineage" \
		'{CiphertextBlob:$b, KeyId:$k, EncryptionContext:{"ebscrypt:volume-id":$v, "ebscrypt:lineage":$l}}')" |
		jq -r .Plaintext | base64 -d | od -An -tx1 -v | tr -d ' \n'
}

# Does file $1 contain the bytes given in hex by $2 (at most 2 KiB of them)?
#
# Fast path: grep -F for 16 of those bytes, a window holding neither a
# newline nor a NUL (grep's line and pattern separators). Wherever the
# whole string is, that window is too, so a miss is a miss of the whole;
# a hit of 16 random key bytes by chance is not a concern. Under TCG this
# is some twenty times faster than the hex dump below, which matters for
# files of hundreds of MiB (an agent's address space, the volume images).
#
# Otherwise (shorter strings, no such window): hex lines of 4 KiB at two
# offsets 2 KiB apart, so that every window of up to 2 KiB lies whole
# inside one line of one of the two passes.
file_has_hex() {
	local hex=${2,,} i j b clean pat rc
	for ((i = 0; i + 32 <= ${#hex}; i += 2)); do
		clean=1
		for ((j = i; j < i + 32; j += 2)); do
			b=${hex:j:2}
			if [ "$b" = 00 ] || [ "$b" = 0a ]; then clean=0; break; fi
		done
		[ "$clean" = 1 ] || continue
		pat=$(mktemp)
		printf '%s' "${hex:i:32}" | xxd -r -p > "$pat"
		LC_ALL=C grep -qaF -f "$pat" "$1"
		rc=$?
		rm -f "$pat"
		# A file that cannot be read is no evidence of absence: 126 is
		# what refute takes for a command that could not run.
		[ "$rc" -le 1 ] || { echo "file_has_hex: cannot search $1"; return 126; }
		return "$rc"
	done
	xxd -p -c 4096 "$1" | grep -q "$hex" && return 0
	xxd -p -c 4096 -s 2048 "$1" | grep -q "$hex"
}

# Patches hex bytes $3 at offset $2 within header copy at base $1 of image $4
# and recomputes that copy's SHA-256, like a bit flip the checksum does not catch.
header_patch() {
	local base=$1 off=$2 hex=$3 img=$4
	printf '%s' "$hex" | xxd -r -p | dd of="$img" bs=1 seek=$((base + off)) conv=notrunc 2>/dev/null
	dd if="$img" bs=32 skip=$((base / 32)) count=127 2>/dev/null | sha256sum | cut -c1-64 | xxd -r -p |
		dd of="$img" bs=1 seek=$((base + 4064)) conv=notrunc 2>/dev/null
}

# Scribbles over bytes without fixing the checksum: a torn or rotted sector.
header_scribble() {
	printf 'garbage-garbage-garbage' | dd of="$2" bs=1 seek=$(($1 + 300)) conv=notrunc 2>/dev/null
}

# Decrypt calls in the KMS audit by the host principal whose encryption context names $1.
audit_decrypts() {
	sqlite3 "$KMSD_STATE/kmsd.db" \
		"SELECT count(*) FROM audit WHERE operation='Decrypt' AND outcome='success' AND principal LIKE '%ebscrypt-host%' AND encryption_context LIKE '%$1%';"
}

write_files() {
	local mnt=$1 i
	for i in 1 2 3 4 5; do
		dd if=/dev/urandom of="$mnt/file$i" bs=64k count=$((i * 3)) 2>/dev/null
	done
	(cd "$mnt" && sha256sum file* > /tmp/e2e-sums)
	sync
}

check_files() { (cd "$1" && sha256sum -c /tmp/e2e-sums >/dev/null); }

# Whether the mapping's table mentions either hex string.
table_has() { dmsetup table "$1" | grep -qi -e "$2" -e "$3"; }

# Waits until something listens on TCP port $1 of loopback.
wait_listen() {
	local hex i
	hex=$(printf '%04X' "$1")
	for i in $(seq 1 100); do
		# busybox nc listens on the IPv6 wildcard (dual stack): look in tcp6 too.
		grep -qE ":$hex [0:]+:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1"
	return 1
}
