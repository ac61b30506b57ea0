// SPDX-License-Identifier: GPL-2.0
/*
 * AWS KMS JSON 1.1 client. See kms_client.h for the contract.
 *
 * Secrets: the secret access key lives in secmem for the client's lifetime.
 * Decrypt replies are received into secmem and picked apart in place
 * (secjson_member) instead of by json-c, which copies every string into
 * the heap; the Plaintext is base64-decoded straight into the caller's
 * buffer and the reply is wiped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "awscreds.h"
#include "base64.h"
#include "kms_client.h"
#include "secjson.h"
#include "secmem.h"
#include "sigv4.h"
#include "strbuf.h"

#define KMS_MAX_REPLY (1u << 20)
#define KMS_SERVICE "kms"

struct kms_url {
	char *url;
	char *host;            /* Host header value, as signed */
	char *path;
};

struct kms_client {
	pthread_mutex_t lock;
	CURL *curl;        /* this attempt's transfer; a new one for each */
	CURLSH *share;     /* the connections the transfers keep alive */
	struct kms_url eps[KMS_MAX_ENDPOINTS];
	size_t neps;
	size_t cur;            /* the endpoint that last answered */
	char *unix_socket;
	char *ca_file;
	char *client_cert;
	char *client_key;
	char *region;
	struct aws_cred_provider *creds;
	long timeout_ms;
	int max_retries;
	size_t max_reply;
};

/* A reply as curl receives it; locked (sb_init_locked) when it may hold a plaintext. */
struct rbuf {
	struct strbuf sb;
	size_t max;
	int overflow;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void rbuf_release(struct rbuf *b)
{
	sb_wipe_free(&b->sb);
}

static size_t rbuf_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct rbuf *b = arg;
	size_t n = size * nmemb;

	if (b->sb.len + n + 1 > b->max) {
		b->overflow = 1;
		return 0;
	}
	sb_add(&b->sb, data, n);
	/* curl's own receive buffer held these bytes too; clear it for the next read. */
	OPENSSL_cleanse(data, n);
	return b->sb.oom ? 0 : n;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(struct kms_error *err, int status, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_err(struct kms_error *err, int status, const char *type, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->http_status = status;
	snprintf(err->type, sizeof(err->type), "%s", type ? type : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

int kms_url_host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	char h[64];
	size_t n;

	if (!host)
		return 0;
	n = strlen(host);
	/* curl hands IPv6 literals back in brackets. */
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(h))
			return 0;
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
		return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (!strcasecmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* One endpoint URL: its Host header and path, which are signed. */
static int parse_url(const char *url, int plain_ok, struct kms_url *e)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	CURLU *u = curl_url();
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https")))
		goto out;
	rc = -EPROTONOSUPPORT;
	if (!strcmp(scheme, "http") && !plain_ok && !kms_url_host_is_loopback(host))
		goto out;
	rc = -ENOMEM;
	/* The Host header is signed, so we set it ourselves rather than let curl pick. */
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port) {
		if (asprintf(&e->host, "%s:%s", host, port) < 0)
			e->host = NULL;
	} else {
		e->host = strdup(host);
	}
	e->path = strdup(path && *path ? path : "/");
	e->url = strdup(url);
	if (e->host && e->path && e->url) {
		rc = 0;
	} else {
		free(e->host);
		free(e->path);
		free(e->url);
		memset(e, 0, sizeof(*e));
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* Splits "https://a/ https://b/" (white space or commas) into c->eps. */
static int parse_urls(struct kms_client *c, const char *list, int plain_ok)
{
	const char *p = list;

	while (*p) {
		size_t n;
		char *one;
		int rc;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (!n)
			break;
		if (c->neps == KMS_MAX_ENDPOINTS)
			return -E2BIG;
		one = strndup(p, n);
		if (!one)
			return -ENOMEM;
		rc = parse_url(one, plain_ok, &c->eps[c->neps]);
		free(one);
		if (rc)
			return rc;
		c->neps++;
		p += n;
	}
	return c->neps ? 0 : -EINVAL;
}

int kms_client_new(const struct kms_endpoint *ep, struct kms_client **out)
{
	struct aws_chain_config chain;
	struct kms_client *c;
	int rc = -ENOMEM;

	if (!ep || !ep->url || !ep->region || (!ep->access_key_id) != (!ep->secret_access_key))
		return -EINVAL;
	if (ep->secret_access_key &&
	    (!*ep->secret_access_key || strlen(ep->secret_access_key) > 256))
		return -EINVAL;
	pthread_once(&curl_once, curl_init_once);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->unix_socket = xstrdup(ep->unix_socket);
	c->ca_file = xstrdup(ep->ca_file);
	c->client_cert = xstrdup(ep->client_cert);
	c->client_key = xstrdup(ep->client_key);
	c->region = xstrdup(ep->region);
	c->timeout_ms = ep->timeout_ms > 0 ? ep->timeout_ms : 10000;
	c->max_retries = ep->max_retries >= 0 ? ep->max_retries : 0;
	c->max_reply = ep->max_reply_bytes ? ep->max_reply_bytes : KMS_MAX_REPLY;
	if (!c->region || (ep->unix_socket && !c->unix_socket) || (ep->ca_file && !c->ca_file) ||
	    (ep->client_cert && !c->client_cert) || (ep->client_key && !c->client_key))
		goto fail;
	rc = parse_urls(c, ep->url, c->unix_socket != NULL);
	if (rc)
		goto fail;
	rc = -EINVAL;
	if ((!ep->client_cert) != (!ep->client_key))
		goto fail;
	memset(&chain, 0, sizeof(chain));
	chain.access_key_id = ep->access_key_id;
	chain.secret_access_key = ep->secret_access_key;
	chain.session_token = ep->session_token;
	chain.profile = ep->profile;
	chain.imds_endpoint = ep->imds_endpoint;
	chain.timeout_ms = c->timeout_ms < 5000 ? c->timeout_ms : 5000;
	rc = aws_cred_provider_new(&chain, &c->creds);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	c->share = curl_share_init();
	if (!c->share ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)
		goto fail;
	*out = c;
	return 0;
fail:
	kms_client_free(c);
	return rc;
}

void kms_client_free(struct kms_client *c)
{
	size_t i;

	if (!c)
		return;
	/* The share goes last: libcurl refuses to free one still in use. */
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->share)
		curl_share_cleanup(c->share);
	aws_cred_provider_free(c->creds);
	for (i = 0; i < c->neps; i++) {
		free(c->eps[i].url);
		free(c->eps[i].host);
		free(c->eps[i].path);
	}
	free(c->unix_socket);
	free(c->ca_file);
	free(c->client_cert);
	free(c->client_key);
	free(c->region);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *kms_client_current_url(const struct kms_client *c)
{
	return c->eps[c->cur].url;
}

const char *kms_client_credentials_source(const struct kms_client *c)
{
	return aws_cred_provider_source(c->creds);
}

static int map_curl_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -ECONNABORTED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static int curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_COULDNT_RESOLVE_HOST:
		return 1;
	default:
		return 0;
	}
}

/* Fills err from an AWS error body; returns whether a retry may help. */
static int parse_error_reply(long status, const char *body, struct kms_error *err)
{
	struct json_object *j = body ? json_tokener_parse(body) : NULL;
	struct json_object *v;
	const char *type = "", *msg = "", *hash;
	int retry;

	if (j && json_object_is_type(j, json_type_object)) {
		if (json_object_object_get_ex(j, "__type", &v) && json_object_is_type(v, json_type_string))
			type = json_object_get_string(v);
		if ((json_object_object_get_ex(j, "message", &v) ||
		     json_object_object_get_ex(j, "Message", &v)) &&
		    json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
	}
	/* "com.amazonaws.kms#NotFoundException" -> "NotFoundException" */
	hash = strrchr(type, '#');
	if (hash)
		type = hash + 1;
	if (!*type)
		type = status >= 500 ? "InternalFailure" : "UnknownError";
	set_err(err, (int)status, type, "%s", *msg ? msg : "(no message)");
	retry = status >= 500 || status == 429 || strstr(type, "Throttl") != NULL;
	json_object_put(j);
	return retry;
}

/*
 * One KMS call with retries and failover. On success *reply holds the body
 * (locked when it holds a plaintext) and the caller releases it with
 * rbuf_release().
 *
 * Rounds: each round tries the endpoints in turn, starting at the one that
 * last answered, moving on at once after a transport error or a 5xx reply;
 * a round that ends without an answer, or a throttled reply, is retried
 * after a backoff, max_retries times, never past the deadline. With more
 * than one endpoint an attempt gets at most half of what is left, so a
 * hung instance leaves time for another.
 */
enum reply_holds { REPLY_PUBLIC, REPLY_PLAINTEXT };

enum outcome { OUT_DONE, OUT_STOP, OUT_FAILOVER, OUT_RETRY, OUT_AGAIN };

static enum outcome kms_attempt(struct kms_client *c, const struct kms_url *e, const char *op,
				const char *body, enum reply_holds holds, long long left,
				const struct aws_credentials *cr, struct rbuf *reply,
				struct kms_error *err, int *rc)
{
	struct curl_slist *hl = NULL;
	char amz[17], target[96], *authz = NULL, *line = NULL;
	struct sigv4_header h[5];
	struct sigv4_request sr;
	struct sigv4_scope sc;
	long long attempt_ms = left, connect_ms;
	long status = 0;
	size_t nh = 4;
	CURLcode cc;

	if (c->neps > 1 && left > 2000)
		attempt_ms = left / 2;
	connect_ms = c->neps > 1 ? 2000 : 5000;
	if (connect_ms > attempt_ms)
		connect_ms = attempt_ms;
	snprintf(target, sizeof(target), "TrentService.%s", op);
	sigv4_amz_date((long long)time(NULL), amz);
	h[0] = (struct sigv4_header){ "Content-Type", "application/x-amz-json-1.1" };
	h[1] = (struct sigv4_header){ "Host", e->host };
	h[2] = (struct sigv4_header){ "X-Amz-Date", amz };
	h[3] = (struct sigv4_header){ "X-Amz-Target", target };
	if (cr->session_token)
		h[nh++] = (struct sigv4_header){ "X-Amz-Security-Token", cr->session_token };
	sr = (struct sigv4_request){ .method = "POST", .path = e->path, .headers = h,
				     .nheaders = nh, .body = body, .body_len = strlen(body) };
	sc = (struct sigv4_scope){ amz, c->region, KMS_SERVICE };
	*rc = sigv4_authorization(&sr, &sc, cr->access_key_id, cr->secret, cr->secret_len, &authz);
	if (*rc) {
		set_err(err, 0, "", "cannot sign the request");
		return OUT_STOP;
	}
	hl = curl_slist_append(hl, "Content-Type: application/x-amz-json-1.1");
	if (asprintf(&line, "Host: %s", e->host) >= 0) {
		hl = curl_slist_append(hl, line);
		free(line);
	}
	if (asprintf(&line, "X-Amz-Date: %s", amz) >= 0) {
		hl = curl_slist_append(hl, line);
		free(line);
	}
	if (asprintf(&line, "X-Amz-Target: %s", target) >= 0) {
		hl = curl_slist_append(hl, line);
		free(line);
	}
	if (cr->session_token && asprintf(&line, "X-Amz-Security-Token: %s", cr->session_token) >= 0) {
		hl = curl_slist_append(hl, line);
		secmem_wipe(line, strlen(line));
		free(line);
	}
	if (asprintf(&line, "Authorization: %s", authz) >= 0) {
		hl = curl_slist_append(hl, line);
		free(line);
	}
	free(authz);
	hl = curl_slist_append(hl, "Expect:");

	rbuf_release(reply);
	memset(reply, 0, sizeof(*reply));
	if (holds == REPLY_PLAINTEXT)
		sb_init_locked(&reply->sb);
	reply->max = c->max_reply;
	/*
	 * A new handle for every transfer, its connections kept alive in the
	 * share: libcurl before 8.1 (Debian 12 has 7.88) keeps a pointer to
	 * the previous transfer's last response header in a reused handle,
	 * curl_easy_reset or not, and unfolds a reply whose first header line
	 * is a continuation into that freed header.
	 */
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = curl_easy_init();
	if (!c->curl) {
		for (struct curl_slist *i = hl; i; i = i->next)
			secmem_wipe(i->data, strlen(i->data));
		curl_slist_free_all(hl);
		*rc = -ENOMEM;
		set_err(err, 0, "", "out of memory for the request");
		return OUT_STOP;
	}
	curl_easy_setopt(c->curl, CURLOPT_SHARE, c->share);
	curl_easy_setopt(c->curl, CURLOPT_URL, e->url);
	if (c->unix_socket)
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->unix_socket);
	if (c->ca_file)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
	if (c->client_cert) {
		curl_easy_setopt(c->curl, CURLOPT_SSLCERT, c->client_cert);
		curl_easy_setopt(c->curl, CURLOPT_SSLKEY, c->client_key);
	}
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)attempt_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, rbuf_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, reply);
	cc = curl_easy_perform(c->curl);
	/* The header list held the session token. */
	for (struct curl_slist *i = hl; i; i = i->next)
		secmem_wipe(i->data, strlen(i->data));
	curl_slist_free_all(hl);
	if (cc != CURLE_OK) {
		if (reply->overflow) {
			*rc = -EPROTO;
			set_err(err, 0, "", "reply larger than the %zu bytes allowed", c->max_reply);
			return OUT_STOP;
		}
		if (reply->sb.oom) {
			*rc = -ENOMEM;
			set_err(err, 0, "", "out of locked memory for the reply");
			return OUT_STOP;
		}
		*rc = map_curl_error(cc);
		set_err(err, 0, "", "%s: %s", e->url, curl_easy_strerror(cc));
		/* Any other instance may answer; alone, only what may pass is retried. */
		if (c->neps > 1 && cc != CURLE_OUT_OF_MEMORY)
			return OUT_FAILOVER;
		return curl_retryable(cc) ? OUT_RETRY : OUT_STOP;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		*rc = 0;
		if (!reply->sb.buf) {
			*rc = -EPROTO;
			set_err(err, 200, "", "empty reply");
		}
		return OUT_DONE;
	}
	*rc = -EREMOTEIO;
	if (!parse_error_reply(status, reply->sb.buf, err)) {
		/* Credentials that expired between the check and the service: fetch new ones, once. */
		if (cr->session_token && !strcmp(err->type, "ExpiredTokenException"))
			return OUT_AGAIN;
		return OUT_STOP;
	}
	return status >= 500 ? OUT_FAILOVER : OUT_RETRY;
}

static int kms_post(struct kms_client *c, const char *op, const char *body,
		    enum reply_holds holds, struct rbuf *reply, struct kms_error *err)
{
	long long deadline = now_ms() + c->timeout_ms;
	size_t ep, tried = 0;
	int round = 0, rc = -ETIMEDOUT, sent = 0, again = 0;

	memset(reply, 0, sizeof(*reply));
	pthread_mutex_lock(&c->lock);
	ep = c->cur;
	for (;;) {
		struct aws_credentials cr;
		long long left = deadline - now_ms();
		char why[400];
		enum outcome o;

		if (left <= 0) {
			if (!sent)
				set_err(err, 0, "", "deadline passed before the request was sent");
			break;
		}
		rc = aws_cred_provider_get(c->creds, (long long)time(NULL), &cr, why, sizeof(why));
		if (rc) {
			set_err(err, 0, "", "no usable AWS credentials: %s", why[0] ? why : strerror(-rc));
			break;
		}
		o = kms_attempt(c, &c->eps[ep], op, body, holds, left, &cr, reply, err, &rc);
		aws_credentials_clear(&cr);
		sent = 1;
		if (o == OUT_DONE) {
			c->cur = ep;
			break;
		}
		if (o == OUT_STOP)
			break;
		if (o == OUT_AGAIN) {
			if (again++)
				break;
			aws_cred_provider_invalidate(c->creds);
			continue;
		}
		if (o == OUT_FAILOVER && ++tried < c->neps) {
			ep = (ep + 1) % c->neps;
			continue;
		}
		/* The round is over (or throttled): back off, then start it again. */
		if (o == OUT_FAILOVER)
			ep = (ep + 1) % c->neps;
		tried = 0;
		if (round++ >= c->max_retries)
			break;
		{
			/* Exponential backoff with jitter, never past the deadline. */
			long long base = 100LL << (round - 1 < 5 ? round - 1 : 5);
			unsigned int r = 0;
			long long wait;

			RAND_bytes((unsigned char *)&r, sizeof(r));
			wait = base / 2 + (long long)(r % (unsigned int)(base / 2 + 1));
			if (now_ms() + wait >= deadline)
				break;
			usleep((useconds_t)(wait * 1000));
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		rbuf_release(reply);
	return rc;
}

static int kms_post_json(struct kms_client *c, const char *op, struct json_object *req,
			 struct json_object **resp, struct kms_error *err)
{
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	struct json_tokener *tok;
	struct rbuf reply;
	struct json_object *j;
	int rc;

	if (!body)
		return -ENOMEM;
	rc = kms_post(c, op, body, REPLY_PUBLIC, &reply, err);
	if (rc)
		return rc;
	tok = json_tokener_new();
	if (!tok) {
		rbuf_release(&reply);
		return -ENOMEM;
	}
	j = json_tokener_parse_ex(tok, reply.sb.buf, (int)reply.sb.len);
	if (!j || json_tokener_get_parse_end(tok) != reply.sb.len ||
	    !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		set_err(err, 200, "", "malformed JSON reply");
		rc = -EPROTO;
	} else {
		*resp = j;
	}
	json_tokener_free(tok);
	rbuf_release(&reply);
	return rc;
}

static struct json_object *context_json(const struct kms_context *ctx)
{
	struct json_object *o = json_object_new_object();
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; ctx && i < ctx->count; i++)
		json_object_object_add(o, ctx->pairs[i].key,
				       json_object_new_string(ctx->pairs[i].value));
	return o;
}

static int add_blob(struct json_object *req, const char *name, const uint8_t *blob, size_t len)
{
	char *b64;

	if (b64_encode(blob, len, &b64))
		return -ENOMEM;
	json_object_object_add(req, name, json_object_new_string(b64));
	free(b64);
	return 0;
}

static const char *get_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int take_blob(struct json_object *resp, const char *name, uint8_t **blob,
		     size_t *blob_len, struct kms_error *err)
{
	const char *s = get_str(resp, name);
	size_t len, n;
	uint8_t *b;

	if (!s || b64_decoded_len(s, strlen(s), &len) || !len) {
		set_err(err, 200, "", "reply has no valid %s", name);
		return -EPROTO;
	}
	b = malloc(len);
	if (!b)
		return -ENOMEM;
	if (b64_decode(s, strlen(s), b, len, &n)) {
		free(b);
		return -EPROTO;
	}
	*blob = b;
	*blob_len = n;
	return 0;
}

static int take_str(struct json_object *resp, const char *name, char **out)
{
	const char *s;

	if (!out)
		return 0;
	s = get_str(resp, name);
	*out = strdup(s ? s : "");
	return *out ? 0 : -ENOMEM;
}

int kms_call(struct kms_client *c, const char *operation, struct json_object *req,
	     struct json_object **resp, struct kms_error *err)
{
	struct json_object *empty = NULL;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!req)
		req = empty = json_object_new_object();
	rc = kms_post_json(c, operation, req, resp, err);
	json_object_put(empty);
	return rc;
}

int kms_generate_data_key_without_plaintext(struct kms_client *c,
		const char *key_id, const struct kms_context *ctx, size_t nbytes,
		uint8_t **blob, size_t *blob_len, char **key_arn,
		struct kms_error *err)
{
	struct json_object *req = json_object_new_object(), *resp = NULL;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "KeyId", json_object_new_string(key_id));
	if (ctx && ctx->count)
		json_object_object_add(req, "EncryptionContext", context_json(ctx));
	if (nbytes)
		json_object_object_add(req, "NumberOfBytes", json_object_new_int64((int64_t)nbytes));
	else
		json_object_object_add(req, "KeySpec", json_object_new_string("AES_256"));
	rc = kms_post_json(c, "GenerateDataKeyWithoutPlaintext", req, &resp, err);
	json_object_put(req);
	if (rc)
		return rc;
	rc = take_blob(resp, "CiphertextBlob", blob, blob_len, err);
	if (!rc) {
		rc = take_str(resp, "KeyId", key_arn);
		if (rc) {
			free(*blob);
			*blob = NULL;
		}
	}
	json_object_put(resp);
	return rc;
}

int kms_decrypt(struct kms_client *c, const char *key_id,
		const uint8_t *blob, size_t blob_len,
		const struct kms_context *ctx,
		uint8_t *plain, size_t plain_cap, size_t *plain_len,
		char **key_arn, struct kms_error *err)
{
	struct json_object *req = json_object_new_object();
	const char *body;
	struct rbuf reply;
	char *v;
	size_t vlen;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!req)
		return -ENOMEM;
	if (key_arn)
		*key_arn = NULL;
	if (add_blob(req, "CiphertextBlob", blob, blob_len)) {
		json_object_put(req);
		return -ENOMEM;
	}
	if (key_id)
		json_object_object_add(req, "KeyId", json_object_new_string(key_id));
	if (ctx && ctx->count)
		json_object_object_add(req, "EncryptionContext", context_json(ctx));
	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = body ? kms_post(c, "Decrypt", body, REPLY_PLAINTEXT, &reply, err) : -ENOMEM;
	json_object_put(req);
	if (rc)
		return rc;

	rc = secjson_member(reply.sb.buf, reply.sb.len, "Plaintext", &v, &vlen);
	if (!rc) {
		rc = b64_decode(v, vlen, plain, plain_cap, plain_len);
		if (rc == -ENOSPC)
			set_err(err, 200, "", "plaintext larger than the %zu bytes provided", plain_cap);
		else if (rc)
			rc = -EPROTO;
	} else {
		rc = -EPROTO;
	}
	if (rc == -EPROTO)
		set_err(err, 200, "", "malformed Decrypt reply");
	if (!rc && key_arn && !secjson_member(reply.sb.buf, reply.sb.len, "KeyId", &v, &vlen)) {
		*key_arn = strndup(v, vlen);
		if (!*key_arn)
			rc = -ENOMEM;
	}
	if (rc)
		secmem_wipe(plain, plain_cap);
	rbuf_release(&reply);
	return rc;
}

int kms_reencrypt(struct kms_client *c,
		const uint8_t *blob, size_t blob_len,
		const struct kms_context *src_ctx,
		const char *dst_key_id, const struct kms_context *dst_ctx,
		uint8_t **new_blob, size_t *new_blob_len, char **dst_key_arn,
		struct kms_error *err)
{
	struct json_object *req = json_object_new_object(), *resp = NULL;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!req)
		return -ENOMEM;
	if (add_blob(req, "CiphertextBlob", blob, blob_len)) {
		json_object_put(req);
		return -ENOMEM;
	}
	json_object_object_add(req, "DestinationKeyId", json_object_new_string(dst_key_id));
	if (src_ctx && src_ctx->count)
		json_object_object_add(req, "SourceEncryptionContext", context_json(src_ctx));
	if (dst_ctx && dst_ctx->count)
		json_object_object_add(req, "DestinationEncryptionContext", context_json(dst_ctx));
	rc = kms_post_json(c, "ReEncrypt", req, &resp, err);
	json_object_put(req);
	if (rc)
		return rc;
	rc = take_blob(resp, "CiphertextBlob", new_blob, new_blob_len, err);
	if (!rc) {
		rc = take_str(resp, "KeyId", dst_key_arn);
		if (rc) {
			free(*new_blob);
			*new_blob = NULL;
		}
	}
	json_object_put(resp);
	return rc;
}

int kms_describe_key(struct kms_client *c, const char *key_id,
		     struct kms_key_info *info, struct kms_error *err)
{
	struct json_object *req = json_object_new_object(), *resp = NULL, *md, *v;
	const char *s;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "KeyId", json_object_new_string(key_id));
	rc = kms_post_json(c, "DescribeKey", req, &resp, err);
	json_object_put(req);
	if (rc)
		return rc;
	memset(info, 0, sizeof(*info));
	if (!json_object_object_get_ex(resp, "KeyMetadata", &md) ||
	    !json_object_is_type(md, json_type_object) || !(s = get_str(md, "KeyId"))) {
		set_err(err, 200, "", "DescribeKey reply has no KeyMetadata");
		json_object_put(resp);
		return -EPROTO;
	}
	snprintf(info->key_id, sizeof(info->key_id), "%s", s);
	snprintf(info->arn, sizeof(info->arn), "%s", (s = get_str(md, "Arn")) ? s : "");
	snprintf(info->key_state, sizeof(info->key_state), "%s",
		 (s = get_str(md, "KeyState")) ? s : "");
	info->enabled = json_object_object_get_ex(md, "Enabled", &v) && json_object_get_boolean(v);
	json_object_put(resp);
	return 0;
}
