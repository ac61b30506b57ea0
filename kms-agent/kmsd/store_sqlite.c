// SPDX-License-Identifier: GPL-2.0
/*
 * The SQLite backend: kmsd.db in the state directory, WAL, one connection.
 * Requests take turns on it; each is a savepoint inside a transaction that
 * several consecutive requests share (group commit): the request that finds
 * nobody waiting behind it commits the group, with synchronous=FULL, and
 * only then does any request of the group reply. A reply therefore always
 * follows the fsync that made its change and its audit record durable, but
 * one fsync serves every request that queued up during the previous one.
 * A request that fails rolls back to its savepoint, so its own changes go
 * and its neighbours' stay. Schema versions: PRAGMA user_version.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store_backend.h"

/* Requests per group at most: bounds how long the first of them waits. */
#define SQ_GROUP_MAX 64
#define SQ_RING 256

struct sq_store {
	struct store base;
	sqlite3 *db;
	int durable;
	pthread_mutex_t turn;        /* held from begin to commit/rollback */
	pthread_cond_t committed;
	int waiting;                 /* threads blocked in begin (atomic) */
	int in_tx;                   /* the group's BEGIN is done */
	unsigned int members;        /* requests in the open group */
	unsigned long long group;    /* the open group's number */
	unsigned long long done;     /* the last group whose commit ended */
	struct {
		unsigned long long group;
		int rc;
	} result[SQ_RING];
};

static struct sq_store *SQ(struct store *s)
{
	return (struct sq_store *)s;
}

static sqlite3 *sq_db(struct store *s)
{
	return SQ(s)->db;
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

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_err(db, rc, sql);
}

/*
 * Versioned schema: migration N takes a database at user_version N-1 to N.
 * The first is the schema of the releases before versioning, written so
 * that it also applies cleanly to a database they created.
 */
static const char *const migrations[] = {
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
	"CREATE INDEX IF NOT EXISTS audit_time ON audit(time);",
	/*
	 * 2: the key policy document; a key stored before it has NULL there and
	 * its admin and user lists stand in. Applied by add_policy_column(),
	 * since a database an unversioned release created may have it already.
	 */
	NULL,
	/* 3: counts of requests that failed before they were authenticated. */
	"CREATE TABLE IF NOT EXISTS audit_unauthenticated ("
	" interval_start TEXT NOT NULL, source TEXT NOT NULL, count INTEGER NOT NULL,"
	" last_time TEXT NOT NULL, last_error TEXT NOT NULL,"
	" PRIMARY KEY (interval_start, source));",
};
#define SQ_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int add_policy_column(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc, found;

	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('keys') WHERE name = 'policy'",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(db, rc, "table info");
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found ? 0 : exec(db, "ALTER TABLE keys ADD COLUMN policy TEXT");
}

static int sq_migrate(sqlite3 *db)
{
	sqlite3_stmt *st;
	char sql[64];
	int version, rc;

	rc = exec(db, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		rc = sq_err(db, rc, "user_version");
		sqlite3_finalize(st);
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SQ_SCHEMA_VERSION) {
		ebs_err("the database has schema version %d; this ebscrypt-kmsd knows up to %d",
			version, SQ_SCHEMA_VERSION);
		rc = -EPROTO;
		goto fail;
	}
	for (; version < SQ_SCHEMA_VERSION; version++) {
		rc = migrations[version] ? exec(db, migrations[version]) : add_policy_column(db);
		if (rc)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		rc = exec(db, sql);
		if (rc)
			goto fail;
		ebs_info("database schema migrated to version %d", version + 1);
	}
	return exec(db, "COMMIT");
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Ends this request's part of the group (its savepoint already released or
 * rolled back, or none taken when rc_in < 0), then waits until the group's
 * commit ended; returns its outcome, or rc_in when that already failed.
 * Called holding turn; returns without it.
 */
static int sq_finish(struct sq_store *q, int rc_in)
{
	unsigned long long mine = q->group;
	int rc;

	q->members++;
	if (!q->in_tx || __atomic_load_n(&q->waiting, __ATOMIC_ACQUIRE) == 0 ||
	    q->members >= SQ_GROUP_MAX) {
		rc = 0;
		if (q->in_tx) {
			rc = exec(q->db, "COMMIT");
			if (rc)
				sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		}
		q->result[mine % SQ_RING].group = mine;
		q->result[mine % SQ_RING].rc = rc;
		q->done = mine;
		q->group++;
		q->members = 0;
		q->in_tx = 0;
		pthread_cond_broadcast(&q->committed);
	}
	while (q->done < mine)
		pthread_cond_wait(&q->committed, &q->turn);
	/* Overwritten by a much later group: say failed, never wrongly succeeded. */
	rc = q->result[mine % SQ_RING].group == mine ? q->result[mine % SQ_RING].rc : -EIO;
	pthread_mutex_unlock(&q->turn);
	return rc_in ? rc_in : rc;
}

static int sq_begin(struct store *s)
{
	struct sq_store *q = SQ(s);
	int rc;

	__atomic_add_fetch(&q->waiting, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&q->turn);
	__atomic_sub_fetch(&q->waiting, 1, __ATOMIC_ACQ_REL);
	if (!q->in_tx) {
		rc = exec(q->db, "BEGIN IMMEDIATE");
		if (rc)
			return sq_finish(q, rc);
		q->in_tx = 1;
	}
	rc = exec(q->db, "SAVEPOINT request");
	if (rc)
		return sq_finish(q, rc);
	return 0;
}

static int sq_undo(struct store *s)
{
	return exec(SQ(s)->db, "ROLLBACK TO request");
}

static int sq_commit(struct store *s)
{
	struct sq_store *q = SQ(s);
	int rc = exec(q->db, "RELEASE request");

	if (rc) {
		sqlite3_exec(q->db, "ROLLBACK TO request", NULL, NULL, NULL);
		sqlite3_exec(q->db, "RELEASE request", NULL, NULL, NULL);
	}
	return sq_finish(q, rc);
}

static void sq_rollback(struct store *s)
{
	struct sq_store *q = SQ(s);

	sqlite3_exec(q->db, "ROLLBACK TO request", NULL, NULL, NULL);
	sqlite3_exec(q->db, "RELEASE request", NULL, NULL, NULL);
	sq_finish(q, -ECANCELED);
}

/* One connection, taking turns: nothing to race with inside one process. */
static int sq_conflict(struct store *s)
{
	return 0;
}

static void sq_close(struct store *s)
{
	struct sq_store *q = SQ(s);

	sqlite3_close(q->db);
	pthread_cond_destroy(&q->committed);
	pthread_mutex_destroy(&q->turn);
	free(q);
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

static int sq_key_get(struct store *s, const char *id, struct kms_key *k)
{
	sqlite3 *db = sq_db(s);
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

static int sq_key_put(struct store *s, const struct kms_key *k)
{
	sqlite3 *db = sq_db(s);
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

static int sq_key_purge(struct store *s, const char *id)
{
	sqlite3 *db = sq_db(s);
	int rc = delete_where(db, "DELETE FROM materials WHERE key_id = ?", id);

	if (!rc)
		rc = delete_where(db, "DELETE FROM aliases WHERE key_id = ?", id);
	if (!rc)
		rc = delete_where(db, "DELETE FROM grants WHERE key_id = ?", id);
	if (!rc)
		rc = delete_where(db, "DELETE FROM keys WHERE id = ?", id);
	return rc;
}

static int sq_keys_list(struct store *s, const char *after, int limit,
		    int (*fn)(void *arg, const char *id), void *arg)
{
	sqlite3 *db = sq_db(s);
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

static int sq_material_put(struct store *s, const char *key_id, uint32_t version,
		       const uint8_t *wrapped, size_t len, long long created)
{
	sqlite3 *db = sq_db(s);
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

static int sq_material_get(struct store *s, const char *key_id, uint32_t version,
		       uint8_t *wrapped, size_t cap, size_t *len)
{
	sqlite3 *db = sq_db(s);
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

static int sq_alias_get(struct store *s, const char *name, char key_id[40])
{
	sqlite3 *db = sq_db(s);
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

static int sq_alias_put(struct store *s, const char *name, const char *key_id, long long now,
		    enum alias_put how)
{
	sqlite3 *db = sq_db(s);
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

static int sq_alias_delete(struct store *s, const char *name)
{
	sqlite3 *db = sq_db(s);
	int rc = delete_where(db, "DELETE FROM aliases WHERE name = ?", name);

	if (!rc && sqlite3_changes(db) == 0)
		return -ENOENT;
	return rc;
}

static int sq_aliases_list(struct store *s, const char *key_id, const char *after, int limit,
		       int (*fn)(void *arg, const struct alias_row *a), void *arg)
{
	sqlite3 *db = sq_db(s);
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

static int sq_grant_put(struct store *s, const struct kms_grant *g)
{
	sqlite3 *db = sq_db(s);
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

static int sq_grant_get(struct store *s, const char *id, const char *token, struct kms_grant *g)
{
	sqlite3 *db = sq_db(s);
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

static int sq_grant_delete(struct store *s, const char *id)
{
	sqlite3 *db = sq_db(s);
	int rc = delete_where(db, "DELETE FROM grants WHERE id = ?", id);

	if (!rc && sqlite3_changes(db) == 0)
		return -ENOENT;
	return rc;
}

static int sq_grants_list(struct store *s, const char *key_id, const char *grantee, const char *after,
		      int limit, int (*fn)(void *arg, const struct kms_grant *g), void *arg)
{
	sqlite3 *db = sq_db(s);
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

static int sq_audit_put(struct store *s, const struct audit_row *a)
{
	sqlite3 *db = sq_db(s);
	sqlite3_stmt *st;
	int rc;

	rc = prep(db, "INSERT INTO audit (time, request_id, principal, access_key_id, source,"
		  " operation, key_id, encryption_context, outcome, error_type, http_status)"
		  " VALUES (?,?,?,?,?,?,?,?,?,?,?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->access_key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->operation, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, a->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, a->encryption_context, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, a->outcome, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, a->error_type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, a->http_status);
	rc = step_done(db, st);
	return rc;
}

/* Runs sql with text parameters; the first column of a row it returns, else 0. */
static int sq_run(sqlite3 *db, const char *sql, int n, const char *const *vals)
{
	sqlite3_stmt *st;
	int rc, i;

	rc = prep(db, sql, &st);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = sq_err(db, rc, "audit counts");
	sqlite3_finalize(st);
	return rc;
}

static int sq_audit_unauth_put(struct store *s, const struct audit_unauth *u)
{
	const char *vals[] = { u->interval, u->source, u->time, u->error_type };
	sqlite3 *db = sq_db(s);
	int rc;

	rc = sq_run(db, "UPDATE audit_unauthenticated SET count = count + 1, last_time = ?3,"
		    " last_error = ?4 WHERE interval_start = ?1 AND source = ?2", 4, vals);
	if (rc < 0)
		return rc;
	if (sqlite3_changes(db))
		return 0;
	rc = sq_run(db, "DELETE FROM audit_unauthenticated WHERE interval_start < ?1", 1,
		    &u->horizon);
	if (rc < 0)
		return rc;
	rc = sq_run(db, "SELECT COUNT(*) FROM audit_unauthenticated WHERE interval_start = ?1", 1,
		    vals);
	if (rc < 0)
		return rc;
	if (rc >= u->max_sources)
		vals[1] = "other";
	rc = sq_run(db, "INSERT INTO audit_unauthenticated (interval_start, source, count,"
		    " last_time, last_error) VALUES (?1, ?2, 1, ?3, ?4) ON CONFLICT"
		    " (interval_start, source) DO UPDATE SET count = count + 1,"
		    " last_time = excluded.last_time, last_error = excluded.last_error", 4, vals);
	return rc < 0 ? rc : 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? (const char *)v : "";
}

/*
 * Outside any transaction of the service's: in WAL mode one SELECT reads
 * one snapshot and does not block the writer, however long the export.
 */
static int sq_audit_each(struct store *s, const char *since, const char *key,
			 int (*fn)(void *arg, const struct audit_rec *r), void *arg)
{
	struct sq_store *q = SQ(s);
	sqlite3_stmt *st;
	int rc, stop = 0;

	pthread_mutex_lock(&q->turn);
	rc = prep(q->db, "SELECT 0, seq, time, request_id, principal, access_key_id, source,"
		  " operation, key_id, encryption_context, outcome, error_type, http_status, 1, time"
		  " FROM audit WHERE (?1 IS NULL OR time >= ?1)"
		  " AND (?2 IS NULL OR key_id = ?2 OR key_id LIKE '%/' || ?2)"
		  " UNION ALL SELECT 1, 0, interval_start, '-', '-', '-', source, '-', '-', '{}',"
		  " 'failure', last_error, 0, count, last_time FROM audit_unauthenticated"
		  " WHERE (?1 IS NULL OR interval_start >= ?1) AND ?2 IS NULL"
		  " ORDER BY 3, 2", &st);
	if (rc) {
		pthread_mutex_unlock(&q->turn);
		return rc;
	}
	if (since)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	if (key)
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_rec r = {
			.unauthenticated = sqlite3_column_int(st, 0),
			.seq = sqlite3_column_int64(st, 1),
			.time = col_text(st, 2),
			.request_id = col_text(st, 3),
			.principal = col_text(st, 4),
			.access_key_id = col_text(st, 5),
			.source = col_text(st, 6),
			.operation = col_text(st, 7),
			.key_id = col_text(st, 8),
			.encryption_context = col_text(st, 9),
			.outcome = col_text(st, 10),
			.error_type = col_text(st, 11),
			.http_status = sqlite3_column_int(st, 12),
			.count = sqlite3_column_int64(st, 13),
			.last_time = col_text(st, 14),
		};

		stop = fn(arg, &r);
	}
	if (!stop && rc != SQLITE_DONE)
		stop = sq_err(q->db, rc, "audit");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->turn);
	return stop;
}

static int sq_audit_prune(struct store *s, const char *before, long long *n)
{
	struct sq_store *q = SQ(s);
	int rc;

	pthread_mutex_lock(&q->turn);
	rc = exec(q->db, "BEGIN IMMEDIATE");
	if (!rc) {
		rc = sq_run(q->db, "DELETE FROM audit WHERE time < ?1", 1, &before);
		*n += sqlite3_changes(q->db);
		if (!rc)
			rc = sq_run(q->db, "DELETE FROM audit_unauthenticated WHERE interval_start < ?1",
				    1, &before);
		*n += sqlite3_changes(q->db);
		if (!rc)
			rc = exec(q->db, "COMMIT");
		if (rc)
			sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	}
	/* Give the space back to the file system; if kmsd is busy, SQLite reuses it later. */
	if (!rc && sqlite3_exec(q->db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
		ebs_warn("pruned, but cannot compact the database now: %s", sqlite3_errmsg(q->db));
	pthread_mutex_unlock(&q->turn);
	if (rc)
		*n = 0;
	return rc;
}

static int sq_count_keys(struct store *s)
{
	return sq_run(sq_db(s), "SELECT (SELECT COUNT(*) FROM keys) + (SELECT COUNT(*) FROM materials)",
		      0, NULL);
}

static int sq_materials_each(struct store *s, int (*fn)(void *arg, const char *key_id,
							 uint32_t version, const uint8_t *wrapped,
							 size_t len), void *arg)
{
	sqlite3 *db = sq_db(s);
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

static const struct store_ops sq_ops = {
	.kind = "sqlite",
	.begin = sq_begin,
	.undo = sq_undo,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.conflict = sq_conflict,
	.close = sq_close,
	.key_get = sq_key_get,
	.key_put = sq_key_put,
	.key_purge = sq_key_purge,
	.keys_list = sq_keys_list,
	.material_put = sq_material_put,
	.material_get = sq_material_get,
	.alias_get = sq_alias_get,
	.alias_put = sq_alias_put,
	.alias_delete = sq_alias_delete,
	.aliases_list = sq_aliases_list,
	.grant_put = sq_grant_put,
	.grant_get = sq_grant_get,
	.grant_delete = sq_grant_delete,
	.grants_list = sq_grants_list,
	.audit_put = sq_audit_put,
	.audit_unauth_put = sq_audit_unauth_put,
	.audit_each = sq_audit_each,
	.audit_prune = sq_audit_prune,
	.count_keys = sq_count_keys,
	.materials_each = sq_materials_each,
};

int store_open_sqlite(const char *path, int durable, struct store **out)
{
	struct sq_store *q;
	int rc;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->base.ops = &sq_ops;
	q->durable = durable;
	q->group = 1;
	pthread_mutex_init(&q->turn, NULL);
	pthread_cond_init(&q->committed, NULL);
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_err(q->db, rc, "open");
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 5000);
	rc = exec(q->db, durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		  "PRAGMA foreign_keys=ON;" : "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
		  "PRAGMA foreign_keys=ON;");
	if (!rc)
		rc = sq_migrate(q->db);
	if (rc)
		goto fail;
	if (!durable)
		ebs_warn("durable = off: acknowledged requests and their audit records can be lost");
	*out = &q->base;
	return 0;
fail:
	sq_close(&q->base);
	return rc;
}

/*
 * sqlite3's online backup API: the copy is the database as one read
 * transaction saw it, taken while the service goes on writing (WAL readers
 * do not block the writer). The copy is written to a new file next to
 * dest, flushed, then renamed into place, so dest is whole or absent.
 */
int store_backup_sqlite(const char *src, const char *dest)
{
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	char tmp[4096];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (access(dest, F_OK) == 0) {
		ebs_err("%s exists: not overwriting it", dest);
		return -EEXIST;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		ebs_err("cannot create %s: %s", tmp, strerror(errno));
		return rc;
	}
	close(fd);
	rc = sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		ebs_err("cannot open %s: %s", src, sqlite3_errmsg(from));
		rc = -ENOENT;
		goto out;
	}
	sqlite3_busy_timeout(from, 5000);
	rc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_err(to, rc, "open the copy");
		goto out;
	}
	b = sqlite3_backup_init(to, "main", from, "main");
	if (!b) {
		rc = sq_err(to, SQLITE_ERROR, "backup");
		goto out;
	}
	/* All pages in one step: one snapshot, however busy the service is. */
	do {
		rc = sqlite3_backup_step(b, -1);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(50);
	} while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		rc = sq_err(to, rc, "backup");
		goto out;
	}
	/* A plain rollback-journal file: a copy that stands alone. */
	rc = exec(to, "PRAGMA journal_mode=DELETE");
	if (!rc)
		rc = sqlite3_close(to) == SQLITE_OK ? 0 : -EIO;
	to = NULL;
	if (!rc) {
		fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd))
			rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (!rc && rename(tmp, dest))
		rc = -errno;
	if (rc)
		ebs_err("cannot write %s: %s", dest, strerror(-rc));
out:
	sqlite3_close(to);
	sqlite3_close(from);
	if (rc)
		unlink(tmp);
	return rc;
}
