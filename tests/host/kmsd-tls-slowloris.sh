#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Clients that never finish the TLS handshake cannot starve ebscrypt-kmsd's
# HTTPS port: one source opens 150 TCP connections (more than
# max_connections, 128), 10 of them dribbling a ClientHello a byte every
# 0.4 s and the rest silent. The source keeps at most
# max_connections_per_source (32) of them, the others being closed at
# accept, so a client at another address gets its answers at once; and
# every connection the source kept is closed at the handshake deadline
# (connection_timeout_s, 5 s here), the dribbling ones included. The
# certificate is the one `init` makes for a non-loopback address.
# Loopback only: the attacker connects from 127.0.0.2, the legitimate
# client from 127.0.0.1. Bounded: 150 sockets, about 12 s.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap 'kill $(jobs -p) 2>/dev/null; kmsd_cleanup' EXIT

TIMEOUT_S=5

"$KMSD" init --state-dir "$STATE" --listen 0.0.0.0:0 >/dev/null
# init writes every setting; a second line would override the first.
sed -i "s/^connection_timeout_s = .*/connection_timeout_s = $TIMEOUT_S/" "$STATE/kmsd.conf"
grep -q "^connection_timeout_s = $TIMEOUT_S\$" "$STATE/kmsd.conf"
grep -q '^tls_cert = tls.crt$' "$STATE/kmsd.conf"
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
case "$(kmsd_url)" in https://*) ;; *) echo "not ok 1 - the service speaks HTTPS"; exit 1 ;; esac

# handshake.py PORT SOURCE DRIBBLING SILENT DEADLINE READYFILE: opens
# DRIBBLING connections that send a ClientHello one byte every 0.4 s, then
# SILENT ones that send nothing; writes READYFILE once all are open; for
# DEADLINE + 4 s notes when the server closes each. Prints, per kind, how
# many were closed before half the deadline (refused at accept: at once,
# but a loaded machine may take a while to notice), how many later (held),
# how many were still open at the end, the longest a held one lasted and
# the latest a refused one was noticed.
cat >"$TAP_TMP/handshake.py" <<'PY'
import os, select, socket, sys, time
port, source = int(sys.argv[1]), sys.argv[2]
dribbling, silent, deadline, ready = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
# A TLS record of 512 bytes holding a ClientHello: the server can do
# nothing with it before the last byte, which never comes in time.
hello = bytes.fromhex("1603010200" "010001fc" "0303") + os.urandom(32) + bytes(474)
conns = []
for kind, n in (("dribbling", dribbling), ("silent", silent)):
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        s.bind((source, 0))
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()  # a full accept queue: not one the server kept
            continue
        s.setblocking(False)
        conns.append({"s": s, "kind": kind, "opened": time.monotonic(), "closed": None})
open(ready, "w").close()

def close(c):
    c["closed"] = time.monotonic()
    c["s"].close()

end = time.monotonic() + deadline + 4
pos, next_drip = 0, time.monotonic()
while time.monotonic() < end:
    live = [c for c in conns if c["closed"] is None]
    if not live:
        break
    readable, _, _ = select.select([c["s"] for c in live], [], [], 0.05)
    for c in live:
        if c["s"] in readable:
            try:
                if c["s"].recv(4096) == b"":
                    close(c)
            except BlockingIOError:
                pass
            except OSError:
                close(c)
    if time.monotonic() >= next_drip and pos < len(hello):
        for c in live:
            if c["kind"] == "dribbling" and c["closed"] is None:
                try:
                    c["s"].send(hello[pos:pos + 1])
                except BlockingIOError:
                    pass
                except OSError:
                    close(c)
        pos += 1
        next_drip += 0.4
for kind in ("dribbling", "silent"):
    mine = [c for c in conns if c["kind"] == kind]
    refused = [c for c in mine if c["closed"] is not None and c["closed"] - c["opened"] < deadline / 2]
    held = [c for c in mine if c["closed"] is not None and c["closed"] - c["opened"] >= deadline / 2]
    still = [c for c in mine if c["closed"] is None]
    longest = max([c["closed"] - c["opened"] for c in held] or [0])
    slowest = max([c["closed"] - c["opened"] for c in refused] or [0])
    print("%s refused %d held %d open %d longest %.1f slowest-refusal %.1f" %
          (kind, len(refused), len(held), len(still), longest, slowest))
PY

wait_file() {
	local i
	for i in $(seq 1 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	echo "$1 did not appear"; return 1
}

# The project's client over TLS, verified against init's certificate.
kcs() {
	"$KMSC" --url "$(kmsd_url)" --ca "$STATE/tls.crt" --creds "$STATE/credentials" --profile admin "$@"
}

# field KIND WORD: the number after WORD on KIND's line of the report.
field() {
	sed -n "s/^$1 .*$2 \([0-9.]*\).*/\1/p" "$TAP_TMP/attack.out"
}

t_handshake_flood() {
	local i ok=0 t0 t1 start ms held open longest attacker
	python3 "$TAP_TMP/handshake.py" "$(kmsd_port)" 127.0.0.2 10 140 "$TIMEOUT_S" \
		"$TAP_TMP/ready" >"$TAP_TMP/attack.out" &
	attacker=$!
	wait_file "$TAP_TMP/ready"
	start=$(date +%s%N)
	sleep 0.2
	# While every connection the flood kept is still in its handshake.
	for i in 1 2; do
		t0=$(date +%s%N)
		kcs --retries 0 --timeout-ms 3000 describe alias/aws/ebs | grep -q ' Enabled 1$' && ok=$((ok + 1))
		ms=$((($(date +%s%N) - t0) / 1000000))
		echo "legitimate call $i: $ms ms"
	done
	# openssl s_client's handshake too.
	timeout 3 openssl s_client -connect "127.0.0.1:$(kmsd_port)" -CAfile "$STATE/tls.crt" \
		-verify_return_error </dev/null >/dev/null 2>&1 && ok=$((ok + 1))
	t1=$(date +%s%N)
	wait "$attacker"
	cat "$TAP_TMP/attack.out"
	assert_eq "$ok" 3 "legitimate TLS clients answered during the flood"
	# Else they may have come after the deadline had cleared the flood away.
	[ $(( (t1 - start) / 1000000 )) -lt $((TIMEOUT_S * 1000 - 500)) ] ||
		{ echo "the legitimate calls ended $(( (t1 - start) / 1000000 )) ms into the flood: too late to tell"; return 1; }
	held=$(( $(field dribbling held) + $(field silent held) ))
	open=$(( $(field dribbling open) + $(field silent open) ))
	assert_eq "$held" 32 "connections the flooding source kept (max_connections_per_source)"
	assert_eq "$open" 0 "flood connections still open after the handshake deadline"
	# The dribbling ones were kept and never outlived the deadline for sending.
	[ "$(field dribbling held)" -ge 1 ] || { echo "no dribbling connection was kept"; return 1; }
	longest=$(printf '%s\n%s\n' "$(field dribbling longest)" "$(field silent longest)" | sort -n | tail -1)
	awk -v l="$longest" -v t="$TIMEOUT_S" 'BEGIN { exit !(l >= t - 0.5 && l <= t + 1.5) }' ||
		{ echo "held for up to $longest s, not the $TIMEOUT_S s deadline"; return 1; }
	kmsd_log | grep -q 'connections from 127.0.0.2 open (max_connections_per_source)'
}

# The handshake is part of the first request: with a request deadline
# shorter than the idle timeout, a silent client is dropped at the former.
t_handshake_within_request_deadline() {
	local a t0 t1
	kmsd_stop
	{ printf 'request_timeout_s = 2\n'; cat "$STATE/kmsd.conf"; } >"$STATE/kmsd.conf.new"
	mv "$STATE/kmsd.conf.new" "$STATE/kmsd.conf"
	kmsd_start 0
	exec {a}<>"/dev/tcp/127.0.0.1/$(kmsd_port)"
	t0=$(date +%s%N)
	timeout $((TIMEOUT_S * 2)) cat <&"$a" >/dev/null
	t1=$(date +%s%N)
	exec {a}>&-
	echo "dropped after $(( (t1 - t0) / 1000000 )) ms"
	[ $(( (t1 - t0) / 1000000 )) -ge 1500 ]
	[ $(( (t1 - t0) / 1000000 )) -lt 3500 ]
	kcs --retries 0 --timeout-ms 2000 describe alias/aws/ebs | grep -q ' Enabled 1$'
}

test_that "a flood of unfinished TLS handshakes from one source leaves HTTPS answering others, and is dropped at the deadline" \
	t_handshake_flood
test_that "a TLS handshake must also finish within request_timeout_s when that is shorter" \
	t_handshake_within_request_deadline
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after the flood" test "$stop_rc" -eq 0
tap_done
