// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots, restores and copies (issue 6). A snapshot is the volume's
 * backing bytes (header + ciphertext) at one instant: taken with the mapping
 * suspended (dm flushes in-flight I/O and freezes the filesystem), as a
 * reflink clone where the filesystem can, else a sparse copy. No key is
 * unwrapped to take one. Encryption only ever gets added (S7, S8, S11):
 * every path that would turn an encrypted source into plaintext is refused.
 *
 * Store: <state>/snapshots/snap-<id>/{image,meta.json}; work in progress
 * lives in <state>/snapshots/.partial-snap-<id>/ and is renamed into place
 * only when complete, so an interrupted command never leaves anything that
 * looks complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/fs.h>

#include "capture.h"
#include "ctl.h"
#include "dmmap.h"
#include "header.h"
#include "treehash.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int show_progress(struct ctl *c)
{
	return !c->json && isatty(STDERR_FILENO);
}

/* 0, -errno (open) or the parser's error with info saying why; no message. */
static int header_of(const char *path, struct ebs_header *h, struct ebs_header_read_info *info)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = ebs_header_read(fd, h, info);
	close(fd);
	return rc ? rc : 0;
}

static int read_header_path(const char *path, struct ebs_header *h)
{
	struct ebs_header_read_info info;
	int rc = header_of(path, h, &info);

	if (rc == -ENOENT || rc == -EACCES)
		return ctl_fail("cannot open %s: %s", path, strerror(-rc));
	if (rc)
		return ctl_fail("no valid header on %s: primary copy: %s; backup copy: %s", path,
				info.primary_why, info.backup_why);
	return 0;
}

/* What a capture produced, for the metadata. */
struct capture_res {
	uint8_t sha[32];
	double pause_in, pause_out, copy_s;
	const char *how;
};

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
			      .digest = res->sha, .what = what, .show = show_progress(c), .cancel = term_pending };
	double t0 = now_s();
	int rc = copy_run(&j);

	res->copy_s = now_s() - t0;
	return rc;
}

/* Not attached: nobody writes, so no pause. A reflink where the store can. */
static int capture_detached(struct ctl *c, const char *src, int out, uint64_t total, const char *snap,
			    struct capture_res *res)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), rc;

	if (in < 0)
		return ctl_fail("cannot open %s: %m", src);
	if (!ioctl(out, FICLONE, in)) {
		res->how = "reflink";
		rc = copy_whole(c, out, -1, total, "checksum", res);
	} else {
		res->how = "sparse copy";
		rc = copy_whole(c, in, out, total, snap, res);
	}
	close(in);
	return rc ? ctl_fail("snapshot copy failed: %s", strerror(-rc)) : 0;
}

/*
 * Attached through an agent that predates base mappings: the old way, the
 * copy itself inside the pause (only a reflink keeps that short).
 */
static int capture_suspended(struct ctl *c, const char *src, const char *vol, int out, uint64_t total,
			     const char *snap, struct capture_res *res)
{
	char uuid[64];
	sigset_t all, old;
	double t0;
	int in = open(src, O_RDONLY | O_CLOEXEC), rc, cloned;

	if (in < 0)
		return ctl_fail("cannot open %s: %m", src);
	snprintf(uuid, sizeof(uuid), "EBSCRYPT-%s", vol);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	rc = dm_suspend_uuid(uuid, 1);
	if (rc) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(in);
		return ctl_fail("cannot suspend the volume for a consistent snapshot: %s", strerror(-rc));
	}
	t0 = now_s();
	cloned = !ioctl(out, FICLONE, in);
	if (!cloned) {
		struct copy_job j = { .in = in, .out = out, .len = total, .sparse = 1, .sum = COPY_SUM_TREE,
				      .digest = res->sha, .what = snap, .show = show_progress(c) };

		rc = copy_run(&j);
	}
	res->pause_in = now_s() - t0;
	if (dm_suspend_uuid(uuid, 0))
		ctl_warn("could not resume %s: run `dmsetup resume --uuid %s` now", vol, uuid);
	sigprocmask(SIG_SETMASK, &old, NULL);
	res->how = cloned ? "suspended reflink" : "suspended sparse copy";
	if (!rc && cloned)
		rc = copy_whole(c, out, -1, total, "checksum", res);
	close(in);
	return rc ? ctl_fail("snapshot copy failed: %s", strerror(-rc)) : 0;
}

static int capture_fail(const char *vol, int rc)
{
	if (rc == -EBUSY)
		return ctl_fail("the base mapping of %s is not in its resting state (linear): another "
				"snapshot is in progress, or a cleanup failed", vol);
	if (rc == -ENOSPC || rc == -EFBIG)
		return ctl_fail("cannot create the copy-on-write store for the snapshot of %s: %s", vol,
				strerror(-rc));
	return ctl_fail("cannot capture %s through dm-snapshot: %s", vol, strerror(-rc));
}

/* Attached: a dm-snapshot capture, copied while the volume keeps running. */
static int capture_cow(struct ctl *c, const char *vol, int out, uint64_t total, const char *cow_path,
		       uint64_t cow_bytes, const char *snap, struct capture_res *res)
{
	struct capture cp;
	int in = -1, rc, overflow;

	res->how = "dm-snapshot";
	rc = capture_begin(&cp, vol, cow_path, cow_bytes);
	res->pause_in = cp.pause_in;
	if (rc) {
		capture_fail(vol, rc);
		capture_end(&cp);
		res->pause_out = cp.pause_out;
		return 1;
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
		return ctl_fail("the copy-on-write store filled up while %s was being copied (the volume "
				"overwrote more than its %llu bytes, or the snapshot store ran out of space): "
				"retry with a larger --cow-size or more free space", vol,
				(unsigned long long)(cow_bytes ? cow_bytes : total));
	if (rc == -ECANCELED)
		return ctl_fail("snapshot of %s interrupted; the volume is back on its own device", vol);
	if (rc)
		return ctl_fail("snapshot copy failed: %s", strerror(-rc));
	return 0;
}

static struct json_object *snapshot_meta(const struct ebs_header *h, const char *snap,
					 const char *source_snapshot, uint64_t total,
					 const struct capture_res *res)
{
	struct json_object *meta = json_object_new_object();
	char hex[65], tbuf[32];
	double pause_ms = (res->pause_in + res->pause_out) * 1000;

	json_object_object_add(meta, "snapshot_id", json_object_new_string(snap));
	json_object_object_add(meta, "volume_id", json_object_new_string(h->volume_id));
	if (source_snapshot)
		json_object_object_add(meta, "source_snapshot_id", json_object_new_string(source_snapshot));
	json_object_object_add(meta, "size", json_object_new_int64((int64_t)(h->data_sectors * 512)));
	json_object_object_add(meta, "encrypted", json_object_new_boolean(ebs_header_encrypted(h)));
	json_object_object_add(meta, "kms_key_id",
			       ebs_header_encrypted(h) ? json_object_new_string(h->kms_key_arn) : NULL);
	ebs_hex(h->lineage, sizeof(h->lineage), hex);
	json_object_object_add(meta, "data_encryption_key_id", json_object_new_string(hex));
	if (ebs_header_encrypted(h)) {
		ebs_hex(h->kcv, sizeof(h->kcv), hex);
		json_object_object_add(meta, "key_check_value", json_object_new_string(hex));
	}
	format_time((uint64_t)time(NULL), tbuf, sizeof(tbuf));
	json_object_object_add(meta, "start_time", json_object_new_string(tbuf));
	json_object_object_add(meta, "state", json_object_new_string("completed"));
	/* Named, so a later algorithm cannot be mistaken for this one (old snapshots: "sha256"). */
	ebs_hex(res->sha, sizeof(res->sha), hex);
	json_object_object_add(meta, "checksum_alg", json_object_new_string(TREEHASH_ALG));
	json_object_object_add(meta, "checksum", json_object_new_string(hex));
	json_object_object_add(meta, "image_bytes", json_object_new_int64((int64_t)total));
	/* Whole ms, rounded up: a pause that happened never reads as 0. */
	json_object_object_add(meta, "pause_ms", json_object_new_int64((int64_t)(pause_ms + 0.999)));
	json_object_object_add(meta, "pause_capture_us", json_object_new_int64((int64_t)(res->pause_in * 1e6)));
	json_object_object_add(meta, "pause_release_us", json_object_new_int64((int64_t)(res->pause_out * 1e6)));
	json_object_object_add(meta, "copy_ms", json_object_new_int64((int64_t)(res->copy_s * 1000)));
	json_object_object_add(meta, "copy", json_object_new_string(res->how));
	return meta;
}

/*
 * Snapshots one backing file or device into a new snapshot: vol names the
 * attached volume it belongs to, or is NULL when nothing writes to it.
 */
static int snapshot_take(struct ctl *c, const char *src_path, const char *vol,
			 const char *source_snapshot, uint64_t cow_bytes, char *snap_out, size_t snap_len)
{
	char snap[32] = "", tmpdir[4096] = "", dir[4096], img[4096] = "", p[4096], cow[4096];
	struct ebs_header *h = calloc(1, sizeof(*h));
	struct capture_res res = { .how = "" };
	struct json_object *meta = NULL;
	sigset_t term, old;
	uint64_t total;
	int out = -1, rc = 1;

	/* Held from here to the end: a Ctrl-C stops the copy, then everything is undone. */
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigaddset(&term, SIGQUIT);
	sigprocmask(SIG_BLOCK, &term, &old);
	if (!h || read_header_path(src_path, h))
		goto out;
	total = (h->data_offset + h->data_sectors) * 512;
	if (random_hex_id("snap", snap, sizeof(snap)))
		goto out;
	state_path(c, dir, sizeof(dir), "snapshots");
	mkdir(dir, 0700);
	state_path(c, tmpdir, sizeof(tmpdir), "snapshots/.partial-%s", snap);
	state_path(c, dir, sizeof(dir), "snapshots/%s", snap);
	state_path(c, img, sizeof(img), "snapshots/.partial-%s/image", snap);
	state_path(c, cow, sizeof(cow), "snapshots/.partial-%s/cow", snap);
	if (mkdir(tmpdir, 0700)) {
		ctl_fail("cannot create %s: %m", tmpdir);
		tmpdir[0] = '\0';
		goto out;
	}
	out = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || ftruncate(out, (off_t)total)) {
		ctl_fail("cannot set up the snapshot image %s: %m", img);
		goto out;
	}
	if (!vol)
		rc = capture_detached(c, src_path, out, total, snap, &res);
	else if (capture_has_base(vol))
		rc = capture_cow(c, vol, out, total, cow, cow_bytes, snap, &res);
	else
		rc = capture_suspended(c, src_path, vol, out, total, snap, &res);
	if (rc)
		goto out;
	rc = 1;
	meta = snapshot_meta(h, snap, source_snapshot, total, &res);
	state_path(c, p, sizeof(p), "snapshots/.partial-%s/meta.json", snap);
	if ((rc = state_write_json(p, meta)) || rename(tmpdir, dir)) {
		rc = ctl_fail("cannot complete the snapshot: %s", rc ? strerror(-rc) : strerror(errno));
		goto out;
	}
	snprintf(snap_out, snap_len, "%s", snap);
	if (c->json) {
		json_object_object_add(meta, "image", json_object_new_string(dir));
		print_json(meta);
	}
	rc = 0;
out:
	if (out >= 0)
		close(out);
	if (rc && tmpdir[0]) {
		unlink(img);
		unlink(cow);
		state_path(c, p, sizeof(p), "snapshots/.partial-%s/meta.json", snap);
		unlink(p);
		rmdir(tmpdir);
	}
	json_object_put(meta);
	free(h);
	/* A held Ctrl-C is delivered now, with nothing left to undo. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int cmd_snapshot_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cow-size", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char path[4096], uuid[64], snap[32];
	uint64_t cow_bytes = 0;
	const char *vol;
	struct json_object *rec;
	int o, rc, lock_fd;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (parse_size(optarg, &cow_bytes) || cow_bytes < 4096)
				return ctl_fail("--cow-size: \"%s\" is not a size of at least 4K", optarg);
			break;
		case 'j': c->json = 1; break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || !ebs_id_valid(argv[optind], "vol"))
		return ctl_fail("usage: ebscryptctl snapshot create VOL [--cow-size SIZE] [--json]");
	vol = argv[optind];
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (state_load_volume(c, vol, &rec))
		return ctl_fail("no volume %s in %s", vol, c->state_dir);
	rc = volume_backing_path(rec, path, sizeof(path));
	json_object_put(rec);
	if (rc)
		return ctl_fail("volume record %s has no backing path", vol);
	dm_setup();
	/*
	 * Held until exit, from before the repair to after the switch back:
	 * waits only for an attach or detach repairing this volume.
	 */
	lock_fd = capture_lock(c, vol, 1);
	if (lock_fd < 0)
		return ctl_fail("cannot take the capture lock of %s in %s/locks: %s", vol, c->state_dir,
				strerror(-lock_fd));
	if (repair_locked(vol))
		return 1;
	repair_others(c, vol);
	snprintf(uuid, sizeof(uuid), "EBSCRYPT-%s", vol);
	rc = snapshot_take(c, path, dm_find_uuid(uuid, NULL, 0) ? NULL : vol, NULL, cow_bytes, snap,
			   sizeof(snap));
	close(lock_fd);
	if (!rc && !c->json)
		printf("%s\n", snap);
	return rc;
}

static int load_meta(struct ctl *c, const char *snap, struct json_object **meta, char *img, size_t len)
{
	char p[4096];

	if (!ebs_id_valid(snap, "snap"))
		return ctl_fail("\"%s\" is not a snapshot id (snap-<17 hex>)", snap);
	state_path(c, p, sizeof(p), "snapshots/%s/meta.json", snap);
	if (state_read_json(p, meta))
		return ctl_fail("no snapshot %s in %s/snapshots", snap, c->state_dir);
	state_path(c, img, len, "snapshots/%s/image", snap);
	return 0;
}

/*
 * The checksum the metadata records: the tree (checksum_alg, checksum), or
 * the one SHA-256 stream of snapshots taken before it (sha256), which still
 * verify. 0, or 1 after saying why not.
 */
static int meta_checksum(const char *snap, struct json_object *meta, enum copy_sum *sum, const char **want)
{
	const char *alg = jstr(meta, "checksum_alg");

	*sum = alg ? COPY_SUM_TREE : COPY_SUM_SHA256;
	*want = jstr(meta, alg ? "checksum" : "sha256");
	if (alg && strcmp(alg, TREEHASH_ALG))
		return ctl_fail("snapshot %s has a checksum of a kind this ebscryptctl does not know (%s): "
				"it cannot be verified, so it is not used", snap, alg);
	if (!*want)
		return ctl_fail("snapshot %s is damaged: its metadata records no checksum", snap);
	return 0;
}

/* The checksum is verified on every use: a damaged snapshot is never restored. */
static int verify_image(struct ctl *c, const char *snap, struct json_object *meta, const char *img)
{
	struct copy_job j = { .out = -1, .what = "verifying", .show = show_progress(c) };
	const char *want;
	uint8_t sha[32];
	char hex[65];
	int rc;

	if (meta_checksum(snap, meta, &j.sum, &want))
		return 1;
	j.in = open(img, O_RDONLY | O_CLOEXEC);
	j.len = (uint64_t)jint(meta, "image_bytes");
	j.digest = sha;
	if (j.in < 0)
		return ctl_fail("cannot open %s: %m", img);
	rc = copy_run(&j);
	close(j.in);
	ebs_hex(sha, sizeof(sha), hex);
	if (rc || strcmp(hex, want))
		return ctl_fail("snapshot %s is damaged: its checksum does not match (%s)", snap,
				rc ? strerror(-rc) : "content changed");
	return 0;
}

static void ctx_pairs(const struct ebs_header *h, struct kms_context_pair *pairs, struct kms_context *ctx)
{
	size_t i;

	for (i = 0; i < h->ctx_count; i++) {
		pairs[i].key = h->ctx[i].key;
		pairs[i].value = h->ctx[i].value;
	}
	ctx->pairs = pairs;
	ctx->count = h->ctx_count;
}

/*
 * Same DEK (or no DEK): the snapshot's bytes become the new volume's, and the
 * header is re-issued for the new volume id. An encrypted DEK is re-wrapped
 * with ReEncrypt under the same key with the new volume's context, so the
 * audit trail names the volume that uses it; the lineage stays.
 */
static int restore_same_key(struct ctl *c, const char *snap, const char *img, struct json_object *meta,
			    struct ebs_header *h, const struct vol_spec *sp, struct vol_new *nv)
{
	uint8_t sha[32];
	char sha_hex[65];
	const char *want_sha;
	enum copy_sum sum;
	struct kms_context_pair op[EBS_HDR_CTX_MAX], np[EBS_HDR_CTX_MAX];
	struct kms_context octx, nctx;
	struct ebs_header *old = malloc(sizeof(*old));
	char hex[33], tbuf[32], msg[768], *arn = NULL;
	uint64_t total = (h->data_offset + h->data_sectors) * 512;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int in = -1, out = -1, rc = 1;

	memset(nv, 0, sizeof(*nv));
	if (!old || meta_checksum(snap, meta, &sum, &want_sha) || random_hex_id("vol", nv->vol, sizeof(nv->vol)))
		goto out;
	memcpy(old, h, sizeof(*old));
	if (sp->device) {
		snprintf(nv->path, sizeof(nv->path), "%s", sp->device);
		out = open(nv->path, O_RDWR | O_EXCL | O_CLOEXEC);
	} else {
		state_path(c, nv->path, sizeof(nv->path), "store/%s.img", nv->vol);
		out = open(nv->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		nv->created_file = out >= 0;
		if (out >= 0 && ftruncate(out, (off_t)total))
			goto fail_io;
	}
	in = open(img, O_RDONLY | O_CLOEXEC);
	if (in < 0 || out < 0)
		goto fail_io;
	{
		struct copy_job j = { .in = in, .out = out, .len = total, .sparse = !sp->device,
				      .sum = sum, .digest = sha, .what = snap, .show = show_progress(c) };

		if ((rc = copy_run(&j))) {
			rc = ctl_fail("copying %s failed: %s", snap, strerror(-rc));
			goto out;
		}
	}
	/* Verified on the way, not in a pass of its own: a mismatch discards the copy. */
	ebs_hex(sha, sizeof(sha), sha_hex);
	if (strcmp(sha_hex, want_sha)) {
		rc = ctl_fail("snapshot %s is damaged: its checksum does not match (content changed)", snap);
		goto out;
	}
	snprintf(h->volume_id, sizeof(h->volume_id), "%s", nv->vol);
	h->seqno = 1;
	h->created = (uint64_t)time(NULL);
	if (ebs_header_encrypted(h)) {
		struct kms_client *k;
		struct kms_error err;

		ebs_header_ctx_set(h, EBS_CTX_VOLUME_ID, nv->vol);
		ctx_pairs(old, op, &octx);
		ctx_pairs(h, np, &nctx);
		if (ctl_kms(c, &k))
			goto out;
		memset(&err, 0, sizeof(err));
		rc = kms_reencrypt(k, old->wrapped_dek, old->wrapped_len, &octx, old->kms_key_arn, &nctx,
				   &blob, &blob_len, &arn, &err);
		if (rc || !blob_len || blob_len > EBS_HDR_WRAPPED_MAX) {
			ctl_kms_error(msg, sizeof(msg), "ReEncrypt for the restored volume", rc ?: -EPROTO, &err);
			rc = ctl_fail("%s", msg);
			goto out;
		}
		memcpy(h->wrapped_dek, blob, blob_len);
		h->wrapped_len = blob_len;
	}
	if ((rc = ebs_header_write(out, h))) {
		rc = ctl_fail("cannot write the header of %s: %s", nv->vol, strerror(-rc));
		goto out;
	}
	nv->rec = json_object_new_object();
	format_time(h->created, tbuf, sizeof(tbuf));
	ebs_hex(h->lineage, sizeof(h->lineage), hex);
	json_object_object_add(nv->rec, "volume_id", json_object_new_string(nv->vol));
	json_object_object_add(nv->rec, "size", json_object_new_int64((int64_t)(h->data_sectors * 512)));
	json_object_object_add(nv->rec, "encrypted", json_object_new_boolean(ebs_header_encrypted(h)));
	json_object_object_add(nv->rec, "kms_key_id", ebs_header_encrypted(h) ?
			       json_object_new_string(h->kms_key_arn) : NULL);
	json_object_object_add(nv->rec, "data_encryption_key_id", json_object_new_string(hex));
	json_object_object_add(nv->rec, "snapshot_id", json_object_new_string(snap));
	json_object_object_add(nv->rec, "create_time", json_object_new_string(tbuf));
	json_object_object_add(nv->rec, "sector_size", json_object_new_int((int)h->sector_size));
	json_object_object_add(nv->rec, "backing", json_object_new_string(nv->path));
	json_object_object_add(nv->rec, "backing_type", json_object_new_string(sp->device ? "device" : "file"));
	rc = 0;
	goto out;
fail_io:
	rc = ctl_fail("cannot set up the restore of %s into %s: %m", snap, nv->path);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc)
		volume_new_abort(nv);
	free(blob);
	free(arn);
	free(old);
	return rc;
}

/*
 * A new DEK: the data goes block by block from the source (the snapshot's
 * plaintext, or its ciphertext through a read-only mapping keyed with the old
 * DEK) into the new volume's mapping keyed with the new DEK. Both keys stay
 * in the kernel; this process only ever sees plaintext blocks in transit,
 * like any reader of the attached volumes.
 */
static int restore_new_key(struct ctl *c, const char *snap, const char *img, struct ebs_header *h,
			   struct vol_spec *sp, struct vol_new *nv)
{
	char dst[160], src[4096], srcname[64];
	int in = -1, out = -1, rc, src_mapped = 0, dst_mapped = 0;
	uint64_t in_off = 0;

	sp->size = h->data_sectors * 512;
	sp->sector = h->sector_size;
	sp->encrypted = 1;
	sp->snapshot_id = snap;
	if (volume_new(c, sp, nv))
		return 1;
	rc = ctl_agent_attach(c, nv->vol, nv->path, NULL, NULL, dst, sizeof(dst));
	if (rc)
		goto out;
	dst_mapped = 1;
	if (ebs_header_encrypted(h)) {
		snprintf(srcname, sizeof(srcname), "ebscopy-%s", snap);
		rc = ctl_agent_attach(c, h->volume_id, img, srcname, "copy-source", src, sizeof(src));
		if (rc)
			goto out;
		src_mapped = 1;
	} else {
		snprintf(src, sizeof(src), "%s", img);
		in_off = h->data_offset * 512;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0) {
		rc = ctl_fail("cannot open the copy devices: %m");
		goto out;
	}
	{
		struct copy_job j = { .in = in, .out = out, .in_off = in_off, .len = sp->size,
				      .what = "re-encrypting", .show = show_progress(c) };

		if ((rc = copy_run(&j)))
			rc = ctl_fail("re-encryption copy failed: %s", strerror(-rc));
	}
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (src_mapped && ctl_agent_detach(c, srcname))
		rc = rc ?: 1;
	if (dst_mapped && ctl_agent_detach(c, nv->vol))
		rc = rc ?: 1;
	if (rc)
		volume_new_abort(nv);
	return rc;
}

/* Restores SNAP into a new, unrecorded volume (the caller commits or discards it). */
static int restore_into(struct ctl *c, const char *snap, struct vol_spec *sp, int want_enc,
			int no_enc, const char *key, int key_given, struct vol_new *nv)
{
	struct ebs_header *h = malloc(sizeof(*h));
	char img[4096], arn[EBS_HDR_ARN_MAX + 1];
	struct ebs_header_read_info info;
	struct json_object *meta = NULL;
	int rc = 1, same;

	if (!h || load_meta(c, snap, &meta, img, sizeof(img)))
		goto out;
	if (no_enc && jbool(meta, "encrypted")) {
		rc = ctl_fail("%s is encrypted: anything made from it is encrypted too, so "
			      "--no-encryption is refused (copy files at the OS level instead)", snap);
		goto out;
	}
	if (sp->size && sp->size != (uint64_t)jint(meta, "size")) {
		rc = ctl_fail("--size must match the snapshot's size (%lld bytes): resizing is not supported",
			      (long long)jint(meta, "size"));
		goto out;
	}
	/*
	 * The checksum is checked before anything is trusted. A copy of the
	 * bytes as they are hashes them on the way (one pass instead of two);
	 * a re-encryption reads through a mapping, so the image is verified
	 * first. An unreadable header is reported as damage when the checksum
	 * says so.
	 */
	if (header_of(img, h, &info)) {
		if (!verify_image(c, snap, meta, img))
			read_header_path(img, h);
		goto out;
	}
	if (ebs_header_encrypted(h)) {
		if (key_given && ctl_resolve_key(c, key, 0, arn, sizeof(arn)))
			goto out;
		same = !key_given || !strcmp(arn, h->kms_key_arn);
	} else {
		same = !want_enc;
	}
	if (same) {
		rc = restore_same_key(c, snap, img, meta, h, sp, nv);
	} else if (!verify_image(c, snap, meta, img)) {
		sp->key = ebs_header_encrypted(h) ? arn : key;
		rc = restore_new_key(c, snap, img, h, sp, nv);
	}
out:
	json_object_put(meta);
	free(h);
	return rc;
}

int volume_restore(struct ctl *c, const char *snap, struct vol_spec *sp, int want_enc,
		   int no_enc, const char *key, int key_given)
{
	struct vol_new nv;

	if (restore_into(c, snap, sp, want_enc, no_enc, key, key_given, &nv))
		return 1;
	return volume_new_commit(c, &nv);
}

int cmd_snapshot_copy(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "encrypted", no_argument, NULL, 'e' },
		{ "no-encryption", no_argument, NULL, 'n' },
		{ "kms-key-id", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char default_key[512], snap[32];
	struct vol_spec sp = { 0 };
	const char *key = NULL;
	int want_enc = 0, no_enc = 0, ebd, o, rc;
	struct vol_new nv;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'e': want_enc = 1; break;
		case 'n': no_enc = 1; break;
		case 'k': key = optarg; break;
		case 'j': c->json = 1; break;
		default: return 2;
		}
	}
	if (optind != argc - 1)
		return ctl_fail("usage: ebscryptctl snapshot copy SNAP [--encrypted] [--kms-key-id KEY]");
	if (no_enc && (want_enc || key))
		return ctl_fail("--no-encryption contradicts --encrypted/--kms-key-id");
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (state_load_settings(c, &ebd, default_key, sizeof(default_key)))
		return ctl_fail("cannot read %s/config.json", c->state_dir);
	if (no_enc && ebd)
		return ctl_fail("encrypt-by-default is on, so every copy is encrypted: --no-encryption is refused");
	/* A copy goes through a scratch volume that is never recorded, then is snapshotted. */
	if (restore_into(c, argv[optind], &sp, want_enc || key || ebd, no_enc,
			 key ? key : default_key, !!key, &nv))
		return 1;
	rc = snapshot_take(c, nv.path, NULL, argv[optind], 0, snap, sizeof(snap));
	volume_new_abort(&nv);
	if (!rc && !c->json)
		printf("%s\n", snap);
	return rc;
}

static void list_partials(struct ctl *c)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;

	state_path(c, dir, sizeof(dir), "snapshots");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".partial-", 9))
			ctl_warn("%s/%s was left by an interrupted snapshot and is not a snapshot: "
				 "remove it with `rm -r %s/%s`", dir, de->d_name, dir, de->d_name);
	closedir(d);
}

int cmd_snapshot_list(struct ctl *c, int argc, char **argv)
{
	struct json_object *arr = json_object_new_array(), *o;
	struct dirent **names;
	char dir[4096];
	int n, i;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		c->json = 1;
	else if (argc != 1)
		return ctl_fail("usage: ebscryptctl snapshot list [--json]");
	list_partials(c);
	dm_setup();
	capture_list_stale();
	state_path(c, dir, sizeof(dir), "snapshots");
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		struct json_object *meta;
		char img[4096];

		if (ebs_id_valid(names[i]->d_name, "snap") &&
		    !load_meta(c, names[i]->d_name, &meta, img, sizeof(img)))
			json_object_array_add(arr, meta);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	if (c->json) {
		o = json_object_new_object();
		json_object_object_add(o, "snapshots", arr);
		print_json(o);
		json_object_put(o);
		return 0;
	}
	for (i = 0; i < (int)json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		printf("%-23s %-22s %10.1f MiB  %-9s  %s\n", jstr(o, "snapshot_id"), jstr(o, "volume_id"),
		       jint(o, "size") / 1048576.0, jbool(o, "encrypted") ? "encrypted" : "plain",
		       jstr(o, "kms_key_id") ?: "-");
	}
	json_object_put(arr);
	return 0;
}

int cmd_snapshot_describe(struct ctl *c, int argc, char **argv)
{
	struct json_object *meta;
	const char *snap = NULL;
	char img[4096];
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (!snap)
			snap = argv[i];
		else
			return ctl_fail("unexpected argument \"%s\"", argv[i]);
	}
	if (!snap)
		return ctl_fail("usage: ebscryptctl snapshot describe SNAP [--json]");
	if (load_meta(c, snap, &meta, img, sizeof(img)))
		return 1;
	if (c->json) {
		print_json(meta);
	} else {
		json_object_object_foreach(meta, k, v)
			printf("%-24s %s\n", k, v ? json_object_get_string(v) : "-");
	}
	json_object_put(meta);
	return 0;
}

int cmd_snapshot_delete(struct ctl *c, int argc, char **argv)
{
	struct json_object *meta;
	char img[4096], p[4096], dir[4096];

	if (argc != 2)
		return ctl_fail("usage: ebscryptctl snapshot delete SNAP");
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (load_meta(c, argv[1], &meta, img, sizeof(img)))
		return 1;
	json_object_put(meta);
	state_path(c, p, sizeof(p), "snapshots/%s/meta.json", argv[1]);
	state_path(c, dir, sizeof(dir), "snapshots/%s", argv[1]);
	/* meta.json first: without it the directory is no longer a snapshot. */
	if (unlink(p) || (unlink(img) && errno != ENOENT) || rmdir(dir))
		return ctl_fail("cannot delete %s: %m", dir);
	printf("deleted %s\n", argv[1]);
	return 0;
}
