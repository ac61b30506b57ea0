// SPDX-License-Identifier: GPL-2.0
/*
 * Keys as the operations use them: references (key id, key ARN, alias,
 * alias ARN) resolved to a stored key, the AWS managed key created on first
 * use, whether a key may be used, its material by version, and rotation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsd.h"

#define DAY 86400LL
#define MANAGED_EBS_DESCRIPTION "Default key that protects my EBS volumes when no other key is defined"

void key_arn(const struct kmsd *k, const char *id, char *out, size_t len)
{
	snprintf(out, len, "arn:aws:kms:%s:%s:key/%s", k->cfg->region, k->cfg->account_id, id);
}

void alias_arn(const struct kmsd *k, const char *name, char *out, size_t len)
{
	snprintf(out, len, "arn:aws:kms:%s:%s:%s", k->cfg->region, k->cfg->account_id, name);
}

int key_new_material(struct kreq *req, const char *id, uint32_t version)
{
	uint8_t wrapped[KMS_WRAPPED_LEN];

	if (crypto_new_material(req->k->root_key, id, version, wrapped) ||
	    store_material_put(req->k->db, id, version, wrapped, sizeof(wrapped), req->k->now()))
		return kfail(req, "KMSInternalException", "cannot create key material");
	return 0;
}

static int create_managed_key(struct kreq *req, const char *alias, struct kms_key *key)
{
	long long now = req->k->now();

	memset(key, 0, sizeof(*key));
	crypto_uuid(key->id);
	snprintf(key->owner, sizeof(key->owner), "AWS");
	snprintf(key->state, sizeof(key->state), "Enabled");
	key->description = strdup(MANAGED_EBS_DESCRIPTION);
	key->policy_admins = strdup("[]");
	key->policy_users = strdup("[]");
	key->created = now;
	key->managed = 1;
	key->rotation_enabled = 1;
	key->rotation_period = 365;
	key->last_rotation = now;
	key->current_version = 1;
	if (!key->description || !key->policy_admins || !key->policy_users) {
		kms_key_free(key);
		return kfail(req, "KMSInternalException", "out of memory");
	}
	if (key_new_material(req, key->id, 1) || store_key_put(req->k->db, key) ||
	    store_alias_put(req->k->db, alias, key->id, now, ALIAS_CREATE)) {
		kms_key_free(key);
		return kfail(req, "KMSInternalException", "cannot create the AWS managed key");
	}
	return 0;
}

static int is_key_id(const char *s)
{
	size_t n = strlen(s);

	return n == 36 && strspn(s, "0123456789abcdef-") == 36;
}

int key_resolve(struct kreq *req, const char *ref, enum key_ref accept, struct kms_key *key)
{
	char prefix[128], id[40], arn[256];
	const char *alias = NULL, *kid = ref;
	size_t pl;
	int rc;

	snprintf(prefix, sizeof(prefix), "arn:aws:kms:%s:%s:", req->k->cfg->region, req->k->cfg->account_id);
	pl = strlen(prefix);
	if (!strncmp(ref, "arn:", 4)) {
		if (strncmp(ref, prefix, pl))
			return kfail(req, "NotFoundException", "Invalid arn %s", ref);
		if (!strncmp(ref + pl, "key/", 4))
			kid = ref + pl + 4;
		else if (!strncmp(ref + pl, "alias/", 6))
			alias = ref + pl;
		else
			return kfail(req, "NotFoundException", "Invalid arn %s", ref);
	} else if (!strncmp(ref, "alias/", 6)) {
		alias = ref;
	}
	snprintf(req->audit_key, sizeof(req->audit_key), "%s", ref);
	if (alias) {
		if (accept == KEY_REF_ID)
			return kfail(req, "NotFoundException", "Invalid keyId %s", ref);
		rc = store_alias_get(req->k->db, alias, id);
		if (rc == -ENOENT && accept == KEY_REF_ALIAS_MANAGED && !strcmp(alias, KMSD_MANAGED_EBS_ALIAS) &&
		    req->who->role >= ROLE_USER) {
			if (create_managed_key(req, alias, key))
				return -1;
			key_arn(req->k, key->id, req->audit_key, sizeof(req->audit_key));
			return 0;
		}
		if (rc == -ENOENT) {
			alias_arn(req->k, alias, arn, sizeof(arn));
			return kfail(req, "NotFoundException", "Alias %s is not found.", arn);
		}
		if (rc)
			return kfail(req, "KMSInternalException", "the key store is unavailable");
		kid = id;
	}
	if (!is_key_id(kid))
		return kfail(req, "NotFoundException", "Invalid keyId %s", ref);
	key_arn(req->k, kid, arn, sizeof(arn));
	rc = store_key_get(req->k->db, kid, key);
	if (!rc && !strcmp(key->state, "PendingDeletion") && req->k->now() >= key->deletion_date) {
		/* The waiting period is over: the key is gone for good. */
		kms_key_free(key);
		if (store_key_purge(req->k->db, kid))
			return kfail(req, "KMSInternalException", "the key store is unavailable");
		rc = -ENOENT;
	}
	if (rc == -ENOENT)
		return kfail(req, "NotFoundException", "Key '%s' does not exist", arn);
	if (rc)
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	snprintf(req->audit_key, sizeof(req->audit_key), "%s", arn);
	return 0;
}

int key_usable(struct kreq *req, const struct kms_key *key)
{
	char arn[256];

	key_arn(req->k, key->id, arn, sizeof(arn));
	if (!strcmp(key->state, "Enabled"))
		return 0;
	if (!strcmp(key->state, "Disabled"))
		return kfail(req, "DisabledException", "%s is disabled.", arn);
	return kfail(req, "KMSInvalidStateException", "%s is pending deletion.", arn);
}

int key_material(struct kreq *req, const struct kms_key *key, uint32_t version,
		 uint8_t material[KMS_MATERIAL_LEN])
{
	uint8_t wrapped[KMS_WRAPPED_LEN + 16];
	size_t len;
	int rc;

	rc = store_material_get(req->k->db, key->id, version, wrapped, sizeof(wrapped), &len);
	if (rc == -ENOENT)
		return -ENOENT;
	if (rc || crypto_unwrap_material(req->k->root_key, key->id, version, wrapped, len, material))
		return kfail(req, "KMSInternalException", "key material is unreadable");
	return 0;
}

int key_rotate(struct kreq *req, struct kms_key *key)
{
	uint32_t v = key->current_version + 1;

	if (key_new_material(req, key->id, v))
		return -1;
	key->current_version = v;
	key->last_rotation = req->k->now();
	if (store_key_put(req->k->db, key))
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	return 0;
}

int key_maybe_auto_rotate(struct kreq *req, struct kms_key *key)
{
	/*
	 * Scheduled rotation happens lazily, on the first use after it is due:
	 * to every caller that is indistinguishable from a background job.
	 */
	if (!key->rotation_enabled || req->k->now() < key->last_rotation + key->rotation_period * DAY)
		return 0;
	return key_rotate(req, key);
}
