// SPDX-License-Identifier: GPL-2.0
/*
 * Audit trail: one row per request in the audit table of kmsd.db, written in
 * the same transaction as the request's own changes (see router.c), so a
 * record is never lost for a change that happened, and durable once the
 * reply is sent. Never holds plaintexts or key material: only who did
 * what to which key under which encryption context, and how it ended.
 *
 * A request that fails before it is authenticated is not worth a row of
 * its own, and letting anyone without credentials add rows would let them
 * fill the disk: such failures are counted instead, one row per source
 * address per AUDIT_UNAUTH_INTERVAL_S, at most AUDIT_UNAUTH_MAX_SOURCES
 * sources per interval (the rest are counted under "other"), and counts
 * older than AUDIT_UNAUTH_RETENTION_S are dropped as new intervals begin.
 * So the space they take is bounded whatever anonymous clients send.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "kmsd.h"
#include "log.h"

static void iso_now(char out[64])
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)(tv.tv_usec / 1000));
}

static void iso_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int sql_run(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c,
		   const char *d)
{
	const char *args[] = { a, b, c, d };
	sqlite3_stmt *st;
	int rc, i;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		ebs_err("audit: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	for (i = 0; i < 4; i++)
		if (args[i])
			sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = -EIO;
	sqlite3_finalize(st);
	return rc;
}

static int audit_unauthenticated(struct kmsd *k, const struct kreq *req, const char *when)
{
	time_t now = time(NULL), start = now - now % AUDIT_UNAUTH_INTERVAL_S;
	const char *source = req->source ? req->source : "-";
	char interval[32], horizon[32];
	int rc;

	iso_time(start, interval);
	rc = sql_run(k->db, "UPDATE audit_unauthenticated SET count = count + 1, last_time = ?3,"
		     " last_error = ?4 WHERE interval_start = ?1 AND source = ?2",
		     interval, source, when, req->err_type);
	if (rc)
		return rc;
	if (sqlite3_changes(k->db))
		return 0;
	iso_time(now - AUDIT_UNAUTH_RETENTION_S, horizon);
	if (sql_run(k->db, "DELETE FROM audit_unauthenticated WHERE interval_start < ?1",
		    horizon, NULL, NULL, NULL) < 0)
		return -EIO;
	rc = sql_run(k->db, "SELECT COUNT(*) FROM audit_unauthenticated WHERE interval_start = ?1",
		     interval, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	if (rc >= AUDIT_UNAUTH_MAX_SOURCES)
		source = "other";
	return sql_run(k->db, "INSERT INTO audit_unauthenticated (interval_start, source, count,"
		       " last_time, last_error) VALUES (?1, ?2, 1, ?3, ?4) ON CONFLICT"
		       " (interval_start, source) DO UPDATE SET count = count + 1,"
		       " last_time = excluded.last_time, last_error = excluded.last_error",
		       interval, source, when, req->err_type);
}

int audit_record(struct kmsd *k, const struct kreq *req)
{
	char when[64], *ctx = NULL;
	sqlite3_stmt *st;
	struct strbuf sb;
	int rc;

	iso_now(when);
	if (!req->who && req->err_type[0]) {
		/*
		 * A count lost to a power cut is acceptable, an fsync per anonymous
		 * request is not: this write alone skips the sync (WAL, NORMAL).
		 */
		sqlite3_exec(k->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
		rc = audit_unauthenticated(k, req, when);
		sqlite3_exec(k->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
		return rc;
	}
	sb_init(&sb);
	if (req->audit_ctx)
		secjson_write(&sb, req->audit_ctx, NULL, 0);
	else
		sb_adds(&sb, "{}");
	if (sb_finish(&sb, &ctx))
		return -ENOMEM;
	rc = sqlite3_prepare_v2(k->db, "INSERT INTO audit (time, request_id, principal, access_key_id,"
				" source, operation, key_id, encryption_context, outcome, error_type,"
				" http_status) VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		ebs_err("audit: %s", sqlite3_errmsg(k->db));
		free(ctx);
		return -EIO;
	}
	sqlite3_bind_text(st, 1, when, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, req->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, req->who ? req->who->arn : "-", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, req->who && req->access_key_id ? req->access_key_id : "-", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 5, req->source ? req->source : "-", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, req->op, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, req->audit_key[0] ? req->audit_key : "-", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, ctx, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, req->err_type[0] ? "failure" : "success", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, req->err_type[0] ? req->err_type : "-", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, req->err_type[0] ? req->status : 200);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	free(ctx);
	if (rc != SQLITE_DONE) {
		ebs_err("audit: cannot record %s: %s", req->request_id, sqlite3_errmsg(k->db));
		return -EIO;
	}
	return 0;
}

/* Text output: a control character, or a backslash, never reaches the terminal as is. */
static void put_escaped(const unsigned char *v)
{
	for (; v && *v; v++) {
		if (*v < 0x20 || *v == 0x7f || *v == '\\')
			printf("\\x%02x", *v);
		else
			putchar(*v);
	}
}

static const char *const request_fields[] = {
	"seq", "time", "request_id", "principal", "access_key_id", "source",
	"operation", "key_id", "encryption_context", "outcome", "error_type",
	"http_status",
};

static void print_request(sqlite3_stmt *st, int json)
{
	const unsigned char *err = sqlite3_column_text(st, 11);
	int i;

	if (json) {
		struct json_object *o = json_object_new_object(), *ctx;

		json_object_object_add(o, "record", json_object_new_string("request"));
		for (i = 0; i < 12; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i + 1);

			if (i == 0 || i == 11)
				json_object_object_add(o, request_fields[i],
					json_object_new_int64(sqlite3_column_int64(st, i + 1)));
			else if (i == 8 && (ctx = json_tokener_parse(v ? v : "{}")))
				json_object_object_add(o, request_fields[i], ctx);
			else
				json_object_object_add(o, request_fields[i], json_object_new_string(v ? v : ""));
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	/* time request_id principal operation key=K context=C outcome [error] */
	for (i = 2; i <= 10; i++) {
		if (i == 5 || i == 6)
			continue;
		if (i > 2)
			putchar(' ');
		if (i == 8)
			fputs("key=", stdout);
		else if (i == 9)
			fputs("context=", stdout);
		put_escaped(sqlite3_column_text(st, i));
	}
	if (err && strcmp((const char *)err, "-")) {
		putchar(' ');
		put_escaped(err);
	}
	putchar('\n');
}

static void print_unauthenticated(sqlite3_stmt *st, int json)
{
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "record", json_object_new_string("unauthenticated"));
		json_object_object_add(o, "interval_start",
				       json_object_new_string((const char *)sqlite3_column_text(st, 2)));
		json_object_object_add(o, "interval_s", json_object_new_int(AUDIT_UNAUTH_INTERVAL_S));
		json_object_object_add(o, "source",
				       json_object_new_string((const char *)sqlite3_column_text(st, 6)));
		json_object_object_add(o, "count", json_object_new_int64(sqlite3_column_int64(st, 13)));
		json_object_object_add(o, "last_time",
				       json_object_new_string((const char *)sqlite3_column_text(st, 14)));
		json_object_object_add(o, "last_error",
				       json_object_new_string((const char *)sqlite3_column_text(st, 11)));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	/* time unauthenticated source=S count=N last=T error=E */
	put_escaped(sqlite3_column_text(st, 2));
	fputs(" unauthenticated source=", stdout);
	put_escaped(sqlite3_column_text(st, 6));
	printf(" count=%lld last=", (long long)sqlite3_column_int64(st, 13));
	put_escaped(sqlite3_column_text(st, 14));
	fputs(" error=", stdout);
	put_escaped(sqlite3_column_text(st, 11));
	putchar('\n');
}

static int valid_time(const char *t, const char *opt)
{
	if (t && (strlen(t) < 10 || t[4] != '-' || t[7] != '-')) {
		fprintf(stderr, "ebscrypt-kmsd: %s wants an ISO 8601 UTC time, e.g. 2025-01-31T12:00:00Z\n", opt);
		return 0;
	}
	return 1;
}

static int open_db(const char *state_dir, int flags, sqlite3 **db)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", state_dir, KMSD_DB_FILE);
	if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
		fprintf(stderr, "ebscrypt-kmsd: cannot open %s: %s\n", path, sqlite3_errmsg(*db));
		sqlite3_close(*db);
		*db = NULL;
		return -ENOENT;
	}
	sqlite3_busy_timeout(*db, 5000);
	return 0;
}

int audit_query(const char *state_dir, const char *since, const char *key, int json)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	int rc;

	if (!valid_time(since, "--since"))
		return -EINVAL;
	if (open_db(state_dir, SQLITE_OPEN_READONLY, &db))
		return -ENOENT;
	/* A store from before the counts existed has no such table: an empty one stands in. */
	rc = sqlite3_prepare_v2(db, "SELECT 0 AS kind, seq, time, request_id, principal, access_key_id,"
				" source, operation, key_id, encryption_context, outcome, error_type,"
				" http_status, 1, time FROM audit WHERE (?1 IS NULL OR time >= ?1)"
				" AND (?2 IS NULL OR key_id = ?2 OR key_id LIKE '%/' || ?2)"
				" UNION ALL SELECT 1, 0, interval_start, '-', '-', '-', source, '-', '-',"
				" '{}', 'failure', last_error, 0, count, last_time"
				" FROM audit_unauthenticated WHERE (?1 IS NULL OR interval_start >= ?1)"
				" AND ?2 IS NULL"
				" ORDER BY 3, 2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT 0 AS kind, seq, time, request_id, principal,"
					" access_key_id, source, operation, key_id, encryption_context,"
					" outcome, error_type, http_status, 1, time FROM audit"
					" WHERE (?1 IS NULL OR time >= ?1)"
					" AND (?2 IS NULL OR key_id = ?2 OR key_id LIKE '%/' || ?2)"
					" ORDER BY seq", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "ebscrypt-kmsd: %s/%s: %s\n", state_dir, KMSD_DB_FILE, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -EIO;
	}
	if (since)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	if (key)
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int(st, 0))
			print_unauthenticated(st, json);
		else
			print_request(st, json);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (fflush(stdout))
		return -EIO;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int audit_prune(const char *state_dir, const char *before)
{
	sqlite3 *db = NULL;
	long long n = 0;
	int rc;

	if (!before || !valid_time(before, "--before"))
		return -EINVAL;
	if (open_db(state_dir, SQLITE_OPEN_READWRITE, &db))
		return -ENOENT;
	rc = sql_run(db, "DELETE FROM audit WHERE time < ?1", before, NULL, NULL, NULL);
	n += sqlite3_changes(db);
	if (!rc) {
		rc = sql_run(db, "DELETE FROM audit_unauthenticated WHERE interval_start < ?1",
			     before, NULL, NULL, NULL);
		n += sqlite3_changes(db);
	}
	if (rc) {
		fprintf(stderr, "ebscrypt-kmsd: cannot prune the audit trail: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -EIO;
	}
	/* Give the space back to the file system; if kmsd is busy, SQLite reuses it later. */
	if (sqlite3_exec(db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
		fprintf(stderr, "ebscrypt-kmsd: pruned, but could not compact %s/%s now: %s\n",
			state_dir, KMSD_DB_FILE, sqlite3_errmsg(db));
	sqlite3_close(db);
	printf("pruned %lld audit record(s) from before %s\n", n, before);
	return 0;
}
