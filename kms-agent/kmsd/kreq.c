// SPDX-License-Identifier: GPL-2.0
/*
 * The plumbing every operation shares: recording a request's failure as an
 * AWS error (the first one wins), reading and validating its JSON fields
 * with the error types and messages AWS gives, and finding HTTP headers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "kmsd.h"
#include "secmem.h"

static int status_for(const char *type)
{
	if (!strcmp(type, "KMSInternalException"))
		return 500;
	if (!strcmp(type, "DependencyTimeoutException"))
		return 503;
	if (!strcmp(type, "MissingAuthenticationTokenException"))
		return 403;
	if (!strcmp(type, "RequestEntityTooLargeException"))
		return 413;
	return 400;
}

int kfail(struct kreq *req, const char *type, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the one reported; later ones are consequences. */
	if (req->err_type[0])
		return -1;
	snprintf(req->err_type, sizeof(req->err_type), "%s", type);
	req->status = status_for(type);
	va_start(ap, fmt);
	vsnprintf(req->err_msg, sizeof(req->err_msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* AWS names members in validation messages with a lower-case first letter. */
static const char *member(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s", name);
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static int missing(struct kreq *req, const char *name)
{
	char m[64];

	return kfail(req, "ValidationException",
		     "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
		     "Member must not be null", member(name, m, sizeof(m)));
}

static int wrong_type(struct kreq *req, const char *name, const char *want)
{
	return kfail(req, "SerializationException", "%s must be %s", name, want);
}

static struct json_object *field(struct kreq *req, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req->in, name, &v) || !v)
		return NULL;
	return v;
}

int jget_str(struct kreq *req, const char *name, enum field_need need, size_t maxlen, const char **out)
{
	struct json_object *v = field(req, name);
	size_t len;
	char m[64];

	*out = NULL;
	if (!v)
		return need == FIELD_REQUIRED ? missing(req, name) : 0;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(req, name, "a string");
	len = (size_t)json_object_get_string_len(v);
	if (!len || len > maxlen || strlen(json_object_get_string(v)) != len)
		return kfail(req, "ValidationException",
			     "1 validation error detected: Value at '%s' failed to satisfy constraint: "
			     "Member must have length between 1 and %zu", member(name, m, sizeof(m)), maxlen);
	*out = json_object_get_string(v);
	return 1;
}

int jget_int(struct kreq *req, const char *name, enum field_need need, long long lo, long long hi,
	     long long *out)
{
	struct json_object *v = field(req, name);
	long long n;
	char m[64];

	if (!v)
		return need == FIELD_REQUIRED ? missing(req, name) : 0;
	if (!json_object_is_type(v, json_type_int))
		return wrong_type(req, name, "an integer");
	n = (long long)json_object_get_int64(v);
	if (n < lo || n > hi)
		return kfail(req, "ValidationException",
			     "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
			     "constraint: Member must have value between %lld and %lld",
			     n, member(name, m, sizeof(m)), lo, hi);
	*out = n;
	return 1;
}

int jget_bool(struct kreq *req, const char *name, int *out)
{
	struct json_object *v = field(req, name);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return wrong_type(req, name, "a boolean");
	*out = json_object_get_boolean(v);
	return 1;
}

int jget_ctx(struct kreq *req, const char *name, struct json_object **out)
{
	struct json_object *v = field(req, name);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return wrong_type(req, name, "a map of strings");
	if (json_object_object_length(v) > 64)
		return kfail(req, "ValidationException", "%s has too many pairs", name);
	{
		json_object_object_foreach(v, k, val) {
			if (!json_object_is_type(val, json_type_string))
				return wrong_type(req, name, "a map of strings");
			if (!*k || strlen(k) > 2048 || json_object_get_string_len(val) > 2048 ||
			    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val))
				return kfail(req, "ValidationException",
					     "%s keys and values must be 1..2048 characters", name);
		}
	}
	*out = v;
	return 1;
}

int jget_blob(struct kreq *req, const char *name, enum field_need need, size_t maxlen,
	      uint8_t **out, size_t *len)
{
	struct json_object *v = field(req, name);
	const char *s;
	size_t slen, n;
	char m[64];

	*out = NULL;
	*len = 0;
	if (!v)
		return need == FIELD_REQUIRED ? missing(req, name) : 0;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(req, name, "a base64-encoded blob");
	s = json_object_get_string(v);
	slen = (size_t)json_object_get_string_len(v);
	if (b64_decoded_len(s, slen, &n))
		return kfail(req, "SerializationException", "%s is not valid base64", name);
	if (!n || n > maxlen)
		return kfail(req, "ValidationException",
			     "1 validation error detected: Value at '%s' failed to satisfy constraint: "
			     "Member must have length between 1 and %zu", member(name, m, sizeof(m)), maxlen);
	/* Locked memory: the blob may be a plaintext (Encrypt). */
	*out = secmem_alloc(n);
	if (!*out)
		return kfail(req, "KMSInternalException", "out of memory");
	if (b64_decode(s, slen, *out, n, len)) {
		secmem_free(*out);
		*out = NULL;
		return kfail(req, "SerializationException", "%s is not valid base64", name);
	}
	return 1;
}

int jget_str_array(struct kreq *req, const char *name, enum field_need need, struct json_object **out)
{
	struct json_object *v = field(req, name);
	size_t i, n;

	*out = NULL;
	if (!v)
		return need == FIELD_REQUIRED ? missing(req, name) : 0;
	if (!json_object_is_type(v, json_type_array))
		return wrong_type(req, name, "a list of strings");
	n = json_object_array_length(v);
	for (i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return wrong_type(req, name, "a list of strings");
	*out = v;
	return 1;
}

const char *http_header_get(const struct http_header_list *hl, const char *name)
{
	size_t i;

	for (i = 0; i < hl->n; i++)
		if (!strcasecmp(hl->h[i].name, name))
			return hl->h[i].value;
	return NULL;
}
