/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Strict standard base64 (RFC 4648, padded, no whitespace) over OpenSSL's
 * EVP block coder. Strict because blobs and plaintexts arrive from the wire:
 * anything that is not exactly canonical base64 is refused, never guessed at.
 */
#ifndef EBSCRYPT_BASE64_H
#define EBSCRYPT_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes, without the terminating NUL. */
size_t b64_encoded_len(size_t n);

/* Encodes into out (at least b64_encoded_len(n) + 1 bytes), NUL-terminated. */
void b64_encode_to(const uint8_t *in, size_t n, char *out);

/* Encodes into a malloc'd NUL-terminated string. 0 or -ENOMEM. */
int b64_encode(const uint8_t *in, size_t n, char **out);

/* Validates in[0..n) and gives the decoded length. 0 or -EINVAL. */
int b64_decoded_len(const char *in, size_t n, size_t *out_len);

/*
 * Decodes exactly the decoded length into out (no scratch bytes beyond it
 * are written, so out may be an exact-size secret buffer).
 * 0, -EINVAL (not canonical base64) or -ENOSPC (cap too small).
 */
int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

#endif
