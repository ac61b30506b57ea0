/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Capturing a volume's image at one instant (capture.c): through dm-snapshot
 * when attached (on PREEMPT_RT, where dm-snapshot is not safe, the volume
 * suspended for the copy), a reflink or sparse copy when not, and the
 * per-volume lock that keeps repairs away from a live capture. 0 or -errno;
 * messages for the user are the caller's, except warnings about mappings
 * this module could not put back.
 */
#ifndef EBSCRYPT_CAPTURE_H
#define EBSCRYPT_CAPTURE_H

#include <stdint.h>

struct ctl;

struct capture {
	char vol[32];
	char top_uuid[64], base_uuid[64], snap_uuid[64], snap_name[64];
	char dev[96];             /* the point-in-time device to copy from */
	char origin[32], cow[32]; /* "maj:min" */
	uint64_t sectors;         /* header + data, what the base maps */
	double pause_in, pause_out; /* seconds the volume was suspended */
	int active;               /* capture_end has something to undo */
	struct ctl *c;            /* for the warnings about mappings left behind */
};

/*
 * Switches the attached volume onto a snapshot-origin and creates the
 * capture (its COW a sparse file at cow_path, cow_bytes long; 0: the volume's
 * size). On failure everything is undone unless cp->active says otherwise;
 * call capture_end either way.
 */
int capture_begin(struct ctl *c, struct capture *cp, const char *vol, const char *cow_path,
		  uint64_t cow_bytes);
/* -ENOSPC when the COW filled up and the capture was invalidated. */
int capture_valid(struct capture *cp);
/* Switches the volume back onto its device and removes the capture. */
int capture_end(struct capture *cp);
/*
 * Brings the volume's stack back to rest from whatever a killed capture left
 * (volume or base suspended, base on snapshot-origin or with a table loaded
 * but not live, capture mapping present, base without its volume): base
 * linear over its device, everything resumed, capture removed. did gets
 * what was repaired ("" when nothing was). Call with the volume's capture
 * lock held (repair.c), so a live capture is never "repaired".
 */
int capture_repair(const char *vol, char *did, size_t len);
/* Warns about each such mapping (read-only); returns how many. */
int capture_list_stale(struct ctl *c);

/* What a capture produced, for the snapshot's metadata. */
struct capture_res {
	uint8_t sha[32];
	double pause_in, pause_out, copy_s;
	const char *how;
};

/*
 * Copies the point-in-time image of src (total bytes, header included) into
 * out: vol names the attached volume src belongs to, captured through
 * dm-snapshot with its COW at cow_path, or is NULL when nothing writes to
 * src. label names the copy in progress output. 0 or -errno.
 */
int capture_image(struct ctl *c, const char *src, const char *vol, int out, uint64_t total,
		  const char *cow_path, uint64_t cow_bytes, const char *label, struct capture_res *res);

/* The volume's capture lock: an fd to close when done, or -errno (-EBUSY: taken, and LOCK_TRY). */
enum lock_wait { LOCK_TRY, LOCK_WAIT };
int capture_lock(struct ctl *c, const char *vol, enum lock_wait wait);
/* The pid the lock file names (the holder, for a message), or 0. */
int capture_lock_holder(struct ctl *c, const char *vol);

#endif
