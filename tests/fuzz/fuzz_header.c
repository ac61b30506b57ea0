// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the volume header parser. Besides "never crash",
 * it checks a property: whatever decodes must re-encode to bytes that decode
 * to the same header (the codec has one canonical form).
 *
 * Each input is decoded twice: as it is, and padded to a whole header with
 * its checksum (SHA-256 of everything before the last 32 bytes) made right,
 * so that mutations reach the field checks behind the checksum.
 *
 *   make fuzz FUZZ_TIME=60        # every target, 60 s each
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t fixed[EBS_HDR_SIZE];
	unsigned int n;

	round_trip(data, size);
	memset(fixed, 0, sizeof(fixed));
	memcpy(fixed, data, size < sizeof(fixed) ? size : sizeof(fixed));
	if (!EVP_Digest(fixed, EBS_HDR_SIZE - 32, fixed + EBS_HDR_SIZE - 32, &n, EVP_sha256(), NULL))
		abort();
	round_trip(fixed, sizeof(fixed));
	return 0;
}

static void round_trip(const uint8_t *data, size_t size)
{
	static struct ebs_header h, h2;
	static uint8_t buf[EBS_HDR_SIZE], buf2[EBS_HDR_SIZE];
	char why[160];

	if (ebs_header_decode(data, size, &h, why, sizeof(why)))
		return;
	if (ebs_header_encode(&h, buf, sizeof(buf)))
		abort();
	if (ebs_header_decode(buf, sizeof(buf), &h2, why, sizeof(why)))
		abort();
	if (ebs_header_encode(&h2, buf2, sizeof(buf2)) || memcmp(buf, buf2, sizeof(buf)))
		abort();
	/* Canonical input must come back byte for byte. */
	if (size == EBS_HDR_SIZE && memcmp(data, buf, sizeof(buf)))
		abort();
}
