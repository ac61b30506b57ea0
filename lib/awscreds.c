// SPDX-License-Identifier: GPL-2.0
/*
 * The AWS credential chain. See awscreds.h for the order and the refresh
 * rule. The shared files are read with AWS's own lenient INI rules ('#'
 * and ';' comments, indented sub-settings skipped), not lib/conf's strict
 * grammar: they are files the AWS CLI writes and users edit for it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "awscreds.h"
#include "readfile.h"
#include "secjson.h"
#include "secmem.h"
#include "strbuf.h"

#define AWS_FILE_MAX (256 * 1024)
#define AWS_DOC_MAX (64 * 1024)
#define IMDS_TOKEN_TTL 21600
#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"

enum cred_source { SRC_NONE, SRC_CONFIG, SRC_ENV, SRC_PROFILE, SRC_PROCESS, SRC_IMDS };

struct aws_cred_provider {
	pthread_mutex_t lock;
	char *akid, *secret, *token;     /* explicit (secret and token in secmem) */
	char *profile, *imds_endpoint;
	long timeout_ms;
	enum cred_source source;
	char source_name[400];
	char *process;                   /* the profile's credential_process */
	char *imds_token;                /* secmem */
	long long imds_token_expiry;
	struct aws_credentials cur;
};

static char *sec_strdup(const char *s, size_t len)
{
	char *d = secmem_alloc(len + 1);

	if (d)
		memcpy(d, s, len);
	return d;
}

void aws_credentials_clear(struct aws_credentials *c)
{
	secmem_free(c->secret);
	secmem_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int aws_credentials_set(struct aws_credentials *c, const char *akid, const char *secret,
			size_t secret_len, const char *token, size_t token_len, long long expiration)
{
	aws_credentials_clear(c);
	if (!akid || !*akid || strlen(akid) >= sizeof(c->access_key_id) || !secret ||
	    !secret_len || secret_len > 256 || (token && token_len > 8192))
		return -EINVAL;
	snprintf(c->access_key_id, sizeof(c->access_key_id), "%s", akid);
	c->secret = sec_strdup(secret, secret_len);
	c->secret_len = secret_len;
	if (token && token_len) {
		c->session_token = sec_strdup(token, token_len);
		c->token_len = token_len;
	}
	c->expiration = expiration;
	c->obtained = (long long)time(NULL);
	if (!c->secret || (token && token_len && !c->session_token)) {
		aws_credentials_clear(c);
		return -ENOMEM;
	}
	return 0;
}

int aws_credentials_copy(const struct aws_credentials *from, struct aws_credentials *to)
{
	int rc = aws_credentials_set(to, from->access_key_id, from->secret, from->secret_len,
				     from->session_token, from->token_len, from->expiration);

	if (!rc)
		to->obtained = from->obtained;
	return rc;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int aws_parse_iso8601(const char *s, size_t len, long long *t)
{
	int y, mo, d, h, mi, se;
	struct tm tm;
	size_t i = 19;
	time_t r;

	if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
		return -EINVAL;
	if (s[i] == '.') {
		for (i++; i < len && isdigit((unsigned char)s[i]); i++)
			;
	}
	if (!(len == i + 1 && (s[i] == 'Z' || s[i] == 'z')) &&
	    !(len == i + 6 && !memcmp(s + i, "+00:00", 6)))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	r = timegm(&tm);
	if (r == (time_t)-1)
		return -EINVAL;
	*t = (long long)r;
	return 0;
}

static const char *jstr(struct json_object *o, const char *name, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

int aws_creds_parse_json(char *buf, size_t len, enum aws_creds_doc doc,
			 struct aws_credentials *out, char *why, size_t whylen)
{
	struct json_object *o, *v;
	const char *akid, *secret, *token, *exp;
	size_t akid_len = 0, secret_len = 0, token_len = 0, exp_len = 0;
	long long expiration = 0;
	char akid_z[129];
	int rc = -EPROTO;

	/* secjson_parse: json-c's scratch buffer is wiped, and secjson_wipe the strings. */
	o = secjson_parse(buf, len, 4);
	secmem_wipe(buf, len);
	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	if (doc == AWS_DOC_PROCESS) {
		if (!json_object_object_get_ex(o, "Version", &v) || !json_object_is_type(v, json_type_int) ||
		    json_object_get_int(v) != 1) {
			snprintf(why, whylen, "\"Version\" must be the number 1");
			goto out;
		}
	} else {
		const char *code = jstr(o, "Code", &exp_len);

		if (!code || strcmp(code, "Success")) {
			snprintf(why, whylen, "\"Code\" is %s, not \"Success\"", code ? code : "absent");
			goto out;
		}
	}
	{
		static const char *const strings[] = { "AccessKeyId", "SecretAccessKey", "SessionToken",
							"Token", "Expiration", "Code" };
		size_t i;

		/* A member that is there must be a string: never read past as absent. */
		for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
			if (json_object_object_get_ex(o, strings[i], &v) &&
			    !json_object_is_type(v, json_type_string)) {
				snprintf(why, whylen, "\"%s\" is not a string", strings[i]);
				goto out;
			}
	}
	akid = jstr(o, "AccessKeyId", &akid_len);
	secret = jstr(o, "SecretAccessKey", &secret_len);
	token = jstr(o, doc == AWS_DOC_PROCESS ? "SessionToken" : "Token", &token_len);
	exp = jstr(o, "Expiration", &exp_len);
	if (!akid || !akid_len || akid_len >= sizeof(akid_z) || memchr(akid, '\0', akid_len) ||
	    !secret || !secret_len || secret_len > 256) {
		snprintf(why, whylen, "AccessKeyId and SecretAccessKey (1..256 characters) are required");
		goto out;
	}
	if (doc == AWS_DOC_IMDS && (!token || !exp)) {
		snprintf(why, whylen, "Token and Expiration are required");
		goto out;
	}
	if (exp && aws_parse_iso8601(exp, exp_len, &expiration)) {
		snprintf(why, whylen, "Expiration is not an ISO 8601 UTC time");
		goto out;
	}
	memcpy(akid_z, akid, akid_len);
	akid_z[akid_len] = '\0';
	rc = aws_credentials_set(out, akid_z, secret, secret_len, token, token ? token_len : 0,
				 expiration);
	if (rc == -EINVAL)
		snprintf(why, whylen, "credentials of impossible length");
out:
	if (o) {
		secjson_wipe(o);
		json_object_put(o);
	}
	return rc;
}

/* --- the shared config and credentials files --------------------------- */

struct profile_vals {
	struct strbuf akid, secret, token, process;  /* locked */
	int found;
};

static void pv_init(struct profile_vals *v)
{
	memset(v, 0, sizeof(*v));
	sb_init_locked(&v->akid);
	sb_init_locked(&v->secret);
	sb_init_locked(&v->token);
	sb_init_locked(&v->process);
}

static void pv_free(struct profile_vals *v)
{
	sb_wipe_free(&v->akid);
	sb_wipe_free(&v->secret);
	sb_wipe_free(&v->token);
	sb_wipe_free(&v->process);
}

static void sb_set(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->buf)
		secmem_wipe(sb->buf, sb->len);
	sb->len = 0;
	sb_add(sb, s, n);
}

/*
 * Reads the settings of section `want` ("default", "profile x" or "x") of
 * an AWS INI file; a missing file is no error. Values already set (from
 * the credentials file, read first) win.
 */
static int read_profile(const char *path, const char *want, int is_config, struct profile_vals *v,
			char *why, size_t whylen)
{
	_cleanup_file_ struct ebs_file f = { 0 };
	char section[300];
	const char *p, *end;
	int in = 0, rc;

	rc = ebs_file_read(path, AWS_FILE_MAX, EBS_FILE_SECRET | EBS_FILE_TEXT, &f);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	if (is_config && strcmp(want, "default"))
		snprintf(section, sizeof(section), "profile %s", want);
	else
		snprintf(section, sizeof(section), "%s", want);
	for (p = f.data, end = f.data + f.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end, *k, *ke, *val, *ve;
		const char *line = p;

		p = nl ? nl + 1 : end;
		if (line < le && (*line == ' ' || *line == '\t'))
			continue;  /* a sub-setting (s3 = ...), never a credential */
		while (le > line && isspace((unsigned char)le[-1]))
			le--;
		if (line == le || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			const char *s = line + 1, *se = memchr(line, ']', (size_t)(le - line));

			if (!se)
				continue;
			while (s < se && isspace((unsigned char)*s))
				s++;
			while (se > s && isspace((unsigned char)se[-1]))
				se--;
			in = (size_t)(se - s) == strlen(section) && !memcmp(s, section, (size_t)(se - s));
			if (in)
				v->found = 1;
			continue;
		}
		if (!in)
			continue;
		ke = memchr(line, '=', (size_t)(le - line));
		if (!ke)
			continue;
		k = line;
		val = ke + 1;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		while (val < le && isspace((unsigned char)*val))
			val++;
		ve = le;
#define IS(name) ((size_t)(ke - k) == strlen(name) && !memcmp(k, name, strlen(name)))
		if (IS("aws_access_key_id") && !v->akid.len)
			sb_set(&v->akid, val, (size_t)(ve - val));
		else if (IS("aws_secret_access_key") && !v->secret.len)
			sb_set(&v->secret, val, (size_t)(ve - val));
		else if (IS("aws_session_token") && !v->token.len)
			sb_set(&v->token, val, (size_t)(ve - val));
		else if (IS("credential_process") && !v->process.len)
			sb_set(&v->process, val, (size_t)(ve - val));
#undef IS
	}
	if (v->akid.oom || v->secret.oom || v->token.oom || v->process.oom)
		return -ENOMEM;
	return 0;
}

static int file_path(const char *env, const char *home_rel, char *out, size_t len)
{
	const char *e = getenv(env), *home = getenv("HOME");

	if (e && *e)
		snprintf(out, len, "%s", e);
	else if (home && *home)
		snprintf(out, len, "%s/%s", home, home_rel);
	else
		return -ENOENT;
	return 0;
}

/* --- credential_process -------------------------------------------------- */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run_process(const char *cmd, long timeout_ms, struct aws_credentials *out,
		       char *why, size_t whylen)
{
	long long deadline = mono_ms() + timeout_ms;
	struct strbuf sb;
	int p[2], status = 0, rc = 0;
	char buf[4096];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		signal(SIGPIPE, SIG_DFL);
		/* The same as the AWS CLI on a POSIX system: the line, run by a shell. */
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	sb_init_locked(&sb);
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		long long left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			snprintf(why, whylen, "credential_process did not finish within %ld ms", timeout_ms);
			break;
		}
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (sb.len + (size_t)n > AWS_DOC_MAX) {
			rc = -EFBIG;
			snprintf(why, whylen, "credential_process wrote more than %d bytes", AWS_DOC_MAX);
			break;
		}
		sb_add(&sb, buf, (size_t)n);
	}
	secmem_wipe(buf, sizeof(buf));
	close(p[0]);
	if (rc)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!rc && sb.oom)
		rc = -ENOMEM;
	if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status))) {
		rc = -EIO;
		snprintf(why, whylen, "credential_process failed (%s %d)",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	if (!rc) {
		char sub[200] = "";

		rc = aws_creds_parse_json(sb.buf ? sb.buf : (char *)"", sb.len, AWS_DOC_PROCESS, out,
					  sub, sizeof(sub));
		if (rc)
			snprintf(why, whylen, "credential_process output: %s", sub);
	}
	sb_wipe_free(&sb);
	return rc;
}

/* --- IMDSv2 -------------------------------------------------------------- */

struct imds_buf {
	struct strbuf sb;
	int overflow;
};

static size_t imds_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct imds_buf *b = arg;
	size_t n = size * nmemb;

	if (b->sb.len + n > AWS_DOC_MAX) {
		b->overflow = 1;
		return 0;
	}
	sb_add(&b->sb, data, n);
	secmem_wipe(data, n);
	return b->sb.oom ? 0 : n;
}

/* One IMDS request; *status the HTTP status. The body lands in b (locked). */
static int imds_request(struct aws_cred_provider *p, const char *method, const char *path,
			const char *header, struct imds_buf *b, long *status, char *why, size_t whylen)
{
	struct curl_slist *hl = NULL;
	char url[512];
	CURLcode cc;
	CURL *c;

	*status = 0;
	memset(b, 0, sizeof(*b));
	sb_init_locked(&b->sb);
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s%s", p->imds_endpoint, path);
	if (header)
		hl = curl_slist_append(hl, header);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "PUT"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L), curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms < 2000 ? p->timeout_ms : 2000);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, imds_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK) {
		snprintf(why, whylen, "instance metadata at %s: %s", p->imds_endpoint,
			 b->overflow ? "reply too large" : curl_easy_strerror(cc));
		sb_wipe_free(&b->sb);
		return b->overflow ? -EPROTO : -EHOSTUNREACH;
	}
	return 0;
}

static int imds_session(struct aws_cred_provider *p, long long now, char *why, size_t whylen)
{
	struct imds_buf b;
	long status;
	int rc;

	if (p->imds_token && now < p->imds_token_expiry - 60)
		return 0;
	secmem_free(p->imds_token);
	p->imds_token = NULL;
	rc = imds_request(p, "PUT", "/latest/api/token",
			  "X-aws-ec2-metadata-token-ttl-seconds: " "21600", &b, &status, why, whylen);
	if (rc)
		return rc;
	if (status != 200 || !b.sb.len || b.sb.len > 4096 || memchr(b.sb.buf, '\n', b.sb.len)) {
		snprintf(why, whylen, "instance metadata at %s: no IMDSv2 session token (HTTP %ld)",
			 p->imds_endpoint, status);
		sb_wipe_free(&b.sb);
		return -EPROTO;
	}
	p->imds_token = sec_strdup(b.sb.buf, b.sb.len);
	sb_wipe_free(&b.sb);
	if (!p->imds_token)
		return -ENOMEM;
	p->imds_token_expiry = now + IMDS_TOKEN_TTL;
	return 0;
}

static int imds_get(struct aws_cred_provider *p, long long now, const char *path,
		    struct imds_buf *b, char *why, size_t whylen)
{
	char hdr[4200];
	long status;
	int rc, tries;

	for (tries = 0; tries < 2; tries++) {
		rc = imds_session(p, now, why, whylen);
		if (rc)
			return rc;
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", p->imds_token);
		rc = imds_request(p, "GET", path, hdr, b, &status, why, whylen);
		secmem_wipe(hdr, sizeof(hdr));
		if (rc)
			return rc;
		if (status == 200)
			return 0;
		sb_wipe_free(&b->sb);
		if (status != 401)
			break;
		/* The session token expired or the service restarted: a new one, once. */
		secmem_free(p->imds_token);
		p->imds_token = NULL;
	}
	snprintf(why, whylen, "instance metadata at %s: GET %s: HTTP %ld", p->imds_endpoint, path, status);
	return status == 404 ? -ENOKEY : -EPROTO;
}

static int imds_fetch(struct aws_cred_provider *p, long long now, struct aws_credentials *out,
		      char *why, size_t whylen)
{
	struct imds_buf b;
	char path[400], role[256], sub[200] = "";
	size_t n;
	int rc;

	rc = imds_get(p, now, IMDS_CREDS_PATH, &b, why, whylen);
	if (rc)
		return rc;
	n = strcspn(b.sb.buf ? b.sb.buf : "", "\r\n");
	if (!n || n >= sizeof(role) || memchr(b.sb.buf, '/', n)) {
		sb_wipe_free(&b.sb);
		snprintf(why, whylen, "instance metadata at %s: no instance profile role", p->imds_endpoint);
		return -ENOKEY;
	}
	memcpy(role, b.sb.buf, n);
	role[n] = '\0';
	sb_wipe_free(&b.sb);
	snprintf(path, sizeof(path), IMDS_CREDS_PATH "%s", role);
	rc = imds_get(p, now, path, &b, why, whylen);
	if (rc)
		return rc;
	rc = aws_creds_parse_json(b.sb.buf, b.sb.len, AWS_DOC_IMDS, out, sub, sizeof(sub));
	sb_wipe_free(&b.sb);
	if (rc)
		snprintf(why, whylen, "instance metadata at %s, role %s: %s", p->imds_endpoint, role, sub);
	else
		snprintf(p->source_name, sizeof(p->source_name), "instance metadata (%s, role %s)",
			 p->imds_endpoint, role);
	return rc;
}

/* --- the chain ----------------------------------------------------------- */

static int from_profile(struct aws_cred_provider *p, struct aws_credentials *out,
			char *why, size_t whylen)
{
	const char *name = p->profile ? p->profile : getenv("AWS_PROFILE");
	char cpath[4096], fpath[4096];
	struct profile_vals v;
	int named = name && *name, rc = 0;

	if (!named)
		name = "default";
	pv_init(&v);
	if (!file_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", cpath, sizeof(cpath)))
		rc = read_profile(cpath, name, 0, &v, why, whylen);
	else
		snprintf(cpath, sizeof(cpath), "~/.aws/credentials");
	if (!rc && !file_path("AWS_CONFIG_FILE", ".aws/config", fpath, sizeof(fpath)))
		rc = read_profile(fpath, name, 1, &v, why, whylen);
	if (rc)
		goto out;
	if (!v.found) {
		/* A profile asked for by name must exist; the default may be absent. */
		if (named) {
			snprintf(why, whylen, "profile %s is in neither %s nor the config file", name, cpath);
			rc = -ENOKEY;
		} else {
			rc = -ENOENT;
		}
		goto out;
	}
	if (v.akid.len && v.secret.len) {
		rc = aws_credentials_set(out, v.akid.buf, v.secret.buf, v.secret.len,
					 v.token.len ? v.token.buf : NULL, v.token.len, 0);
		if (rc == -EINVAL)
			snprintf(why, whylen, "profile %s: invalid aws_access_key_id or aws_secret_access_key",
				 name);
		p->source = SRC_PROFILE;
		snprintf(p->source_name, sizeof(p->source_name), "profile %s", name);
	} else if (v.process.len) {
		free(p->process);
		p->process = strdup(v.process.buf);
		if (!p->process) {
			rc = -ENOMEM;
			goto out;
		}
		p->source = SRC_PROCESS;
		snprintf(p->source_name, sizeof(p->source_name), "profile %s credential_process", name);
		rc = run_process(p->process, p->timeout_ms, out, why, whylen);
	} else {
		snprintf(why, whylen, "profile %s has neither keys nor credential_process", name);
		rc = -ENOKEY;
	}
out:
	pv_free(&v);
	return rc;
}

/* Finds the first source with credentials, and gets them. */
static int resolve(struct aws_cred_provider *p, long long now, struct aws_credentials *out,
		   char *why, size_t whylen)
{
	const char *ea = getenv("AWS_ACCESS_KEY_ID"), *es = getenv("AWS_SECRET_ACCESS_KEY");
	const char *et = getenv("AWS_SESSION_TOKEN"), *off = getenv("AWS_EC2_METADATA_DISABLED");
	int rc;

	switch (p->source) {
	case SRC_CONFIG:
		return aws_credentials_set(out, p->akid, p->secret, strlen(p->secret), p->token,
					   p->token ? strlen(p->token) : 0, 0);
	case SRC_PROCESS:
		return run_process(p->process, p->timeout_ms, out, why, whylen);
	case SRC_IMDS:
		return imds_fetch(p, now, out, why, whylen);
	default:
		break;
	}
	if (p->akid) {
		p->source = SRC_CONFIG;
		snprintf(p->source_name, sizeof(p->source_name), "config");
		return resolve(p, now, out, why, whylen);
	}
	if (ea && *ea && es && *es) {
		rc = aws_credentials_set(out, ea, es, strlen(es), et && *et ? et : NULL,
					 et ? strlen(et) : 0, 0);
		if (rc == -EINVAL)
			snprintf(why, whylen, "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is invalid");
		p->source = SRC_ENV;
		snprintf(p->source_name, sizeof(p->source_name), "environment");
		return rc;
	}
	rc = from_profile(p, out, why, whylen);
	if (rc != -ENOENT)
		return rc;
	if (off && !strcasecmp(off, "true")) {
		snprintf(why, whylen, "no credentials in the config, the environment or the shared "
			 "files, and AWS_EC2_METADATA_DISABLED is set");
		return -ENOKEY;
	}
	p->source = SRC_IMDS;
	rc = imds_fetch(p, now, out, why, whylen);
	if (rc) {
		char sub[300];

		snprintf(sub, sizeof(sub), "%s", why);
		snprintf(why, whylen, "no credentials in the config, the environment or the shared "
			 "files, and none from the instance metadata service: %s", sub);
		p->source = SRC_NONE;
		if (rc != -ENOMEM)
			rc = -ENOKEY;
	}
	return rc;
}

int aws_cred_provider_new(const struct aws_chain_config *cfg, struct aws_cred_provider **out)
{
	const char *imds = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	struct aws_cred_provider *p;
	size_t n;

	if (!cfg || (!cfg->access_key_id) != (!cfg->secret_access_key))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
	if (cfg->imds_endpoint && *cfg->imds_endpoint)
		imds = cfg->imds_endpoint;
	p->imds_endpoint = strdup(imds && *imds ? imds : AWS_IMDS_DEFAULT_ENDPOINT);
	if (p->imds_endpoint) {
		n = strlen(p->imds_endpoint);
		while (n && p->imds_endpoint[n - 1] == '/')
			p->imds_endpoint[--n] = '\0';
	}
	if (cfg->profile)
		p->profile = strdup(cfg->profile);
	if (cfg->access_key_id) {
		p->akid = strdup(cfg->access_key_id);
		p->secret = sec_strdup(cfg->secret_access_key, strlen(cfg->secret_access_key));
		if (cfg->session_token)
			p->token = sec_strdup(cfg->session_token, strlen(cfg->session_token));
	}
	if (!p->imds_endpoint || (cfg->profile && !p->profile) ||
	    (cfg->access_key_id && (!p->akid || !p->secret || (cfg->session_token && !p->token)))) {
		aws_cred_provider_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void aws_cred_provider_free(struct aws_cred_provider *p)
{
	if (!p)
		return;
	aws_credentials_clear(&p->cur);
	free(p->akid);
	secmem_free(p->secret);
	secmem_free(p->token);
	secmem_free(p->imds_token);
	free(p->profile);
	free(p->imds_endpoint);
	free(p->process);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Due for a refresh: a quarter of the lifetime, at most five minutes, left. */
static int refresh_due(const struct aws_credentials *c, long long now)
{
	long long life, margin;

	if (!c->secret)
		return 1;
	if (!c->expiration)
		return 0;
	life = c->expiration - c->obtained;
	margin = life > 0 ? life / 4 : 0;
	if (margin > 300)
		margin = 300;
	return now >= c->expiration - margin;
}

int aws_cred_provider_get(struct aws_cred_provider *p, long long now,
			  struct aws_credentials *out, char *why, size_t whylen)
{
	struct aws_credentials fresh;
	int rc = 0;

	memset(&fresh, 0, sizeof(fresh));
	memset(out, 0, sizeof(*out));
	if (whylen)
		why[0] = '\0';
	pthread_mutex_lock(&p->lock);
	if (refresh_due(&p->cur, now)) {
		rc = resolve(p, now, &fresh, why, whylen);
		if (!rc && fresh.expiration && fresh.expiration <= now) {
			snprintf(why, whylen, "the credentials from %s expired at %lld", p->source_name,
				 fresh.expiration);
			aws_credentials_clear(&fresh);
			rc = -EKEYEXPIRED;
		}
		if (!rc) {
			aws_credentials_clear(&p->cur);
			p->cur = fresh;
			p->cur.obtained = now;
		} else if (p->cur.secret && (!p->cur.expiration || p->cur.expiration > now)) {
			/* Still valid: keep using them, and try again on the next call. */
			rc = 0;
		} else if (p->cur.secret && rc != -ENOMEM) {
			rc = -EKEYEXPIRED;
		}
	}
	if (!rc)
		rc = aws_credentials_copy(&p->cur, out);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void aws_cred_provider_invalidate(struct aws_cred_provider *p)
{
	pthread_mutex_lock(&p->lock);
	aws_credentials_clear(&p->cur);
	pthread_mutex_unlock(&p->lock);
}

const char *aws_cred_provider_source(const struct aws_cred_provider *p)
{
	return p->source_name[0] ? p->source_name : "none yet";
}
