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

/*
 * Snapshots one backing file or device into a new snapshot: vol names the
 * attached volume it belongs to, or is NULL when nothing writes to it.
 */
int snapshot_take(struct ctl *c, const char *src_path, const char *vol,
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
	if (!h || volume_header_check(src_path, h))
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
	rc = capture_image(c, src_path, vol, out, total, cow, cow_bytes, snap, &res);
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

int snapshot_load_meta(struct ctl *c, const char *snap, struct json_object **meta, char *img, size_t len)
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
int snapshot_meta_checksum(const char *snap, struct json_object *meta, enum copy_sum *sum, const char **want)
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
int snapshot_verify_image(struct ctl *c, const char *snap, struct json_object *meta, const char *img)
{
	struct copy_job j = { .out = -1, .what = "verifying", .show = ctl_show_progress(c) };
	const char *want;
	uint8_t sha[32];
	char hex[65];
	int rc;

	if (snapshot_meta_checksum(snap, meta, &j.sum, &want))
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
