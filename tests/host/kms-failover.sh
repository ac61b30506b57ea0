#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Failover across several KMS endpoints, on the build machine (no root):
# two ebscrypt-kmsd instances serve copies of one store (the requests here
# only Decrypt keys that exist in both), and the client library and the
# agent, given both, must keep working when the instance they use is
# killed, hangs or answers 5xx, and must never go to another instance
# after a refusal (a 4xx KMS error).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
AGENT="$BUILD/bin/ebscrypt-agent"
start=$(date +%s)
# Tests run in subshells: what they start is listed in a file the trap reads.
cleanup() {
	local p
	for p in $(cat "$TAP_TMP/pids" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	KMSD_RUN=$TAP_TMP/b kmsd_kill9
	KMSD_RUN=$TAP_TMP/a kmsd_kill9
	kmsd_cleanup
}
trap cleanup EXIT

kmsd_setup
mkdir -p "$TAP_TMP/a" "$TAP_TMP/b"
KMSD_RUN=$TAP_TMP/a
kmsd_start 0
key=$(new_key failover)
blob=$(call GenerateDataKeyWithoutPlaintext "{\"KeyId\":\"$key\",\"NumberOfBytes\":64,\"EncryptionContext\":{\"vol\":\"v1\"}}" |
	jq -er .CiphertextBlob)
arn=$(call DescribeKey "{\"KeyId\":\"$key\"}" | jq -er .KeyMetadata.Arn)
kmsd_stop
# The second instance: a copy of the stopped store, its own log.
cp -a "$STATE" "$TAP_TMP/state-b"
sed -i "s|^state_dir = .*|state_dir = $TAP_TMP/state-b|" "$TAP_TMP/state-b/kmsd.conf"

start_a() { KMSD_RUN=$TAP_TMP/a kmsd_start 0; }
start_b() { KMSD_RUN=$TAP_TMP/b KMSD_CONF=$TAP_TMP/state-b/kmsd.conf KMSD_LOG=$TAP_TMP/state-b/kmsd.log kmsd_start 0; }
url_a() { cat "$TAP_TMP/a/kmsd.url"; }
url_b() { cat "$TAP_TMP/b/kmsd.url"; }
pid_a() { cat "$TAP_TMP/a/kmsd.pid"; }
audit_count() { "$KMSD" audit --state-dir "$1" --json | wc -l; }
start_a
start_b

both() { "$KMSC" --url "$(url_a) $(url_b)" --creds "$STATE/credentials" --profile host "$@"; }

# until_lines FILE N: waits (60 s at most) until FILE has N lines.
until_lines() {
	for _ in $(seq 600); do
		if [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

t_client_survives_kill() {
	local out
	both --timeout-ms 5000 --retries 2 loop 30 100 "$blob" vol=v1 >"$TAP_TMP/loop.out" &
	local lp=$!
	# Killed once the run is under way, however slowly the machine starts it.
	until_lines "$TAP_TMP/loop.out" 3
	KMSD_RUN=$TAP_TMP/a kmsd_kill9
	wait "$lp"
	out=$(cat "$TAP_TMP/loop.out")
	echo "$out"
	assert_eq "$(grep -c '^ok ' <<<"$out")" 30
	head -1 <<<"$out" | grep -qF "ok $(url_a)"
	tail -1 <<<"$out" | grep -qF "ok $(url_b)"
}

# agent_kcv N MS: N kcv requests (each a KMS Decrypt), MS apart; one line each.
agent_kcv() {
	"$AGENT_REQUEST" "$TAP_TMP/agent.sock" --summary --count "$1" --interval "$2" \
		"{\"op\": \"kcv\", \"kms_key_arn\": \"$arn\", \"wrapped\": \"$blob\", \"context\": {\"vol\": \"v1\"}}"
}

t_agent_survives_kill() {
	local out i
	start_a
	cat >"$TAP_TMP/agent.conf" <<-CONF
	socket = $TAP_TMP/agent.sock
	kms_endpoint = $(url_a), $(url_b)
	kms_access_key_id = $(sed -n '/^\[host\]/,/^$/s/^aws_access_key_id = //p' "$STATE/credentials")
	kms_secret_access_key = $(sed -n '/^\[host\]/,/^$/s/^aws_secret_access_key = //p' "$STATE/credentials")
	kms_timeout_ms = 5000
	CONF
	if [ "$(id -u)" -ne 0 ]; then echo "group = $(id -gn)" >>"$TAP_TMP/agent.conf"; fi
	chmod 600 "$TAP_TMP/agent.conf"
	"$AGENT" --foreground --config "$TAP_TMP/agent.conf" 2>"$TAP_TMP/agent.log" &
	echo $! >>"$TAP_TMP/pids"
	for i in $(seq 100); do [ -S "$TAP_TMP/agent.sock" ] && break; sleep 0.05; done
	agent_kcv 30 100 >"$TAP_TMP/kcv.out" &
	local lp=$!
	until_lines "$TAP_TMP/kcv.out" 3
	KMSD_RUN=$TAP_TMP/a kmsd_kill9
	wait "$lp"
	out=$(cat "$TAP_TMP/kcv.out")
	echo "$out"
	assert_eq "$(grep -c '^ok$' <<<"$out")" 30
	# Both instances served some of them.
	"$KMSD" audit --state-dir "$STATE" --json | jq -e 'select(.operation == "Decrypt")' >/dev/null
	"$KMSD" audit --state-dir "$TAP_TMP/state-b" --json | jq -e 'select(.operation == "Decrypt")' >/dev/null
}

t_refusal_not_failed_over() {
	local before
	KMSD_RUN=$TAP_TMP/a kmsd_running || start_a
	before=$(audit_count "$TAP_TMP/state-b")
	refute -m 'ERROR InvalidCiphertextException' both --retries 3 decrypt "$blob" vol=other
	refute -m 'ERROR AccessDeniedException' "$KMSC" --url "$(url_a) $(url_b)" --creds "$STATE/credentials" \
		--profile outsider --retries 3 decrypt "$blob" vol=v1
	assert_eq "$(audit_count "$TAP_TMP/state-b")" "$before" "the second instance saw a request"
}

# fake_kms STATUS TYPE: a server answering every request with that error; prints its URL.
fake_kms() {
	python3 - "$1" "$2" "$TAP_TMP/fake-$1.log" <<'PY' &
import http.server, json, sys
status, typ, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"__type": typ, "message": "fake"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(log, "a") as f:
            f.write("POST\n")
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
	echo $! >>"$TAP_TMP/pids"
}

t_5xx_fails_over_4xx_does_not() {
	local p503 p400 before
	fake_kms 503 ServiceUnavailableException >"$TAP_TMP/p503"
	fake_kms 400 AccessDeniedException >"$TAP_TMP/p400"
	for _ in $(seq 100); do
		if [ -s "$TAP_TMP/p503" ] && [ -s "$TAP_TMP/p400" ]; then break; fi
		sleep 0.05
	done
	p503=$(cat "$TAP_TMP/p503")
	p400=$(cat "$TAP_TMP/p400")
	"$KMSC" --url "http://127.0.0.1:$p503/ $(url_b)" --creds "$STATE/credentials" --profile host \
		--retries 0 decrypt "$blob" vol=v1 >/dev/null
	assert_eq "$(wc -l <"$TAP_TMP/fake-503.log")" 1
	before=$(audit_count "$TAP_TMP/state-b")
	refute -m 'ERROR AccessDeniedException' "$KMSC" --url "http://127.0.0.1:$p400/ $(url_b)" \
		--creds "$STATE/credentials" --profile host --retries 3 decrypt "$blob" vol=v1
	assert_eq "$(wc -l <"$TAP_TMP/fake-400.log")" 1
	assert_eq "$(audit_count "$TAP_TMP/state-b")" "$before" "the second instance saw the refused request"
}

# A stopped (hung) instance: the call moves on within its deadline.
t_hung_instance() {
	local out
	KMSD_RUN=$TAP_TMP/a kmsd_running || start_a
	kill -STOP "$(pid_a)"
	out=$("$KMSC" --url "$(url_a) $(url_b)" --creds "$STATE/credentials" --profile host \
		--timeout-ms 6000 --retries 0 loop 1 0 "$blob" vol=v1) || { kill -CONT "$(pid_a)"; echo "$out"; return 1; }
	kill -CONT "$(pid_a)"
	echo "$out"
	grep -qF "ok $(url_b)" <<<"$out"
}

t_all_down_within_deadline() {
	local t0 t1
	KMSD_RUN=$TAP_TMP/a kmsd_kill9
	KMSD_RUN=$TAP_TMP/b kmsd_kill9
	t0=$(date +%s)
	refute -m 'ERROR Connection refused' "$KMSC" --url "$(url_a) $(url_b)" --creds "$STATE/credentials" \
		--profile host --timeout-ms 3000 --retries 20 decrypt "$blob" vol=v1
	t1=$(date +%s)
	# The deadline bounds the whole call, every endpoint and retry included.
	# (without it, 20 retries backing off up to 3.2 s each would take about a minute)
	[ $((t1 - t0)) -le 20 ]
}

test_that "a client given two endpoints keeps decrypting when the instance it uses is killed mid-run" t_client_survives_kill
test_that "the agent, given two endpoints, answers every request while the instance it uses is killed" t_agent_survives_kill
test_that "a refusal (InvalidCiphertext, AccessDenied) is final: the other instance never sees the request" t_refusal_not_failed_over
test_that "a 5xx reply fails over at once; a 4xx reply from the first endpoint is final" t_5xx_fails_over_4xx_does_not
test_that "a hung instance is left for the next within the call's deadline" t_hung_instance
test_that "with every instance down the call fails with the transport error within its deadline" t_all_down_within_deadline
echo "# kms-failover.sh: $(($(date +%s) - start)) s"
tap_done
