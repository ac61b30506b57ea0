// SPDX-License-Identifier: GPL-2.0
/* Volume records and the devices behind them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "header.h"

int volume_backing_path(struct json_object *rec, char *out, size_t len)
{
	const char *p = jstr(rec, "backing");

	if (!p || p[0] != '/')
		return -EINVAL;
	snprintf(out, len, "%s", p);
	return 0;
}

int resolve_device(struct ctl *c, const char *arg, char *path, size_t len)
{
	struct json_object *rec;
	int rc;

	if (!ebs_id_valid(arg, "vol")) {
		snprintf(path, len, "%s", arg);
		return 0;
	}
	rc = state_load_volume(c, arg, &rec);
	if (rc)
		return ctl_fail("no volume %s in %s", arg, c->state_dir);
	rc = volume_backing_path(rec, path, len);
	json_object_put(rec);
	return rc ? ctl_fail("volume record %s has no backing path", arg) : 0;
}
