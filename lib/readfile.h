/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading a small file whole: configuration, credentials, keys, state
 * records. One place bounds the size, checks the file's type, owner and
 * mode as the caller asks, keeps secrets in locked memory, and tells each
 * refusal apart by its -errno, so the caller can word it.
 */
#ifndef EBSCRYPT_READFILE_H
#define EBSCRYPT_READFILE_H

#include <stddef.h>
#include <sys/stat.h>

#define EBS_FILE_NOFOLLOW 0x01u  /* a symbolic link is refused (-ELOOP) */
#define EBS_FILE_PRIVATE  0x02u  /* no permission for group or others (-EPERM) */
#define EBS_FILE_OWNED    0x04u  /* owned by the effective uid (-EPERM) */
#define EBS_FILE_SECRET   0x08u  /* the data lives in locked memory (secmem) */
#define EBS_FILE_TEXT     0x10u  /* a NUL byte is refused (-EBADMSG) */

struct ebs_file {
	char *data;               /* len bytes and a NUL */
	size_t len;
	struct stat st;           /* filled once the file is open, also on failure */
	int secret;
};

/*
 * Reads the regular file path, at most max bytes, checked in this order:
 * open(2)'s own -errno; -EINVAL not a regular file; -EPERM its mode or owner
 * (EBS_FILE_PRIVATE, EBS_FILE_OWNED); -EFBIG more than max bytes; -EIO a
 * failed read; -EBADMSG a NUL byte (EBS_FILE_TEXT). 0 with f->data set.
 */
int ebs_file_read(const char *path, size_t max, unsigned int flags, struct ebs_file *f);
/* Wipes and frees the data; safe on a zeroed or already freed one. */
void ebs_file_free(struct ebs_file *f);
#define _cleanup_file_ __attribute__((cleanup(ebs_file_free)))

#endif
