// SPDX-License-Identifier: GPL-2.0
/*
 * Authorization, as AWS KMS decides it:
 *
 *  1. an explicit Deny in the key policy that applies refuses the request,
 *     whatever else would allow it;
 *  2. an Allow in the key policy that names the caller (or "*") allows it;
 *  3. an Allow that names the caller's account (its root ARN or account
 *     id) delegates to the account's IAM policies, which here are the
 *     config's roles: "admin" allows every kms: action, "user" the
 *     cryptographic ones and DescribeKey, "none" nothing;
 *  4. otherwise a grant naming the caller as grantee and the operation,
 *     whose encryption-context constraints the request meets, allows it.
 *
 * A key created without a policy gets AWS's default key policy (one Allow
 * of kms:* to the account), so the roles apply to it. The policy language
 * itself lives in policy_eval.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kmsd.h"
#include "policy_eval.h"

static const char *const use_ops[] = {
	"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "DescribeKey", NULL,
};

static const char *const grant_ops[] = {
	"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant", "RetireGrant", NULL,
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

/* The account's IAM policies: what each role allows, on every key. */
static int role_allows(enum kmsd_role role, const char *op)
{
	return role == ROLE_ADMIN || (role == ROLE_USER && in_set(use_ops, op));
}

static char *doc_text(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);

	return s ? strdup(s) : NULL;
}

static struct json_object *statement(const char *sid, struct json_object *principal,
				     struct json_object *action)
{
	struct json_object *s = json_object_new_object(), *p = json_object_new_object();

	json_object_object_add(s, "Sid", json_object_new_string(sid));
	json_object_object_add(s, "Effect", json_object_new_string("Allow"));
	json_object_object_add(p, "AWS", principal);
	json_object_object_add(s, "Principal", p);
	json_object_object_add(s, "Action", action);
	json_object_object_add(s, "Resource", json_object_new_string("*"));
	return s;
}

static struct json_object *root_of(const struct kmsd *k)
{
	char root[64];

	snprintf(root, sizeof(root), "arn:aws:iam::%s:root", k->cfg->account_id);
	return json_object_new_string(root);
}

static struct json_object *strings(const char *const *list)
{
	struct json_object *a = json_object_new_array();

	for (; *list; list++)
		json_object_array_add(a, json_object_new_string(*list));
	return a;
}

static const char *const use_actions[] = {
	"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", NULL,
};

char *policy_default(const struct kmsd *k)
{
	_cleanup_json_ struct json_object *d = json_object_new_object();
	struct json_object *st = json_object_new_array();

	json_object_object_add(d, "Version", json_object_new_string("2012-10-17"));
	json_object_object_add(d, "Id", json_object_new_string("key-default-1"));
	json_object_array_add(st, statement("Enable IAM User Permissions", root_of(k),
					    json_object_new_string("kms:*")));
	json_object_object_add(d, "Statement", st);
	return doc_text(d);
}

/*
 * The AWS managed key's policy, fixed like AWS's: the account's principals
 * may use it, create grants on it and revoke them (how a volume is
 * authorized for a host; AWS allows CreateGrant through EBS, and no AWS
 * service calls here) and read its metadata, as their roles allow; nobody
 * manages it.
 */
static char *policy_managed(const struct kmsd *k)
{
	static const char *const use[] = {
		"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
		"kms:CreateGrant", "kms:DescribeKey", NULL,
	};
	static const char *const view[] = {
		"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant", NULL,
	};
	_cleanup_json_ struct json_object *d = json_object_new_object();
	struct json_object *st = json_object_new_array();

	json_object_object_add(d, "Version", json_object_new_string("2012-10-17"));
	json_object_object_add(d, "Id", json_object_new_string("auto-ebs-2"));
	json_object_array_add(st, statement("Allow use by the account's principals", root_of(k),
					    strings(use)));
	json_object_array_add(st, statement("Allow direct access to key metadata to the account",
					    root_of(k), strings(view)));
	json_object_object_add(d, "Statement", st);
	return doc_text(d);
}

/* A key stored before policy documents: its admin and user lists, as a document. */
static char *policy_from_lists(const struct kmsd *k, const struct kms_key *key)
{
	_cleanup_json_ struct json_object *d = json_object_new_object(),
					   *adm = json_tokener_parse(key->policy_admins ? key->policy_admins : "[]"),
					   *usr = json_tokener_parse(key->policy_users ? key->policy_users : "[]");
	struct json_object *st = json_object_new_array();

	json_object_object_add(d, "Version", json_object_new_string("2012-10-17"));
	json_object_array_add(st, statement("Enable IAM User Permissions", root_of(k),
					    json_object_new_string("kms:*")));
	if (json_object_is_type(adm, json_type_array) && json_object_array_length(adm))
		json_object_array_add(st, statement("Key administrators", json_object_get(adm),
						    json_object_new_string("kms:*")));
	if (json_object_is_type(usr, json_type_array) && json_object_array_length(usr))
		json_object_array_add(st, statement("Key users", json_object_get(usr),
						    strings(use_actions)));
	json_object_object_add(d, "Statement", st);
	return doc_text(d);
}

char *policy_of_key(const struct kmsd *k, const struct kms_key *key)
{
	if (key->managed)
		return policy_managed(k);
	if (key->policy)
		return strdup(key->policy);
	return policy_from_lists(k, key);
}

/* The key's document, parsed; a stored one that no longer parses allows nothing. */
static struct json_object *load_key_policy(const struct kmsd *k, const struct kms_key *key)
{
	char *text = policy_of_key(k, key), err[256];
	struct json_object *doc = text ? policy_load(text, err, sizeof(err)) : NULL;

	free(text);
	if (!doc && !key->policy && !key->managed) {
		/* An old list that is no valid principal now: the account statement alone. */
		text = policy_default(k);
		doc = text ? policy_load(text, err, sizeof(err)) : NULL;
		free(text);
	}
	return doc;
}

static void request_of(const struct kreq *req, const char *op, struct policy_request *r)
{
	memset(r, 0, sizeof(*r));
	r->action = op;
	r->principal_arn = req->who->arn;
	r->caller_account = req->k->cfg->account_id;
	r->grant_call = !strcmp(op, "CreateGrant") || !strcmp(op, "ListGrants") ||
			!strcmp(op, "RevokeGrant");
}

/* The key policy's and the roles' verdict: POLICY_DENY, POLICY_ALLOW or 0. */
static int policy_verdict(const struct kreq *req, const struct kms_key *key,
			  const struct policy_request *r)
{
	struct json_object *doc = load_key_policy(req->k, key);
	int res = doc ? policy_evaluate(doc, r) : 0;

	json_object_put(doc);
	if (res & POLICY_DENY)
		return POLICY_DENY;
	if ((res & POLICY_ALLOW) ||
	    ((res & POLICY_ALLOW_ACCOUNT) && role_allows(req->who->role, r->action)))
		return POLICY_ALLOW;
	return 0;
}

int policy_permits(const struct kreq *req, const struct kms_key *key, const char *op)
{
	struct policy_request r;

	request_of(req, op, &r);
	return policy_verdict(req, key, &r) == POLICY_ALLOW;
}

static int ctx_get(struct json_object *ctx, const char *k, const char **v)
{
	if (!ctx)
		return 0;
	/* In grant constraints, AWS compares context keys without regard to case. */
	json_object_object_foreach(ctx, key, val) {
		if (!strcasecmp(key, k)) {
			*v = json_object_get_string(val);
			return 1;
		}
	}
	return 0;
}

/* Whether every pair of want is in ctx. */
static int pairs_in(struct json_object *want, struct json_object *ctx)
{
	json_object_object_foreach(want, k, v) {
		const char *have;

		if (!ctx_get(ctx, k, &have) || strcmp(have, json_object_get_string(v)))
			return 0;
	}
	return 1;
}

static void constraint_parts(struct json_object *c, struct json_object **eq, struct json_object **sub)
{
	*eq = *sub = NULL;
	if (!c)
		return;
	json_object_object_get_ex(c, "EncryptionContextEquals", eq);
	json_object_object_get_ex(c, "EncryptionContextSubset", sub);
}

/* Whether ctx satisfies a grant's Constraints object. */
static int constraints_ok(struct json_object *c, struct json_object *ctx)
{
	struct json_object *eq, *sub;
	size_t n = ctx ? (size_t)json_object_object_length(ctx) : 0;

	constraint_parts(c, &eq, &sub);
	if (eq && ((size_t)json_object_object_length(eq) != n || !pairs_in(eq, ctx)))
		return 0;
	return !sub || pairs_in(sub, ctx);
}

/*
 * Whether every encryption context that child's constraints admit is one
 * that parent's admit: a grant passed on is never looser than its source.
 */
static int constraints_within(struct json_object *child, struct json_object *parent)
{
	struct json_object *peq, *psub, *ceq, *csub;

	constraint_parts(parent, &peq, &psub);
	constraint_parts(child, &ceq, &csub);
	if (!peq && (!psub || !json_object_object_length(psub)))
		return 1;
	if (ceq)
		return constraints_ok(parent, ceq);  /* the only context child admits */
	if (peq || !csub)
		return 0;   /* a subset, or no constraint at all, admits more than Equals */
	return pairs_in(psub, csub);
}

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

struct grant_search {
	const char *op;
	struct json_object *ctx;
	struct json_object *new_ops;     /* CreateGrant: the operations passed on */
	struct json_object *new_cons;    /* CreateGrant: the new grant's constraints */
	int found;
};

static int grant_allows(void *arg, const struct kms_grant *g)
{
	struct grant_search *s = arg;
	_cleanup_json_ struct json_object *c = g->constraints ? json_tokener_parse(g->constraints) : NULL;
	size_t i, n;

	if (g->constraints && !c)
		return 0;
	if (!grant_has_op(g, s->op))
		return 0;
	if (s->new_ops) {
		n = json_object_array_length(s->new_ops);
		for (i = 0; i < n; i++)
			if (!grant_has_op(g, json_object_get_string(json_object_array_get_idx(s->new_ops, i))))
				return 0;
		s->found = constraints_within(s->new_cons, c);
	} else {
		s->found = constraints_ok(c, s->ctx);
	}
	return s->found;
}

static int denied(struct kreq *req, const struct kms_key *key, const char *op, int explicit)
{
	char arn[256];

	key_arn(req->k, key->id, arn, sizeof(arn));
	if (explicit)
		return kfail(req, "AccessDeniedException",
			     "User: %s is not authorized to perform: kms:%s on resource: %s with an "
			     "explicit deny in a resource-based policy", req->who->arn, op, arn);
	return kfail(req, "AccessDeniedException",
		     "User: %s is not authorized to perform: kms:%s on resource: %s because no "
		     "resource-based policy or grant allows the kms:%s action",
		     req->who->arn, op, arn, op);
}

static int decide(struct kreq *req, const struct kms_key *key, const struct policy_request *r,
		  struct grant_search *s)
{
	int v = policy_verdict(req, key, r);

	if (v == POLICY_DENY)
		return denied(req, key, r->action, 1);
	if (v == POLICY_ALLOW)
		return 0;
	if (grant_op_valid(r->action)) {
		if (store_grants_list(req->k->db, key->id, req->who->arn, NULL, 100000, grant_allows, s))
			return kfail(req, "KMSInternalException", "the key store is unavailable");
		if (s->found)
			return 0;
	}
	return denied(req, key, r->action, 0);
}

int authorize(struct kreq *req, const struct kms_key *key, const char *op, struct json_object *ctx)
{
	struct grant_search s = { .op = op, .ctx = ctx };
	struct policy_request r;

	request_of(req, op, &r);
	r.enc_ctx = in_set(use_ops, op) && strcmp(op, "DescribeKey") ? ctx : NULL;
	return decide(req, key, &r, &s);
}

int authorize_create_grant(struct kreq *req, const struct kms_key *key, struct json_object *ops,
			   const char *grantee, struct json_object *constraints)
{
	struct grant_search s = { .op = "CreateGrant", .new_ops = ops, .new_cons = constraints };
	struct policy_request r;

	request_of(req, "CreateGrant", &r);
	r.grant_ops = ops;
	r.grantee = grantee;
	return decide(req, key, &r, &s);
}

int authorize_account(struct kreq *req, enum kmsd_role need)
{
	if (req->who->role >= need)
		return 0;
	return kfail(req, "AccessDeniedException",
		     "User: %s is not authorized to perform: kms:%s", req->who->arn, req->op);
}

int policy_check_new(struct kreq *req, const char *text, int bypass_lockout)
{
	char err[512];
	struct json_object *doc = policy_load(text, err, sizeof(err));
	struct policy_request r;
	int res;

	if (!doc)
		return kfail(req, "MalformedPolicyDocumentException", "%s", err);
	request_of(req, "PutKeyPolicy", &r);
	res = policy_evaluate(doc, &r);
	json_object_put(doc);
	if (bypass_lockout)
		return 0;
	/* AWS's lockout safety check: the caller must be able to change the policy again. */
	if ((res & POLICY_DENY) || !((res & POLICY_ALLOW) ||
				     ((res & POLICY_ALLOW_ACCOUNT) &&
				      role_allows(req->who->role, "PutKeyPolicy"))))
		return kfail(req, "MalformedPolicyDocumentException",
			     "The new key policy will not allow you to update the key policy in the "
			     "future.");
	return 0;
}
