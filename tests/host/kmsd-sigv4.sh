#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ebscrypt-kmsd's SigV4 check binds everything that decides what a request
# does: Content-Type and every x-amz-* header must be signed (a captured
# request cannot be replayed as another operation), the query string is
# part of the canonical request, and with service_host_name set a request
# signed for another host is refused.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
KEY=$(new_key sigv4)

key_state() {
	call DescribeKey "{\"KeyId\":\"$KEY\"}" | jq -r .KeyMetadata.KeyState
}

t_replayed_target() {
	# A DescribeKey signed over host and x-amz-date only, sent as DisableKey.
	raw_expect 400 IncompleteSignatureException DescribeKey "{\"KeyId\":\"$KEY\"}" \
		--signed "host;x-amz-date" --after X-Amz-Target=TrentService.DisableKey
	raw_expect 400 IncompleteSignatureException DescribeKey "{\"KeyId\":\"$KEY\"}" \
		--signed "content-type;host;x-amz-date" --after X-Amz-Target=TrentService.DisableKey
	assert_eq "$(key_state)" Enabled "the key after the replays"
}

t_unsigned_headers() {
	local s
	for s in "host;x-amz-date;x-amz-target" "content-type;host;x-amz-date" "host;x-amz-target"; do
		raw_expect 400 IncompleteSignatureException ListKeys '{}' --signed "$s" || return 1
	done
	raw_expect 400 IncompleteSignatureException ListKeys '{}' --set X-Amz-Meta=1 \
		--signed "content-type;host;x-amz-date;x-amz-target"
	raw_expect 400 IncompleteSignatureException ListKeys '{}' --set X-AMZ-Target=TrentService.ListKeys \
		--signed "content-type;host;x-amz-date"
	# Extra headers outside x-amz-* need not be signed, as with AWS.
	raw_expect 200 none ListKeys '{}' --set X-Other=1 --signed "content-type;host;x-amz-date;x-amz-target"
	raw_expect 200 none ListKeys '{}' --set X-Amz-Meta=1
}

t_query_string() {
	raw_expect 400 InvalidSignatureException DescribeKey "{\"KeyId\":\"$KEY\"}" --query Action=DisableKey
	raw_expect 400 InvalidSignatureException DescribeKey "{\"KeyId\":\"$KEY\"}" --query a
	raw_expect 200 none DescribeKey "{\"KeyId\":\"$KEY\"}" --signed-query "b=2&a=1"
	# A parameter without a value: its empty value goes through the canonical request too.
	raw_expect 200 none DescribeKey "{\"KeyId\":\"$KEY\"}" --signed-query "Action"
	still_answers
}

t_service_host_name() {
	local port
	kmsd_stop
	{ printf 'service_host_name = kms.test.internal\n'; cat "$STATE/kmsd.conf"; } >"$STATE/kmsd.conf.new"
	mv "$STATE/kmsd.conf.new" "$STATE/kmsd.conf"
	kmsd_start 0
	port=$(kmsd_port)
	raw_expect 400 InvalidSignatureException ListKeys '{}'
	raw_expect 400 InvalidSignatureException ListKeys '{}' --set Host=kms.test.internal.example
	raw_expect 400 InvalidSignatureException ListKeys '{}' --set Host=other.test.internal:"$port"
	raw_expect 400 InvalidSignatureException ListKeys '{}' --set Host=kms.test.internal:x
	raw_expect 200 none ListKeys '{}' --set Host=kms.test.internal:"$port"
	raw_expect 200 none ListKeys '{}' --set Host=KMS.test.internal
}

test_that "a DescribeKey signed without X-Amz-Target cannot be replayed as DisableKey" t_replayed_target
test_that "an unsigned Content-Type or x-amz-* header is IncompleteSignatureException" t_unsigned_headers
test_that "a query string is part of the signature: added after signing it is refused" t_query_string
test_that "with service_host_name set, a request signed for another host is refused" t_service_host_name
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after all of it" test "$stop_rc" -eq 0
tap_done
