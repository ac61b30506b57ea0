// SPDX-License-Identifier: GPL-2.0
/*
 * The AWS JSON 1.1 protocol around the operations: POST /, X-Amz-Target
 * dispatch, request field validation with AWS's error types, one store
 * transaction per request with its audit record committed alongside, and
 * the reply (a JSON object, or {"__type","message"} with AWS's status).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "json_out.h"
#include "kmsd.h"
#include "log.h"
#include "secmem.h"
#include "strbuf.h"

#define TARGET_PREFIX "TrentService."
#define JSON_DEPTH 16

static const struct {
	const char *name;
	kms_op_fn fn;
} ops[] = {
	{ "CreateKey", op_create_key },
	{ "DescribeKey", op_describe_key },
	{ "ListKeys", op_list_keys },
	{ "EnableKey", op_enable_key },
	{ "DisableKey", op_disable_key },
	{ "ScheduleKeyDeletion", op_schedule_key_deletion },
	{ "CancelKeyDeletion", op_cancel_key_deletion },
	{ "EnableKeyRotation", op_enable_key_rotation },
	{ "DisableKeyRotation", op_disable_key_rotation },
	{ "GetKeyRotationStatus", op_get_key_rotation_status },
	{ "RotateKeyOnDemand", op_rotate_key_on_demand },
	{ "CreateAlias", op_create_alias },
	{ "UpdateAlias", op_update_alias },
	{ "DeleteAlias", op_delete_alias },
	{ "ListAliases", op_list_aliases },
	{ "Encrypt", op_encrypt },
	{ "Decrypt", op_decrypt },
	{ "ReEncrypt", op_reencrypt },
	{ "GenerateDataKey", op_generate_data_key },
	{ "GenerateDataKeyWithoutPlaintext", op_generate_data_key_without_plaintext },
	{ "CreateGrant", op_create_grant },
	{ "ListGrants", op_list_grants },
	{ "RetireGrant", op_retire_grant },
	{ "RevokeGrant", op_revoke_grant },
};

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

int kfail(struct kreq *r, const char *type, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the one reported; later ones are consequences. */
	if (r->err_type[0])
		return -1;
	snprintf(r->err_type, sizeof(r->err_type), "%s", type);
	r->status = status_for(type);
	va_start(ap, fmt);
	vsnprintf(r->err_msg, sizeof(r->err_msg), fmt, ap);
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

static int missing(struct kreq *r, const char *name)
{
	char m[64];

	return kfail(r, "ValidationException",
		     "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
		     "Member must not be null", member(name, m, sizeof(m)));
}

static int wrong_type(struct kreq *r, const char *name, const char *want)
{
	return kfail(r, "SerializationException", "%s must be %s", name, want);
}

static struct json_object *field(struct kreq *r, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(r->in, name, &v) || !v)
		return NULL;
	return v;
}

int jget_str(struct kreq *r, const char *name, int required, size_t maxlen, const char **out)
{
	struct json_object *v = field(r, name);
	size_t len;
	char m[64];

	*out = NULL;
	if (!v)
		return required ? missing(r, name) : 0;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(r, name, "a string");
	len = (size_t)json_object_get_string_len(v);
	if (!len || len > maxlen || strlen(json_object_get_string(v)) != len)
		return kfail(r, "ValidationException",
			     "1 validation error detected: Value at '%s' failed to satisfy constraint: "
			     "Member must have length between 1 and %zu", member(name, m, sizeof(m)), maxlen);
	*out = json_object_get_string(v);
	return 1;
}

int jget_int(struct kreq *r, const char *name, int required, long long lo, long long hi,
	     long long *out)
{
	struct json_object *v = field(r, name);
	long long n;
	char m[64];

	if (!v)
		return required ? missing(r, name) : 0;
	if (!json_object_is_type(v, json_type_int))
		return wrong_type(r, name, "an integer");
	n = (long long)json_object_get_int64(v);
	if (n < lo || n > hi)
		return kfail(r, "ValidationException",
			     "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
			     "constraint: Member must have value between %lld and %lld",
			     n, member(name, m, sizeof(m)), lo, hi);
	*out = n;
	return 1;
}

int jget_bool(struct kreq *r, const char *name, int *out)
{
	struct json_object *v = field(r, name);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return wrong_type(r, name, "a boolean");
	*out = json_object_get_boolean(v);
	return 1;
}

int jget_ctx(struct kreq *r, const char *name, struct json_object **out)
{
	struct json_object *v = field(r, name);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return wrong_type(r, name, "a map of strings");
	if (json_object_object_length(v) > 64)
		return kfail(r, "ValidationException", "%s has too many pairs", name);
	{
		json_object_object_foreach(v, k, val) {
			if (!json_object_is_type(val, json_type_string))
				return wrong_type(r, name, "a map of strings");
			if (!*k || strlen(k) > 2048 || json_object_get_string_len(val) > 2048 ||
			    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val))
				return kfail(r, "ValidationException",
					     "%s keys and values must be 1..2048 characters", name);
		}
	}
	*out = v;
	return 1;
}

int jget_blob(struct kreq *r, const char *name, int required, size_t maxlen,
	      uint8_t **out, size_t *len)
{
	struct json_object *v = field(r, name);
	const char *s;
	size_t slen, n;
	char m[64];

	*out = NULL;
	*len = 0;
	if (!v)
		return required ? missing(r, name) : 0;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(r, name, "a base64-encoded blob");
	s = json_object_get_string(v);
	slen = (size_t)json_object_get_string_len(v);
	if (b64_decoded_len(s, slen, &n))
		return kfail(r, "SerializationException", "%s is not valid base64", name);
	if (!n || n > maxlen)
		return kfail(r, "ValidationException",
			     "1 validation error detected: Value at '%s' failed to satisfy constraint: "
			     "Member must have length between 1 and %zu", member(name, m, sizeof(m)), maxlen);
	/* Locked memory: the blob may be a plaintext (Encrypt). */
	*out = secmem_alloc(n);
	if (!*out)
		return kfail(r, "KMSInternalException", "out of memory");
	if (b64_decode(s, slen, *out, n, len)) {
		secmem_free(*out, n);
		*out = NULL;
		return kfail(r, "SerializationException", "%s is not valid base64", name);
	}
	return 1;
}

int jget_str_array(struct kreq *r, const char *name, int required, struct json_object **out)
{
	struct json_object *v = field(r, name);
	size_t i, n;

	*out = NULL;
	if (!v)
		return required ? missing(r, name) : 0;
	if (!json_object_is_type(v, json_type_array))
		return wrong_type(r, name, "a list of strings");
	n = json_object_array_length(v);
	for (i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return wrong_type(r, name, "a list of strings");
	*out = v;
	return 1;
}

static const char *header(const struct http_header_list *hl, const char *name)
{
	size_t i;

	for (i = 0; i < hl->n; i++)
		if (!strcasecmp(hl->h[i].name, name))
			return hl->h[i].value;
	return NULL;
}

static void reply_error(struct kreq *r, struct http_reply *rep)
{
	struct json_object *o = json_object_new_object();
	struct strbuf sb;

	json_object_object_add(o, "__type", json_object_new_string(r->err_type));
	json_object_object_add(o, "message", json_object_new_string(r->err_msg));
	sb_init(&sb);
	json_write(&sb, o);
	json_object_put(o);
	rep->status = r->status ? r->status : 400;
	rep->len = sb.len;
	if (sb_finish(&sb, &rep->body)) {
		rep->body = NULL;
		rep->len = 0;
		rep->status = 500;
	}
}

static void run_op(struct kreq *r, kms_op_fn fn)
{
	struct kmsd *k = r->k;
	int rc;

	if (store_begin(k->db)) {
		kfail(r, "KMSInternalException", "the key store is unavailable");
		audit_record(k, r);
		return;
	}
	rc = fn(r);
	if (!rc && !r->err_type[0]) {
		/* The audit record commits with the change it describes, or neither does. */
		if (audit_record(k, r) || store_commit(k->db)) {
			store_rollback(k->db);
			kfail(r, "KMSInternalException", "the key store could not commit");
			audit_record(k, r);
		}
		return;
	}
	if (!r->err_type[0])
		kfail(r, "KMSInternalException", "internal error");
	store_rollback(k->db);
	audit_record(k, r);
}

void router_handle(struct kmsd *k, const char *method, const char *url,
		   const struct http_header_list *hl, const char *body, size_t body_len,
		   int body_too_large, const char *source, struct http_reply *rep)
{
	struct kreq r;
	const char *target, *ctype, *q;
	char path[256];
	kms_op_fn fn = NULL;
	size_t i, plen;

	memset(&r, 0, sizeof(r));
	memset(rep, 0, sizeof(*rep));
	r.k = k;
	r.op = "-";
	r.source = source;
	r.access_key_id = "-";
	crypto_uuid(r.request_id);
	memcpy(rep->request_id, r.request_id, sizeof(r.request_id));

	q = strchr(url, '?');
	plen = q ? (size_t)(q - url) : strlen(url);
	if (plen >= sizeof(path))
		plen = sizeof(path) - 1;
	memcpy(path, url, plen);
	path[plen] = '\0';

	target = header(hl, "X-Amz-Target");
	if (target && !strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)))
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strcmp(target + strlen(TARGET_PREFIX), ops[i].name)) {
				r.op = ops[i].name;
				fn = ops[i].fn;
			}

	pthread_mutex_lock(&k->lock);
	if (body_too_large) {
		kfail(&r, "RequestEntityTooLargeException",
		      "request body larger than %zu bytes", k->cfg->max_body);
	} else if (strcmp(method, "POST") || strcmp(path, "/")) {
		kfail(&r, "UnknownOperationException", "only POST / is served");
	} else if (!auth_verify(&r, method, path, q ? q + 1 : NULL, hl, body, body_len)) {
		ctype = header(hl, "Content-Type");
		if (!target) {
			kfail(&r, "UnknownOperationException", "missing X-Amz-Target header");
		} else if (!fn) {
			kfail(&r, "UnknownOperationException", "unknown operation");
		} else if (!ctype || (strncasecmp(ctype, "application/x-amz-json-1.1", 26) &&
				      strncasecmp(ctype, "application/x-amz-json-1.0", 26))) {
			kfail(&r, "SerializationException",
			      "Content-Type must be application/x-amz-json-1.1");
		} else {
			r.in = json_parse_wiped(body, body_len, JSON_DEPTH);
			if (!r.in || !json_object_is_type(r.in, json_type_object)) {
				kfail(&r, "SerializationException", "the body is not a JSON object");
			} else {
				r.out = json_object_new_object();
				if (!r.out)
					kfail(&r, "KMSInternalException", "out of memory");
			}
		}
	}
	if (r.err_type[0])
		audit_record(k, &r);
	else
		run_op(&r, fn);
	pthread_mutex_unlock(&k->lock);

	if (r.err_type[0]) {
		reply_error(&r, rep);
		if (r.status >= 500 || strcmp(r.err_type, "AccessDeniedException") == 0)
			ebs_info("%s %s from %s (%s): %s: %s", r.request_id, r.op, source,
				 r.who ? r.who->arn : "-", r.err_type, r.err_msg);
	} else {
		struct strbuf sb;

		sb_init(&sb);
		json_write(&sb, r.out);
		rep->status = 200;
		rep->sensitive = r.sensitive;
		rep->len = sb.len;
		if (sb_finish(&sb, &rep->body)) {
			rep->body = NULL;
			rep->len = 0;
			rep->status = 500;
		}
	}
	/* Requests and replies may hold plaintext (Encrypt, GenerateDataKey, Decrypt). */
	if (r.in) {
		json_wipe_strings(r.in);
		json_object_put(r.in);
	}
	if (r.out) {
		json_wipe_strings(r.out);
		json_object_put(r.out);
	}
}
