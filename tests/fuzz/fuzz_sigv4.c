// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the SigV4 verifier of ebscrypt-kmsd, reached the way a
 * client reaches it (router_handle() with the request's own headers), and
 * lib/sigv4.c's parsers.
 *
 * Input: a flags byte, then lines: method, path (with ?query), header lines
 * "name: value" up to an empty line, and the body. With flag 1 the harness
 * adds an Authorization that signs exactly that request as the admin
 * (flag 2: as the outsider) with the SignedHeaders from an
 * "x-fuzz-signed: a;b" line (default: all), so the verifier's canonical
 * request must match the signer's byte for byte; flag 4 then changes the
 * first header value after signing, which must be refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsd_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether the ';'-list (NULL: every header) names header. */
static int signs(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	if (!list)
		return 1;
	while ((p = strcasestr(p, name))) {
		if ((p == list || p[-1] == ';') && (p[len] == ';' || p[len] == '\0'))
			return 1;
		p += len ? len : 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char lines[12][512], method[32], url[512];
	struct sigv4_header h[13];
	const char *p = (const char *)data + 1, *signed_list = NULL, *query = NULL;
	struct sigv4_auth a;
	char *auth = NULL, date[17] = "", path[512];
	size_t left, n = 0;
	long long t;
	int flags, status;

	if (!size)
		return 0;
	flags = data[0];
	left = size - 1;
	fx_take_line(&p, &left, method, sizeof(method));
	fx_take_line(&p, &left, url, sizeof(url));
	while (left && n < 12) {
		char *colon;

		fx_take_line(&p, &left, lines[n], sizeof(lines[n]));
		if (!lines[n][0])
			break;
		colon = strchr(lines[n], ':');
		if (!colon)
			continue;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		if (!strcmp(lines[n], "x-fuzz-signed")) {
			signed_list = colon;
			continue;
		}
		h[n].name = lines[n];
		h[n].value = colon;
		if (!strcasecmp(h[n].name, "authorization"))
			sigv4_parse_authorization(h[n].value, &a);
		if (!strcasecmp(h[n].name, "x-amz-date")) {
			snprintf(date, sizeof(date), "%s", h[n].value);
			sigv4_parse_amz_date(h[n].value, &t);
		}
		n++;
	}
	snprintf(path, sizeof(path), "%s", url);
	if (strchr(path, '?')) {
		*strchr(path, '?') = '\0';
		query = strchr(url, '?') + 1;
	}
	if ((flags & 3) && !date[0] && n < 12) {
		/* A current date, so that signed requests get past the clock check. */
		sigv4_amz_date(fx_kmsd()->now(), date);
		h[n].name = "x-amz-date";
		h[n].value = date;
		n++;
	}
	if (flags & 3) {
		enum fx_who who = (flags & 2) ? FX_OUTSIDER : FX_ADMIN;
		struct sigv4_request r = {
			.method = method, .path = path, .query = query, .headers = h, .nheaders = n,
			.signed_headers = signed_list, .body = p, .body_len = left,
		};
		struct sigv4_scope s = { .amz_date = date[0] ? date : "20250101T000000Z", .region = "us-east-1",
					 .service = "kms" };
		char *cr = NULL;

		if (!sigv4_canonical_request(&r, &cr))
			free(cr);
		if (!sigv4_authorization(&r, &s, fx_akid(who), fx_secret(who), strlen(fx_secret(who)), &auth) &&
		    n < 13) {
			h[n].name = "authorization";
			h[n].value = auth;
			n++;
		}
	}
	if ((flags & 4) && auth && n > 1)
		h[0].value = "changed after signing";
	status = fx_handle(method, url, h, n, p, left, NULL, 0);
	/* A signed header changed after signing can never pass. */
	if ((flags & 4) && auth && n > 1 && status == 200 && signs(signed_list, h[0].name))
		abort();
	free(auth);
	return 0;
}
