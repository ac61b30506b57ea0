// SPDX-License-Identifier: GPL-2.0
/*
 * Repairing what a killed snapshot left on an attached volume, without ever
 * touching a capture that is still running.
 *
 * Every snapshot holds <state>/locks/<vol>.capture (flock) from before it
 * switches the volume until it has switched back. A SIGKILL releases the
 * lock with the process, so a lock that can be taken means no capture of
 * that volume is live and whatever capture state the kernel shows is a
 * leftover; a lock that cannot be taken means one is, and repair refuses.
 * The state lock is no substitute: attach and detach do not take it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "ctl.h"
#include "dmmap.h"
#include "header.h"

static void lock_path(struct ctl *c, const char *vol, char *p, size_t len)
{
	state_path(c, p, len, "locks/%s.capture", vol);
}

int capture_lock(struct ctl *c, const char *vol, int wait)
{
	char p[4096], pid[24];
	int fd, n;

	state_path(c, p, sizeof(p), "locks");
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	lock_path(c, vol, p, sizeof(p));
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) {
		if (errno == EINTR)
			continue;
		n = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return n;
	}
	/* Only for the message another command prints when it finds the lock taken. */
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, n, 0) != n)
		ctl_warn("cannot record the pid in %s: %m", p);
	return fd;
}

/* The pid the lock file names, or 0. */
static int lock_holder(struct ctl *c, const char *vol)
{
	char p[4096], buf[24] = "";
	int fd, pid = 0;
	ssize_t n;

	lock_path(c, vol, p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		pid = atoi(buf);
	return pid;
}

int repair_locked(const char *vol)
{
	char did[1024];
	int rc;

	rc = capture_repair(vol, did, sizeof(did));
	if (did[0])
		ctl_warn("%s: repaired what an interrupted snapshot left: %s", vol, did);
	if (rc) {
		ctl_fail("%s: cannot bring the volume back from an interrupted snapshot: %s (see "
			 "`dmsetup info` and ebscryptctl(8), INTERRUPTED SNAPSHOTS)", vol, strerror(-rc));
		return 1;
	}
	return 0;
}

int repair_volume(struct ctl *c, const char *vol, int *lock_fd)
{
	int fd;

	*lock_fd = -1;
	dm_setup();
	fd = capture_lock(c, vol, 0);
	if (fd == -EBUSY)
		return ctl_fail("a snapshot of %s is in progress (ebscryptctl pid %d): try again when it "
				"has finished", vol, lock_holder(c, vol));
	if (fd < 0) {
		/*
		 * Not ours to repair: a member of the agent's group may detach
		 * through the socket without access to the state or to dm.
		 */
		if (!geteuid())
			ctl_warn("cannot take the capture lock of %s in %s/locks (%s): not checking for "
				 "leftovers of an interrupted snapshot", vol, c->state_dir, strerror(-fd));
		return 0;
	}
	*lock_fd = fd;
	return repair_locked(vol);
}

struct others {
	struct ctl *c;
	const char *except;
};

static void repair_one(const char *name, const char *uuid, void *arg)
{
	struct others *o = arg;
	const char *vol = strchr(uuid, '-') + 1;
	int fd;

	if (!ebs_id_valid(vol, "vol") || (o->except && !strcmp(vol, o->except)))
		return;
	/* Busy: another command holds it, and repairs it or is capturing. */
	fd = capture_lock(o->c, vol, 0);
	if (fd < 0)
		return;
	repair_locked(vol);
	close(fd);
}

void repair_others(struct ctl *c, const char *except)
{
	struct others o = { c, except };

	dm_each(DM_UUID_CAPTURE, repair_one, &o);
	dm_each(DM_UUID_BASE, repair_one, &o);
}
