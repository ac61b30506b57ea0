/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Growable NUL-terminated byte string. A failed allocation is sticky
 * (sb->oom) so callers append freely and check once at the end.
 */
#ifndef EBSCRYPT_STRBUF_H
#define EBSCRYPT_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	int oom;
	int locked;               /* buffers from secmem (sb_init_locked) */
};

void sb_init(struct strbuf *sb);
/* For text that holds a secret: every buffer is locked memory (secmem). */
void sb_init_locked(struct strbuf *sb);
void sb_add(struct strbuf *sb, const void *data, size_t len);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over (caller frees: secmem_free() if locked); NULL and -ENOMEM semantics via rc. */
int sb_finish(struct strbuf *sb, char **out);
/* Wipes then frees (for buffers that held secrets). */
void sb_wipe_free(struct strbuf *sb);
void sb_free(struct strbuf *sb);

#endif
