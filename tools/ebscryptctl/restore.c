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
	if (!old || snapshot_meta_checksum(snap, meta, &sum, &want_sha) || random_hex_id("vol", nv->vol, sizeof(nv->vol)))
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
				      .sum = sum, .digest = sha, .what = snap, .show = ctl_show_progress(c) };

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
				      .what = "re-encrypting", .show = ctl_show_progress(c) };

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
int restore_into(struct ctl *c, const char *snap, struct vol_spec *sp, int want_enc,
			int no_enc, const char *key, int key_given, struct vol_new *nv)
{
	struct ebs_header *h = malloc(sizeof(*h));
	char img[4096], arn[EBS_HDR_ARN_MAX + 1];
	struct ebs_header_read_info info;
	struct json_object *meta = NULL;
	int rc = 1, same;

	if (!h || snapshot_load_meta(c, snap, &meta, img, sizeof(img)))
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
	if (volume_header_read(img, h, &info)) {
		if (!snapshot_verify_image(c, snap, meta, img))
			volume_header_check(img, h);
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
	} else if (!snapshot_verify_image(c, snap, meta, img)) {
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
