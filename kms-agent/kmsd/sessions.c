// SPDX-License-Identifier: GPL-2.0
/*
 * Temporary credentials, as STS GetSessionToken gives them: an access key
 * id ("ASIA..."), a secret access key, a session token and an expiry, all
 * standing for one configured principal.
 *
 * Stateless on purpose: the token carries the principal, the access key id
 * and the expiry, authenticated by an HMAC under a key derived from the
 * root key, and the secret is derived from the token the same way. So any
 * instance that has the root key verifies any token, nothing is written to
 * the store when credentials are minted, and the store alone (a backup, a
 * stolen database) can mint nothing. A token is revoked by removing its
 * principal from the config; otherwise it lives until it expires, which
 * is why lifetimes are bounded (SESSION_MAX_S).
 *
 * Token bytes, base64 on the wire:
 *   "ESTK" | version 1 | issued (8, big-endian) | expires (8) |
 *   akid length (1) | akid | principal name length (1) | name | HMAC-SHA256 (32)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "kmsd.h"
#include "secmem.h"

#define TOKEN_MAGIC "ESTK"
#define TOKEN_VERSION 1
#define TOKEN_MAC_LEN 32
#define TOKEN_MAX_BYTES (4 + 1 + 8 + 8 + 1 + 32 + 1 + 255 + TOKEN_MAC_LEN)

/* A key for one purpose, derived from the root key. */
static int derive(const uint8_t *root_key, const char *purpose, uint8_t out[32])
{
	unsigned int len = 32;

	return HMAC(EVP_sha256(), root_key, 32, (const uint8_t *)purpose, strlen(purpose), out, &len) ?
	       0 : -EIO;
}

static int mac(const uint8_t *root_key, const char *purpose, const uint8_t *msg, size_t len,
	       uint8_t out[32])
{
	uint8_t k[32];
	unsigned int olen = 32;
	int rc = derive(root_key, purpose, k);

	if (!rc && !HMAC(EVP_sha256(), k, sizeof(k), msg, len, out, &olen))
		rc = -EIO;
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

static void put64(uint8_t *p, long long v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)(v & 0xff);
}

static long long get64(const uint8_t *p)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (long long)v;
}

/* The secret: 40 base64 characters of an HMAC over the whole token. */
static int derive_secret(const uint8_t *root_key, const uint8_t *tok, size_t len,
			 char secret[SESSION_SECRET_LEN + 1])
{
	uint8_t m[32];
	char b64[48];
	int rc = mac(root_key, "ebscrypt-kmsd session secret v1", tok, len, m);

	if (!rc) {
		b64_encode_to(m, 30, b64);
		memcpy(secret, b64, SESSION_SECRET_LEN);
		secret[SESSION_SECRET_LEN] = '\0';
	}
	OPENSSL_cleanse(m, sizeof(m));
	OPENSSL_cleanse(b64, sizeof(b64));
	return rc;
}

int session_issue(const uint8_t *root_key, const char *principal, long long now,
		  long long duration, struct session_creds *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t tok[TOKEN_MAX_BYTES], r[16];
	size_t nlen = strlen(principal), n = 0, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!nlen || nlen > 255 || duration < SESSION_MIN_S || duration > SESSION_MAX_S)
		return -EINVAL;
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	memcpy(out->access_key_id, "ASIA", 4);
	for (i = 0; i < 16; i++)
		out->access_key_id[4 + i] = alphabet[r[i] & 31];
	out->access_key_id[20] = '\0';
	out->expiration = now + duration;

	memcpy(tok, TOKEN_MAGIC, 4);
	n = 4;
	tok[n++] = TOKEN_VERSION;
	put64(tok + n, now);
	n += 8;
	put64(tok + n, out->expiration);
	n += 8;
	tok[n++] = 20;
	memcpy(tok + n, out->access_key_id, 20);
	n += 20;
	tok[n++] = (uint8_t)nlen;
	memcpy(tok + n, principal, nlen);
	n += nlen;
	rc = mac(root_key, "ebscrypt-kmsd session token v1", tok, n, tok + n);
	if (rc)
		return rc;
	n += TOKEN_MAC_LEN;
	out->secret = secmem_alloc(SESSION_SECRET_LEN + 1);
	if (!out->secret)
		return -ENOMEM;
	rc = derive_secret(root_key, tok, n, out->secret);
	if (!rc)
		rc = b64_encode(tok, n, &out->token);
	if (rc)
		session_creds_free(out);
	return rc;
}

void session_creds_free(struct session_creds *c)
{
	secmem_free(c->secret);
	free(c->token);
	memset(c, 0, sizeof(*c));
}

int session_open(const uint8_t *root_key, const char *token, struct session_claims *cl,
		 char *secret)
{
	uint8_t tok[TOKEN_MAX_BYTES], m[TOKEN_MAC_LEN];
	size_t len = 0, n, alen, plen;
	int rc;

	memset(cl, 0, sizeof(*cl));
	if (strlen(token) > b64_encoded_len(sizeof(tok)) ||
	    b64_decode(token, strlen(token), tok, sizeof(tok), &len))
		return -EINVAL;
	if (len < 4 + 1 + 16 + 1 + 1 + TOKEN_MAC_LEN || memcmp(tok, TOKEN_MAGIC, 4) ||
	    tok[4] != TOKEN_VERSION)
		return -EINVAL;
	n = 5 + 16;
	alen = tok[n++];
	if (!alen || alen >= sizeof(cl->access_key_id) || n + alen + 1 + TOKEN_MAC_LEN > len)
		return -EINVAL;
	n += alen;
	plen = tok[n++];
	if (!plen || n + plen + TOKEN_MAC_LEN != len)
		return -EINVAL;
	rc = mac(root_key, "ebscrypt-kmsd session token v1", tok, len - TOKEN_MAC_LEN, m);
	if (rc)
		return rc;
	if (CRYPTO_memcmp(m, tok + len - TOKEN_MAC_LEN, TOKEN_MAC_LEN))
		return -EINVAL;
	/* Authentic from here on: the fields are as session_issue() wrote them. */
	cl->issued = get64(tok + 5);
	cl->expiration = get64(tok + 13);
	memcpy(cl->access_key_id, tok + 22, alen);
	memcpy(cl->principal, tok + 22 + alen + 1, plen);
	return derive_secret(root_key, tok, len, secret);
}
