#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd and ebscrypt-agent started the way their man pages say: without
# --foreground, so the command detaches and returns once the daemon serves,
# with the random credentials `ebscrypt-kmsd init` writes, and again inside a
# sandbox that reproduces what the shipped systemd units impose
# (ProtectSystem=strict with their ReadWritePaths, ProtectHome, PrivateTmp,
# PrivateDevices, NoNewPrivileges, LimitCORE=0, LimitMEMLOCK, UMask=0077).
# Every request here is SigV4-signed: a daemon that lost its secrets when it
# detached answers InvalidSignatureException.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
BUILD=${BUILD:-$top/build}
KMSD="$BUILD/bin/ebscrypt-kmsd"
AGENT="$BUILD/bin/ebscrypt-agent"
KMSC="$BUILD/tests/helpers/kmsc"

# Under /run when we may write there: the units' own writable places are
# /var/lib/ebscrypt-kmsd and /run, and a sandbox with PrivateTmp= hides /tmp.
rm -rf "$TAP_TMP"
TAP_TMP=$(mktemp -d /run/ebscrypt-detached.XXXXXX 2>/dev/null || mktemp -d)
STATE="$TAP_TMP/state" KMSD_CONF="$TAP_TMP/state/kmsd.conf" KMSD_LOG="$TAP_TMP/kmsd.log" KMSD_RUN="$TAP_TMP"
trap 'stop_all; rm -rf "$TAP_TMP"' EXIT
# The daemons run from a copy beside the state, as from an installed
# /usr/sbin: a build tree under /tmp is out of sight in the units' sandbox.
if [ -x "$KMSD" ] && [ -x "$AGENT" ]; then
	mkdir -p "$TAP_TMP/sbin"
	cp "$KMSD" "$AGENT" "$TAP_TMP/sbin/"
	KMSD=$TAP_TMP/sbin/ebscrypt-kmsd AGENT=$TAP_TMP/sbin/ebscrypt-agent
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop PIDFILE: SIGTERM; the daemon must exit and remove its pid file.
stop() {
	local pid i
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	kill -TERM "$pid" 2>/dev/null || :
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		echo "pid $pid ignored SIGTERM"
		return 1
	fi
	[ ! -e "$1" ] || { echo "$1 left behind"; return 1; }
}
stop_all() {
	stop "$TAP_TMP/kmsd.pid" >/dev/null 2>&1
	stop "$TAP_TMP/agent.pid" >/dev/null 2>&1
}

# unit_sandbox UNIT RW_DIR CMD...: CMD in a mount namespace shaped like the
# unit's sandbox. Both units: empty /tmp, /var/tmp, /home, /root
# (PrivateTmp, ProtectHome), no new privileges, no core dumps, locked memory
# capped at LimitMEMLOCK (or this machine's lower hard limit). kmsd also:
# everything read-only but RW_DIR (ProtectSystem=strict with its
# ReadWritePaths), a /dev with the pseudo-devices only (PrivateDevices),
# read-only /proc/sys and /sys (ProtectKernelTunables), UMask=0077.
unit_sandbox() {
	local unit=$1 rw=$2 memlock
	shift 2
	memlock=$(ulimit -Hl)
	if [ "$memlock" = unlimited ] || [ "$memlock" -gt 16384 ]; then memlock=16384; fi
	unshare -m --propagation private /bin/sh -eu -c '
		unit=$1 rw=$2 memlock=$3
		shift 3
		if [ "$unit" = kmsd ]; then
			findmnt -rn -o TARGET | grep -v -e "^/proc" -e "^/sys" -e "^/dev" | while read -r m; do
				mount -n -o remount,bind,ro "$m" 2>/dev/null || :
			done
			mount -n --bind "$rw" "$rw"
			mount -n -o remount,bind,rw "$rw"
			mkdir -p "$rw/.dev"
			mount -n -t tmpfs -o mode=0755 tmpfs "$rw/.dev"
			for n in null zero full random urandom tty; do
				touch "$rw/.dev/$n"
				mount -n --bind "/dev/$n" "$rw/.dev/$n"
			done
			mkdir "$rw/.dev/pts" "$rw/.dev/shm"
			mount -n --rbind /dev/pts "$rw/.dev/pts"
			mount -n -t tmpfs tmpfs "$rw/.dev/shm"
			mount -n --move "$rw/.dev" /dev
			mount -n --bind /proc/sys /proc/sys
			mount -n -o remount,bind,ro /proc/sys
			mount -n -o remount,bind,ro /sys 2>/dev/null || :
			umask 077
		fi
		for d in /tmp /var/tmp /home /root; do
			if [ -d "$d" ]; then mount -n -t tmpfs -o mode=0700 tmpfs "$d"; fi
		done
		exec prlimit --core=0 --memlock=$((memlock * 1024)) setpriv --no-new-privs "$@"
	' sandbox "$unit" "$rw" "$memlock" "$@"
}

can_sandbox() {
	[ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null &&
		command -v setpriv >/dev/null && command -v prlimit >/dev/null &&
		case "$TAP_TMP" in /run/*) true ;; *) false ;; esac
}

# kmsd_detached [WRAPPER...]: starts the daemon as the man page does, from
# another directory, with a relative --state-dir; returns its status.
kmsd_detached() {
	local port
	port=$(free_port)
	echo "http://127.0.0.1:$port/" >"$TAP_TMP/kmsd.url"
	(cd "$TAP_TMP" && "$@" "$KMSD" --state-dir state --listen "127.0.0.1:$port" \
		--pidfile "$TAP_TMP/kmsd.pid" 2>>"$KMSD_LOG")
}

# The daemon must be a detached process: its own session, not our child.
is_detached() {
	local pid sid
	pid=$(cat "$1")
	kill -0 "$pid"
	sid=$(ps -o sid= -p "$pid" | tr -d ' ')
	assert_eq "$sid" "$pid" "the daemon leads its own session"
}

# A signed round trip with the admin's and the host's init-generated secrets.
signed_round_trip() {
	local id blob plain
	id=$(new_key detached)
	[ -n "$id" ]
	blob=$(call --profile host Encrypt "{\"KeyId\":\"$id\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionContext\":{\"v\":\"1\"}}" |
		jq -er .CiphertextBlob)
	plain=$(call --profile host Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"v\":\"1\"}}" |
		jq -er .Plaintext)
	assert_eq "$plain" aGVsbG8= "Decrypt returns what Encrypt took"
}

t_kmsd_detached_serves() {
	kmsd_detached
	is_detached "$TAP_TMP/kmsd.pid"
	# No waiting: the command returned, so the daemon serves.
	signed_round_trip
}

# ASan makes mlock() a no-op, so this one runs the plain build's daemon.
PLAIN_KMSD=$top/build/bin/ebscrypt-kmsd
t_kmsd_secrets_locked() {
	local pid lck
	KMSD=$PLAIN_KMSD
	stop "$TAP_TMP/kmsd.pid"
	kmsd_detached
	pid=$(cat "$TAP_TMP/kmsd.pid")
	lck=$(awk '/^VmLck:/ {print $2}' "/proc/$pid/status")
	# The root key and three principals' secrets, a locked page each.
	[ "$lck" -ge 16 ] || { echo "only $lck kB locked in the detached daemon"; return 1; }
}

t_kmsd_sigterm_removes_pidfile() {
	stop "$TAP_TMP/kmsd.pid"
}

t_kmsd_failed_start_reports() {
	local port
	python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(20)' >"$TAP_TMP/busy" &
	for _ in $(seq 1 100); do [ -s "$TAP_TMP/busy" ] && break; sleep 0.05; done
	port=$(cat "$TAP_TMP/busy")
	refute -m "cannot listen on 127.0.0.1:$port" "$KMSD" --config "$KMSD_CONF" --listen "127.0.0.1:$port" \
		--pidfile "$TAP_TMP/kmsd.pid"
	kill %1
	[ ! -e "$TAP_TMP/kmsd.pid" ]
}

# A second daemon given the same pid file must not take it from the first:
# it would lose track of the first one, whose exit would then remove the
# second's file.
t_kmsd_second_refused() {
	local first url
	kmsd_detached
	first=$(cat "$TAP_TMP/kmsd.pid") url=$(cat "$TAP_TMP/kmsd.url")
	: >"$KMSD_LOG"
	refute kmsd_detached
	cat "$KMSD_LOG"
	grep -q "held by a running daemon (pid $first)" "$KMSD_LOG"
	assert_eq "$(cat "$TAP_TMP/kmsd.pid")" "$first" "the first daemon keeps its pid file"
	echo "$url" >"$TAP_TMP/kmsd.url"
	signed_round_trip
}

# A daemon killed with SIGKILL leaves its file behind, unlocked.
t_kmsd_stale_pidfile_taken_over() {
	local old
	old=$(cat "$TAP_TMP/kmsd.pid")
	kill -KILL "$old"
	for _ in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
	[ -s "$TAP_TMP/kmsd.pid" ]
	kmsd_detached
	[ "$(cat "$TAP_TMP/kmsd.pid")" != "$old" ]
	signed_round_trip
	stop "$TAP_TMP/kmsd.pid"
}

t_kmsd_in_unit_sandbox() {
	kmsd_detached unit_sandbox kmsd "$TAP_TMP"
	is_detached "$TAP_TMP/kmsd.pid"
	signed_round_trip
	stop "$TAP_TMP/kmsd.pid"
}

agent_req() {
	"$AGENT_REQUEST" "$TAP_TMP/agent.sock" "$1"
}

# The agent unwraps a data key through KMS Decrypt: its signature must hold.
agent_unwraps() {
	local id wrapped out
	id=$(new_key agent)
	wrapped=$(call GenerateDataKeyWithoutPlaintext \
		"{\"KeyId\":\"$id\",\"NumberOfBytes\":64,\"EncryptionContext\":{\"volume\":\"vol-0123456789abcdef0\"}}" |
		jq -er .CiphertextBlob)
	out=$(agent_req "{\"op\":\"kcv\",\"kms_key_arn\":\"$id\",\"wrapped\":\"$wrapped\",\"context\":{\"volume\":\"vol-0123456789abcdef0\"}}")
	echo "$out"
	echo "$out" | jq -e '.ok == true and (.kcv | length) > 0' >/dev/null
}

t_agent_detached_unwraps() {
	kmsd_detached
	agent_conf
	(cd / && "$AGENT" --config "$TAP_TMP/agent.conf" --pidfile "$TAP_TMP/agent.pid" 2>>"$TAP_TMP/agent.log")
	# Returned: the socket listens already.
	[ -S "$TAP_TMP/agent.sock" ]
	is_detached "$TAP_TMP/agent.pid"
	agent_unwraps
}

# A second agent on the same socket would unlink the first one's: the first
# would go on listening on a socket no client can reach.
t_agent_second_refused() {
	refute -m "another ebscrypt-agent is listening on $TAP_TMP/agent.sock" \
		"$AGENT" --config "$TAP_TMP/agent.conf" --pidfile "$TAP_TMP/agent2.pid"
	[ ! -e "$TAP_TMP/agent2.pid" ]
	agent_unwraps
	stop "$TAP_TMP/agent.pid"
}

# Killed with SIGKILL, an agent leaves its socket behind with nobody on it.
t_agent_stale_socket_taken_over() {
	(cd / && "$AGENT" --config "$TAP_TMP/agent.conf" --pidfile "$TAP_TMP/agent.pid" 2>>"$TAP_TMP/agent.log")
	kill -KILL "$(cat "$TAP_TMP/agent.pid")"
	for _ in $(seq 1 100); do kill -0 "$(cat "$TAP_TMP/agent.pid")" 2>/dev/null || break; sleep 0.05; done
	[ -S "$TAP_TMP/agent.sock" ]
	(cd / && "$AGENT" --config "$TAP_TMP/agent.conf" --pidfile "$TAP_TMP/agent.pid" 2>>"$TAP_TMP/agent.log")
	agent_unwraps
	stop "$TAP_TMP/agent.pid"
	stop "$TAP_TMP/kmsd.pid"
}

t_agent_in_unit_sandbox() {
	unit_sandbox agent "$TAP_TMP" "$AGENT" --config "$TAP_TMP/agent.conf" --pidfile "$TAP_TMP/agent.pid" \
		2>>"$TAP_TMP/agent.log"
	is_detached "$TAP_TMP/agent.pid"
	agent_unwraps
	stop "$TAP_TMP/agent.pid"
	stop "$TAP_TMP/kmsd.pid"
}

[ -x "$KMSC" ] || { tap_skip "detached daemons" "no $KMSC (make -C tests)"; tap_done; }
kmsd_setup
test_that "ebscrypt-kmsd started without --foreground returns once it serves requests signed with init's secrets" t_kmsd_detached_serves
if [ -x "$PLAIN_KMSD" ] && ! ldd "$PLAIN_KMSD" | grep -q libasan; then
	test_that "a detached ebscrypt-kmsd keeps its secrets in locked memory" t_kmsd_secrets_locked
else
	tap_skip "a detached ebscrypt-kmsd keeps its secrets in locked memory" "no plain build in $top/build (ASan ignores mlock)"
fi
test_that "SIGTERM stops the detached ebscrypt-kmsd and removes its pid file" t_kmsd_sigterm_removes_pidfile
test_that "a detached ebscrypt-kmsd that cannot listen exits non-zero with the reason and no pid file" t_kmsd_failed_start_reports
test_that "a second ebscrypt-kmsd given a running one's pid file refuses to start and leaves the file alone" t_kmsd_second_refused
test_that "the pid file a killed ebscrypt-kmsd left behind does not stop the next start" t_kmsd_stale_pidfile_taken_over
test_that "ebscrypt-agent started without --foreground returns once it listens and unwraps keys through KMS" t_agent_detached_unwraps
test_that "a second ebscrypt-agent on a running one's socket refuses to start, and the first keeps serving" t_agent_second_refused
test_that "the socket a killed ebscrypt-agent left behind does not stop the next start" t_agent_stale_socket_taken_over
if can_sandbox; then
	test_that "ebscrypt-kmsd detached inside the kmsd unit's sandbox serves signed requests" t_kmsd_in_unit_sandbox
	kmsd_detached
	agent_conf
	test_that "ebscrypt-agent detached inside the agent unit's sandbox unwraps keys through KMS" t_agent_in_unit_sandbox
else
	tap_skip "the daemons inside the units' sandbox" "needs root, mount namespaces, setpriv and prlimit"
fi
# Detached daemons are nobody's children: one a test forgot would outlive
# the run, holding a port and its state directory.
t_no_daemon_outlives_the_tests() {
	local left
	left=$(pgrep -f "^$TAP_TMP/sbin/" || :)
	[ -z "$left" ] || { ps -o pid,args -p "$(echo $left | tr ' ' ,)"; return 1; }
}
test_that "every daemon these tests started has exited by the end" t_no_daemon_outlives_the_tests
tap_done
