// SPDX-License-Identifier: GPL-2.0
/* Grants: CreateGrant, ListGrants, RetireGrant, RevokeGrant. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsd.h"

static char *to_text(struct json_object *o)
{
	struct strbuf sb;
	char *s = NULL;

	sb_init(&sb);
	secjson_write(&sb, o, NULL, 0);
	return sb_finish(&sb, &s) ? NULL : s;
}

static int valid_constraints(struct kreq *req, struct json_object *c)
{
	if (!json_object_is_type(c, json_type_object))
		return kfail(req, "SerializationException", "Constraints must be an object");
	{
		json_object_object_foreach(c, k, v) {
			if (strcmp(k, "EncryptionContextEquals") && strcmp(k, "EncryptionContextSubset"))
				return kfail(req, "ValidationException", "unknown constraint %s", k);
			if (!json_object_is_type(v, json_type_object))
				return kfail(req, "SerializationException", "%s must be a map of strings", k);
			{
				json_object_object_foreach(v, kk, vv) {
					(void)kk;
					if (!json_object_is_type(vv, json_type_string))
						return kfail(req, "SerializationException",
							     "%s must be a map of strings", k);
				}
			}
		}
	}
	return 0;
}

int op_create_grant(struct kreq *req)
{
	struct json_object *ops, *cons = NULL;
	const char *ref, *grantee, *retiring = NULL, *name = NULL;
	_cleanup_grant_ struct kms_grant g = { 0 };
	_cleanup_key_ struct kms_key key = { 0 };
	size_t i, n;

	if (jget_str(req, "KeyId", FIELD_REQUIRED, 2048, &ref) < 0 ||
	    jget_str(req, "GranteePrincipal", FIELD_REQUIRED, 256, &grantee) < 0 ||
	    jget_str(req, "RetiringPrincipal", FIELD_OPTIONAL, 256, &retiring) < 0 ||
	    jget_str(req, "Name", FIELD_OPTIONAL, 256, &name) < 0 ||
	    jget_str_array(req, "Operations", FIELD_REQUIRED, &ops) < 0)
		return -1;
	if (json_object_object_get_ex(req->in, "Constraints", &cons) && cons &&
	    valid_constraints(req, cons))
		return -1;
	n = json_object_array_length(ops);
	if (!n)
		return kfail(req, "ValidationException", "Operations must list at least one operation");
	for (i = 0; i < n; i++) {
		const char *op = json_object_get_string(json_object_array_get_idx(ops, i));

		if (!grant_op_valid(op))
			return kfail(req, "ValidationException",
				     "1 validation error detected: Value '%s' at 'operations' failed to "
				     "satisfy constraint: Member must satisfy enum value set", op);
		if (cons && !strcmp(op, "DescribeKey"))
			return kfail(req, "ValidationException",
				     "DescribeKey cannot be granted with encryption context constraints");
	}
	if (key_resolve(req, ref, KEY_REF_ID, &key) ||
	    authorize_create_grant(req, &key, ops, grantee, cons))
		return -1;
	if (!strcmp(key.state, "PendingDeletion")) {
		char arn[256];

		key_arn(req->k, key.id, arn, sizeof(arn));
		return kfail(req, "KMSInvalidStateException", "%s is pending deletion.", arn);
	}
	crypto_random_hex(g.id, 32);
	crypto_random_hex(g.token, 64);
	snprintf(g.key_id, sizeof(g.key_id), "%s", key.id);
	snprintf(g.grantee, sizeof(g.grantee), "%s", grantee);
	snprintf(g.retiring, sizeof(g.retiring), "%s", retiring ? retiring : "");
	snprintf(g.name, sizeof(g.name), "%s", name ? name : "");
	snprintf(g.issuing, sizeof(g.issuing), "%s", req->k->cfg->account_id);
	g.created = req->k->now();
	g.operations = to_text(ops);
	g.constraints = cons ? to_text(cons) : NULL;
	if (!g.operations || (cons && !g.constraints) || store_grant_put(req->k->db, &g))
		return kfail(req, "KMSInternalException", "cannot store the grant");
	json_object_object_add(req->out, "GrantToken", json_object_new_string(g.token));
	json_object_object_add(req->out, "GrantId", json_object_new_string(g.id));
	return 0;
}

struct grant_list {
	struct kpage page;
	const char *only_id;
};

static int grant_cb(void *arg, const struct kms_grant *g)
{
	struct grant_list *l = arg;
	struct json_object *e, *ops, *cons;
	char arn[256], issuing[64];

	if (l->only_id && strcmp(l->only_id, g->id))
		return 0;
	e = page_entry(&l->page, g->id);
	if (!e)
		return 1;
	key_arn(l->page.req->k, g->key_id, arn, sizeof(arn));
	snprintf(issuing, sizeof(issuing), "arn:aws:iam::%s:root", g->issuing);
	json_object_object_add(e, "KeyId", json_object_new_string(arn));
	json_object_object_add(e, "GrantId", json_object_new_string(g->id));
	if (g->name[0])
		json_object_object_add(e, "Name", json_object_new_string(g->name));
	json_object_object_add(e, "CreationDate", json_object_new_int64(g->created));
	json_object_object_add(e, "GranteePrincipal", json_object_new_string(g->grantee));
	if (g->retiring[0])
		json_object_object_add(e, "RetiringPrincipal", json_object_new_string(g->retiring));
	json_object_object_add(e, "IssuingAccount", json_object_new_string(issuing));
	ops = json_tokener_parse(g->operations);
	json_object_object_add(e, "Operations", ops ? ops : json_object_new_array());
	if (g->constraints && (cons = json_tokener_parse(g->constraints)))
		json_object_object_add(e, "Constraints", cons);
	return 0;
}

int op_list_grants(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	const char *ref, *marker, *grantee = NULL;
	struct grant_list l = { .only_id = NULL };

	if (jget_str(req, "KeyId", FIELD_REQUIRED, 2048, &ref) < 0 || page_args(req, 50, 100, &l.page, &marker) ||
	    jget_str(req, "GrantId", FIELD_OPTIONAL, 128, &l.only_id) < 0 ||
	    jget_str(req, "GranteePrincipal", FIELD_OPTIONAL, 256, &grantee) < 0)
		return -1;
	if (key_resolve(req, ref, KEY_REF_ID, &key) || authorize(req, &key, "ListGrants", NULL))
		return -1;
	page_begin(&l.page, "Grants");
	if (store_grants_list(req->k->db, key.id, grantee, marker, 100000, grant_cb, &l))
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	page_end(&l.page);
	return 0;
}

int op_retire_grant(struct kreq *req)
{
	const char *token = NULL, *ref = NULL, *gid = NULL;
	_cleanup_grant_ struct kms_grant g = { 0 };
	_cleanup_key_ struct kms_key key = { 0 };
	int rc, allowed;

	if (jget_str(req, "GrantToken", FIELD_OPTIONAL, 8192, &token) < 0 ||
	    jget_str(req, "KeyId", FIELD_OPTIONAL, 2048, &ref) < 0 ||
	    jget_str(req, "GrantId", FIELD_OPTIONAL, 128, &gid) < 0)
		return -1;
	if (!token && !(ref && gid))
		return kfail(req, "ValidationException", "Specify GrantToken, or KeyId and GrantId");
	rc = store_grant_get(req->k->db, token ? NULL : gid, token, &g);
	if (rc == -ENOENT)
		return token ? kfail(req, "InvalidGrantTokenException", "The grant token is not valid.")
			     : kfail(req, "NotFoundException", "Grant %s does not exist", gid);
	if (rc)
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	if (key_resolve(req, g.key_id, KEY_REF_ID, &key))
		return -1;
	if (ref) {
		_cleanup_key_ struct kms_key want = { 0 };

		if (key_resolve(req, ref, KEY_REF_ID, &want))
			return -1;
		if (strcmp(want.id, key.id) || (gid && strcmp(gid, g.id)))
			return kfail(req, "NotFoundException", "Grant %s does not exist on this key",
				     gid ? gid : "");
	}
	allowed = (g.retiring[0] && !strcmp(g.retiring, req->who->arn)) ||
		  (!strcmp(g.grantee, req->who->arn) && grant_has_op(&g, "RetireGrant")) ||
		  policy_permits(req, &key, "RetireGrant");
	if (!allowed)
		return kfail(req, "AccessDeniedException",
			     "User: %s is not authorized to perform: kms:RetireGrant on grant %s",
			     req->who->arn, g.id);
	return store_grant_delete(req->k->db, g.id) ?
	       kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
}

int op_revoke_grant(struct kreq *req)
{
	const char *ref, *gid;
	_cleanup_grant_ struct kms_grant g = { 0 };
	_cleanup_key_ struct kms_key key = { 0 };
	int rc;

	if (jget_str(req, "KeyId", FIELD_REQUIRED, 2048, &ref) < 0 || jget_str(req, "GrantId", FIELD_REQUIRED, 128, &gid) < 0)
		return -1;
	if (key_resolve(req, ref, KEY_REF_ID, &key))
		return -1;
	if (authorize(req, &key, "RevokeGrant", NULL))
		return -1;
	rc = store_grant_get(req->k->db, gid, NULL, &g);
	if (!rc && strcmp(g.key_id, key.id))
		rc = -ENOENT;
	if (rc == -ENOENT)
		return kfail(req, "NotFoundException", "Grant %s does not exist", gid);
	if (rc || store_grant_delete(req->k->db, gid))
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	return 0;
}

/*
 * ListRetirableGrants: the grants a principal may retire, across every key.
 * A principal lists only its own (AWS lets IAM policies widen this; here
 * only account admins may name another principal). RetiringPrincipal may be
 * left out and then means the caller: a host that holds nothing but its own
 * credentials finds the attach grants it must retire at detach this way,
 * without ListGrants on any key. Marker: how many entries came before.
 */
struct retirable {
	struct grant_list l;
	const char *retiring;
	long long skip;
	int failed;
};

static int retirable_grant_cb(void *arg, const struct kms_grant *g)
{
	struct retirable *r = arg;

	if (strcmp(g->retiring, r->retiring))
		return 0;
	if (r->skip > 0) {
		r->skip--;
		return 0;
	}
	return grant_cb(&r->l, g);
}

static int retirable_key_cb(void *arg, const char *id)
{
	struct retirable *r = arg;

	if (store_grants_list(r->l.page.req->k->db, id, NULL, NULL, 100000, retirable_grant_cb, r)) {
		r->failed = 1;
		return 1;
	}
	return r->l.page.more;
}

int op_list_retirable_grants(struct kreq *req)
{
	struct retirable r = { .l = { .only_id = NULL } };
	const char *marker;
	char next[32];

	if (jget_str(req, "RetiringPrincipal", FIELD_OPTIONAL, 256, &r.retiring) < 0 ||
	    page_args(req, 50, 100, &r.l.page, &marker))
		return -1;
	if (!r.retiring)
		r.retiring = req->who->arn;
	if (strcmp(r.retiring, req->who->arn) && authorize_account(req, ROLE_ADMIN))
		return -1;
	if (marker) {
		char *end;

		r.skip = strtoll(marker, &end, 10);
		if (*end || r.skip < 0)
			return kfail(req, "InvalidMarkerException", "The marker is not valid.");
	}
	page_begin(&r.l.page, "Grants");
	{
		long long first = r.skip;

		if (store_keys_list(req->k->db, NULL, 1000000, retirable_key_cb, &r) || r.failed)
			return kfail(req, "KMSInternalException", "the key store is unavailable");
		json_object_object_add(req->out, "Truncated", json_object_new_boolean(r.l.page.more));
		if (r.l.page.more) {
			snprintf(next, sizeof(next), "%lld", first + r.l.page.count);
			json_object_object_add(req->out, "NextMarker", json_object_new_string(next));
		}
	}
	return 0;
}
