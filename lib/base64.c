// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base64.h"

size_t b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void b64_encode_to(const uint8_t *in, size_t n, char *out)
{
	/* EVP_EncodeBlock takes an int; callers never pass gigabytes, but stay safe. */
	size_t done = 0, o = 0;

	while (n - done > 0) {
		size_t chunk = n - done;

		if (chunk > (1u << 30))
			chunk = 1u << 30;
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, in + done, (int)chunk);
		done += chunk;
	}
	out[o] = '\0';
}

int b64_encode(const uint8_t *in, size_t n, char **out)
{
	char *s = malloc(b64_encoded_len(n) + 1);

	if (!s)
		return -ENOMEM;
	b64_encode_to(in, n, s);
	*out = s;
	return 0;
}

static int b64_valid_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int b64_decoded_len(const char *in, size_t n, size_t *out_len)
{
	size_t pad = 0, i;

	if (n % 4)
		return -EINVAL;
	if (n && in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	for (i = 0; i < n - pad; i++)
		if (!b64_valid_char((unsigned char)in[i]))
			return -EINVAL;
	*out_len = n / 4 * 3 - pad;
	return 0;
}

int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	unsigned char last[3];
	size_t len, body;
	int rc;

	rc = b64_decoded_len(in, n, &len);
	if (rc)
		return rc;
	if (len > cap)
		return -ENOSPC;
	if (!n) {
		*out_len = 0;
		return 0;
	}
	/*
	 * Full quads go straight to out; the last quad (which may carry padding)
	 * goes through a 3-byte scratch so nothing is written past len.
	 */
	body = n - 4;
	if (body && EVP_DecodeBlock(out, (const unsigned char *)in, (int)body) != (int)(body / 4 * 3))
		return -EINVAL;
	if (EVP_DecodeBlock(last, (const unsigned char *)in + body, 4) != 3) {
		OPENSSL_cleanse(last, sizeof(last));
		return -EINVAL;
	}
	memcpy(out + body / 4 * 3, last, len - body / 4 * 3);
	OPENSSL_cleanse(last, sizeof(last));
	*out_len = len;
	return 0;
}
