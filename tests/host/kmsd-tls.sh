#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# HTTPS: ebscrypt-kmsd terminates TLS with OpenSSL (kms-agent/kmsd/tls.c) and
# hands plaintext to libmicrohttpd. Driven with a certificate from a test CA
# by the project's client library, the AWS CLI (when installed) and
# openssl s_client, plus clients that misbehave at the TLS layer.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

AWS=$(command -v /usr/bin/aws || command -v aws || true)
PKI="$TAP_TMP/pki"
# Short, so that the stalled-handshake test sees the drop in a few seconds.
TIMEOUT_S=4

# A CA, a server certificate it signs for 127.0.0.1, a second CA the
# service does not use, and a key that belongs to no certificate.
make_pki() {
	mkdir -p "$PKI"
	(
		cd "$PKI"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
			-subj "/CN=ebscrypt test CA" -addext basicConstraints=critical,CA:TRUE
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 \
			-subj "/CN=some other CA" -addext basicConstraints=critical,CA:TRUE
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile ext -out server.crt
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out stray.key
		chmod 600 ./*.key
	) >/dev/null 2>&1
}

make_pki
KMSD_EXTRA_CONF=$(printf 'tls_cert = %s\ntls_key = %s\n' "$PKI/server.crt" "$PKI/server.key")
kmsd_setup
# init writes every setting; a second line would override the first.
sed -i "s/^connection_timeout_s = .*/connection_timeout_s = $TIMEOUT_S/" "$STATE/kmsd.conf"
grep -q "^connection_timeout_s = $TIMEOUT_S\$" "$STATE/kmsd.conf"

kcs() {
	local profile=admin
	if [ "${1:-}" = "--profile" ]; then profile=$2; shift 2; fi
	"$KMSC" --url "$(kmsd_url)" --ca "$PKI/ca.crt" --creds "$STATE/credentials" --profile "$profile" "$@"
}
# Over TLS, the way every other check here confirms the service is alive.
answers() {
	kcs --retries 0 --timeout-ms 5000 describe alias/aws/ebs | grep -q ' Enabled 1$'
}

t_mismatch() {
	sed "s|^tls_key = .*|tls_key = $PKI/stray.key|" "$STATE/kmsd.conf" >"$STATE/bad.conf"
	refute -m "TLS certificate $PKI/server.crt does not match the private key $PKI/stray.key" \
		timeout 20 "$KMSD" --config "$STATE/bad.conf" --state-dir "$STATE" --foreground
	refute grep 'listening on\|Sanitizer' <<<"$REFUTE_OUTPUT"
}

# With TLS, listening beyond loopback is allowed.
t_start() {
	kmsd_start 0.0.0.0:0
	kmsd_log | grep -q 'listening on 0.0.0.0:[0-9]* (https)'
	answers
}

t_lib() {
	local key blob
	answers
	key=$(kcs call CreateKey '{"Description":"over tls"}' | jq -er .KeyMetadata.KeyId)
	blob=$(kcs gdkwp "$key" volume=vol-tls)
	[ -n "$(kcs decrypt "$blob" volume=vol-tls)" ]
	refute -m '^ERROR InvalidCiphertextException$' kcs decrypt "$blob" volume=vol-other
}

t_awscli() {
	export AWS_SHARED_CREDENTIALS_FILE="$STATE/credentials" AWS_CONFIG_FILE=/dev/null \
		AWS_DEFAULT_REGION=us-east-1 AWS_PROFILE=admin AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CA_BUNDLE
	printf 'through openssl' >"$TAP_TMP/p"
	"$AWS" --endpoint-url "$(kmsd_url)" --ca-bundle "$PKI/ca.crt" kms encrypt --key-id alias/aws/ebs \
		--plaintext "fileb://$TAP_TMP/p" --query CiphertextBlob --output text | base64 -d >"$TAP_TMP/c"
	assert_eq "$("$AWS" --endpoint-url "$(kmsd_url)" --ca-bundle "$PKI/ca.crt" kms decrypt \
		--ciphertext-blob "fileb://$TAP_TMP/c" --query Plaintext --output text | base64 -d)" "through openssl"
}

t_untrusted() {
	# The library with the system trust store only.
	refute -m '^ERROR Software caused connection abort$' "$KMSC" --url "$(kmsd_url)" \
		--creds "$STATE/credentials" --profile admin --retries 0 describe alias/aws/ebs
	# A client that trusts another CA.
	refute -m '^ERROR Software caused connection abort$' "$KMSC" --url "$(kmsd_url)" --ca "$PKI/other-ca.crt" \
		--creds "$STATE/credentials" --profile admin --retries 0 describe alias/aws/ebs
	refute -m 'unable to get local issuer certificate\|certificate verify failed' \
		openssl s_client -connect "127.0.0.1:$(kmsd_port)" -CAfile "$PKI/other-ca.crt" -verify_return_error </dev/null
	if [ -n "$AWS" ]; then
		refute env -u AWS_CA_BUNDLE AWS_SHARED_CREDENTIALS_FILE="$STATE/credentials" AWS_CONFIG_FILE=/dev/null \
			AWS_DEFAULT_REGION=us-east-1 AWS_PROFILE=admin AWS_EC2_METADATA_DISABLED=true \
			AWS_MAX_ATTEMPTS=1 "$AWS" --endpoint-url "$(kmsd_url)" kms list-keys
		grep -qi 'ssl\|certificate' <<<"$REFUTE_OUTPUT"
	fi
	answers
}

t_plain_http() {
	local out p
	p=$(kmsd_port)
	out=$(curl -sS --max-time 5 -o - -w '%{http_code}' -X POST \
		-H 'X-Amz-Target: TrentService.ListKeys' -d '{}' "http://127.0.0.1:$p/")
	grep -q 'speaks HTTPS' <<<"$out"
	assert_eq "${out: -3}" 400
	# Bytes that are neither HTTP nor TLS, and a TLS record header that lies.
	head -c 8192 /dev/urandom >"$TAP_TMP/junk"
	timeout 10 bash -c "cat '$TAP_TMP/junk' >/dev/tcp/127.0.0.1/$p" 2>/dev/null || true
	timeout 10 bash -c "printf '\x16\x03\x01\xff\xff\x01\x00\xff\xfb\x03\x03' >/dev/tcp/127.0.0.1/$p" 2>/dev/null || true
	answers
	kmsd_running
}

t_old_tls() {
	refute openssl s_client -connect "127.0.0.1:$(kmsd_port)" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null
	openssl s_client -connect "127.0.0.1:$(kmsd_port)" -tls1_2 -CAfile "$PKI/ca.crt" \
		-verify_return_error </dev/null >/dev/null 2>&1
	openssl s_client -connect "127.0.0.1:$(kmsd_port)" -tls1_3 -CAfile "$PKI/ca.crt" \
		-verify_return_error </dev/null >/dev/null 2>&1
}

t_stall() {
	local p a b c t0 t1
	p=$(kmsd_port)
	# One says nothing; one sends half a ClientHello; one only a record header.
	exec {a}<>"/dev/tcp/127.0.0.1/$p"
	exec {b}<>"/dev/tcp/127.0.0.1/$p"
	exec {c}<>"/dev/tcp/127.0.0.1/$p"
	printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&"$b"
	printf '\x16\x03\x01' >&"$c"
	t0=$(date +%s)
	# Well inside the handshake timeout: nobody waits for the stalled ones.
	kcs --retries 0 --timeout-ms $((TIMEOUT_S * 1000 - 1000)) describe alias/aws/ebs | grep -q ' Enabled 1$'
	# The stalled clients are dropped: EOF comes, after about the timeout.
	timeout $((TIMEOUT_S * 3)) cat <&"$a" >/dev/null
	timeout $((TIMEOUT_S * 3)) cat <&"$b" >/dev/null
	timeout $((TIMEOUT_S * 3)) cat <&"$c" >/dev/null
	t1=$(date +%s)
	[ $((t1 - t0)) -ge $((TIMEOUT_S - 1)) ] && [ $((t1 - t0)) -le $((TIMEOUT_S + 3)) ] ||
		{ echo "dropped after $((t1 - t0)) s, not at the $TIMEOUT_S s timeout"; return 1; }
	exec {a}>&- {b}>&- {c}>&-
	answers
}

t_keepalive_and_big() {
	local big
	# A reply larger than one pump buffer, and several requests on one
	# TLS connection (the AWS CLI paginates over a kept-alive connection).
	for _ in 1 2 3 4 5 6; do kcs call CreateKey '{"Description":"page"}' >/dev/null; done
	big=$(head -c 3000 /dev/urandom | base64 -w0)
	assert_eq "$(kcs call Encrypt "{\"KeyId\":\"alias/aws/ebs\",\"Plaintext\":\"$big\"}" | jq -r .CiphertextBlob |
		{ read -r blob; kcs call Decrypt "{\"CiphertextBlob\":\"$blob\"}"; } | jq -r .Plaintext)" "$big"
	if [ -n "$AWS" ]; then
		[ "$(AWS_SHARED_CREDENTIALS_FILE="$STATE/credentials" AWS_CONFIG_FILE=/dev/null \
			AWS_DEFAULT_REGION=us-east-1 AWS_PROFILE=admin AWS_EC2_METADATA_DISABLED=true \
			"$AWS" --endpoint-url "$(kmsd_url)" --ca-bundle "$PKI/ca.crt" kms list-keys --page-size 1 \
			--query 'Keys[].KeyId' --output text | wc -w)" -ge 7 ]
	fi
	# An oversize body is still refused by the HTTP layer behind TLS.
	{ printf '{"x":"'; head -c 70000 /dev/zero | tr '\0' a; printf '"}'; } >"$TAP_TMP/big.json"
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" \
		-H 'X-Amz-Target: TrentService.ListKeys' --data-binary @"$TAP_TMP/big.json" "$(kmsd_url)")" 413
	answers
}

t_parallel() {
	local i pids=() rc=0
	# Each worker: data keys and decrypts over its own TLS connections.
	for i in 1 2 3 4 5 6 7 8; do
		(
			for _ in 1 2 3 4 5; do
				b=$(kcs --retries 0 gdkwp alias/aws/ebs "w=$i") || exit 1
				kcs --retries 0 decrypt "$b" "w=$i" >/dev/null || exit 1
			done
		) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	[ "$rc" -eq 0 ]
	answers
}

t_cap() {
	local p a b c t0
	kmsd_stop
	sed -i "s/^max_connections = .*/max_connections = 3/" "$STATE/kmsd.conf"
	kmsd_start 0
	p=$(kmsd_port)
	exec {a}<>"/dev/tcp/127.0.0.1/$p"
	exec {b}<>"/dev/tcp/127.0.0.1/$p"
	exec {c}<>"/dev/tcp/127.0.0.1/$p"
	sleep 0.5
	# A fourth is turned away at once rather than queued.
	t0=$(date +%s)
	refute -m '^ERROR Software caused connection abort$' kcs --retries 0 --timeout-ms 10000 describe alias/aws/ebs
	[ $(($(date +%s) - t0)) -lt 3 ]
	# Once the handshake timeout frees the slots, service resumes.
	timeout $((TIMEOUT_S * 3)) cat <&"$a" >/dev/null
	exec {a}>&- {b}>&- {c}>&-
	answers
}

t_stop_with_clients() {
	local p a
	p=$(kmsd_port)
	# A connection in the handshake and one established and idle.
	exec {a}<>"/dev/tcp/127.0.0.1/$p"
	(sleep 3 | openssl s_client -connect "127.0.0.1:$p" -CAfile "$PKI/ca.crt" -quiet >/dev/null 2>&1) &
	sleep 1
	kmsd_stop
}

test_that "a certificate and key that are not a pair keep the service from starting, saying so" t_mismatch
test_that "the service serves HTTPS on a non-loopback address" t_start
test_that "the client library talks HTTPS to the service with the test CA" t_lib
if [ -n "$AWS" ]; then
	test_that "the AWS CLI talks HTTPS to the service with the test CA" t_awscli
else
	tap_skip "the AWS CLI talks HTTPS to the service with the test CA" "AWS CLI not installed"
fi
test_that "clients that do not trust the CA are refused, and the service keeps answering" t_untrusted
test_that "plain HTTP and junk bytes to the HTTPS port fail cleanly, and the service keeps answering" t_plain_http
test_that "TLS below 1.2 is refused; TLS 1.2 and 1.3 are served" t_old_tls
test_that "clients stalled in the TLS handshake block no one and are dropped after the timeout" t_stall
test_that "large replies, kept-alive connections and the body limit work through TLS" t_keepalive_and_big
test_that "parallel clients over TLS all succeed" t_parallel
test_that "TLS connections over max_connections are turned away, and the service recovers" t_cap
test_that "the service stops cleanly on SIGTERM with TLS clients connected" t_stop_with_clients
tap_done
