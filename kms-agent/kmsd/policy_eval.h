/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The key policy language (policy_eval.c): documents checked when they
 * are stored, and evaluated against one request at a time. Free of the rest
 * of kmsd (no store, no request object) so that unit tests and fuzzers can
 * drive it directly.
 */
#ifndef EBSCRYPT_KMSD_POLICY_EVAL_H
#define EBSCRYPT_KMSD_POLICY_EVAL_H

#include <stddef.h>

#include <json-c/json.h>

/* A request, as policy conditions see it. Absent facts are NULL. */
struct policy_request {
	const char *action;              /* the AWS action without "kms:": "Decrypt" */
	const char *principal_arn;       /* aws:PrincipalArn */
	const char *caller_account;      /* kms:CallerAccount */
	struct json_object *enc_ctx;     /* kms:EncryptionContext*: the operation's context */
	struct json_object *grant_ops;   /* kms:GrantOperations: CreateGrant's Operations */
	const char *grantee;             /* kms:GranteePrincipal: CreateGrant's grantee */
	int grant_call;                  /* CreateGrant, ListGrants, RevokeGrant: kms:GrantIsForAWSResource */
};

/* What the statements that apply to a request say (a bit set). */
enum {
	POLICY_ALLOW = 1,          /* an Allow names the caller itself (or "*") */
	POLICY_ALLOW_ACCOUNT = 2,  /* an Allow names the caller's account: its IAM policies decide */
	POLICY_DENY = 4,           /* an explicit Deny applies: nothing else counts */
};

/* The size AWS allows a key policy. */
#define POLICY_MAX_BYTES 32768

/*
 * Parses and checks a key policy document: the document, or NULL with err
 * naming the first element, operator, key or value that was refused.
 */
struct json_object *policy_load(const char *text, char *err, size_t errlen);
/* doc from policy_load(). */
int policy_evaluate(struct json_object *doc, const struct policy_request *r);
/* Whether an IAM action pattern ("kms:Get*", case-insensitive) covers "kms:" action. */
int policy_action_matches(const char *pattern, const char *action);
/* IAM string matching: '*' any run, '?' any one character. */
int policy_glob(const char *pattern, const char *s, int nocase);

#endif
