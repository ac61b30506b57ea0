/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory for secrets (plaintext DEKs, secret access keys): locked so it is
 * never swapped, excluded from core dumps, and wiped before it is released.
 */
#ifndef EBSCRYPT_SECMEM_H
#define EBSCRYPT_SECMEM_H

#include <stddef.h>

/* Returns zeroed, locked, non-dumpable memory, or NULL with errno set. */
void *secmem_alloc(size_t len);
/* Wipes and releases; NULL-tolerant. */
void secmem_free(void *p, size_t len);
/* Wipes in a way the compiler cannot elide. */
void secmem_wipe(void *p, size_t len);
/*
 * Process-wide hardening for programs that handle secrets: no core dumps,
 * not ptrace-attachable by other users, no new privileges.
 * Returns 0 or -errno.
 */
int secmem_harden_process(void);

#endif
