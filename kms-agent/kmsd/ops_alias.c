// SPDX-License-Identifier: GPL-2.0
/* Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kmsd.h"

static int alias_name(struct kreq *req, const char **name)
{
	size_t n;

	if (jget_str(req, "AliasName", FIELD_REQUIRED, 256, name) < 0)
		return -1;
	n = strlen(*name);
	if (strncmp(*name, "alias/", 6) || n == 6 ||
	    strspn(*name + 6, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-") != n - 6)
		return kfail(req, "InvalidAliasNameException",
			     "Alias must start with the prefix \"alias/\" and contain only "
			     "alphanumeric characters, '/', '_' and '-'");
	if (!strncmp(*name, "alias/aws/", 10))
		return kfail(req, "InvalidAliasNameException",
			     "Cannot create, update or delete an alias with the reserved prefix alias/aws/");
	return 0;
}

/* TargetKeyId: a key id or key ARN (never an alias), not pending deletion. */
static int target_key(struct kreq *req, struct kms_key *key)
{
	const char *ref;
	char arn[256];

	if (jget_str(req, "TargetKeyId", FIELD_REQUIRED, 2048, &ref) < 0 || key_resolve(req, ref, KEY_REF_ID, key) ||
	    authorize(req, key, req->op, NULL))
		return -1;
	if (!strcmp(key->state, "PendingDeletion")) {
		key_arn(req->k, key->id, arn, sizeof(arn));
		return kfail(req, "KMSInvalidStateException", "%s is pending deletion.", arn);
	}
	return 0;
}

int op_create_alias(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	const char *name;
	char arn[256];
	int rc;

	if (alias_name(req, &name) || target_key(req, &key))
		return -1;
	rc = store_alias_put(req->k->db, name, key.id, req->k->now(), ALIAS_CREATE);
	if (rc == -EEXIST) {
		alias_arn(req->k, name, arn, sizeof(arn));
		return kfail(req, "AlreadyExistsException", "An alias with the name %s already exists", arn);
	}
	return rc ? kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
}

/* The caller must also administer the key an alias points to now. */
static int current_target(struct kreq *req, const char *name)
{
	_cleanup_key_ struct kms_key old = { 0 };
	char id[40], arn[256];
	int rc;

	rc = store_alias_get(req->k->db, name, id);
	if (rc == -ENOENT) {
		alias_arn(req->k, name, arn, sizeof(arn));
		return kfail(req, "NotFoundException", "Alias %s is not found.", arn);
	}
	if (rc)
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	if (key_resolve(req, id, KEY_REF_ID, &old))
		return -1;
	rc = authorize(req, &old, req->op, NULL);
	return rc;
}

int op_update_alias(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	const char *name;
	int rc;

	if (alias_name(req, &name) || current_target(req, name) || target_key(req, &key))
		return -1;
	rc = store_alias_put(req->k->db, name, key.id, req->k->now(), ALIAS_REPOINT);
	return rc ? kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
}

int op_delete_alias(struct kreq *req)
{
	const char *name;

	if (alias_name(req, &name) || current_target(req, name))
		return -1;
	return store_alias_delete(req->k->db, name) ?
	       kfail(req, "KMSInternalException", "the key store is unavailable") : 0;
}

static int alias_cb(void *arg, const struct alias_row *a)
{
	struct kpage *page = arg;
	struct json_object *e = page_entry(page, a->name);
	char arn[512];

	if (!e)
		return 1;
	json_object_object_add(e, "AliasName", json_object_new_string(a->name));
	alias_arn(page->req->k, a->name, arn, sizeof(arn));
	json_object_object_add(e, "AliasArn", json_object_new_string(arn));
	json_object_object_add(e, "TargetKeyId", json_object_new_string(a->key_id));
	json_object_object_add(e, "CreationDate", json_object_new_int64(a->created));
	json_object_object_add(e, "LastUpdatedDate", json_object_new_int64(a->updated));
	return 0;
}

int op_list_aliases(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	const char *ref = NULL, *marker;
	struct kpage page;

	if (authorize_account(req, ROLE_USER) || page_args(req, 50, 100, &page, &marker) ||
	    jget_str(req, "KeyId", FIELD_OPTIONAL, 2048, &ref) < 0)
		return -1;
	if (ref && key_resolve(req, ref, KEY_REF_ID, &key))
		return -1;
	page_begin(&page, "Aliases");
	if (store_aliases_list(req->k->db, ref ? key.id : NULL, marker, page.limit + 1, alias_cb, &page))
		return kfail(req, "KMSInternalException", "the key store is unavailable");
	page_end(&page);
	return 0;
}
