// SPDX-License-Identifier: GPL-2.0
/*
 * Before a device becomes a volume: what it holds already, and the name
 * it keeps across reboots.
 *
 * Like mkfs and cryptsetup luksFormat, `volume create --device` refuses a
 * device on which libblkid finds any signature (a filesystem, a partition
 * table, LUKS, a RAID member, swap, ...) or on which an ebscrypt header
 * (either copy) already lies, and names what it found; --force overrides.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <blkid/blkid.h>

#include "ctl.h"
#include "header.h"
#include "strbuf.h"

static void add_value(blkid_probe pr, const char *name, const char *label, struct strbuf *sb)
{
	const char *v;

	if (!blkid_probe_lookup_value(pr, name, &v, NULL) && *v)
		sb_addf(sb, "%s%s \"%.64s\"", sb->buf[sb->len - 1] == '(' ? "" : ", ", label, v);
}

/*
 * Every signature libblkid knows, listed into sb; with wipe, each is erased
 * as well (its magic bytes, as wipefs does), so that no old filesystem or
 * backup GPT at the end of the device outlives the new volume. The count,
 * or -errno.
 */
static int blkid_signatures(int fd, struct strbuf *sb, int wipe)
{
	blkid_probe pr = blkid_new_probe();
	int n = 0, rc;

	if (!pr)
		return -ENOMEM;
	if (blkid_probe_set_device(pr, fd, 0, 0)) {
		blkid_free_probe(pr);
		return -EIO;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_LABEL |
					       BLKID_SUBLKS_UUID | BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
	blkid_probe_enable_partitions(pr, 1);
	/* FORCE_GPT: a GPT without its protective MBR, or only its backup, counts too. */
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);
	/* Like wipefs: one signature per step, each hidden once seen, so all are found. */
	while ((rc = blkid_do_probe(pr)) == 0) {
		const char *type = NULL, *usage = NULL, *off = NULL;

		if (!blkid_probe_lookup_value(pr, "TYPE", &type, NULL)) {
			blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
			blkid_probe_lookup_value(pr, "SBMAGIC_OFFSET", &off, NULL);
			sb_addf(sb, "%s%s (%s", n ? "; " : "", type, usage ? usage : "unknown use");
			add_value(pr, "LABEL", "label", sb);
			add_value(pr, "UUID", "UUID", sb);
		} else if (!blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL)) {
			blkid_probe_lookup_value(pr, "PTMAGIC_OFFSET", &off, NULL);
			sb_addf(sb, "%sa %s partition table (", n ? "; " : "", type);
			add_value(pr, "PTUUID", "UUID", sb);
		} else {
			continue;
		}
		sb_addf(sb, "%sat offset %s)", sb->len && sb->buf[sb->len - 1] == '(' ? "" : ", ",
			  off ? off : "?");
		n++;
		if (wipe) {
			if (blkid_do_wipe(pr, 0)) {
				rc = errno ? -errno : -EIO;
				break;
			}
		} else if (n >= 8) {
			break;
		} else {
			/* Hidden from the next step (in memory: nothing is written). */
			blkid_probe_hide_range(pr, off ? strtoull(off, NULL, 0) : 0, 1);
		}
	}
	blkid_free_probe(pr);
	if (wipe && rc < -1)
		return rc;
	return rc < 0 && !n ? -EIO : n;
}

int device_refuse_existing(struct ctl *c, int fd, const char *device, int force)
{
	struct ebs_header_read_info info;
	struct ebs_header *h = calloc(1, sizeof(*h));
	struct strbuf sb;
	int n, rc, ebs;

	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	sb_init(&sb);
	rc = ebs_header_read(fd, h, &info);
	/* Magic in either copy counts, even where the rest does not parse. */
	ebs = rc == 0 || (info.primary_rc != -EMEDIUMTYPE && info.primary_rc != -ENODATA) ||
	      (info.backup_rc != -EMEDIUMTYPE && info.backup_rc != -ENODATA);
	if (!rc)
		sb_addf(&sb, "an ebscrypt volume header (volume %s)", h->volume_id);
	else if (ebs)
		sb_addf(&sb, "an ebscrypt volume header (damaged: %s)",
			  info.primary_rc != -EMEDIUMTYPE ? info.primary_why : info.backup_why);
	free(h);
	n = blkid_signatures(fd, &sb, 0);
	if (n < 0) {
		sb_free(&sb);
		return ctl_err(c, n, "cannot probe %s for existing data: %s", device, strerror(-n));
	}
	if (!n && !ebs) {
		sb_free(&sb);
		return 0;
	}
	if (force) {
		struct strbuf wiped;

		ctl_warn(c, "%s held %s: destroyed (--force)", device, sb.buf ? sb.buf : "");
		sb_free(&sb);
		/* Again until none is left: a backup GPT shows once the primary is gone. */
		for (int pass = 0; pass < 4; pass++) {
			sb_init(&wiped);
			n = blkid_signatures(fd, &wiped, 1);
			sb_free(&wiped);
			if (n <= 0)
				break;
		}
		if (n < 0)
			return ctl_err(c, n, "cannot erase the old signatures on %s: %s", device, strerror(-n));
		return 0;
	}
	rc = ctl_err(c, -EEXIST, "%s holds existing data: %s. Refusing to overwrite it; --force destroys it",
		     device, sb.buf ? sb.buf : "");
	sb_free(&sb);
	return rc;
}

/* The /dev/disk/by-id name of the device fd is open on, if udev made one. */
int device_stable_path(int fd, char *out, size_t len)
{
	static const char dir[] = "/dev/disk/by-id";
	char best[PATH_MAX] = "";
	struct stat want, st;
	struct dirent *e;
	DIR *d;

	if (fstat(fd, &want) || !S_ISBLK(want.st_mode))
		return -ENOTBLK;
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		char p[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
			continue;
		if (stat(p, &st) || !S_ISBLK(st.st_mode) || st.st_rdev != want.st_rdev)
			continue;
		/* Several names may fit (wwn-, nvme-, ata-): take the first in sort order. */
		if (!best[0] || strcmp(p, best) < 0)
			snprintf(best, sizeof(best), "%s", p);
	}
	closedir(d);
	if (!best[0])
		return -ENOENT;
	if (strlen(best) >= len)
		return -ENAMETOOLONG;
	memcpy(out, best, strlen(best) + 1);
	return 0;
}
