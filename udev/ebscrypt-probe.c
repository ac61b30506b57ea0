// SPDX-License-Identifier: GPL-2.0
/*
 * ebscrypt-probe DEVICE: says, in udev's KEY=value form, whether DEVICE
 * starts with an ebscrypt volume header, and which volume it holds. Run by
 * the udev rule (IMPORT{program}) for every block device, so that a volume
 * on any disk, partition, LV, NVMe namespace or network disk gets
 * ID_FS_TYPE=ebscrypt and a /dev/disk/by-ebscrypt/VOLUME-ID link.
 *
 * Exit status: 0 with no output when DEVICE is not an ebscrypt volume (so
 * udev imports nothing), 0 with the keys when it is, 1 when DEVICE cannot be
 * read, 2 on a usage error. A header whose magic is there but whose copies
 * are both invalid is still reported as ebscrypt (ID_EBSCRYPT_HEADER=invalid),
 * so that nothing takes the device for an empty one; its id is not trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "header.h"
#include "paths.h"

/* The copy had the magic: it is an ebscrypt header, valid or not. */
static int had_magic(int rc)
{
	return rc == -EPROTONOSUPPORT || rc == -EBADMSG || rc == -EINVAL;
}

/* What the header codec answers about the bytes, as opposed to a failed read. */
static int about_the_bytes(int rc)
{
	return rc == -ENODATA || rc == -EMEDIUMTYPE || had_magic(rc);
}

int main(int argc, char **argv)
{
	struct ebs_header_read_info info;
	struct ebs_header h;
	char lineage[2 * EBS_HDR_LINEAGE_LEN + 1];
	int fd, rc;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("ebscrypt-probe %s\n", EBS_VERSION);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: ebscrypt-probe DEVICE\n       ebscrypt-probe --version\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ebscrypt-probe: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rc = ebs_header_read(fd, &h, &info);
	close(fd);
	if (rc && !about_the_bytes(rc)) {
		fprintf(stderr, "ebscrypt-probe: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	if (rc) {
		if (had_magic(info.primary_rc) || had_magic(info.backup_rc))
			printf("ID_FS_TYPE=ebscrypt\nID_FS_USAGE=crypto\nID_EBSCRYPT_HEADER=invalid\n");
		return 0;
	}
	/* decode checked the id's form; check again, it becomes a path. */
	if (!ebs_id_valid(h.volume_id, "vol") && !ebs_id_valid(h.volume_id, "snap")) {
		printf("ID_FS_TYPE=ebscrypt\nID_FS_USAGE=crypto\nID_EBSCRYPT_HEADER=invalid\n");
		return 0;
	}
	ebs_hex(h.lineage, sizeof(h.lineage), lineage);
	printf("ID_FS_TYPE=ebscrypt\n"
	       "ID_FS_USAGE=crypto\n"
	       "ID_FS_VERSION=%u\n"
	       "ID_EBSCRYPT_HEADER=%s\n"
	       "ID_EBSCRYPT_VOLUME_ID=%s\n"
	       "ID_EBSCRYPT_LINEAGE=%s\n"
	       "ID_EBSCRYPT_ENCRYPTED=%d\n",
	       h.version, info.used_backup ? "backup" : "primary", h.volume_id, lineage,
	       ebs_header_encrypted(&h));
	return 0;
}
