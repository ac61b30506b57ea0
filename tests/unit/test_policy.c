// SPDX-License-Identifier: GPL-2.0
/*
 * The key policy language: action wildcards, Deny/NotAction/NotPrincipal,
 * account principals, each condition operator and key (present, missing,
 * IfExists, sets), and a list of documents that must all be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kms-agent/kmsd/kmsd.h"
#include "kms-agent/kmsd/policy_eval.h"

#define ACCT "111122223333"
#define ME "arn:aws:iam::" ACCT ":user/outsider"
#define OTHER "arn:aws:iam::" ACCT ":role/other"

static struct policy_request request(const char *action)
{
	struct policy_request r = { .action = action, .principal_arn = ME, .caller_account = ACCT };

	return r;
}

static int eval(const char *doc_text, const struct policy_request *r)
{
	char err[512] = "";
	struct json_object *doc = policy_load(doc_text, err, sizeof(err));
	int res;

	if (!doc)
		fail_msg("refused: %s: %s", err, doc_text);
	res = policy_evaluate(doc, r);
	json_object_put(doc);
	return res;
}

/* A one-statement Allow document for ME. */
static char *allow(const char *action_json, const char *condition_json)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf),
		 "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":"
		 "{\"AWS\":\"" ME "\"},\"Action\":%s,\"Resource\":\"*\"%s%s}]}",
		 action_json, condition_json ? ",\"Condition\":" : "", condition_json ? condition_json : "");
	return buf;
}

static void wildcards_expand_as_aws(void **state)
{
	static const struct { const char *pattern, *action; int match; } t[] = {
		{ "kms:*", "ScheduleKeyDeletion", 1 },
		{ "*", "Decrypt", 1 },
		{ "kms:Describe*", "DescribeKey", 1 },
		{ "kms:Describe*", "Decrypt", 0 },
		{ "kms:List*", "ListGrants", 1 },
		{ "kms:List*", "ListKeyPolicies", 1 },
		{ "kms:List*", "RetireGrant", 0 },
		{ "kms:Get*", "GetKeyPolicy", 1 },
		{ "kms:Get*", "GetKeyRotationStatus", 1 },
		{ "kms:Get*", "GenerateDataKey", 0 },
		{ "kms:GenerateDataKey*", "GenerateDataKey", 1 },
		{ "kms:GenerateDataKey*", "GenerateDataKeyWithoutPlaintext", 1 },
		{ "kms:GenerateDataKey*", "GenerateRandom", 0 },
		{ "kms:ReEncrypt*", "ReEncryptFrom", 1 },
		{ "kms:ReEncrypt*", "ReEncryptTo", 1 },
		{ "kms:ReEncrypt*", "Encrypt", 0 },
		{ "kms:Encrypt", "Encrypt", 1 },
		{ "kms:Encrypt", "ReEncryptTo", 0 },
		{ "kms:Decrypt", "DescribeKey", 0 },
		{ "kms:CreateGrant", "DisableKey", 0 },
		{ "kms:CreateGrant", "Decrypt", 0 },
		{ "KMS:decrypt", "Decrypt", 1 },
		{ "kms:Dis*Key", "DisableKey", 1 },
		{ "kms:Dis*Key", "DisableKeyRotation", 0 },
		{ "kms:?ecrypt", "Decrypt", 1 },
		{ "kms:?ecrypt", "Encrypt", 0 },
		{ "s3:*", "Decrypt", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (policy_action_matches(t[i].pattern, t[i].action) != t[i].match)
			fail_msg("%s against %s: expected %d", t[i].pattern, t[i].action, t[i].match);
}

static void each_action_allows_only_itself(void **state)
{
	struct policy_request r = request("CreateGrant");

	assert_int_equal(eval(allow("\"kms:CreateGrant\"", NULL), &r), POLICY_ALLOW);
	r.action = "DisableKey";
	assert_int_equal(eval(allow("\"kms:CreateGrant\"", NULL), &r), 0);
	r.action = "PutKeyPolicy";
	assert_int_equal(eval(allow("[\"kms:Encrypt\",\"kms:Get*\"]", NULL), &r), 0);
	r.action = "GetKeyPolicy";
	assert_int_equal(eval(allow("[\"kms:Encrypt\",\"kms:Get*\"]", NULL), &r), POLICY_ALLOW);
}

static void deny_beats_allow(void **state)
{
	static const char doc[] =
		"{\"Statement\":["
		"{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"},"
		"{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"" ME "\"},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}";
	struct policy_request r = request("Decrypt");

	assert_true(eval(doc, &r) & POLICY_DENY);
	r.action = "Encrypt";
	assert_int_equal(eval(doc, &r), POLICY_ALLOW);
	r.action = "Decrypt";
	r.principal_arn = OTHER;
	assert_int_equal(eval(doc, &r), POLICY_ALLOW);
}

static void not_action_and_not_principal(void **state)
{
	static const char notaction[] =
		"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" ME "\"]},"
		"\"NotAction\":[\"kms:Decrypt\",\"kms:Schedule*\"],\"Resource\":[\"*\"]}}";
	static const char notprincipal[] =
		"{\"Statement\":[{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\"" OTHER "\"},"
		"\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	static const char notaccount[] =
		"{\"Statement\":[{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\"" ACCT "\"},"
		"\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	struct policy_request r = request("Encrypt");

	assert_int_equal(eval(notaction, &r), POLICY_ALLOW);
	r.action = "Decrypt";
	assert_int_equal(eval(notaction, &r), 0);
	r.action = "ScheduleKeyDeletion";
	assert_int_equal(eval(notaction, &r), 0);
	assert_int_equal(eval(notprincipal, &r), POLICY_DENY);
	r.principal_arn = OTHER;
	assert_int_equal(eval(notprincipal, &r), 0);
	/* Listing an account in NotPrincipal leaves every principal of it out. */
	assert_int_equal(eval(notaccount, &r), 0);
	r.caller_account = "444455556666";
	assert_int_equal(eval(notaccount, &r), POLICY_DENY);
}

static void role_sessions_match_their_role(void **state)
{
	static const char doc[] = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
				  "\"arn:aws:iam::" ACCT ":role/ebs\"},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\","
				  "\"Condition\":{\"StringEquals\":{\"aws:PrincipalArn\":\"arn:aws:iam::" ACCT
				  ":role/ebs\"}}}]}";
	struct policy_request r = request("Decrypt");

	r.principal_arn = "arn:aws:sts::" ACCT ":assumed-role/ebs/host-1";
	assert_int_equal(eval(doc, &r), POLICY_ALLOW);
	r.principal_arn = "arn:aws:sts::" ACCT ":assumed-role/ebs2/host-1";
	assert_int_equal(eval(doc, &r), 0);
	r.principal_arn = "arn:aws:sts::444455556666:assumed-role/ebs/host-1";
	assert_int_equal(eval(doc, &r), 0);
}

static void account_principals_delegate(void **state)
{
	static const char root[] = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
				   "\"arn:aws:iam::" ACCT ":root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	static const char id[] = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
				 "\"" ACCT "\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	static const char other[] = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
				    "\"arn:aws:iam::444455556666:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	static const char deny_root[] = "{\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":"
					"\"arn:aws:iam::" ACCT ":root\"},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}";
	struct policy_request r = request("Decrypt");

	assert_int_equal(eval(root, &r), POLICY_ALLOW_ACCOUNT);
	assert_int_equal(eval(id, &r), POLICY_ALLOW_ACCOUNT);
	assert_int_equal(eval(other, &r), 0);
	assert_int_equal(eval(deny_root, &r), POLICY_DENY);
}

struct cond_case {
	const char *condition;
	int expect;          /* POLICY_ALLOW or 0 */
};

static void conditions_case(const struct cond_case *t, size_t n, const struct policy_request *r)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int got = eval(allow("\"kms:*\"", t[i].condition), r);

		if (got != t[i].expect)
			fail_msg("%s on %s: expected %d, got %d", t[i].condition, r->action, t[i].expect, got);
	}
}

static void string_conditions_on_single_keys(void **state)
{
	static const struct cond_case t[] = {
		{ "{\"StringEquals\":{\"kms:CallerAccount\":\"" ACCT "\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"kms:CallerAccount\":\"999999999999\"}}", 0 },
		{ "{\"StringEquals\":{\"kms:CallerAccount\":[\"999999999999\",\"" ACCT "\"]}}", POLICY_ALLOW },
		{ "{\"StringNotEquals\":{\"kms:CallerAccount\":\"999999999999\"}}", POLICY_ALLOW },
		{ "{\"StringNotEquals\":{\"kms:CallerAccount\":[\"999999999999\",\"" ACCT "\"]}}", 0 },
		{ "{\"StringEquals\":{\"aws:PrincipalArn\":\"" ME "\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"AWS:principalarn\":\"" ME "\"}}", POLICY_ALLOW },
		{ "{\"StringLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:user/out*\"}}", POLICY_ALLOW },
		{ "{\"StringLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:role/*\"}}", 0 },
		{ "{\"StringNotLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:role/*\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"aws:PrincipalArn\":\"arn:aws:iam::111122223333:user/OUTSIDER\"}}", 0 },
		/* Every operator and every key must hold. */
		{ "{\"StringEquals\":{\"kms:CallerAccount\":\"" ACCT "\",\"aws:PrincipalArn\":\"" OTHER "\"}}", 0 },
		{ "{\"StringEquals\":{\"kms:CallerAccount\":\"" ACCT "\"},\"StringLike\":{\"aws:PrincipalArn\":\"*\"}}",
		  POLICY_ALLOW },
		/* Keys this request does not have: fail, pass negated, pass IfExists. */
		{ "{\"StringEquals\":{\"kms:ViaService\":\"ec2.us-east-1.amazonaws.com\"}}", 0 },
		{ "{\"StringNotEquals\":{\"kms:ViaService\":\"ec2.us-east-1.amazonaws.com\"}}", POLICY_ALLOW },
		{ "{\"StringEqualsIfExists\":{\"kms:ViaService\":\"ec2.us-east-1.amazonaws.com\"}}", POLICY_ALLOW },
		{ "{\"StringEqualsIfExists\":{\"kms:CallerAccount\":\"999999999999\"}}", 0 },
		{ "{\"StringEquals\":{\"kms:EncryptionContext:volume\":\"vol-1\"}}", 0 },
		{ "{\"StringNotLike\":{\"kms:EncryptionContext:volume\":\"vol-*\"}}", POLICY_ALLOW },
		{ "{\"Null\":{\"kms:ViaService\":\"true\"}}", POLICY_ALLOW },
		{ "{\"Null\":{\"kms:ViaService\":\"false\"}}", 0 },
		{ "{\"Null\":{\"kms:CallerAccount\":\"false\"}}", POLICY_ALLOW },
		{ "{\"Null\":{\"kms:CallerAccount\":true}}", 0 },
		{ "{\"Bool\":{\"kms:GrantIsForAWSResource\":\"true\"}}", 0 },
		{ "{\"BoolIfExists\":{\"kms:GrantIsForAWSResource\":\"true\"}}", POLICY_ALLOW },
	};
	struct policy_request r = request("Decrypt");

	conditions_case(t, sizeof(t) / sizeof(t[0]), &r);
}

static void encryption_context_conditions(void **state)
{
	static const struct cond_case t[] = {
		{ "{\"StringEquals\":{\"kms:EncryptionContext:volume\":\"vol-1\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"kms:EncryptionContext:Volume\":\"vol-1\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"kms:EncryptionContext:volume\":\"VOL-1\"}}", 0 },
		{ "{\"StringEquals\":{\"kms:EncryptionContext:volume\":\"vol-2\"}}", 0 },
		{ "{\"StringLike\":{\"kms:EncryptionContext:volume\":\"vol-?\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"kms:EncryptionContext:host\":\"h\"}}", 0 },
		{ "{\"ForAnyValue:StringEquals\":{\"kms:EncryptionContextKeys\":\"volume\"}}", POLICY_ALLOW },
		{ "{\"ForAnyValue:StringEquals\":{\"kms:EncryptionContextKeys\":\"host\"}}", 0 },
		{ "{\"ForAllValues:StringEquals\":{\"kms:EncryptionContextKeys\":[\"volume\",\"snap\"]}}", POLICY_ALLOW },
		{ "{\"ForAllValues:StringEquals\":{\"kms:EncryptionContextKeys\":\"snap\"}}", 0 },
		{ "{\"ForAllValues:StringLike\":{\"kms:EncryptionContextKeys\":\"*\"}}", POLICY_ALLOW },
		{ "{\"ForAnyValue:StringNotEquals\":{\"kms:EncryptionContextKeys\":\"volume\"}}", POLICY_ALLOW },
		{ "{\"ForAllValues:StringNotEquals\":{\"kms:EncryptionContextKeys\":\"volume\"}}", 0 },
		{ "{\"Null\":{\"kms:EncryptionContextKeys\":\"false\"}}", POLICY_ALLOW },
	};
	static const struct cond_case empty[] = {
		/* A request without context: ForAllValues holds, ForAnyValue does not. */
		{ "{\"ForAllValues:StringEquals\":{\"kms:EncryptionContextKeys\":\"volume\"}}", POLICY_ALLOW },
		{ "{\"ForAnyValue:StringEquals\":{\"kms:EncryptionContextKeys\":\"volume\"}}", 0 },
		{ "{\"ForAnyValue:StringEqualsIfExists\":{\"kms:EncryptionContextKeys\":\"volume\"}}", POLICY_ALLOW },
		{ "{\"Null\":{\"kms:EncryptionContextKeys\":\"true\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"kms:EncryptionContext:volume\":\"vol-1\"}}", 0 },
	};
	struct policy_request r = request("Decrypt");
	struct json_object *ctx = json_tokener_parse("{\"volume\":\"vol-1\",\"snap\":\"s\"}");
	struct json_object *none = json_object_new_object();

	r.enc_ctx = ctx;
	conditions_case(t, sizeof(t) / sizeof(t[0]), &r);
	r.enc_ctx = none;
	conditions_case(empty, sizeof(empty) / sizeof(empty[0]), &r);
	r.enc_ctx = NULL;
	conditions_case(empty, sizeof(empty) / sizeof(empty[0]), &r);
	json_object_put(ctx);
	json_object_put(none);
}

static void grant_conditions(void **state)
{
	static const struct cond_case t[] = {
		{ "{\"ForAllValues:StringEquals\":{\"kms:GrantOperations\":[\"Decrypt\",\"Encrypt\"]}}", POLICY_ALLOW },
		{ "{\"ForAllValues:StringEquals\":{\"kms:GrantOperations\":\"Decrypt\"}}", 0 },
		{ "{\"ForAnyValue:StringEquals\":{\"kms:GrantOperations\":\"CreateGrant\"}}", 0 },
		{ "{\"StringEquals\":{\"kms:GranteePrincipal\":\"" OTHER "\"}}", POLICY_ALLOW },
		{ "{\"StringEquals\":{\"kms:GranteePrincipal\":\"" ME "\"}}", 0 },
		{ "{\"Bool\":{\"kms:GrantIsForAWSResource\":\"false\"}}", POLICY_ALLOW },
		{ "{\"Bool\":{\"kms:GrantIsForAWSResource\":true}}", 0 },
		{ "{\"Bool\":{\"kms:GrantIsForAWSResource\":\"TRUE\"}}", 0 },
	};
	struct policy_request r = request("CreateGrant");
	struct json_object *ops = json_tokener_parse("[\"Decrypt\",\"Encrypt\"]");

	r.grant_ops = ops;
	r.grantee = OTHER;
	r.grant_call = 1;
	conditions_case(t, sizeof(t) / sizeof(t[0]), &r);
	json_object_put(ops);
}

static void documents_aws_writes_are_accepted(void **state)
{
	static const char *const good[] = {
		/* AWS's default key policy, and the console's admin/user statements. */
		"{\"Version\":\"2012-10-17\",\"Id\":\"key-default-1\",\"Statement\":[{\"Sid\":\"Enable IAM User "
		"Permissions\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},"
		"\"Action\":\"kms:*\",\"Resource\":\"*\"}]}",
		"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"Allow access for Key Administrators\","
		"\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:role/KMSAdmin\"},"
		"\"Action\":[\"kms:Create*\",\"kms:Describe*\",\"kms:Enable*\",\"kms:List*\",\"kms:Put*\","
		"\"kms:Update*\",\"kms:Revoke*\",\"kms:Disable*\",\"kms:Get*\",\"kms:Delete*\",\"kms:TagResource\","
		"\"kms:UntagResource\",\"kms:ScheduleKeyDeletion\",\"kms:CancelKeyDeletion\","
		"\"kms:RotateKeyOnDemand\"],\"Resource\":\"*\"},{\"Sid\":\"Allow attachment of persistent "
		"resources\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:role/User\"},"
		"\"Action\":[\"kms:CreateGrant\",\"kms:ListGrants\",\"kms:RevokeGrant\"],\"Resource\":\"*\","
		"\"Condition\":{\"Bool\":{\"kms:GrantIsForAWSResource\":\"true\"}}}]}",
		" \n{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
		"\"Resource\":\"*\"}]}\r\n\t \n",
		"{\"Version\":\"2008-10-17\",\"Statement\":{\"Effect\":\"Deny\",\"Principal\":\"*\","
		"\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":{\"StringNotEquals\":"
		"{\"kms:EncryptionContext:volume\":[\"a\",\"b\"]},\"ForAnyValue:StringLike\":"
		"{\"kms:EncryptionContextKeys\":\"x*\"},\"Null\":{\"kms:ViaService\":\"true\"}}}}",
		"{\"Statement\":[{\"Sid\":\"a:b \\\"c:d\\\" \\\\\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"111122223333\","
		"\"arn:aws:sts::111122223333:assumed-role/R/session\",\"*\"]},\"Action\":\"*\",\"Resource\":\"*\"}]}",
	};
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct json_object *doc = policy_load(good[i], err, sizeof(err));

		if (!doc)
			fail_msg("refused (%s): %s", err, good[i]);
		json_object_put(doc);
	}
}

#define ST(body) "{\"Statement\":[{" body "}]}"
#define OKP "\"Effect\":\"Allow\",\"Principal\":\"*\",\"Resource\":\"*\""

static void bad_documents_are_refused_by_name(void **state)
{
	static const struct { const char *doc, *names; } bad[] = {
		{ "not json", "not a JSON object" },
		{ "[]", "not a JSON object" },
		{ "{\"Statement\":[]} x", "not a JSON object" },
		{ "{}", "no Statement" },
		{ "{\"Statement\":[]}", "empty" },
		{ "{\"Statement\":[],\"Extra\":1}", "element Extra" },
		{ "{\"Version\":\"2019-01-01\",\"Statement\":[]}", "Version" },
		{ "{\"Statement\":[1]}", "not an object" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Frob\":1"), "element Frob" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"NotResource\":\"*\""), "element NotResource" },
		{ ST("\"Principal\":\"*\",\"Resource\":\"*\",\"Action\":\"kms:*\""), "no Effect" },
		{ ST("\"Effect\":\"Permit\",\"Principal\":\"*\",\"Resource\":\"*\",\"Action\":\"kms:*\""), "Effect" },
		{ ST("\"Effect\":\"allow\",\"Principal\":\"*\",\"Resource\":\"*\",\"Action\":\"kms:*\""), "Effect" },
		{ ST("\"Effect\":\"Allow\",\"Resource\":\"*\",\"Action\":\"kms:*\""), "no Principal" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\""), "no Resource" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"*\",\"Resource\":\"*\""), "no Action" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"NotAction\":\"kms:Decrypt\""), "not both" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"*\",\"NotPrincipal\":\"*\",\"Resource\":\"*\","
		     "\"Action\":\"kms:*\""), "not both" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"*\",\"Resource\":\"arn:aws:kms:us-east-1:"
		     "111122223333:key/x\",\"Action\":\"kms:*\""), "Resource 'arn:aws:kms" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"*\",\"Resource\":[\"*\",\"x\"],\"Action\":\"kms:*\""),
		  "Resource 'x'" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"*\",\"Resource\":[],\"Action\":\"kms:*\""), "Resource" },
		{ ST(OKP ",\"Action\":\"kms:Frobnicate\""), "'kms:Frobnicate' is not a KMS action" },
		{ ST(OKP ",\"Action\":\"kms:Frob*\""), "'kms:Frob*'" },
		{ ST(OKP ",\"Action\":\"s3:GetObject\""), "'s3:GetObject'" },
		{ ST(OKP ",\"Action\":\"kms:\""), "'kms:'" },
		{ ST(OKP ",\"Action\":[]"), "Action must be" },
		{ ST(OKP ",\"Action\":[\"kms:Decrypt\",3]"), "Action must be" },
		{ ST(OKP ",\"Action\":\"kms:Decrypt\\u0000x\""), "Action must be" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":\"arn:aws:iam::111122223333:root\",\"Resource\":\"*\","
		     "\"Action\":\"kms:*\""), "Principal must be" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Resource\":\"*\","
		     "\"Action\":\"kms:*\""), "type Service" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::*:root\"},\"Resource\":\"*\","
		     "\"Action\":\"kms:*\""), "'arn:aws:iam::*:root' is not a valid principal" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/a*\"},"
		     "\"Resource\":\"*\",\"Action\":\"kms:*\""), "not a valid principal" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"alice\"},\"Resource\":\"*\",\"Action\":\"kms:*\""),
		  "'alice' is not a valid principal" },
		{ ST("\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[]},\"Resource\":\"*\",\"Action\":\"kms:*\""),
		  "AWS must be" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"NumericEquals\":{\"kms:CallerAccount\":\"1\"}}"),
		  "operator NumericEquals" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEqualsIgnoreCase\":{\"kms:CallerAccount\":\"1\"}}"),
		  "operator StringEqualsIgnoreCase" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"stringequals\":{\"kms:CallerAccount\":\"1\"}}"),
		  "operator stringequals" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"ArnLike\":{\"aws:PrincipalArn\":\"*\"}}"),
		  "operator ArnLike" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"NullIfExists\":{\"kms:ViaService\":\"true\"}}"),
		  "IfExists cannot" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"ForAnyValue:Null\":{\"kms:ViaService\":\"true\"}}"),
		  "String operators only" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"aws:SourceIp\":\"10.0.0.1\"}}"),
		  "key aws:SourceIp" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:KeySpec\":\"x\"}}"),
		  "key kms:KeySpec" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:EncryptionContext:\":\"x\"}}"),
		  "key kms:EncryptionContext:" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:EncryptionContextKeys\":\"x\"}}"),
		  "ForAnyValue:StringEquals" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringLike\":{\"kms:GrantOperations\":\"x\"}}"),
		  "kms:GrantOperations has many values" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"ForAllValues:StringEquals\":{\"kms:CallerAccount\":\"1\"}}"),
		  "kms:CallerAccount has one value" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"Bool\":{\"kms:CallerAccount\":\"true\"}}"),
		  "not a boolean key" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"Bool\":{\"kms:GrantIsForAWSResource\":\"yes\"}}"),
		  "'yes' is not true or false" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"Null\":{\"kms:ViaService\":\"maybe\"}}"),
		  "'maybe'" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":1}}"),
		  "values must be strings" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":[]}}"),
		  "no values" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":{}}}"),
		  "values must be strings" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{}}"), "must map" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":[]"), "Condition must be an object" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringLike\":{\"aws:PrincipalArn\":"
		     "\"${aws:username}\"}}"), "policy variables" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":"
		     "\"a\\u0000b\"}}"), "values must be strings" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Sid\":7"), "Sid" },
		{ ST("\"Effect\":\"Deny\",\"Principal\":\"*\",\"Resource\":\"*\",\"Action\":\"kms:*\","
		     "\"Effect\":\"Allow\""), "repeats a name" },
		{ ST(OKP ",\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"1\","
		     "\"kms:CallerAccount\":\"2\"}}"), "repeats a name" },
		{ "{\"Statement\":[],\"Statement\":[{" OKP ",\"Action\":\"kms:*\"}]}", "repeats a name" },
	};
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *doc;

		err[0] = '\0';
		doc = policy_load(bad[i].doc, err, sizeof(err));
		if (doc) {
			json_object_put(doc);
			fail_msg("accepted: %s", bad[i].doc);
		}
		if (!strstr(err, bad[i].names))
			fail_msg("refused %s with '%s', which does not name '%s'", bad[i].doc, err,
				 bad[i].names);
	}
}

static void oversize_document_is_refused(void **state)
{
	size_t n = POLICY_MAX_BYTES + 100;
	char *big = malloc(n + 1), err[256];

	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{\"Statement\":[]", 15);
	big[n - 1] = '}';
	big[n] = '\0';
	assert_null(policy_load(big, err, sizeof(err)));
	assert_non_null(strstr(err, "larger than"));
	free(big);
}

/* The keys table as the first release created it: no policy column. */
static const char old_schema[] =
	"CREATE TABLE keys (id TEXT PRIMARY KEY, owner TEXT NOT NULL, description TEXT NOT NULL,"
	" state TEXT NOT NULL, created INTEGER NOT NULL, deletion_date INTEGER NOT NULL,"
	" pending_days INTEGER NOT NULL, rotation_enabled INTEGER NOT NULL,"
	" rotation_period INTEGER NOT NULL, last_rotation INTEGER NOT NULL,"
	" on_demand_rotation INTEGER NOT NULL, managed INTEGER NOT NULL,"
	" current_version INTEGER NOT NULL, policy_admins TEXT NOT NULL, policy_users TEXT NOT NULL);"
	"INSERT INTO keys VALUES ('k1', 'x', '', 'Enabled', 1, 0, 0, 0, 365, 1, 0, 0, 1,"
	" '[\"arn:aws:iam::" ACCT ":user/alice\"]', '[\"arn:aws:iam::" ACCT ":role/bob\"]');";

static int eval_text(const char *text, const char *who, const char *action)
{
	struct policy_request r = request(action);

	r.principal_arn = who;
	return eval(text, &r);
}

static void old_keys_keep_their_admins_and_users(void **state)
{
	char dir[] = "/tmp/kmsd-policy-XXXXXX", path[64], *text;
	struct kmsd_config cfg = { .account_id = (char *)ACCT };
	struct kmsd k = { .cfg = &cfg };
	struct kms_key key;
	sqlite3 *db;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kmsd.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(path, &db), 0);
	assert_int_equal(store_key_get(db, "k1", &key), 0);
	assert_null(key.policy);
	text = policy_of_key(&k, &key);
	assert_non_null(text);
	assert_true(eval_text(text, "arn:aws:iam::" ACCT ":user/alice", "DisableKey") & POLICY_ALLOW);
	assert_true(eval_text(text, "arn:aws:iam::" ACCT ":role/bob", "Decrypt") & POLICY_ALLOW);
	assert_int_equal(eval_text(text, "arn:aws:iam::" ACCT ":role/bob", "DisableKey"), POLICY_ALLOW_ACCOUNT);
	assert_int_equal(eval_text(text, OTHER, "Decrypt"), POLICY_ALLOW_ACCOUNT);
	free(text);

	/* A policy put on it is stored and read back as given. */
	key.policy = strdup("{\"Statement\":[]}");
	assert_int_equal(store_key_put(db, &key), 0);
	kms_key_free(&key);
	store_close(db);
	assert_int_equal(store_open(path, &db), 0);
	assert_int_equal(store_key_get(db, "k1", &key), 0);
	assert_string_equal(key.policy, "{\"Statement\":[]}");
	kms_key_free(&key);
	store_close(db);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

#define T(name, fn) { name, fn, NULL, NULL, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("action wildcards expand as AWS's do, case-insensitively", wildcards_expand_as_aws),
		T("each action allows exactly its own operation", each_action_allows_only_itself),
		T("an explicit Deny beats every Allow", deny_beats_allow),
		T("NotAction and NotPrincipal apply to everything they do not list", not_action_and_not_principal),
		T("an account principal delegates to the account; another account gets nothing",
		  account_principals_delegate),
		T("a role session matches its role's ARN, as Principal and as aws:PrincipalArn",
		  role_sessions_match_their_role),
		T("string, Bool and Null conditions: present, missing, negated and IfExists",
		  string_conditions_on_single_keys),
		T("encryption context conditions, with ForAnyValue and ForAllValues", encryption_context_conditions),
		T("grant conditions see CreateGrant's operations and grantee", grant_conditions),
		T("policies as AWS writes them are accepted", documents_aws_writes_are_accepted),
		T("every unsupported element, operator, key or value is refused by name",
		  bad_documents_are_refused_by_name),
		T("a policy over 32 KiB is refused", oversize_document_is_refused),
		T("a key stored before policy documents keeps its admins and users", old_keys_keep_their_admins_and_users),
	};

	return cmocka_run_group_tests_name("kmsd key policies", tests, NULL, NULL);
}
