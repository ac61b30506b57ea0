// SPDX-License-Identifier: GPL-2.0
/*
 * Repairing what a killed snapshot left on an attached volume, without ever
 * touching a capture that is still running: only under the volume's capture
 * lock (capture.c), which a live capture holds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "ctl.h"
#include "dmmap.h"
#include "header.h"

/* Repairs vol and says what it did; 0 or the error, which the caller words. */
static int repair(struct ctl *c, const char *vol)
{
	char did[1024];
	int rc;

	rc = capture_repair(vol, did, sizeof(did));
	if (did[0])
		ctl_warn(c, "%s: repaired what an interrupted snapshot left: %s", vol, did);
	return rc;
}

#define REPAIR_FAILED "%s: cannot bring the volume back from an interrupted snapshot: %s (see " \
		      "`dmsetup info` and ebscryptctl(8), INTERRUPTED SNAPSHOTS)"

int repair_locked(struct ctl *c, const char *vol)
{
	int rc = repair(c, vol);

	return rc ? ctl_err(c, rc, REPAIR_FAILED, vol, strerror(-rc)) : 0;
}

int repair_volume(struct ctl *c, const char *vol, int *lock_fd)
{
	int fd;

	*lock_fd = -1;
	dm_setup();
	fd = capture_lock(c, vol, LOCK_TRY);
	if (fd == -EBUSY)
		return ctl_err(c, fd, "a snapshot of %s is in progress (ebscryptctl pid %d): try again "
			       "when it has finished", vol, capture_lock_holder(c, vol));
	if (fd < 0) {
		/*
		 * Not ours to repair: a member of the agent's group may detach
		 * through the socket without access to the state or to dm.
		 */
		if (!geteuid())
			ctl_warn(c, "cannot take the capture lock of %s in %s/locks (%s): not checking for "
				 "leftovers of an interrupted snapshot", vol, c->state_dir, strerror(-fd));
		return 0;
	}
	*lock_fd = fd;
	return repair_locked(c, vol);
}

struct others {
	struct ctl *c;
	const char *except;
};

static void repair_one(const char *name, const char *uuid, void *arg)
{
	struct others *o = arg;
	const char *vol = strchr(uuid, '-') + 1;
	_cleanup_close_ int fd = -1;
	int rc;

	if (!ebs_id_valid(vol, "vol") || (o->except && !strcmp(vol, o->except)))
		return;
	/* Busy: another command holds it, and repairs it or is capturing. */
	fd = capture_lock(o->c, vol, LOCK_TRY);
	if (fd < 0)
		return;
	/* Another volume's trouble is not this command's failure. */
	rc = repair(o->c, vol);
	if (rc)
		ctl_warn(o->c, REPAIR_FAILED, vol, strerror(-rc));
}

void repair_others(struct ctl *c, const char *except)
{
	struct others o = { c, except };

	dm_each(DM_UUID_CAPTURE, repair_one, &o);
	dm_each(DM_UUID_BASE, repair_one, &o);
}
