// SPDX-License-Identifier: GPL-2.0
/*
 * kmsc: a small KMS client for the host tests, built on lib/kms_client.c
 * (so the tests exercise the library the agent uses) plus a "raw" mode that
 * signs arbitrary bodies and headers with lib/sigv4.c, to feed the service
 * malformed requests that still pass (or deliberately fail) authentication.
 *
 *   kmsc [common] call OPERATION JSON
 *   kmsc [common] repeat N OPERATION JSON      N calls on one client, the last reply;
 *                                              "@N@" in JSON becomes the call's number
 *   kmsc [common] gdkwp KEY [k=v ...]          base64 blob on stdout
 *   kmsc [common] decrypt BLOB64 [k=v ...]     base64 plaintext on stdout
 *   kmsc [common] reencrypt BLOB64 DSTKEY [k=v ...]  (source context)
 *   kmsc [common] describe KEY                 "KEYID ARN STATE ENABLED"
 *   kmsc [common] raw TARGET BODY [--omit H] [--set H=V] [--after H=V]
 *        [--date AMZDATE] [--akid ID] [--no-auth] [--ctype CT] [--method M]
 *        [--after-body STR] [--signed LIST] [--query Q] [--signed-query Q]
 *                                              "STATUS" line, then the body
 * common: --url URL [--unix PATH] [--ca FILE] [--cert FILE --key FILE] [--creds FILE --profile NAME]
 *         [--region R] [--timeout-ms N] [--retries N] [--imds URL]
 *         [--max-reply BYTES]
 * Secrets come from the AWS credential chain (lib/awscreds.h), never argv;
 * --creds makes FILE its only source (as AWS_SHARED_CREDENTIALS_FILE),
 * --profile names the profile. URL may list several endpoints (failover).
 * `kmsc ... loop N MS BLOB64 [k=v ...]` decrypts BLOB64 N times, MS
 * milliseconds apart, on one client (credentials refreshed as they expire), and
 * prints one "ok ENDPOINT" or "ERROR ..." line per call.
 * Exit: 0 ok, 3 KMS error ("ERROR <type>" on stdout), 4 transport error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "lib/awscreds.h"
#include "lib/base64.h"
#include "lib/kms_client.h"
#include "lib/secmem.h"
#include "lib/sigv4.h"
#include "lib/strbuf.h"
#include "credentials_file.h"

static struct kms_context parse_ctx(int argc, char **argv, struct kms_context_pair *pairs)
{
	struct kms_context c = { pairs, 0 };
	int i;

	for (i = 0; i < argc && i < 32; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			continue;
		*eq = '\0';
		pairs[c.count].key = argv[i];
		pairs[c.count].value = eq + 1;
		c.count++;
	}
	return c;
}

static int report(int rc, const struct kms_error *err)
{
	if (rc == -EREMOTEIO) {
		printf("ERROR %s\n", err->type);
		fprintf(stderr, "kmsc: %s (HTTP %d): %s\n", err->type, err->http_status, err->message);
		return 3;
	}
	printf("ERROR %s\n", strerror(-rc));
	fprintf(stderr, "kmsc: %s: %s\n", strerror(-rc), err->message);
	return 4;
}

static size_t collect(char *d, size_t s, size_t n, void *arg)
{
	sb_add(arg, d, s * n);
	return s * n;
}

static int raw(const char *url, const char *unix_path, const char *region, const char *profile,
	       int argc, char **argv)
{
	const char *target = argv[0], *body = argv[1], *date = NULL, *ctype = "application/x-amz-json-1.1";
	const char *after_body = NULL, *signed_list = NULL, *query = NULL, *signed_query = NULL;
	const char *method = "POST", *omit[8], *set[8], *after[8], *id = NULL;
	size_t nomit = 0, nset = 0, nafter = 0, i, j, nh = 0;
	struct sigv4_header h[16];
	char amz[17], host[256], *authz = NULL, tgt[256], *hv[16];
	struct curl_slist *hl = NULL;
	struct strbuf out;
	CURL *c;
	long status = 0;
	int noauth = 0, k;
	CURLcode cc;

	for (k = 2; k < argc; k++) {
		if (!strcmp(argv[k], "--omit") && k + 1 < argc && nomit < 8)
			omit[nomit++] = argv[++k];
		else if (!strcmp(argv[k], "--set") && k + 1 < argc && nset < 8)
			set[nset++] = argv[++k];
		else if (!strcmp(argv[k], "--after") && k + 1 < argc && nafter < 8)
			after[nafter++] = argv[++k];
		else if (!strcmp(argv[k], "--date") && k + 1 < argc)
			date = argv[++k];
		else if (!strcmp(argv[k], "--akid") && k + 1 < argc)
			id = argv[++k];
		else if (!strcmp(argv[k], "--ctype") && k + 1 < argc)
			ctype = argv[++k];
		else if (!strcmp(argv[k], "--method") && k + 1 < argc)
			method = argv[++k];
		else if (!strcmp(argv[k], "--after-body") && k + 1 < argc)
			after_body = argv[++k];
		else if (!strcmp(argv[k], "--signed") && k + 1 < argc)
			signed_list = argv[++k];
		else if (!strcmp(argv[k], "--query") && k + 1 < argc)
			query = argv[++k];
		else if (!strcmp(argv[k], "--signed-query") && k + 1 < argc)
			signed_query = argv[++k];
		else if (!strcmp(argv[k], "--no-auth"))
			noauth = 1;
		else
			return 2;
	}
	if (!strncmp(body, "@", 1)) {
		FILE *f = fopen(body + 1, "r");
		struct strbuf b;
		char buf[4096];
		size_t n;

		if (!f)
			return 2;
		sb_init(&b);
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			sb_add(&b, buf, n);
		fclose(f);
		if (sb_finish(&b, (char **)&body))
			return 2;
	}
	if (!date) {
		sigv4_amz_date((long long)time(NULL), amz);
		date = amz;
	}
	{
		const char *p = strstr(url, "://");

		snprintf(host, sizeof(host), "%s", p ? p + 3 : url);
		host[strcspn(host, "/")] = '\0';
	}
	snprintf(tgt, sizeof(tgt), "TrentService.%s", target);
	h[nh++] = (struct sigv4_header){ "Content-Type", ctype };
	h[nh++] = (struct sigv4_header){ "Host", host };
	h[nh++] = (struct sigv4_header){ "X-Amz-Date", date };
	h[nh++] = (struct sigv4_header){ "X-Amz-Target", tgt };
	for (i = 0; i < nset; i++) {
		char *eq = strchr(set[i], '=');

		if (!eq)
			return 2;
		*eq = '\0';
		for (j = 0; j < nh; j++)
			if (!strcasecmp(h[j].name, set[i]))
				break;
		if (j == nh)
			nh++;
		h[j] = (struct sigv4_header){ set[i], eq + 1 };
	}
	/* Omitted headers are neither signed nor sent. */
	for (i = 0; i < nomit; i++)
		for (j = 0; j < nh; j++)
			if (!strcasecmp(h[j].name, omit[i])) {
				memmove(&h[j], &h[j + 1], (nh - j - 1) * sizeof(h[0]));
				nh--;
				break;
			}
	if (!noauth) {
		/* --signed: a SignedHeaders list of the client's choosing (a captured request's). */
		struct sigv4_request sr = { .method = method, .path = "/", .headers = h, .nheaders = nh,
					    .signed_headers = signed_list, .query = signed_query,
					    .body = body, .body_len = strlen(body) };
		struct sigv4_scope sc = { date, region, "kms" };
		struct aws_chain_config chain = { .profile = profile };
		struct aws_cred_provider *cp = NULL;
		struct aws_credentials cr = { 0 };
		char why[512] = "";
		int rc;

		rc = aws_cred_provider_new(&chain, &cp);
		if (!rc)
			rc = aws_cred_provider_get(cp, (long long)time(NULL), &cr, why, sizeof(why));
		if (!rc)
			rc = sigv4_authorization(&sr, &sc, id ? id : cr.access_key_id, cr.secret,
						 cr.secret_len, &authz);
		aws_credentials_clear(&cr);
		aws_cred_provider_free(cp);
		if (rc) {
			fprintf(stderr, "kmsc: cannot sign: %s\n", why[0] ? why : strerror(-rc));
			return 2;
		}
	}
	/* --after changes (or adds) a header once it is signed: the server must notice. */
	for (i = 0; i < nafter; i++) {
		char *eq = strchr(after[i], '=');

		if (!eq)
			return 2;
		*eq = '\0';
		for (j = 0; j < nh; j++)
			if (!strcasecmp(h[j].name, after[i]))
				break;
		if (j == nh && nh < 16)
			h[nh++] = (struct sigv4_header){ after[i], eq + 1 };
		else if (j < nh)
			h[j].value = eq + 1;
	}
	if (after_body)
		body = after_body;
	for (j = 0; j < nh; j++) {
		if (asprintf(&hv[j], "%s: %s", h[j].name, h[j].value) < 0)
			return 2;
		hl = curl_slist_append(hl, hv[j]);
		free(hv[j]);
	}
	if (authz) {
		char *a;

		if (asprintf(&a, "Authorization: %s", authz) < 0)
			return 2;
		hl = curl_slist_append(hl, a);
		free(a);
		free(authz);
	}
	hl = curl_slist_append(hl, "Expect:");
	/* Let the test decide: a missing Content-Type must stay missing. */
	if (!nh || strcasecmp(h[0].name, "Content-Type"))
		hl = curl_slist_append(hl, "Content-Type:");
	sb_init(&out);
	/* --query goes on the URL after signing; --signed-query is signed and sent. */
	if (query || signed_query) {
		char *u;

		if (asprintf(&u, "%s?%s", url, query ? query : signed_query) < 0)
			return 2;
		url = u;
	}
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (unix_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_path);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK) {
		printf("ERROR %s\n", curl_easy_strerror(cc));
		sb_free(&out);
		return 4;
	}
	printf("%ld\n%s\n", status, out.buf ? out.buf : "");
	sb_free(&out);
	return 0;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *unix_path = NULL, *ca = NULL, *creds = NULL, *profile = NULL;
	const char *cert = NULL, *key = NULL;
	const char *region = "us-east-1", *imds = NULL;
	struct kms_endpoint ep = { 0 };
	struct kms_client *c = NULL;
	struct kms_error err = { 0 };
	struct kms_context_pair pairs[32];
	long timeout = 10000;
	size_t max_reply = 0;
	int retries = 2, i, rc;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (i + 1 >= argc)
			return 2;
		if (!strcmp(argv[i], "--url"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--unix"))
			unix_path = argv[i + 1];
		else if (!strcmp(argv[i], "--ca"))
			ca = argv[i + 1];
		else if (!strcmp(argv[i], "--cert"))
			cert = argv[i + 1];
		else if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--creds"))
			creds = argv[i + 1];
		else if (!strcmp(argv[i], "--profile"))
			profile = argv[i + 1];
		else if (!strcmp(argv[i], "--region"))
			region = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout-ms"))
			timeout = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--retries"))
			retries = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--imds"))
			imds = argv[i + 1];
		else if (!strcmp(argv[i], "--max-reply"))
			max_reply = strtoul(argv[i + 1], NULL, 10);
		else
			return 2;
	}
	if (!url || i >= argc || (creds && (!profile || use_credentials_file(creds)))) {
		fprintf(stderr, "kmsc: need --url, --creds with --profile (or neither) and an operation\n");
		return 2;
	}
	argc -= i;
	argv += i;
	if (!strcmp(argv[0], "raw") && argc >= 3)
		return raw(url, unix_path, region, profile, argc - 1, argv + 1);
	ep = (struct kms_endpoint){ .url = url, .unix_socket = unix_path, .ca_file = ca,
				    .client_cert = cert, .client_key = key,
				    .region = region, .timeout_ms = timeout, .max_retries = retries,
				    .max_reply_bytes = max_reply };
	ep.profile = profile;
	if (!creds)
		ep.imds_endpoint = imds;
	rc = kms_client_new(&ep, &c);
	if (rc) {
		fprintf(stderr, "kmsc: kms_client_new: %s\n", strerror(-rc));
		return 2;
	}
	if ((!strcmp(argv[0], "call") && argc == 3) || (!strcmp(argv[0], "repeat") && argc == 4)) {
		int n = argc == 4 ? atoi(argv[1]) : 1, k;
		struct json_object *req, *resp = NULL;

		argv += argc - 3;
		if (n < 1)
			return 2;
		for (rc = 0, k = 0; !rc && k < n; k++) {
			struct strbuf text;
			const char *p, *at;
			char *t;

			sb_init(&text);
			for (p = argv[2]; (at = strstr(p, "@N@")); p = at + 3) {
				sb_add(&text, p, (size_t)(at - p));
				sb_addf(&text, "%d", k);
			}
			sb_adds(&text, p);
			if (sb_finish(&text, &t))
				return 2;
			req = json_tokener_parse(t);
			free(t);
			if (!req)
				return 2;
			json_object_put(resp);
			resp = NULL;
			rc = kms_call(c, argv[1], req, &resp, &err);
			json_object_put(req);
		}
		if (!rc) {
			printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
								      JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(resp);
		}
	} else if (!strcmp(argv[0], "gdkwp") && argc >= 2) {
		struct kms_context ctx = parse_ctx(argc - 2, argv + 2, pairs);
		uint8_t *blob;
		size_t len;
		char *arn, *b64;

		rc = kms_generate_data_key_without_plaintext(c, argv[1], &ctx, 0, &blob, &len, &arn, &err);
		if (!rc) {
			b64_encode(blob, len, &b64);
			printf("%s\n", b64);
			free(b64);
			free(blob);
			free(arn);
		}
	} else if (!strcmp(argv[0], "loop") && argc >= 4) {
		struct kms_context ctx = parse_ctx(argc - 4, argv + 4, pairs);
		uint8_t blob[8192], *plain = secmem_alloc(4096);
		long n = atol(argv[1]), ms = atol(argv[2]), j, bad = 0;
		size_t blen, plen;

		if (!plain || n < 1 || n > 100000 || ms < 0 || ms > 60000 ||
		    b64_decode(argv[3], strlen(argv[3]), blob, sizeof(blob), &blen))
			return 2;
		for (j = 0; j < n; j++) {
			memset(&err, 0, sizeof(err));
			rc = kms_decrypt(c, NULL, blob, blen, &ctx, plain, 4096, &plen, NULL, &err);
			if (rc) {
				printf("ERROR %s %s\n", rc == -EREMOTEIO ? err.type : strerror(-rc),
				       err.message);
				bad++;
			} else {
				printf("ok %s %s\n", kms_client_current_url(c), kms_client_credentials_source(c));
			}
			fflush(stdout);
			if (j + 1 < n)
				usleep((useconds_t)ms * 1000);
		}
		secmem_free(plain);
		kms_client_free(c);
		return bad ? 3 : 0;
	} else if (!strcmp(argv[0], "decrypt") && argc >= 2) {
		struct kms_context ctx = parse_ctx(argc - 2, argv + 2, pairs);
		uint8_t blob[8192], *plain = secmem_alloc(4096);
		size_t blen, plen;
		char *arn = NULL, *b64;

		if (!plain || b64_decode(argv[1], strlen(argv[1]), blob, sizeof(blob), &blen)) {
			/* Not base64 here: send it as is, so the service judges it. */
			blen = strlen(argv[1]);
			memcpy(blob, argv[1], blen < sizeof(blob) ? blen : sizeof(blob));
		}
		rc = kms_decrypt(c, NULL, blob, blen, &ctx, plain, 4096, &plen, &arn, &err);
		if (!rc) {
			b64_encode(plain, plen, &b64);
			printf("%s\n", b64);
			free(b64);
			free(arn);
		}
		secmem_free(plain);
	} else if (!strcmp(argv[0], "reencrypt") && argc >= 3) {
		struct kms_context sctx = parse_ctx(argc - 3, argv + 3, pairs);
		uint8_t blob[8192], *nb;
		size_t blen, nlen;
		char *arn, *b64;

		if (b64_decode(argv[1], strlen(argv[1]), blob, sizeof(blob), &blen))
			return 2;
		rc = kms_reencrypt(c, blob, blen, &sctx, argv[2], NULL, &nb, &nlen, &arn, &err);
		if (!rc) {
			b64_encode(nb, nlen, &b64);
			printf("%s\n", b64);
			free(b64);
			free(nb);
			free(arn);
		}
	} else if (!strcmp(argv[0], "describe") && argc == 2) {
		struct kms_key_info info;

		rc = kms_describe_key(c, argv[1], &info, &err);
		if (!rc)
			printf("%s %s %s %d\n", info.key_id, info.arn, info.key_state, info.enabled);
	} else {
		kms_client_free(c);
		return 2;
	}
	kms_client_free(c);
	return rc ? report(rc, &err) : 0;
}
