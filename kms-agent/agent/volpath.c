// SPDX-License-Identifier: GPL-2.0
/*
 * Which paths a client may name as a volume. The agent runs as root and its
 * clients need not be, so a path is judged before anything is opened for
 * I/O: first by its text (absolute, no "." or ".." components, under /dev/
 * for a block device or under a configured volume file directory), which
 * keeps the rest of the filesystem out of reach, existence included; then
 * by what it is, through an O_PATH|O_NOFOLLOW handle, which reaches no
 * driver: a watchdog or a tape is never opened. Only a block device owned
 * by root, or a regular file owned by root or by the client inside a volume
 * file directory, is then opened, through that same handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define AGENT_DEFAULT_FILE_DIRS EBS_LOCALSTATEDIR "/lib/ebscrypt"

const char *agent_volume_file_dirs(const struct agent *a)
{
	const char *v = ebs_conf_get(&a->conf, "volume_file_dirs");

	return v ? v : AGENT_DEFAULT_FILE_DIRS;
}

static int clean_absolute(const char *path)
{
	const char *p = path;

	if (path[0] != '/' || strlen(path) >= PATH_MAX)
		return 0;
	while (*p) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p = end;
	}
	return 1;
}

/* Is path strictly inside dir (both as given, dir without a trailing slash)? */
static int inside(const char *path, const char *dir, size_t dlen)
{
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	return dlen && strncmp(path, dir, dlen) == 0 && path[dlen] == '/' && path[dlen + 1];
}

/* Is path inside one of the directories of the list (spaces or colons between)? */
static int in_file_dirs(const char *list, const char *path, int resolve)
{
	const char *p = list;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ':' || *p == '\t')
			p++;
		n = strcspn(p, " :\t");
		if (n && p[0] == '/') {
			if (!resolve && inside(path, p, n))
				return 1;
			if (resolve) {
				char dir[PATH_MAX], *real;

				if (n < sizeof(dir)) {
					memcpy(dir, p, n);
					dir[n] = '\0';
					real = realpath(dir, NULL);
					if (real && inside(path, real, strlen(real))) {
						free(real);
						return 1;
					}
					free(real);
				}
			}
		}
		p += n;
	}
	return 0;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFLNK: return "a symbolic link";
	case S_IFCHR: return "a character device";
	case S_IFIFO: return "a fifo";
	case S_IFSOCK: return "a socket";
	case S_IFDIR: return "a directory";
	case S_IFREG: return "a regular file";
	case S_IFBLK: return "a block device";
	default: return "not a file or device";
	}
}

int agent_open_volume_path(const struct agent *a, const char *path, uid_t peer, enum agent_path_kind kind,
			   int flags, int *fd_out, struct stat *st, struct json_object *rep)
{
	const char *dirs = agent_volume_file_dirs(a);
	int under_dev, under_dirs, h, fd, rc;
	char proc[64], real[PATH_MAX];
	ssize_t n;

	*fd_out = -1;
	if (!clean_absolute(path)) {
		reply_fail(rep, "InvalidRequest", "\"%.200s\" is not a clean absolute path (no \".\" or \"..\")",
			   path);
		return -EINVAL;
	}
	under_dev = !strncmp(path, "/dev/", 5);
	under_dirs = kind == AGENT_PATH_BLOCK_OR_FILE && in_file_dirs(dirs, path, 0);
	if (!under_dev && !under_dirs) {
		if (kind == AGENT_PATH_BLOCK_OR_FILE)
			reply_fail(rep, "PathRefused", "%s is refused: a volume is a block device under /dev/ or a "
				   "file under the agent's volume_file_dirs (%s)", path, dirs);
		else
			reply_fail(rep, "PathRefused", "%s is refused: this needs a block device under /dev/", path);
		return -EPERM;
	}
	/* O_PATH opens no driver and needs no read or write permission. */
	h = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (h < 0) {
		rc = -errno;
		reply_fail(rep, "DeviceError", "cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(h, st)) {
		rc = -errno;
		reply_fail(rep, "DeviceError", "cannot stat %s: %s", path, strerror(-rc));
		close(h);
		return rc;
	}
	rc = -EPERM;
	if (S_ISBLK(st->st_mode)) {
		if (st->st_uid != 0) {
			reply_fail(rep, "PathRefused", "%s is refused: a block device owned by uid %u, not root", path,
				   (unsigned int)st->st_uid);
			goto refused;
		}
	} else if (S_ISREG(st->st_mode) && kind == AGENT_PATH_BLOCK_OR_FILE) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", h);
		n = readlink(proc, real, sizeof(real) - 1);
		if (n <= 0) {
			reply_fail(rep, "DeviceError", "cannot resolve %s: %m", path);
			goto refused;
		}
		real[n] = '\0';
		/* A directory symlink inside the tree must not lead out of it. */
		if (!in_file_dirs(dirs, real, 1)) {
			reply_fail(rep, "PathRefused", "%s is refused: it resolves to %s, outside the agent's "
				   "volume_file_dirs (%s)", path, real, dirs);
			goto refused;
		}
		if (st->st_uid != 0 && st->st_uid != peer) {
			reply_fail(rep, "PathRefused", "%s is refused: it belongs to uid %u, neither root nor the "
				   "caller (uid %u)", path, (unsigned int)st->st_uid, (unsigned int)peer);
			goto refused;
		}
	} else {
		if (S_ISREG(st->st_mode))
			reply_fail(rep, "PathRefused", "%s is refused: a regular file, and this needs a block "
				   "device (attach the file to a loop device first)", path);
		else
			reply_fail(rep, "PathRefused", "%s is refused: it is %s, not a %s", path,
				   type_name(st->st_mode),
				   kind == AGENT_PATH_BLOCK_OR_FILE ? "block device or regular file" : "block device");
		goto refused;
	}
	/* The very inode judged above, not whatever the path names by now. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", h);
	fd = open(proc, flags | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		reply_fail(rep, "DeviceError", "cannot open %s: %s", path, strerror(-rc));
		goto refused;
	}
	close(h);
	*fd_out = fd;
	return 0;
refused:
	close(h);
	return rc;
}
