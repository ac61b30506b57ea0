#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Slow clients cannot starve ebscrypt-kmsd: 140 connections from one
# source, each sending a header byte every 4 s (slow enough to hold a slot,
# fast enough never to hit the idle timeout), leave the service answering
# other clients, because a source holds at most max_connections_per_source
# of them; and a request that trickles in is cut off at request_timeout_s
# however often it sends. Loopback only: the attacker connects from
# 127.0.0.2, the legitimate client from 127.0.0.1. Bounded: 140 sockets,
# about 14 s.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap 'kill $(jobs -p) 2>/dev/null; kmsd_cleanup' EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }

# slow.py PORT SOURCE COUNT SECONDS INTERVAL READYFILE: opens COUNT
# connections from SOURCE, sends a request line, then one header byte per
# connection every INTERVAL s for SECONDS s; writes READYFILE once all are
# open; prints "open N closed M" (closed: by the server) at the end.
cat >"$TAP_TMP/slow.py" <<'PY'
import socket, sys, time
port, source, count, seconds, interval, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
conns = []
for i in range(count):
    s = socket.socket()
    s.settimeout(2)
    s.bind((source, 0))
    try:
        s.connect(("127.0.0.1", int(port)))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    except OSError:
        s.close()
        continue
    conns.append(s)
open(ready, "w").close()
end = time.time() + seconds
closed = set()
while time.time() < end:
    for i, s in enumerate(conns):
        if i in closed:
            continue
        try:
            s.sendall(b"X")
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            s.setblocking(True)
            s.settimeout(2)
        except OSError:
            closed.add(i)
    time.sleep(interval)
print("open %d closed %d" % (len(conns) - len(closed), len(closed)))
PY

wait_file() {
	local i
	for i in $(seq 1 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	echo "$1 did not appear"; return 1
}

t_slow_source_does_not_starve_others() {
	local i ok=0 t0 t1
	python3 "$TAP_TMP/slow.py" "$(kmsd_port)" 127.0.0.2 140 12 4 "$TAP_TMP/ready1" >"$TAP_TMP/slow1.out" &
	wait_file "$TAP_TMP/ready1"
	sleep 1
	for i in 1 2 3; do
		t0=$(date +%s%N)
		kc --timeout-ms 4000 --retries 0 call ListKeys '{"Limit":1}' >/dev/null && ok=$((ok + 1))
		t1=$(date +%s%N)
		echo "legitimate call $i: $(( (t1 - t0) / 1000000 )) ms"
		sleep 3
	done
	wait
	cat "$TAP_TMP/slow1.out"
	assert_eq "$ok" 3 "legitimate calls answered while 140 slow connections were open"
	# What the slow source kept is its cap, not every slot.
	grep -q '^open 32 ' "$TAP_TMP/slow1.out"
}

t_request_deadline() {
	local out
	kmsd_stop
	{ printf 'request_timeout_s = 2\n'; cat "$STATE/kmsd.conf"; } >"$STATE/kmsd.conf.new"
	mv "$STATE/kmsd.conf.new" "$STATE/kmsd.conf"
	kmsd_start 0
	# One byte a second for 6 s: never idle, but past the 2 s deadline.
	out=$(python3 "$TAP_TMP/slow.py" "$(kmsd_port)" 127.0.0.1 4 6 1 "$TAP_TMP/ready2")
	echo "$out"
	assert_eq "$out" "open 0 closed 4"
	still_answers
}

test_that "140 slow connections from one source leave the service answering others" t_slow_source_does_not_starve_others
test_that "a request still trickling in after request_timeout_s is cut off" t_request_deadline
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after all of it" test "$stop_rc" -eq 0
tap_done
