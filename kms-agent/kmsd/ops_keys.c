// SPDX-License-Identifier: GPL-2.0
/*
 * Key lifecycle operations: CreateKey, DescribeKey, ListKeys, EnableKey,
 * DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, and rotation
 * (Enable/Disable/GetKeyRotationStatus, RotateKeyOnDemand).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsd.h"

#define DAY 86400LL

static struct json_object *metadata(struct kreq *req, const struct kms_key *key)
{
	struct json_object *m = json_object_new_object(), *algs = json_object_new_array();
	char arn[256];

	key_arn(req->k, key->id, arn, sizeof(arn));
	json_object_object_add(m, "AWSAccountId", json_object_new_string(req->k->cfg->account_id));
	json_object_object_add(m, "KeyId", json_object_new_string(key->id));
	json_object_object_add(m, "Arn", json_object_new_string(arn));
	json_object_object_add(m, "CreationDate", json_object_new_int64(key->created));
	json_object_object_add(m, "Enabled", json_object_new_boolean(!strcmp(key->state, "Enabled")));
	json_object_object_add(m, "Description", json_object_new_string(key->description ? key->description : ""));
	json_object_object_add(m, "KeyUsage", json_object_new_string("ENCRYPT_DECRYPT"));
	json_object_object_add(m, "KeyState", json_object_new_string(key->state));
	if (!strcmp(key->state, "PendingDeletion"))
		json_object_object_add(m, "DeletionDate", json_object_new_int64(key->deletion_date));
	json_object_object_add(m, "Origin", json_object_new_string("AWS_KMS"));
	json_object_object_add(m, "KeyManager", json_object_new_string(key->managed ? "AWS" : "CUSTOMER"));
	json_object_object_add(m, "CustomerMasterKeySpec", json_object_new_string("SYMMETRIC_DEFAULT"));
	json_object_object_add(m, "KeySpec", json_object_new_string("SYMMETRIC_DEFAULT"));
	json_object_array_add(algs, json_object_new_string("SYMMETRIC_DEFAULT"));
	json_object_object_add(m, "EncryptionAlgorithms", algs);
	json_object_object_add(m, "MultiRegion", json_object_new_boolean(0));
	return m;
}

static int only_value(struct kreq *req, const char *name, const char *want)
{
	const char *v;
	int rc = jget_str(req, name, FIELD_OPTIONAL, 64, &v);

	if (rc < 0)
		return -1;
	if (rc && strcmp(v, want))
		return kfail(req, "UnsupportedOperationException",
			     "%s %s is not supported; only %s", name, v, want);
	return 0;
}

int op_create_key(struct kreq *req)
{
	const char *desc = NULL, *policy = NULL;
	_cleanup_key_ struct kms_key key = { 0 };
	int multi = 0, bypass = 0;

	if (authorize_account(req, ROLE_ADMIN))
		return -1;
	if (jget_str(req, "Description", FIELD_OPTIONAL, 8192, &desc) < 0 ||
	    jget_str(req, "Policy", FIELD_OPTIONAL, 32768, &policy) < 0 ||
	    jget_bool(req, "BypassPolicyLockoutSafetyCheck", &bypass) < 0 ||
	    only_value(req, "KeyUsage", "ENCRYPT_DECRYPT") ||
	    only_value(req, "KeySpec", "SYMMETRIC_DEFAULT") ||
	    only_value(req, "CustomerMasterKeySpec", "SYMMETRIC_DEFAULT") ||
	    only_value(req, "Origin", "AWS_KMS") ||
	    jget_bool(req, "MultiRegion", &multi) < 0)
		return -1;
	if (multi)
		return kfail(req, "UnsupportedOperationException", "multi-Region keys are not supported");
	crypto_uuid(key.id);
	snprintf(key.owner, sizeof(key.owner), "%s", req->who->arn);
	snprintf(key.state, sizeof(key.state), "Enabled");
	key.description = strdup(desc ? desc : "");
	key.created = req->k->now();
	key.last_rotation = key.created;
	key.rotation_period = 365;
	key.current_version = 1;
	if (policy && policy_check_new(req, policy, bypass))
		return -1;
	key.policy = policy ? strdup(policy) : policy_default(req->k);
	key.policy_admins = strdup("[]");
	key.policy_users = strdup("[]");
	if (!key.description || !key.policy || !key.policy_admins || !key.policy_users)
		return kfail(req, "KMSInternalException", "out of memory");
	key_arn(req->k, key.id, req->audit_key, sizeof(req->audit_key));
	if (key_new_material(req, key.id, 1) || store_key_put(req->k->db, &key))
		return kfail(req, "KMSInternalException", "cannot store the key");
	json_object_object_add(req->out, "KeyMetadata", metadata(req, &key));
	return 0;
}

/* Resolves KeyId and checks the caller may perform req->op on it. */
static int admin_key(struct kreq *req, struct kms_key *key)
{
	const char *ref;

	if (jget_str(req, "KeyId", FIELD_REQUIRED, 2048, &ref) < 0 ||
	    key_resolve(req, ref, KEY_REF_ID, key))
		return -1;
	if (authorize(req, key, req->op, NULL))
		return -1;
	return 0;
}

int op_describe_key(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	const char *ref;

	if (jget_str(req, "KeyId", FIELD_REQUIRED, 2048, &ref) < 0 || key_resolve(req, ref, KEY_REF_ALIAS_MANAGED, &key))
		return -1;
	if (authorize(req, &key, "DescribeKey", NULL))
		return -1;
	json_object_object_add(req->out, "KeyMetadata", metadata(req, &key));
	return 0;
}

static int list_key_cb(void *arg, const char *id)
{
	struct kpage *page = arg;
	struct json_object *e = page_entry(page, id);
	char arn[256];

	if (!e)
		return 1;
	key_arn(page->req->k, id, arn, sizeof(arn));
	json_object_object_add(e, "KeyId", json_object_new_string(id));
	json_object_object_add(e, "KeyArn", json_object_new_string(arn));
	return 0;
}

int op_list_keys(struct kreq *req)
{
	struct kpage page;
	const char *marker;

	if (authorize_account(req, ROLE_USER) || page_args(req, 100, 1000, &page, &marker))
		return -1;
	page_begin(&page, "Keys");
	if (store_keys_list(req->k->db, marker, page.limit + 1, list_key_cb, &page))
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	page_end(&page);
	return 0;
}

static int not_pending(struct kreq *req, const struct kms_key *key)
{
	char arn[256];

	if (strcmp(key->state, "PendingDeletion"))
		return 0;
	key_arn(req->k, key->id, arn, sizeof(arn));
	return kfail(req, "KMSInvalidStateException", "%s is pending deletion.", arn);
}

static int set_state(struct kreq *req, const char *state)
{
	_cleanup_key_ struct kms_key key = { 0 };
	int rc = -1;

	if (admin_key(req, &key))
		return -1;
	if (!not_pending(req, &key)) {
		snprintf(key.state, sizeof(key.state), "%s", state);
		rc = store_key_put(req->k->db, &key) ?
		     kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
	}
	return rc;
}

int op_enable_key(struct kreq *req)
{
	return set_state(req, "Enabled");
}

int op_disable_key(struct kreq *req)
{
	return set_state(req, "Disabled");
}

int op_schedule_key_deletion(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	long long days = 30;
	char arn[256];
	int rc = -1;

	if (jget_int(req, "PendingWindowInDays", FIELD_OPTIONAL, 7, 30, &days) < 0 || admin_key(req, &key))
		return -1;
	if (!not_pending(req, &key)) {
		snprintf(key.state, sizeof(key.state), "PendingDeletion");
		key.pending_days = (int)days;
		key.deletion_date = req->k->now() + days * DAY;
		if (store_key_put(req->k->db, &key)) {
			rc = kfail(req, "KMSInternalException", "the key store is unavailable");
		} else {
			key_arn(req->k, key.id, arn, sizeof(arn));
			json_object_object_add(req->out, "KeyId", json_object_new_string(arn));
			json_object_object_add(req->out, "DeletionDate", json_object_new_int64(key.deletion_date));
			json_object_object_add(req->out, "KeyState", json_object_new_string("PendingDeletion"));
			json_object_object_add(req->out, "PendingWindowInDays", json_object_new_int((int)days));
			rc = 0;
		}
	}
	return rc;
}

int op_cancel_key_deletion(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	char arn[256];
	int rc = -1;

	if (admin_key(req, &key))
		return -1;
	key_arn(req->k, key.id, arn, sizeof(arn));
	if (strcmp(key.state, "PendingDeletion")) {
		rc = kfail(req, "KMSInvalidStateException", "%s is not pending deletion.", arn);
	} else {
		/* As in AWS KMS, a key whose deletion is cancelled comes back disabled. */
		snprintf(key.state, sizeof(key.state), "Disabled");
		key.deletion_date = 0;
		key.pending_days = 0;
		if (store_key_put(req->k->db, &key)) {
			rc = kfail(req, "KMSInternalException", "the key store is unavailable");
		} else {
			json_object_object_add(req->out, "KeyId", json_object_new_string(arn));
			rc = 0;
		}
	}
	return rc;
}

enum rotation { ROTATION_OFF, ROTATION_ON };

static int rotation_state(struct kreq *req, enum rotation want)
{
	int enable = want == ROTATION_ON;
	_cleanup_key_ struct kms_key key = { 0 };
	long long period = 365;
	int rc = -1;

	if ((enable && jget_int(req, "RotationPeriodInDays", FIELD_OPTIONAL, 90, 2560, &period) < 0) ||
	    admin_key(req, &key))
		return -1;
	if (!key_usable(req, &key)) {
		if (enable && !key.rotation_enabled)
			key.last_rotation = req->k->now();
		key.rotation_enabled = enable;
		if (enable)
			key.rotation_period = (int)period;
		rc = store_key_put(req->k->db, &key) ?
		     kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
	}
	return rc;
}

int op_enable_key_rotation(struct kreq *req)
{
	return rotation_state(req, ROTATION_ON);
}

int op_disable_key_rotation(struct kreq *req)
{
	return rotation_state(req, ROTATION_OFF);
}

int op_get_key_rotation_status(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	char arn[256];

	if (admin_key(req, &key))
		return -1;
	key_arn(req->k, key.id, arn, sizeof(arn));
	json_object_object_add(req->out, "KeyId", json_object_new_string(arn));
	json_object_object_add(req->out, "KeyRotationEnabled", json_object_new_boolean(key.rotation_enabled));
	if (key.rotation_enabled) {
		json_object_object_add(req->out, "RotationPeriodInDays", json_object_new_int(key.rotation_period));
		json_object_object_add(req->out, "NextRotationDate",
				       json_object_new_int64(key.last_rotation + key.rotation_period * DAY));
	}
	if (key.on_demand_rotation)
		json_object_object_add(req->out, "OnDemandRotationStartDate",
				       json_object_new_int64(key.on_demand_rotation));
	return 0;
}

int op_rotate_key_on_demand(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	int rc = -1;

	if (admin_key(req, &key))
		return -1;
	if (!key_usable(req, &key)) {
		key.on_demand_rotation = req->k->now();
		/* Synchronous, unlike AWS: the new material is current when this returns. */
		if (!key_rotate(req, &key)) {
			json_object_object_add(req->out, "KeyId", json_object_new_string(key.id));
			rc = 0;
		}
	}
	return rc;
}
