// SPDX-License-Identifier: GPL-2.0
/*
 * Audit trail: one row per request in the audit table of kmsd.db, written in
 * the same transaction as the request's own changes (see router.c), so a
 * record is never lost for a change that happened, and durable once the
 * reply is sent. Never holds plaintexts or key material: only who did
 * what to which key under which encryption context, and how it ended.
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

int audit_record(struct kmsd *k, const struct kreq *req)
{
	char when[64], *ctx = NULL;
	sqlite3_stmt *st;
	struct strbuf sb;
	int rc;

	iso_now(when);
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

int audit_query(const char *state_dir, const char *since, const char *key, int json)
{
	char path[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	int rc;

	if (since && (strlen(since) < 10 || since[4] != '-' || since[7] != '-')) {
		fprintf(stderr, "ebscrypt-kmsd: --since wants an ISO 8601 UTC time, e.g. 2025-01-31T12:00:00Z\n");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, KMSD_DB_FILE);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "ebscrypt-kmsd: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -ENOENT;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_prepare_v2(db, "SELECT seq, time, request_id, principal, access_key_id, source,"
				" operation, key_id, encryption_context, outcome, error_type, http_status"
				" FROM audit WHERE (?1 IS NULL OR time >= ?1)"
				" AND (?2 IS NULL OR key_id = ?2 OR key_id LIKE '%/' || ?2)"
				" ORDER BY seq", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "ebscrypt-kmsd: %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -EIO;
	}
	if (since)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
	if (key)
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json) {
			struct json_object *o = json_object_new_object(), *ctx;
			static const char *const names[] = {
				"seq", "time", "request_id", "principal", "access_key_id", "source",
				"operation", "key_id", "encryption_context", "outcome", "error_type",
				"http_status",
			};
			int i;

			for (i = 0; i < 12; i++) {
				const char *v = (const char *)sqlite3_column_text(st, i);

				if (i == 0 || i == 11)
					json_object_object_add(o, names[i],
						json_object_new_int64(sqlite3_column_int64(st, i)));
				else if (i == 8 && (ctx = json_tokener_parse(v ? v : "{}")))
					json_object_object_add(o, names[i], ctx);
				else
					json_object_object_add(o, names[i], json_object_new_string(v ? v : ""));
			}
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(o);
		} else {
			printf("%s %s %s %s key=%s context=%s %s%s%s\n",
			       sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
			       sqlite3_column_text(st, 3), sqlite3_column_text(st, 6),
			       sqlite3_column_text(st, 7), sqlite3_column_text(st, 8),
			       sqlite3_column_text(st, 9),
			       strcmp((const char *)sqlite3_column_text(st, 10), "-") ? " " : "",
			       strcmp((const char *)sqlite3_column_text(st, 10), "-") ?
			       (const char *)sqlite3_column_text(st, 10) : "");
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (fflush(stdout))
		return -EIO;
	return rc == SQLITE_DONE ? 0 : -EIO;
}
