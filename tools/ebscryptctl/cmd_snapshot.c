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

int cmd_snapshot_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cow-size", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char path[4096], uuid[64], snap[32];
	uint64_t cow_bytes = 0;
	const char *vol;
	struct json_object *rec;
	int o, rc, lock_fd;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (parse_size(optarg, &cow_bytes) || cow_bytes < 4096)
				return ctl_fail("--cow-size: \"%s\" is not a size of at least 4K", optarg);
			break;
		case 'j': c->json = 1; break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || !ebs_id_valid(argv[optind], "vol"))
		return ctl_fail("usage: ebscryptctl snapshot create VOL [--cow-size SIZE] [--json]");
	vol = argv[optind];
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (state_load_volume(c, vol, &rec))
		return ctl_fail("no volume %s in %s", vol, c->state_dir);
	rc = volume_backing_path(rec, path, sizeof(path));
	json_object_put(rec);
	if (rc)
		return ctl_fail("volume record %s has no backing path", vol);
	dm_setup();
	/*
	 * Held until exit, from before the repair to after the switch back:
	 * waits only for an attach or detach repairing this volume.
	 */
	lock_fd = capture_lock(c, vol, 1);
	if (lock_fd < 0)
		return ctl_fail("cannot take the capture lock of %s in %s/locks: %s", vol, c->state_dir,
				strerror(-lock_fd));
	if (repair_locked(vol))
		return 1;
	repair_others(c, vol);
	snprintf(uuid, sizeof(uuid), "EBSCRYPT-%s", vol);
	rc = snapshot_take(c, path, dm_find_uuid(uuid, NULL, 0) ? NULL : vol, NULL, cow_bytes, snap,
			   sizeof(snap));
	close(lock_fd);
	if (!rc && !c->json)
		printf("%s\n", snap);
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
	char default_key[512], snap[32];
	struct vol_spec sp = { 0 };
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
		default: return 2;
		}
	}
	if (optind != argc - 1)
		return ctl_fail("usage: ebscryptctl snapshot copy SNAP [--encrypted] [--kms-key-id KEY]");
	if (no_enc && (want_enc || key))
		return ctl_fail("--no-encryption contradicts --encrypted/--kms-key-id");
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (state_load_settings(c, &ebd, default_key, sizeof(default_key)))
		return ctl_fail("cannot read %s/config.json", c->state_dir);
	if (no_enc && ebd)
		return ctl_fail("encrypt-by-default is on, so every copy is encrypted: --no-encryption is refused");
	/* A copy goes through a scratch volume that is never recorded, then is snapshotted. */
	if (restore_into(c, argv[optind], &sp, want_enc || key || ebd, no_enc,
			 key ? key : default_key, !!key, &nv))
		return 1;
	rc = snapshot_take(c, nv.path, NULL, argv[optind], 0, snap, sizeof(snap));
	volume_new_abort(&nv);
	if (!rc && !c->json)
		printf("%s\n", snap);
	return rc;
}

static void list_partials(struct ctl *c)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;

	state_path(c, dir, sizeof(dir), "snapshots");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".partial-", 9))
			ctl_warn("%s/%s was left by an interrupted snapshot and is not a snapshot: "
				 "remove it with `rm -r %s/%s`", dir, de->d_name, dir, de->d_name);
	closedir(d);
}

int cmd_snapshot_list(struct ctl *c, int argc, char **argv)
{
	struct json_object *arr = json_object_new_array(), *o;
	struct dirent **names;
	char dir[4096];
	int n, i;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		c->json = 1;
	else if (argc != 1)
		return ctl_fail("usage: ebscryptctl snapshot list [--json]");
	list_partials(c);
	dm_setup();
	capture_list_stale();
	state_path(c, dir, sizeof(dir), "snapshots");
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		struct json_object *meta;
		char img[4096];

		if (ebs_id_valid(names[i]->d_name, "snap") &&
		    !snapshot_load_meta(c, names[i]->d_name, &meta, img, sizeof(img)))
			json_object_array_add(arr, meta);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	if (c->json) {
		o = json_object_new_object();
		json_object_object_add(o, "snapshots", arr);
		print_json(o);
		json_object_put(o);
		return 0;
	}
	for (i = 0; i < (int)json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		printf("%-23s %-22s %10.1f MiB  %-9s  %s\n", jstr(o, "snapshot_id"), jstr(o, "volume_id"),
		       jint(o, "size") / 1048576.0, jbool(o, "encrypted") ? "encrypted" : "plain",
		       jstr(o, "kms_key_id") ?: "-");
	}
	json_object_put(arr);
	return 0;
}

int cmd_snapshot_describe(struct ctl *c, int argc, char **argv)
{
	struct json_object *meta;
	const char *snap = NULL;
	char img[4096];
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (!snap)
			snap = argv[i];
		else
			return ctl_fail("unexpected argument \"%s\"", argv[i]);
	}
	if (!snap)
		return ctl_fail("usage: ebscryptctl snapshot describe SNAP [--json]");
	if (snapshot_load_meta(c, snap, &meta, img, sizeof(img)))
		return 1;
	if (c->json) {
		print_json(meta);
	} else {
		json_object_object_foreach(meta, k, v)
			printf("%-24s %s\n", k, v ? json_object_get_string(v) : "-");
	}
	json_object_put(meta);
	return 0;
}

int cmd_snapshot_delete(struct ctl *c, int argc, char **argv)
{
	struct json_object *meta;
	char img[4096], p[4096], dir[4096];

	if (argc != 2)
		return ctl_fail("usage: ebscryptctl snapshot delete SNAP");
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (snapshot_load_meta(c, argv[1], &meta, img, sizeof(img)))
		return 1;
	json_object_put(meta);
	state_path(c, p, sizeof(p), "snapshots/%s/meta.json", argv[1]);
	state_path(c, dir, sizeof(dir), "snapshots/%s", argv[1]);
	/* meta.json first: without it the directory is no longer a snapshot. */
	if (unlink(p) || (unlink(img) && errno != ENOENT) || rmdir(dir))
		return ctl_fail("cannot delete %s: %m", dir);
	printf("deleted %s\n", argv[1]);
	return 0;
}
