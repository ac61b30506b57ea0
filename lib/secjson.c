// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "secjson.h"

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

static void write_value(struct strbuf *sb, struct json_object *o)
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
			write_value(sb, json_object_array_get_idx(o, i));
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
				write_value(sb, v);
			}
		}
		sb_addc(sb, '}');
		break;
	}
}

void secjson_write(struct strbuf *sb, struct json_object *o, const struct secjson_secret *secrets,
		   size_t n)
{
	size_t i, members;

	write_value(sb, o);
	if (!n || !json_object_is_type(o, json_type_object) || sb->oom)
		return;
	/* Reopen the object just written: its text ends with the closing brace. */
	sb->buf[--sb->len] = '\0';
	members = (size_t)json_object_object_length(o);
	for (i = 0; i < n; i++) {
		if (members || i)
			sb_addc(sb, ',');
		write_string(sb, secrets[i].name, strlen(secrets[i].name));
		sb_addc(sb, ':');
		write_string(sb, secrets[i].value, strlen(secrets[i].value));
	}
	sb_addc(sb, '}');
}

void secjson_wipe(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		OPENSSL_cleanse((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			secjson_wipe(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			secjson_wipe(v);
		}
		break;
	}
	default:
		break;
	}
}

/*
 * The in-place reader: it never copies, it finds the raw span of a
 * top-level string member and checks the rest of the text is well formed.
 */
static const char *js_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0.
 */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	if (*p == 0xe0)
		lo = 0xa0;
	else if (*p == 0xed)
		hi = 0x9f;
	else if (*p == 0xf0)
		lo = 0x90;
	else if (*p == 0xf4)
		hi = 0x8f;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * p at the opening quote; returns one past the closing quote or NULL. A
 * string must be valid UTF-8 and must not hold U+0000: json-c cuts object
 * keys at a NUL ({"vol\u0000zz":"A"} would read as {"vol":"A"}) and the
 * service handles every string as a C string.
 */
static const char *js_string(const char *p, const char *end)
{
	size_t n;

	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p += n) {
		n = 1;
		if (*p == '\\') {
			if (end - p >= 6 && p[1] == 'u' && !memcmp(p + 2, "0000", 4))
				return NULL;
			n = 2;
			continue;
		}
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20)
			return NULL;
		n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
		if (!n)
			return NULL;
	}
	return NULL;
}

static const char *js_value(const char *p, const char *end, int depth)
{
	const char *start;

	if (depth > 32)
		return NULL;
	p = js_ws(p, end);
	if (p >= end)
		return NULL;
	if (*p == '"')
		return js_string(p, end);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int first = 1;

		p = js_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (!first) {
				p = js_ws(p, end);
				if (p < end && *p == close)
					return p + 1;
				if (p >= end || *p != ',')
					return NULL;
				p++;
			}
			first = 0;
			if (close == '}') {
				p = js_string(js_ws(p, end), end);
				if (!p)
					return NULL;
				p = js_ws(p, end);
				if (p >= end || *p != ':')
					return NULL;
				p++;
			}
			p = js_value(p, end, depth + 1);
			if (!p)
				return NULL;
		}
	}
	/* number, true, false, null (json-c checks which, where it parses); never nothing */
	start = p;
	while (p < end && *p && strchr("+-.0123456789eEtruefalsn", *p))
		p++;
	return p > start ? p : NULL;
}

/*
 * Finds top-level member name; v and vlen get the raw string contents (between
 * the quotes, escapes unresolved). 0, -ENOENT, or -EPROTO (malformed).
 */
static int js_find(const char *p, size_t len, const char *name, char **v, size_t *vlen)
{
	const char *end = p + len, *k, *ke, *ve;
	size_t nlen = strlen(name);
	int found = -ENOENT, first = 1;

	p = js_ws(p, end);
	if (p >= end || *p != '{')
		return -EPROTO;
	p++;
	for (;;) {
		p = js_ws(p, end);
		if (p < end && *p == '}')
			break;
		if (!first) {
			if (p >= end || *p != ',')
				return -EPROTO;
			p = js_ws(p + 1, end);
		}
		first = 0;
		k = p;
		ke = js_string(k, end);
		if (!ke)
			return -EPROTO;
		p = js_ws(ke, end);
		if (p >= end || *p != ':')
			return -EPROTO;
		p = js_ws(p + 1, end);
		ve = js_value(p, end, 0);
		if (!ve)
			return -EPROTO;
		if ((size_t)(ke - k - 2) == nlen && !memcmp(k + 1, name, nlen)) {
			if (*p != '"')
				return -EPROTO;
			*v = (char *)p + 1;
			*vlen = (size_t)(ve - p - 2);
			found = 0;
		}
		p = ve;
	}
	p = js_ws(p + 1, end);
	if (p != end)
		return -EPROTO;
	return found;
}

/* Resolves the escapes base64 text and ARNs can carry, in place (it only shrinks). */
static int js_unescape(char *s, size_t *len)
{
	size_t i, o = 0;

	for (i = 0; i < *len; i++) {
		if (s[i] != '\\') {
			s[o++] = s[i];
			continue;
		}
		if (++i >= *len)
			return -EPROTO;
		switch (s[i]) {
		case '"': case '\\': case '/':
			s[o++] = s[i];
			break;
		default:
			return -EPROTO;
		}
	}
	*len = o;
	return 0;
}

struct json_object *secjson_parse(const char *buf, size_t len, int depth)
{
	struct json_tokener *tok;
	struct json_object *o;
	const char *shape_end;

	/*
	 * json-c's strict mode still takes single-quoted object keys; the
	 * scanner below knows only double quotes, so it checks the text's
	 * shape first and json-c then checks its tokens.
	 */
	shape_end = js_value(buf, buf + len, 0);
	if (!shape_end || js_ws(shape_end, buf + len) != buf + len)
		return NULL;
	tok = json_tokener_new_ex(depth);
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

int secjson_member(char *buf, size_t len, const char *name, char **value, size_t *value_len)
{
	int rc = js_find(buf, len, name, value, value_len);

	return rc ? rc : js_unescape(*value, value_len);
}
