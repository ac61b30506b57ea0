/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory for secrets (plaintext DEKs, secret access keys): locked so it is
 * never swapped, excluded from core dumps, and wiped before it is released.
 * An allocation remembers its own size, so releasing it needs only the
 * pointer.
 */
#ifndef EBSCRYPT_SECMEM_H
#define EBSCRYPT_SECMEM_H

#include <stddef.h>

/* Returns zeroed, locked, non-dumpable memory, or NULL with errno set. */
void *secmem_alloc(size_t len);
/* Wipes and releases the whole allocation; NULL-tolerant. */
void secmem_free(void *p);
/* The size secmem_alloc() was asked for; 0 for NULL. */
size_t secmem_size(const void *p);
/* How many allocations are alive (a fork would see them wiped). */
size_t secmem_live(void);
/* Wipes in a way the compiler cannot elide. */
void secmem_wipe(void *p, size_t len);
/*
 * Process-wide hardening for programs that handle secrets: no core dumps
 * (RLIMIT_CORE 0) and not dumpable, so no other user can ptrace it or read
 * its /proc/<pid>/mem. Returns 0 or -errno. (No new privileges is the
 * systemd units' NoNewPrivileges=, not this.)
 */
int secmem_harden_process(void);

/* For __attribute__((cleanup)): `_cleanup_secmem_ uint8_t *dek = NULL;`. */
static inline void secmem_freep(void *p)
{
	secmem_free(*(void **)p);
}
#define _cleanup_secmem_ __attribute__((cleanup(secmem_freep)))

#endif
