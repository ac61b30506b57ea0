// SPDX-License-Identifier: GPL-2.0
/* Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one, named "default". */
#include <stdlib.h>
#include <string.h>

#include "kmsd.h"
#include "policy_eval.h"

#define POLICY_NAME "default"

static int policy_key(struct kreq *req, struct kms_key *key)
{
	const char *ref, *name = NULL;

	if (jget_str(req, "KeyId", FIELD_REQUIRED, 2048, &ref) < 0 ||
	    (strcmp(req->op, "ListKeyPolicies") &&
	     jget_str(req, "PolicyName", FIELD_OPTIONAL, 128, &name) < 0) ||
	    key_resolve(req, ref, KEY_REF_ID, key) || authorize(req, key, req->op, NULL))
		return -1;
	if (name && strcmp(name, POLICY_NAME))
		return kfail(req, "NotFoundException",
			     "Key policy %s does not exist: a key's only policy is named " POLICY_NAME,
			     name);
	return 0;
}

int op_get_key_policy(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	char *text;

	if (policy_key(req, &key))
		return -1;
	text = policy_of_key(req->k, &key);
	if (!text)
		return kfail(req, "KMSInternalException", "out of memory");
	json_object_object_add(req->out, "Policy", json_object_new_string(text));
	json_object_object_add(req->out, "PolicyName", json_object_new_string(POLICY_NAME));
	free(text);
	return 0;
}

int op_put_key_policy(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	const char *policy;
	int bypass = 0;

	if (jget_str(req, "Policy", FIELD_REQUIRED, POLICY_MAX_BYTES, &policy) < 0 ||
	    jget_bool(req, "BypassPolicyLockoutSafetyCheck", &bypass) < 0 ||
	    policy_key(req, &key))
		return -1;
	if (key.managed)
		return kfail(req, "AccessDeniedException", "the policy of an AWS managed key cannot be changed");
	if (policy_check_new(req, policy, bypass))
		return -1;
	free(key.policy);
	key.policy = strdup(policy);
	if (!key.policy)
		return kfail(req, "KMSInternalException", "out of memory");
	return store_key_put(req->k->db, &key) ?
	       kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
}

int op_list_key_policies(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	struct json_object *names;
	long long limit;
	const char *marker;

	if (jget_int(req, "Limit", FIELD_OPTIONAL, 1, 1000, &limit) < 0 ||
	    jget_str(req, "Marker", FIELD_OPTIONAL, 1024, &marker) < 0 || policy_key(req, &key))
		return -1;
	if (marker)
		return kfail(req, "ValidationException", "Marker does not come from a ListKeyPolicies reply");
	names = json_object_new_array();
	json_object_array_add(names, json_object_new_string(POLICY_NAME));
	json_object_object_add(req->out, "PolicyNames", names);
	json_object_object_add(req->out, "Truncated", json_object_new_boolean(0));
	return 0;
}
