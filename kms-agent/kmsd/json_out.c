// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "json_out.h"

static void write_string(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;

	sb_addc(sb, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			sb_adds(sb, "\\\"");
			break;
		case '\\':
			sb_adds(sb, "\\\\");
			break;
		case '\n':
			sb_adds(sb, "\\n");
			break;
		case '\r':
			sb_adds(sb, "\\r");
			break;
		case '\t':
			sb_adds(sb, "\\t");
			break;
		default:
			if (c < 0x20)
				sb_addf(sb, "\\u%04x", c);
			else
				sb_addc(sb, (char)c);
		}
	}
	sb_addc(sb, '"');
}

void json_write(struct strbuf *sb, struct json_object *o)
{
	size_t i, n;
	int first = 1;

	switch (json_object_get_type(o)) {
	case json_type_null:
		sb_adds(sb, "null");
		break;
	case json_type_boolean:
		sb_adds(sb, json_object_get_boolean(o) ? "true" : "false");
		break;
	case json_type_int:
		sb_addf(sb, "%" PRId64, json_object_get_int64(o));
		break;
	case json_type_double:
		sb_addf(sb, "%.17g", json_object_get_double(o));
		break;
	case json_type_string:
		write_string(sb, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		sb_addc(sb, '[');
		n = json_object_array_length(o);
		for (i = 0; i < n; i++) {
			if (i)
				sb_addc(sb, ',');
			json_write(sb, json_object_array_get_idx(o, i));
		}
		sb_addc(sb, ']');
		break;
	case json_type_object:
		sb_addc(sb, '{');
		{
			json_object_object_foreach(o, k, v) {
				if (!first)
					sb_addc(sb, ',');
				first = 0;
				write_string(sb, k, strlen(k));
				sb_addc(sb, ':');
				json_write(sb, v);
			}
		}
		sb_addc(sb, '}');
		break;
	}
}

void json_wipe_strings(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		OPENSSL_cleanse((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			json_wipe_strings(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			json_wipe_strings(v);
		}
		break;
	}
	default:
		break;
	}
}

struct json_object *json_parse_wiped(const char *buf, size_t len, int depth)
{
	struct json_tokener *tok = json_tokener_new_ex(depth);
	struct json_object *o;

	if (!tok)
		return NULL;
	/*
	 * The tokener's printbuf is a public (if deprecated) field; growing it
	 * once to the input size means no string can make it reallocate.
	 */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 1) < 0) {
		json_tokener_free(tok);
		return NULL;
	}
	printbuf_reset(tok->pb);
	/* Strict JSON only: json-c otherwise takes single quotes, trailing commas... */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o) {
		size_t end = json_tokener_get_parse_end(tok);

		while (end < len && strchr(" \t\r\n", buf[end]) && buf[end])
			end++;
		if (end != len) {
			json_object_put(o);
			o = NULL;
		}
	}
	OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}
