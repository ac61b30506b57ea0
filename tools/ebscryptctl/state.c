// SPDX-License-Identifier: GPL-2.0
/*
 * The state directory (layout in docs/volumes.md). Every file is replaced
 * atomically (temp file, fsync, rename, fsync of the directory) so a crash
 * leaves the old or the new version, never half of one; one flock on
 * <state>/lock serialises the commands that change state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "header.h"
#include "readfile.h"

#define STATE_MAX_FILE (1 << 20)

void state_path(const struct ctl *c, char out[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	int n, m;

	/* A path that does not fit is a bug in the caller (see CTL_STATE_DIR_MAX). */
	n = snprintf(out, PATH_MAX, "%s/", c->state_dir);
	if (n < 0 || n >= PATH_MAX)
		abort();
	va_start(ap, fmt);
	m = vsnprintf(out + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || m >= PATH_MAX - n)
		abort();
}

static int ensure_dirs(struct ctl *c)
{
	char p[PATH_MAX];

	if (mkdir(c->state_dir, 0700) && errno != EEXIST)
		return -errno;
	state_path(c, p, "volumes");
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	state_path(c, p, "store");
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int state_lock(struct ctl *c)
{
	char p[PATH_MAX];
	int rc = ensure_dirs(c);

	if (rc)
		return rc;
	state_path(c, p, "lock");
	c->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lock_fd < 0)
		return -errno;
	while (flock(c->lock_fd, LOCK_EX)) {
		if (errno != EINTR) {
			rc = -errno;
			close(c->lock_fd);
			c->lock_fd = -1;
			return rc;
		}
	}
	return 0;
}

void state_unlock(struct ctl *c)
{
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = -1;
}

int state_write_json(const char *path, struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	char tmp[4096], dir[4096], *slash;
	size_t len = strlen(s), done = 0;
	int fd, dfd, rc = 0;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (done < len && rc == 0) {
		n = write(fd, s + done, len - done);
		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			done += n;
	}
	if (!rc && (write(fd, "\n", 1) != 1 || fsync(fd)))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	/* The rename is durable only once the directory is. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int state_read_json(const char *path, struct json_object **obj)
{
	_cleanup_file_ struct ebs_file f = { 0 };
	struct json_tokener *tok;
	int rc;

	*obj = NULL;
	rc = ebs_file_read(path, STATE_MAX_FILE, 0, &f);
	if (rc)
		return rc;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	*obj = json_tokener_parse_ex(tok, f.data, (int)f.len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(*obj, json_type_object)) {
		json_object_put(*obj);
		*obj = NULL;
		rc = -EBADMSG;
	}
	json_tokener_free(tok);
	return rc;
}

int state_load_volume(struct ctl *c, const char *vol, struct json_object **rec)
{
	char p[PATH_MAX];

	if (!ebs_id_valid(vol, "vol"))
		return -EINVAL;
	state_path(c, p, "volumes/%s.json", vol);
	return state_read_json(p, rec);
}

int state_save_volume(struct ctl *c, struct json_object *rec)
{
	const char *vol = jstr(rec, "volume_id");
	char p[PATH_MAX];
	int rc = ensure_dirs(c);

	if (rc)
		return rc;
	if (!vol || !ebs_id_valid(vol, "vol"))
		return -EINVAL;
	state_path(c, p, "volumes/%s.json", vol);
	return state_write_json(p, rec);
}

int state_load_settings(struct ctl *c, int *encrypt_by_default, char *default_key, size_t len)
{
	_cleanup_json_ struct json_object *o = NULL;
	char p[PATH_MAX];
	int rc;

	*encrypt_by_default = 0;
	snprintf(default_key, len, "%s", CTL_DEFAULT_KMS_KEY);
	state_path(c, p, "config.json");
	rc = state_read_json(p, &o);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	*encrypt_by_default = jbool(o, "encrypt_by_default");
	if (jstr(o, "default_kms_key_id"))
		snprintf(default_key, len, "%s", jstr(o, "default_kms_key_id"));
	return 0;
}

int state_save_settings(struct ctl *c, int encrypt_by_default, const char *default_key)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	char p[PATH_MAX];
	int rc = ensure_dirs(c);

	if (rc)
		return rc;
	json_object_object_add(o, "encrypt_by_default", json_object_new_boolean(encrypt_by_default));
	json_object_object_add(o, "default_kms_key_id", json_object_new_string(default_key));
	state_path(c, p, "config.json");
	return state_write_json(p, o);
}
