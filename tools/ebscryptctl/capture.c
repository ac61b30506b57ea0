// SPDX-License-Identifier: GPL-2.0
/*
 * Point-in-time capture of an attached volume through dm-snapshot, so the
 * pause the volume sees is a few table operations instead of a copy.
 *
 *   at rest:    mapping (EBSCRYPT-<vol>) -> base: linear (EBSBASE-<vol>) -> loop/disk
 *   capturing:  mapping -> base: snapshot-origin -> loop/disk
 *               capture: snapshot (EBSSNAP-<vol>) of loop/disk, COW on a loop device
 *
 * Switching in: the mapping is suspended first (device-mapper flushes its
 * in-flight I/O and freezes a filesystem on it: what is captured is what the
 * filesystem had committed), then the base; the snapshot is created and
 * resumed *before* the base resumes as its origin, because dm-snapshot only
 * copies out chunks for snapshots that are already active. Switching out is
 * one suspend/reload/resume of the base. Both pauses are measured.
 *
 * The COW lives in a sparse, already-unlinked file in the snapshot store
 * behind an autoclear loop device: it costs only the chunks the volume
 * overwrites during the copy, and vanishes with the capture mapping, even
 * after a SIGKILL. The capture is transient (persistent=N): it only has to
 * live until the copy is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "capture.h"
#include "ctl.h"
#include "dmmap.h"
#include "loopdev.h"
#include "treehash.h"

/* 4 KiB chunks: a 4 KiB random write copies out no more than itself. */
#define CAPTURE_CHUNK_SECTORS 8

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_uuids(struct capture *cp, const char *vol)
{
	memset(cp, 0, sizeof(*cp));
	snprintf(cp->vol, sizeof(cp->vol), "%s", vol);
	snprintf(cp->top_uuid, sizeof(cp->top_uuid), DM_UUID_VOLUME "%s", vol);
	snprintf(cp->base_uuid, sizeof(cp->base_uuid), DM_UUID_BASE "%s", vol);
	snprintf(cp->snap_uuid, sizeof(cp->snap_uuid), DM_UUID_CAPTURE "%s", vol);
	snprintf(cp->snap_name, sizeof(cp->snap_name), "%s-capture", vol);
	snprintf(cp->dev, sizeof(cp->dev), "/dev/mapper/%s", cp->snap_name);
}

static int capture_has_base(const char *vol)
{
	char u[64];

	snprintf(u, sizeof(u), DM_UUID_BASE "%s", vol);
	return !dm_find_uuid(u, NULL, 0);
}

/* The device under the base at rest: "maj:min" from "linear maj:min 0". */
static int base_origin(struct capture *cp)
{
	char target[32], params[128];
	unsigned int ma, mi;
	unsigned long long off;
	int rc;

	rc = dm_table_uuid(cp->base_uuid, target, sizeof(target), params, sizeof(params), &cp->sectors);
	if (rc)
		return rc;
	if (strcmp(target, "linear") || sscanf(params, "%u:%u %llu", &ma, &mi, &off) != 3 || off)
		return -EBUSY;
	snprintf(cp->origin, sizeof(cp->origin), "%u:%u", ma, mi);
	return 0;
}

/* A sparse COW file, unlinked at once, behind an autoclear loop device. */
static int cow_create(struct capture *cp, const char *cow_path, uint64_t cow_bytes, int *loop_fd)
{
	char loopdev[64];
	struct stat st;
	int fd, rc;

	fd = open(cow_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = ftruncate(fd, (off_t)cow_bytes) ? -errno : 0;
	unlink(cow_path);
	if (!rc)
		rc = loop_attach(fd, EBS_LOOP_AUTOCLEAR, 512, loopdev, sizeof(loopdev), loop_fd);
	close(fd);
	if (rc)
		return rc;
	if (fstat(*loop_fd, &st)) {
		rc = -errno;
		close(*loop_fd);
		return rc;
	}
	snprintf(cp->cow, sizeof(cp->cow), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

/* Base back to linear over its device; a no-op when it already is. */
static int base_restore(const char *base_uuid, const char *origin, uint64_t sectors)
{
	char params[64];
	int rc;

	snprintf(params, sizeof(params), "%s 0", origin);
	rc = dm_suspend_uuid(base_uuid);
	if (rc)
		return rc;
	rc = dm_reload_uuid(base_uuid, sectors, "linear", params);
	/* Resume either way: a base left suspended would hang the volume. */
	if (dm_resume_uuid(base_uuid) && !rc)
		rc = -EIO;
	return rc;
}

/* The switch itself, all signals blocked: every step is undone on failure. */
static int switch_in(struct capture *cp)
{
	char params[128];
	int rc;

	rc = dm_suspend_uuid(cp->top_uuid);
	if (rc)
		return rc;
	rc = dm_suspend_uuid(cp->base_uuid);
	if (rc)
		goto resume_top;
	snprintf(params, sizeof(params), "%s %s N %u", cp->origin, cp->cow, CAPTURE_CHUNK_SECTORS);
	rc = dm_create_mapping(cp->snap_name, cp->snap_uuid, cp->sectors, "snapshot", params,
			       DM_READ_WRITE);
	if (rc)
		goto resume_base;
	rc = dm_reload_uuid(cp->base_uuid, cp->sectors, "snapshot-origin", cp->origin);
	if (rc)
		goto remove_snap;
	rc = dm_resume_uuid(cp->base_uuid);
	if (rc) {
		base_restore(cp->base_uuid, cp->origin, cp->sectors);
		goto remove_snap;
	}
	rc = dm_resume_uuid(cp->top_uuid);
	if (rc)
		ctl_warn(cp->c, "could not resume %s after the capture switch: run `dmsetup resume "
			 "--uuid %s` now", cp->vol, cp->top_uuid);
	return rc;
remove_snap:
	dm_remove_uuid(cp->snap_uuid);
resume_base:
	dm_resume_uuid(cp->base_uuid);
resume_top:
	if (dm_resume_uuid(cp->top_uuid))
		ctl_warn(cp->c, "could not resume %s: run `dmsetup resume --uuid %s` now", cp->vol,
			 cp->top_uuid);
	return rc;
}

int capture_begin(struct ctl *c, struct capture *cp, const char *vol, const char *cow_path,
		  uint64_t cow_bytes)
{
	sigset_t all, old;
	double t0;
	int rc, loop_fd = -1;

	set_uuids(cp, vol);
	cp->c = c;
	rc = base_origin(cp);
	if (rc)
		return rc;
	rc = cow_create(cp, cow_path, cow_bytes ? cow_bytes : cp->sectors * 512, &loop_fd);
	if (rc)
		return rc;
	/* Dirty pages written now are pages the freeze need not write inside the pause. */
	sync();
	/* From suspend to resume, a Ctrl-C must wait: a suspended volume blocks its users. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	t0 = mono_s();
	rc = switch_in(cp);
	cp->pause_in = mono_s() - t0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* The capture mapping holds the COW loop device now; without it, this frees it. */
	close(loop_fd);
	cp->active = !rc || !dm_find_uuid(cp->snap_uuid, NULL, 0);
	return rc;
}

int capture_valid(struct capture *cp)
{
	char status[256];
	int rc = dm_status_uuid(cp->snap_uuid, status, sizeof(status));

	if (rc)
		return rc;
	return strstr(status, "Invalid") || strstr(status, "Overflow") ? -ENOSPC : 0;
}

int capture_end(struct capture *cp)
{
	sigset_t all, old;
	double t0;
	int rc, rc2;

	if (!cp->active)
		return 0;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	t0 = mono_s();
	rc = base_restore(cp->base_uuid, cp->origin, cp->sectors);
	cp->pause_out = mono_s() - t0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	/*
	 * Without snapshots an origin target just passes I/O through, so the
	 * capture goes even if the base could not be switched back.
	 */
	rc2 = dm_remove_uuid(cp->snap_uuid);
	if (rc)
		ctl_warn(cp->c, "could not switch %s back to linear: %s (the next `snapshot create` or "
			 "`volume detach` repairs it)", cp->base_uuid, strerror(-rc));
	if (rc2)
		ctl_warn(cp->c, "could not remove the capture mapping %s: %s (the next `snapshot create` "
			 "or `volume detach` removes it)", cp->snap_name, strerror(-rc2));
	cp->active = 0;
	return rc ?: rc2;
}

/* Origin "maj:min" of a capture mapping: its table is "maj:min cow N chunk". */
static int capture_origin(const char *snap_uuid, char *origin, size_t len, uint64_t *sectors)
{
	char target[32], params[160], o[32];
	int rc = dm_table_uuid(snap_uuid, target, sizeof(target), params, sizeof(params), sectors);

	if (rc)
		return rc;
	if (strcmp(target, "snapshot") || sscanf(params, "%31s", o) != 1)
		return -EINVAL;
	snprintf(origin, len, "%s", o);
	return 0;
}

/* Appends one repair to the list the caller prints. */
static void did_add(char *did, size_t len, const char *what)
{
	size_t n = strlen(did);

	snprintf(did + n, len - n, "%s%s", n ? "; " : "", what);
}

/*
 * The device under the stack, from whichever mapping still names it: the
 * base's live table (linear or snapshot-origin) or the capture's.
 */
static int stack_origin(struct capture *cp, int *base_linear)
{
	char target[32], params[160];
	unsigned int ma, mi;
	unsigned long long off;

	*base_linear = 0;
	if (!dm_table_uuid(cp->base_uuid, target, sizeof(target), params, sizeof(params), &cp->sectors)) {
		if (!strcmp(target, "linear") && sscanf(params, "%u:%u %llu", &ma, &mi, &off) == 3 && !off) {
			*base_linear = 1;
			snprintf(cp->origin, sizeof(cp->origin), "%u:%u", ma, mi);
			return 0;
		}
		if (!strcmp(target, "snapshot-origin") && sscanf(params, "%31s", cp->origin) == 1)
			return 0;
	}
	return capture_origin(cp->snap_uuid, cp->origin, sizeof(cp->origin), &cp->sectors);
}

int capture_repair(const char *vol, char *did, size_t len)
{
	struct capture cp;
	int top, base, cap, tsus = 0, tin = 0, bsus = 0, bin = 0, csus, cin, linear, rc;
	char what[256];

	set_uuids(&cp, vol);
	did[0] = '\0';
	top = !dm_state_uuid(cp.top_uuid, &tsus, &tin);
	base = !dm_state_uuid(cp.base_uuid, &bsus, &bin);
	cap = !dm_state_uuid(cp.snap_uuid, &csus, &cin);
	rc = stack_origin(&cp, &linear);
	/*
	 * The base first: the volume above may be frozen, and thawing it
	 * writes through the base. The reload also replaces a table a killed
	 * switch loaded but never resumed, which a plain resume would swap in.
	 */
	if (base && (bsus || bin || !linear)) {
		if (rc)
			return rc;
		rc = base_restore(cp.base_uuid, cp.origin, cp.sectors);
		if (rc)
			return rc;
		snprintf(what, sizeof(what), "%s-base back to linear over %s and resumed (it was %s%s)",
			 vol, cp.origin, linear ? "linear" : "snapshot-origin", bsus ? ", suspended" : "");
		did_add(did, len, what);
	}
	if (top && tsus) {
		rc = dm_resume_uuid(cp.top_uuid);
		if (rc)
			return rc;
		snprintf(what, sizeof(what), "resumed %s (left suspended)", vol);
		did_add(did, len, what);
	}
	if (cap) {
		rc = dm_remove_uuid(cp.snap_uuid);
		if (rc)
			return rc;
		snprintf(what, sizeof(what), "removed the capture mapping %s", cp.snap_name);
		did_add(did, len, what);
	}
	/* A base without its volume: a detach that stopped halfway. */
	if (!top && base) {
		rc = dm_remove_uuid(cp.base_uuid);
		if (rc)
			return rc;
		snprintf(what, sizeof(what), "removed %s-base, which had no volume above it", vol);
		did_add(did, len, what);
	}
	return 0;
}

struct stale {
	struct ctl *c;
	int n;
};

static void count_one(const char *name, const char *uuid, void *arg)
{
	struct stale *s = arg;

	ctl_warn(s->c, "device-mapper mapping %s belongs to a snapshot of %s that is running or was "
		 "interrupted: if interrupted, the next `ebscryptctl snapshot create`, `volume "
		 "attach` or `volume detach` of it removes it", name, uuid + strlen(DM_UUID_CAPTURE));
	s->n++;
}

int capture_list_stale(struct ctl *c)
{
	struct stale s = { c, 0 };

	dm_each(DM_UUID_CAPTURE, count_one, &s);
	return s.n;
}

/*
 * Every snapshot holds <state>/locks/<vol>.capture (flock) from before it
 * switches the volume until it has switched back. A SIGKILL releases the
 * lock with the process, so a lock that can be taken means no capture of
 * that volume is live and whatever capture state the kernel shows is a
 * leftover; a lock that cannot be taken means one is. The state lock is no
 * substitute: attach and detach do not take it.
 */
static void lock_path(struct ctl *c, const char *vol, char p[PATH_MAX])
{
	state_path(c, p, "locks/%s.capture", vol);
}

int capture_lock(struct ctl *c, const char *vol, enum lock_wait wait)
{
	char p[PATH_MAX], pid[24];
	int fd, n;

	state_path(c, p, "locks");
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	lock_path(c, vol, p);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | (wait == LOCK_WAIT ? 0 : LOCK_NB))) {
		if (errno == EINTR)
			continue;
		n = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return n;
	}
	/* Only for the message another command prints when it finds the lock taken. */
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, n, 0) != n)
		ctl_warn(c, "cannot record the pid in %s: %m", p);
	return fd;
}

/* The pid the lock file names, or 0. */
int capture_lock_holder(struct ctl *c, const char *vol)
{
	char p[PATH_MAX], buf[24] = "";
	int fd, pid = 0;
	ssize_t n;

	lock_path(c, vol, p);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		pid = atoi(buf);
	return pid;
}

/* SIGINT/TERM/HUP/QUIT are held during a capture; one pending stops the copy. */
static int term_pending(void)
{
	sigset_t p;

	if (sigpending(&p))
		return 0;
	return sigismember(&p, SIGINT) || sigismember(&p, SIGTERM) || sigismember(&p, SIGHUP) ||
	       sigismember(&p, SIGQUIT);
}

static int copy_whole(struct ctl *c, int in, int out, uint64_t total, const char *what,
		      struct capture_res *res)
{
	struct copy_job j = { .in = in, .out = out, .len = total, .sparse = 1, .sum = COPY_SUM_TREE,
			      .digest = res->sha, .what = what, .show = ctl_show_progress(c), .cancel = term_pending };
	double t0 = mono_s();
	int rc = copy_run(&j);

	res->copy_s = mono_s() - t0;
	return rc;
}

/* Not attached: nobody writes, so no pause. A reflink where the store can. */
static int capture_detached(struct ctl *c, const char *src, int out, uint64_t total, const char *snap,
			    struct capture_res *res)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	int rc;

	if (in < 0) {
		rc = -errno;
		return ctl_err(c, rc, "cannot open %s: %s", src, strerror(-rc));
	}
	if (!ioctl(out, FICLONE, in)) {
		res->how = "reflink";
		rc = copy_whole(c, out, -1, total, "checksum", res);
	} else {
		res->how = "sparse copy";
		rc = copy_whole(c, in, out, total, snap, res);
	}
	return rc ? ctl_err(c, rc, "snapshot copy failed: %s", strerror(-rc)) : 0;
}

static int capture_fail(struct ctl *c, const char *vol, int rc)
{
	if (rc == -EBUSY)
		return ctl_err(c, rc, "the base mapping of %s is not in its resting state (linear): "
			       "another snapshot is in progress, or a cleanup failed", vol);
	if (rc == -ENOSPC || rc == -EFBIG)
		return ctl_err(c, rc, "cannot create the copy-on-write store for the snapshot of %s: %s",
			       vol, strerror(-rc));
	return ctl_err(c, rc, "cannot capture %s through dm-snapshot: %s", vol, strerror(-rc));
}

/*
 * dm-snapshot is not safe on PREEMPT_RT kernels: snapshot_map() takes
 * tracked_chunk_lock, a sleeping lock there, inside the exception table's
 * bit spinlock, which disables preemption. Reading a capture while the
 * volume is written then ends in "BUG: scheduling while atomic", with the
 * preempt counts of two CPUs left wrong (Debian 12's rt kernel, 6.1.192).
 */
static int kernel_is_preempt_rt(void)
{
	struct utsname u;
	char v = 0;
	int fd = open("/sys/kernel/realtime", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &v, 1) != 1)
			v = 0;
		close(fd);
		if (v == '1')
			return 1;
	}
	return !uname(&u) && strstr(u.version, "PREEMPT_RT");
}

/*
 * Attached, on PREEMPT_RT: the volume stays suspended, its filesystem
 * frozen, for the whole copy of its base. The same instant as a capture, at
 * the cost of a pause as long as the copy; a kill leaves the volume
 * suspended, which the next snapshot or detach repairs.
 */
static int capture_suspended(struct ctl *c, const char *vol, int out, uint64_t total, const char *snap,
			     struct capture_res *res)
{
	struct capture cp;
	char base[64], path[96];
	_cleanup_close_ int in = -1;
	sigset_t all, old;
	double t0;
	int rc;

	res->how = "suspended copy";
	set_uuids(&cp, vol);
	rc = base_origin(&cp);
	if (!rc)
		rc = dm_find_uuid(cp.base_uuid, base, sizeof(base));
	if (rc)
		return capture_fail(c, vol, rc);
	snprintf(path, sizeof(path), "/dev/mapper/%s", base);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = -errno;
		return ctl_err(c, rc, "cannot open %s: %s", path, strerror(-rc));
	}
	ctl_warn(c, "%s stays suspended for the whole copy: this kernel is PREEMPT_RT, where "
		 "dm-snapshot is not safe to use", vol);
	sync();
	/* As in the capture switch: nothing may stop this process while the volume is suspended. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	t0 = mono_s();
	rc = dm_suspend_uuid(cp.top_uuid);
	if (rc) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return ctl_err(c, rc, "cannot suspend %s for the copy: %s", vol, strerror(-rc));
	}
	rc = copy_whole(c, in, out, total, snap, res);
	if (dm_resume_uuid(cp.top_uuid)) {
		ctl_warn(c, "could not resume %s after the copy: run `dmsetup resume --uuid %s` now", vol,
			 cp.top_uuid);
		rc = rc ?: -EIO;
	}
	res->pause_in = mono_s() - t0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc == -ECANCELED)
		return ctl_err(c, rc, "snapshot of %s interrupted; the volume is running again", vol);
	if (rc)
		return ctl_err(c, rc, "snapshot copy failed: %s", strerror(-rc));
	return 0;
}

/* Attached: a dm-snapshot capture, copied while the volume keeps running. */
static int capture_cow(struct ctl *c, const char *vol, int out, uint64_t total, const char *cow_path,
		       uint64_t cow_bytes, const char *snap, struct capture_res *res)
{
	struct capture cp;
	int in, rc, overflow;

	res->how = "dm-snapshot";
	rc = capture_begin(c, &cp, vol, cow_path, cow_bytes);
	res->pause_in = cp.pause_in;
	if (rc) {
		rc = capture_fail(c, vol, rc);
		capture_end(&cp);
		res->pause_out = cp.pause_out;
		return rc;
	}
	in = open(cp.dev, O_RDONLY | O_CLOEXEC);
	rc = in < 0 ? -errno : copy_whole(c, in, out, total, snap, res);
	/* A COW that filled up invalidates the capture: whatever was read is not the instant. */
	overflow = capture_valid(&cp) == -ENOSPC;
	if (in >= 0)
		close(in);
	/* A failure to switch back is warned about there; the snapshot itself is fine. */
	capture_end(&cp);
	res->pause_out = cp.pause_out;
	if (overflow)
		return ctl_err(c, -ENOSPC, "the copy-on-write store filled up while %s was being copied "
			       "(the volume overwrote more than its %llu bytes, or the snapshot store ran "
			       "out of space): retry with a larger --cow-size or more free space", vol,
			       (unsigned long long)(cow_bytes ? cow_bytes : total));
	if (rc == -ECANCELED)
		return ctl_err(c, rc, "snapshot of %s interrupted; the volume is back on its own device",
			       vol);
	if (rc)
		return ctl_err(c, rc, "snapshot copy failed: %s", strerror(-rc));
	return 0;
}

int capture_image(struct ctl *c, const char *src, const char *vol, int out, uint64_t total,
		  const char *cow_path, uint64_t cow_bytes, const char *label, struct capture_res *res)
{
	if (!vol)
		return capture_detached(c, src, out, total, label, res);
	/* The agent maps every volume over a base; without one the stack is not its own. */
	if (!capture_has_base(vol))
		return ctl_err(c, -ENODEV, "%s is attached without its base mapping %s%s, so it cannot be "
			       "captured: detach it and attach it again with ebscryptctl", vol, DM_UUID_BASE,
			       vol);
	if (kernel_is_preempt_rt())
		return capture_suspended(c, vol, out, total, label, res);
	return capture_cow(c, vol, out, total, cow_path, cow_bytes, label, res);
}
