// SPDX-License-Identifier: GPL-2.0
/*
 * Config file: "key = value" lines and '#' comments (the grammar of
 * lib/conf.h), and one "[principal NAME]" section per access key. Secrets
 * are never in the config itself: each principal names a 0600 file holding
 * its secret access key, so the config can be world-readable and secrets
 * never reach argv or env. The format is documented in docs/kmsd.md.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "kmsd.h"
#include "readfile.h"
#include "secmem.h"

#define CFG_MAX_FILE (256 * 1024)
/* Room for a 256-character secret, its newline and some stray white space. */
#define SECRET_FILE_MAX 299
#define CFG_MAX_PRINCIPALS 256

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int set_str(char **dst, const char *v)
{
	char *n = strdup(v);

	if (!n)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

static int parse_uint(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

/* Reads a secret file: must be a regular file not accessible by group/others. */
static int read_secret(const char *path, char **secret, size_t *len, char *err, size_t errlen)
{
	_cleanup_file_ struct ebs_file f = { 0 };
	size_t l;
	int rc;

	rc = ebs_file_read(path, SECRET_FILE_MAX, EBS_FILE_PRIVATE | EBS_FILE_SECRET, &f);
	if (rc == -EINVAL || rc == -EPERM) {
		snprintf(err, errlen, "secret file %s must be a regular file with mode 0600", path);
		return -EPERM;
	}
	if (rc == -EFBIG) {
		snprintf(err, errlen, "secret file %s must hold one secret of 1..256 characters", path);
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen, "cannot open secret file %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!f.len) {
		snprintf(err, errlen, "secret file %s is empty", path);
		return -EINVAL;
	}
	l = f.len;
	while (l && isspace((unsigned char)f.data[l - 1]))
		f.data[--l] = '\0';
	if (!l || l > 256 || memchr(f.data, '\n', l)) {
		snprintf(err, errlen, "secret file %s must hold one secret of 1..256 characters", path);
		return -EINVAL;
	}
	/* The file's locked buffer becomes the secret (NUL-terminated, secmem_free()d). */
	*secret = f.data;
	*len = l;
	f.data = NULL;
	return 0;
}

static int check_principal(const struct principal *p, char *err, size_t errlen)
{
	/* Without a key of its own a principal acts only through temporary credentials. */
	if (!p->arn || !p->access_key_id != !p->secret) {
		snprintf(err, errlen, "principal %s needs arn, and access_key_id and "
			 "secret_access_key_file together (or neither)", p->name);
		return -EINVAL;
	}
	return 0;
}

struct parse {
	struct kmsd_config *cfg;
	const char *base_dir;
	struct principal *cur;    /* the [principal] section being read, or NULL */
};

static int section(struct parse *ps, const struct ebs_conf_line *l, char *err, size_t errlen)
{
	struct kmsd_config *cfg = ps->cfg;
	char text[EBS_CONF_MAX_LINE + 1], *end, *name;
	struct principal *np;
	int rc;

	snprintf(text, sizeof(text), "%s", l->section);
	end = strchr(text, ']');
	if (!end || end[1] || strncmp(text, "[principal ", 11)) {
		snprintf(err, errlen, "line %zu: expected [principal NAME]", l->lineno);
		return -EINVAL;
	}
	*end = '\0';
	name = trim(text + 11);
	if (!*name || cfg->nprincipals == CFG_MAX_PRINCIPALS) {
		snprintf(err, errlen, "line %zu: bad or too many principals", l->lineno);
		return -EINVAL;
	}
	if (ps->cur && (rc = check_principal(ps->cur, err, errlen)))
		return rc;
	np = realloc(cfg->principals, (cfg->nprincipals + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	cfg->principals = np;
	ps->cur = &np[cfg->nprincipals++];
	memset(ps->cur, 0, sizeof(*ps->cur));
	ps->cur->role = ROLE_NONE;
	return set_str(&ps->cur->name, name);
}

static int principal_setting(struct parse *ps, const struct ebs_conf_line *l, char *err, size_t errlen)
{
	struct principal *cur = ps->cur;
	const char *k = l->key, *v = l->value;
	char path[4096];

	if (!strcmp(k, "arn"))
		return set_str(&cur->arn, v);
	if (!strcmp(k, "access_key_id"))
		return set_str(&cur->access_key_id, v);
	if (!strcmp(k, "secret_access_key_file")) {
		if (cur->secret) {
			snprintf(err, errlen, "line %zu: secret given twice", l->lineno);
			return -EINVAL;
		}
		if (*v == '/' || !ps->base_dir)
			snprintf(path, sizeof(path), "%s", v);
		else
			snprintf(path, sizeof(path), "%s/%s", ps->base_dir, v);
		return read_secret(path, &cur->secret, &cur->secret_len, err, errlen);
	}
	if (!strcmp(k, "role")) {
		if (!strcmp(v, "admin"))
			cur->role = ROLE_ADMIN;
		else if (!strcmp(v, "user"))
			cur->role = ROLE_USER;
		else if (!strcmp(v, "none"))
			cur->role = ROLE_NONE;
		else
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

static int service_setting(struct kmsd_config *cfg, const char *k, const char *v)
{
	unsigned long n;
	int rc;

	if (!strcmp(k, "listen"))
		return set_str(&cfg->listen, v);
	if (!strcmp(k, "state_dir"))
		return set_str(&cfg->state_dir, v);
	if (!strcmp(k, "region"))
		return set_str(&cfg->region, v);
	if (!strcmp(k, "account_id"))
		return strlen(v) == 12 && strspn(v, "0123456789") == 12 ? set_str(&cfg->account_id, v) : -EINVAL;
	if (!strcmp(k, "service_host_name"))
		return *v && strcspn(v, " \t/:@") == strlen(v) ? set_str(&cfg->service_host_name, v) : -EINVAL;
	if (!strcmp(k, "tls_cert"))
		return set_str(&cfg->tls_cert, v);
	if (!strcmp(k, "tls_key"))
		return set_str(&cfg->tls_key, v);
	if (!strcmp(k, "store"))
		return strcmp(v, "sqlite") && strcmp(v, "postgresql") ? -EINVAL : set_str(&cfg->store, v);
	/* The config may be world-readable: a password belongs in a passfile. */
	if (!strcmp(k, "pg_conninfo"))
		return strstr(v, "password") ? -EINVAL : set_str(&cfg->pg_conninfo, v);
	if (!strcmp(k, "durable")) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return -EINVAL;
		cfg->durable = !strcmp(v, "on");
		return 0;
	}
	if (!strcmp(k, "tls_client_ca"))
		return set_str(&cfg->tls_client_ca, v);
	if (!strcmp(k, "max_body_bytes")) {
		rc = parse_uint(v, 1024, 16 * 1024 * 1024, &n);
		cfg->max_body = n;
	} else if (!strcmp(k, "max_connections")) {
		rc = parse_uint(v, 1, 65536, &n);
		cfg->max_connections = (unsigned int)n;
	} else if (!strcmp(k, "threads")) {
		rc = parse_uint(v, 1, 256, &n);
		cfg->threads = (unsigned int)n;
	} else if (!strcmp(k, "connection_timeout_s")) {
		rc = parse_uint(v, 1, 3600, &n);
		cfg->connection_timeout = (unsigned int)n;
	} else if (!strcmp(k, "request_timeout_s")) {
		rc = parse_uint(v, 1, 3600, &n);
		cfg->request_timeout = (unsigned int)n;
	} else if (!strcmp(k, "max_connections_per_source")) {
		rc = parse_uint(v, 1, 65536, &n);
		cfg->max_connections_per_source = (unsigned int)n;
	} else if (!strcmp(k, "max_clock_skew_s")) {
		rc = parse_uint(v, 1, 3600, &n);
		cfg->max_skew = (unsigned int)n;
	} else {
		rc = -EINVAL;
	}
	return rc;
}

static int is_path_setting(const char *k)
{
	return !strcmp(k, "tls_cert") || !strcmp(k, "tls_key") || !strcmp(k, "state_dir");
}

static int parse_line(void *arg, const struct ebs_conf_line *l, char *err, size_t errlen)
{
	struct parse *ps = arg;
	int rc;

	if (l->section)
		return section(ps, l, err, errlen);
	if (!*l->value) {
		snprintf(err, errlen, "line %zu: %s has no value", l->lineno, l->key);
		return -EINVAL;
	}
	/* Settings before the first [principal] are the service's; a later one wins. */
	if (ps->cur) {
		rc = principal_setting(ps, l, err, errlen);
	} else if (is_path_setting(l->key) && l->value[0] != '/' && ps->base_dir) {
		/* Relative to the config file, as the secret files are; never to the cwd. */
		char path[4096];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", ps->base_dir, l->value) >= sizeof(path))
			rc = -ENAMETOOLONG;
		else
			rc = service_setting(ps->cfg, l->key, path);
	} else {
		rc = service_setting(ps->cfg, l->key, l->value);
	}
	if (rc && !*err)
		snprintf(err, errlen, "line %zu: invalid %s '%s'", l->lineno, l->key,
			 rc == -ENOMEM ? "(out of memory)" : l->value);
	return rc;
}

int config_parse(const char *text, const char *base_dir, struct kmsd_config *cfg,
		 char *err, size_t errlen)
{
	struct parse ps = { cfg, base_dir, NULL };
	size_t i, j;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	cfg->max_body = 64 * 1024;
	cfg->max_connections = 128;
	cfg->threads = 4;
	cfg->connection_timeout = 10;
	cfg->request_timeout = 30;
	cfg->max_connections_per_source = 32;
	cfg->max_skew = 15 * 60;
	cfg->durable = 1;
	if (set_str(&cfg->store, "sqlite") || set_str(&cfg->listen, "127.0.0.1:8700") || set_str(&cfg->region, "us-east-1") ||
	    set_str(&cfg->account_id, "111122223333") ||
	    set_str(&cfg->state_dir, KMSD_DEFAULT_STATE_DIR))
		return -ENOMEM;
	rc = ebs_conf_scan(text, strlen(text), EBS_CONF_SECTIONS, parse_line, &ps, err, errlen);
	if (!rc && ps.cur)
		rc = check_principal(ps.cur, err, errlen);
	if (!rc && !strcmp(cfg->store, "postgresql") && !cfg->pg_conninfo) {
		snprintf(err, errlen, "store = postgresql needs pg_conninfo");
		rc = -EINVAL;
	}
	if (!rc && cfg->tls_client_ca && !cfg->tls_cert) {
		rc = -EINVAL;
		snprintf(err, errlen, "tls_client_ca needs tls_cert and tls_key");
	}
	if (!rc && (!cfg->tls_cert) != (!cfg->tls_key)) {
		snprintf(err, errlen, "tls_cert and tls_key go together");
		rc = -EINVAL;
	}
	for (i = 0; !rc && i < cfg->nprincipals; i++)
		for (j = i + 1; j < cfg->nprincipals; j++) {
			if (!strcmp(cfg->principals[i].name, cfg->principals[j].name)) {
				snprintf(err, errlen, "principal %s is configured twice",
					 cfg->principals[i].name);
				rc = -EINVAL;
				break;
			}
			if (cfg->principals[i].access_key_id && cfg->principals[j].access_key_id &&
			    !strcmp(cfg->principals[i].access_key_id, cfg->principals[j].access_key_id)) {
				snprintf(err, errlen, "access key %s is configured twice",
					 cfg->principals[i].access_key_id);
				rc = -EINVAL;
				break;
			}
		}
	if (rc)
		config_free(cfg);
	return rc;
}

/*
 * The config a subcommand reads: --config FILE, else DIR/kmsd.conf for
 * --state-dir DIR, else the default one the unit reads.
 */
const char *config_path(const char *cfg_path, const char *state_dir, char *buf, size_t len)
{
	if (cfg_path)
		return cfg_path;
	if (state_dir) {
		snprintf(buf, len, "%s/kmsd.conf", state_dir);
		return buf;
	}
	return KMSD_DEFAULT_CONFIG;
}

int config_load(const char *path, struct kmsd_config *cfg, char *err, size_t errlen)
{
	_cleanup_file_ struct ebs_file f = { 0 };
	_cleanup_free_ char *dir = NULL, *abs_dir = NULL;
	char *slash;
	int rc;

	rc = ebs_file_read(path, CFG_MAX_FILE, EBS_FILE_TEXT, &f);
	if (rc == -EBADMSG) {
		snprintf(err, errlen, "%s contains NUL bytes", path);
		return -EINVAL;
	}
	if (rc == -EFBIG || rc == -EIO || rc == -EINVAL) {
		snprintf(err, errlen, "cannot read %s (or larger than %d bytes)", path, CFG_MAX_FILE);
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	/*
	 * Absolute, so that relative paths in the file mean the same after the
	 * daemon detaches (and changes to /) as while it reads the file.
	 */
	abs_dir = realpath(slash ? (*dir ? dir : "/") : ".", NULL);
	if (!abs_dir) {
		rc = -errno;
		snprintf(err, errlen, "cannot resolve the directory of %s: %s", path, strerror(-rc));
		return rc;
	}
	return config_parse(f.data, abs_dir, cfg, err, errlen);
}

void config_free(struct kmsd_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nprincipals; i++) {
		struct principal *p = &cfg->principals[i];

		free(p->name);
		free(p->arn);
		free(p->access_key_id);
		secmem_free(p->secret);
	}
	free(cfg->principals);
	free(cfg->listen);
	free(cfg->state_dir);
	free(cfg->region);
	free(cfg->account_id);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->store);
	free(cfg->pg_conninfo);
	free(cfg->tls_client_ca);
	free(cfg->service_host_name);
	memset(cfg, 0, sizeof(*cfg));
}

const struct principal *config_find_access_key(const struct kmsd_config *cfg, const char *akid)
{
	size_t i;

	for (i = 0; i < cfg->nprincipals; i++)
		if (cfg->principals[i].access_key_id && !strcmp(cfg->principals[i].access_key_id, akid))
			return &cfg->principals[i];
	return NULL;
}

const struct principal *config_find_principal(const struct kmsd_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nprincipals; i++)
		if (!strcmp(cfg->principals[i].name, name))
			return &cfg->principals[i];
	return NULL;
}

int config_listen_is_local(const char *listen)
{
	char host[64];
	const char *colon;
	struct in_addr a4;
	struct in6_addr a6;
	size_t hl;

	if (!strncmp(listen, "unix:", 5))
		return 1;
	if (*listen == '[') {
		const char *end = strchr(listen, ']');

		if (!end || (size_t)(end - listen - 1) >= sizeof(host))
			return 0;
		memcpy(host, listen + 1, (size_t)(end - listen - 1));
		host[end - listen - 1] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	colon = strrchr(listen, ':');
	hl = colon ? (size_t)(colon - listen) : strlen(listen);
	if (hl >= sizeof(host))
		return 0;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (!strcmp(host, "localhost"))
		return 1;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}
