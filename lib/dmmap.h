/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device-mapper through libdevmapper, for the agent (create, remove) and
 * ebscryptctl (suspend/resume around a snapshot). 0 or -errno.
 */
#ifndef EBSCRYPT_DMMAP_H
#define EBSCRYPT_DMMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The uuids of ebscrypt's mappings, which are the record of what is
 * attached. Every attached volume's mapping is DM_UUID_VOLUME<vol>; under it
 * the agent puts a linear "base" mapping over the loop device or disk
 * (DM_UUID_BASE<vol>), so a snapshot can switch the base to snapshot-origin
 * without reloading the encrypted table (whose key the agent no longer
 * holds). A snapshot in progress has one dm-snapshot mapping,
 * DM_UUID_CAPTURE<vol>. A read-only copy source is DM_UUID_COPY<name>.
 */
#define DM_UUID_VOLUME  "EBSCRYPT-"
#define DM_UUID_COPY    DM_UUID_VOLUME "COPY-"
#define DM_UUID_BASE    "EBSBASE-"
#define DM_UUID_CAPTURE "EBSSNAP-"

int dm_setup(void);
/* 1 when the kernel has the target, 0 when not, -ENODEV without device-mapper. */
int dm_has_target(const char *target);
enum dm_access { DM_READ_WRITE, DM_READ_ONLY };
int dm_create_mapping(const char *name, const char *uuid, uint64_t sectors,
		      const char *target, const char *params, enum dm_access access);
/* 0 and the name (if name) when found, -ENODEV when not. */
int dm_find_uuid(const char *uuid, char *name, size_t name_len);
int dm_uuid_of(const char *name, char *uuid, size_t uuid_len);
int dm_remove_uuid(const char *uuid);
/* Suspending flushes in-flight I/O and freezes a filesystem on the mapping. */
int dm_suspend_uuid(const char *uuid);
int dm_resume_uuid(const char *uuid);
/* Loads an inactive single-target table; the next resume swaps it in. */
int dm_reload_uuid(const char *uuid, uint64_t sectors, const char *target, const char *params);
/* The live table of a single-target mapping. */
int dm_table_uuid(const char *uuid, char *target, size_t target_len, char *params, size_t params_len,
		  uint64_t *sectors);
/* The live target's status line (what `dmsetup status` prints after the type). */
int dm_status_uuid(const char *uuid, char *status, size_t len);
/* Whether the mapping is suspended, and whether a loaded table waits for the next resume. */
int dm_state_uuid(const char *uuid, int *suspended, int *inactive_table);
/* "major:minor" of the mapping's own block device. */
int dm_devno_uuid(const char *uuid, char *devno, size_t len);
/* Calls fn for every mapping whose uuid starts with prefix. */
int dm_each(const char *prefix, void (*fn)(const char *name, const char *uuid, void *arg),
	    void *arg);

#endif
