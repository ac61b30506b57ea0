// SPDX-License-Identifier: GPL-2.0
/*
 * SQLite persistence. WAL with synchronous=FULL: a request's changes and its
 * audit record commit together, and a committed request survives kill -9
 * (and power loss). One connection, used under kmsd.lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsd.h"
#include "log.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS keys ("
	" id TEXT PRIMARY KEY, owner TEXT NOT NULL, description TEXT NOT NULL,"
	" state TEXT NOT NULL, created INTEGER NOT NULL, deletion_date INTEGER NOT NULL,"
	" pending_days INTEGER NOT NULL, rotation_enabled INTEGER NOT NULL,"
	" rotation_period INTEGER NOT NULL, last_rotation INTEGER NOT NULL,"
	" on_demand_rotation INTEGER NOT NULL, managed INTEGER NOT NULL,"
	" current_version INTEGER NOT NULL, policy_admins TEXT NOT NULL,"
	" policy_users TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS materials ("
	" key_id TEXT NOT NULL, version INTEGER NOT NULL, wrapped BLOB NOT NULL,"
	" created INTEGER NOT NULL, PRIMARY KEY (key_id, version));"
	"CREATE TABLE IF NOT EXISTS aliases ("
	" name TEXT PRIMARY KEY, key_id TEXT NOT NULL, created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS grants ("
	" id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL,"
	" grantee TEXT NOT NULL, retiring TEXT NOT NULL, name TEXT NOT NULL,"
	" operations TEXT NOT NULL, constraints TEXT, created INTEGER NOT NULL,"
	" issuing TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS grants_key ON grants(key_id);"
	"CREATE TABLE IF NOT EXISTS audit ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,"
	" request_id TEXT NOT NULL, principal TEXT NOT NULL, access_key_id TEXT NOT NULL,"
	" source TEXT NOT NULL, operation TEXT NOT NULL, key_id TEXT NOT NULL,"
	" encryption_context TEXT NOT NULL, outcome TEXT NOT NULL,"
	" error_type TEXT NOT NULL, http_status INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS audit_time ON audit(time);"
	"CREATE TABLE IF NOT EXISTS audit_unauthenticated ("
	" interval_start TEXT NOT NULL, source TEXT NOT NULL, count INTEGER NOT NULL,"
	" last_time TEXT NOT NULL, last_error TEXT NOT NULL,"
	" PRIMARY KEY (interval_start, source));";

/*
 * The key policy document, added after the first release: a key stored
 * before it has NULL there, and its admin and user lists stand in for it
 * (policy.c turns them into the equivalent document).
 */
static int add_policy_column(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('keys') WHERE name = 'policy'",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (found)
		return SQLITE_OK;
	return sqlite3_exec(db, "ALTER TABLE keys ADD COLUMN policy TEXT", NULL, NULL, NULL);
}

static int sq_err(sqlite3 *db, int rc, const char *what)
{
	ebs_err("sqlite: %s: %s", what, sqlite3_errmsg(db));
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return -EBUSY;
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	if (rc == SQLITE_NOMEM)
		return -ENOMEM;
	return -EIO;
}

int store_open(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_err(db, rc, "open");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			  "PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = add_policy_column(db);
	if (rc != SQLITE_OK) {
		rc = sq_err(db, rc, "schema");
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

void store_close(sqlite3 *db)
{
	if (db)
		sqlite3_close(db);
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_err(db, rc, sql);
}

int store_begin(sqlite3 *db)
{
	return exec(db, "BEGIN IMMEDIATE");
}

int store_commit(sqlite3 *db)
{
	return exec(db, "COMMIT");
}

void store_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? 0 : sq_err(db, rc, "prepare");
}

/* Runs a statement that returns no rows. */
static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(db, rc, "step");
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

void kms_key_free(struct kms_key *k)
{
	free(k->description);
	free(k->policy_admins);
	free(k->policy_users);
	free(k->policy);
	k->description = k->policy_admins = k->policy_users = k->policy = NULL;
}

int store_key_get(sqlite3 *db, const char *id, struct kms_key *k)
{
	sqlite3_stmt *st;
	int rc;

	memset(k, 0, sizeof(*k));
	rc = prep(db, "SELECT id, owner, description, state, created, deletion_date, pending_days,"
		  " rotation_enabled, rotation_period, last_rotation, on_demand_rotation, managed,"
		  " current_version, policy_admins, policy_users, policy FROM keys WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, k->id, sizeof(k->id));
		col_copy(st, 1, k->owner, sizeof(k->owner));
		k->description = col_dup(st, 2);
		col_copy(st, 3, k->state, sizeof(k->state));
		k->created = sqlite3_column_int64(st, 4);
		k->deletion_date = sqlite3_column_int64(st, 5);
		k->pending_days = sqlite3_column_int(st, 6);
		k->rotation_enabled = sqlite3_column_int(st, 7);
		k->rotation_period = sqlite3_column_int(st, 8);
		k->last_rotation = sqlite3_column_int64(st, 9);
		k->on_demand_rotation = sqlite3_column_int64(st, 10);
		k->managed = sqlite3_column_int(st, 11);
		k->current_version = (uint32_t)sqlite3_column_int64(st, 12);
		k->policy_admins = col_dup(st, 13);
		k->policy_users = col_dup(st, 14);
		k->policy = col_dup(st, 15);
		rc = (k->description && k->policy_admins && k->policy_users &&
		      (k->policy || sqlite3_column_type(st, 15) == SQLITE_NULL)) ? 0 : -ENOMEM;
		if (rc)
			kms_key_free(k);
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sq_err(db, rc, "key get");
	}
	sqlite3_finalize(st);
	return rc;
}

int store_key_put(sqlite3 *db, const struct kms_key *k)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "INSERT OR REPLACE INTO keys (id, owner, description, state, created,"
		  " deletion_date, pending_days, rotation_enabled, rotation_period, last_rotation,"
		  " on_demand_rotation, managed, current_version, policy_admins, policy_users, policy)"
		  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->description ? k->description : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, k->created);
	sqlite3_bind_int64(st, 6, k->deletion_date);
	sqlite3_bind_int(st, 7, k->pending_days);
	sqlite3_bind_int(st, 8, k->rotation_enabled);
	sqlite3_bind_int(st, 9, k->rotation_period);
	sqlite3_bind_int64(st, 10, k->last_rotation);
	sqlite3_bind_int64(st, 11, k->on_demand_rotation);
	sqlite3_bind_int(st, 12, k->managed);
	sqlite3_bind_int64(st, 13, k->current_version);
	sqlite3_bind_text(st, 14, k->policy_admins ? k->policy_admins : "[]", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, k->policy_users ? k->policy_users : "[]", -1, SQLITE_STATIC);
	if (k->policy)
		sqlite3_bind_text(st, 16, k->policy, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 16);
	return step_done(db, st);
}

static int delete_where(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	int rc = prep(db, sql, &st);

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	return step_done(db, st);
}

int store_key_purge(sqlite3 *db, const char *id)
{
	int rc = delete_where(db, "DELETE FROM materials WHERE key_id = ?", id);

	if (!rc)
		rc = delete_where(db, "DELETE FROM aliases WHERE key_id = ?", id);
	if (!rc)
		rc = delete_where(db, "DELETE FROM grants WHERE key_id = ?", id);
	if (!rc)
		rc = delete_where(db, "DELETE FROM keys WHERE id = ?", id);
	return rc;
}

int store_keys_list(sqlite3 *db, const char *after, int limit,
		    int (*fn)(void *arg, const char *id), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT id FROM keys WHERE id > ? ORDER BY id LIMIT ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(arg, (const char *)sqlite3_column_text(st, 0)))
			break;
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(db, rc, "keys list");
	sqlite3_finalize(st);
	return rc;
}

int store_material_put(sqlite3 *db, const char *key_id, uint32_t version,
		       const uint8_t *wrapped, size_t len, long long created)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "INSERT INTO materials (key_id, version, wrapped, created) VALUES (?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_blob(st, 3, wrapped, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, created);
	return step_done(db, st);
}

int store_material_get(sqlite3 *db, const char *key_id, uint32_t version,
		       uint8_t *wrapped, size_t cap, size_t *len)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT wrapped FROM materials WHERE key_id = ? AND version = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		if (n > cap) {
			rc = -EINVAL;
		} else {
			memcpy(wrapped, sqlite3_column_blob(st, 0), n);
			*len = n;
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sq_err(db, rc, "material get");
	}
	sqlite3_finalize(st);
	return rc;
}

int store_alias_get(sqlite3 *db, const char *name, char key_id[40])
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT key_id FROM aliases WHERE name = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, key_id, 40);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = sq_err(db, rc, "alias get");
	}
	sqlite3_finalize(st);
	return rc;
}

int store_alias_put(sqlite3 *db, const char *name, const char *key_id, long long now,
		    enum alias_put how)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, how == ALIAS_REPOINT ? "UPDATE aliases SET key_id = ?2, updated = ?3 WHERE name = ?1"
			     : "INSERT INTO aliases (name, key_id, created, updated) VALUES (?1,?2,?3,?3)",
		  &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return sq_err(db, rc, "alias put");
	if (how == ALIAS_REPOINT && sqlite3_changes(db) == 0)
		return -ENOENT;
	return 0;
}

int store_alias_delete(sqlite3 *db, const char *name)
{
	int rc = delete_where(db, "DELETE FROM aliases WHERE name = ?", name);

	if (!rc && sqlite3_changes(db) == 0)
		return -ENOENT;
	return rc;
}

int store_aliases_list(sqlite3 *db, const char *key_id, const char *after, int limit,
		       int (*fn)(void *arg, const struct alias_row *a), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT name, key_id, created, updated FROM aliases"
		  " WHERE name > ?1 AND (?2 IS NULL OR key_id = ?2) ORDER BY name LIMIT ?3", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	if (key_id)
		sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct alias_row a = {
			(const char *)sqlite3_column_text(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
		};

		if (fn(arg, &a))
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(db, rc, "aliases list");
	sqlite3_finalize(st);
	return rc;
}

void kms_grant_free(struct kms_grant *g)
{
	free(g->operations);
	free(g->constraints);
	g->operations = g->constraints = NULL;
}

int store_grant_put(sqlite3 *db, const struct kms_grant *g)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "INSERT INTO grants (id, token, key_id, grantee, retiring, name, operations,"
		  " constraints, created, issuing) VALUES (?,?,?,?,?,?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, g->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, g->token, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, g->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, g->grantee, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, g->retiring, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, g->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, g->operations, -1, SQLITE_STATIC);
	if (g->constraints)
		sqlite3_bind_text(st, 8, g->constraints, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, g->created);
	sqlite3_bind_text(st, 10, g->issuing, -1, SQLITE_STATIC);
	return step_done(db, st);
}

static int grant_row(sqlite3_stmt *st, struct kms_grant *g)
{
	memset(g, 0, sizeof(*g));
	col_copy(st, 0, g->id, sizeof(g->id));
	col_copy(st, 1, g->token, sizeof(g->token));
	col_copy(st, 2, g->key_id, sizeof(g->key_id));
	col_copy(st, 3, g->grantee, sizeof(g->grantee));
	col_copy(st, 4, g->retiring, sizeof(g->retiring));
	col_copy(st, 5, g->name, sizeof(g->name));
	g->operations = col_dup(st, 6);
	g->constraints = col_dup(st, 7);
	g->created = sqlite3_column_int64(st, 8);
	col_copy(st, 9, g->issuing, sizeof(g->issuing));
	if (!g->operations) {
		kms_grant_free(g);
		return -ENOMEM;
	}
	return 0;
}

#define GRANT_COLS "id, token, key_id, grantee, retiring, name, operations, constraints, created, issuing"

int store_grant_get(sqlite3 *db, const char *id, const char *token, struct kms_grant *g)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, id ? "SELECT " GRANT_COLS " FROM grants WHERE id = ?"
			 : "SELECT " GRANT_COLS " FROM grants WHERE token = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id ? id : token, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = grant_row(st, g);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = sq_err(db, rc, "grant get");
	sqlite3_finalize(st);
	return rc;
}

int store_grant_delete(sqlite3 *db, const char *id)
{
	int rc = delete_where(db, "DELETE FROM grants WHERE id = ?", id);

	if (!rc && sqlite3_changes(db) == 0)
		return -ENOENT;
	return rc;
}

int store_grants_list(sqlite3 *db, const char *key_id, const char *grantee, const char *after,
		      int limit, int (*fn)(void *arg, const struct kms_grant *g), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT " GRANT_COLS " FROM grants WHERE key_id = ?1 AND id > ?2"
		  " AND (?3 IS NULL OR grantee = ?3) ORDER BY id LIMIT ?4", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
	if (grantee)
		sqlite3_bind_text(st, 3, grantee, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int(st, 4, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kms_grant g;
		int stop;

		if (grant_row(st, &g)) {
			rc = SQLITE_NOMEM;
			break;
		}
		stop = fn(arg, &g);
		kms_grant_free(&g);
		if (stop)
			break;
	}
	rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : sq_err(db, rc, "grants list");
	sqlite3_finalize(st);
	return rc;
}

int store_count_keys(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT (SELECT COUNT(*) FROM keys) + (SELECT COUNT(*) FROM materials)", &st);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : sq_err(db, rc, "count keys");
	sqlite3_finalize(st);
	return rc;
}

int store_materials_each(sqlite3 *db, int (*fn)(void *arg, const char *key_id, uint32_t version,
						const uint8_t *wrapped, size_t len), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "SELECT key_id, version, wrapped FROM materials ORDER BY key_id, version", &st);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = fn(arg, (const char *)sqlite3_column_text(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
			sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
		if (rc)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sq_err(db, rc, "materials");
	sqlite3_finalize(st);
	return rc;
}
