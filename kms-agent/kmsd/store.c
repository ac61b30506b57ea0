// SPDX-License-Identifier: GPL-2.0
/*
 * The key store's interface: picks the backend the config names and
 * forwards every call to it. SQLite (store_sqlite.c) is the embedded
 * default; PostgreSQL (store_pg.c) lets several instances share one
 * database. Both hold key material only as the root key wrapped it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_backend.h"

int store_open(const struct kmsd_config *cfg, struct store **db)
{
	char path[4096];

	if (cfg->store && !strcmp(cfg->store, "postgresql")) {
		if (!cfg->pg_conninfo || !*cfg->pg_conninfo) {
			ebs_err("store = postgresql needs pg_conninfo");
			return -EINVAL;
		}
		/* One connection per HTTP thread: none ever waits for another's. */
		return store_open_pg(cfg->pg_conninfo, cfg->threads, cfg->durable, db);
	}
	if (snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, KMSD_DB_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return store_open_sqlite(path, cfg->durable, db);
}

void store_close(struct store *db)
{
	if (db)
		db->ops->close(db);
}

const char *store_kind(const struct store *db)
{
	return db->ops->kind;
}

int store_begin(struct store *db)
{
	return db->ops->begin(db);
}

int store_undo(struct store *db)
{
	return db->ops->undo(db);
}

int store_commit(struct store *db)
{
	return db->ops->commit(db);
}

void store_rollback(struct store *db)
{
	db->ops->rollback(db);
}

int store_conflict(struct store *db)
{
	return db->ops->conflict(db);
}

int store_key_get(struct store *db, const char *id, struct kms_key *k)
{
	return db->ops->key_get(db, id, k);
}

int store_key_put(struct store *db, const struct kms_key *k)
{
	return db->ops->key_put(db, k);
}

int store_key_purge(struct store *db, const char *id)
{
	return db->ops->key_purge(db, id);
}

int store_keys_list(struct store *db, const char *after, int limit,
		    int (*fn)(void *arg, const char *id), void *arg)
{
	return db->ops->keys_list(db, after, limit, fn, arg);
}

int store_material_put(struct store *db, const char *key_id, uint32_t version,
		       const uint8_t *wrapped, size_t len, long long created)
{
	return db->ops->material_put(db, key_id, version, wrapped, len, created);
}

int store_material_get(struct store *db, const char *key_id, uint32_t version,
		       uint8_t *wrapped, size_t cap, size_t *len)
{
	return db->ops->material_get(db, key_id, version, wrapped, cap, len);
}

int store_alias_get(struct store *db, const char *name, char key_id[40])
{
	return db->ops->alias_get(db, name, key_id);
}

int store_alias_put(struct store *db, const char *name, const char *key_id, long long now,
		    enum alias_put how)
{
	return db->ops->alias_put(db, name, key_id, now, how);
}

int store_alias_delete(struct store *db, const char *name)
{
	return db->ops->alias_delete(db, name);
}

int store_aliases_list(struct store *db, const char *key_id, const char *after, int limit,
		       int (*fn)(void *arg, const struct alias_row *a), void *arg)
{
	return db->ops->aliases_list(db, key_id, after, limit, fn, arg);
}

int store_grant_put(struct store *db, const struct kms_grant *g)
{
	return db->ops->grant_put(db, g);
}

int store_grant_get(struct store *db, const char *id, const char *token, struct kms_grant *g)
{
	return db->ops->grant_get(db, id, token, g);
}

int store_grant_delete(struct store *db, const char *id)
{
	return db->ops->grant_delete(db, id);
}

int store_grants_list(struct store *db, const char *key_id, const char *grantee, const char *after,
		      int limit, int (*fn)(void *arg, const struct kms_grant *g), void *arg)
{
	return db->ops->grants_list(db, key_id, grantee, after, limit, fn, arg);
}

int store_audit_put(struct store *db, const struct audit_row *a)
{
	return db->ops->audit_put(db, a);
}

int store_audit_unauth_put(struct store *db, const struct audit_unauth *u)
{
	return db->ops->audit_unauth_put(db, u);
}

int store_audit_each(struct store *db, const char *since, const char *key,
		     int (*fn)(void *arg, const struct audit_rec *r), void *arg)
{
	return db->ops->audit_each(db, since, key, fn, arg);
}

int store_audit_prune(struct store *db, const char *before, long long *n)
{
	*n = 0;
	return db->ops->audit_prune(db, before, n);
}

int store_count_keys(struct store *db)
{
	int rc = store_begin(db);

	if (rc)
		return rc;
	rc = db->ops->count_keys(db);
	store_rollback(db);
	return rc;
}

int store_materials_each(struct store *db, int (*fn)(void *arg, const char *key_id, uint32_t version,
						const uint8_t *wrapped, size_t len), void *arg)
{
	int rc = store_begin(db);

	if (rc)
		return rc;
	rc = db->ops->materials_each(db, fn, arg);
	store_rollback(db);
	return rc;
}
