// SPDX-License-Identifier: GPL-2.0
/*
 * Resize: an attached volume whose header now describes more data (the
 * caller grew the file or device and rewrote the header) gets bigger
 * tables, while whatever is mounted on it stays mounted. The loop device of
 * a file learns the file's new size; the base mapping is reloaded over the
 * whole new range; the encrypted mapping is reloaded at the new length
 * with the key obtained as at attach (a fresh KMS Decrypt, the key check
 * value, a logon key invalidated once the table is live), because the
 * kernel gives no key back and the agent keeps none. Growing only: the
 * header is the caller's, and a smaller one is refused here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <openssl/rand.h>

#include "agent.h"
#include "cleanup.h"
#include "header.h"
#include "log.h"
#include "secmem.h"

/* Tells the loop device under the base (if it is one) that its file grew. */
static int refresh_loop(const char *base_params, uint64_t need_bytes, struct json_object *rep)
{
	unsigned int maj, min;
	char path[300], line[256], uevent[64];
	uint64_t size = 0;
	_cleanup_close_ int fd = -1;
	FILE *f;

	if (sscanf(base_params, "%u:%u", &maj, &min) != 2) {
		reply_fail(rep, "MapError", "unexpected base table \"%.64s\"", base_params);
		return -EINVAL;
	}
	/* Its node by name: /dev/block/ links are udev's, and a host may have no udev. */
	snprintf(uevent, sizeof(uevent), "/sys/dev/block/%u:%u/uevent", maj, min);
	snprintf(path, sizeof(path), "/dev/block/%u:%u", maj, min);
	f = fopen(uevent, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, sizeof(path), "/dev/%s", line + 8);
		}
	if (f)
		fclose(f);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		reply_fail(rep, "DeviceError", "cannot open the backing device %s: %s", path, strerror(errno));
		return -errno;
	}
	/* Not a loop device: a disk that the caller grew; nothing to tell. */
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) && errno != ENOTTY && errno != EINVAL) {
		reply_fail(rep, "LoopError", "cannot update the loop device's size: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(fd, BLKGETSIZE64, &size) || size < need_bytes) {
		reply_fail(rep, "DeviceError", "the backing device holds %llu bytes, the header needs %llu: "
			   "grow it first", (unsigned long long)size, (unsigned long long)need_bytes);
		return -ENOSPC;
	}
	return 0;
}

void op_resize(struct agent *a, struct json_object *req, struct json_object *rep)
{
	const char *vol = req_str(req, "volume_id"), *path = req_str(req, "path");
	char uuid[160], buuid[160], name[128], target[32], bparams[512], params[512], devno[32];
	char desc[96], rnd_hex[17];
	_cleanup_secmem_ uint8_t *dek = NULL;
	_cleanup_free_ struct ebs_header *h = NULL;
	_cleanup_close_ int fd = -1;
	uint64_t cur_sectors = 0, base_sectors = 0;
	int32_t key = 0;
	uint8_t rnd[8];
	struct stat st;
	int rc;

	if (!vol || !ebs_id_valid(vol, "vol") || !path || path[0] != '/') {
		reply_fail(rep, "InvalidRequest", "resize needs a volume_id (vol-<17 hex>) and an absolute path");
		return;
	}
	snprintf(uuid, sizeof(uuid), DM_UUID_VOLUME "%s", vol);
	snprintf(buuid, sizeof(buuid), DM_UUID_BASE "%s", vol);
	if (dm_find_uuid(uuid, name, sizeof(name))) {
		reply_fail(rep, "NotAttached", "volume %s is not attached", vol);
		return;
	}
	if (dm_table_uuid(uuid, target, sizeof(target), params, sizeof(params), &cur_sectors) ||
	    dm_table_uuid(buuid, NULL, 0, bparams, sizeof(bparams), &base_sectors)) {
		reply_fail(rep, "MapError", "cannot read the tables of %s (attached before bases existed? "
			   "detach and attach it first)", vol);
		return;
	}
	h = malloc(sizeof(*h));
	if (!h) {
		reply_fail(rep, "NoMemory", "out of memory");
		return;
	}
	/* The header says the new size; the device need not hold it yet (a loop device's view is old). */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		reply_fail(rep, "DeviceError", "cannot open %s: %s", path, strerror(errno));
		return;
	}
	{
		struct ebs_header_read_info info;

		if (ebs_header_read(fd, h, &info)) {
			reply_fail(rep, "HeaderInvalid", "no valid header on %s: primary copy: %s; backup copy: %s",
				   path, info.primary_why, info.backup_why);
			return;
		}
	}
	if (strcmp(h->volume_id, vol)) {
		reply_fail(rep, "WrongVolume", "%s holds volume %s, not %s", path, h->volume_id, vol);
		return;
	}
	if (h->data_sectors < cur_sectors) {
		reply_fail(rep, "InvalidRequest", "the header of %s describes %llu sectors, fewer than the %llu "
			   "attached: shrinking is refused", vol, (unsigned long long)h->data_sectors,
			   (unsigned long long)cur_sectors);
		return;
	}
	if (refresh_loop(bparams, (h->data_offset + h->data_sectors) * 512, rep))
		return;
	if (ebs_header_encrypted(h)) {
		if (agent_preflight("ebscrypt", rep))
			return;
		dek = secmem_alloc(EBS_HDR_KEY_BYTES);
		if (!dek) {
			reply_fail(rep, "NoMemory", "cannot allocate locked memory for the key");
			return;
		}
		if (agent_unwrap(a, h, dek, rep))
			return;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			reply_fail(rep, "Internal", "no randomness for the key description");
			return;
		}
		ebs_hex(rnd, sizeof(rnd), rnd_hex);
		snprintf(desc, sizeof(desc), "ebscrypt:%s:%s", vol, rnd_hex);
		rc = keys_add_logon(a->keyring, desc, dek, EBS_HDR_KEY_BYTES, &key);
		secmem_free(TAKE_PTR(dek));
		if (rc) {
			reply_fail(rep, "KeyringError", "cannot add the volume key to the agent keyring: %s",
				   strerror(-rc));
			return;
		}
	}
	/* The base first: the mapping above must never be longer than what it sits on. */
	snprintf(devno, sizeof(devno), "%.*s", (int)strcspn(bparams, " "), bparams);
	snprintf(bparams, sizeof(bparams), "%s 0", devno);
	rc = dm_reload_uuid(buuid, h->data_offset + h->data_sectors, "linear", bparams);
	if (!rc)
		rc = dm_suspend_uuid(buuid);
	if (!rc)
		rc = dm_resume_uuid(buuid);
	if (rc) {
		reply_fail(rep, "MapError", "cannot grow the base mapping of %s: %s", vol, strerror(-rc));
		goto out;
	}
	if (dm_devno_uuid(buuid, devno, sizeof(devno))) {
		reply_fail(rep, "MapError", "cannot find the base mapping of %s", vol);
		goto out;
	}
	if (ebs_header_encrypted(h))
		snprintf(params, sizeof(params), "%s %llu :%u:logon:%s 1 sector_size:%u", devno,
			 (unsigned long long)h->data_offset, EBS_HDR_KEY_BYTES, desc, h->sector_size);
	else
		snprintf(params, sizeof(params), "%s %llu", devno, (unsigned long long)h->data_offset);
	/* Suspending flushes in-flight I/O and freezes a mounted filesystem for the swap. */
	rc = dm_reload_uuid(uuid, h->data_sectors, ebs_header_encrypted(h) ? "ebscrypt" : "linear", params);
	if (!rc)
		rc = dm_suspend_uuid(uuid);
	if (!rc)
		rc = dm_resume_uuid(uuid);
	if (rc) {
		/* A suspended volume would hang its users: resume it on its old table. */
		dm_resume_uuid(uuid);
		reply_fail(rep, "MapError", "device-mapper refused the grown table for %s: %s", vol,
			   strerror(-rc));
		goto out;
	}
	ebs_info("resized %s (/dev/mapper/%s) from %llu to %llu sectors", vol, name,
		 (unsigned long long)cur_sectors, (unsigned long long)h->data_sectors);
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	json_object_object_add(rep, "sectors", json_object_new_int64((int64_t)h->data_sectors));
out:
	keys_drop(key);
}
