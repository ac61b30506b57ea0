// SPDX-License-Identifier: GPL-2.0
/*
 * volume load-key / volume table: the manual path to a mapping, for
 * administrators who drive dmsetup themselves. The key still only ever
 * exists in the kernel: the agent adds it as a logon key (write-only from
 * userspace) to a keyring the caller possesses.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <json-c/json.h>
#include <keyutils.h>

#include "ctl.h"
#include "header.h"
#include "loopdev.h"

enum loop_need { LOOP_FIND, LOOP_FIND_OR_ATTACH };

/* A block device for the volume: itself, or the loop device over its file. */
static int volume_blockdev(struct ctl *c, const char *vol, enum loop_need need, char *dev, size_t len,
			   int *created)
{
	_cleanup_close_ int fd = -1;
	char path[PATH_MAX];
	struct stat st;
	int lfd, rc;

	*created = 0;
	if ((rc = resolve_device(c, vol, path, sizeof(path))))
		return rc;
	if (stat(path, &st)) {
		rc = -errno;
		return ctl_err(c, rc, "%s: %s", path, strerror(-rc));
	}
	if (S_ISBLK(st.st_mode)) {
		if (strlen(path) >= len)
			return ctl_err(c, -ENAMETOOLONG, "device path %s is too long", path);
		memcpy(dev, path, strlen(path) + 1);
		return 0;
	}
	if (!loop_find(path, dev, len))
		return 0;
	if (need == LOOP_FIND)
		return ctl_err(c, -ENODEV, "%s is not on a loop device: run `ebscryptctl volume load-key "
			       "%s` first", vol, vol);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return ctl_err(c, rc, "%s: %s", path, strerror(-rc));
	}
	/* No autoclear: the loop device must outlive this command. */
	rc = loop_attach(fd, 0, 0, dev, len, &lfd);
	if (rc)
		return ctl_err(c, rc, "cannot attach %s to a loop device: %s", path, strerror(-rc));
	close(lfd);
	*created = 1;
	return 0;
}

int cmd_volume_load_key(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ struct json_object *req = NULL, *rep = NULL;
	key_serial_t ring;
	long timeout = 300;
	char dev[128];
	int o, rc, created;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 't')
			return ctl_usage(c);
		timeout = strtol(optarg, NULL, 10);
	}
	if (optind != argc - 1 || !ebs_id_valid(argv[optind], "vol"))
		return ctl_err(c, -EINVAL, "usage: ebscryptctl volume load-key VOL [--timeout S]");
	if (timeout < 1 || timeout > 86400)
		return ctl_err(c, -EINVAL, "--timeout must be 1..86400 seconds");
	if ((rc = volume_blockdev(c, argv[optind], LOOP_FIND_OR_ATTACH, dev, sizeof(dev), &created)))
		return rc;
	/* A keyring of our own in the session keyring; the agent (same uid) may add to it. */
	ring = add_key("keyring", "ebscrypt-load", NULL, 0, KEY_SPEC_SESSION_KEYRING);
	if (ring < 0 || keyctl_setperm(ring, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_WRITE | KEY_USR_SEARCH)) {
		rc = -errno;
		return ctl_err(c, rc, "cannot prepare a keyring in the session keyring: %s", strerror(-rc));
	}
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("load-key"));
	json_object_object_add(req, "volume_id", json_object_new_string(argv[optind]));
	json_object_object_add(req, "path", ctl_agent_path(dev));
	json_object_object_add(req, "keyring", json_object_new_int(ring));
	json_object_object_add(req, "timeout", json_object_new_int64(timeout));
	if ((rc = ctl_agent(c, req, &rep)))
		return rc;
	printf("key %s loaded into keyring %d, expires in %ld s\n", jstr(rep, "key_description"), ring, timeout);
	printf("%s\n", jstr(rep, "table"));
	if (created)
		printf("# the volume file is on %s: `losetup -d %s` after `dmsetup remove`\n", dev, dev);
	return 0;
}

int cmd_volume_table(struct ctl *c, int argc, char **argv)
{
	_cleanup_free_ struct ebs_header *h = NULL;
	_cleanup_close_ int fd = -1;
	char dev[128];
	struct stat st;
	int rc, created;

	if (argc != 2 || !ebs_id_valid(argv[1], "vol"))
		return ctl_err(c, -EINVAL, "usage: ebscryptctl volume table VOL");
	if ((rc = volume_blockdev(c, argv[1], LOOP_FIND, dev, sizeof(dev), &created)))
		return rc;
	h = malloc(sizeof(*h));
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (!h || fd < 0 || fstat(fd, &st)) {
		rc = h ? -errno : -ENOMEM;
		return ctl_err(c, rc, "cannot open %s: %s", dev, strerror(-rc));
	}
	rc = ebs_header_read(fd, h, NULL);
	if (rc)
		return ctl_err(c, rc, "no valid header on %s: %s", dev, strerror(-rc));
	if (ebs_header_encrypted(h))
		printf("0 %llu ebscrypt %u:%u %llu :%u:logon:ebscrypt:manual:%s 1 sector_size:%u\n",
		       (unsigned long long)h->data_sectors, major(st.st_rdev), minor(st.st_rdev),
		       (unsigned long long)h->data_offset, EBS_HDR_KEY_BYTES, h->volume_id, h->sector_size);
	else
		printf("0 %llu linear %u:%u %llu\n", (unsigned long long)h->data_sectors,
		       major(st.st_rdev), minor(st.st_rdev), (unsigned long long)h->data_offset);
	return 0;
}
