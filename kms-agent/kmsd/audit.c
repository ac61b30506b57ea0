// SPDX-License-Identifier: GPL-2.0
/*
 * Audit trail: one row per request in the store's audit table, written in
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
#include <unistd.h>

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

static int audit_unauthenticated(struct kmsd *k, const struct kreq *req, const char *when)
{
	time_t now = time(NULL), start = now - now % AUDIT_UNAUTH_INTERVAL_S;
	char interval[32], horizon[32];
	struct audit_unauth u = {
		.interval = interval,
		.horizon = horizon,
		.source = req->source ? req->source : "-",
		.time = when,
		.error_type = req->err_type,
		.max_sources = AUDIT_UNAUTH_MAX_SOURCES,
	};

	iso_time(start, interval);
	iso_time(now - AUDIT_UNAUTH_RETENTION_S, horizon);
	return store_audit_unauth_put(k->db, &u);
}

int audit_record(struct kmsd *k, const struct kreq *req)
{
	char when[64], *ctx = NULL;
	struct strbuf sb;
	struct audit_row a;
	int rc;

	iso_now(when);
	if (!req->who && req->err_type[0]) {
		/*
		 * The count commits with the requests around it: a flood of anonymous
		 * requests shares its fsyncs (group commit), never one each.
		 */
		rc = audit_unauthenticated(k, req, when);
		if (rc)
			ebs_err("audit: cannot count %s: %s", req->request_id, strerror(-rc));
		return rc;
	}
	sb_init(&sb);
	if (req->audit_ctx)
		secjson_write(&sb, req->audit_ctx, NULL, 0);
	else
		sb_adds(&sb, "{}");
	if (sb_finish(&sb, &ctx))
		return -ENOMEM;
	a.time = when;
	a.request_id = req->request_id;
	a.principal = req->who ? req->who->arn : "-";
	a.access_key_id = req->who && req->access_key_id ? req->access_key_id : "-";
	a.source = req->source ? req->source : "-";
	a.operation = req->op;
	a.key_id = req->audit_key[0] ? req->audit_key : "-";
	a.encryption_context = ctx;
	a.outcome = req->err_type[0] ? "failure" : "success";
	a.error_type = req->err_type[0] ? req->err_type : "-";
	a.http_status = req->err_type[0] ? req->status : 200;
	rc = store_audit_put(k->db, &a);
	free(ctx);
	if (rc)
		ebs_err("audit: cannot record %s: %s", req->request_id, strerror(-rc));
	return rc;
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

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void add_str(struct json_object *o, const char *name, const char *v)
{
	json_object_object_add(o, name, json_object_new_string(v));
}

static void print_request(const struct audit_rec *r, int json)
{
	if (json) {
		struct json_object *o = json_object_new_object(), *ctx;

		add_str(o, "record", "request");
		json_object_object_add(o, "seq", json_object_new_int64(r->seq));
		add_str(o, "time", r->time);
		add_str(o, "request_id", r->request_id);
		add_str(o, "principal", r->principal);
		add_str(o, "access_key_id", r->access_key_id);
		add_str(o, "source", r->source);
		add_str(o, "operation", r->operation);
		add_str(o, "key_id", r->key_id);
		ctx = json_tokener_parse(r->encryption_context);
		if (ctx)
			json_object_object_add(o, "encryption_context", ctx);
		else
			add_str(o, "encryption_context", r->encryption_context);
		add_str(o, "outcome", r->outcome);
		add_str(o, "error_type", r->error_type);
		json_object_object_add(o, "http_status", json_object_new_int(r->http_status));
		print_json(o);
		return;
	}
	/* time request_id principal operation key=K context=C outcome [error] */
	put_escaped((const unsigned char *)r->time);
	putchar(' ');
	put_escaped((const unsigned char *)r->request_id);
	putchar(' ');
	put_escaped((const unsigned char *)r->principal);
	putchar(' ');
	put_escaped((const unsigned char *)r->operation);
	fputs(" key=", stdout);
	put_escaped((const unsigned char *)r->key_id);
	fputs(" context=", stdout);
	put_escaped((const unsigned char *)r->encryption_context);
	putchar(' ');
	put_escaped((const unsigned char *)r->outcome);
	if (strcmp(r->error_type, "-")) {
		putchar(' ');
		put_escaped((const unsigned char *)r->error_type);
	}
	putchar('\n');
}

static void print_unauthenticated(const struct audit_rec *r, int json)
{
	if (json) {
		struct json_object *o = json_object_new_object();

		add_str(o, "record", "unauthenticated");
		add_str(o, "interval_start", r->time);
		json_object_object_add(o, "interval_s", json_object_new_int(AUDIT_UNAUTH_INTERVAL_S));
		add_str(o, "source", r->source);
		json_object_object_add(o, "count", json_object_new_int64(r->count));
		add_str(o, "last_time", r->last_time);
		add_str(o, "last_error", r->error_type);
		print_json(o);
		return;
	}
	/* time unauthenticated source=S count=N last=T error=E */
	put_escaped((const unsigned char *)r->time);
	fputs(" unauthenticated source=", stdout);
	put_escaped((const unsigned char *)r->source);
	printf(" count=%lld last=", r->count);
	put_escaped((const unsigned char *)r->last_time);
	fputs(" error=", stdout);
	put_escaped((const unsigned char *)r->error_type);
	putchar('\n');
}

static int print_record(void *arg, const struct audit_rec *r)
{
	int json = *(int *)arg;

	if (r->unauthenticated)
		print_unauthenticated(r, json);
	else
		print_request(r, json);
	return ferror(stdout) ? -EIO : 0;
}

static int valid_time(const char *t, const char *opt)
{
	if (t && (strlen(t) < 10 || t[4] != '-' || t[7] != '-')) {
		fprintf(stderr, "ebscrypt-kmsd: %s wants an ISO 8601 UTC time, e.g. 2025-01-31T12:00:00Z\n", opt);
		return 0;
	}
	return 1;
}

/* The running service's store, as audit_query() documents; never creates one. */
static int open_store(const char *config, const char *state_dir, struct store **db)
{
	struct kmsd_config cfg;
	char path[4096], err[512] = "";
	int rc;

	if (!config && state_dir) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, KMSD_DB_FILE);
		if (access(path, F_OK) == 0)
			return store_open_sqlite(path, 1, db);
		snprintf(path, sizeof(path), "%s/kmsd.conf", state_dir);
		if (access(path, F_OK)) {
			fprintf(stderr, "ebscrypt-kmsd: %s has neither %s nor kmsd.conf\n", state_dir,
				KMSD_DB_FILE);
			return -ENOENT;
		}
		config = path;
	}
	if (!config)
		config = KMSD_DEFAULT_CONFIG;
	if (config_load(config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "ebscrypt-kmsd: %s: %s\n", config, err);
		return -EINVAL;
	}
	if (state_dir && (free(cfg.state_dir), !(cfg.state_dir = strdup(state_dir)))) {
		config_free(&cfg);
		return -ENOMEM;
	}
	if (!strcmp(cfg.store, "sqlite")) {
		snprintf(path, sizeof(path), "%s/%s", cfg.state_dir, KMSD_DB_FILE);
		rc = access(path, F_OK) ? -ENOENT : store_open_sqlite(path, 1, db);
	} else {
		/* One connection is all a command needs. */
		cfg.threads = 1;
		rc = store_open(&cfg, db);
	}
	if (rc == -ENOENT)
		fprintf(stderr, "ebscrypt-kmsd: no store at %s\n", path);
	config_free(&cfg);
	return rc;
}

int audit_query(const char *config, const char *state_dir, const char *since, const char *key,
		int json)
{
	struct store *db = NULL;
	int rc;

	if (!valid_time(since, "--since"))
		return -EINVAL;
	rc = open_store(config, state_dir, &db);
	if (rc)
		return rc;
	rc = store_audit_each(db, since, key, print_record, &json);
	store_close(db);
	if (fflush(stdout))
		return -EIO;
	return rc;
}

int audit_prune(const char *config, const char *state_dir, const char *before)
{
	struct store *db = NULL;
	long long n = 0;
	int rc;

	if (!before || !valid_time(before, "--before"))
		return -EINVAL;
	rc = open_store(config, state_dir, &db);
	if (rc)
		return rc;
	rc = store_audit_prune(db, before, &n);
	store_close(db);
	if (rc) {
		fprintf(stderr, "ebscrypt-kmsd: cannot prune the audit trail: %s\n", strerror(-rc));
		return rc;
	}
	printf("pruned %lld audit record(s) from before %s\n", n, before);
	return 0;
}
