#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `ebscrypt-kmsd init` writes a config that runs where it is written, the
# way the shipped unit starts the daemon (--config FILE --foreground, from
# /), with the credentials init generated. Every relative
# path in kmsd.conf (secrets, TLS files, the state directory) is relative
# to the config file, never to the working directory.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"

KMSD="${BUILD:-$top/build}/bin/ebscrypt-kmsd"
KMSC="${BUILD:-$top/build}/tests/helpers/kmsc"
W=$(mktemp -d)
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT


# listening_port PID: the TCP port the daemon PID listens on.
listening_port() {
	local i port
	for i in $(seq 1 100); do
		port=$(ss -Htlnp | awk -v p="pid=$1," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
		[ -n "$port" ] && { echo "$port"; return 0; }
		sleep 0.1
	done
	return 1
}

# start_as_unit CONFIG: the daemon as ebscrypt-kmsd.service starts it, from /; prints its pid.
start_as_unit() {
	( cd / && exec "$KMSD" --config "$1" --foreground ) < /dev/null > "$W/start.log" 2>&1 &
	echo $!
}

t_config_where_asked() {
	local pid port
	# Run from elsewhere, as an installer would: nothing lands in the cwd.
	mkdir "$W/cwd"
	( cd "$W/cwd" && "$KMSD" init --config "$W/etc/ebscrypt/kmsd.conf" --state-dir "$W/var/state" \
		--listen 127.0.0.1:0 )
	assert_eq "$(ls "$W/cwd")" ""
	[ -f "$W/etc/ebscrypt/kmsd.conf" ]
	[ -f "$W/etc/ebscrypt/admin.secret" ]
	[ -d "$W/var/state" ]
	grep -qx "state_dir = $W/var/state" "$W/etc/ebscrypt/kmsd.conf"
	pid=$(start_as_unit "$W/etc/ebscrypt/kmsd.conf") || return 1
	PIDS+=("$pid")
	port=$(listening_port "$pid") || { echo "not listening"; return 1; }
	"$KMSC" --url "http://127.0.0.1:$port/" --creds "$W/etc/ebscrypt/credentials" --profile admin \
		call CreateKey '{}' | grep -q '"KeyId"'
	[ -f "$W/var/state/kmsd.db" ]
	kill "$pid"
}

t_any_address_gets_tls() {
	local pid port
	"$KMSD" init --state-dir "$W/any" --listen 0.0.0.0 > /dev/null
	grep -qx "listen = 0.0.0.0:8700" "$W/any/kmsd.conf"
	# Any free port for the test; the rest as init wrote it.
	sed -i 's/^listen = .*/listen = 0.0.0.0:0/' "$W/any/kmsd.conf"
	pid=$(start_as_unit "$W/any/kmsd.conf") || return 1
	PIDS+=("$pid")
	port=$(listening_port "$pid") || { echo "not listening"; cat "$W/start.log"; return 1; }
	# Verified against the certificate init made, by name.
	curl -sS --cacert "$W/any/tls.crt" -d '{}' -H 'X-Amz-Target: TrentService.ListKeys' \
		-H 'Content-Type: application/x-amz-json-1.1' "https://localhost:$port/" > "$W/reply"
	grep -q '__type' "$W/reply"
	kill "$pid"
}

t_relative_paths() {
	local pid port d=$W/rel
	mkdir -p "$d"
	"$KMSD" init --state-dir "$d/conf" --listen 127.0.0.1:0 > /dev/null
	mkdir "$d/conf/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -keyout "$d/conf/tls/k.pem" -out "$d/conf/tls/c.pem" 2> /dev/null
	chmod 600 "$d/conf/tls/k.pem"
	# Relative to the config's directory, all three; the cwd (/) holds none of them.
	sed -i -e 's|^state_dir = .*|state_dir = state|' "$d/conf/kmsd.conf"
	sed -i -e '/^listen = /a tls_cert = tls/c.pem\ntls_key = tls/k.pem' "$d/conf/kmsd.conf"
	pid=$(start_as_unit "$d/conf/kmsd.conf") || return 1
	PIDS+=("$pid")
	port=$(listening_port "$pid") || { echo "not listening"; cat "$W/start.log"; return 1; }
	curl -sS --cacert "$d/conf/tls/c.pem" -d '{}' -H 'X-Amz-Target: TrentService.ListKeys' \
		-H 'Content-Type: application/x-amz-json-1.1' "https://localhost:$port/" | grep -q '__type'
	[ -f "$d/conf/state/kmsd.db" ] || { ls -R "$d"; return 1; }
	kill "$pid"
}

test_that "init --config writes the config, its secrets and the state where asked, and the daemon, started as its unit starts it, serves from it" \
	t_config_where_asked
test_that "init --listen 0.0.0.0 writes a config the daemon accepts: HTTPS with a certificate clients can verify" \
	t_any_address_gets_tls
test_that "relative tls_cert, tls_key and state_dir resolve against the config file, not the working directory" \
	t_relative_paths
tap_done
