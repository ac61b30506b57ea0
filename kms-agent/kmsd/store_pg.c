// SPDX-License-Identifier: GPL-2.0
/*
 * The PostgreSQL backend (libpq): several ebscrypt-kmsd instances share one
 * database. Each instance keeps a pool of connections, one per HTTP thread,
 * so its requests run in parallel; a request holds one connection from
 * store_begin() to its commit (the connection is the calling thread's in
 * between).
 *
 * Every request is one SERIALIZABLE transaction: PostgreSQL then guarantees
 * that concurrent requests, from this instance or another, have the effect
 * of some serial order, or one of them fails with a serialization failure
 * (SQLSTATE 40001, or deadlock 40P01). Such a request left nothing behind;
 * store_conflict() says so and the router runs it again. Two rotations of
 * one key, a grant created while its key is being disabled, two aliases
 * created with the same name: each of these is one of the serial outcomes,
 * never a mix. No explicit locks are taken; the database's predicate locks
 * do that work. Durability is PostgreSQL's: a reply follows COMMIT, which
 * returns once the WAL record is flushed (synchronous_commit = on, and
 * PostgreSQL groups the flushes of concurrent commits by itself). The
 * schema is versioned in the table schema_version, migrated under an
 * advisory lock so instances starting together migrate once.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "store_backend.h"

struct pg_conn {
	PGconn *c;
	int busy;
};

struct pg_store {
	struct store base;
	char *conninfo;
	int durable;
	unsigned int n;
	struct pg_conn *conns;
	pthread_mutex_t lock;
	pthread_cond_t freed;
};

/* The connection this thread's transaction runs on, and how it last ended. */
static __thread struct pg_conn *cur;
static __thread int last_conflict;

static struct pg_store *PG(struct store *s)
{
	return (struct pg_store *)s;
}

/* Runs one statement on c; -EAGAIN (and the conflict flag) for a lost race. */
static int pq_run_on(PGconn *c, const char *sql, int n, const char *const *vals,
		     const int *lens, const int *fmts, PGresult **out)
{
	/* Without parameters, the simple protocol: a migration is several statements. */
	PGresult *r = n ? PQexecParams(c, sql, n, NULL, vals, lens, fmts, 0) : PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	const char *state;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = r;
		else
			PQclear(r);
		return 0;
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))) {
		last_conflict = 1;
		PQclear(r);
		return -EAGAIN;
	}
	ebs_err("postgresql: %s", PQerrorMessage(c));
	PQclear(r);
	return -EIO;
}

static int pq_run(const char *sql, int n, const char *const *vals, PGresult **out)
{
	if (!cur)
		return -EINVAL;
	return pq_run_on(cur->c, sql, n, vals, NULL, NULL, out);
}

static const char *const migrations[] = {
	"CREATE TABLE keys ("
	" id TEXT COLLATE \"C\" PRIMARY KEY, owner TEXT NOT NULL, description TEXT NOT NULL,"
	" state TEXT NOT NULL, created BIGINT NOT NULL, deletion_date BIGINT NOT NULL,"
	" pending_days INTEGER NOT NULL, rotation_enabled INTEGER NOT NULL,"
	" rotation_period INTEGER NOT NULL, last_rotation BIGINT NOT NULL,"
	" on_demand_rotation BIGINT NOT NULL, managed INTEGER NOT NULL,"
	" current_version BIGINT NOT NULL, policy_admins TEXT NOT NULL,"
	" policy_users TEXT NOT NULL);"
	"CREATE TABLE materials ("
	" key_id TEXT COLLATE \"C\" NOT NULL, version BIGINT NOT NULL, wrapped BYTEA NOT NULL,"
	" created BIGINT NOT NULL, PRIMARY KEY (key_id, version));"
	"CREATE TABLE aliases ("
	" name TEXT COLLATE \"C\" PRIMARY KEY, key_id TEXT COLLATE \"C\" NOT NULL,"
	" created BIGINT NOT NULL, updated BIGINT NOT NULL);"
	"CREATE INDEX aliases_key ON aliases(key_id);"
	"CREATE TABLE grants ("
	" id TEXT COLLATE \"C\" PRIMARY KEY, token TEXT NOT NULL UNIQUE,"
	" key_id TEXT COLLATE \"C\" NOT NULL, grantee TEXT NOT NULL, retiring TEXT NOT NULL,"
	" name TEXT NOT NULL, operations TEXT NOT NULL, constraints TEXT,"
	" created BIGINT NOT NULL, issuing TEXT NOT NULL);"
	"CREATE INDEX grants_key ON grants(key_id);"
	"CREATE TABLE audit ("
	" seq BIGSERIAL PRIMARY KEY, time TEXT NOT NULL,"
	" request_id TEXT NOT NULL, principal TEXT NOT NULL, access_key_id TEXT NOT NULL,"
	" source TEXT NOT NULL, operation TEXT NOT NULL, key_id TEXT NOT NULL,"
	" encryption_context TEXT NOT NULL, outcome TEXT NOT NULL,"
	" error_type TEXT NOT NULL, http_status INTEGER NOT NULL);"
	"CREATE INDEX audit_time ON audit(time);",
	/* 2: the key policy document; NULL for a key stored before it (its lists stand in). */
	"ALTER TABLE keys ADD COLUMN policy TEXT;",
	/* 3: counts of requests that failed before they were authenticated. */
	"CREATE TABLE audit_unauthenticated ("
	" interval_start TEXT COLLATE \"C\" NOT NULL, source TEXT NOT NULL,"
	" count BIGINT NOT NULL, last_time TEXT NOT NULL, last_error TEXT NOT NULL,"
	" PRIMARY KEY (interval_start, source));",
};
#define PG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))
/* "ebsc": the advisory lock the instances migrate under. */
#define PG_MIGRATE_LOCK "1700951395"

static int pg_migrate(PGconn *c)
{
	PGresult *r = NULL;
	char v[16];
	const char *vals[1] = { v };
	int version, rc;

	rc = pq_run_on(c, "BEGIN", 0, NULL, NULL, NULL, NULL);
	if (!rc)
		rc = pq_run_on(c, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")", 0, NULL,
			       NULL, NULL, NULL);
	if (!rc)
		rc = pq_run_on(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
			       0, NULL, NULL, NULL, NULL);
	if (!rc)
		rc = pq_run_on(c, "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL,
			       NULL, NULL, &r);
	if (rc)
		goto fail;
	version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (version > PG_SCHEMA_VERSION) {
		ebs_err("the database has schema version %d; this ebscrypt-kmsd knows up to %d",
			version, PG_SCHEMA_VERSION);
		rc = -EPROTO;
		goto fail;
	}
	for (; version < PG_SCHEMA_VERSION; version++) {
		rc = pq_run_on(c, migrations[version], 0, NULL, NULL, NULL, NULL);
		snprintf(v, sizeof(v), "%d", version + 1);
		if (!rc)
			rc = pq_run_on(c, "DELETE FROM schema_version", 0, NULL, NULL, NULL, NULL);
		if (!rc)
			rc = pq_run_on(c, "INSERT INTO schema_version (version) VALUES ($1)", 1, vals,
				       NULL, NULL, NULL);
		if (rc)
			goto fail;
		ebs_info("database schema migrated to version %d", version + 1);
	}
	return pq_run_on(c, "COMMIT", 0, NULL, NULL, NULL, NULL);
fail:
	PQclear(PQexec(c, "ROLLBACK"));
	return rc;
}

static int pg_connect(struct pg_store *p, struct pg_conn *pc)
{
	/* The conninfo comes last: what it says wins over these defaults. */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "5", "ebscrypt-kmsd", p->conninfo, NULL };
	int rc;

	if (pc->c && PQstatus(pc->c) == CONNECTION_OK)
		return 0;
	PQfinish(pc->c);
	pc->c = PQconnectdbParams(keys, vals, 1);
	if (!pc->c)
		return -ENOMEM;
	if (PQstatus(pc->c) != CONNECTION_OK) {
		ebs_err("postgresql: cannot connect: %s", PQerrorMessage(pc->c));
		PQfinish(pc->c);
		pc->c = NULL;
		return -ECONNREFUSED;
	}
	/* A stuck database fails requests (500, so clients go elsewhere) instead of hanging them. */
	rc = pq_run_on(pc->c, "SET statement_timeout = '15s'", 0, NULL, NULL, NULL, NULL);
	if (!rc && !p->durable)
		rc = pq_run_on(pc->c, "SET synchronous_commit = off", 0, NULL, NULL, NULL, NULL);
	if (rc) {
		PQfinish(pc->c);
		pc->c = NULL;
	}
	return rc;
}

static void pg_release(struct pg_store *p)
{
	pthread_mutex_lock(&p->lock);
	cur->busy = 0;
	/* A broken connection is dropped; the next user connects again. */
	if (PQstatus(cur->c) != CONNECTION_OK || PQtransactionStatus(cur->c) != PQTRANS_IDLE) {
		PQfinish(cur->c);
		cur->c = NULL;
	}
	cur = NULL;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

static int pg_begin(struct store *s)
{
	struct pg_store *p = PG(s);
	unsigned int i;
	int rc;

	last_conflict = 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (i = 0; i < p->n && p->conns[i].busy; i++)
			;
		if (i < p->n)
			break;
		pthread_cond_wait(&p->freed, &p->lock);
	}
	p->conns[i].busy = 1;
	cur = &p->conns[i];
	pthread_mutex_unlock(&p->lock);
	rc = pg_connect(p, cur);
	if (!rc)
		rc = pq_run("BEGIN ISOLATION LEVEL SERIALIZABLE", 0, NULL, NULL);
	if (rc && cur->c && PQstatus(cur->c) != CONNECTION_OK) {
		/* An idle connection the server dropped (it restarted): once more, anew. */
		rc = pg_connect(p, cur);
		if (!rc)
			rc = pq_run("BEGIN ISOLATION LEVEL SERIALIZABLE", 0, NULL, NULL);
	}
	if (!rc)
		rc = pq_run("SAVEPOINT request", 0, NULL, NULL);
	if (rc) {
		if (cur->c)
			PQclear(PQexec(cur->c, "ROLLBACK"));
		pg_release(p);
	}
	return rc;
}

static int pg_undo(struct store *s)
{
	return pq_run("ROLLBACK TO SAVEPOINT request", 0, NULL, NULL);
}

static int pg_commit(struct store *s)
{
	int rc = pq_run("COMMIT", 0, NULL, NULL);

	if (rc && cur->c)
		PQclear(PQexec(cur->c, "ROLLBACK"));
	pg_release(PG(s));
	return rc;
}

static void pg_rollback(struct store *s)
{
	if (!cur)
		return;
	if (cur->c)
		PQclear(PQexec(cur->c, "ROLLBACK"));
	pg_release(PG(s));
}

static int pg_conflict(struct store *s)
{
	return last_conflict;
}

static void pg_close(struct store *s)
{
	struct pg_store *p = PG(s);
	unsigned int i;

	for (i = 0; i < p->n; i++)
		PQfinish(p->conns[i].c);
	free(p->conns);
	free(p->conninfo);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void val_copy(PGresult *r, int row, int col, char *dst, size_t cap)
{
	snprintf(dst, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static char *val_dup(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static long long val_ll(PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

#define KEY_COLS "id, owner, description, state, created, deletion_date, pending_days," \
	" rotation_enabled, rotation_period, last_rotation, on_demand_rotation, managed," \
	" current_version, policy_admins, policy_users, policy"

static int pg_key_get(struct store *s, const char *id, struct kms_key *k)
{
	const char *vals[] = { id };
	PGresult *r;
	int rc;

	memset(k, 0, sizeof(*k));
	rc = pq_run("SELECT " KEY_COLS " FROM keys WHERE id = $1", 1, vals, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	val_copy(r, 0, 0, k->id, sizeof(k->id));
	val_copy(r, 0, 1, k->owner, sizeof(k->owner));
	k->description = val_dup(r, 0, 2);
	val_copy(r, 0, 3, k->state, sizeof(k->state));
	k->created = val_ll(r, 0, 4);
	k->deletion_date = val_ll(r, 0, 5);
	k->pending_days = (int)val_ll(r, 0, 6);
	k->rotation_enabled = (int)val_ll(r, 0, 7);
	k->rotation_period = (int)val_ll(r, 0, 8);
	k->last_rotation = val_ll(r, 0, 9);
	k->on_demand_rotation = val_ll(r, 0, 10);
	k->managed = (int)val_ll(r, 0, 11);
	k->current_version = (uint32_t)val_ll(r, 0, 12);
	k->policy_admins = val_dup(r, 0, 13);
	k->policy_users = val_dup(r, 0, 14);
	k->policy = val_dup(r, 0, 15);
	rc = !k->policy && !PQgetisnull(r, 0, 15);
	PQclear(r);
	if (!k->description || !k->policy_admins || !k->policy_users || rc) {
		kms_key_free(k);
		return -ENOMEM;
	}
	return 0;
}

static int pg_key_put(struct store *s, const struct kms_key *k)
{
	char n[8][24];
	const char *vals[16];

	snprintf(n[0], sizeof(n[0]), "%lld", k->created);
	snprintf(n[1], sizeof(n[1]), "%lld", k->deletion_date);
	snprintf(n[2], sizeof(n[2]), "%d", k->pending_days);
	snprintf(n[3], sizeof(n[3]), "%d", k->rotation_enabled);
	snprintf(n[4], sizeof(n[4]), "%d", k->rotation_period);
	snprintf(n[5], sizeof(n[5]), "%lld", k->last_rotation);
	snprintf(n[6], sizeof(n[6]), "%lld", k->on_demand_rotation);
	snprintf(n[7], sizeof(n[7]), "%d|%" PRIu32, k->managed, k->current_version);
	vals[0] = k->id;
	vals[1] = k->owner;
	vals[2] = k->description ? k->description : "";
	vals[3] = k->state;
	vals[4] = n[0];
	vals[5] = n[1];
	vals[6] = n[2];
	vals[7] = n[3];
	vals[8] = n[4];
	vals[9] = n[5];
	vals[10] = n[6];
	*strchr(n[7], '|') = '\0';
	vals[11] = n[7];
	vals[12] = n[7] + strlen(n[7]) + 1;
	vals[13] = k->policy_admins ? k->policy_admins : "[]";
	vals[14] = k->policy_users ? k->policy_users : "[]";
	vals[15] = k->policy;   /* NULL stays NULL */
	return pq_run("INSERT INTO keys (" KEY_COLS ") VALUES"
		      " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
		      " ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner,"
		      " description = EXCLUDED.description, state = EXCLUDED.state,"
		      " created = EXCLUDED.created, deletion_date = EXCLUDED.deletion_date,"
		      " pending_days = EXCLUDED.pending_days,"
		      " rotation_enabled = EXCLUDED.rotation_enabled,"
		      " rotation_period = EXCLUDED.rotation_period,"
		      " last_rotation = EXCLUDED.last_rotation,"
		      " on_demand_rotation = EXCLUDED.on_demand_rotation,"
		      " managed = EXCLUDED.managed, current_version = EXCLUDED.current_version,"
		      " policy_admins = EXCLUDED.policy_admins, policy_users = EXCLUDED.policy_users,"
		      " policy = EXCLUDED.policy",
		      16, vals, NULL);
}

/* The number of rows a statement changed. */
static int pq_changed(const char *sql, int n, const char *const *vals, long *changed)
{
	PGresult *r;
	int rc = pq_run(sql, n, vals, &r);

	if (rc)
		return rc;
	*changed = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

static int pg_key_purge(struct store *s, const char *id)
{
	static const char *const sql[] = {
		"DELETE FROM materials WHERE key_id = $1",
		"DELETE FROM aliases WHERE key_id = $1",
		"DELETE FROM grants WHERE key_id = $1",
		"DELETE FROM keys WHERE id = $1",
	};
	const char *vals[] = { id };
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < sizeof(sql) / sizeof(sql[0]); i++)
		rc = pq_run(sql[i], 1, vals, NULL);
	return rc;
}

static int pg_keys_list(struct store *s, const char *after, int limit,
			int (*fn)(void *arg, const char *id), void *arg)
{
	char lim[16];
	const char *vals[] = { after ? after : "", lim };
	PGresult *r;
	int rc, i;

	snprintf(lim, sizeof(lim), "%d", limit);
	rc = pq_run("SELECT id FROM keys WHERE id > $1 ORDER BY id LIMIT $2", 2, vals, &r);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(r); i++)
		if (fn(arg, PQgetvalue(r, i, 0)))
			break;
	PQclear(r);
	return 0;
}

static int pg_material_put(struct store *s, const char *key_id, uint32_t version,
			   const uint8_t *wrapped, size_t len, long long created)
{
	char v[16], c[24];
	const char *vals[] = { key_id, v, (const char *)wrapped, c };
	const int lens[] = { 0, 0, (int)len, 0 };
	const int fmts[] = { 0, 0, 1, 0 };
	PGresult *r;
	long changed;
	int rc;

	if (!cur)
		return -EINVAL;
	snprintf(v, sizeof(v), "%" PRIu32, version);
	snprintf(c, sizeof(c), "%lld", created);
	rc = pq_run_on(cur->c, "INSERT INTO materials (key_id, version, wrapped, created)"
		       " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", 4, vals, lens, fmts, &r);
	if (rc)
		return rc;
	changed = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (changed == 0) {
		/* Another instance made this version first: run the request again. */
		last_conflict = 1;
		return -EAGAIN;
	}
	return 0;
}

static int pg_material_get(struct store *s, const char *key_id, uint32_t version,
			   uint8_t *wrapped, size_t cap, size_t *len)
{
	char v[16];
	const char *vals[] = { key_id, v };
	unsigned char *raw;
	size_t n;
	PGresult *r;
	int rc;

	snprintf(v, sizeof(v), "%" PRIu32, version);
	rc = pq_run("SELECT wrapped FROM materials WHERE key_id = $1 AND version = $2", 2, vals, &r);
	if (rc)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &n);
	PQclear(r);
	if (!raw)
		return -ENOMEM;
	rc = n > cap ? -EINVAL : 0;
	if (!rc) {
		memcpy(wrapped, raw, n);
		*len = n;
	}
	PQfreemem(raw);
	return rc;
}

static int pg_alias_get(struct store *s, const char *name, char key_id[40])
{
	const char *vals[] = { name };
	PGresult *r;
	int rc;

	rc = pq_run("SELECT key_id FROM aliases WHERE name = $1", 1, vals, &r);
	if (rc)
		return rc;
	rc = PQntuples(r) ? 0 : -ENOENT;
	if (!rc)
		val_copy(r, 0, 0, key_id, 40);
	PQclear(r);
	return rc;
}

static int pg_alias_put(struct store *s, const char *name, const char *key_id, long long now,
			enum alias_put how)
{
	char t[24];
	const char *vals[] = { name, key_id, t };
	long changed;
	int rc;

	snprintf(t, sizeof(t), "%lld", now);
	/* ON CONFLICT DO NOTHING: a duplicate is an answer, not an aborted transaction. */
	rc = pq_changed(how == ALIAS_REPOINT ?
			"UPDATE aliases SET key_id = $2, updated = $3 WHERE name = $1" :
			"INSERT INTO aliases (name, key_id, created, updated) VALUES ($1, $2, $3, $3)"
			" ON CONFLICT DO NOTHING", 3, vals, &changed);
	if (rc)
		return rc;
	if (changed == 0)
		return how == ALIAS_REPOINT ? -ENOENT : -EEXIST;
	return 0;
}

static int pg_alias_delete(struct store *s, const char *name)
{
	const char *vals[] = { name };
	long changed;
	int rc = pq_changed("DELETE FROM aliases WHERE name = $1", 1, vals, &changed);

	return rc ? rc : changed ? 0 : -ENOENT;
}

static int pg_aliases_list(struct store *s, const char *key_id, const char *after, int limit,
			   int (*fn)(void *arg, const struct alias_row *a), void *arg)
{
	char lim[16];
	const char *vals[] = { after ? after : "", key_id, lim };
	PGresult *r;
	int rc, i;

	snprintf(lim, sizeof(lim), "%d", limit);
	rc = pq_run("SELECT name, key_id, created, updated FROM aliases"
		    " WHERE name > $1 AND ($2::text IS NULL OR key_id = $2) ORDER BY name LIMIT $3",
		    3, vals, &r);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(r); i++) {
		struct alias_row a = {
			PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), val_ll(r, i, 2), val_ll(r, i, 3),
		};

		if (fn(arg, &a))
			break;
	}
	PQclear(r);
	return 0;
}

#define GRANT_COLS "id, token, key_id, grantee, retiring, name, operations, constraints, created, issuing"

static int pg_grant_put(struct store *s, const struct kms_grant *g)
{
	char t[24];
	const char *vals[] = {
		g->id, g->token, g->key_id, g->grantee, g->retiring, g->name, g->operations,
		g->constraints, t, g->issuing,
	};

	snprintf(t, sizeof(t), "%lld", g->created);
	return pq_run("INSERT INTO grants (" GRANT_COLS ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
		      10, vals, NULL);
}

static int grant_row(PGresult *r, int i, struct kms_grant *g)
{
	memset(g, 0, sizeof(*g));
	val_copy(r, i, 0, g->id, sizeof(g->id));
	val_copy(r, i, 1, g->token, sizeof(g->token));
	val_copy(r, i, 2, g->key_id, sizeof(g->key_id));
	val_copy(r, i, 3, g->grantee, sizeof(g->grantee));
	val_copy(r, i, 4, g->retiring, sizeof(g->retiring));
	val_copy(r, i, 5, g->name, sizeof(g->name));
	g->operations = val_dup(r, i, 6);
	g->constraints = val_dup(r, i, 7);
	g->created = val_ll(r, i, 8);
	val_copy(r, i, 9, g->issuing, sizeof(g->issuing));
	if (!g->operations || (!PQgetisnull(r, i, 7) && !g->constraints)) {
		kms_grant_free(g);
		return -ENOMEM;
	}
	return 0;
}

static int pg_grant_get(struct store *s, const char *id, const char *token, struct kms_grant *g)
{
	const char *vals[] = { id ? id : token };
	PGresult *r;
	int rc;

	rc = pq_run(id ? "SELECT " GRANT_COLS " FROM grants WHERE id = $1"
		       : "SELECT " GRANT_COLS " FROM grants WHERE token = $1", 1, vals, &r);
	if (rc)
		return rc;
	rc = PQntuples(r) ? grant_row(r, 0, g) : -ENOENT;
	PQclear(r);
	return rc;
}

static int pg_grant_delete(struct store *s, const char *id)
{
	const char *vals[] = { id };
	long changed;
	int rc = pq_changed("DELETE FROM grants WHERE id = $1", 1, vals, &changed);

	return rc ? rc : changed ? 0 : -ENOENT;
}

static int pg_grants_list(struct store *s, const char *key_id, const char *grantee,
			  const char *after, int limit,
			  int (*fn)(void *arg, const struct kms_grant *g), void *arg)
{
	char lim[16];
	const char *vals[] = { key_id, after ? after : "", grantee, lim };
	PGresult *r;
	int rc, i;

	snprintf(lim, sizeof(lim), "%d", limit);
	rc = pq_run("SELECT " GRANT_COLS " FROM grants WHERE key_id = $1 AND id > $2"
		    " AND ($3::text IS NULL OR grantee = $3) ORDER BY id LIMIT $4", 4, vals, &r);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(r); i++) {
		struct kms_grant g;
		int stop;

		rc = grant_row(r, i, &g);
		if (rc)
			break;
		stop = fn(arg, &g);
		kms_grant_free(&g);
		if (stop)
			break;
	}
	PQclear(r);
	return rc;
}

static int pg_audit_put(struct store *s, const struct audit_row *a)
{
	char st[16];
	const char *vals[] = {
		a->time, a->request_id, a->principal, a->access_key_id, a->source, a->operation,
		a->key_id, a->encryption_context, a->outcome, a->error_type, st,
	};

	snprintf(st, sizeof(st), "%d", a->http_status);
	return pq_run("INSERT INTO audit (time, request_id, principal, access_key_id, source,"
		      " operation, key_id, encryption_context, outcome, error_type, http_status)"
		      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)", 11, vals, NULL);
}

static int pg_audit_unauth_put(struct store *s, const struct audit_unauth *u)
{
	const char *vals[] = { u->interval, u->source, u->time, u->error_type };
	PGresult *r;
	long changed;
	int rc, n;

	rc = pq_changed("UPDATE audit_unauthenticated SET count = count + 1, last_time = $3,"
			" last_error = $4 WHERE interval_start = $1 AND source = $2", 4, vals,
			&changed);
	if (rc || changed)
		return rc;
	rc = pq_run("DELETE FROM audit_unauthenticated WHERE interval_start < $1", 1, &u->horizon,
		    NULL);
	if (!rc)
		rc = pq_run("SELECT COUNT(*) FROM audit_unauthenticated WHERE interval_start = $1", 1,
			    vals, &r);
	if (rc)
		return rc;
	n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (n >= u->max_sources)
		vals[1] = "other";
	return pq_run("INSERT INTO audit_unauthenticated (interval_start, source, count, last_time,"
		      " last_error) VALUES ($1, $2, 1, $3, $4) ON CONFLICT (interval_start, source)"
		      " DO UPDATE SET count = audit_unauthenticated.count + 1,"
		      " last_time = EXCLUDED.last_time, last_error = EXCLUDED.last_error",
		      4, vals, NULL);
}

/*
 * Row by row (libpq's single-row mode), so an export of any length never
 * sits whole in memory. The comparisons are bytewise, as SQLite's are,
 * whatever the database's collation.
 */
static int pg_audit_each(struct store *s, const char *since, const char *key,
			 int (*fn)(void *arg, const struct audit_rec *r), void *arg)
{
	const char *vals[] = { since, key };
	int rc, stop = 0;
	PGresult *r;

	rc = pg_begin(s);
	if (rc)
		return rc;
	if (!PQsendQueryParams(cur->c, "SELECT 0, seq, time COLLATE \"C\", request_id, principal,"
			       " access_key_id, source, operation, key_id, encryption_context, outcome,"
			       " error_type, http_status, 1::bigint, time FROM audit"
			       " WHERE ($1::text IS NULL OR time COLLATE \"C\" >= $1)"
			       " AND ($2::text IS NULL OR key_id = $2 OR key_id LIKE '%/' || $2)"
			       " UNION ALL SELECT 1, 0, interval_start, '-', '-', '-', source, '-', '-',"
			       " '{}', 'failure', last_error, 0, count, last_time"
			       " FROM audit_unauthenticated"
			       " WHERE ($1::text IS NULL OR interval_start >= $1) AND $2::text IS NULL"
			       " ORDER BY 3, 2", 2, NULL, vals, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(cur->c)) {
		ebs_err("postgresql: %s", PQerrorMessage(cur->c));
		pg_rollback(s);
		return -EIO;
	}
	while ((r = PQgetResult(cur->c))) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_SINGLE_TUPLE && !stop && !rc) {
			struct audit_rec a = {
				.unauthenticated = atoi(PQgetvalue(r, 0, 0)),
				.seq = val_ll(r, 0, 1),
				.time = PQgetvalue(r, 0, 2),
				.request_id = PQgetvalue(r, 0, 3),
				.principal = PQgetvalue(r, 0, 4),
				.access_key_id = PQgetvalue(r, 0, 5),
				.source = PQgetvalue(r, 0, 6),
				.operation = PQgetvalue(r, 0, 7),
				.key_id = PQgetvalue(r, 0, 8),
				.encryption_context = PQgetvalue(r, 0, 9),
				.outcome = PQgetvalue(r, 0, 10),
				.error_type = PQgetvalue(r, 0, 11),
				.http_status = atoi(PQgetvalue(r, 0, 12)),
				.count = val_ll(r, 0, 13),
				.last_time = PQgetvalue(r, 0, 14),
			};

			stop = fn(arg, &a);
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !rc) {
			ebs_err("postgresql: %s", PQresultErrorMessage(r));
			rc = -EIO;
		}
		PQclear(r);
	}
	pg_rollback(s);
	return rc ? rc : stop;
}

/* A lost race with the requests being audited meanwhile: the whole prune once more. */
static int pg_audit_prune(struct store *s, const char *before, long long *n)
{
	long requests = 0, counts = 0;
	int rc, attempt;

	for (attempt = 0; attempt < 10; attempt++) {
		rc = pg_begin(s);
		if (rc)
			return rc;
		rc = pq_changed("DELETE FROM audit WHERE time COLLATE \"C\" < $1", 1, &before,
				&requests);
		if (!rc)
			rc = pq_changed("DELETE FROM audit_unauthenticated WHERE interval_start < $1", 1,
					&before, &counts);
		if (rc)
			pg_rollback(s);
		else
			rc = pg_commit(s);
		if (rc != -EAGAIN)
			break;
	}
	/* The space is PostgreSQL's autovacuum's to reclaim, as for any deleted row. */
	if (!rc)
		*n = requests + counts;
	return rc;
}

static int pg_count_keys(struct store *s)
{
	PGresult *r;
	long long n;
	int rc;

	rc = pq_run("SELECT (SELECT COUNT(*) FROM keys) + (SELECT COUNT(*) FROM materials)", 0,
		    NULL, &r);
	if (rc)
		return rc;
	n = val_ll(r, 0, 0);
	PQclear(r);
	return n > INT_MAX ? INT_MAX : (int)n;
}

static int pg_materials_each(struct store *s, int (*fn)(void *arg, const char *key_id,
							 uint32_t version, const uint8_t *wrapped,
							 size_t len), void *arg)
{
	unsigned char *raw;
	PGresult *r;
	size_t len;
	int rc, i;

	rc = pq_run("SELECT key_id, version, wrapped FROM materials ORDER BY key_id, version", 0,
		    NULL, &r);
	if (rc)
		return rc;
	for (i = 0; !rc && i < PQntuples(r); i++) {
		raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &len);
		if (!raw) {
			rc = -ENOMEM;
			break;
		}
		rc = fn(arg, PQgetvalue(r, i, 0), (uint32_t)val_ll(r, i, 1), raw, len);
		PQfreemem(raw);
	}
	PQclear(r);
	return rc;
}

static const struct store_ops pg_ops = {
	.kind = "postgresql",
	.begin = pg_begin,
	.undo = pg_undo,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.conflict = pg_conflict,
	.close = pg_close,
	.key_get = pg_key_get,
	.key_put = pg_key_put,
	.key_purge = pg_key_purge,
	.keys_list = pg_keys_list,
	.material_put = pg_material_put,
	.material_get = pg_material_get,
	.alias_get = pg_alias_get,
	.alias_put = pg_alias_put,
	.alias_delete = pg_alias_delete,
	.aliases_list = pg_aliases_list,
	.grant_put = pg_grant_put,
	.grant_get = pg_grant_get,
	.grant_delete = pg_grant_delete,
	.grants_list = pg_grants_list,
	.audit_put = pg_audit_put,
	.audit_unauth_put = pg_audit_unauth_put,
	.audit_each = pg_audit_each,
	.audit_prune = pg_audit_prune,
	.count_keys = pg_count_keys,
	.materials_each = pg_materials_each,
};

int store_open_pg(const char *conninfo, unsigned int connections, int durable,
		  struct store **out)
{
	struct pg_store *p;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->base.ops = &pg_ops;
	p->durable = durable;
	p->n = connections ? connections : 1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->conninfo = strdup(conninfo);
	p->conns = calloc(p->n, sizeof(*p->conns));
	if (!p->conninfo || !p->conns) {
		pg_close(&p->base);
		return -ENOMEM;
	}
	/* The first connection now: a wrong conninfo stops the start, with its reason. */
	rc = pg_connect(p, &p->conns[0]);
	if (!rc)
		rc = pg_migrate(p->conns[0].c);
	if (rc) {
		pg_close(&p->base);
		return rc;
	}
	if (!durable)
		ebs_warn("durable = off: acknowledged requests and their audit records can be lost");
	*out = &p->base;
	return 0;
}
