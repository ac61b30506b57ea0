// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secmem.h"

#define SECMEM_MAGIC 0x45425353454d454dull /* "EBSSEMEM" */

static size_t secmem_count;

/*
 * Secrets live in whole pages of their own, so madvise/mlock cover them
 * only. The first bytes of the mapping record its size; the caller's
 * memory follows, aligned for any type.
 */
struct secmem_head {
	uint64_t magic;
	size_t span;              /* the whole mapping, header included */
	size_t len;               /* what the caller asked for */
} __attribute__((aligned(16)));

static size_t secmem_span(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + sizeof(struct secmem_head) + page - 1) & ~(page - 1);
}

static struct secmem_head *head_of(const void *p)
{
	struct secmem_head *h = (struct secmem_head *)p - 1;

	/* Anything else is a caller's bug that would unmap the wrong memory. */
	if (h->magic != SECMEM_MAGIC)
		abort();
	return h;
}

void *secmem_alloc(size_t len)
{
	struct secmem_head *h;
	size_t span;

	if (!len || len > SIZE_MAX / 2) {
		errno = EINVAL;
		return NULL;
	}
	span = secmem_span(len);
	h = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	if (mlock(h, span) || madvise(h, span, MADV_DONTDUMP)) {
		int err = errno;

		munmap(h, span);
		errno = err;
		return NULL;
	}
	/* A fork()ed child (a helper, or a daemon detaching too late) sees zeroes. */
	madvise(h, span, MADV_WIPEONFORK);
	__atomic_add_fetch(&secmem_count, 1, __ATOMIC_RELAXED);
	h->magic = SECMEM_MAGIC;
	h->span = span;
	h->len = len;
	return h + 1;
}

size_t secmem_size(const void *p)
{
	return p ? head_of(p)->len : 0;
}

void secmem_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

void secmem_free(void *p)
{
	struct secmem_head *h;
	size_t span;

	if (!p)
		return;
	h = head_of(p);
	span = h->span;
	OPENSSL_cleanse(h, span);
	munlock(h, span);
	munmap(h, span);
	__atomic_sub_fetch(&secmem_count, 1, __ATOMIC_RELAXED);
}

size_t secmem_live(void)
{
	return __atomic_load_n(&secmem_count, __ATOMIC_RELAXED);
}

int secmem_harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &no_core))
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		return -errno;
	return 0;
}
