// SPDX-License-Identifier: GPL-2.0
/*
 * The tree checksum of a snapshot image; the definition is in treehash.h
 * and docs/volumes.md, and must never change under the same name: stored
 * snapshots are verified against it.
 */
#include <errno.h>

#include "treehash.h"

static const char prefix[] = "ebscrypt-sha256-tree-v1"; /* hashed with its NUL */

static void be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int treehash_begin(EVP_MD_CTX *root, uint64_t len)
{
	uint8_t sizes[16];

	be64(sizes, TREEHASH_LEAF);
	be64(sizes + 8, len);
	if (!EVP_DigestInit_ex(root, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(root, prefix, sizeof(prefix)) || !EVP_DigestUpdate(root, sizes, sizeof(sizes)))
		return -EIO;
	return 0;
}

int treehash_leaf(const uint8_t *buf, size_t n, uint8_t digest[32])
{
	unsigned int l = 32;

	return EVP_Digest(buf, n, digest, &l, EVP_sha256(), NULL) ? 0 : -EIO;
}

int treehash_add(EVP_MD_CTX *root, const uint8_t digest[32])
{
	return EVP_DigestUpdate(root, digest, 32) ? 0 : -EIO;
}

int treehash_end(EVP_MD_CTX *root, uint8_t out[32])
{
	unsigned int l = 32;

	return EVP_DigestFinal_ex(root, out, &l) ? 0 : -EIO;
}
