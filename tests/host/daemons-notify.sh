#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The shipped units are Type=notify: `systemctl start` returns, and the
# units ordered after a daemon start (ebscrypt-attach@ after the agent),
# only once the daemon has sent READY=1 to $NOTIFY_SOCKET. Each daemon,
# started as its unit starts it (--foreground), must send it, and only once
# it serves: at the moment the datagram arrives, its socket must already
# take a connection. tests/helpers/notify-wait.py plays systemd's part.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
AGENT="$BUILD/bin/ebscrypt-agent"
NOTIFY_WAIT="$top/tests/helpers/notify-wait.py"
trap 'kill_daemons; kmsd_cleanup' EXIT

kill_daemons() {
	local p
	for p in "$TAP_TMP"/*.fgpid; do
		[ -s "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null
	done
	return 0
}

kmsd_setup
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ready_when_serving NAME CONNECT-TO CMD...: CMD in the background with
# NOTIFY_SOCKET set; READY=1 must come within 20 s, and CONNECT-TO
# (tcp:HOST:PORT or unix:PATH) must take a connection when it does.
ready_when_serving() {
	local name=$1 target=$2 sock=$TAP_TMP/$1.notify
	shift 2
	rm -f "$sock"
	"$NOTIFY_WAIT" --bind "$sock" --timeout 20 --connect "$target" > "$TAP_TMP/$name.ready" &
	local waiter=$!
	# The waiter binds before the daemon starts.
	for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
	NOTIFY_SOCKET=$sock "$@" < /dev/null >> "$TAP_TMP/$name.log" 2>&1 &
	echo $! > "$TAP_TMP/$name.fgpid"
	if ! wait "$waiter"; then
		cat "$TAP_TMP/$name.ready" "$TAP_TMP/$name.log"
		return 1
	fi
	assert_eq "$(cat "$TAP_TMP/$name.ready")" "READY=1 connected"
}

t_kmsd_ready() {
	ready_when_serving kmsd "tcp:127.0.0.1:$PORT" \
		"$KMSD" --config "$KMSD_CONF" --listen "127.0.0.1:$PORT" --foreground
}

t_agent_ready() {
	agent_conf "http://127.0.0.1:$PORT/"
	ready_when_serving agent "unix:$TAP_TMP/agent.sock" \
		"$AGENT" --config "$TAP_TMP/agent.conf" --foreground
}

# Without a service manager there is nobody to tell, and nothing to fail.
t_no_notify_socket() {
	local pid
	"$AGENT" --config "$TAP_TMP/agent.conf" --foreground < /dev/null > "$TAP_TMP/plain.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do grep -q 'listening on' "$TAP_TMP/plain.log" && break; sleep 0.05; done
	kill -TERM "$pid"
	wait "$pid"
	grep -q 'listening on' "$TAP_TMP/plain.log"
	refute grep -qi 'service manager' "$TAP_TMP/plain.log"
}

test_that "ebscrypt-kmsd sends READY=1 to the service manager once it accepts connections" t_kmsd_ready
test_that "ebscrypt-agent sends READY=1 to the service manager once its socket accepts connections" t_agent_ready
kill -KILL "$(cat "$TAP_TMP/agent.fgpid")" 2>/dev/null
test_that "without NOTIFY_SOCKET the agent serves and says nothing of a service manager" t_no_notify_socket
tap_done
