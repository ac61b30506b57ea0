# SPDX-License-Identifier: GPL-2.0
#
# Private test networks for guests: a network namespace that the test
# creates, with one bridge and a tap device per guest NIC. Every address is
# in 192.0.2.0/24 (TEST-NET-1, documentation only) and exists only inside
# the namespace; the namespace has no route and no interface to the outside,
# so nothing a guest or a server sends can leave the machine.
#
#   . tests/vm/netns.sh
#   testnet_create NS            namespace NS: lo up, bridge ebsbr0 with
#                                $TESTNET_HOST_IP/24 (the "host side")
#   testnet_tap NS TAP           a tap on the bridge, for `--net TAP`
#   testnet_exec NS CMD...       runs CMD inside NS (servers listen on
#                                $TESTNET_HOST_IP there; guests reach them)
#   testnet_assert_isolated NS   fails unless NS has no default route, no
#                                route off 192.0.2.0/24 and no interface but
#                                lo, the bridge and our taps
#   testnet_destroy NS           kills every process in NS, removes it
#   testnet_pki DIR CN-IP        a test CA (DIR/ca.crt) and a server
#                                certificate for that IP (DIR/server.crt,
#                                DIR/server.key)
#   testnet_kmsd_start NS DIR PKI [PORT]
#                                ebscrypt-kmsd with a fresh state in DIR,
#                                serving HTTPS on $TESTNET_HOST_IP:PORT
#                                (default 8443) inside NS; credentials in
#                                DIR/state/credentials; stop: testnet_kmsd_stop.
#                                DIR/top.conf (settings) and DIR/principals.conf
#                                ([principal] sections), when present, are
#                                added to the config that init writes
#   testnet_nbd_start NS DIR NAME=FILE...
#                                nbd-server on $TESTNET_HOST_IP:10809 in NS,
#                                exporting each FILE under NAME; guests use
#                                `nbd-client -N NAME 192.0.2.1 /dev/nbd0`
#
# Guests: tests/vm/guest start DIR --netns NS --net TAP,ip=192.0.2.N/24 (or
# tests/vm/sysguest ... --netns NS --net TAP,ip=...). Use 192.0.2.10 and up
# for guests. Namespace names must be unique per test run: include $$.
# Needs root (ip netns, tuntap), as the rest of the VM harness does.

TESTNET_HOST_IP=192.0.2.1
TESTNET_BRIDGE=ebsbr0
TESTNET_TOP=${TESTNET_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

testnet_exec() {
	local ns=$1
	shift
	nsenter "--net=/run/netns/$ns" -- "$@"
}

testnet_create() {
	local ns=$1
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	# Only IPv4 on the bridge: no router solicitations, no SLAAC chatter.
	testnet_exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link add "$TESTNET_BRIDGE" type bridge
	ip -n "$ns" addr add "$TESTNET_HOST_IP/24" dev "$TESTNET_BRIDGE"
	ip -n "$ns" link set "$TESTNET_BRIDGE" up
}

testnet_tap() {
	local ns=$1 tap=$2
	ip -n "$ns" tuntap add dev "$tap" mode tap || return 1
	ip -n "$ns" link set "$tap" master "$TESTNET_BRIDGE"
	ip -n "$ns" link set "$tap" up
}

testnet_assert_isolated() {
	local ns=$1 bad="" l name kind
	if [ -n "$(ip -n "$ns" -4 route show default)$(ip -n "$ns" -6 route show default 2>/dev/null)" ]; then
		echo "namespace $ns has a default route:"; ip -n "$ns" route show default
		return 1
	fi
	# Every IPv4 route must stay on the test subnet.
	bad=$(ip -n "$ns" -4 route show table all | grep -vE '^(local |broadcast )?192\.0\.2\.|^(local |broadcast )?127\.' || true)
	[ -z "$bad" ] || { echo "namespace $ns routes elsewhere: $bad"; return 1; }
	# Interfaces: lo, the bridge, and tap devices (which lead only to QEMU).
	while read -r l; do
		name=$(jq -r .ifname <<< "$l")
		kind=$(jq -r '.linkinfo.info_kind // "none"' <<< "$l")
		case "$name:$kind" in
		lo:none|"$TESTNET_BRIDGE":bridge|*:tun) ;;
		*) echo "namespace $ns has interface $name of kind $kind"; return 1 ;;
		esac
	done < <(ip -n "$ns" -d -j link show | jq -c '.[]')
}

testnet_destroy() {
	local ns=$1 pid pids i
	[ -e "/run/netns/$ns" ] || return 0
	for i in 1 2 3; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] || break
		for pid in $pids; do kill -9 "$pid" 2>/dev/null; done
		sleep 0.2
	done
	ip netns del "$ns"
}

# P-256 keys: made in milliseconds, and a TCG guest's handshake verifies
# them far faster than RSA-2048's.
testnet_pki() {
	local dir=$1 addr=$2
	mkdir -p "$dir"
	(
		cd "$dir" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj "/CN=ebscrypt test network CA" -addext basicConstraints=critical,CA:TRUE &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=$addr" &&
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$addr" > ext &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile ext -out server.crt &&
		chmod 600 ./*.key
	) > "$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log"; return 1; }
}

# In the foreground (with its log on stderr), so the test owns its pid.
testnet_kmsd_start() {
	local ns=$1 dir=$2 pki=$3 port=${4:-8443} kmsd i
	kmsd=${KMSD:-$TESTNET_TOP/build/bin/ebscrypt-kmsd}
	mkdir -p "$dir"
	"$kmsd" init --state-dir "$dir/state" --listen "$TESTNET_HOST_IP:$port" > "$dir/init.log" || return 1
	# Top-level settings go before the first [principal] section; top.conf's
	# come after init's, so they override them. init's own self-signed
	# certificate (it writes one for an address off loopback) gives way to
	# the test PKI's, which the clients trust.
	{ printf 'tls_cert = %s\ntls_key = %s\n' "$pki/server.crt" "$pki/server.key"
	  awk -v top="$dir/top.conf" '/^tls_(cert|key) *=/ { next }
		/^\[principal/ && !done { while ((getline l < top) > 0) print l; done = 1 } { print }' \
		"$dir/state/kmsd.conf"; cat "$dir/principals.conf" 2>/dev/null || :; } \
		> "$dir/state/kmsd.conf.new" && mv "$dir/state/kmsd.conf.new" "$dir/state/kmsd.conf"
	# nsenter itself, not testnet_exec: a backgrounded function runs in a
	# subshell, whose pid is not the daemon's, and testnet_kmsd_stop would
	# kill that subshell and leave kmsd serving.
	nsenter "--net=/run/netns/$ns" -- "$kmsd" --state-dir "$dir/state" --foreground < /dev/null > /dev/null 2> "$dir/kmsd.log" &
	echo $! > "$dir/kmsd.pid"
	for i in $(seq 1 100); do
		grep -q 'listening on' "$dir/kmsd.log" && { echo "https://$TESTNET_HOST_IP:$port/"; return 0; }
		kill -0 "$(cat "$dir/kmsd.pid")" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/kmsd.log" >&2
	return 1
}

testnet_kmsd_stop() {
	local pid
	pid=$(cat "$1/kmsd.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
}

testnet_nbd_start() {
	local ns=$1 dir=$2 e i
	shift 2
	mkdir -p "$dir"
	{
		printf '[generic]\nuser = root\ngroup = root\nlistenaddr = %s\nport = 10809\n' "$TESTNET_HOST_IP"
		for e in "$@"; do printf '[%s]\nexportname = %s\n' "${e%%=*}" "${e#*=}"; done
	} > "$dir/nbd.conf"
	# It detaches (its -d mode would serve one connection only) and says
	# where it went in the pid file.
	rm -f "$dir/nbd.pid"
	testnet_exec "$ns" nbd-server -C "$dir/nbd.conf" -p "$dir/nbd.pid" < /dev/null > "$dir/nbd.log" 2>&1 ||
		{ cat "$dir/nbd.log" >&2; return 1; }
	for i in $(seq 1 50); do
		testnet_exec "$ns" ss -Htln "sport = :10809" | grep -q . && [ -s "$dir/nbd.pid" ] && return 0
		sleep 0.1
	done
	cat "$dir/nbd.log" >&2
	return 1
}

testnet_nbd_stop() {
	local pid
	pid=$(cat "$1/nbd.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
}
