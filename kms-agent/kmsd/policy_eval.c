// SPDX-License-Identifier: GPL-2.0
/*
 * Key policies, checked and evaluated as AWS KMS does for the part of the
 * IAM policy language this service implements. A document is checked
 * completely before it is stored: anything outside that part (an element,
 * an operator, a condition key, a principal form, a policy variable) refuses
 * the whole document with a message naming it, because a statement that is
 * kept but not enforced is worse than one that is refused.
 *
 * Evaluation reports which statements apply; policy.c combines that with
 * the account roles and the grants (an explicit Deny beats everything).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_eval.h"

/* Every action AWS KMS defines, so that wildcards expand as AWS's do. */
static const char *const kms_actions[] = {
	"CancelKeyDeletion", "ConnectCustomKeyStore", "CreateAlias", "CreateCustomKeyStore",
	"CreateGrant", "CreateKey", "Decrypt", "DeleteAlias", "DeleteCustomKeyStore",
	"DeleteImportedKeyMaterial", "DeriveSharedSecret", "DescribeCustomKeyStores",
	"DescribeKey", "DisableKey", "DisableKeyRotation", "DisconnectCustomKeyStore",
	"EnableKey", "EnableKeyRotation", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
	"GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
	"GenerateRandom", "GetKeyPolicy", "GetKeyRotationStatus", "GetParametersForImport",
	"GetPublicKey", "ImportKeyMaterial", "ListAliases", "ListGrants", "ListKeyPolicies",
	"ListKeyRotations", "ListKeys", "ListResourceTags", "ListRetirableGrants", "PutKeyPolicy",
	"ReEncryptFrom", "ReEncryptTo", "ReplicateKey", "RetireGrant", "RevokeGrant",
	"RotateKeyOnDemand", "ScheduleKeyDeletion", "Sign", "SynchronizeMultiRegionKey",
	"TagResource", "UntagResource", "UpdateAlias", "UpdateCustomKeyStore",
	"UpdateKeyDescription", "UpdatePrimaryRegion", "Verify", "VerifyMac", NULL,
};

enum cond_key {
	CK_PRINCIPAL_ARN, CK_CALLER_ACCOUNT, CK_ENC_CTX, CK_ENC_CTX_KEYS, CK_GRANT_OPS,
	CK_GRANTEE, CK_GRANT_AWS, CK_VIA_SERVICE,
};

static const struct {
	const char *name;
	enum cond_key key;
	int multi;          /* a set of values: needs ForAnyValue: or ForAllValues: */
	int boolean;
} cond_keys[] = {
	{ "aws:PrincipalArn", CK_PRINCIPAL_ARN, 0, 0 },
	{ "kms:CallerAccount", CK_CALLER_ACCOUNT, 0, 0 },
	{ "kms:EncryptionContextKeys", CK_ENC_CTX_KEYS, 1, 0 },
	{ "kms:GrantOperations", CK_GRANT_OPS, 1, 0 },
	{ "kms:GranteePrincipal", CK_GRANTEE, 0, 0 },
	{ "kms:GrantIsForAWSResource", CK_GRANT_AWS, 0, 1 },
	{ "kms:ViaService", CK_VIA_SERVICE, 0, 0 },
};

#define ENC_CTX_PREFIX "kms:EncryptionContext:"

enum cond_base { OP_STRING_EQUALS, OP_STRING_NOT_EQUALS, OP_STRING_LIKE, OP_STRING_NOT_LIKE,
		 OP_BOOL, OP_NULL };
enum cond_set { SET_NONE, SET_ANY, SET_ALL };

static const char *const base_names[] = {
	"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "Bool", "Null",
};

struct cond_op {
	enum cond_base base;
	enum cond_set set;
	int if_exists;
};

struct checker {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int refuse(struct checker *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int policy_glob(const char *p, const char *s, int nocase)
{
	const char *star_p = NULL, *star_s = NULL;

	while (*s) {
		if (*p == '*') {
			star_p = ++p;
			star_s = s;
		} else if (*p == '?' || (nocase ? tolower((unsigned char)*p) == tolower((unsigned char)*s)
					     : *p == *s)) {
			p++;
			s++;
		} else if (star_p) {
			p = star_p;
			s = ++star_s;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

int policy_action_matches(const char *pattern, const char *action)
{
	if (!strcmp(pattern, "*"))
		return 1;
	if (strncasecmp(pattern, "kms:", 4))
		return 0;
	return policy_glob(pattern + 4, action, 1);
}

/* A string from the document: a JSON string holding no NUL. */
static const char *str_of(struct json_object *o)
{
	const char *s;

	if (!json_object_is_type(o, json_type_string))
		return NULL;
	s = json_object_get_string(o);
	return strlen(s) == (size_t)json_object_get_string_len(o) ? s : NULL;
}

/* A string or a non-empty list of strings; *n entries. */
static int str_list(struct json_object *o, size_t *n)
{
	size_t i;

	if (str_of(o)) {
		*n = 1;
		return 0;
	}
	if (!json_object_is_type(o, json_type_array) || !json_object_array_length(o))
		return -1;
	*n = json_object_array_length(o);
	for (i = 0; i < *n; i++)
		if (!str_of(json_object_array_get_idx(o, i)))
			return -1;
	return 0;
}

static const char *list_get(struct json_object *o, size_t i)
{
	return json_object_is_type(o, json_type_array) ?
	       json_object_get_string(json_object_array_get_idx(o, i)) : json_object_get_string(o);
}

static int digits12(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789") == 12;
}

static int name_chars(const char *s)
{
	return *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			    "+=,.@_/-") == strlen(s);
}

/* "*", an account (12 digits or its root ARN), or an IAM user, role or role session ARN. */
static int valid_principal(const char *p)
{
	char acct[13];

	if (!strcmp(p, "*") || digits12(p))
		return 1;
	if (!strncmp(p, "arn:aws:iam::", 13)) {
		p += 13;
		if (strlen(p) < 13 || p[12] != ':')
			return 0;
		memcpy(acct, p, 12);
		acct[12] = '\0';
		if (!digits12(acct))
			return 0;
		p += 13;
		if (!strcmp(p, "root"))
			return 1;
		if (!strncmp(p, "user/", 5) || !strncmp(p, "role/", 5))
			return name_chars(p + 5);
		return 0;
	}
	if (!strncmp(p, "arn:aws:sts::", 13)) {
		p += 13;
		if (strlen(p) < 13 || p[12] != ':')
			return 0;
		memcpy(acct, p, 12);
		acct[12] = '\0';
		return digits12(acct) && !strncmp(p + 13, "assumed-role/", 13) &&
		       name_chars(p + 26) && strchr(p + 26, '/');
	}
	return 0;
}

static int check_principal(struct checker *c, size_t si, const char *elem, struct json_object *p)
{
	struct json_object *aws;
	size_t i, n;

	if (str_of(p)) {
		if (strcmp(json_object_get_string(p), "*"))
			return refuse(c, "Statement %zu: %s must be \"*\" or {\"AWS\": ...}", si, elem);
		return 0;
	}
	if (!json_object_is_type(p, json_type_object))
		return refuse(c, "Statement %zu: %s must be \"*\" or {\"AWS\": ...}", si, elem);
	{
		json_object_object_foreach(p, k, v) {
			(void)v;
			if (strcmp(k, "AWS"))
				return refuse(c, "Statement %zu: %s type %s is not supported (only AWS)",
					      si, elem, k);
		}
	}
	if (!json_object_object_get_ex(p, "AWS", &aws) || str_list(aws, &n))
		return refuse(c, "Statement %zu: %s AWS must be a string or a non-empty list of strings",
			      si, elem);
	for (i = 0; i < n; i++) {
		const char *s = list_get(aws, i);

		if (!valid_principal(s))
			return refuse(c, "Statement %zu: %s '%s' is not a valid principal", si, elem, s);
	}
	return 0;
}

static int valid_action(const char *a)
{
	size_t i;

	if (!strcmp(a, "*"))
		return 1;
	if (strncasecmp(a, "kms:", 4) || !a[4] ||
	    strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz*?") != strlen(a + 4))
		return 0;
	for (i = 0; kms_actions[i]; i++)
		if (policy_glob(a + 4, kms_actions[i], 1))
			return 1;
	return 0;
}

static int parse_op(const char *name, struct cond_op *op)
{
	size_t i, n;

	memset(op, 0, sizeof(*op));
	if (!strncmp(name, "ForAnyValue:", 12)) {
		op->set = SET_ANY;
		name += 12;
	} else if (!strncmp(name, "ForAllValues:", 13)) {
		op->set = SET_ALL;
		name += 13;
	}
	for (i = 0; i < sizeof(base_names) / sizeof(base_names[0]); i++) {
		n = strlen(base_names[i]);
		if (strncmp(name, base_names[i], n))
			continue;
		if (!name[n] || !strcmp(name + n, "IfExists")) {
			op->base = (enum cond_base)i;
			op->if_exists = name[n] != '\0';
			return 0;
		}
	}
	return -1;
}

/* Index into cond_keys, or -1; *ctx_key the context key of kms:EncryptionContext:KEY. */
static int find_key(const char *name, const char **ctx_key)
{
	size_t i, pl = strlen(ENC_CTX_PREFIX);

	*ctx_key = NULL;
	if (!strncasecmp(name, ENC_CTX_PREFIX, pl)) {
		if (!name[pl])
			return -1;
		*ctx_key = name + pl;
		return CK_ENC_CTX + 100;
	}
	for (i = 0; i < sizeof(cond_keys) / sizeof(cond_keys[0]); i++)
		if (!strcasecmp(name, cond_keys[i].name))
			return (int)i;
	return -1;
}

static int check_values(struct checker *c, size_t si, const char *op, const char *key,
			const struct cond_op *o, struct json_object *v)
{
	size_t i, n = 1;

	if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		if (!n)
			return refuse(c, "Statement %zu: %s %s has no values", si, op, key);
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_is_type(v, json_type_array) ?
					json_object_array_get_idx(v, i) : v;
		const char *s;

		if (json_object_is_type(e, json_type_boolean))
			continue;
		s = str_of(e);
		if (!s)
			return refuse(c, "Statement %zu: %s %s: values must be strings", si, op, key);
		if ((o->base == OP_BOOL || o->base == OP_NULL) && strcasecmp(s, "true") &&
		    strcasecmp(s, "false"))
			return refuse(c, "Statement %zu: %s %s: '%s' is not true or false", si, op, key, s);
		if (strstr(s, "${"))
			return refuse(c, "Statement %zu: %s %s: policy variables (%s) are not supported",
				      si, op, key, s);
	}
	return 0;
}

static int check_condition(struct checker *c, size_t si, struct json_object *cond)
{
	if (!json_object_is_type(cond, json_type_object))
		return refuse(c, "Statement %zu: Condition must be an object", si);
	json_object_object_foreach(cond, op, keys) {
		struct cond_op o;

		if (parse_op(op, &o))
			return refuse(c, "Statement %zu: condition operator %s is not supported", si, op);
		if (o.base == OP_NULL && o.if_exists)
			return refuse(c, "Statement %zu: %s: IfExists cannot be added to Null", si, op);
		if (o.set != SET_NONE && (o.base == OP_BOOL || o.base == OP_NULL))
			return refuse(c, "Statement %zu: %s: ForAnyValue: and ForAllValues: apply to "
				      "the String operators only", si, op);
		if (!json_object_is_type(keys, json_type_object) || !json_object_object_length(keys))
			return refuse(c, "Statement %zu: %s must map condition keys to values", si, op);
		{
			json_object_object_foreach(keys, key, v) {
				const char *ctx_key;
				int ki = find_key(key, &ctx_key), multi = 0, boolean = 0;

				if (ki < 0)
					return refuse(c, "Statement %zu: condition key %s is not supported",
						      si, key);
				if (ki < 100) {
					multi = cond_keys[ki].multi;
					boolean = cond_keys[ki].boolean;
				}
				if (o.base == OP_BOOL && !boolean)
					return refuse(c, "Statement %zu: Bool cannot test %s, which is "
						      "not a boolean key", si, key);
				if (o.base != OP_NULL && o.base != OP_BOOL) {
					if (multi && o.set == SET_NONE)
						return refuse(c, "Statement %zu: %s has many values: use "
							      "ForAnyValue:%s or ForAllValues:%s", si, key,
							      op, op);
					if (!multi && o.set != SET_NONE)
						return refuse(c, "Statement %zu: %s has one value: %s "
							      "applies to multivalued keys only", si, key, op);
				}
				if (check_values(c, si, op, key, &o, v))
					return -1;
			}
		}
	}
	return 0;
}

static int check_statement(struct checker *c, size_t si, struct json_object *s)
{
	struct json_object *v;
	int have_p = 0, have_a = 0, have_r = 0;
	size_t i, n;

	if (!json_object_is_type(s, json_type_object))
		return refuse(c, "Statement %zu is not an object", si);
	json_object_object_foreach(s, k, val) {
		if (!strcmp(k, "Sid")) {
			if (!str_of(val))
				return refuse(c, "Statement %zu: Sid must be a string", si);
		} else if (!strcmp(k, "Effect")) {
			const char *e = str_of(val);

			if (!e || (strcmp(e, "Allow") && strcmp(e, "Deny")))
				return refuse(c, "Statement %zu: Effect must be Allow or Deny", si);
		} else if (!strcmp(k, "Principal") || !strcmp(k, "NotPrincipal")) {
			if (have_p++)
				return refuse(c, "Statement %zu: give Principal or NotPrincipal, not both", si);
			if (check_principal(c, si, k, val))
				return -1;
		} else if (!strcmp(k, "Action") || !strcmp(k, "NotAction")) {
			if (have_a++)
				return refuse(c, "Statement %zu: give Action or NotAction, not both", si);
			if (str_list(val, &n))
				return refuse(c, "Statement %zu: %s must be a string or a non-empty list "
					      "of strings", si, k);
			for (i = 0; i < n; i++)
				if (!valid_action(list_get(val, i)))
					return refuse(c, "Statement %zu: %s '%s' is not a KMS action", si, k,
						      list_get(val, i));
		} else if (!strcmp(k, "Resource")) {
			have_r = 1;
			if (str_list(val, &n))
				return refuse(c, "Statement %zu: Resource must be \"*\"", si);
			for (i = 0; i < n; i++)
				if (strcmp(list_get(val, i), "*"))
					return refuse(c, "Statement %zu: Resource '%s' refused: in a key "
						      "policy Resource must be \"*\" (the key itself)", si,
						      list_get(val, i));
		} else if (!strcmp(k, "Condition")) {
			if (check_condition(c, si, val))
				return -1;
		} else {
			return refuse(c, "Statement %zu: element %s is not supported", si, k);
		}
	}
	if (!json_object_object_get_ex(s, "Effect", &v))
		return refuse(c, "Statement %zu has no Effect", si);
	if (!have_p)
		return refuse(c, "Statement %zu has no Principal", si);
	if (!have_a)
		return refuse(c, "Statement %zu has no Action", si);
	if (!have_r)
		return refuse(c, "Statement %zu has no Resource", si);
	return 0;
}

/* Object members in well-formed JSON text: one ':' outside strings each. */
static size_t members_in_text(const char *p)
{
	size_t n = 0;
	int in_string = 0;

	for (; *p; p++) {
		if (in_string) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_string = 0;
		} else if (*p == '"') {
			in_string = 1;
		} else if (*p == ':') {
			n++;
		}
	}
	return n;
}

static size_t members_in_tree(struct json_object *o)
{
	size_t n = 0, i;

	if (json_object_is_type(o, json_type_array)) {
		for (i = 0; i < json_object_array_length(o); i++)
			n += members_in_tree(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			n += 1 + members_in_tree(v);
		}
	}
	return n;
}

struct json_object *policy_load(const char *text, char *err, size_t errlen)
{
	struct checker c = { err, errlen };
	struct json_tokener *tok;
	struct json_object *doc, *st = NULL;
	size_t len = strlen(text), i, n;
	int bad = 0;

	if (len > POLICY_MAX_BYTES) {
		refuse(&c, "the policy is larger than %d bytes", POLICY_MAX_BYTES);
		return NULL;
	}
	tok = json_tokener_new_ex(32);
	if (!tok) {
		refuse(&c, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	/* Documents often end with a newline; anything else after the value is an error. */
	if (doc && strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") !=
		   len - json_tokener_get_parse_end(tok))
		bad = 1;
	json_tokener_free(tok);
	if (!doc || bad || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		refuse(&c, "the policy is not a JSON object");
		return NULL;
	}
	/* json-c keeps the last of repeated names: the others would be ignored. */
	if (members_in_text(text) != members_in_tree(doc)) {
		json_object_put(doc);
		refuse(&c, "the policy repeats a name within one object");
		return NULL;
	}
	{
		json_object_object_foreach(doc, k, v) {
			if (!strcmp(k, "Version")) {
				const char *s = str_of(v);

				if (!s || (strcmp(s, "2012-10-17") && strcmp(s, "2008-10-17")))
					bad = refuse(&c, "Version must be 2012-10-17 or 2008-10-17");
			} else if (!strcmp(k, "Id")) {
				if (!str_of(v))
					bad = refuse(&c, "Id must be a string");
			} else if (!strcmp(k, "Statement")) {
				st = v;
			} else {
				bad = refuse(&c, "element %s is not supported", k);
			}
			if (bad)
				break;
		}
	}
	if (!bad && !st)
		bad = refuse(&c, "the policy has no Statement");
	if (!bad && json_object_is_type(st, json_type_array)) {
		n = json_object_array_length(st);
		if (!n)
			bad = refuse(&c, "Statement is empty");
		for (i = 0; !bad && i < n; i++)
			bad = check_statement(&c, i, json_object_array_get_idx(st, i));
	} else if (!bad) {
		bad = check_statement(&c, 0, st);
	}
	if (bad) {
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

/* -------- evaluation of a checked document -------- */

enum principal_match { PM_NONE, PM_ACCOUNT, PM_DIRECT };

static int is_account_of(const char *entry, const char *account)
{
	char root[64];

	if (!account)
		return 0;
	snprintf(root, sizeof(root), "arn:aws:iam::%s:root", account);
	return !strcmp(entry, account) || !strcmp(entry, root);
}

/*
 * The role ARN behind a role session ARN (arn:aws:sts::A:assumed-role/R/S is
 * arn:aws:iam::A:role/R), as AWS matches sessions against policies; else
 * the ARN itself.
 */
static const char *principal_of(const char *arn, char *buf, size_t len)
{
	const char *role, *end;

	if (!arn || strncmp(arn, "arn:aws:sts::", 13) || strlen(arn) < 26 ||
	    strncmp(arn + 25, ":assumed-role/", 14))
		return arn;
	role = arn + 39;
	end = strchr(role, '/');
	if (!end || (size_t)snprintf(buf, len, "arn:aws:iam::%.12s:role/%.*s", arn + 13,
				     (int)(end - role), role) >= len)
		return arn;
	return buf;
}

static enum principal_match principal_matches(struct json_object *p, const struct policy_request *r)
{
	struct json_object *aws;
	enum principal_match best = PM_NONE;
	char role[512];
	const char *as_role = principal_of(r->principal_arn, role, sizeof(role));
	size_t i, n = 1;

	if (str_of(p))
		return PM_DIRECT;  /* "*" */
	json_object_object_get_ex(p, "AWS", &aws);
	if (json_object_is_type(aws, json_type_array))
		n = json_object_array_length(aws);
	for (i = 0; i < n; i++) {
		const char *e = list_get(aws, i);

		if (!strcmp(e, "*") || (r->principal_arn && (!strcmp(e, r->principal_arn) ||
							      !strcmp(e, as_role))))
			return PM_DIRECT;
		if (is_account_of(e, r->caller_account))
			best = PM_ACCOUNT;
	}
	return best;
}

static int action_applies(struct json_object *list, int negated, const char *action)
{
	size_t i, n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 1;
	int hit = 0;

	for (i = 0; i < n && !hit; i++)
		hit = policy_action_matches(list_get(list, i), action);
	return negated ? !hit : hit;
}

/* A NULL-terminated list of n + 1 entries; -1 when out of memory. */
static int values_new(size_t n, const char ***out)
{
	*out = calloc(n + 1, sizeof(**out));
	return *out ? 0 : -1;
}

/*
 * The request's values for a condition key: *out NULL-terminated (possibly
 * empty), or NULL when the request has no such key; -1 when out of memory.
 * A value may be built in scratch.
 */
static int key_values(const struct policy_request *r, const char *name, const char ***out,
		      char *scratch, size_t scratch_len)
{
	const char *ctx_key, *one = NULL;
	int ki = find_key(name, &ctx_key);
	size_t n = 0;

	*out = NULL;
	if (ki >= 100) {
		if (!r->enc_ctx)
			return 0;
		json_object_object_foreach(r->enc_ctx, k, v) {
			if (!strcasecmp(k, ctx_key)) {
				one = json_object_get_string(v);
				break;
			}
		}
	} else {
		switch (cond_keys[ki].key) {
		case CK_PRINCIPAL_ARN:
			/* For a role session, AWS gives the role's ARN. */
			one = principal_of(r->principal_arn, scratch, scratch_len);
			break;
		case CK_CALLER_ACCOUNT:
			one = r->caller_account;
			break;
		case CK_GRANTEE:
			one = r->grantee;
			break;
		case CK_GRANT_AWS:
			/* No request here is made by an AWS service on a principal's behalf. */
			one = r->grant_call ? "false" : NULL;
			break;
		case CK_ENC_CTX_KEYS:
			if (!r->enc_ctx)
				return 0;
			if (values_new((size_t)json_object_object_length(r->enc_ctx), out))
				return -1;
			{
				json_object_object_foreach(r->enc_ctx, k, v) {
					(void)v;
					(*out)[n++] = k;
				}
			}
			return 0;
		case CK_GRANT_OPS:
			if (!r->grant_ops)
				return 0;
			if (values_new(json_object_array_length(r->grant_ops), out))
				return -1;
			for (; n < json_object_array_length(r->grant_ops); n++)
				(*out)[n] = json_object_get_string(json_object_array_get_idx(r->grant_ops, n));
			return 0;
		default:
			/* kms:ViaService: no request here comes through an AWS service. */
			return 0;
		}
	}
	if (!one)
		return 0;
	if (values_new(1, out))
		return -1;
	(*out)[0] = one;
	return 0;
}

static const char *value_text(struct json_object *v, size_t i)
{
	struct json_object *e = json_object_is_type(v, json_type_array) ?
				json_object_array_get_idx(v, i) : v;

	if (json_object_is_type(e, json_type_boolean))
		return json_object_get_boolean(e) ? "true" : "false";
	return json_object_get_string(e);
}

/* Whether one request value matches any of the policy's values (before negation). */
static int value_matches(const struct cond_op *o, const char *have, struct json_object *want)
{
	size_t i, n = json_object_is_type(want, json_type_array) ? json_object_array_length(want) : 1;

	for (i = 0; i < n; i++) {
		const char *w = value_text(want, i);

		switch (o->base) {
		case OP_STRING_EQUALS:
		case OP_STRING_NOT_EQUALS:
			if (!strcmp(have, w))
				return 1;
			break;
		case OP_STRING_LIKE:
		case OP_STRING_NOT_LIKE:
			if (policy_glob(w, have, 0))
				return 1;
			break;
		default:
			if (!strcasecmp(have, w))
				return 1;
			break;
		}
	}
	return 0;
}

static int one_condition(const struct cond_op *o, const char *key, struct json_object *want,
			 const struct policy_request *r)
{
	int negated = o->base == OP_STRING_NOT_EQUALS || o->base == OP_STRING_NOT_LIKE;
	const char **have;
	char scratch[512];   /* outlives have, which may point into it */
	int present, result;
	size_t i;

	if (key_values(r, key, &have, scratch, sizeof(scratch)))
		return -1;
	present = have && have[0];

	if (o->base == OP_NULL) {
		size_t n = json_object_is_type(want, json_type_array) ? json_object_array_length(want) : 1;

		result = 0;
		for (i = 0; i < n && !result; i++)
			result = !strcasecmp(value_text(want, i), "true") ? !present : present;
	} else if (!present) {
		/* AWS: a missing key fails a test, passes a negated test, and passes IfExists. */
		result = o->if_exists || o->set == SET_ALL || (negated && o->set == SET_NONE);
	} else if (o->set == SET_ALL) {
		result = 1;
		for (i = 0; have[i] && result; i++)
			result = value_matches(o, have[i], want) != negated;
	} else {
		/* ForAnyValue:, or a single-valued key (one value). */
		result = 0;
		for (i = 0; have[i] && !result; i++)
			result = value_matches(o, have[i], want) != negated;
	}
	free(have);
	return result;
}

/* 1 when every condition holds, 0 when one does not, -1 when out of memory. */
static int conditions_hold(struct json_object *cond, const struct policy_request *r)
{
	json_object_object_foreach(cond, op, keys) {
		struct cond_op o;

		parse_op(op, &o);
		{
			json_object_object_foreach(keys, key, want) {
				int rc = one_condition(&o, key, want, r);

				if (rc <= 0)
					return rc;
			}
		}
	}
	return 1;
}

static int statement_result(struct json_object *s, const struct policy_request *r)
{
	struct json_object *eff, *p, *a, *cond;
	enum principal_match pm;
	int deny, rc;

	json_object_object_get_ex(s, "Effect", &eff);
	deny = !strcmp(json_object_get_string(eff), "Deny");
	if (json_object_object_get_ex(s, "Action", &a)) {
		if (!action_applies(a, 0, r->action))
			return 0;
	} else if (json_object_object_get_ex(s, "NotAction", &a) && !action_applies(a, 1, r->action)) {
		return 0;
	}
	if (json_object_object_get_ex(s, "Principal", &p)) {
		pm = principal_matches(p, r);
	} else {
		json_object_object_get_ex(s, "NotPrincipal", &p);
		pm = principal_matches(p, r) == PM_NONE ? PM_DIRECT : PM_NONE;
	}
	if (pm == PM_NONE)
		return 0;
	if (json_object_object_get_ex(s, "Condition", &cond)) {
		rc = conditions_hold(cond, r);
		if (rc < 0)
			return POLICY_DENY;  /* fail closed */
		if (!rc)
			return 0;
	}
	if (deny)
		return POLICY_DENY;
	return pm == PM_DIRECT ? POLICY_ALLOW : POLICY_ALLOW_ACCOUNT;
}

int policy_evaluate(struct json_object *doc, const struct policy_request *r)
{
	struct json_object *st;
	size_t i, n;
	int result = 0;

	if (!doc || !json_object_object_get_ex(doc, "Statement", &st))
		return 0;
	if (!json_object_is_type(st, json_type_array))
		return statement_result(st, r);
	n = json_object_array_length(st);
	for (i = 0; i < n; i++)
		result |= statement_result(json_object_array_get_idx(st, i), r);
	return result;
}
