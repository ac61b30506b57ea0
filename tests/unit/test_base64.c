// SPDX-License-Identifier: GPL-2.0
/* Strict base64 against RFC 4648's vectors and a list of non-canonical inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/rand.h>

#include "base64.h"

static const char *const vec[][2] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void rfc4648_vectors(void **state)
{
	size_t i, n;
	char *s;
	uint8_t out[16];

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(b64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), &s), 0);
		assert_string_equal(s, vec[i][1]);
		free(s);
		assert_int_equal(b64_encoded_len(strlen(vec[i][0])), strlen(vec[i][1]));
		assert_int_equal(b64_decode(vec[i][1], strlen(vec[i][1]), out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(vec[i][0]));
		assert_memory_equal(out, vec[i][0], n);
	}
}

static void invalid_inputs_are_refused(void **state)
{
	static const char *const bad[] = {
		"A", "AB", "ABC", "ABCDE", "====", "A===", "AB=C", "A=BC", "ABCD=", "ABC==",
		"AB CD", "AB\nCD", "ABCD\n", " ABCD", "AB-_", "AB*D", "Zg==Zg==", "Zm9v\0",
	};
	uint8_t out[16];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode(bad[i], strlen(bad[i]) + (i == 17), out, sizeof(out), &n), -EINVAL);
}

static void decode_writes_exactly_the_decoded_length(void **state)
{
	uint8_t out[8];
	size_t n;

	memset(out, 0xAA, sizeof(out));
	/* "Zm8=" is two bytes: the third byte of the last quad must not be written. */
	assert_int_equal(b64_decode("Zm8=", 4, out, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[2], 0xAA);
	assert_int_equal(b64_decode("Zm9v", 4, out, 2, &n), -ENOSPC);
}

static void random_round_trips(void **state)
{
	uint8_t in[300], out[300];
	size_t len, n;
	char *s;

	for (len = 0; len < sizeof(in); len += 7) {
		RAND_bytes(in, sizeof(in));
		assert_int_equal(b64_encode(in, len, &s), 0);
		assert_int_equal(b64_decode(s, strlen(s), out, sizeof(out), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
		free(s);
	}
}

#define T(name, fn) { name, fn, NULL, NULL, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("base64 encodes and decodes the RFC 4648 test vectors", rfc4648_vectors),
		T("base64 refuses bad lengths, padding, whitespace and foreign alphabets", invalid_inputs_are_refused),
		T("base64 decoding writes exactly the decoded length and no scratch byte", decode_writes_exactly_the_decoded_length),
		T("base64 round-trips random data of many lengths", random_round_trips),
	};

	return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
