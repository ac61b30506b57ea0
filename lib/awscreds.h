/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The AWS credential chain, as the AWS SDKs resolve it, for the KMS client
 * (ebscrypt-agent, ebscryptctl). The first source that has credentials
 * wins, and later refreshes come from that same source:
 *
 *   1. explicit ones from the program's config file;
 *   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      optionally AWS_SESSION_TOKEN;
 *   3. the shared files (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials, and AWS_CONFIG_FILE, default ~/.aws/config),
 *      profile AWS_PROFILE (or the configured one, or "default"): static
 *      keys, or a credential_process whose JSON (Version 1) output is read;
 *   4. the EC2 instance metadata service with IMDSv2 session tokens
 *      (AWS_EC2_METADATA_SERVICE_ENDPOINT, default http://169.254.169.254;
 *      AWS_EC2_METADATA_DISABLED=true skips it).
 *
 * Temporary credentials (an expiry) are fetched again before they expire:
 * when less than a quarter of their lifetime, and at most five minutes, is
 * left. Secrets and session tokens live in locked memory (secmem) and are
 * wiped when released. Every function returns 0 or -errno.
 */
#ifndef EBSCRYPT_AWSCREDS_H
#define EBSCRYPT_AWSCREDS_H

#include <stddef.h>

#define AWS_IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"

struct aws_credentials {
	char access_key_id[129];
	char *secret;             /* secmem, NUL-terminated */
	size_t secret_len;
	char *session_token;      /* secmem, NUL-terminated; NULL for long-lived keys */
	size_t token_len;
	long long expiration;     /* Unix seconds; 0: never */
	long long obtained;       /* Unix seconds */
};

struct aws_chain_config {
	const char *access_key_id;       /* explicit: both or neither */
	const char *secret_access_key;
	const char *session_token;       /* explicit, optional */
	const char *profile;             /* before AWS_PROFILE; NULL: AWS_PROFILE or "default" */
	const char *imds_endpoint;       /* before AWS_EC2_METADATA_SERVICE_ENDPOINT */
	long timeout_ms;                 /* for IMDS and credential_process; 0: 5000 */
};

struct aws_cred_provider;

/* Copies the config; finds no credentials yet (the first get does). */
int aws_cred_provider_new(const struct aws_chain_config *cfg, struct aws_cred_provider **out);
void aws_cred_provider_free(struct aws_cred_provider *p);

/*
 * Credentials valid at `now` (Unix seconds), fetched again first when they
 * are due for a refresh. *out is a copy the caller releases with
 * aws_credentials_clear(). -ENOKEY: no source has credentials; -EKEYEXPIRED:
 * they expired and could not be refreshed; why says what was tried.
 */
int aws_cred_provider_get(struct aws_cred_provider *p, long long now,
			  struct aws_credentials *out, char *why, size_t whylen);
/* Forgets the current credentials, so the next get fetches new ones. */
void aws_cred_provider_invalidate(struct aws_cred_provider *p);
/* Where the credentials came from: "config", "environment", "profile NAME", ... */
const char *aws_cred_provider_source(const struct aws_cred_provider *p);

void aws_credentials_clear(struct aws_credentials *c);
int aws_credentials_copy(const struct aws_credentials *from, struct aws_credentials *to);
/* From strings (secret and token copied into secmem). */
int aws_credentials_set(struct aws_credentials *c, const char *akid, const char *secret,
			size_t secret_len, const char *token, size_t token_len, long long expiration);

/*
 * credential_process output, and IMDS's security-credentials document: one
 * JSON object in buf[0..len), which is modified (parsed in place, so the
 * secret is never copied outside locked memory). process: "Version": 1
 * required, names SessionToken; IMDS: "Code": "Success", names Token.
 */
enum aws_creds_doc { AWS_DOC_PROCESS, AWS_DOC_IMDS };
int aws_creds_parse_json(char *buf, size_t len, enum aws_creds_doc doc,
			 struct aws_credentials *out, char *why, size_t whylen);

/* "2026-12-01T13:00:00Z" (also with fractional seconds or +00:00) to Unix time. */
int aws_parse_iso8601(const char *s, size_t len, long long *t);

#endif
