// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "readfile.h"
#include "secmem.h"

static int key_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static int allowed_key(const char *const *allowed, const char *key)
{
	if (!allowed)
		return 1;
	for (; *allowed; allowed++)
		if (!strcmp(*allowed, key))
			return 1;
	return 0;
}

static int add_entry(struct ebs_conf *c, const char *k, size_t kl, const char *v, size_t vl)
{
	struct ebs_conf_entry *ne = realloc(c->e, (c->n + 1) * sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	c->e = ne;
	ne[c->n].key = strndup(k, kl);
	ne[c->n].value = strndup(v, vl);
	if (!ne[c->n].key || !ne[c->n].value) {
		free(ne[c->n].key);
		free(ne[c->n].value);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

int ebs_conf_parse(const char *text, size_t len, const char *const *allowed,
		   struct ebs_conf *c, char *why, size_t why_len)
{
	size_t pos = 0, lineno = 0;
	char key[EBS_CONF_MAX_LINE];
	int rc = 0;

	c->e = NULL;
	c->n = 0;
	if (len > EBS_CONF_MAX_BYTES) {
		snprintf(why, why_len, "file larger than %d bytes", EBS_CONF_MAX_BYTES);
		return -EFBIG;
	}
	while (pos < len && !rc) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos, i = 0, kl, vs, ve;

		pos += ll + (nl ? 1 : 0);
		lineno++;
		if (ll > EBS_CONF_MAX_LINE) {
			snprintf(why, why_len, "line %zu: longer than %d bytes", lineno, EBS_CONF_MAX_LINE);
			rc = -EINVAL;
			break;
		}
		if (memchr(line, '\0', ll)) {
			snprintf(why, why_len, "line %zu: NUL byte", lineno);
			rc = -EINVAL;
			break;
		}
		while (i < ll && is_space(line[i]))
			i++;
		if (i == ll || line[i] == '#')
			continue;
		kl = 0;
		while (i + kl < ll && key_char(line[i + kl]))
			kl++;
		memcpy(key, line + i, kl);
		key[kl] = '\0';
		i += kl;
		while (i < ll && is_space(line[i]))
			i++;
		if (!kl || i == ll || line[i] != '=') {
			snprintf(why, why_len, "line %zu: expected \"key = value\"", lineno);
			rc = -EINVAL;
			break;
		}
		i++;
		while (i < ll && is_space(line[i]))
			i++;
		vs = i;
		ve = ll;
		while (ve > vs && is_space(line[ve - 1]))
			ve--;
		if (!allowed_key(allowed, key)) {
			snprintf(why, why_len, "line %zu: unknown setting \"%s\"", lineno, key);
			rc = -EINVAL;
		} else if (ebs_conf_get(c, key)) {
			snprintf(why, why_len, "line %zu: \"%s\" set twice", lineno, key);
			rc = -EINVAL;
		} else {
			rc = add_entry(c, key, kl, line + vs, ve - vs);
		}
	}
	secmem_wipe(key, sizeof(key));
	if (rc)
		ebs_conf_free(c);
	return rc;
}

int ebs_conf_load(const char *path, int private_only, const char *const *allowed,
		  struct ebs_conf *c, char *why, size_t why_len)
{
	/* Locked: the file holds credentials. */
	unsigned int flags = EBS_FILE_NOFOLLOW | EBS_FILE_SECRET |
			     (private_only ? EBS_FILE_PRIVATE | EBS_FILE_OWNED : 0);
	_cleanup_file_ struct ebs_file f = { 0 };
	int rc;

	rc = ebs_file_read(path, EBS_CONF_MAX_BYTES, flags, &f);
	if (rc == -EINVAL)
		snprintf(why, why_len, "not a regular file");
	else if (rc == -EPERM)
		snprintf(why, why_len, "holds credentials but is mode %04o owned by uid %u: "
			 "it must be owned by uid %u and mode 0600",
			 f.st.st_mode & 07777, f.st.st_uid, geteuid());
	else if (rc == -EFBIG)
		snprintf(why, why_len, "file larger than %d bytes", EBS_CONF_MAX_BYTES);
	else if (rc == -EIO || rc == -ENOMEM)
		snprintf(why, why_len, "cannot read: %s", strerror(-rc));
	else if (rc)
		snprintf(why, why_len, "cannot open: %s", strerror(-rc));
	if (rc)
		return rc;
	return ebs_conf_parse(f.data, f.len, allowed, c, why, why_len);
}

const char *ebs_conf_get(const struct ebs_conf *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].key, key))
			return c->e[i].value;
	return NULL;
}

int ebs_conf_get_long(const struct ebs_conf *c, const char *key, long def,
		      long min, long max, long *out, char *why, size_t why_len)
{
	const char *v = ebs_conf_get(c, key);
	char *end;
	long x;

	if (!v || !*v) {
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || *end || x < min || x > max) {
		snprintf(why, why_len, "\"%s\" must be an integer in %ld..%ld", key, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

void ebs_conf_free(struct ebs_conf *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		secmem_wipe(c->e[i].value, strlen(c->e[i].value));
		free(c->e[i].key);
		free(c->e[i].value);
	}
	free(c->e);
	c->e = NULL;
	c->n = 0;
}
