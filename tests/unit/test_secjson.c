// SPDX-License-Identifier: GPL-2.0
/*
 * The secret-safe JSON writer and readers: secrets written from locked
 * memory into locked text, strict parsing, wiping, and the in-place member
 * reader against a list of malformed replies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/secjson.h"
#include "lib/secmem.h"
#include "lib/strbuf.h"

static const char *member(struct json_object *o, const char *name)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, name, &v));
	return json_object_get_string(v);
}

static void secrets_are_written_from_locked_memory_into_locked_text(void **state)
{
	struct json_object *o = json_object_new_object(), *back;
	char *secret = secmem_alloc(16), *text = NULL;
	struct secjson_secret s = { "Plaintext", secret };
	struct strbuf sb;

	strcpy(secret, "c2VjcmV0\"\\\n");
	json_object_object_add(o, "KeyId", json_object_new_string("arn:aws:kms:x/y"));
	json_object_object_add(o, "N", json_object_new_int(7));
	sb_init_locked(&sb);
	secjson_write(&sb, o, &s, 1);
	assert_int_equal(sb_finish(&sb, &text), 0);
	/* Locked: secmem_size() aborts on memory secmem did not hand out. */
	assert_true(secmem_size(text) > strlen(text));
	back = json_tokener_parse(text);
	assert_non_null(back);
	assert_string_equal(member(back, "KeyId"), "arn:aws:kms:x/y");
	assert_string_equal(member(back, "Plaintext"), secret);
	assert_int_equal(json_object_object_length(back), 3);
	json_object_put(back);
	secmem_free(text);
	json_object_put(o);

	/* An empty object gets the secret as its only member. */
	o = json_object_new_object();
	sb_init(&sb);
	secjson_write(&sb, o, &s, 1);
	back = json_tokener_parse(sb.buf);
	assert_non_null(back);
	assert_int_equal(json_object_object_length(back), 1);
	json_object_put(back);
	sb_free(&sb);
	json_object_put(o);
	secmem_free(secret);
}

static void parsing_is_strict_and_bounded(void **state)
{
	static const char *const bad[] = {
		"{\"a\":1} x", "{'a':1}", "{\"a\":'b'}", "{\"a\":1,}", "{\"a\":tru}", "[[[[[[[[[[1]]]]]]]]]]", "", "{\"a\":\"\xff\"}",
	};
	struct json_object *o;
	size_t i;

	o = secjson_parse("{\"a\": [1, \"b\"]} \n", 17, 4);
	assert_non_null(o);
	json_object_put(o);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if ((o = secjson_parse(bad[i], strlen(bad[i]), 4))) {
			json_object_put(o);
			fail_msg("accepted: %s", bad[i]);
		}
}

static void invalid_utf8_and_nul_are_refused_in_values_and_keys(void **state)
{
	static const char *const bad[] = {
		"{\"vol\\u0000zz\":\"A\"}",          /* json-c would read {"vol":"A"} */
		"{\"a\":\"x\\u0000\"}",
		"{\"a\":[\"\\u0000\"]}",
		"{\"a\":\"\xc0\xaf\"}",               /* overlong '/' */
		"{\"a\":\"\xc1\xbf\"}",
		"{\"a\":\"\xe0\x80\xaf\"}",           /* overlong, three bytes */
		"{\"a\":\"\xf0\x80\x80\xaf\"}",       /* overlong, four bytes */
		"{\"a\":\"\xed\xa0\x80\"}",           /* a UTF-16 surrogate */
		"{\"a\":\"\xf4\x90\x80\x80\"}",       /* past U+10FFFF */
		"{\"a\":\"\xf8\x88\x80\x80\x80\"}",
		"{\"a\":\"\xe2\x82\"}",               /* cut short */
		"{\"a\":\"\x80\"}",
		"{\"\xc0\xaf\":\"a\"}",               /* in a key */
	};
	static const char good[] = "{\"d\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbd\","
				   "\"\\\\u0000\":\"\\u0041\"}";
	struct json_object *o;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if ((o = secjson_parse(bad[i], strlen(bad[i]), 4))) {
			json_object_put(o);
			fail_msg("accepted: bad[%zu]", i);
		}
	o = secjson_parse(good, strlen(good), 4);
	assert_non_null(o);
	assert_string_equal(member(o, "d"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbd");
	assert_string_equal(member(o, "\\u0000"), "A");
	json_object_put(o);
}

static void wiping_overwrites_every_string(void **state)
{
	static const char text[] = "{\"p\":\"secret\",\"l\":[\"also\"]}";
	struct json_object *o = secjson_parse(text, strlen(text), 4);
	const char *p, *l;

	assert_non_null(o);
	p = member(o, "p");
	l = json_object_get_string(json_object_array_get_idx(json_object_object_get(o, "l"), 0));
	secjson_wipe(o);
	assert_memory_equal(p, "\0\0\0\0\0\0", 6);
	assert_memory_equal(l, "\0\0\0\0", 4);
	json_object_put(o);
}

static int find(const char *text, const char *name, char *out, size_t len)
{
	char buf[256], *v;
	size_t vlen;
	int rc;

	snprintf(buf, sizeof(buf), "%s", text);
	rc = secjson_member(buf, strlen(buf), name, &v, &vlen);
	if (!rc) {
		assert_true(vlen < len);
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		/* In place: the value lies inside the buffer it was read from. */
		assert_true(v > buf && v < buf + sizeof(buf));
	}
	return rc;
}

static void a_member_is_read_in_place_and_bad_replies_are_refused(void **state)
{
	static const char *const malformed[] = {
		"", "[]", "\"Plaintext\"", "{\"Plaintext\":\"a\"", "{\"Plaintext\":\"a\"} x",
		"{\"Plaintext\" \"a\"}", "{\"Plaintext\":\"a\",}", "{\"Plaintext\":5}",
		"{\"Plaintext\":\"a\\u0041\"}", "{\"Plaintext\":\"a\nb\"}", "{\"x\":{\"y\":[1,}}",
		"{\"Plaintext\":\"a\",\"b\":}", "{\"b\":,\"Plaintext\":\"a\"}",
	};
	char v[64];
	size_t i;

	assert_int_equal(find("{\"KeyId\":\"k\", \"Plaintext\" : \"YWJj\\/ZA==\"}", "Plaintext", v,
			      sizeof(v)), 0);
	assert_string_equal(v, "YWJj/ZA==");
	assert_int_equal(find("{\"a\":{\"Plaintext\":\"no\"},\"b\":[1,true,null]}", "Plaintext", v,
			      sizeof(v)), -ENOENT);
	assert_int_equal(find("{\"q\":\"a\\\"b\\\\c\"}", "q", v, sizeof(v)), 0);
	assert_string_equal(v, "a\"b\\c");
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		if (find(malformed[i], "Plaintext", v, sizeof(v)) != -EPROTO)
			fail_msg("not refused as malformed: %s", malformed[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secrets_are_written_from_locked_memory_into_locked_text),
		cmocka_unit_test(parsing_is_strict_and_bounded),
		cmocka_unit_test(invalid_utf8_and_nul_are_refused_in_values_and_keys),
		cmocka_unit_test(wiping_overwrites_every_string),
		cmocka_unit_test(a_member_is_read_in_place_and_bad_replies_are_refused),
	};

	return cmocka_run_group_tests_name("secjson", tests, NULL, NULL);
}
