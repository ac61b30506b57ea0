/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cleanup that cannot be forgotten, in the style of systemd's _cleanup_: a
 * variable declared with one of these is released when it goes out of
 * scope, on every return path. Initialise it (NULL, -1) where it is
 * declared. Locked secrets have _cleanup_secmem_ in secmem.h.
 */
#ifndef EBSCRYPT_CLEANUP_H
#define EBSCRYPT_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

#include <json-c/json.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void json_putp(struct json_object **o)
{
	json_object_put(*o);
}

#define _cleanup_free_  _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_json_  _cleanup_(json_putp)

/* Hands a cleanup variable's value over, so scope exit no longer releases it. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

#endif
