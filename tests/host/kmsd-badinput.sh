#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd against hostile requests: bad signatures, malformed and
# oversize bodies, wrong types, bad base64, damaged blobs, unknown
# operations, missing headers, raw garbage and slow clients. Each is a list
# of inputs that must all be refused with the right AWS error, and the
# service must still answer afterwards.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

# The slow-client test below holds 40 connections from the test's own
# address; the per-source cap has its own test (kmsd-slowloris.sh).
KMSD_EXTRA_CONF="connection_timeout_s = 2
max_connections = 64
max_connections_per_source = 64"
kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
KEY=$(new_key badinput)

t_signed_raw_ok() {
	raw_expect 200 none ListKeys '{}'
}

t_altered_headers() {
	local h
	for h in "Host=127.0.0.1:1" "X-Amz-Date=$(date -u -d '-1 minute' +%Y%m%dT%H%M%SZ)" \
		 "X-Amz-Target=TrentService.ListAliases" "Content-Type=application/x-amz-json-1.0"; do
		raw_expect 400 InvalidSignatureException ListKeys '{}' --after "$h"
	done
	raw_expect 400 InvalidSignatureException ListKeys '{}' --after-body '{"Limit":1}'
	raw_expect 400 InvalidSignatureException ListKeys '{}' --set X-Extra=1 --after X-Extra=2
	still_answers
}

t_bad_credentials() {
	raw_expect 403 MissingAuthenticationTokenException ListKeys '{}' --no-auth
	raw_expect 400 UnrecognizedClientException ListKeys '{}' --akid AKIAUNKNOWNKEY000000
	raw_expect 400 InvalidSignatureException ListKeys '{}' --date "$(date -u -d '-16 minutes' +%Y%m%dT%H%M%SZ)"
	raw_expect 400 InvalidSignatureException ListKeys '{}' --date "$(date -u -d '+16 minutes' +%Y%m%dT%H%M%SZ)"
	raw_expect 400 InvalidSignatureException ListKeys '{}' --date 20150830T123600Z
	raw_expect 200 none ListKeys '{}' --date "$(date -u -d '-10 minutes' +%Y%m%dT%H%M%SZ)"
	refute -m '^ERROR InvalidSignatureException$' call --profile wrongsecret ListKeys '{}'
	local a
	for a in "garbage" "AWS4-HMAC-SHA256" "AWS4-HMAC-SHA256 Credential=x" \
		 "AWS4-HMAC-SHA256 Credential=AKIA/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=zz" \
		 "Basic dXNlcjpwYXNz"; do
		raw_expect 400 IncompleteSignatureException ListKeys '{}' --no-auth --set "Authorization=$a"
	done
	raw_expect 400 IncompleteSignatureException ListKeys '{}' --omit X-Amz-Date
	still_answers
}

t_malformed_json() {
	local b
	printf '{"KeyId":"x",\x00"a":1}' >"$TAP_TMP/nul.json"
	head -c 3000 /dev/urandom >"$TAP_TMP/random.bin"
	python3 -c 'print("[" * 5000 + "]" * 5000, end="")' >"$TAP_TMP/deep.json"
	for b in '{' '}' '[]' '"x"' '42' 'null' '{"KeyId":}' '{"KeyId":"a" "b"}' '{} {}' '{"a":1,}' \
		 "{'KeyId':'x'}" '{"KeyId":"\ud800"' 'NaN' '' @"$TAP_TMP/nul.json" @"$TAP_TMP/random.bin" \
		 @"$TAP_TMP/deep.json"; do
		raw_expect 400 SerializationException DescribeKey "$b" || return 1
	done
	still_answers
}

t_wrong_types() {
	local b
	for b in '{"KeyId":5}' '{"KeyId":["x"]}' '{"KeyId":{"a":"b"}}' '{"KeyId":true}' '{"KeyId":null,"x":1}'; do
		raw_expect 400 "$( [ "$b" = '{"KeyId":null,"x":1}' ] && echo ValidationException || echo SerializationException)" DescribeKey "$b" || return 1
	done
	for b in "{\"KeyId\":\"$KEY\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":\"x\"}" \
		 "{\"KeyId\":\"$KEY\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{\"a\":1}}" \
		 "{\"KeyId\":\"$KEY\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":[\"a\"]}" \
		 "{\"KeyId\":\"$KEY\",\"NumberOfBytes\":\"32\"}" \
		 "{\"KeyId\":\"$KEY\",\"NumberOfBytes\":32.5}" \
		 "{\"KeyId\":\"$KEY\",\"KeySpec\":7}"; do
		raw_expect 400 SerializationException GenerateDataKey "$b" || return 1
	done
	raw_expect 400 SerializationException ListKeys '{"Limit":"10"}'
	raw_expect 400 SerializationException Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":7}"
	raw_expect 400 SerializationException CreateKey '{"MultiRegion":"yes"}'
	raw_expect 400 ValidationException GenerateDataKey "{\"KeyId\":\"$KEY\",\"NumberOfBytes\":99999999999999999}"
	raw_expect 400 ValidationException Encrypt "{\"KeyId\":\"\",\"Plaintext\":\"eA==\"}"
	raw_expect 400 ValidationException Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":\"eA==\",\"EncryptionContext\":{\"\":\"v\"}}"
	still_answers
}

t_bad_base64() {
	local b
	for b in '!!!!' 'abc' 'a===' '====' 'QQ=A' 'QQ==QQ==' 'QUJD RA==' 'QUJD\nRA==' 'QUJDRA' '-_-_'; do
		raw_expect 400 SerializationException Decrypt "{\"CiphertextBlob\":\"$b\"}" || return 1
		raw_expect 400 SerializationException Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":\"$b\"}" || return 1
	done
	raw_expect 400 ValidationException Decrypt '{"CiphertextBlob":""}'
	raw_expect 400 ValidationException Decrypt "{\"CiphertextBlob\":\"$(head -c 6145 /dev/zero | base64 -w0)\"}"
	still_answers
}

t_damaged_blobs() {
	local blob bin len i cut pos
	blob=$(call Encrypt "{\"KeyId\":\"$KEY\",\"Plaintext\":\"$(printf 'a secret of some length' | base64 -w0)\",\"EncryptionContext\":{\"v\":\"1\"}}" | jq -r .CiphertextBlob)
	base64 -d <<<"$blob" >"$TAP_TMP/blob"
	len=$(stat -c %s "$TAP_TMP/blob")
	for cut in 1 4 5 6 20 41 42 45 46 57 58 60 $((len - 16)) $((len - 1)); do
		head -c "$cut" "$TAP_TMP/blob" | base64 -w0 >"$TAP_TMP/cut"
		raw_expect 400 InvalidCiphertextException Decrypt "{\"CiphertextBlob\":\"$(cat "$TAP_TMP/cut")\",\"EncryptionContext\":{\"v\":\"1\"}}" || { echo "cut $cut"; return 1; }
	done
	for pos in 0 3 4 5 6 20 41 42 45 46 50 57 58 $((len - 17)) $((len - 16)) $((len - 1)); do
		for bit in 1 128; do
			python3 - "$TAP_TMP/blob" "$pos" "$bit" >"$TAP_TMP/flip" <<-'PY'
			import base64, sys
			b = bytearray(open(sys.argv[1], "rb").read())
			b[int(sys.argv[2])] ^= int(sys.argv[3])
			print(base64.b64encode(bytes(b)).decode(), end="")
			PY
			raw_expect 400 InvalidCiphertextException Decrypt "{\"CiphertextBlob\":\"$(cat "$TAP_TMP/flip")\",\"EncryptionContext\":{\"v\":\"1\"}}" || { echo "flip $pos/$bit"; return 1; }
		done
	done
	(cat "$TAP_TMP/blob"; printf 'x') | base64 -w0 >"$TAP_TMP/long"
	raw_expect 400 InvalidCiphertextException Decrypt "{\"CiphertextBlob\":\"$(cat "$TAP_TMP/long")\",\"EncryptionContext\":{\"v\":\"1\"}}"
	head -c 100 /dev/urandom | base64 -w0 >"$TAP_TMP/rnd"
	raw_expect 400 InvalidCiphertextException Decrypt "{\"CiphertextBlob\":\"$(cat "$TAP_TMP/rnd")\"}"
	raw_expect 200 none Decrypt "{\"CiphertextBlob\":\"$blob\",\"EncryptionContext\":{\"v\":\"1\"}}"
}

t_oversize() {
	python3 -c 'import json; print(json.dumps({"KeyId": "x" * 70000}), end="")' >"$TAP_TMP/big.json"
	raw_expect 413 RequestEntityTooLargeException DescribeKey @"$TAP_TMP/big.json"
	# Chunked, so no Content-Length to refuse it up front: still cut off.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-H 'X-Amz-Target: TrentService.ListKeys' --data-binary @"$TAP_TMP/big.json" "$(kmsd_url)")" = 413 ]
	curl -s -o /dev/null -w '%{http_code}' -H 'Content-Length: 99999999999999999999' -X POST "$(kmsd_url)" | grep -q 413
	still_answers
}

t_unknown_operation() {
	raw_expect 400 UnknownOperationException Frobnicate '{}'
	raw_expect 400 UnknownOperationException GetKeyPolicyX '{}'
	raw_expect 400 UnknownOperationException ListKeys '{}' --set X-Amz-Target=Foo.ListKeys
	raw_expect 400 UnknownOperationException ListKeys '{}' --set X-Amz-Target=TrentService.
	raw_expect 400 UnknownOperationException ListKeys '{}' --omit X-Amz-Target
	raw_expect 400 UnknownOperationException ListKeys '{}' --method GET
	raw_expect 400 UnknownOperationException ListKeys '{}' --method PUT
	still_answers
}

t_missing_headers() {
	raw_expect 400 SerializationException ListKeys '{}' --omit Content-Type
	raw_expect 400 SerializationException ListKeys '{}' --ctype application/json
	raw_expect 400 SerializationException ListKeys '{}' --ctype text/plain
	raw_expect 400 IncompleteSignatureException ListKeys '{}' --omit X-Amz-Date
	raw_expect 400 IncompleteSignatureException ListKeys '{}' --set X-Amz-Date=yesterday
	still_answers
}

t_garbage_connections() {
	python3 - "$(kmsd_port)" <<-'PY'
	import os, socket, sys
	port = int(sys.argv[1])
	payloads = [b"\x00" * 100, os.urandom(4096), b"GET\r\n\r\n", b"POST / HTTP/9.9\r\n\r\n",
	            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
	            b"POST / HTTP/1.1\r\n" + b"X-A: " + b"a" * 100000 + b"\r\n\r\n",
	            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200)]
	for p in payloads:
	    s = socket.create_connection(("127.0.0.1", port), timeout=5)
	    try:
	        s.sendall(p)
	        s.shutdown(socket.SHUT_WR)
	        s.recv(65536)
	    except OSError:
	        pass
	    s.close()
	PY
	still_answers
}

t_slowloris() {
	python3 - "$(kmsd_port)" "$KMSC" "$(kmsd_url)" "$STATE/credentials" <<-'PY'
	import socket, subprocess, sys, time
	port, kmsc, url, creds = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
	slow = []
	for i in range(40):
	    s = socket.create_connection(("127.0.0.1", port), timeout=10)
	    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
	    slow.append(s)
	# While 40 slow clients hold connections, others are still served.
	for i in range(5):
	    subprocess.run([kmsc, "--url", url, "--creds", creds, "--profile", "admin",
	                    "call", "ListKeys", '{"Limit":1}'], check=True, stdout=subprocess.DEVNULL,
	                   timeout=10)
	# A client that stops sending is dropped after connection_timeout_s (2 s).
	time.sleep(4)
	closed = 0
	for s in slow:
	    try:
	        s.sendall(b"X-Late: 1\r\n")
	        s.settimeout(2)
	        if s.recv(1) == b"":
	            closed += 1
	    except OSError:
	        closed += 1
	    s.close()
	if closed != len(slow):
	    sys.exit("%d of %d idle connections still open" % (len(slow) - closed, len(slow)))
	PY
	still_answers
}

test_that "a correctly signed raw request is accepted" t_signed_raw_ok
test_that "a request whose signed headers or body change after signing is InvalidSignatureException" t_altered_headers
test_that "missing, unknown, stale, wrong-secret and malformed credentials are each refused" t_bad_credentials
test_that "malformed JSON bodies are SerializationException" t_malformed_json
test_that "fields of the wrong type are SerializationException and out-of-range values ValidationException" t_wrong_types
test_that "invalid base64 blobs and plaintexts are refused" t_bad_base64
test_that "truncated, bit-flipped, extended and random blobs are InvalidCiphertextException" t_damaged_blobs
test_that "oversize bodies are refused with 413, with or without Content-Length" t_oversize
test_that "unknown operations, targets and methods are UnknownOperationException" t_unknown_operation
test_that "missing or wrong Content-Type and X-Amz-Date headers are refused" t_missing_headers
test_that "raw garbage on the socket leaves the service answering" t_garbage_connections
test_that "slow clients do not block others and idle ones are dropped" t_slowloris
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after all of it" test "$stop_rc" -eq 0
tap_done
