#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-agent against hostile clients, on the build machine (no kernel
# target needed: every request here is refused before device-mapper): junk,
# oversized and truncated messages, wrong types, bad ids and paths. The
# agent must answer each with a clear refusal and keep serving.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
AGENT_REQUEST=$top/tests/helpers/agent-request.py
BIN=${BUILD:-$top/build}/bin
[ -x "$BIN/ebscrypt-agent" ] || BIN=$top/build/bin
dir=$(mktemp -d)
trap 'kill $apid 2>/dev/null; rm -rf "$dir"' EXIT

cat > "$dir/agent.conf" <<CONF
socket = $dir/agent.sock
kms_endpoint = http://127.0.0.1:9/
kms_access_key_id = AKIDTEST
kms_secret_access_key = test
kms_timeout_ms = 500
kms_max_retries = 0
volume_file_dirs = $dir
CONF
# Run as another user than root (make check-unit needs no root), the tests
# reach the agent as members of its configured group.
if [ "$(id -u)" -ne 0 ]; then
	echo "group = $(id -gn)" >> "$dir/agent.conf"
fi
chmod 600 "$dir/agent.conf"

# send RAW_BYTES_FILE: prints the agent's reply line.
send() {
	"$AGENT_REQUEST" "$dir/agent.sock" --file "$1"
}

req() { printf '%s' "$1" > "$dir/req"; send "$dir/req"; }

refused_with() {
	local out
	out=$(req "$1")
	echo "$out"
	echo "$out" | grep -q '"ok": *false' && echo "$out" | grep -q "\"code\": *\"$2\""
}

t_config_must_be_private() {
	chmod 644 "$dir/agent.conf"
	refute -m "mode 0600" "$BIN/ebscrypt-agent" --foreground --config "$dir/agent.conf"
	chmod 600 "$dir/agent.conf"
}

t_unknown_setting_refused() {
	cp "$dir/agent.conf" "$dir/bad.conf"
	echo "kms_endpiont = x" >> "$dir/bad.conf"
	chmod 600 "$dir/bad.conf"
	refute -m 'unknown setting "kms_endpiont"' "$BIN/ebscrypt-agent" --foreground --config "$dir/bad.conf"
}

t_junk() {
	refused_with 'this is not json' InvalidRequest
	refused_with '[1,2,3]' InvalidRequest
	refused_with '{"op": 7}' InvalidRequest
	refused_with '{"op": "format-disk"}' InvalidRequest
	refused_with '{"op": "attach", "volume_id": "vol-1", "path": "/dev/null"}' InvalidRequest
	refused_with '{"op": "attach", "volume_id": "vol-0123456789abcdef0", "path": "relative"}' InvalidRequest
	refused_with '{"op": "attach", "volume_id": "vol-0123456789abcdef0", "path": "/dev/null", "name": "../../x"}' InvalidRequest
	refused_with '{"op": "kcv", "kms_key_arn": "x", "wrapped": "!!!", "context": {}}' InvalidRequest
	refused_with '{"op": "load-key", "volume_id": "vol-0123456789abcdef0", "path": "/dev/null", "keyring": "x"}' InvalidRequest
	refused_with '{"op": "detach"}' InvalidRequest
}

t_oversized_and_binary() {
	head -c 200000 /dev/zero | tr '\0' 'a' > "$dir/big"
	send "$dir/big" | grep -q InvalidRequest
	head -c 4096 /dev/urandom > "$dir/rnd"
	send "$dir/rnd" | grep -q InvalidRequest
	printf '{"op": "ping"' > "$dir/trunc"
	send "$dir/trunc" | grep -q InvalidRequest
}

t_not_a_volume() {
	truncate -s 2M "$dir/blank.img"
	refused_with "{\"op\": \"attach\", \"volume_id\": \"vol-0123456789abcdef0\", \"path\": \"$dir/blank.img\"}" NotEbscrypt
	head -c 100 /dev/zero > "$dir/tiny.img"
	refused_with "{\"op\": \"attach\", \"volume_id\": \"vol-0123456789abcdef0\", \"path\": \"$dir/tiny.img\"}" Truncated
}

t_still_serving() {
	req '{"op": "ping"}' | grep -q '"ok": *true'
	kill -0 "$apid"
}

"$BIN/ebscrypt-agent" --foreground --config "$dir/agent.conf" > "$dir/agent.log" 2>&1 &
apid=$!
for i in $(seq 1 100); do [ -S "$dir/agent.sock" ] && break; sleep 0.05; done
if [ ! -S "$dir/agent.sock" ]; then
	tap_skip "the agent refuses hostile requests" "agent did not start here: $(tail -1 "$dir/agent.log")"
	tap_done
fi
test_that "a credentials config readable by others is refused" t_config_must_be_private
test_that "an unknown config setting is refused by name" t_unknown_setting_refused
test_that "junk, wrong types and bad ids get InvalidRequest" t_junk
test_that "oversized, binary and truncated messages are refused" t_oversized_and_binary
test_that "a blank file is not an ebscrypt volume and a tiny one is truncated" t_not_a_volume
test_that "the agent keeps serving after all of that" t_still_serving
tap_done
