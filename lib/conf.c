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

/* The line without its comment: one starts at a '#' first on the line or after white space. */
static size_t strip_comment(const char *line, size_t ll)
{
	size_t i;

	for (i = 0; i < ll; i++)
		if (line[i] == '#' && (i == 0 || is_space(line[i - 1])))
			return i;
	return ll;
}

int ebs_conf_scan(const char *text, size_t len, unsigned int flags, ebs_conf_fn fn, void *arg,
		  char *why, size_t why_len)
{
	char buf[EBS_CONF_MAX_LINE + 1];
	struct ebs_conf_line l;
	size_t pos = 0, lineno = 0;
	int rc = 0;

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
		ll = strip_comment(line, ll);
		while (ll && is_space(line[ll - 1]))
			ll--;
		while (i < ll && is_space(line[i]))
			i++;
		if (i == ll)
			continue;
		memset(&l, 0, sizeof(l));
		l.lineno = lineno;
		if (line[i] == '[' && (flags & EBS_CONF_SECTIONS)) {
			memcpy(buf, line + i, ll - i);
			buf[ll - i] = '\0';
			l.section = buf;
			rc = fn(arg, &l, why, why_len);
			continue;
		}
		kl = 0;
		while (i + kl < ll && key_char(line[i + kl]))
			kl++;
		memcpy(buf, line + i, kl);
		buf[kl] = '\0';
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
		/* Key and value share buf: the value starts after the key's NUL. */
		memcpy(buf + kl + 1, line + vs, ve - vs);
		buf[kl + 1 + ve - vs] = '\0';
		l.key = buf;
		l.value = buf + kl + 1;
		rc = fn(arg, &l, why, why_len);
	}
	/* The buffer held values, some of them secrets. */
	secmem_wipe(buf, sizeof(buf));
	return rc;
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

static int add_entry(struct ebs_conf *c, const char *k, const char *v)
{
	struct ebs_conf_entry *ne = realloc(c->e, (c->n + 1) * sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	c->e = ne;
	ne[c->n].key = strdup(k);
	ne[c->n].value = strdup(v);
	if (!ne[c->n].key || !ne[c->n].value) {
		free(ne[c->n].key);
		free(ne[c->n].value);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

struct flat {
	struct ebs_conf *c;
	const char *const *allowed;
};

static int flat_entry(void *arg, const struct ebs_conf_line *l, char *why, size_t why_len)
{
	struct flat *f = arg;

	if (!allowed_key(f->allowed, l->key)) {
		snprintf(why, why_len, "line %zu: unknown setting \"%s\"", l->lineno, l->key);
		return -EINVAL;
	}
	if (ebs_conf_get(f->c, l->key)) {
		snprintf(why, why_len, "line %zu: \"%s\" set twice", l->lineno, l->key);
		return -EINVAL;
	}
	return add_entry(f->c, l->key, l->value);
}

int ebs_conf_parse(const char *text, size_t len, const char *const *allowed,
		   struct ebs_conf *c, char *why, size_t why_len)
{
	struct flat f = { c, allowed };
	int rc;

	c->e = NULL;
	c->n = 0;
	if (len > EBS_CONF_MAX_BYTES) {
		snprintf(why, why_len, "file larger than %d bytes", EBS_CONF_MAX_BYTES);
		return -EFBIG;
	}
	rc = ebs_conf_scan(text, len, EBS_CONF_NO_SECTIONS, flat_entry, &f, why, why_len);
	if (rc)
		ebs_conf_free(c);
	return rc;
}

int ebs_conf_load(const char *path, enum ebs_conf_holds holds, const char *const *allowed,
		  struct ebs_conf *c, char *why, size_t why_len)
{
	/* Locked: the file may hold credentials. */
	unsigned int flags = EBS_FILE_NOFOLLOW | EBS_FILE_SECRET |
			     (holds == EBS_CONF_CREDENTIALS ? EBS_FILE_PRIVATE | EBS_FILE_OWNED : 0);
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
