/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON that carries secrets (plaintext data keys in KMS replies, plaintexts
 * in requests) without leaving copies behind, built on json-c where json-c
 * can be trusted with them:
 *
 *  - writing: json-c holds the structure, secjson_write() serialises it
 *    into a strbuf (which wipes every buffer it outgrows, and with
 *    sb_init_locked() keeps the text in locked memory), and the secret
 *    members are written from their own locked buffers: a plaintext key
 *    never becomes a json-c string (json-c's serialiser grows its buffer
 *    with realloc and leaves partial copies behind);
 *  - reading a request: secjson_parse() runs json-c's tokener with its
 *    scratch buffer sized up front (so it never reallocates) and wiped
 *    afterwards, and secjson_wipe() overwrites every string of the tree
 *    before it is released;
 *  - reading a secret out of a reply held in locked memory:
 *    secjson_member() finds a top-level string member in place and
 *    resolves its escapes in place, copying nothing. json-c cannot do
 *    this: it copies every string it parses into the heap.
 */
#ifndef EBSCRYPT_SECJSON_H
#define EBSCRYPT_SECJSON_H

#include <stddef.h>

#include <json-c/json.h>

#include "strbuf.h"

/* A member whose value is a secret string (NUL-terminated, in locked memory). */
struct secjson_secret {
	const char *name;
	const char *value;
};

/*
 * Writes o; when o is an object, the n secrets are written as more string
 * members of it (after its own).
 */
void secjson_write(struct strbuf *sb, struct json_object *o, const struct secjson_secret *secrets,
		   size_t n);
/* Exactly len bytes as one strict JSON value, at most depth deep; NULL on error. */
struct json_object *secjson_parse(const char *buf, size_t len, int depth);
/* Overwrites every string value (recursively) in place. */
void secjson_wipe(struct json_object *o);
/*
 * Finds the top-level string member name of the object in buf[0..len): 0
 * with *value and *value_len its text inside buf (the escapes \" \\ and \/
 * resolved in place, anything else refused), -ENOENT when absent, -EPROTO
 * when buf is not a well-formed object or the member not a string.
 */
int secjson_member(char *buf, size_t len, const char *name, char **value, size_t *value_len);

#endif
