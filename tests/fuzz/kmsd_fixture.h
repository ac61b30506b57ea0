/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A real ebscrypt-kmsd for the fuzz targets, without the HTTP server: a
 * state directory made by `init` (its config, random principals, root key
 * and SQLite store), and requests handed to router_handle() exactly as the
 * HTTP layer hands them, signed (SigV4) with a principal's real secret or
 * sent as they come.
 */
#ifndef EBSCRYPT_FUZZ_KMSD_FIXTURE_H
#define EBSCRYPT_FUZZ_KMSD_FIXTURE_H

#include <stddef.h>

#include "kmsd.h"
#include "sigv4.h"

enum fx_who { FX_ADMIN, FX_HOST, FX_OUTSIDER, FX_UNSIGNED, FX_NWHO };

/* Sets the service up once per process (aborts when it cannot). */
struct kmsd *fx_kmsd(void);

/*
 * One POST / with X-Amz-Target TrentService.<op>, the extra headers (also
 * signed), and body; signed as who, or with extra as the only headers when
 * FX_UNSIGNED. The reply is checked (a status, a JSON body) and freed;
 * its status is returned, and its body copied into out when out_len.
 */
int fx_call(enum fx_who who, const char *op, const struct sigv4_header *extra, size_t nextra,
	    const char *body, size_t body_len, char *out, size_t out_len);

/* router_handle() on exactly these headers; the status (body copied as fx_call's). */
int fx_handle(const char *method, const char *url, const struct sigv4_header *h, size_t n,
	      const char *body, size_t body_len, char *out, size_t out_len);
/* A principal's access key id and secret (FX_ADMIN, FX_HOST, FX_OUTSIDER). */
const char *fx_akid(enum fx_who who);
const char *fx_secret(enum fx_who who);

/* Splits data at the first "\n": *line (NUL-terminated copy, truncated to cap) and the rest. */
const char *fx_take_line(const char **data, size_t *size, char *line, size_t cap);

#endif
