/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), header-based signing only.
 * The same code computes the signature on the client (kms_client.c) and
 * re-computes it on the server (ebscrypt-kmsd), so both sides agree by
 * construction and the published AWS test vectors cover both.
 *
 * Canonical URI: the raw path is URI-encoded once more (the non-S3 rule);
 * dot segments are not normalised (KMS only ever uses "/").
 */
#ifndef EBSCRYPT_SIGV4_H
#define EBSCRYPT_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_HEX_LEN 64

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path;          /* as sent on the request line, e.g. "/" */
	const char *query;         /* raw query without '?', or NULL */
	const struct sigv4_header *headers;
	size_t nheaders;
	/*
	 * ';'-separated lower-case names to sign, as they will appear in the
	 * Authorization header. NULL: sign every header given, sorted.
	 */
	const char *signed_headers;
	const void *body;
	size_t body_len;
};

struct sigv4_scope {
	const char *amz_date;      /* "20150830T123600Z" */
	const char *region;
	const char *service;
};

/* Parsed "Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
struct sigv4_auth {
	char access_key_id[129];
	char date[9];              /* YYYYMMDD */
	char region[64];
	char service[64];
	char signed_headers[1024];
	char signature[SIGV4_HEX_LEN + 1];
};

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN + 1]);

/* Each returns 0 or -errno; *out is malloc'd. -ENOENT: a signed header is absent. */
int sigv4_canonical_request(const struct sigv4_request *r, char **out);
int sigv4_string_to_sign(const struct sigv4_scope *s, const char *canonical_request, char **out);

/* kSigning = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request". */
int sigv4_signing_key(const char *secret, size_t secret_len, const char *date8,
		      const char *region, const char *service, uint8_t key[32]);

/* Hex signature of r under secret and scope; also the signed header list used. */
int sigv4_sign(const struct sigv4_request *r, const struct sigv4_scope *s,
	       const char *secret, size_t secret_len,
	       char sig[SIGV4_HEX_LEN + 1], char **signed_headers);

/* The whole Authorization header value (malloc'd). */
int sigv4_authorization(const struct sigv4_request *r, const struct sigv4_scope *s,
			const char *access_key_id,
			const char *secret, size_t secret_len, char **out);

/* 0 or -EINVAL when the header is not a well-formed SigV4 Authorization. */
int sigv4_parse_authorization(const char *value, struct sigv4_auth *a);

/* Constant-time comparison of two hex signatures: 1 when equal. */
int sigv4_signature_equal(const char *a, const char *b);

/* Current time as "YYYYMMDDTHHMMSSZ"; 0 or -errno. */
int sigv4_amz_date(long long unix_time, char out[17]);
/* Parses "YYYYMMDDTHHMMSSZ" to Unix time; 0 or -EINVAL. */
int sigv4_parse_amz_date(const char *s, long long *unix_time);

#endif
