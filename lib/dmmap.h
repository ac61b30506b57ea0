/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device-mapper through libdevmapper, for the agent (create, remove) and
 * ebscryptctl (suspend/resume around a snapshot). 0 or -errno.
 */
#ifndef EBSCRYPT_DMMAP_H
#define EBSCRYPT_DMMAP_H

#include <stddef.h>
#include <stdint.h>

int dm_setup(void);
int dm_create_mapping(const char *name, const char *uuid, uint64_t sectors,
		      const char *target, const char *params, int read_only);
/* 0 and the name (if name) when found, -ENODEV when not. */
int dm_find_uuid(const char *uuid, char *name, size_t name_len);
int dm_uuid_of(const char *name, char *uuid, size_t uuid_len);
int dm_remove_uuid(const char *uuid);
int dm_suspend_uuid(const char *uuid, int suspend);
/* Calls fn for every mapping whose uuid starts with prefix. */
int dm_each(const char *prefix, void (*fn)(const char *name, const char *uuid, void *arg),
	    void *arg);

#endif
