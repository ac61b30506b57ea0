// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper through libdevmapper. Mappings carry the uuid
 * EBSCRYPT-<volume id>: the kernel, not an agent state file, is the record
 * of what is attached, so an agent restarted with mappings live finds them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <libdevmapper.h>

#include "dmmap.h"
#include "log.h"

/* libdevmapper prints through this; keep its noise at debug level. */
static void dm_log_cb(int level, const char *file, int line, int dm_errno,
		      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (level > 3)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ebs_debug("libdevmapper: %s", msg);
}

int dm_setup(void)
{
	/*
	 * Without udev (minimal hosts, the test VM) libdevmapper must create
	 * the /dev/mapper nodes itself, or nobody will.
	 */
	if (access("/run/udev/control", F_OK))
		setenv("DM_DISABLE_UDEV", "1", 0);
	dm_log_with_errno_init(dm_log_cb);
	return 0;
}

static int dm_control_missing(void)
{
	return access("/dev/mapper/control", F_OK) != 0;
}

/*
 * Every task is made here. dm_task_create() checks the driver's version
 * through /dev/mapper/control and creates a missing node first, which hides
 * a kernel without device-mapper (or a /dev without its node) until some
 * later step fails obscurely: without the node, no task is made, and the
 * caller's error (or the agent's preflight) says what is missing.
 */
static struct dm_task *task_create(int type)
{
	if (dm_control_missing()) {
		errno = ENODEV;
		return NULL;
	}
	return dm_task_create(type);
}

/* Why task_create() made no task: no device-mapper, or no memory. */
static int task_error(void)
{
	return dm_control_missing() ? -ENODEV : -ENOMEM;
}

/* Whether the task makes or changes a /dev node that udev handles: then wait for it. */
enum udev_sync { NO_UDEV_SYNC, UDEV_SYNC };

static int run_task(struct dm_task *dmt, enum udev_sync sync)
{
	uint32_t cookie = 0;
	int ok;

	if (sync == UDEV_SYNC && !dm_task_set_cookie(dmt, &cookie, 0))
		return -EIO;
	ok = dm_task_run(dmt);
	if (sync == UDEV_SYNC)
		dm_udev_wait(cookie);
	return ok ? 0 : -EIO;
}


int dm_create_mapping(const char *name, const char *uuid, uint64_t sectors,
		      const char *target, const char *params, enum dm_access access)
{
	int read_only = access == DM_READ_ONLY;

	struct dm_task *dmt = task_create(DM_DEVICE_CREATE);
	int rc = -ENOMEM;

	if (!dmt)
		return task_error();
	if ((read_only && !dm_task_set_ro(dmt)) ||
	    !dm_task_set_name(dmt, name) || !dm_task_set_uuid(dmt, uuid) ||
	    !dm_task_add_target(dmt, 0, sectors, target, params))
		goto out;
	/* No key bytes are in the table, but keep its buffers wiped anyway. */
	dm_task_secure_data(dmt);
	rc = run_task(dmt, UDEV_SYNC);
	if (rc && errno)
		rc = -errno;
out:
	dm_task_destroy(dmt);
	return rc;
}

/* An INFO task for an existing device; its info too, when info is not NULL. */
static int info_task(const char *name, const char *uuid, struct dm_task **out,
		     struct dm_info *info_out)
{
	struct dm_task *dmt = task_create(DM_DEVICE_INFO);
	struct dm_info info;

	if (!dmt)
		return task_error();
	if ((name && !dm_task_set_name(dmt, name)) || (uuid && !dm_task_set_uuid(dmt, uuid)) ||
	    !dm_task_run(dmt) || !dm_task_get_info(dmt, &info)) {
		dm_task_destroy(dmt);
		return -EIO;
	}
	if (!info.exists) {
		dm_task_destroy(dmt);
		return -ENODEV;
	}
	if (info_out)
		*info_out = info;
	*out = dmt;
	return 0;
}

int dm_find_uuid(const char *uuid, char *name, size_t name_len)
{
	struct dm_task *dmt;
	int rc = info_task(NULL, uuid, &dmt, NULL);

	if (rc)
		return rc;
	if (name)
		snprintf(name, name_len, "%s", dm_task_get_name(dmt));
	dm_task_destroy(dmt);
	return 0;
}

int dm_uuid_of(const char *name, char *uuid, size_t uuid_len)
{
	struct dm_task *dmt;
	int rc = info_task(name, NULL, &dmt, NULL);

	if (rc)
		return rc;
	snprintf(uuid, uuid_len, "%s", dm_task_get_uuid(dmt) ?: "");
	dm_task_destroy(dmt);
	return 0;
}

int dm_remove_uuid(const char *uuid)
{
	struct dm_task *dmt = task_create(DM_DEVICE_REMOVE);
	int rc = -ENOMEM;

	if (!dmt)
		return task_error();
	if (!dm_task_set_uuid(dmt, uuid))
		goto out;
	/* A just-closed filesystem may hold the device for a moment. */
	dm_task_retry_remove(dmt);
	errno = 0;
	rc = run_task(dmt, UDEV_SYNC);
	if (rc && errno)
		rc = -errno;
out:
	dm_task_destroy(dmt);
	return rc;
}

int dm_each(const char *prefix, void (*fn)(const char *name, const char *uuid, void *arg),
	    void *arg)
{
	struct dm_task *dmt = task_create(DM_DEVICE_LIST);
	struct dm_names *names;
	unsigned int next = 0;
	size_t plen = strlen(prefix);

	if (!dmt)
		return task_error();
	if (!dm_task_run(dmt) || !(names = dm_task_get_names(dmt))) {
		dm_task_destroy(dmt);
		return -EIO;
	}
	if (names->dev) {
		do {
			char uuid[160];

			names = (struct dm_names *)((char *)names + next);
			if (!dm_uuid_of(names->name, uuid, sizeof(uuid)) &&
			    !strncmp(uuid, prefix, plen))
				fn(names->name, uuid, arg);
			next = names->next;
		} while (next);
	}
	dm_task_destroy(dmt);
	return 0;
}

/* Suspend flushes in-flight I/O and freezes a filesystem on top (lockfs). */
static int suspend_or_resume(const char *uuid, int task)
{
	struct dm_task *dmt = task_create(task);
	int rc = -ENOMEM;

	if (!dmt)
		return task_error();
	if (dm_task_set_uuid(dmt, uuid)) {
		errno = 0;
		/* udev acts on the uevent a resume sends: wait for it. */
		rc = run_task(dmt, task == DM_DEVICE_RESUME ? UDEV_SYNC : NO_UDEV_SYNC);
		if (rc && errno)
			rc = -errno;
	}
	dm_task_destroy(dmt);
	return rc;
}

int dm_suspend_uuid(const char *uuid)
{
	return suspend_or_resume(uuid, DM_DEVICE_SUSPEND);
}

int dm_resume_uuid(const char *uuid)
{
	return suspend_or_resume(uuid, DM_DEVICE_RESUME);
}

int dm_reload_uuid(const char *uuid, uint64_t sectors, const char *target, const char *params)
{
	struct dm_task *dmt = task_create(DM_DEVICE_RELOAD);
	int rc = -ENOMEM;

	if (!dmt)
		return task_error();
	if (dm_task_set_uuid(dmt, uuid) && dm_task_add_target(dmt, 0, sectors, target, params)) {
		errno = 0;
		rc = run_task(dmt, NO_UDEV_SYNC);
		if (rc && errno)
			rc = -errno;
	}
	dm_task_destroy(dmt);
	return rc;
}

/* Runs a TABLE or STATUS task and returns its one target. */
static int one_target(int type, const char *uuid, char *target, size_t target_len, char *params,
		      size_t params_len, uint64_t *sectors)
{
	struct dm_task *dmt = task_create(type);
	uint64_t start = 0, len = 0;
	char *ttype = NULL, *tparams = NULL;
	struct dm_info info;
	int rc = -EIO;

	if (!dmt)
		return task_error();
	if (!dm_task_set_uuid(dmt, uuid) || !dm_task_run(dmt) || !dm_task_get_info(dmt, &info))
		goto out;
	rc = -ENODEV;
	if (!info.exists)
		goto out;
	rc = -EINVAL;
	if (dm_get_next_target(dmt, NULL, &start, &len, &ttype, &tparams) || !ttype)
		goto out;    /* no table, or more than one target */
	if (target)
		snprintf(target, target_len, "%s", ttype);
	snprintf(params, params_len, "%s", tparams ?: "");
	if (sectors)
		*sectors = len;
	rc = 0;
out:
	dm_task_destroy(dmt);
	return rc;
}

int dm_table_uuid(const char *uuid, char *target, size_t target_len, char *params, size_t params_len,
		  uint64_t *sectors)
{
	return one_target(DM_DEVICE_TABLE, uuid, target, target_len, params, params_len, sectors);
}

int dm_status_uuid(const char *uuid, char *status, size_t len)
{
	return one_target(DM_DEVICE_STATUS, uuid, NULL, 0, status, len, NULL);
}

int dm_state_uuid(const char *uuid, int *suspended, int *inactive_table)
{
	struct dm_task *dmt;
	struct dm_info info;
	int rc = info_task(NULL, uuid, &dmt, &info);

	if (rc)
		return rc;
	*suspended = !!info.suspended;
	*inactive_table = !!info.inactive_table;
	dm_task_destroy(dmt);
	return 0;
}

int dm_devno_uuid(const char *uuid, char *devno, size_t len)
{
	struct dm_task *dmt;
	struct dm_info info;
	int rc = info_task(NULL, uuid, &dmt, &info);

	if (rc)
		return rc;
	snprintf(devno, len, "%u:%u", info.major, info.minor);
	dm_task_destroy(dmt);
	return 0;
}

int dm_has_target(const char *target)
{
	struct dm_versions *v, *last;
	struct dm_task *dmt;
	int found = 0;

	if (dm_control_missing())
		return -ENODEV;
	dmt = task_create(DM_DEVICE_LIST_VERSIONS);
	if (!dmt)
		return -ENODEV;
	if (!dm_task_run(dmt) || !(v = dm_task_get_versions(dmt))) {
		dm_task_destroy(dmt);
		return -EIO;
	}
	do {
		last = v;
		if (!strcmp(v->name, target))
			found = 1;
		v = (struct dm_versions *)((char *)v + v->next);
	} while (last != v);
	dm_task_destroy(dmt);
	return found;
}
