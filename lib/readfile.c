// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "readfile.h"
#include "secmem.h"

static int check(const struct stat *st, size_t max, unsigned int flags)
{
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if ((flags & EBS_FILE_PRIVATE) && (st->st_mode & 077))
		return -EPERM;
	if ((flags & EBS_FILE_OWNED) && st->st_uid != geteuid())
		return -EPERM;
	if ((unsigned long long)st->st_size > max)
		return -EFBIG;
	return 0;
}

int ebs_file_read(const char *path, size_t max, unsigned int flags, struct ebs_file *f)
{
	size_t cap, got = 0;
	ssize_t n;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	f->secret = !!(flags & EBS_FILE_SECRET);
	fd = open(path, O_RDONLY | O_CLOEXEC | ((flags & EBS_FILE_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &f->st)) {
		rc = -errno;
		goto out;
	}
	rc = check(&f->st, max, flags);
	if (rc)
		goto out;
	/* What fstat said; a file that grows meanwhile is read as it was. */
	cap = (size_t)f->st.st_size + 1;
	f->data = f->secret ? secmem_alloc(cap) : calloc(1, cap);
	if (!f->data) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < cap - 1 && (n = read(fd, f->data + got, cap - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			f->len = got;
			rc = -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	f->data[got] = '\0';
	f->len = got;
	if ((flags & EBS_FILE_TEXT) && memchr(f->data, '\0', got))
		rc = -EBADMSG;
out:
	close(fd);
	if (rc)
		ebs_file_free(f);
	return rc;
}

void ebs_file_free(struct ebs_file *f)
{
	if (!f->data)
		return;
	if (f->secret) {
		secmem_free(f->data);
	} else {
		OPENSSL_cleanse(f->data, f->len);
		free(f->data);
	}
	f->data = NULL;
	f->len = 0;
}
