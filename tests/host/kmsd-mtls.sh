#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Mutual TLS (tls_client_ca): a client certificate as a second factor beside
# SigV4, and the client library's refusal of plain HTTP off loopback.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

PKI="$TAP_TMP/pki"
make_pki() {
	mkdir -p "$PKI"
	(
		cd "$PKI"
		for ca in ca other-ca; do
			openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -days 2 \
				-subj "/CN=$ca" -addext basicConstraints=critical,CA:TRUE
		done
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt
		printf 'extendedKeyUsage=clientAuth\n' >cext
		for c in ca other-ca; do
			openssl req -newkey rsa:2048 -nodes -keyout host-$c.key -out host-$c.csr -subj /CN=host-a
			openssl x509 -req -in host-$c.csr -CA $c.crt -CAkey $c.key -CAcreateserial -days 2 \
				-extfile cext -out host-$c.crt
		done
		chmod 600 ./*.key
	) >/dev/null 2>&1
}
make_pki
KMSD_EXTRA_CONF=$(printf 'tls_cert = %s\ntls_key = %s\ntls_client_ca = %s\n' \
	"$PKI/server.crt" "$PKI/server.key" "$PKI/ca.crt")
kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts with tls_client_ca"; exit 1; }

kcm() { "$KMSC" --url "$(kmsd_url)" --ca "$PKI/ca.crt" --creds "$STATE/credentials" --profile admin --retries 0 "$@"; }

t_with_cert() {
	kcm --cert "$PKI/host-ca.crt" --key "$PKI/host-ca.key" call DescribeKey '{"KeyId":"alias/aws/ebs"}' |
		jq -e '.KeyMetadata.KeyState == "Enabled"' >/dev/null
}

t_without_cert() {
	# Valid SigV4, no certificate or one from another CA: no request gets through.
	refute kcm call ListKeys '{}'
	refute kcm --cert "$PKI/host-other-ca.crt" --key "$PKI/host-other-ca.key" call ListKeys '{}'
	refute curl -sS --cacert "$PKI/ca.crt" -d '{}' "$(kmsd_url)"
	# None of them reached the service: no request was audited.
	"$KMSD" audit --state-dir "$STATE" >"$TAP_TMP/audit" </dev/null
	grep -q DescribeKey "$TAP_TMP/audit"
	if grep ListKeys "$TAP_TMP/audit"; then return 1; fi
}

t_session_resumed() {
	local codes
	# One curl, two connections: the second resumes the first's TLS
	# session, as a long-lived agent's next connection does once the
	# service has closed the idle one. Each gets an HTTP answer (403:
	# unsigned).
	codes=$(curl -sS --cacert "$PKI/ca.crt" --cert "$PKI/host-ca.crt" --key "$PKI/host-ca.key" \
		-H 'Connection: close' -o /dev/null -w '%{http_code} %{num_connects}\n' -d '{}' "$(kmsd_url)" \
		--next --cacert "$PKI/ca.crt" --cert "$PKI/host-ca.crt" --key "$PKI/host-ca.key" \
		-o /dev/null -w '%{http_code} %{num_connects}\n' -d '{}' "$(kmsd_url)" 2>&1)
	echo "$codes"
	assert_eq "$(echo "$codes" | tr '\n' ' ')" "403 1 403 1 "
}

t_client_ca_needs_tls() {
	printf 'tls_client_ca = %s\n' "$PKI/ca.crt" >"$STATE/bad.conf"
	grep -v '^tls_' "$STATE/kmsd.conf" >>"$STATE/bad.conf"
	refute -m 'tls_client_ca needs tls_cert' "$KMSD" --config "$STATE/bad.conf" --foreground --listen 127.0.0.1:0
}

t_plain_http_off_loopback() {
	local u
	for u in http://192.0.2.1:8700/ http://kms.example:80/ http://10.0.0.1/ "http://[2001:db8::1]:8700/"; do
		refute -m 'Protocol not supported' "$KMSC" --url "$u" --creds "$STATE/credentials" --profile admin call ListKeys '{}'
	done
	# Loopback and https are accepted by the client (and fail later, at connect).
	for u in http://127.0.0.1:1/ http://127.9.9.9:1/ http://localhost:1/ "http://[::1]:1/" https://192.0.2.1:1/; do
		refute -m 'refused\|connect\|Timeout\|timed out' \
			"$KMSC" --url "$u" --creds "$STATE/credentials" --profile admin --retries 0 --timeout-ms 500 call ListKeys '{}'
	done
}

t_agent_refuses_plain_http() {
	printf 'kms_endpoint = http://192.0.2.1:8700/\nkms_access_key_id = AKIAX\nkms_secret_access_key = x\nsocket = %s/a.sock\n' \
		"$TAP_TMP" >"$TAP_TMP/agent.conf"
	chmod 600 "$TAP_TMP/agent.conf"
	refute -m 'refusing plain HTTP to http://192.0.2.1:8700/' \
		"$BUILD/bin/ebscrypt-agent" --foreground --config "$TAP_TMP/agent.conf"
}

test_that "with tls_client_ca a client with a certificate from that CA and a valid signature is served" t_with_cert
test_that "with tls_client_ca a client without a certificate, or with another CA's, is refused at the handshake" t_without_cert
test_that "with tls_client_ca a client's next connection, resuming its TLS session, is served" t_session_resumed
test_that "tls_client_ca without tls_cert is a configuration error" t_client_ca_needs_tls
test_that "the client library refuses plain http:// to a host that is not loopback" t_plain_http_off_loopback
test_that "ebscrypt-agent refuses to start with a plain http:// endpoint off loopback" t_agent_refuses_plain_http
tap_done
