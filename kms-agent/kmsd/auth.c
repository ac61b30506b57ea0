// SPDX-License-Identifier: GPL-2.0
/*
 * SigV4 verification: the request is re-signed with the secret of the
 * access key it names, over the headers it says it signed, and the two
 * signatures are compared in constant time. Host and the date must be
 * among the signed headers, or the signature would not bind them; so must
 * Content-Type and every x-amz-* header that is present (X-Amz-Target
 * names the operation: an unsigned one would let a captured DescribeKey
 * be replayed as DisableKey). The query string, when there is one, is part
 * of the canonical request. With service_host_name configured, the signed
 * Host must name this service, so a request signed for another endpoint
 * that shares the credentials is not accepted here. With temporary
 * credentials the secret is derived from the session token (sessions.c),
 * which is an x-amz-* header and so signed as well.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kmsd.h"
#include "secmem.h"

static int has_signed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && *p) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);

		if (len == n && !memcmp(p, name, n))
			return 1;
		p = semi ? semi + 1 : NULL;
	}
	return 0;
}

/* The first header that must be signed and is not, or NULL. */
static const char *unsigned_header(const struct http_header_list *hl, const char *signed_list)
{
	char lower[128];
	size_t i, j;

	for (i = 0; i < hl->n; i++) {
		const char *name = hl->h[i].name;

		if (strncasecmp(name, "x-amz-", 6) && strcasecmp(name, "content-type"))
			continue;
		for (j = 0; name[j] && j < sizeof(lower) - 1; j++)
			lower[j] = (char)tolower((unsigned char)name[j]);
		lower[j] = '\0';
		if (name[j] || !has_signed(signed_list, lower))
			return name;
	}
	return NULL;
}

/* Whether the Host header, without its port, is the configured name. */
static int host_is(const char *host, const char *want)
{
	size_t n = strlen(want);

	if (!host || strncasecmp(host, want, n))
		return 0;
	return !host[n] || (host[n] == ':' && host[n + 1] && strspn(host + n + 1, "0123456789") ==
			    strlen(host + n + 1));
}

/*
 * Temporary credentials: the token must be one this root key issued, for
 * this access key id, unexpired, for a principal still configured. Every
 * refusal but expiry reads as AWS's "invalid token", telling a forger
 * nothing.
 */
static int auth_session(struct kreq *req, const char *token, const char *akid,
			const struct principal **p, char *secret)
{
	struct session_claims cl;
	long long now = req->k->now();

	if (session_open(req->k->root_key, token, &cl, secret) || strcmp(cl.access_key_id, akid) ||
	    !(*p = config_find_principal(req->k->cfg, cl.principal)))
		return kfail(req, "UnrecognizedClientException",
			     "The security token included in the request is invalid.");
	snprintf(req->session_access_key_id, sizeof(req->session_access_key_id), "%s",
		 cl.access_key_id);
	req->access_key_id = req->session_access_key_id;
	if (now >= cl.expiration)
		return kfail(req, "ExpiredTokenException",
			     "The security token included in the request is expired");
	return 0;
}

static int auth_check(struct kreq *req, const char *method, const char *path, const char *query,
		      const struct http_header_list *hl, const char *body, size_t body_len,
		      char *secret)
{
	const struct kmsd_config *cfg = req->k->cfg;
	const char *authz = http_header_get(hl, "Authorization"), *date = http_header_get(hl, "X-Amz-Date");
	const char *token = http_header_get(hl, "X-Amz-Security-Token");
	size_t secret_len = SESSION_SECRET_LEN;
	const struct principal *p;
	const char *unsigned_name;
	struct sigv4_request sr;
	struct sigv4_scope sc;
	struct sigv4_auth a;
	char sig[SIGV4_HEX_LEN + 1];
	long long t, now;
	int rc;

	if (!authz)
		return kfail(req, "MissingAuthenticationTokenException",
			     "Request is missing Authentication Token");
	if (sigv4_parse_authorization(authz, &a))
		return kfail(req, "IncompleteSignatureException",
			     "the Authorization header is not a well-formed AWS4-HMAC-SHA256 signature");
	req->access_key_id = NULL;
	if (token) {
		rc = auth_session(req, token, a.access_key_id, &p, secret);
		if (rc)
			return rc;
	} else {
		p = config_find_access_key(cfg, a.access_key_id);
		if (!p)
			return kfail(req, "UnrecognizedClientException",
				     "The security token included in the request is invalid.");
		req->access_key_id = p->access_key_id;
		memcpy(secret, p->secret, p->secret_len);
		secret_len = p->secret_len;
	}
	if (token && !has_signed(a.signed_headers, "x-amz-security-token"))
		return kfail(req, "IncompleteSignatureException",
			     "the x-amz-security-token header must be signed");
	if (!date || sigv4_parse_amz_date(date, &t))
		return kfail(req, "IncompleteSignatureException",
			     "X-Amz-Date header is missing or malformed");
	if (!has_signed(a.signed_headers, "host") || !has_signed(a.signed_headers, "x-amz-date"))
		return kfail(req, "IncompleteSignatureException",
			     "the host and x-amz-date headers must be signed");
	unsigned_name = unsigned_header(hl, a.signed_headers);
	if (unsigned_name)
		return kfail(req, "IncompleteSignatureException",
			     "the %s header is present but not signed: Content-Type and every "
			     "x-amz-* header must be among the SignedHeaders", unsigned_name);
	if (cfg->service_host_name && !host_is(http_header_get(hl, "Host"), cfg->service_host_name))
		return kfail(req, "InvalidSignatureException",
			     "the request is signed for another host; this service is %s",
			     cfg->service_host_name);
	if (strncmp(date, a.date, 8) || strcmp(a.service, "kms") || strcmp(a.region, cfg->region))
		return kfail(req, "InvalidSignatureException",
			     "Credential should be scoped to a valid region, service 'kms' and the request date");
	now = req->k->now();
	if (t > now + cfg->max_skew || t < now - cfg->max_skew)
		return kfail(req, "InvalidSignatureException",
			     "Signature expired: %s is now earlier or later than the allowed %u seconds of skew",
			     date, cfg->max_skew);
	sr = (struct sigv4_request){ .method = method, .path = path, .query = query,
				     .headers = hl->h, .nheaders = hl->n,
				     .signed_headers = a.signed_headers,
				     .body = body, .body_len = body_len };
	sc = (struct sigv4_scope){ date, a.region, a.service };
	rc = sigv4_sign(&sr, &sc, secret, secret_len, sig, NULL);
	if (rc || !sigv4_signature_equal(sig, a.signature))
		return kfail(req, "InvalidSignatureException",
			     "The request signature we calculated does not match the signature you provided.");
	req->who = p;
	return 0;
}

int auth_verify(struct kreq *req, const char *method, const char *path, const char *query,
		const struct http_header_list *hl, const char *body, size_t body_len)
{
	/* The secret of the access key named, long-lived or derived, for this request only. */
	_cleanup_secmem_ char *secret = secmem_alloc(257);

	if (!secret)
		return kfail(req, "KMSInternalException", "out of locked memory");
	return auth_check(req, method, path, query, hl, body, body_len, secret);
}
