// SPDX-License-Identifier: GPL-2.0
/*
 * volume modify VOL --size SIZE: grows a volume, as EBS Elastic Volumes
 * do, also while it is attached and its filesystem mounted. In an order
 * that a crash at any point leaves attachable:
 *   1. the backing grows (a file is extended; a device must already be
 *      big enough: the operator grew the LV, the disk or the LUN);
 *   2. the header is rewritten with the new size (backup copy, fsync,
 *      primary copy, fsync: the newest valid copy wins on read);
 *   3. attached: the agent reloads the tables at the new size, with the
 *      key from a fresh KMS Decrypt, as at attach;
 *   4. the record's size follows.
 * Until the filesystem is grown (resize2fs, xfs_growfs) it simply does not
 * use the new sectors. Shrinking is refused: the data beyond the new end
 * would be lost, and EBS refuses it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/fs.h>

#include "ctl.h"
#include "exitcode.h"
#include "header.h"

static int backing_bytes(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*bytes = (uint64_t)st.st_size;
		return 0;
	}
	return ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
}

int cmd_volume_modify(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ struct json_object *rec = NULL, *att = NULL, *req = NULL, *rep = NULL;
	_cleanup_free_ struct ebs_header *h = NULL;
	_cleanup_close_ int fd = -1;
	const char *size_arg = NULL, *vol;
	struct ebs_header_read_info info;
	uint64_t want, cur, have, need;
	struct json_object *a;
	char path[PATH_MAX];
	int o, rc, attached, is_file;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 's')
			size_arg = optarg;
		else if (o == 'j')
			c->json = 1;
		else
			return ctl_usage(c);
	}
	if (optind != argc - 1 || !size_arg)
		return ctl_status(c, EBS_EXIT_USAGE, ctl_err(c, -EINVAL,
				  "usage: ebscryptctl volume modify VOL --size SIZE"));
	vol = argv[optind];
	if (parse_size(size_arg, &want) || !want)
		return ctl_status(c, EBS_EXIT_USAGE, ctl_err(c, -EINVAL,
				  "--size %s: give GiB, or a number with a K/M/G/T suffix", size_arg));
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s: %s", c->state_dir, strerror(-rc));
	if ((rc = state_load_volume(c, vol, &rec)))
		return ctl_err(c, rc, "no volume %s in %s", vol, c->state_dir);
	volume_backing_path(rec, path, sizeof(path));
	is_file = strcmp(jstr(rec, "backing_type") ?: "file", "device") != 0;
	h = malloc(sizeof(*h));
	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, rc, "cannot open %s: %s", path, strerror(-rc)));
	}
	if ((rc = ebs_header_read(fd, h, &info)))
		return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, rc, "no valid header on %s: primary copy: %s; "
				  "backup copy: %s", path, info.primary_why, info.backup_why));
	if (strcmp(h->volume_id, vol))
		return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, -EINVAL, "%s holds volume %s, not %s", path,
				  h->volume_id, vol));
	cur = h->data_sectors * 512;
	if (want % h->sector_size)
		return ctl_status(c, EBS_EXIT_USAGE, ctl_err(c, -EINVAL, "--size %s is not a multiple of the "
				  "volume's %u-byte sectors", size_arg, h->sector_size));
	if (want < cur)
		return ctl_status(c, EBS_EXIT_USAGE, ctl_err(c, -EINVAL, "%s is %llu bytes: shrinking to %llu "
				  "is refused (the data beyond the new end would be lost); copy the files to a "
				  "smaller volume instead", vol, (unsigned long long)cur,
				  (unsigned long long)want));
	att = ctl_attachments(c);
	if (!att)
		return ctl_status(c, EBS_EXIT_AGENT_DOWN, ctl_err(c, -EHOSTDOWN, "ebscrypt-agent not "
				  "reachable at %s: cannot tell whether %s is attached", c->agent_socket, vol));
	attached = json_object_object_get_ex(att, vol, &a);
	need = h->data_offset * 512 + want;
	if ((rc = backing_bytes(fd, &have)))
		return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, rc, "cannot size %s: %s", path, strerror(-rc)));
	if (have < need) {
		if (!is_file)
			return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, -ENOSPC, "%s holds %llu bytes; %llu are "
					  "needed for %s of data: grow the device first", path,
					  (unsigned long long)have, (unsigned long long)need, size_arg));
		/* Sparse: the new range costs nothing until written. */
		if (ftruncate(fd, (off_t)need) || fsync(fd)) {
			rc = -errno;
			return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, rc, "cannot extend %s: %s", path,
					  strerror(-rc)));
		}
	}
	if (want > cur) {
		h->data_sectors = want / 512;
		h->seqno++;
		if ((rc = ebs_header_write(fd, h)))
			return ctl_status(c, EBS_EXIT_DEVICE, ctl_err(c, rc, "cannot write the new header to %s: "
					  "%s (the volume keeps its old size)", path, strerror(-rc)));
	}
	if (attached) {
		req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string("resize"));
		json_object_object_add(req, "volume_id", json_object_new_string(vol));
		json_object_object_add(req, "path", json_object_new_string(path));
		if ((rc = ctl_agent(c, req, &rep)))
			return rc;
	}
	json_object_object_add(rec, "size", json_object_new_int64((int64_t)want));
	if (state_save_volume(c, rec))
		ctl_warn(c, "%s is now %llu bytes, but its record still says the old size", vol,
			 (unsigned long long)want);
	if (c->json) {
		_cleanup_json_ struct json_object *desc = volume_describe(rec, att);

		print_json(desc);
	} else {
		printf("%s is now %llu bytes%s\n", vol, (unsigned long long)want,
		       attached ? ", attached: grow its filesystem (resize2fs, xfs_growfs)" : "");
	}
	return 0;
}
