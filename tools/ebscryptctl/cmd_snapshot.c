// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot create|list|describe|delete|copy. The store is snapshot.c, the
 * capture of a running volume capture.c, restores and copies restore.c.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "capture.h"
#include "ctl.h"
#include "dmmap.h"
#include "header.h"

/* A new snapshot: its id, or with --json its metadata. */
static void print_new_snapshot(struct ctl *c, const char *snap, struct json_object *meta)
{
	if (c->json)
		print_json(meta);
	else
		printf("%s\n", snap);
}

int cmd_snapshot_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cow-size", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ struct json_object *rec = NULL, *meta = NULL;
	_cleanup_close_ int lock_fd = -1;
	char path[PATH_MAX], uuid[64], snap[32];
	uint64_t cow_bytes = 0;
	const char *vol;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (parse_size(optarg, &cow_bytes) || cow_bytes < 4096)
				return ctl_err(c, -EINVAL, "--cow-size: \"%s\" is not a size of at least 4K",
					       optarg);
			break;
		case 'j': c->json = 1; break;
		default: return ctl_usage(c);
		}
	}
	if (optind != argc - 1 || !ebs_id_valid(argv[optind], "vol"))
		return ctl_err(c, -EINVAL, "usage: ebscryptctl snapshot create VOL [--cow-size SIZE] [--json]");
	vol = argv[optind];
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s", c->state_dir);
	if ((rc = state_load_volume(c, vol, &rec)))
		return ctl_err(c, rc, "no volume %s in %s", vol, c->state_dir);
	if ((rc = volume_backing_path(rec, path, sizeof(path))))
		return ctl_err(c, rc, "volume record %s has no backing path", vol);
	dm_setup();
	/*
	 * Held until exit, from before the repair to after the switch back:
	 * waits only for an attach or detach repairing this volume.
	 */
	lock_fd = capture_lock(c, vol, LOCK_WAIT);
	if (lock_fd < 0)
		return ctl_err(c, lock_fd, "cannot take the capture lock of %s in %s/locks: %s", vol,
			       c->state_dir, strerror(-lock_fd));
	if ((rc = repair_locked(c, vol)))
		return rc;
	repair_others(c, vol);
	/* What the repairs did is worth knowing before a long copy. */
	ctl_flush_warnings(c);
	snprintf(uuid, sizeof(uuid), DM_UUID_VOLUME "%s", vol);
	rc = snapshot_take(c, path, dm_find_uuid(uuid, NULL, 0) ? NULL : vol, NULL, cow_bytes, snap,
			   sizeof(snap), &meta);
	if (!rc)
		print_new_snapshot(c, snap, meta);
	return rc;
}

int cmd_snapshot_copy(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "encrypted", no_argument, NULL, 'e' },
		{ "no-encryption", no_argument, NULL, 'n' },
		{ "kms-key-id", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ struct json_object *meta = NULL;
	char default_key[512], snap[32];
	struct vol_spec sp = { 0 };
	struct restore_req rq;
	const char *key = NULL;
	int want_enc = 0, no_enc = 0, ebd, o, rc;
	struct vol_new nv;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'e': want_enc = 1; break;
		case 'n': no_enc = 1; break;
		case 'k': key = optarg; break;
		case 'j': c->json = 1; break;
		default: return ctl_usage(c);
		}
	}
	if (optind != argc - 1)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl snapshot copy SNAP [--encrypted] "
			       "[--kms-key-id KEY]");
	if (no_enc && (want_enc || key))
		return ctl_err(c, -EINVAL, "--no-encryption contradicts --encrypted/--kms-key-id");
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s", c->state_dir);
	if ((rc = state_load_settings(c, &ebd, default_key, sizeof(default_key))))
		return ctl_err(c, rc, "cannot read %s/config.json", c->state_dir);
	if (no_enc && ebd)
		return ctl_err(c, -EPERM, "encrypt-by-default is on, so every copy is encrypted: "
			       "--no-encryption is refused");
	/* A copy goes through a scratch volume that is never recorded, then is snapshotted. */
	rq = (struct restore_req){
		.encrypt = want_enc || key || ebd,
		.refuse_plain = no_enc,
		.key = key ? key : default_key,
		.key_named = !!key,
	};
	rc = restore_into(c, argv[optind], &sp, &rq, &nv);
	if (rc)
		return rc;
	rc = snapshot_take(c, nv.path, NULL, argv[optind], 0, snap, sizeof(snap), &meta);
	volume_new_abort(&nv);
	if (!rc)
		print_new_snapshot(c, snap, meta);
	return rc;
}

static void list_partials(struct ctl *c)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	state_path(c, dir, "snapshots");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".partial-", 9))
			ctl_warn(c, "%s/%s was left by an interrupted snapshot and is not a snapshot: "
				 "remove it with `rm -r %s/%s`", dir, de->d_name, dir, de->d_name);
	closedir(d);
}

static void print_row(struct json_object *o)
{
	printf("%-23s %-22s %10.1f MiB  %-9s  %s\n", jstr(o, "snapshot_id"), jstr(o, "volume_id"),
	       jint(o, "size") / 1048576.0, jbool(o, "encrypted") ? "encrypted" : "plain",
	       jstr(o, "kms_key_id") ?: "-");
}

int cmd_snapshot_list(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *arr = json_object_new_array();
	struct dirent **names;
	char dir[PATH_MAX];
	int n, i;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		c->json = 1;
	else if (argc != 1)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl snapshot list [--json]");
	list_partials(c);
	dm_setup();
	capture_list_stale(c);
	state_path(c, dir, "snapshots");
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		struct json_object *meta;
		char p[PATH_MAX];

		/* A directory that does not hold a snapshot's metadata is not listed. */
		if (ebs_id_valid(names[i]->d_name, "snap")) {
			state_path(c, p, "snapshots/%s/meta.json", names[i]->d_name);
			if (!state_read_json(p, &meta))
				json_object_array_add(arr, meta);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	print_records(c, "snapshots", arr, print_row);
	return 0;
}

int cmd_snapshot_describe(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *meta = NULL;
	const char *snap = NULL;
	char img[PATH_MAX];
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (!snap)
			snap = argv[i];
		else
			return ctl_err(c, -EINVAL, "unexpected argument \"%s\"", argv[i]);
	}
	if (!snap)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl snapshot describe SNAP [--json]");
	if ((rc = snapshot_load_meta(c, snap, &meta, img)))
		return rc;
	if (c->json) {
		print_json(meta);
	} else {
		json_object_object_foreach(meta, k, v)
			printf("%-24s %s\n", k, v ? json_object_get_string(v) : "-");
	}
	return 0;
}

int cmd_snapshot_delete(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *meta = NULL;
	char img[PATH_MAX], p[PATH_MAX], dir[PATH_MAX];
	int rc;

	if (argc != 2)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl snapshot delete SNAP");
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s", c->state_dir);
	if ((rc = snapshot_load_meta(c, argv[1], &meta, img)))
		return rc;
	state_path(c, p, "snapshots/%s/meta.json", argv[1]);
	state_path(c, dir, "snapshots/%s", argv[1]);
	/* meta.json first: without it the directory is no longer a snapshot. */
	if (unlink(p) || (unlink(img) && errno != ENOENT) || rmdir(dir)) {
		rc = -errno;
		return ctl_err(c, rc, "cannot delete %s: %s", dir, strerror(-rc));
	}
	printf("deleted %s\n", argv[1]);
	return 0;
}
