// SPDX-License-Identifier: GPL-2.0
/*
 * kmsd blob crypto: AES-256-GCM blobs bound to key id, material version and
 * encryption context; material wrapped under the root key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/rand.h>

#include "kms-agent/kmsd/kmsd.h"

#define KID "0b8d5e1c-7c1e-4a3f-9a59-3d3a8f3b1c2d"

static struct json_object *ctx(const char *json)
{
	return json ? json_tokener_parse(json) : NULL;
}

static void seal(const uint8_t *m, const char *c, uint8_t **blob, size_t *len)
{
	struct json_object *j = ctx(c);

	assert_int_equal(crypto_blob_encrypt(m, KID, 7, j, (const uint8_t *)"data key bytes", 14, blob, len), 0);
	json_object_put(j);
}

static int open_blob(const uint8_t *m, const uint8_t *blob, size_t len, const char *c)
{
	struct json_object *j = ctx(c);
	uint8_t out[64];
	size_t n;
	int rc = crypto_blob_decrypt(m, blob, len, j, out, sizeof(out), &n);

	json_object_put(j);
	if (!rc && (n != 14 || memcmp(out, "data key bytes", 14)))
		return -EFAULT;
	return rc;
}

static void round_trip_with_context_in_any_order(void **state)
{
	uint8_t m[32], *blob;
	size_t len;
	char kid[40];
	uint32_t v;

	RAND_bytes(m, sizeof(m));
	seal(m, "{\"volume\":\"vol-1\",\"a\":\"b\"}", &blob, &len);
	assert_int_equal(len, 22 + 36 + 14 + 16);
	assert_memory_equal(blob, "EKMS\x01", 5);
	assert_int_equal(crypto_blob_peek(blob, len, kid, &v), 0);
	assert_string_equal(kid, KID);
	assert_int_equal(v, 7);
	assert_int_equal(open_blob(m, blob, len, "{\"a\":\"b\",\"volume\":\"vol-1\"}"), 0);
	free(blob);
}

static void wrong_context_or_key_fails(void **state)
{
	static const char *const wrong[] = {
		NULL, "{}", "{\"volume\":\"vol-1\"}", "{\"volume\":\"vol-2\",\"a\":\"b\"}",
		"{\"volume\":\"vol-1\",\"a\":\"b\",\"c\":\"d\"}", "{\"volume\":\"vol-1\",\"A\":\"b\"}",
		"{\"volume\":\"vol-1a\",\"\":\"b\"}",
	};
	uint8_t m[32], other[32], *blob;
	size_t len, i;

	RAND_bytes(m, sizeof(m));
	RAND_bytes(other, sizeof(other));
	seal(m, "{\"volume\":\"vol-1\",\"a\":\"b\"}", &blob, &len);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		assert_int_equal(open_blob(m, blob, len, wrong[i]), -EBADMSG);
	assert_int_equal(open_blob(other, blob, len, "{\"volume\":\"vol-1\",\"a\":\"b\"}"), -EBADMSG);
	free(blob);
}

static void every_bit_flip_and_truncation_fails(void **state)
{
	uint8_t m[32], *blob;
	size_t len, i, bit;
	int rc;

	RAND_bytes(m, sizeof(m));
	seal(m, "{\"k\":\"v\"}", &blob, &len);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			blob[i] ^= (uint8_t)(1u << bit);
			rc = open_blob(m, blob, len, "{\"k\":\"v\"}");
			assert_true(rc == -EBADMSG || rc == -EINVAL);
			blob[i] ^= (uint8_t)(1u << bit);
		}
	}
	for (i = 0; i < len; i++) {
		rc = open_blob(m, blob, i, "{\"k\":\"v\"}");
		assert_true(rc == -EBADMSG || rc == -EINVAL);
	}
	assert_int_equal(open_blob(m, blob, len, "{\"k\":\"v\"}"), 0);
	free(blob);
}

static void blobs_use_fresh_nonces(void **state)
{
	uint8_t m[32], *a, *b;
	size_t la, lb;

	RAND_bytes(m, sizeof(m));
	seal(m, NULL, &a, &la);
	seal(m, NULL, &b, &lb);
	assert_int_equal(la, lb);
	assert_memory_not_equal(a + 46, b + 46, 12);
	assert_memory_not_equal(a + 58, b + 58, la - 58);
	free(a);
	free(b);
}

static void material_is_bound_to_key_and_version(void **state)
{
	uint8_t root[32], other[32], w[KMS_WRAPPED_LEN], m1[32], m2[32];

	RAND_bytes(root, sizeof(root));
	RAND_bytes(other, sizeof(other));
	assert_int_equal(crypto_new_material(root, KID, 1, w), 0);
	assert_int_equal(crypto_unwrap_material(root, KID, 1, w, sizeof(w), m1), 0);
	assert_int_equal(crypto_unwrap_material(root, KID, 1, w, sizeof(w), m2), 0);
	assert_memory_equal(m1, m2, 32);
	assert_int_equal(crypto_unwrap_material(root, KID, 2, w, sizeof(w), m2), -EBADMSG);
	assert_int_equal(crypto_unwrap_material(root, "1b8d5e1c-7c1e-4a3f-9a59-3d3a8f3b1c2d", 1, w, sizeof(w), m2), -EBADMSG);
	assert_int_equal(crypto_unwrap_material(other, KID, 1, w, sizeof(w), m2), -EBADMSG);
	assert_int_equal(crypto_unwrap_material(root, KID, 1, w, sizeof(w) - 1, m2), -EINVAL);
}

static void root_key_is_created_once_with_mode_0600(void **state)
{
	char dir[] = "/tmp/kmsd-unit-XXXXXX", path[128];
	uint8_t *a, *b;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(crypto_load_root_key(dir, &a), 0);
	snprintf(path, sizeof(path), "%s/root.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(crypto_load_root_key(dir, &b), 0);
	assert_memory_equal(a, b, 32);
	crypto_free_root_key(b);
	chmod(path, 0644);
	assert_int_equal(crypto_load_root_key(dir, &b), -EPERM);
	chmod(path, 0600);
	assert_int_equal(truncate(path, 31), 0);
	assert_int_equal(crypto_load_root_key(dir, &b), -EINVAL);
	crypto_free_root_key(a);
	unlink(path);
	rmdir(dir);
}

static void context_bytes_are_canonical(void **state)
{
	struct json_object *x = ctx("{\"b\":\"2\",\"a\":\"1\"}"), *y = ctx("{\"a\":\"1\",\"b\":\"2\"}");
	struct json_object *z = ctx("{\"a\":\"1b\",\"\":\"2\"}");
	uint8_t *bx, *by, *bz;
	size_t lx, ly, lz;

	assert_int_equal(crypto_context_bytes(x, &bx, &lx), 0);
	assert_int_equal(crypto_context_bytes(y, &by, &ly), 0);
	assert_int_equal(crypto_context_bytes(z, &bz, &lz), 0);
	assert_int_equal(lx, ly);
	assert_memory_equal(bx, by, lx);
	assert_memory_equal(bx, "\0\0\0\1a\0\0\0\0011\0\0\0\1b\0\0\0\0012", 20);
	/* Length prefixes keep {"a":"1b"} apart from {"a1":"b"}-style shifts. */
	assert_false(lz == lx && !memcmp(bz, bx, lx));
	free(bx);
	free(by);
	free(bz);
	json_object_put(x);
	json_object_put(y);
	json_object_put(z);
}

#define T(name, fn) { name, fn, NULL, NULL, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("a blob names its key and version and opens under the same context in any order", round_trip_with_context_in_any_order),
		T("a blob refuses to open under any other context or material", wrong_context_or_key_fails),
		T("every single-bit flip and every truncation of a blob is refused", every_bit_flip_and_truncation_fails),
		T("two blobs of the same plaintext use fresh nonces", blobs_use_fresh_nonces),
		T("wrapped key material only unwraps for its own key, version and root key", material_is_bound_to_key_and_version),
		T("the root key file is created once with mode 0600 and refused when exposed or short", root_key_is_created_once_with_mode_0600),
		T("the encryption context serialises canonically and unambiguously", context_bytes_are_canonical),
	};

	return cmocka_run_group_tests_name("kmsd blob crypto", tests, NULL, NULL);
}
