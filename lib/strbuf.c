// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "secmem.h"
#include "strbuf.h"

void sb_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void sb_init_locked(struct strbuf *sb)
{
	sb_init(sb);
	sb->locked = 1;
}

static void release(struct strbuf *sb)
{
	if (sb->locked)
		secmem_free(sb->buf);
	else
		free(sb->buf);
}

static int sb_grow(struct strbuf *sb, size_t extra)
{
	size_t need, ncap;
	char *nb;

	if (sb->oom)
		return -1;
	need = sb->len + extra + 1;
	if (need < sb->len) {
		sb->oom = 1;
		return -1;
	}
	if (need <= sb->cap)
		return 0;
	ncap = sb->cap ? sb->cap : 64;
	while (ncap < need)
		ncap *= 2;
	/* Not realloc: the old buffer may have held a secret and must be wiped. */
	nb = sb->locked ? secmem_alloc(ncap) : malloc(ncap);
	if (!nb) {
		sb->oom = 1;
		return -1;
	}
	if (sb->buf) {
		memcpy(nb, sb->buf, sb->len + 1);
		OPENSSL_cleanse(sb->buf, sb->cap);
		release(sb);
	}
	sb->buf = nb;
	sb->cap = ncap;
	return 0;
}

void sb_add(struct strbuf *sb, const void *data, size_t len)
{
	if (sb_grow(sb, len))
		return;
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->oom = 1;
		return;
	}
	if (sb_grow(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

int sb_finish(struct strbuf *sb, char **out)
{
	int locked = sb->locked;

	if (sb->oom) {
		sb_wipe_free(sb);
		return -ENOMEM;
	}
	if (!sb->buf) {
		if (sb_grow(sb, 0))
			return -ENOMEM;
		/* Nothing was ever added: the new buffer is still uninitialised. */
		sb->buf[0] = '\0';
	}
	*out = sb->buf;
	sb_init(sb);
	sb->locked = locked;
	return 0;
}

void sb_wipe_free(struct strbuf *sb)
{
	if (sb->buf)
		OPENSSL_cleanse(sb->buf, sb->cap);
	sb_free(sb);
}

void sb_free(struct strbuf *sb)
{
	int locked = sb->locked;

	release(sb);
	sb_init(sb);
	sb->locked = locked;
}
