// SPDX-License-Identifier: GPL-2.0
/*
 * Authorization. A key's policy is two lists of principal ARNs: admins
 * (manage the key) and users (cryptographic use and DescribeKey). By
 * default the creating principal administers it. On top of every key's
 * policy, the config's roles apply account-wide, like IAM policies on the
 * account: role "admin" administers and uses every key, role "user" uses
 * every key. Anything else must come from a grant on the key naming the
 * principal as grantee and the operation, whose encryption-context
 * constraint (if any) the request's context satisfies.
 *
 * A CreateKey Policy document is read as an IAM key policy restricted to
 * Allow statements: "kms:*" makes a principal admin and user, the
 * cryptographic actions (and DescribeKey) make it a user, any other kms:
 * action makes it an admin.
 */
#include <stdio.h>
#include <string.h>

#include "kmsd.h"

static const char *const use_ops[] = {
	"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "DescribeKey", NULL,
};

static const char *const grant_ops[] = {
	"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant", "RetireGrant", NULL,
};

/*
 * What AWS-managed keys still allow the account's principals beyond use:
 * read-only views, and (as the aws/ebs key policy does for EBS) creating
 * and revoking grants, which is how a volume is authorized for a host.
 */
static const char *const managed_view_ops[] = {
	"GetKeyRotationStatus", "ListGrants", "CreateGrant", "RevokeGrant", NULL,
};

static int in_set(const char *const *set, const char *op)
{
	for (; *set; set++)
		if (!strcmp(*set, op))
			return 1;
	return 0;
}

int grant_op_valid(const char *op)
{
	return in_set(grant_ops, op);
}

static int in_list(const char *json_list, const char *arn)
{
	_cleanup_json_ struct json_object *a = json_list ? json_tokener_parse(json_list) : NULL;
	size_t i, n;
	int found = 0;

	if (a && json_object_is_type(a, json_type_array)) {
		n = json_object_array_length(a);
		for (i = 0; i < n && !found; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(a, i));

			found = s && (!strcmp(s, arn) || !strcmp(s, "*"));
		}
	}
	return found;
}

static int ctx_get(struct json_object *ctx, const char *k, const char **v)
{
	struct json_object *o;

	if (!ctx || !json_object_object_get_ex(ctx, k, &o))
		return 0;
	*v = json_object_get_string(o);
	return 1;
}

/* Whether ctx satisfies a grant's Constraints object. */
static int constraints_ok(const char *constraints, struct json_object *ctx)
{
	_cleanup_json_ struct json_object *c = NULL;
	struct json_object *eq, *sub;
	int ok = 1;

	if (!constraints)
		return 1;
	c = json_tokener_parse(constraints);
	if (!c)
		return 0;
	if (json_object_object_get_ex(c, "EncryptionContextEquals", &eq)) {
		size_t n = ctx ? (size_t)json_object_object_length(ctx) : 0;

		if ((size_t)json_object_object_length(eq) != n)
			ok = 0;
		{
			json_object_object_foreach(eq, k, v) {
				const char *have;

				if (!ctx_get(ctx, k, &have) || strcmp(have, json_object_get_string(v)))
					ok = 0;
			}
		}
	}
	if (json_object_object_get_ex(c, "EncryptionContextSubset", &sub)) {
		json_object_object_foreach(sub, k, v) {
			const char *have;

			if (!ctx_get(ctx, k, &have) || strcmp(have, json_object_get_string(v)))
				ok = 0;
		}
	}
	return ok;
}

struct grant_search {
	const char *op;
	struct json_object *ctx;
	int found;
};

int grant_has_op(const struct kms_grant *g, const char *op)
{
	_cleanup_json_ struct json_object *ops = json_tokener_parse(g->operations);
	size_t i, n;
	int has = 0;

	if (ops && json_object_is_type(ops, json_type_array)) {
		n = json_object_array_length(ops);
		for (i = 0; i < n && !has; i++)
			has = !strcmp(json_object_get_string(json_object_array_get_idx(ops, i)), op);
	}
	return has;
}

static int grant_allows(void *arg, const struct kms_grant *g)
{
	struct grant_search *s = arg;

	if (grant_has_op(g, s->op) && constraints_ok(g->constraints, s->ctx))
		s->found = 1;
	return s->found;
}

static int key_admin(const struct kreq *req, const struct kms_key *key)
{
	return req->who->role == ROLE_ADMIN || in_list(key->policy_admins, req->who->arn);
}

int policy_is_admin(const struct kreq *req, const struct kms_key *key)
{
	return !key->managed && key_admin(req, key);
}

static int denied(struct kreq *req, const struct kms_key *key, const char *op)
{
	char arn[256];

	key_arn(req->k, key->id, arn, sizeof(arn));
	return kfail(req, "AccessDeniedException",
		     "User: %s is not authorized to perform: kms:%s on resource: %s because no "
		     "resource-based policy or grant allows the kms:%s action",
		     req->who->arn, op, arn, op);
}

int authorize(struct kreq *req, const struct kms_key *key, const char *op, struct json_object *ctx)
{
	struct grant_search s = { op, ctx, 0 };
	int use = in_set(use_ops, op);

	if (key->managed) {
		/* AWS-managed keys: the account may use and view them, nobody manages them. */
		if ((use || in_set(managed_view_ops, op)) && req->who->role >= ROLE_USER)
			return 0;
	} else {
		if (key_admin(req, key))
			return 0;
		if (use && (req->who->role >= ROLE_USER || in_list(key->policy_users, req->who->arn)))
			return 0;
	}
	if (grant_op_valid(op)) {
		if (store_grants_list(req->k->db, key->id, req->who->arn, NULL, 100000, grant_allows, &s))
			return kfail(req, "KMSInternalException", "the key store is unavailable");
		if (s.found)
			return 0;
	}
	return denied(req, key, op);
}

int authorize_account(struct kreq *req, enum kmsd_role need)
{
	if (req->who->role >= need)
		return 0;
	return kfail(req, "AccessDeniedException",
		     "User: %s is not authorized to perform: kms:%s", req->who->arn, req->op);
}

static int add_principals(struct json_object *principal, struct json_object *list)
{
	struct json_object *aws;
	size_t i, n;

	if (json_object_is_type(principal, json_type_string) &&
	    !strcmp(json_object_get_string(principal), "*")) {
		json_object_array_add(list, json_object_new_string("*"));
		return 0;
	}
	if (!json_object_is_type(principal, json_type_object) ||
	    !json_object_object_get_ex(principal, "AWS", &aws))
		return -1;
	if (json_object_is_type(aws, json_type_string)) {
		json_object_array_add(list, json_object_new_string(json_object_get_string(aws)));
		return 0;
	}
	if (!json_object_is_type(aws, json_type_array))
		return -1;
	n = json_object_array_length(aws);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(aws, i);

		if (!json_object_is_type(e, json_type_string))
			return -1;
		json_object_array_add(list, json_object_new_string(json_object_get_string(e)));
	}
	return 0;
}

/* Classifies one action: 3 admin+user, 2 admin, 1 user, -1 invalid. */
static int action_class(const char *a)
{
	static const char *const crypto[] = {
		"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:ReEncryptFrom", "kms:ReEncryptTo",
		"kms:GenerateDataKey*", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
		"kms:DescribeKey", NULL,
	};

	if (!strcmp(a, "kms:*"))
		return 3;
	if (in_set(crypto, a))
		return 1;
	if (!strncmp(a, "kms:", 4) && a[4])
		return 2;
	return -1;
}

int policy_parse(const char *policy, char **admins, char **users, char *err, size_t errlen)
{
	_cleanup_json_ struct json_object *p = json_tokener_parse(policy), *adm = json_object_new_array(),
					   *usr = json_object_new_array();
	struct json_object *st;
	size_t i, n;

	if (!p || !json_object_is_type(p, json_type_object) ||
	    !json_object_object_get_ex(p, "Statement", &st)) {
		snprintf(err, errlen, "the policy is not a JSON object with a Statement");
		return -1;
	}
	if (json_object_is_type(st, json_type_object)) {
		n = 1;
	} else if (json_object_is_type(st, json_type_array)) {
		n = json_object_array_length(st);
	} else {
		snprintf(err, errlen, "Statement must be an object or a list");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct json_object *s = json_object_is_type(st, json_type_array) ?
					json_object_array_get_idx(st, i) : st;
		_cleanup_json_ struct json_object *tmp = json_object_new_array();
		struct json_object *eff, *prin, *act;
		size_t j, na;
		int cls = 0;

		if (!json_object_is_type(s, json_type_object) ||
		    !json_object_object_get_ex(s, "Effect", &eff) ||
		    strcmp(json_object_get_string(eff), "Allow") ||
		    !json_object_object_get_ex(s, "Principal", &prin) ||
		    !json_object_object_get_ex(s, "Action", &act) ||
		    add_principals(prin, tmp)) {
			snprintf(err, errlen, "statement %zu: only Allow statements with a Principal "
				 "and an Action are supported", i);
			return -1;
		}
		na = json_object_is_type(act, json_type_array) ? json_object_array_length(act) : 1;
		for (j = 0; j < na; j++) {
			struct json_object *a = json_object_is_type(act, json_type_array) ?
						json_object_array_get_idx(act, j) : act;
			int c = json_object_is_type(a, json_type_string) ?
				action_class(json_object_get_string(a)) : -1;

			if (c < 0) {
				snprintf(err, errlen, "statement %zu: unsupported action", i);
				return -1;
			}
			cls |= c;
		}
		na = json_object_array_length(tmp);
		for (j = 0; j < na; j++) {
			const char *arn = json_object_get_string(json_object_array_get_idx(tmp, j));

			if (cls & 2)
				json_object_array_add(adm, json_object_new_string(arn));
			if (cls & 1)
				json_object_array_add(usr, json_object_new_string(arn));
		}
	}
	*admins = strdup(json_object_to_json_string_ext(adm, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE));
	*users = strdup(json_object_to_json_string_ext(usr, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	return (*admins && *users) ? 0 : -1;
}
