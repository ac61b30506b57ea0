/* SPDX-License-Identifier: GPL-2.0 */
/* Loop devices for file-backed volumes. 0 or -errno. */
#ifndef EBSCRYPT_LOOPDEV_H
#define EBSCRYPT_LOOPDEV_H

#include <stddef.h>

#define EBS_LOOP_READ_ONLY 0x1u
#define EBS_LOOP_AUTOCLEAR 0x2u  /* the device goes with its last user (a mapping, or *loop_fd) */
/* Attaches file_fd to a free loop device (block_size 0: 512); *loop_fd is an open fd on it. */
int loop_attach(int file_fd, unsigned int flags, unsigned int block_size,
		char *dev, size_t dev_len, int *loop_fd);
/* The loop device already backed by file, if any (-ENODEV when none). */
int loop_find(const char *file, char *dev, size_t dev_len);

#endif
