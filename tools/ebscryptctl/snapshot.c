// SPDX-License-Identifier: GPL-2.0
/*
 * The snapshot store: <state>/snapshots/snap-<id>/{image,meta.json}. Work in
 * progress lives in <state>/snapshots/.partial-snap-<id>/ and is renamed
 * into place only when complete, so an interrupted command never leaves
 * anything that looks complete. A snapshot holds the volume's backing bytes
 * (header + ciphertext) at one instant (capture.c): no key is unwrapped to
 * take one. Its checksum is verified on every use.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "capture.h"
#include "ctl.h"
#include "header.h"
#include "treehash.h"

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

/* Removes what an unfinished snapshot left in its .partial directory. */
static void discard_partial(struct ctl *c, const char *snap)
{
	static const char *const files[] = { "image", "cow", "meta.json" };
	char p[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		state_path(c, p, "snapshots/.partial-%s/%s", snap, files[i]);
		unlink(p);
	}
	state_path(c, p, "snapshots/.partial-%s", snap);
	rmdir(p);
}

/* Captures src into the .partial directory and renames it into place. */
static int take_into(struct ctl *c, const char *src_path, const char *vol, const char *source_snapshot,
		     uint64_t cow_bytes, const char *snap, struct json_object **meta_out)
{
	_cleanup_free_ struct ebs_header *h = calloc(1, sizeof(*h));
	_cleanup_json_ struct json_object *meta = NULL;
	_cleanup_close_ int out = -1;
	char tmpdir[PATH_MAX], dir[PATH_MAX], img[PATH_MAX], p[PATH_MAX], cow[PATH_MAX];
	struct capture_res res = { .how = "" };
	uint64_t total;
	int rc;

	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	rc = volume_header_check(c, src_path, h);
	if (rc)
		return rc;
	total = (h->data_offset + h->data_sectors) * 512;
	state_path(c, tmpdir, "snapshots/.partial-%s", snap);
	state_path(c, dir, "snapshots/%s", snap);
	state_path(c, img, "snapshots/.partial-%s/image", snap);
	state_path(c, cow, "snapshots/.partial-%s/cow", snap);
	out = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || ftruncate(out, (off_t)total)) {
		rc = -errno;
		return ctl_err(c, rc, "cannot set up the snapshot image %s: %s", img, strerror(-rc));
	}
	rc = capture_image(c, src_path, vol, out, total, cow, cow_bytes, snap, &res);
	if (rc)
		return rc;
	meta = snapshot_meta(h, snap, source_snapshot, total, &res);
	state_path(c, p, "snapshots/.partial-%s/meta.json", snap);
	rc = state_write_json(p, meta);
	if (!rc && rename(tmpdir, dir))
		rc = -errno;
	if (rc)
		return ctl_err(c, rc, "cannot complete the snapshot: %s", strerror(-rc));
	if (meta_out) {
		json_object_object_add(meta, "image", json_object_new_string(dir));
		*meta_out = TAKE_PTR(meta);
	}
	return 0;
}

int snapshot_take(struct ctl *c, const char *src_path, const char *vol,
		  const char *source_snapshot, uint64_t cow_bytes, char *snap_out, size_t snap_len,
		  struct json_object **meta)
{
	char snap[32], p[PATH_MAX];
	sigset_t term, old;
	int rc;

	if (random_hex_id("snap", snap, sizeof(snap)))
		return ctl_err(c, -EIO, "no randomness for the snapshot id");
	/* Held from here to the end: a Ctrl-C stops the copy, then everything is undone. */
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigaddset(&term, SIGQUIT);
	sigprocmask(SIG_BLOCK, &term, &old);
	state_path(c, p, "snapshots");
	mkdir(p, 0700);
	state_path(c, p, "snapshots/.partial-%s", snap);
	if (mkdir(p, 0700)) {
		rc = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return ctl_err(c, rc, "cannot create %s: %s", p, strerror(-rc));
	}
	rc = take_into(c, src_path, vol, source_snapshot, cow_bytes, snap, meta);
	if (rc)
		discard_partial(c, snap);
	else
		snprintf(snap_out, snap_len, "%s", snap);
	/* A held Ctrl-C is delivered now, with nothing left to undo. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int snapshot_load_meta(struct ctl *c, const char *snap, struct json_object **meta, char img[PATH_MAX])
{
	char p[PATH_MAX];
	int rc;

	if (!ebs_id_valid(snap, "snap"))
		return ctl_err(c, -EINVAL, "\"%s\" is not a snapshot id (snap-<17 hex>)", snap);
	state_path(c, p, "snapshots/%s/meta.json", snap);
	rc = state_read_json(p, meta);
	if (rc)
		return ctl_err(c, rc, "no snapshot %s in %s/snapshots", snap, c->state_dir);
	state_path(c, img, "snapshots/%s/image", snap);
	return 0;
}

/*
 * The checksum the metadata records: the tree (checksum_alg, checksum), or
 * the one SHA-256 stream of snapshots taken before it (sha256), which still
 * verify.
 */
int snapshot_meta_checksum(struct ctl *c, const char *snap, struct json_object *meta,
			   enum copy_sum *sum, const char **want)
{
	const char *alg = jstr(meta, "checksum_alg");

	*sum = alg ? COPY_SUM_TREE : COPY_SUM_SHA256;
	*want = jstr(meta, alg ? "checksum" : "sha256");
	if (alg && strcmp(alg, TREEHASH_ALG))
		return ctl_err(c, -EPROTONOSUPPORT, "snapshot %s has a checksum of a kind this "
			       "ebscryptctl does not know (%s): it cannot be verified, so it is not used",
			       snap, alg);
	if (!*want)
		return ctl_err(c, -EBADMSG, "snapshot %s is damaged: its metadata records no checksum",
			       snap);
	return 0;
}

/* The checksum is verified on every use: a damaged snapshot is never restored. */
int snapshot_verify_image(struct ctl *c, const char *snap, struct json_object *meta, const char *img)
{
	struct copy_job j = { .out = -1, .what = "verifying", .show = ctl_show_progress(c) };
	_cleanup_close_ int in = -1;
	const char *want;
	uint8_t sha[32];
	char hex[65];
	int rc;

	rc = snapshot_meta_checksum(c, snap, meta, &j.sum, &want);
	if (rc)
		return rc;
	in = open(img, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = -errno;
		return ctl_err(c, rc, "cannot open %s: %s", img, strerror(-rc));
	}
	j.in = in;
	j.len = (uint64_t)jint(meta, "image_bytes");
	j.digest = sha;
	rc = copy_run(&j);
	ebs_hex(sha, sizeof(sha), hex);
	if (rc || strcmp(hex, want))
		return ctl_err(c, rc ?: -EBADMSG, "snapshot %s is damaged: its checksum does not match (%s)",
			       snap, rc ? strerror(-rc) : "content changed");
	return 0;
}
