// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the volume header parser. Besides "never crash",
 * it checks a property: whatever decodes must re-encode to bytes that decode
 * to the same header (the codec has one canonical form).
 *
 *   make -C tests fuzz            # short run over tests/fuzz/corpus/header
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ebs_header h, h2;
	static uint8_t buf[EBS_HDR_SIZE], buf2[EBS_HDR_SIZE];
	char why[160];

	if (ebs_header_decode(data, size, &h, why, sizeof(why)))
		return 0;
	if (ebs_header_encode(&h, buf, sizeof(buf)))
		abort();
	if (ebs_header_decode(buf, sizeof(buf), &h2, why, sizeof(why)))
		abort();
	if (ebs_header_encode(&h2, buf2, sizeof(buf2)) || memcmp(buf, buf2, sizeof(buf)))
		abort();
	/* Canonical input must come back byte for byte. */
	if (size == EBS_HDR_SIZE && memcmp(data, buf, sizeof(buf)))
		abort();
	return 0;
}
