// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "ctl.h"
#include "header.h"

/* Sizes like EC2's --size are GiB; suffixes allow the small volumes tests use. */
int parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	uint64_t mult = 1ull << 30;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	case 't': case 'T': mult = 1ull << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || !v || v > (1ull << 54) / mult)
		return -EINVAL;
	*bytes = v * mult;
	return 0;
}

int random_hex_id(const char *prefix, char *out, size_t len)
{
	uint8_t r[9];
	char hex[19];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	ebs_hex(r, sizeof(r), hex);
	hex[17] = '\0';         /* EC2 ids: 17 hex digits */
	snprintf(out, len, "%s-%s", prefix, hex);
	return 0;
}

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

int jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_boolean(v);
}

void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_SPACED |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
}

void print_records(struct ctl *c, const char *member, struct json_object *arr,
		   void (*row)(struct json_object *o))
{
	_cleanup_json_ struct json_object *o = NULL;
	size_t i;

	if (!c->json) {
		for (i = 0; i < json_object_array_length(arr); i++)
			row(json_object_array_get_idx(arr, i));
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, member, json_object_get(arr));
	print_json(o);
}

void format_time(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ctl_show_progress(struct ctl *c)
{
	return !c->json && isatty(STDERR_FILENO);
}
