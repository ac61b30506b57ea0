// SPDX-License-Identifier: GPL-2.0
/*
 * Attach: header -> KMS Decrypt -> key check value -> logon key -> dm table
 * -> key invalidated, DEK wiped. The plaintext DEK lives in one locked page
 * from the Decrypt until the table is loaded, and nowhere else in userspace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/fs.h>
#include <openssl/rand.h>

#include "agent.h"
#include "base64.h"
#include "cleanup.h"
#include "header.h"
#include "log.h"
#include "secmem.h"

static int valid_dm_name(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 100 || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("-_.+", s[i])))
			return 0;
	return 1;
}

/* Opens the volume's backing file or block device and reads its header. */
int agent_open_volume(const struct agent *a, const char *path, uid_t peer, enum agent_path_kind kind,
		      const char *volume_id, struct ebs_header *h, int *fd_out, struct stat *st,
		      enum dm_access access, struct json_object *rep)
{
	struct ebs_header_read_info info;
	uint64_t size = 0, need;
	int fd, rc;

	rc = agent_open_volume_path(a, path, peer, kind, access == DM_READ_ONLY ? O_RDONLY : O_RDWR, &fd, st, rep);
	if (rc)
		return rc;
	if (S_ISREG(st->st_mode))
		size = st->st_size;
	else if (ioctl(fd, BLKGETSIZE64, &size))
		size = 0;
	rc = ebs_header_read(fd, h, &info);
	if (rc) {
		if (rc == -EMEDIUMTYPE)
			reply_fail(rep, "NotEbscrypt", "%s is not an ebscrypt volume (no header magic in either copy)", path);
		else if (rc == -ENODATA)
			reply_fail(rep, "Truncated", "%s is truncated: %s", path, info.backup_why);
		else
			reply_fail(rep, "HeaderInvalid",
				   "no valid header on %s: primary copy: %s; backup copy: %s", path,
				   info.primary_why, info.backup_why);
		close(fd);
		return rc;
	}
	if (info.used_backup)
		reply_warn(rep, "%s: primary header copy not used (%s); attached from the backup copy. "
			   "Rewrite it with `ebscryptctl header rewrap` or restore the device", path,
			   info.primary_why);
	if (volume_id && strcmp(volume_id, h->volume_id)) {
		reply_fail(rep, "WrongVolume", "%s holds volume %s, not %s", path, h->volume_id, volume_id);
		close(fd);
		return -EINVAL;
	}
	need = (h->data_offset + h->data_sectors) * 512;
	if (size < need) {
		reply_fail(rep, "Truncated", "%s is truncated: the header describes %llu bytes, the device has %llu",
			   path, (unsigned long long)need, (unsigned long long)size);
		close(fd);
		return -ENOSPC;
	}
	*fd_out = fd;
	return 0;
}

/* The device number the table names: the block device itself, or a new loop device. */
static int backing_device(int fd, const struct stat *st, enum dm_access access, unsigned int bs, dev_t *dev,
			  int *loop_fd, struct json_object *rep)
{
	char loopdev[64];
	struct stat lst;
	int rc;

	*loop_fd = -1;
	if (S_ISBLK(st->st_mode)) {
		*dev = st->st_rdev;
		return 0;
	}
	rc = loop_attach(fd, EBS_LOOP_AUTOCLEAR | (access == DM_READ_ONLY ? EBS_LOOP_READ_ONLY : 0), bs, loopdev,
			 sizeof(loopdev), loop_fd);
	if (rc) {
		reply_fail(rep, "LoopError", "cannot attach the volume file to a loop device: %s", strerror(-rc));
		return rc;
	}
	if (fstat(*loop_fd, &lst)) {
		rc = -errno;
		close(*loop_fd);
		*loop_fd = -1;
		return rc;
	}
	*dev = lst.st_rdev;
	return 0;
}

/*
 * A volume's stack is mapping -> base (linear over the whole header + data
 * range) -> loop device or disk. The base is what a snapshot switches to
 * snapshot-origin and back; the mapping above it is never reloaded, so its
 * key need not be unwrapped again. Fills devno with the base's "maj:min".
 */
static int create_base(const char *name, const char *vol, dev_t dev, const struct ebs_header *h,
		       enum dm_access access, char *devno, size_t devno_len, struct json_object *rep)
{
	char bname[160], buuid[160], params[64];
	int rc;

	snprintf(bname, sizeof(bname), "%s-base", name);
	snprintf(buuid, sizeof(buuid), DM_UUID_BASE "%s", vol);
	snprintf(params, sizeof(params), "%u:%u 0", major(dev), minor(dev));
	rc = dm_create_mapping(bname, buuid, h->data_offset + h->data_sectors, "linear", params, access);
	if (!rc)
		rc = dm_devno_uuid(buuid, devno, devno_len);
	if (rc) {
		dm_remove_uuid(buuid);
		reply_fail(rep, "MapError", "device-mapper refused the base table for %s: %s", vol,
			   strerror(-rc));
	}
	return rc;
}

/* Refuses a base left by something else: it would not be ours to remove. */
static int base_free(const char *name, const char *vol, struct json_object *rep)
{
	char bname[160], buuid[160], existing[160];

	snprintf(bname, sizeof(bname), "%s-base", name);
	snprintf(buuid, sizeof(buuid), DM_UUID_BASE "%s", vol);
	if (!dm_uuid_of(bname, existing, sizeof(existing)) || !dm_find_uuid(buuid, NULL, 0)) {
		reply_fail(rep, "NameInUse", "a device-mapper device named %s (or uuid %s) already exists",
			   bname, buuid);
		return -EEXIST;
	}
	return 0;
}

void op_attach(struct agent *a, struct json_object *req, struct json_object *rep, uid_t peer_uid)
{
	const char *vol = req_str(req, "volume_id"), *path = req_str(req, "path");
	const char *name = req_str(req, "name"), *purpose = req_str(req, "purpose");
	/* A copy source (a snapshot image) is mapped read-only under its own uuid. */
	int copy = purpose && !strcmp(purpose, "copy-source");
	struct json_object *ro;
	/* ebscrypttab's "ro": the whole stack read-only, so nothing can write through. */
	int read_only = copy || (json_object_object_get_ex(req, "read_only", &ro) && json_object_get_boolean(ro));
	enum dm_access access = read_only ? DM_READ_ONLY : DM_READ_WRITE;
	char uuid[160], existing[128], desc[96], params[512], rnd_hex[17];
	struct ebs_header *h = NULL;
	_cleanup_secmem_ uint8_t *dek = NULL;
	uint8_t rnd[8];
	int fd = -1, loop_fd = -1, rc, based = 0;
	char devno[32], buuid[160];
	int32_t key = 0;
	struct stat st;
	dev_t dev;

	if (!vol || !ebs_id_valid(vol, "vol") || !path || path[0] != '/') {
		reply_fail(rep, "InvalidRequest", "attach needs a volume_id (vol-<17 hex>) and an absolute path");
		return;
	}
	if (purpose && !copy) {
		reply_fail(rep, "InvalidRequest", "unknown purpose \"%.32s\"", purpose);
		return;
	}
	if (!name && copy) {
		reply_fail(rep, "InvalidRequest", "a copy source needs a name");
		return;
	}
	if (!name)
		name = vol;
	if (!valid_dm_name(name)) {
		reply_fail(rep, "InvalidRequest", "\"%s\" is not a valid mapping name", name);
		return;
	}
	if (copy)
		snprintf(uuid, sizeof(uuid), DM_UUID_COPY "%s", name);
	else
		snprintf(uuid, sizeof(uuid), DM_UUID_VOLUME "%s", vol);
	if (!dm_find_uuid(uuid, existing, sizeof(existing))) {
		reply_fail(rep, "AlreadyAttached", "volume %s is already attached as /dev/mapper/%s", vol, existing);
		return;
	}
	if (!dm_uuid_of(name, existing, sizeof(existing))) {
		reply_fail(rep, "NameInUse", "a device-mapper device named %s already exists", name);
		return;
	}
	if (!copy && base_free(name, vol, rep))
		return;
	snprintf(buuid, sizeof(buuid), DM_UUID_BASE "%s", vol);
	h = malloc(sizeof(*h));
	if (!h) {
		reply_fail(rep, "NoMemory", "out of memory");
		return;
	}
	if (agent_open_volume(a, path, peer_uid, AGENT_PATH_BLOCK_OR_FILE, vol, h, &fd, &st, access, rep))
		goto out;

	/* After the header (a device that is no volume says so first), before any KMS call. */
	if (agent_preflight(ebs_header_encrypted(h) ? "ebscrypt" : "linear", rep))
		goto out;
	if (ebs_header_encrypted(h)) {
		dek = secmem_alloc(EBS_HDR_KEY_BYTES);
		if (!dek) {
			reply_fail(rep, "NoMemory", "cannot allocate locked memory for the key: %m");
			goto out;
		}
		if (agent_unwrap(a, h, dek, rep))
			goto out;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			reply_fail(rep, "Internal", "no randomness for the key description");
			goto out;
		}
		ebs_hex(rnd, sizeof(rnd), rnd_hex);
		snprintf(desc, sizeof(desc), "ebscrypt:%s:%s", vol, rnd_hex);
		rc = keys_add_logon(a->keyring, desc, dek, EBS_HDR_KEY_BYTES, &key);
		/* From here on the kernel holds the only copy this attach needs. */
		secmem_free(TAKE_PTR(dek));
		if (rc) {
			reply_fail(rep, "KeyringError", "cannot add the volume key to the agent keyring: %s",
				   strerror(-rc));
			goto out;
		}
	}
	if (backing_device(fd, &st, access, h->sector_size, &dev, &loop_fd, rep))
		goto out;
	/* A read-only copy source is never snapshotted: it needs no base. */
	if (copy)
		snprintf(devno, sizeof(devno), "%u:%u", major(dev), minor(dev));
	else if (create_base(name, vol, dev, h, access, devno, sizeof(devno), rep))
		goto out;
	based = !copy;
	if (ebs_header_encrypted(h))
		snprintf(params, sizeof(params), "%s %llu :%u:logon:%s 1 sector_size:%u",
			 devno, (unsigned long long)h->data_offset,
			 EBS_HDR_KEY_BYTES, desc, h->sector_size);
	else
		snprintf(params, sizeof(params), "%s %llu", devno, (unsigned long long)h->data_offset);
	rc = dm_create_mapping(name, uuid, h->data_sectors,
			       ebs_header_encrypted(h) ? "ebscrypt" : "linear", params, access);
	if (rc) {
		reply_fail(rep, "MapError", "device-mapper refused the %s table for %s: %s",
			   ebs_header_encrypted(h) ? "ebscrypt" : "linear", vol, strerror(-rc));
		goto out;
	}
	based = 0;
	ebs_info("attached %s from %s as /dev/mapper/%s", vol, path, name);
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	{
		char devpath[160];

		snprintf(devpath, sizeof(devpath), "/dev/mapper/%s", name);
		json_object_object_add(rep, "device", json_object_new_string(devpath));
	}
	json_object_object_add(rep, "name", json_object_new_string(name));
out:
	if (based)
		dm_remove_uuid(buuid);
	keys_drop(key);
	/* The mapping holds the loop device now; on failure this frees it. */
	if (loop_fd >= 0)
		close(loop_fd);
	if (fd >= 0)
		close(fd);
	free(h);
}

/* A name or a volume id, resolved to the mapping's uuid. */
static int resolve(const char *what, char *uuid, size_t uuid_len, char *name, size_t name_len)
{
	int rc;

	if (ebs_id_valid(what, "vol")) {
		snprintf(uuid, uuid_len, DM_UUID_VOLUME "%s", what);
		return dm_find_uuid(uuid, name, name_len);
	}
	rc = dm_uuid_of(what, uuid, uuid_len);
	if (rc)
		return rc;
	if (strncmp(uuid, DM_UUID_VOLUME, strlen(DM_UUID_VOLUME)))
		return -EPERM;
	snprintf(name, name_len, "%s", what);
	return 0;
}

/*
 * Below a detached volume: the capture mapping of a snapshot that was killed
 * midway (harmless to drop: the snapshot never completed), then the base.
 * Volumes attached before bases existed have neither.
 */
static void remove_lower(const char *vol, struct json_object *rep)
{
	char u[160];
	int rc;

	snprintf(u, sizeof(u), DM_UUID_CAPTURE "%s", vol);
	if (!dm_find_uuid(u, NULL, 0) && (rc = dm_remove_uuid(u)))
		reply_warn(rep, "cannot remove the snapshot capture mapping %s: %s", u, strerror(-rc));
	snprintf(u, sizeof(u), DM_UUID_BASE "%s", vol);
	if (!dm_find_uuid(u, NULL, 0) && (rc = dm_remove_uuid(u)))
		reply_warn(rep, "cannot remove the base mapping %s: %s (remove it with `dmsetup remove "
			   "--uuid %s`)", u, strerror(-rc), u);
}

void op_detach(struct agent *a, struct json_object *req, struct json_object *rep)
{
	const char *what = req_str(req, "volume");
	char uuid[160], name[128];
	int rc;

	if (!what) {
		reply_fail(rep, "InvalidRequest", "detach needs a volume id or mapping name");
		return;
	}
	rc = resolve(what, uuid, sizeof(uuid), name, sizeof(name));
	if (rc == -EPERM) {
		reply_fail(rep, "NotEbscrypt", "%s is not an ebscrypt mapping", what);
		return;
	}
	if (rc) {
		reply_fail(rep, "NotAttached", "%s is not attached", what);
		return;
	}
	rc = dm_remove_uuid(uuid);
	if (rc) {
		reply_fail(rep, rc == -EBUSY ? "Busy" : "MapError",
			   "cannot detach %s (/dev/mapper/%s): %s%s", what, name, strerror(-rc),
			   rc == -EBUSY ? " (unmount it first)" : "");
		return;
	}
	remove_lower(uuid + strlen(DM_UUID_VOLUME), rep);
	ebs_info("detached %s (/dev/mapper/%s)", uuid + strlen(DM_UUID_VOLUME), name);
	/* The key is gone from the kernel; now the authorization goes too. */
	rc = agent_retire_grants(a, uuid + strlen(DM_UUID_VOLUME), rep);
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	if (rc >= 0)
		json_object_object_add(rep, "grants_retired", json_object_new_int(rc));
	json_object_object_add(rep, "volume_id", json_object_new_string(uuid + strlen(DM_UUID_VOLUME)));
}

static void list_one(const char *name, const char *uuid, void *arg)
{
	struct json_object *arr = arg, *o = json_object_new_object();
	char dev[160];

	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	json_object_object_add(o, "volume_id", json_object_new_string(uuid + strlen(DM_UUID_VOLUME)));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "device", json_object_new_string(dev));
	json_object_array_add(arr, o);
}

void op_list(struct agent *a, struct json_object *req, struct json_object *rep)
{
	struct json_object *arr = json_object_new_array();
	int rc = dm_each(DM_UUID_VOLUME, list_one, arr);

	if (rc) {
		json_object_put(arr);
		reply_fail(rep, "MapError", "cannot list device-mapper devices: %s", strerror(-rc));
		return;
	}
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	json_object_object_add(rep, "attachments", arr);
}

/*
 * Key check value for a freshly generated wrapped DEK: ebscryptctl creates
 * volumes with GenerateDataKeyWithoutPlaintext and never sees the DEK, so the
 * host (which decrypts it at every attach anyway) computes the KCV.
 */
void op_kcv(struct agent *a, struct json_object *req, struct json_object *rep)
{
	struct ebs_header_ctx_pair *pairs = calloc(EBS_HDR_CTX_MAX, sizeof(*pairs));
	const char *arn = req_str(req, "kms_key_arn"), *wrapped = req_str(req, "wrapped");
	_cleanup_secmem_ uint8_t *dek = NULL;
	uint8_t *blob = malloc(EBS_HDR_WRAPPED_MAX), k[EBS_HDR_KCV_LEN];
	char kcv[2 * EBS_HDR_KCV_LEN + 1];
	struct json_object *ctx;
	size_t blob_len = 0, n = 0;

	if (!pairs || !blob) {
		reply_fail(rep, "NoMemory", "out of memory");
		goto out;
	}
	if (!arn || !wrapped || strlen(arn) > EBS_HDR_ARN_MAX ||
	    b64_decode(wrapped, strlen(wrapped), blob, EBS_HDR_WRAPPED_MAX, &blob_len) ||
	    !json_object_object_get_ex(req, "context", &ctx) ||
	    !json_object_is_type(ctx, json_type_object) ||
	    json_object_object_length(ctx) > EBS_HDR_CTX_MAX) {
		reply_fail(rep, "InvalidRequest", "kcv needs kms_key_arn, wrapped (base64) and context");
		goto out;
	}
	json_object_object_foreach(ctx, key, val) {
		if (!json_object_is_type(val, json_type_string) || strlen(key) > EBS_HDR_CTX_KEY_MAX ||
		    json_object_get_string_len(val) > EBS_HDR_CTX_VALUE_MAX) {
			reply_fail(rep, "InvalidRequest", "context entries must be short strings");
			goto out;
		}
		snprintf(pairs[n].key, sizeof(pairs[n].key), "%s", key);
		snprintf(pairs[n].value, sizeof(pairs[n].value), "%s", json_object_get_string(val));
		n++;
	}
	dek = secmem_alloc(EBS_HDR_KEY_BYTES);
	if (!dek) {
		reply_fail(rep, "NoMemory", "cannot allocate locked memory for the key");
		goto out;
	}
	if (agent_decrypt(a, arn, blob, blob_len, pairs, n, dek, rep))
		goto out;
	if (ebs_header_kcv(dek, EBS_HDR_KEY_BYTES, k)) {
		reply_fail(rep, "Internal", "HMAC failed");
		goto out;
	}
	ebs_hex(k, sizeof(k), kcv);
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	json_object_object_add(rep, "kcv", json_object_new_string(kcv));
out:
	free(blob);
	free(pairs);
}
