/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON serialisation and wiping for replies that may carry plaintext.
 * json-c's own serialiser grows its buffer with realloc and leaves partial
 * copies behind; strbuf wipes every buffer it outgrows.
 */
#ifndef EBSCRYPT_KMSD_JSON_OUT_H
#define EBSCRYPT_KMSD_JSON_OUT_H

#include <json-c/json.h>

#include "strbuf.h"

void json_write(struct strbuf *sb, struct json_object *o);
/* Overwrites every string value (recursively) in place. */
void json_wipe_strings(struct json_object *o);
/*
 * Parses exactly len bytes as one JSON value with a depth limit, sizing
 * json-c's scratch buffer up front so it never reallocates (and so never
 * leaves unwiped copies), and wipes that buffer afterwards. NULL on error.
 */
struct json_object *json_parse_wiped(const char *buf, size_t len, int depth);

#endif
