// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sigv4.h"
#include "strbuf.h"

#define SIGV4_MAX_SIGNED 64

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN + 1])
{
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, 32, out);
}

static int hmac256(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[32])
{
	unsigned int olen = 32;

	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &olen))
		return -EIO;
	return 0;
}

static int is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

enum slashes { SLASH_ENCODED, SLASH_KEPT };

static void uri_encode(struct strbuf *sb, const char *s, size_t n, enum slashes slashes)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (slashes == SLASH_KEPT && c == '/'))
			sb_addc(sb, (char)c);
		else
			sb_addf(sb, "%%%02X", c);
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode then re-encode, so "a%20b" and "a b" canonicalise alike. */
static void uri_reencode(struct strbuf *sb, const char *s, size_t n)
{
	struct strbuf raw;
	size_t i;

	sb_init(&raw);
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			sb_addc(&raw, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		} else {
			sb_addc(&raw, s[i]);
		}
	}
	if (raw.oom)
		sb->oom = 1;
	else
		uri_encode(sb, raw.buf ? raw.buf : "", raw.len, SLASH_ENCODED);
	sb_free(&raw);
}

struct qparam {
	char *name;
	char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static int canonical_query(struct strbuf *sb, const char *q)
{
	struct qparam *ps = NULL;
	size_t n = 0, cap = 0, i;
	const char *p = q;
	int rc = 0;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		size_t nlen = eq ? (size_t)(eq - p) : plen;
		struct strbuf nb, vb;

		if (plen) {
			if (n == cap) {
				struct qparam *np;

				cap = cap ? cap * 2 : 8;
				np = realloc(ps, cap * sizeof(*ps));
				if (!np) {
					rc = -ENOMEM;
					break;
				}
				ps = np;
			}
			sb_init(&nb);
			sb_init(&vb);
			uri_reencode(&nb, p, nlen);
			if (eq)
				uri_reencode(&vb, eq + 1, plen - nlen - 1);
			if (sb_finish(&nb, &ps[n].name)) {
				sb_free(&vb);
				rc = -ENOMEM;
				break;
			}
			if (sb_finish(&vb, &ps[n].value)) {
				free(ps[n].name);
				rc = -ENOMEM;
				break;
			}
			n++;
		}
		p = amp ? amp + 1 : NULL;
	}
	if (!rc) {
		if (n)
			qsort(ps, n, sizeof(*ps), qparam_cmp);
		for (i = 0; i < n; i++) {
			if (i)
				sb_addc(sb, '&');
			sb_adds(sb, ps[i].name);
			sb_addc(sb, '=');
			sb_adds(sb, ps[i].value);
		}
	}
	for (i = 0; i < n; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	free(ps);
	return rc;
}

/* Trim and collapse runs of spaces/tabs to one space, as the spec asks. */
static void add_header_value(struct strbuf *sb, const char *v)
{
	int pending_space = 0, started = 0;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			pending_space = started;
			continue;
		}
		if (pending_space)
			sb_addc(sb, ' ');
		pending_space = 0;
		started = 1;
		sb_addc(sb, *v);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Signed header names: given list, or every header's name, sorted and unique. */
static int signed_names(const struct sigv4_request *r, char *store, size_t store_len,
			char **names, size_t *count)
{
	size_t n = 0, i, j, o = 0;

	if (r->signed_headers) {
		size_t len = strlen(r->signed_headers);
		char *p, *save = NULL;

		if (!len || len >= store_len)
			return -EINVAL;
		memcpy(store, r->signed_headers, len + 1);
		for (p = strtok_r(store, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
			if (n == SIGV4_MAX_SIGNED)
				return -E2BIG;
			names[n++] = p;
		}
		if (!n)
			return -EINVAL;
		*count = n;
		return 0;
	}
	for (i = 0; i < r->nheaders; i++) {
		size_t len = strlen(r->headers[i].name);
		int dup = 0;

		if (o + len + 1 > store_len)
			return -E2BIG;
		for (j = 0; j < len; j++)
			store[o + j] = (char)tolower((unsigned char)r->headers[i].name[j]);
		store[o + len] = '\0';
		for (j = 0; j < n; j++)
			if (!strcmp(names[j], store + o))
				dup = 1;
		if (dup)
			continue;
		if (n == SIGV4_MAX_SIGNED)
			return -E2BIG;
		names[n++] = store + o;
		o += len + 1;
	}
	if (!n)
		return -EINVAL;
	qsort(names, n, sizeof(*names), cmp_str);
	*count = n;
	return 0;
}

int sigv4_canonical_request(const struct sigv4_request *r, char **out)
{
	char store[2048], *names[SIGV4_MAX_SIGNED];
	char hash[SIGV4_HEX_LEN + 1];
	size_t n, i, j;
	struct strbuf sb;
	int rc;

	rc = signed_names(r, store, sizeof(store), names, &n);
	if (rc)
		return rc;
	sb_init(&sb);
	sb_adds(&sb, r->method);
	sb_addc(&sb, '\n');
	if (!r->path || !*r->path)
		sb_addc(&sb, '/');
	else
		uri_encode(&sb, r->path, strlen(r->path), SLASH_KEPT);
	sb_addc(&sb, '\n');
	rc = canonical_query(&sb, r->query);
	if (rc) {
		sb_free(&sb);
		return rc;
	}
	sb_addc(&sb, '\n');
	for (i = 0; i < n; i++) {
		int found = 0;

		sb_adds(&sb, names[i]);
		sb_addc(&sb, ':');
		for (j = 0; j < r->nheaders; j++) {
			if (strcasecmp(r->headers[j].name, names[i]))
				continue;
			if (found)
				sb_addc(&sb, ',');
			add_header_value(&sb, r->headers[j].value);
			found = 1;
		}
		if (!found) {
			sb_free(&sb);
			return -ENOENT;
		}
		sb_addc(&sb, '\n');
	}
	sb_addc(&sb, '\n');
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(&sb, ';');
		sb_adds(&sb, names[i]);
	}
	sb_addc(&sb, '\n');
	sigv4_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, hash);
	sb_adds(&sb, hash);
	return sb_finish(&sb, out);
}

int sigv4_string_to_sign(const struct sigv4_scope *s, const char *canonical_request, char **out)
{
	char hash[SIGV4_HEX_LEN + 1];
	struct strbuf sb;

	if (strlen(s->amz_date) != 16)
		return -EINVAL;
	sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
	sb_init(&sb);
	sb_addf(&sb, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s", SIGV4_ALGORITHM,
		s->amz_date, s->amz_date, s->region, s->service, hash);
	return sb_finish(&sb, out);
}

int sigv4_signing_key(const char *secret, size_t secret_len, const char *date8,
		      const char *region, const char *service, uint8_t key[32])
{
	uint8_t k[32];
	char seed[4 + 256];
	int rc;

	if (secret_len > 256)
		return -EINVAL;
	memcpy(seed, "AWS4", 4);
	memcpy(seed + 4, secret, secret_len);
	rc = hmac256(seed, 4 + secret_len, date8, 8, k);
	if (!rc)
		rc = hmac256(k, 32, region, strlen(region), k);
	if (!rc)
		rc = hmac256(k, 32, service, strlen(service), k);
	if (!rc)
		rc = hmac256(k, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int sigv4_sign(const struct sigv4_request *r, const struct sigv4_scope *s,
	       const char *secret, size_t secret_len,
	       char sig[SIGV4_HEX_LEN + 1], char **signed_headers)
{
	char *creq = NULL, *sts = NULL, *nl;
	uint8_t key[32], mac[32];
	int rc;

	rc = sigv4_canonical_request(r, &creq);
	if (rc)
		return rc;
	rc = sigv4_string_to_sign(s, creq, &sts);
	if (!rc)
		rc = sigv4_signing_key(secret, secret_len, s->amz_date, s->region, s->service, key);
	if (!rc)
		rc = hmac256(key, 32, sts, strlen(sts), mac);
	if (!rc)
		hex_encode(mac, 32, sig);
	if (!rc && signed_headers) {
		/* The signed header list is the canonical request's second-to-last line. */
		char *end = strrchr(creq, '\n');

		*end = '\0';
		nl = strrchr(creq, '\n');
		*signed_headers = strdup(nl + 1);
		if (!*signed_headers)
			rc = -ENOMEM;
	}
	OPENSSL_cleanse(key, sizeof(key));
	free(creq);
	free(sts);
	return rc;
}

int sigv4_authorization(const struct sigv4_request *r, const struct sigv4_scope *s,
			const char *access_key_id,
			const char *secret, size_t secret_len, char **out)
{
	char sig[SIGV4_HEX_LEN + 1], *sh = NULL;
	struct strbuf sb;
	int rc;

	rc = sigv4_sign(r, s, secret, secret_len, sig, &sh);
	if (rc)
		return rc;
	sb_init(&sb);
	sb_addf(&sb, "%s Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		SIGV4_ALGORITHM, access_key_id, s->amz_date, s->region, s->service, sh, sig);
	free(sh);
	return sb_finish(&sb, out);
}

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
	if (!len || len >= cap)
		return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

static int parse_credential(const char *v, size_t len, struct sigv4_auth *a)
{
	const char *parts[5];
	size_t plen[5];
	size_t i, k = 0, start = 0;

	for (i = 0; i <= len; i++) {
		if (i == len || v[i] == '/') {
			if (k == 5)
				return -EINVAL;
			parts[k] = v + start;
			plen[k++] = i - start;
			start = i + 1;
		}
	}
	if (k != 5 || plen[4] != 12 || memcmp(parts[4], "aws4_request", 12) || plen[1] != 8)
		return -EINVAL;
	for (i = 0; i < 8; i++)
		if (!isdigit((unsigned char)parts[1][i]))
			return -EINVAL;
	if (copy_field(a->access_key_id, sizeof(a->access_key_id), parts[0], plen[0]) ||
	    copy_field(a->date, sizeof(a->date), parts[1], plen[1]) ||
	    copy_field(a->region, sizeof(a->region), parts[2], plen[2]) ||
	    copy_field(a->service, sizeof(a->service), parts[3], plen[3]))
		return -EINVAL;
	return 0;
}

int sigv4_parse_authorization(const char *value, struct sigv4_auth *a)
{
	size_t alen = strlen(SIGV4_ALGORITHM), i;
	const char *p = value;
	int have = 0;

	memset(a, 0, sizeof(*a));
	if (!value || strncmp(p, SIGV4_ALGORITHM, alen) || p[alen] != ' ')
		return -EINVAL;
	p += alen;
	while (*p) {
		const char *comma, *eq;
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		while (len && p[len - 1] == ' ')
			len--;
		eq = memchr(p, '=', len);
		if (!eq)
			return -EINVAL;
		if ((size_t)(eq - p) == 10 && !memcmp(p, "Credential", 10)) {
			if (have & 1 || parse_credential(eq + 1, len - 11, a))
				return -EINVAL;
			have |= 1;
		} else if ((size_t)(eq - p) == 13 && !memcmp(p, "SignedHeaders", 13)) {
			if (have & 2 || copy_field(a->signed_headers, sizeof(a->signed_headers),
						   eq + 1, len - 14))
				return -EINVAL;
			have |= 2;
		} else if ((size_t)(eq - p) == 9 && !memcmp(p, "Signature", 9)) {
			if (have & 4 || len - 10 != SIGV4_HEX_LEN ||
			    copy_field(a->signature, sizeof(a->signature), eq + 1, len - 10))
				return -EINVAL;
			for (i = 0; i < SIGV4_HEX_LEN; i++)
				if (!isxdigit((unsigned char)a->signature[i]))
					return -EINVAL;
			have |= 4;
		} else {
			return -EINVAL;
		}
		p += len;
	}
	if (have != 7)
		return -EINVAL;
	/* Signed header names must be lower case tokens; refuse anything else early. */
	for (i = 0; a->signed_headers[i]; i++) {
		unsigned char c = (unsigned char)a->signed_headers[i];

		if (!(islower(c) || isdigit(c) || c == '-' || c == ';' || c == '_' || c == '.'))
			return -EINVAL;
	}
	return 0;
}

int sigv4_signature_equal(const char *a, const char *b)
{
	if (strlen(a) != SIGV4_HEX_LEN || strlen(b) != SIGV4_HEX_LEN)
		return 0;
	return CRYPTO_memcmp(a, b, SIGV4_HEX_LEN) == 0;
}

int sigv4_amz_date(long long unix_time, char out[17])
{
	time_t t = (time_t)unix_time;
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	return 0;
}

int sigv4_parse_amz_date(const char *s, long long *unix_time)
{
	struct tm tm;
	const char *end;

	if (!s || strlen(s) != 16)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	*unix_time = (long long)timegm(&tm);
	return 0;
}
