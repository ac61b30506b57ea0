/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The snapshot checksum "sha256-tree-2MiB" (treehash.c): SHA-256 of each
 * 2 MiB leaf of the image (the last one shorter), and a root
 *
 *   SHA-256( "ebscrypt-sha256-tree-v1" NUL || be64(leaf size) || be64(length)
 *            || leaf digest 0 || leaf digest 1 || ... )
 *
 * Leaves hash independently, so several CPUs can share the work; the root
 * takes the leaf digests in order, 32 bytes per 2 MiB, so it needs no memory
 * that grows with the image. The prefix keeps a root from ever equalling a
 * plain SHA-256 of some other content, and binds the leaf size and length.
 */
#ifndef EBSCRYPT_TREEHASH_H
#define EBSCRYPT_TREEHASH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define TREEHASH_ALG  "sha256-tree-2MiB"
#define TREEHASH_LEAF (2u << 20)

/* Starts a root over an image of len bytes; 0 or -ENOMEM/-EIO. */
int treehash_begin(EVP_MD_CTX *root, uint64_t len);
/* One leaf's digest (any thread, any order); 0 or -EIO. */
int treehash_leaf(const uint8_t *buf, size_t n, uint8_t digest[32]);
/* Leaf digests go into the root in leaf order; 0 or -EIO. */
int treehash_add(EVP_MD_CTX *root, const uint8_t digest[32]);
int treehash_end(EVP_MD_CTX *root, uint8_t out[32]);

#endif
