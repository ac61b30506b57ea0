// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "kmsd_fixture.h"
#include "log.h"
#include "secmem.h"

static struct kmsd fx;
static struct kmsd_config fx_cfg;
static struct {
	char akid[130];
	char secret[130];
} fx_principals[FX_NWHO];
static char fx_dir[256];

static long long fx_now(void)
{
	return (long long)time(NULL);
}

static void fx_cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx_dir);
	if (system(cmd))
		fprintf(stderr, "fuzz: cannot remove %s\n", fx_dir);
}

/* "[name]" then "aws_access_key_id = ..." and "aws_secret_access_key = ...". */
static void read_credentials(void)
{
	char path[300], line[512], section[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/credentials", fx_dir);
	f = fopen(path, "r");
	if (!f)
		abort();
	while (fgets(line, sizeof(line), f)) {
		int who = -1;
		char v[200];

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%s", line);
			continue;
		}
		if (!strcmp(section, "[admin]"))
			who = FX_ADMIN;
		else if (!strcmp(section, "[host]"))
			who = FX_HOST;
		if (who < 0)
			continue;
		if (sscanf(line, "aws_access_key_id = %199s", v) == 1)
			snprintf(fx_principals[who].akid, sizeof(fx_principals[who].akid), "%s", v);
		else if (sscanf(line, "aws_secret_access_key = %199s", v) == 1)
			snprintf(fx_principals[who].secret, sizeof(fx_principals[who].secret), "%s", v);
	}
	fclose(f);
}

static void fx_seed_key(void);

struct kmsd *fx_kmsd(void)
{
	char path[300], err[512] = "";
	int saved;
	FILE *f;

	if (fx.db)
		return &fx;
	ebs_log_init("fuzz-kmsd", LOG_CRIT);
	snprintf(fx_dir, sizeof(fx_dir), "%s/ebscrypt-fuzz.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(fx_dir))
		abort();
	atexit(fx_cleanup);
	/* init reports what it wrote on stdout, which is libFuzzer's. */
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved < 0 || !freopen("/dev/null", "w", stdout))
		abort();
	snprintf(path, sizeof(path), "%s/kmsd.conf", fx_dir);
	if (kmsd_init_state(path, fx_dir, "127.0.0.1:0"))
		abort();
	fflush(stdout);
	if (dup2(saved, STDOUT_FILENO) < 0)
		abort();
	close(saved);
	read_credentials();
	/* A third principal with no role, as an outsider. */
	snprintf(fx_principals[FX_OUTSIDER].akid, sizeof(fx_principals[0].akid), "AKIAOUTSIDER0000FUZZ");
	snprintf(fx_principals[FX_OUTSIDER].secret, sizeof(fx_principals[0].secret),
		 "outsiderSecret0000000000000000000000000");
	snprintf(path, sizeof(path), "%s/outsider.secret", fx_dir);
	f = fopen(path, "w");
	if (!f || fputs(fx_principals[FX_OUTSIDER].secret, f) < 0 || fclose(f))
		abort();
	chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/kmsd.conf", fx_dir);
	f = fopen(path, "a");
	if (!f)
		abort();
	fprintf(f, "\n[principal outsider]\narn = arn:aws:iam::111122223333:user/outsider\n"
		   "access_key_id = %s\nsecret_access_key_file = outsider.secret\nrole = none\n",
		fx_principals[FX_OUTSIDER].akid);
	fclose(f);
	if (config_load(path, &fx_cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz: %s: %s\n", path, err);
		abort();
	}
	fx.cfg = &fx_cfg;
	fx.now = fx_now;
	pthread_mutex_init(&fx.lock, NULL);
	if (crypto_load_root_key(fx_dir, &fx.root_key))
		abort();
	snprintf(path, sizeof(path), "%s/%s", fx_dir, KMSD_DB_FILE);
	if (store_open(path, &fx.db))
		abort();
	/* Speed only: a fuzz run needs no durability. */
	sqlite3_exec(fx.db, "PRAGMA synchronous=OFF;", NULL, NULL, NULL);
	fx_seed_key();
	return &fx;
}

const char *fx_take_line(const char **data, size_t *size, char *line, size_t cap)
{
	const char *nl = memchr(*data, '\n', *size);
	size_t n = nl ? (size_t)(nl - *data) : *size;

	snprintf(line, cap, "%.*s", (int)(n < cap ? n : cap - 1), *data);
	*data += nl ? n + 1 : n;
	*size -= nl ? n + 1 : n;
	return line;
}

static void check_reply(const struct http_reply *rep)
{
	struct json_object *o;

	if (rep->status < 200 || rep->status > 599)
		abort();
	if (!rep->body)
		return;
	/* Every reply is one JSON object, error replies included. */
	o = json_tokener_parse(rep->body);
	if (!o || !json_object_is_type(o, json_type_object))
		abort();
	json_object_put(o);
}

const char *fx_akid(enum fx_who who)
{
	fx_kmsd();
	return fx_principals[who].akid;
}

const char *fx_secret(enum fx_who who)
{
	fx_kmsd();
	return fx_principals[who].secret;
}

int fx_handle(const char *method, const char *url, const struct sigv4_header *h, size_t n,
	      const char *body, size_t body_len, char *out, size_t out_len)
{
	struct http_header_list hl = { (struct sigv4_header *)h, n };
	struct http_reply rep;
	int status;

	memset(&rep, 0, sizeof(rep));
	router_handle(fx_kmsd(), method, url, &hl, body, body_len, 0, "127.0.0.1", &rep);
	check_reply(&rep);
	status = rep.status;
	if (out_len)
		snprintf(out, out_len, "%s", rep.body ? rep.body : "");
	if (rep.sensitive)
		secmem_free(rep.body);
	else
		free(rep.body);
	return status;
}

int fx_call(enum fx_who who, const char *op, const struct sigv4_header *extra, size_t nextra,
	    const char *body, size_t body_len, char *out, size_t out_len)
{
	struct kmsd *k = fx_kmsd();
	struct sigv4_header h[24];
	struct { struct sigv4_header *h; size_t n; } hl = { h, 0 };
	char target[160], date[17], *auth = NULL;
	size_t i;
	int status;

	if (who == FX_UNSIGNED) {
		for (i = 0; i < nextra && hl.n < 24; i++)
			h[hl.n++] = extra[i];
	} else {
		struct sigv4_request r = { .method = "POST", .path = "/", .body = body, .body_len = body_len };
		struct sigv4_scope s = { .amz_date = date, .region = k->cfg->region, .service = "kms" };

		snprintf(target, sizeof(target), "TrentService.%s", op);
		if (sigv4_amz_date(k->now(), date))
			abort();
		h[hl.n++] = (struct sigv4_header){ "host", "127.0.0.1" };
		h[hl.n++] = (struct sigv4_header){ "x-amz-date", date };
		h[hl.n++] = (struct sigv4_header){ "x-amz-target", target };
		h[hl.n++] = (struct sigv4_header){ "content-type", "application/x-amz-json-1.1" };
		for (i = 0; i < nextra && hl.n < 23; i++)
			h[hl.n++] = extra[i];
		r.headers = h;
		r.nheaders = hl.n;
		/* A fuzzed extra header can make the request unsignable: then it goes unsigned. */
		if (!sigv4_authorization(&r, &s, fx_principals[who].akid, fx_principals[who].secret,
					 strlen(fx_principals[who].secret), &auth))
			h[hl.n++] = (struct sigv4_header){ "authorization", auth };
	}
	status = fx_handle("POST", "/", h, hl.n, body, body_len, out, out_len);
	free(auth);
	return status;
}

/* One key under alias/fuzz, which the seed corpora name. */
static void fx_seed_key(void)
{
	char out[4096], body[256];
	struct json_object *o, *m, *id;

	if (fx_call(FX_ADMIN, "CreateKey", NULL, 0, "{}", 2, out, sizeof(out)) != 200)
		abort();
	o = json_tokener_parse(out);
	if (!o || !json_object_object_get_ex(o, "KeyMetadata", &m) || !json_object_object_get_ex(m, "KeyId", &id))
		abort();
	snprintf(body, sizeof(body), "{\"AliasName\":\"alias/fuzz\",\"TargetKeyId\":\"%s\"}",
		 json_object_get_string(id));
	json_object_put(o);
	if (fx_call(FX_ADMIN, "CreateAlias", NULL, 0, body, strlen(body), NULL, 0) != 200)
		abort();
}
