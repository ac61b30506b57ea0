// SPDX-License-Identifier: GPL-2.0
/*
 * File-backed volumes go through a loop device configured in one
 * LOOP_CONFIGURE call. With autoclear (what attach uses) the loop device disappears by itself
 * when the last opener (the dm mapping) closes it, so a detach (or a failed
 * attach) never leaks a loop device and the agent keeps no loop state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/loop.h>

#include "loopdev.h"

int loop_attach(int file_fd, unsigned int flags, unsigned int block_size,
		char *dev, size_t dev_len, int *loop_fd)
{
	struct loop_config cfg;
	int ctl, n, fd, tries, rc = -EBUSY;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	/* Another process may grab the same free device between the two calls. */
	for (tries = 0; tries < 16; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			rc = -errno;
			break;
		}
		snprintf(dev, dev_len, "/dev/loop%d", n);
		fd = open(dev, ((flags & EBS_LOOP_READ_ONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = file_fd;
		/* The volume's sector size, so a plain (linear) volume shows the same
		 * logical block size as an encrypted one and filesystems move between them. */
		cfg.block_size = block_size;
		cfg.info.lo_flags = ((flags & EBS_LOOP_AUTOCLEAR) ? LO_FLAGS_AUTOCLEAR : 0) |
				    ((flags & EBS_LOOP_READ_ONLY) ? LO_FLAGS_READ_ONLY : 0);
		snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "ebscrypt");
		if (!ioctl(fd, LOOP_CONFIGURE, &cfg)) {
			*loop_fd = fd;
			close(ctl);
			return 0;
		}
		rc = -errno;
		close(fd);
		if (rc != -EBUSY)
			break;
	}
	close(ctl);
	return rc;
}

int loop_find(const char *file, char *dev, size_t dev_len)
{
	char want[4096], p[128], got[4096];
	int i;

	if (!realpath(file, want))
		return -errno;
	for (i = 0; i < 1024; i++) {
		FILE *f;
		size_t n;

		snprintf(p, sizeof(p), "/sys/block/loop%d/loop/backing_file", i);
		f = fopen(p, "re");
		if (!f)
			continue;
		n = fread(got, 1, sizeof(got) - 1, f);
		fclose(f);
		got[n] = '\0';
		if (n && got[n - 1] == '\n')
			got[n - 1] = '\0';
		if (!strcmp(got, want)) {
			snprintf(dev, dev_len, "/dev/loop%d", i);
			return 0;
		}
	}
	return -ENODEV;
}
