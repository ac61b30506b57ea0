// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: ebscrypt-kmsd's request path, body and headers through
 * SigV4, dispatch and the operation, on a real store (tests/fuzz/kmsd_fixture.c).
 *
 * Input: one byte choosing the caller (admin, host, outsider, or unsigned),
 * then a line with the operation name, header lines "name: value" up to an
 * empty line, and the body. Signed callers get a valid signature over all
 * of it; the unsigned one sends the header lines as they are.
 */
#include <stdint.h>
#include <string.h>

#include "kmsd_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char lines[9][512];
	struct sigv4_header h[8];
	const char *p = (const char *)data + 1;
	size_t left, n = 0;
	enum fx_who who;

	if (!size)
		return 0;
	who = (enum fx_who)(data[0] % FX_NWHO);
	left = size - 1;
	fx_take_line(&p, &left, lines[8], sizeof(lines[8]));
	while (left && n < 8) {
		char *colon;

		fx_take_line(&p, &left, lines[n], sizeof(lines[n]));
		if (!lines[n][0])
			break;
		colon = strchr(lines[n], ':');
		if (!colon)
			continue;
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		h[n].name = lines[n];
		h[n].value = colon;
		n++;
	}
	fx_call(who, lines[8], h, n, p, left, NULL, 0);
	return 0;
}
