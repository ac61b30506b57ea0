// SPDX-License-Identifier: GPL-2.0
/*
 * A volume by its id: the header is the truth, the catalog a cache. The
 * catalog's record is used when the header at its backing path still names
 * the volume; otherwise every block device this host sees is read (the
 * devices of shared storage such as NBD or iSCSI included) and the one whose
 * header holds the id becomes the record, saved back as the cache.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "dmmap.h"
#include "header.h"

/* Our own mappings (the base below an attached volume holds its header too) are not where a volume lives. */
static int ours(const char *name)
{
	char p[PATH_MAX], uuid[160] = "";
	FILE *f;

	snprintf(p, sizeof(p), "/sys/class/block/%s/dm/uuid", name);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (!fgets(uuid, sizeof(uuid), f))
		uuid[0] = '\0';
	fclose(f);
	return !strncmp(uuid, DM_UUID_VOLUME, strlen(DM_UUID_VOLUME)) ||
	       !strncmp(uuid, DM_UUID_BASE, strlen(DM_UUID_BASE)) ||
	       !strncmp(uuid, DM_UUID_CAPTURE, strlen(DM_UUID_CAPTURE));
}

static int has_media(const char *name)
{
	char p[PATH_MAX];
	unsigned long long sectors = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/sys/class/block/%s/size", name);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &sectors) != 1)
		sectors = 0;
	fclose(f);
	/* Less than the header area cannot be a volume. */
	return sectors > EBS_HDR_DEFAULT_DATA_OFFSET;
}

int volume_scan(struct ctl *c, const char *vol, char *path, size_t len, struct ebs_header *h)
{
	struct ebs_header_read_info info;
	struct dirent *de;
	char dev[PATH_MAX];
	int found = 0;
	DIR *d;

	(void)c;
	d = opendir("/sys/class/block");
	if (!d)
		return -errno;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strncmp(de->d_name, "ram", 3) || !has_media(de->d_name) ||
		    ours(de->d_name))
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
		if (volume_header_read(dev, h, &info))
			continue;
		if (!strcmp(h->volume_id, vol)) {
			snprintf(path, len, "%s", dev);
			found = 1;
		}
	}
	closedir(d);
	return found ? 0 : -ENOENT;
}

/* The record a header gives: what describe and list show, where it was found. */
static struct json_object *record_from_header(const struct ebs_header *h, const char *path)
{
	struct json_object *rec = json_object_new_object();
	char lineage[2 * EBS_HDR_LINEAGE_LEN + 1], t[32];

	ebs_hex(h->lineage, sizeof(h->lineage), lineage);
	format_time(h->created, t, sizeof(t));
	json_object_object_add(rec, "volume_id", json_object_new_string(h->volume_id));
	json_object_object_add(rec, "size", json_object_new_int64((int64_t)(h->data_sectors * 512)));
	json_object_object_add(rec, "encrypted", json_object_new_boolean(ebs_header_encrypted(h)));
	json_object_object_add(rec, "kms_key_id",
			       ebs_header_encrypted(h) ? json_object_new_string(h->kms_key_arn) : NULL);
	json_object_object_add(rec, "data_encryption_key_id", json_object_new_string(lineage));
	json_object_object_add(rec, "snapshot_id", NULL);
	json_object_object_add(rec, "create_time", json_object_new_string(t));
	json_object_object_add(rec, "sector_size", json_object_new_int((int)h->sector_size));
	json_object_object_add(rec, "backing", json_object_new_string(path));
	json_object_object_add(rec, "backing_type", json_object_new_string("device"));
	return rec;
}

int volume_find(struct ctl *c, const char *vol, struct json_object **rec)
{
	_cleanup_free_ struct ebs_header *h = calloc(1, sizeof(*h));
	struct ebs_header_read_info info;
	char path[PATH_MAX];
	int rc;

	*rec = NULL;
	if (!ebs_id_valid(vol, "vol"))
		return ctl_err(c, -EINVAL, "\"%s\" is not a volume id (vol-<17 hex>)", vol);
	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	if (!state_load_volume(c, vol, rec)) {
		/*
		 * A file in the store is the store's own: trusted as it is. So is
		 * a device name that is not there now (a by-id link udev has not
		 * made yet, or not in this mount namespace): scanning would
		 * replace the stable name recorded at create with a kernel one.
		 */
		if (strcmp(jstr(*rec, "backing_type") ?: "", "device") ||
		    (!volume_backing_path(*rec, path, sizeof(path)) &&
		     ((access(path, F_OK) && errno == ENOENT) ||
		      (!volume_header_read(path, h, &info) && !strcmp(h->volume_id, vol)))))
			return 0;
		json_object_put(*rec);
		*rec = NULL;
	}
	rc = volume_scan(c, vol, path, sizeof(path), h);
	if (rc)
		return ctl_err(c, -ENOENT, "no volume %s: not in %s, and no block device on this host "
			       "holds its header", vol, c->state_dir);
	*rec = record_from_header(h, path);
	/* Only a cache: a host that cannot write it still attaches. */
	if (state_save_volume(c, *rec))
		ctl_warn(c, "found %s on %s, but cannot record it in %s", vol, path, c->state_dir);
	return 0;
}
