// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secmem.h"

/* Secrets live in whole pages of their own, so madvise/mlock cover them only. */
static size_t secmem_span(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) & ~(page - 1);
}

void *secmem_alloc(size_t len)
{
	size_t span;
	void *p;

	if (!len) {
		errno = EINVAL;
		return NULL;
	}
	span = secmem_span(len);
	p = mmap(NULL, span, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, span) || madvise(p, span, MADV_DONTDUMP)) {
		int err = errno;

		munmap(p, span);
		errno = err;
		return NULL;
	}
	madvise(p, span, MADV_WIPEONFORK);
	return p;
}

void secmem_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

void secmem_free(void *p, size_t len)
{
	size_t span;

	if (!p)
		return;
	span = secmem_span(len);
	OPENSSL_cleanse(p, span);
	munlock(p, span);
	munmap(p, span);
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
