// SPDX-License-Identifier: GPL-2.0
/*
 * Restoring a snapshot into a new volume. Encryption only ever gets added:
 * an encrypted snapshot gives an encrypted volume (the same DEK, or with
 * another KMS key a new DEK and the data re-encrypted), and every path that
 * would turn an encrypted source into plaintext is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "header.h"

/* The new volume's backing: the device, or a fresh sparse file of total bytes. */
static int open_target(struct ctl *c, const struct vol_spec *sp, uint64_t total, struct vol_new *nv,
		       int *out)
{
	if (sp->device) {
		snprintf(nv->path, sizeof(nv->path), "%s", sp->device);
		*out = open(nv->path, O_RDWR | O_EXCL | O_CLOEXEC);
	} else {
		state_path(c, nv->path, "store/%s.img", nv->vol);
		*out = open(nv->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		nv->created_file = *out >= 0;
		if (*out >= 0 && ftruncate(*out, (off_t)total))
			return -errno;
	}
	return *out < 0 ? -errno : 0;
}

/* The header, re-issued for the new volume; an encrypted DEK re-wrapped for its context. */
static int reissue_header(struct ctl *c, struct ebs_header *h, const char *vol)
{
	_cleanup_free_ struct ebs_header *old = malloc(sizeof(*old));
	struct ebs_kms_context octx, nctx;
	_cleanup_free_ uint8_t *blob = NULL;
	_cleanup_free_ char *arn = NULL;
	struct kms_client *k;
	struct kms_error err;
	size_t blob_len = 0;
	int rc;

	if (!old)
		return ctl_err(c, -ENOMEM, "out of memory");
	memcpy(old, h, sizeof(*old));
	snprintf(h->volume_id, sizeof(h->volume_id), "%s", vol);
	h->seqno = 1;
	h->created = (uint64_t)time(NULL);
	if (!ebs_header_encrypted(h))
		return 0;
	ebs_header_ctx_set(h, EBS_CTX_VOLUME_ID, vol);
	rc = ctl_kms(c, &k);
	if (rc)
		return rc;
	memset(&err, 0, sizeof(err));
	rc = kms_reencrypt(k, old->wrapped_dek, old->wrapped_len, ebs_header_kms_context(old, &octx),
			   old->kms_key_arn, ebs_header_kms_context(h, &nctx), &blob, &blob_len, &arn, &err);
	if (rc || !blob_len || blob_len > EBS_HDR_WRAPPED_MAX)
		return ctl_err_kms(c, rc ?: -EPROTO, &err, "ReEncrypt for the restored volume");
	memcpy(h->wrapped_dek, blob, blob_len);
	h->wrapped_len = blob_len;
	return 0;
}

/*
 * Same DEK (or no DEK): the snapshot's bytes become the new volume's, and the
 * header is re-issued for the new volume id. An encrypted DEK is re-wrapped
 * with ReEncrypt under the same key with the new volume's context, so the
 * audit trail names the volume that uses it; the lineage stays.
 */
static int copy_same_key(struct ctl *c, const char *snap, const char *img, struct json_object *meta,
			 struct ebs_header *h, const struct vol_spec *sp, struct vol_new *nv)
{
	uint64_t total = (h->data_offset + h->data_sectors) * 512;
	_cleanup_close_ int in = -1, out = -1;
	char sha_hex[65], hex[33], tbuf[32];
	const char *want_sha;
	enum copy_sum sum;
	uint8_t sha[32];
	int rc;

	rc = snapshot_meta_checksum(c, snap, meta, &sum, &want_sha);
	if (rc)
		return rc;
	if (random_hex_id("vol", nv->vol, sizeof(nv->vol)))
		return ctl_err(c, -EIO, "no randomness for the volume id");
	rc = open_target(c, sp, total, nv, &out);
	if (!rc) {
		in = open(img, O_RDONLY | O_CLOEXEC);
		rc = in < 0 ? -errno : 0;
	}
	if (rc)
		return ctl_err(c, rc, "cannot set up the restore of %s into %s: %s", snap, nv->path,
			       strerror(-rc));
	{
		struct copy_job j = { .in = in, .out = out, .len = total, .sparse = !sp->device,
				      .sum = sum, .digest = sha, .what = snap, .show = ctl_show_progress(c) };

		rc = copy_run(&j);
		if (rc)
			return ctl_err(c, rc, "copying %s failed: %s", snap, strerror(-rc));
	}
	/* Verified on the way, not in a pass of its own: a mismatch discards the copy. */
	ebs_hex(sha, sizeof(sha), sha_hex);
	if (strcmp(sha_hex, want_sha))
		return ctl_err(c, -EBADMSG, "snapshot %s is damaged: its checksum does not match "
			       "(content changed)", snap);
	rc = reissue_header(c, h, nv->vol);
	if (rc)
		return rc;
	rc = ebs_header_write(out, h);
	if (rc)
		return ctl_err(c, rc, "cannot write the header of %s: %s", nv->vol, strerror(-rc));
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
	return 0;
}

static int restore_same_key(struct ctl *c, const char *snap, const char *img, struct json_object *meta,
			    struct ebs_header *h, const struct vol_spec *sp, struct vol_new *nv)
{
	int rc;

	memset(nv, 0, sizeof(*nv));
	rc = copy_same_key(c, snap, img, meta, h, sp, nv);
	if (rc)
		volume_new_abort(nv);
	return rc;
}

/* Copies through the mappings: the source (plaintext image or a read-only mapping) into dst. */
static int reencrypt_copy(struct ctl *c, const char *snap, const char *img, const struct ebs_header *h,
			  const char *dst, uint64_t len, char *srcname, size_t srcname_len, int *src_mapped)
{
	_cleanup_close_ int in = -1, out = -1;
	char src[PATH_MAX];
	uint64_t in_off = 0;
	int rc;

	if (ebs_header_encrypted(h)) {
		snprintf(srcname, srcname_len, "ebscopy-%s", snap);
		rc = ctl_agent_attach(c, h->volume_id, img, srcname, "copy-source", src, sizeof(src));
		if (rc)
			return rc;
		*src_mapped = 1;
	} else {
		snprintf(src, sizeof(src), "%s", img);
		in_off = h->data_offset * 512;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0) {
		rc = -errno;
		return ctl_err(c, rc, "cannot open the copy devices: %s", strerror(-rc));
	}
	{
		struct copy_job j = { .in = in, .out = out, .in_off = in_off, .len = len,
				      .what = "re-encrypting", .show = ctl_show_progress(c) };

		rc = copy_run(&j);
		if (rc)
			return ctl_err(c, rc, "re-encryption copy failed: %s", strerror(-rc));
	}
	return 0;
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
	char dst[160], srcname[64];
	int rc, drc, src_mapped = 0;

	sp->size = h->data_sectors * 512;
	sp->sector = h->sector_size;
	sp->encrypted = 1;
	sp->snapshot_id = snap;
	rc = volume_new(c, sp, nv);
	if (rc)
		return rc;
	rc = ctl_agent_attach(c, nv->vol, nv->path, NULL, NULL, dst, sizeof(dst));
	if (!rc) {
		rc = reencrypt_copy(c, snap, img, h, dst, sp->size, srcname, sizeof(srcname), &src_mapped);
		if (src_mapped && (drc = ctl_agent_detach(c, srcname)) && !rc)
			rc = drc;
		drc = ctl_agent_detach(c, nv->vol);
		if (drc && !rc)
			rc = drc;
	}
	if (rc)
		volume_new_abort(nv);
	return rc;
}

/* Restores SNAP into a new, unrecorded volume (the caller commits or discards it). */
int restore_into(struct ctl *c, const char *snap, struct vol_spec *sp, const struct restore_req *rq,
		 struct vol_new *nv)
{
	_cleanup_free_ struct ebs_header *h = malloc(sizeof(*h));
	_cleanup_json_ struct json_object *meta = NULL;
	char img[PATH_MAX], arn[EBS_HDR_ARN_MAX + 1];
	struct ebs_header_read_info info;
	int rc, same;

	memset(nv, 0, sizeof(*nv));
	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	rc = snapshot_load_meta(c, snap, &meta, img);
	if (rc)
		return rc;
	if (rq->refuse_plain && jbool(meta, "encrypted"))
		return ctl_err(c, -EPERM, "%s is encrypted: anything made from it is encrypted too, so "
			       "--no-encryption is refused (copy files at the OS level instead)", snap);
	if (sp->size && sp->size != (uint64_t)jint(meta, "size"))
		return ctl_err(c, -EINVAL, "--size must match the snapshot's size (%lld bytes): resizing "
			       "is not supported", (long long)jint(meta, "size"));
	/*
	 * The checksum is checked before anything is trusted. A copy of the
	 * bytes as they are hashes them on the way (one pass instead of two);
	 * a re-encryption reads through a mapping, so the image is verified
	 * first. An unreadable header is reported as damage when the checksum
	 * says so.
	 */
	if (volume_header_read(img, h, &info)) {
		rc = snapshot_verify_image(c, snap, meta, img);
		if (!rc)
			rc = volume_header_check(c, img, h);
		return rc ?: ctl_err(c, -EIO, "cannot read the header of snapshot %s", snap);
	}
	if (ebs_header_encrypted(h)) {
		if (rq->key_named && (rc = ctl_resolve_key(c, rq->key, KEY_MUST_EXIST, arn, sizeof(arn))))
			return rc;
		same = !rq->key_named || !strcmp(arn, h->kms_key_arn);
	} else {
		same = !rq->encrypt;
	}
	if (same)
		return restore_same_key(c, snap, img, meta, h, sp, nv);
	rc = snapshot_verify_image(c, snap, meta, img);
	if (rc)
		return rc;
	sp->key = ebs_header_encrypted(h) ? arn : rq->key;
	return restore_new_key(c, snap, img, h, sp, nv);
}
