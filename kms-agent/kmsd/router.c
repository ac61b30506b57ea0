// SPDX-License-Identifier: GPL-2.0
/*
 * The AWS JSON 1.1 protocol around the operations: POST /, X-Amz-Target
 * dispatch, one store transaction per request with its audit record
 * committed alongside, and the reply (a JSON object, or {"__type","message"}
 * with AWS's status). Field validation lives in kreq.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	{ "ListRetirableGrants", op_list_retirable_grants },
	{ "GetKeyPolicy", op_get_key_policy },
	{ "PutKeyPolicy", op_put_key_policy },
	{ "ListKeyPolicies", op_list_key_policies },
};

static void reply_error(struct kreq *req, struct http_reply *rep)
{
	struct json_object *o = json_object_new_object();
	struct strbuf sb;

	json_object_object_add(o, "__type", json_object_new_string(req->err_type));
	json_object_object_add(o, "message", json_object_new_string(req->err_msg));
	sb_init(&sb);
	secjson_write(&sb, o, NULL, 0);
	json_object_put(o);
	rep->status = req->status ? req->status : 400;
	rep->len = sb.len;
	if (sb_finish(&sb, &rep->body)) {
		rep->body = NULL;
		rep->len = 0;
		rep->status = 500;
	}
}

/* Transactions that lost a race with another instance are run again, this often. */
#define CONFLICT_RETRIES 20

/* Back to the request as it arrived, for another run of its operation. */
static int reset_for_retry(struct kreq *req)
{
	if (req->out) {
		secjson_wipe(req->out);
		json_object_put(req->out);
	}
	req->out = json_object_new_object();
	secmem_free((char *)req->secret.value);
	memset(&req->secret, 0, sizeof(req->secret));
	req->status = 0;
	req->err_type[0] = req->err_msg[0] = req->audit_key[0] = '\0';
	req->audit_ctx = NULL;
	return req->out ? 0 : -1;
}

/* A request refused before any operation ran: its audit record alone. */
static void audit_alone(struct kreq *req)
{
	struct kmsd *k = req->k;

	if (store_begin(k->db)) {
		ebs_err("audit: %s %s: the key store is unavailable", req->request_id, req->op);
		return;
	}
	if (audit_record(k, req))
		store_rollback(k->db);
	else if (store_commit(k->db))
		ebs_err("audit: %s %s: the key store could not commit", req->request_id, req->op);
}

/*
 * One store transaction per run of the operation, its audit record in it.
 * A run that lost a race with another instance or connection (the store
 * says so) left nothing behind and runs again, from the request as it came.
 */
static void run_op(struct kreq *req, kms_op_fn fn)
{
	struct kmsd *k = req->k;
	int attempt, rc;

	for (attempt = 0;; attempt++) {
		if (store_begin(k->db)) {
			kfail(req, "KMSInternalException", "the key store is unavailable");
			ebs_err("%s %s: the key store is unavailable", req->request_id, req->op);
			return;
		}
		rc = fn(req);
		if (store_conflict(k->db)) {
			store_rollback(k->db);
		} else {
			if (rc || req->err_type[0]) {
				if (!req->err_type[0])
					kfail(req, "KMSInternalException", "internal error");
				/* The request's changes go; its audit record stays. */
				rc = store_undo(k->db);
			}
			if (rc || audit_record(k, req))
				store_rollback(k->db);
			else if (!store_commit(k->db))
				return;
		}
		if (!store_conflict(k->db) || attempt >= CONFLICT_RETRIES || reset_for_retry(req))
			break;
	}
	/* Nothing of this request was kept: a success must not be reported. */
	if (!req->err_type[0])
		kfail(req, "KMSInternalException", "the key store could not commit");
	audit_alone(req);
}

void router_handle(struct kmsd *k, const char *method, const char *url,
		   const struct http_header_list *hl, const char *body, size_t body_len,
		   int body_too_large, const char *source, struct http_reply *rep)
{
	struct kreq req;
	const char *target, *ctype, *q;
	char path[256];
	kms_op_fn fn = NULL;
	size_t i, plen;

	memset(&req, 0, sizeof(req));
	memset(rep, 0, sizeof(*rep));
	req.k = k;
	req.op = "-";
	req.source = source;
	req.access_key_id = "-";
	crypto_uuid(req.request_id);
	memcpy(rep->request_id, req.request_id, sizeof(req.request_id));

	q = strchr(url, '?');
	plen = q ? (size_t)(q - url) : strlen(url);
	if (plen >= sizeof(path))
		plen = sizeof(path) - 1;
	memcpy(path, url, plen);
	path[plen] = '\0';

	target = http_header_get(hl, "X-Amz-Target");
	if (target && !strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)))
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strcmp(target + strlen(TARGET_PREFIX), ops[i].name)) {
				req.op = ops[i].name;
				fn = ops[i].fn;
			}

	if (body_too_large) {
		kfail(&req, "RequestEntityTooLargeException",
		      "request body larger than %zu bytes", k->cfg->max_body);
	} else if (strcmp(method, "POST") || strcmp(path, "/")) {
		kfail(&req, "UnknownOperationException", "only POST / is served");
	} else if (!auth_verify(&req, method, path, q ? q + 1 : NULL, hl, body, body_len)) {
		ctype = http_header_get(hl, "Content-Type");
		if (!target) {
			kfail(&req, "UnknownOperationException", "missing X-Amz-Target header");
		} else if (!fn) {
			kfail(&req, "UnknownOperationException", "unknown operation");
		} else if (!ctype || (strncasecmp(ctype, "application/x-amz-json-1.1", 26) &&
				      strncasecmp(ctype, "application/x-amz-json-1.0", 26))) {
			kfail(&req, "SerializationException",
			      "Content-Type must be application/x-amz-json-1.1");
		} else {
			req.in = secjson_parse(body, body_len, JSON_DEPTH);
			if (!req.in || !json_object_is_type(req.in, json_type_object)) {
				kfail(&req, "SerializationException", "the body is not a JSON object");
			} else {
				req.out = json_object_new_object();
				if (!req.out)
					kfail(&req, "KMSInternalException", "out of memory");
			}
		}
	}
	if (req.err_type[0])
		audit_alone(&req);
	else
		run_op(&req, fn);

	if (req.err_type[0]) {
		reply_error(&req, rep);
		if (req.status >= 500 || strcmp(req.err_type, "AccessDeniedException") == 0)
			ebs_info("%s %s from %s (%s): %s: %s", req.request_id, req.op, source,
				 req.who ? req.who->arn : "-", req.err_type, req.err_msg);
	} else {
		struct strbuf sb;

		if (req.secret.value)
			sb_init_locked(&sb);
		else
			sb_init(&sb);
		secjson_write(&sb, req.out, &req.secret, req.secret.value ? 1 : 0);
		rep->status = 200;
		rep->sensitive = sb.locked;
		rep->len = sb.len;
		if (sb_finish(&sb, &rep->body)) {
			rep->body = NULL;
			rep->len = 0;
			rep->status = 500;
		}
	}
	/* Requests may hold plaintext (Encrypt); replies hold it only in req.secret. */
	secmem_free((char *)req.secret.value);
	if (req.in) {
		secjson_wipe(req.in);
		json_object_put(req.in);
	}
	if (req.out) {
		secjson_wipe(req.out);
		json_object_put(req.out);
	}
}
