/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client for the AWS KMS JSON 1.1 protocol (ebscrypt-kmsd or the real AWS
 * KMS): libcurl transport, SigV4 signing, retries with backoff under one
 * deadline. Used by ebscrypt-agent (Decrypt) and ebscryptctl (everything
 * else). No call ever sees a plaintext DEK except kms_decrypt(), which writes
 * it into memory the caller provides (secmem) and wipes every transient copy
 * (receive buffer, JSON strings, base64 text).
 *
 * Every function returns 0 or -errno. A KMS error reply returns -EREMOTEIO
 * with err->type (the AWS "__type", e.g. "DisabledException") and
 * err->message filled; a transport failure returns -ECONNREFUSED,
 * -ETIMEDOUT, -EHOSTUNREACH, -EPROTO (malformed reply) etc. with
 * err->message saying what happened.
 */
#ifndef EBSCRYPT_KMS_CLIENT_H
#define EBSCRYPT_KMS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct kms_client;

/*
 * url may list several endpoints (of one service, sharing one key store),
 * separated by white space or commas: a call goes to the one that last
 * answered and fails over to the next, within the call's deadline, on a
 * transport error or a 5xx reply, never on a refusal (a 4xx KMS error).
 * Credentials: access_key_id and secret_access_key (and session_token)
 * when given, else the AWS credential chain (awscreds.h) with profile and
 * imds_endpoint.
 */
struct kms_endpoint {
	const char *url;          /* "http://127.0.0.1:8700/" or "https://kms.eu-west-1.amazonaws.com/" */
	const char *unix_socket;  /* optional: HTTP over this Unix socket instead of TCP */
	const char *ca_file;      /* optional: CA bundle for HTTPS */
	const char *region;       /* SigV4 region, e.g. "us-east-1" */
	const char *access_key_id;
	const char *secret_access_key; /* copied into locked memory by kms_client_new() */
	const char *session_token;     /* optional, with the two above */
	const char *profile;           /* the chain's profile (else AWS_PROFILE or "default") */
	const char *imds_endpoint;     /* the chain's instance metadata service */
	long timeout_ms;          /* overall deadline per call, retries included */
	int max_retries;          /* retries for throttling/5xx/transport errors */
	const char *client_cert;  /* optional: PEM certificate for mutual TLS */
	const char *client_key;   /* optional: its unencrypted PEM private key */
	size_t max_reply_bytes;   /* largest reply taken (0: 1 MiB); a larger one is -EPROTO */
};

#define KMS_MAX_ENDPOINTS 16

struct kms_error {
	int http_status;          /* 0 for transport errors */
	char type[96];            /* AWS __type, "" for transport errors */
	char message[512];
};

/* Encryption context: an unordered list of string pairs. */
struct kms_context_pair {
	const char *key;
	const char *value;
};

struct kms_context {
	const struct kms_context_pair *pairs;
	size_t count;
};

struct kms_key_info {
	char key_id[64];          /* UUID */
	char arn[256];
	char key_state[32];       /* Enabled, Disabled, PendingDeletion, ... */
	int enabled;
};

/*
 * -EPROTONOSUPPORT: plain http:// to a host that is not loopback (SigV4
 * keeps the secret off the wire, but not the Decrypt reply's plaintext);
 * use https://, or HTTP over a Unix socket.
 */
int kms_client_new(const struct kms_endpoint *ep, struct kms_client **out);
/* Whether a URL's host is a loopback name or address (the only place plain HTTP may go). */
int kms_url_host_is_loopback(const char *host);
void kms_client_free(struct kms_client *c);
/* The URL the last call used (or will try first). */
const char *kms_client_current_url(const struct kms_client *c);
/* Where the credentials came from ("config", "instance metadata (...)", ...). */
const char *kms_client_credentials_source(const struct kms_client *c);

/* GenerateDataKeyWithoutPlaintext, KeySpec AES_256 unless nbytes != 0. */
int kms_generate_data_key_without_plaintext(struct kms_client *c,
		const char *key_id, const struct kms_context *ctx, size_t nbytes,
		uint8_t **blob, size_t *blob_len, char **key_arn,
		struct kms_error *err);

/*
 * Decrypt into plain (caller's locked memory, plain_cap bytes). key_id may
 * be NULL (the blob names its key). *key_arn (optional) gets the key's ARN.
 */
int kms_decrypt(struct kms_client *c, const char *key_id,
		const uint8_t *blob, size_t blob_len,
		const struct kms_context *ctx,
		uint8_t *plain, size_t plain_cap, size_t *plain_len,
		char **key_arn, struct kms_error *err);

/* ReEncrypt: the plaintext never leaves the service. */
int kms_reencrypt(struct kms_client *c,
		const uint8_t *blob, size_t blob_len,
		const struct kms_context *src_ctx,
		const char *dst_key_id, const struct kms_context *dst_ctx,
		uint8_t **new_blob, size_t *new_blob_len, char **dst_key_arn,
		struct kms_error *err);

int kms_describe_key(struct kms_client *c, const char *key_id,
		     struct kms_key_info *info, struct kms_error *err);

/*
 * Any operation by name ("CreateKey", "ListAliases", ...): *resp is the
 * parsed reply (caller puts it). For ebscryptctl's `kms` convenience commands.
 */
int kms_call(struct kms_client *c, const char *operation,
	     struct json_object *req, struct json_object **resp,
	     struct kms_error *err);

#endif
