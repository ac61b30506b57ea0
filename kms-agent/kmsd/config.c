// SPDX-License-Identifier: GPL-2.0
/*
 * Config file: "key = value" lines, '#' comments, and one
 * "[principal NAME]" section per access key. Secrets are never in the config
 * itself: each principal names a 0600 file holding its secret access key,
 * so the config can be world-readable and secrets never reach argv or env.
 * The format is documented in docs/kmsd.md.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmsd.h"
#include "secmem.h"

#define CFG_MAX_FILE (256 * 1024)
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
	char buf[300];
	struct stat st;
	ssize_t n;
	size_t l;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open secret file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen, "secret file %s must be a regular file with mode 0600", path);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "secret file %s is empty", path);
		return -EINVAL;
	}
	buf[n] = '\0';
	l = (size_t)n;
	while (l && isspace((unsigned char)buf[l - 1]))
		buf[--l] = '\0';
	if (!l || l > 256 || strchr(buf, '\n')) {
		secmem_wipe(buf, sizeof(buf));
		snprintf(err, errlen, "secret file %s must hold one secret of 1..256 characters", path);
		return -EINVAL;
	}
	*secret = secmem_alloc(l + 1);
	if (!*secret) {
		secmem_wipe(buf, sizeof(buf));
		return -errno;
	}
	memcpy(*secret, buf, l);
	*len = l;
	secmem_wipe(buf, sizeof(buf));
	return 0;
}

static int check_principal(const struct principal *p, char *err, size_t errlen)
{
	if (!p->arn || !p->access_key_id || !p->secret) {
		snprintf(err, errlen, "principal %s needs arn, access_key_id and secret_access_key_file",
			 p->name);
		return -EINVAL;
	}
	return 0;
}

int config_parse(const char *text, const char *base_dir, struct kmsd_config *cfg,
		 char *err, size_t errlen)
{
	char *copy, *line, *save = NULL;
	struct principal *cur = NULL;
	int lineno = 0, rc = 0;
	unsigned long n;
	size_t i, j;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	cfg->max_body = 64 * 1024;
	cfg->max_connections = 128;
	cfg->threads = 4;
	cfg->connection_timeout = 10;
	cfg->max_skew = 15 * 60;
	if (set_str(&cfg->listen, "127.0.0.1:8700") || set_str(&cfg->region, "us-east-1") ||
	    set_str(&cfg->account_id, "111122223333") ||
	    set_str(&cfg->state_dir, KMSD_DEFAULT_STATE_DIR))
		return -ENOMEM;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	/* strtok_r would merge empty lines and break line numbers; split by hand. */
	for (line = copy; line; line = save) {
		char *nl = strchr(line, '\n'), *eq, *k, *v;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		k = strchr(line, '#');
		if (k)
			*k = '\0';
		k = trim(line);
		if (!*k)
			continue;
		if (*k == '[') {
			char *end = strchr(k, ']'), *name;
			struct principal *np;

			if (!end || end[1] || strncmp(k, "[principal ", 11)) {
				snprintf(err, errlen, "line %d: expected [principal NAME]", lineno);
				rc = -EINVAL;
				break;
			}
			*end = '\0';
			name = trim(k + 11);
			if (!*name || cfg->nprincipals == CFG_MAX_PRINCIPALS) {
				snprintf(err, errlen, "line %d: bad or too many principals", lineno);
				rc = -EINVAL;
				break;
			}
			if (cur && (rc = check_principal(cur, err, errlen)))
				break;
			np = realloc(cfg->principals, (cfg->nprincipals + 1) * sizeof(*np));
			if (!np) {
				rc = -ENOMEM;
				break;
			}
			cfg->principals = np;
			cur = &np[cfg->nprincipals++];
			memset(cur, 0, sizeof(*cur));
			cur->role = ROLE_NONE;
			if ((rc = set_str(&cur->name, name)))
				break;
			continue;
		}
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errlen, "line %d: expected key = value", lineno);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (!*v) {
			snprintf(err, errlen, "line %d: %s has no value", lineno, k);
			rc = -EINVAL;
			break;
		}
		if (cur) {
			if (!strcmp(k, "arn")) {
				rc = set_str(&cur->arn, v);
			} else if (!strcmp(k, "access_key_id")) {
				rc = set_str(&cur->access_key_id, v);
			} else if (!strcmp(k, "secret_access_key_file")) {
				char path[4096];

				if (cur->secret) {
					snprintf(err, errlen, "line %d: secret given twice", lineno);
					rc = -EINVAL;
					break;
				}
				if (*v == '/' || !base_dir)
					snprintf(path, sizeof(path), "%s", v);
				else
					snprintf(path, sizeof(path), "%s/%s", base_dir, v);
				rc = read_secret(path, &cur->secret, &cur->secret_len, err, errlen);
				if (rc)
					break;
			} else if (!strcmp(k, "role")) {
				if (!strcmp(v, "admin"))
					cur->role = ROLE_ADMIN;
				else if (!strcmp(v, "user"))
					cur->role = ROLE_USER;
				else if (!strcmp(v, "none"))
					cur->role = ROLE_NONE;
				else
					rc = -EINVAL;
			} else {
				rc = -EINVAL;
			}
		} else if (!strcmp(k, "listen")) {
			rc = set_str(&cfg->listen, v);
		} else if (!strcmp(k, "state_dir")) {
			rc = set_str(&cfg->state_dir, v);
		} else if (!strcmp(k, "region")) {
			rc = set_str(&cfg->region, v);
		} else if (!strcmp(k, "account_id")) {
			rc = strlen(v) == 12 && strspn(v, "0123456789") == 12 ?
			     set_str(&cfg->account_id, v) : -EINVAL;
		} else if (!strcmp(k, "tls_cert")) {
			rc = set_str(&cfg->tls_cert, v);
		} else if (!strcmp(k, "tls_key")) {
			rc = set_str(&cfg->tls_key, v);
		} else if (!strcmp(k, "max_body_bytes")) {
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
		} else if (!strcmp(k, "max_clock_skew_s")) {
			rc = parse_uint(v, 1, 3600, &n);
			cfg->max_skew = (unsigned int)n;
		} else {
			rc = -EINVAL;
		}
		if (rc) {
			if (!*err)
				snprintf(err, errlen, "line %d: invalid %s '%s'", lineno, k,
					 rc == -ENOMEM ? "(out of memory)" : v);
			break;
		}
	}
	free(copy);
	if (!rc && cur)
		rc = check_principal(cur, err, errlen);
	if (!rc && (!cfg->tls_cert) != (!cfg->tls_key)) {
		snprintf(err, errlen, "tls_cert and tls_key go together");
		rc = -EINVAL;
	}
	for (i = 0; !rc && i < cfg->nprincipals; i++)
		for (j = i + 1; j < cfg->nprincipals; j++)
			if (!strcmp(cfg->principals[i].access_key_id, cfg->principals[j].access_key_id)) {
				snprintf(err, errlen, "access key %s is configured twice",
					 cfg->principals[i].access_key_id);
				rc = -EINVAL;
				break;
			}
	if (rc)
		config_free(cfg);
	return rc;
}

int config_load(const char *path, struct kmsd_config *cfg, char *err, size_t errlen)
{
	char *text, *dir, *slash;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	text = malloc(CFG_MAX_FILE + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, text + len, CFG_MAX_FILE + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len > CFG_MAX_FILE) {
		free(text);
		snprintf(err, errlen, "cannot read %s (or larger than %d bytes)", path, CFG_MAX_FILE);
		return -EINVAL;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		free(text);
		snprintf(err, errlen, "%s contains NUL bytes", path);
		return -EINVAL;
	}
	dir = strdup(path);
	if (!dir) {
		free(text);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	rc = config_parse(text, slash ? dir : ".", cfg, err, errlen);
	free(dir);
	free(text);
	return rc;
}

void config_free(struct kmsd_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nprincipals; i++) {
		struct principal *p = &cfg->principals[i];

		free(p->name);
		free(p->arn);
		free(p->access_key_id);
		secmem_free(p->secret, p->secret_len + 1);
	}
	free(cfg->principals);
	free(cfg->listen);
	free(cfg->state_dir);
	free(cfg->region);
	free(cfg->account_id);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	memset(cfg, 0, sizeof(*cfg));
}

const struct principal *config_find_access_key(const struct kmsd_config *cfg, const char *akid)
{
	size_t i;

	for (i = 0; i < cfg->nprincipals; i++)
		if (!strcmp(cfg->principals[i].access_key_id, akid))
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
