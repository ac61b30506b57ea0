#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every string ebscrypt-kmsd reads is well-formed UTF-8 without U+0000:
# overlong forms, surrogates, stray continuation bytes and a \u0000 in a
# value or an object key are SerializationException, so {"vol\u0000zz":"A"}
# is never read as {"vol":"A"}. Well-formed multi-byte text still passes.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/host/lib.sh"
trap kmsd_cleanup EXIT

kmsd_setup
kmsd_start 0 || { echo "not ok 1 - the service starts"; exit 1; }
KEY=$(new_key strings)

gdk_body() {
	printf '{"KeyId":"%s","KeySpec":"AES_256","EncryptionContext":{%s}}' "$KEY" "$1"
}

t_nul_in_keys_and_values() {
	local c
	for c in '"vol\u0000zz":"A"' '"vol":"A\u0000"' '"\u0000":"A"'; do
		raw_expect 400 SerializationException GenerateDataKeyWithoutPlaintext "$(gdk_body "$c")" || return 1
	done
	raw_expect 400 SerializationException DescribeKey "{\"KeyId\":\"$KEY\u0000x\"}"
	# The escaped backslash is text, not a NUL.
	raw_expect 200 none GenerateDataKeyWithoutPlaintext "$(gdk_body '"vol\\u0000zz":"A"')"
}

t_invalid_utf8() {
	local bytes
	for bytes in '\xc0\xaf' '\xc1\xbf' '\xe0\x80\xaf' '\xf0\x80\x80\xaf' '\xed\xa0\x80' \
		     '\xf4\x90\x80\x80' '\xf8\x88\x80\x80\x80' '\x80' '\xe2\x82' '\xff'; do
		printf '{"KeyId":"%s","KeySpec":"AES_256","EncryptionContext":{"v":"a%bb"}}' "$KEY" "$bytes" \
			>"$TAP_TMP/bad.json"
		raw_expect 400 SerializationException GenerateDataKeyWithoutPlaintext @"$TAP_TMP/bad.json" ||
			{ echo "accepted: $bytes"; return 1; }
		printf '{"KeyId":"%s","KeySpec":"AES_256","EncryptionContext":{"a%bb":"v"}}' "$KEY" "$bytes" \
			>"$TAP_TMP/bad.json"
		raw_expect 400 SerializationException GenerateDataKeyWithoutPlaintext @"$TAP_TMP/bad.json" ||
			{ echo "accepted in a key: $bytes"; return 1; }
	done
	printf '{"KeyId":"%s","KeySpec":"AES_256","EncryptionContext":{"caf\xc3\xa9":"\xe2\x82\xac \xf0\x9d\x84\x9e"}}' "$KEY" \
		>"$TAP_TMP/good.json"
	raw_expect 200 none GenerateDataKeyWithoutPlaintext @"$TAP_TMP/good.json"
	still_answers
}

test_that "a NUL in an encryption context key or value, or a KeyId, is SerializationException" t_nul_in_keys_and_values
test_that "overlong, surrogate, out-of-range and truncated UTF-8 is SerializationException" t_invalid_utf8
kmsd_stop; stop_rc=$?
test_that "the service stops cleanly on SIGTERM after all of it" test "$stop_rc" -eq 0
tap_done
