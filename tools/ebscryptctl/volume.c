// SPDX-License-Identifier: GPL-2.0
/*
 * Volumes: records and the devices behind them, and making a new one in
 * steps (backing file or device, header, record), so a restore can fill in
 * the data before the record is committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/fs.h>
#include <openssl/rand.h>

#include "base64.h"
#include "ctl.h"
#include "header.h"

int volume_backing_path(struct json_object *rec, char *out, size_t len)
{
	const char *p = jstr(rec, "backing");

	if (!p || p[0] != '/')
		return -EINVAL;
	snprintf(out, len, "%s", p);
	return 0;
}

int resolve_device(struct ctl *c, const char *arg, char *path, size_t len)
{
	_cleanup_json_ struct json_object *rec = NULL;
	int rc;

	if (!ebs_id_valid(arg, "vol")) {
		snprintf(path, len, "%s", arg);
		return 0;
	}
	rc = state_load_volume(c, arg, &rec);
	if (rc)
		return ctl_err(c, rc, "no volume %s in %s", arg, c->state_dir);
	rc = volume_backing_path(rec, path, len);
	if (rc)
		return ctl_err(c, rc, "volume record %s has no backing path", arg);
	return 0;
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	size_t i;

	if (!hex || strlen(hex) != 2 * len)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Asks the agent for the key check value of a freshly wrapped DEK. */
static int agent_kcv(struct ctl *c, const struct ebs_header *h)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *rep = NULL;
	struct json_object *ctx = json_object_new_object();
	_cleanup_free_ char *b64 = NULL;
	size_t i;
	int rc;

	if (b64_encode(h->wrapped_dek, h->wrapped_len, &b64)) {
		json_object_put(ctx);
		return ctl_err(c, -ENOMEM, "out of memory");
	}
	for (i = 0; i < h->ctx_count; i++)
		json_object_object_add(ctx, h->ctx[i].key, json_object_new_string(h->ctx[i].value));
	json_object_object_add(req, "op", json_object_new_string("kcv"));
	json_object_object_add(req, "kms_key_arn", json_object_new_string(h->kms_key_arn));
	json_object_object_add(req, "wrapped", json_object_new_string(b64));
	json_object_object_add(req, "context", ctx);
	rc = ctl_agent(c, req, &rep);
	if (rc)
		return rc;
	rc = hex_to_bytes(jstr(rep, "kcv"), (uint8_t *)h->kcv, EBS_HDR_KCV_LEN);
	if (rc)
		return ctl_err(c, -EPROTO, "the agent returned no key check value");
	return 0;
}

static int wrap_new_dek(struct ctl *c, struct ebs_header *h, const char *key_arn)
{
	_cleanup_free_ uint8_t *blob = NULL;
	_cleanup_free_ char *arn = NULL;
	struct ebs_kms_context kc;
	struct kms_client *k;
	struct kms_error err;
	size_t blob_len = 0;
	int rc;

	rc = ctl_kms(c, &k);
	if (rc)
		return rc;
	memset(&err, 0, sizeof(err));
	rc = kms_generate_data_key_without_plaintext(k, key_arn, ebs_header_kms_context(h, &kc),
						     EBS_HDR_KEY_BYTES, &blob, &blob_len, &arn, &err);
	if (rc)
		return ctl_err_kms(c, rc, &err, "GenerateDataKeyWithoutPlaintext");
	if (blob_len == 0 || blob_len > EBS_HDR_WRAPPED_MAX)
		return ctl_err(c, -EPROTO, "KMS returned a %zu-byte wrapped key; the header holds 1..%d",
			       blob_len, EBS_HDR_WRAPPED_MAX);
	memcpy(h->wrapped_dek, blob, blob_len);
	h->wrapped_len = blob_len;
	snprintf(h->kms_key_arn, sizeof(h->kms_key_arn), "%s", arn ? arn : key_arn);
	return 0;
}

static uint64_t device_size(int fd, unsigned int *lbs)
{
	uint64_t size = 0;
	int ss = 512;

	if (ioctl(fd, BLKGETSIZE64, &size))
		size = 0;
	if (!ioctl(fd, BLKSSZGET, &ss) && ss > 0)
		*lbs = (unsigned int)ss;
	return size;
}

struct json_object *volume_describe(struct json_object *rec, struct json_object *att)
{
	struct json_object *o = json_object_get(rec), *a = NULL;
	const char *vol = jstr(rec, "volume_id");

	if (att && vol && json_object_object_get_ex(att, vol, &a)) {
		json_object_object_add(o, "state", json_object_new_string("in-use"));
		json_object_object_add(o, "device", json_object_new_string(jstr(a, "device") ?: ""));
		json_object_object_add(o, "attachment_name", json_object_new_string(jstr(a, "name") ?: ""));
	} else {
		json_object_object_add(o, "state", json_object_new_string(att ? "available" : "unknown"));
	}
	return o;
}

/* The device for a new volume, opened exclusively, with its size and logical block size. */
static int open_device(struct ctl *c, const char *device, uint64_t *size, uint64_t *dev_size,
		       unsigned int *lbs, int *fd)
{
	*fd = open(device, O_RDWR | O_EXCL | O_CLOEXEC);
	if (*fd < 0) {
		int rc = -errno;

		return ctl_err(c, rc, "cannot open %s exclusively: %s", device, strerror(-rc));
	}
	*dev_size = device_size(*fd, lbs);
	if (*dev_size <= EBS_HDR_DEFAULT_DATA_OFFSET * 512ull)
		return ctl_err(c, -ENOSPC, "%s is too small (%llu bytes; the header alone takes 1 MiB)",
			       device, (unsigned long long)*dev_size);
	if (!*size)
		*size = (*dev_size - EBS_HDR_DEFAULT_DATA_OFFSET * 512ull) & ~4095ull;
	return 0;
}

/* The new volume's header: its geometry, a lineage, and for an encrypted one its wrapped DEK. */
static int new_header(struct ctl *c, const struct vol_spec *sp, const char *vol, uint64_t size,
		      unsigned int sector, struct ebs_header *h, char lineage_hex[33])
{
	char arn[EBS_HDR_ARN_MAX + 1];
	int rc;

	ebs_header_init(h, vol, size / 512, sector, sp->encrypted);
	h->created = (uint64_t)time(NULL);
	h->seqno = 1;
	if (RAND_bytes(h->lineage, sizeof(h->lineage)) != 1)
		return ctl_err(c, -EIO, "no randomness for the lineage id");
	ebs_hex(h->lineage, sizeof(h->lineage), lineage_hex);
	if (!sp->encrypted)
		return 0;
	rc = ctl_resolve_key(c, sp->key, KEY_MANAGED_ON_FIRST_USE, arn, sizeof(arn));
	if (rc)
		return rc;
	ebs_header_ctx_set(h, EBS_CTX_VOLUME_ID, vol);
	ebs_header_ctx_set(h, EBS_CTX_LINEAGE, lineage_hex);
	rc = wrap_new_dek(c, h, arn);
	if (rc)
		return rc;
	return agent_kcv(c, h);
}

/*
 * A new volume: backing file or device, header (for an encrypted volume a
 * fresh DEK, wrapped by KMS, KCV from the agent), and its record, not yet
 * saved: the caller fills it if needed, then commits or aborts.
 */
int volume_new(struct ctl *c, const struct vol_spec *sp, struct vol_new *nv)
{
	_cleanup_free_ struct ebs_header *h = NULL;
	_cleanup_close_ int fd = -1;
	char lineage_hex[33], tbuf[32];
	unsigned int lbs = 512, sector = sp->sector;
	uint64_t size = sp->size, dev_size = 0;
	int rc;

	memset(nv, 0, sizeof(*nv));
	if (sp->device && (rc = open_device(c, sp->device, &size, &dev_size, &lbs, &fd)))
		return rc;
	if (sp->device && (rc = device_refuse_existing(c, fd, sp->device, sp->force)))
		return rc;
	if (!size || size % 512)
		return ctl_err(c, -EINVAL, "the size must be a positive multiple of 512 bytes");
	if (!sector)
		sector = (size % 4096 == 0 && lbs <= 4096) ? 4096 : lbs;
	if ((sector != 512 && sector != 1024 && sector != 2048 && sector != 4096) || sector < lbs ||
	    size % sector)
		return ctl_err(c, -EINVAL, "sector size %u does not fit (device logical block %u bytes, "
			       "size %llu bytes)", sector, lbs, (unsigned long long)size);
	if (sp->device && dev_size < EBS_HDR_DEFAULT_DATA_OFFSET * 512ull + size)
		return ctl_err(c, -ENOSPC, "%s holds %llu bytes; a %llu-byte volume needs %llu", sp->device,
			       (unsigned long long)dev_size, (unsigned long long)size,
			       (unsigned long long)(EBS_HDR_DEFAULT_DATA_OFFSET * 512ull + size));
	h = calloc(1, sizeof(*h));
	if (!h || random_hex_id("vol", nv->vol, sizeof(nv->vol)))
		return ctl_err(c, -ENOMEM, "out of memory or randomness");
	rc = new_header(c, sp, nv->vol, size, sector, h, lineage_hex);
	if (rc)
		return rc;
	if (sp->device) {
		/* The record names the device as it will be found after a reboot. */
		if (device_stable_path(fd, nv->path, sizeof(nv->path)))
			snprintf(nv->path, sizeof(nv->path), "%s", sp->device);
	} else {
		state_path(c, nv->path, "store/%s.img", nv->vol);
		fd = open(nv->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			return ctl_err(c, rc, "cannot create %s: %s", nv->path, strerror(-rc));
		}
		nv->created_file = 1;
		if (ftruncate(fd, (off_t)(h->data_offset * 512 + size))) {
			rc = -errno;
			volume_new_abort(nv);
			return ctl_err(c, rc, "cannot size %s: %s", nv->path, strerror(-rc));
		}
	}
	rc = ebs_header_write(fd, h);
	if (rc) {
		rc = ctl_err(c, rc, "cannot write the volume header to %s: %s", nv->path, strerror(-rc));
		volume_new_abort(nv);
		return rc;
	}
	nv->rec = json_object_new_object();
	format_time(h->created, tbuf, sizeof(tbuf));
	json_object_object_add(nv->rec, "volume_id", json_object_new_string(nv->vol));
	json_object_object_add(nv->rec, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(nv->rec, "encrypted", json_object_new_boolean(sp->encrypted));
	json_object_object_add(nv->rec, "kms_key_id",
			       sp->encrypted ? json_object_new_string(h->kms_key_arn) : NULL);
	json_object_object_add(nv->rec, "data_encryption_key_id", json_object_new_string(lineage_hex));
	json_object_object_add(nv->rec, "snapshot_id",
			       sp->snapshot_id ? json_object_new_string(sp->snapshot_id) : NULL);
	json_object_object_add(nv->rec, "create_time", json_object_new_string(tbuf));
	json_object_object_add(nv->rec, "sector_size", json_object_new_int((int)sector));
	json_object_object_add(nv->rec, "backing", json_object_new_string(nv->path));
	json_object_object_add(nv->rec, "backing_type", json_object_new_string(sp->device ? "device" : "file"));
	return 0;
}

int volume_new_commit(struct ctl *c, struct vol_new *nv)
{
	int rc = state_save_volume(c, nv->rec);

	if (rc) {
		volume_new_abort(nv);
		return ctl_err(c, rc, "cannot save the volume record: %s", strerror(-rc));
	}
	nv->created_file = 0;
	return 0;
}

void volume_new_print(struct ctl *c, const struct vol_new *nv)
{
	if (c->json) {
		_cleanup_json_ struct json_object *out = volume_describe(nv->rec, NULL);

		json_object_object_add(out, "state", json_object_new_string("available"));
		print_json(out);
	} else {
		printf("%s\n", nv->vol);
	}
}

void volume_new_done(struct vol_new *nv)
{
	json_object_put(nv->rec);
	nv->rec = NULL;
}

void volume_new_abort(struct vol_new *nv)
{
	if (nv->created_file)
		unlink(nv->path);
	nv->created_file = 0;
	volume_new_done(nv);
}

int volume_header_read(const char *path, struct ebs_header *h, struct ebs_header_read_info *info)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return ebs_header_read(fd, h, info);
}

int volume_header_check(struct ctl *c, const char *path, struct ebs_header *h)
{
	struct ebs_header_read_info info;
	int rc = volume_header_read(path, h, &info);

	if (rc == -ENOENT || rc == -EACCES)
		return ctl_err(c, rc, "cannot open %s: %s", path, strerror(-rc));
	if (rc)
		return ctl_err(c, rc, "no valid header on %s: primary copy: %s; backup copy: %s", path,
			       info.primary_why, info.backup_why);
	return 0;
}
