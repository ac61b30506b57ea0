// SPDX-License-Identifier: GPL-2.0
/*
 * volume create|list|describe|delete|attach|detach|load-key|table.
 * No command here, or anywhere in ebscryptctl, turns an encrypted volume
 * into plaintext (S11): attach gives a decrypted view through the kernel,
 * and copying files out of it is the only way out (docs/volumes.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "dmmap.h"
#include "header.h"

static void print_human(struct json_object *o)
{
	const char *dev = jstr(o, "device");

	printf("%-22s %10.1f MiB  %-9s  %-9s  %s%s%s\n", jstr(o, "volume_id"),
	       jint(o, "size") / 1048576.0, jstr(o, "state"),
	       jbool(o, "encrypted") ? "encrypted" : "plain",
	       jstr(o, "kms_key_id") ?: "-", dev ? "  " : "", dev ?: "");
}

int cmd_volume_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "encrypted", no_argument, NULL, 'e' },
		{ "no-encryption", no_argument, NULL, 'n' },
		{ "kms-key-id", required_argument, NULL, 'k' },
		{ "device", required_argument, NULL, 'd' },
		{ "sector-size", required_argument, NULL, 'z' },
		{ "snapshot-id", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *size_arg = NULL, *snap = NULL;
	int want_enc = 0, no_enc = 0, ebd, o;
	char default_key[512];
	struct vol_spec sp = { 0 };
	struct vol_new nv;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': size_arg = optarg; break;
		case 'e': want_enc = 1; break;
		case 'n': no_enc = 1; break;
		case 'k': sp.key = optarg; break;
		case 'd': sp.device = optarg; break;
		case 'z': sp.sector = (unsigned int)atoi(optarg); break;
		case 'S': snap = optarg; break;
		case 'j': c->json = 1; break;
		default: return 2;
		}
	}
	if (optind != argc)
		return ctl_fail("unexpected argument \"%s\"", argv[optind]);
	if (size_arg && parse_size(size_arg, &sp.size))
		return ctl_fail("--size %s: give GiB, or a number with a K/M/G/T suffix", size_arg);
	if (!size_arg && !sp.device && !snap)
		return ctl_fail("--size is required (or --device, to use the whole device)");
	if (no_enc && (want_enc || sp.key))
		return ctl_fail("--no-encryption contradicts --encrypted/--kms-key-id");
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s: %m", c->state_dir);
	if (state_load_settings(c, &ebd, default_key, sizeof(default_key)))
		return ctl_fail("cannot read %s/config.json", c->state_dir);
	if (no_enc && ebd)
		return ctl_fail("encrypt-by-default is on, so every new volume is encrypted: --no-encryption "
				"is refused (an administrator can turn it off with "
				"`ebscryptctl config set encrypt-by-default off`)");
	if (snap)
		return volume_restore(c, snap, &sp, want_enc || sp.key || ebd, no_enc,
				      sp.key ? sp.key : default_key, !!sp.key);
	sp.encrypted = want_enc || sp.key || ebd;
	if (!sp.key)
		sp.key = default_key;
	if (volume_new(c, &sp, &nv))
		return 1;
	return volume_new_commit(c, &nv);
}

static int json_flag(struct ctl *c, int argc, char **argv, const char **pos)
{
	int i;

	*pos = NULL;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (argv[i][0] == '-')
			return ctl_fail("unknown option %s", argv[i]);
		else if (!*pos)
			*pos = argv[i];
		else
			return ctl_fail("unexpected argument \"%s\"", argv[i]);
	}
	return 0;
}

/* Backing files without a record: what an interrupted create or restore leaves. */
static void warn_orphans(struct ctl *c)
{
	char dir[4096], rec[4096], vol[64];
	struct dirent *de;
	DIR *d;

	state_path(c, dir, sizeof(dir), "store");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 5 || l >= sizeof(vol) || strcmp(de->d_name + l - 4, ".img"))
			continue;
		memcpy(vol, de->d_name, l - 4);
		vol[l - 4] = '\0';
		if (!ebs_id_valid(vol, "vol"))
			continue;
		state_path(c, rec, sizeof(rec), "volumes/%s.json", vol);
		if (access(rec, F_OK))
			ctl_warn("%s/%s has no volume record: left by an interrupted create or restore; "
				 "remove it with `rm %s/%s`", dir, de->d_name, dir, de->d_name);
	}
	closedir(d);
}

int cmd_volume_list(struct ctl *c, int argc, char **argv)
{
	struct json_object *att, *arr = json_object_new_array();
	const char *extra;
	char dir[4096];
	struct dirent **names;
	int n, i;

	if (json_flag(c, argc, argv, &extra))
		return 1;
	if (extra)
		return ctl_fail("unexpected argument \"%s\"", extra);
	warn_orphans(c);
	att = ctl_attachments(c);
	if (!att)
		ctl_warn("ebscrypt-agent not reachable at %s: attachment state unknown", c->agent_socket);
	state_path(c, dir, sizeof(dir), "volumes");
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]->d_name);
		struct json_object *rec;
		char p[4096];

		if (l > 5 && !strcmp(names[i]->d_name + l - 5, ".json") &&
		    !state_path(c, p, sizeof(p), "volumes/%s", names[i]->d_name) &&
		    !state_read_json(p, &rec)) {
			json_object_array_add(arr, volume_describe(rec, att));
			json_object_put(rec);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	if (c->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "volumes", arr);
		print_json(o);
		json_object_put(o);
	} else {
		for (i = 0; i < (int)json_object_array_length(arr); i++)
			print_human(json_object_array_get_idx(arr, i));
		json_object_put(arr);
	}
	json_object_put(att);
	return 0;
}

int cmd_volume_describe(struct ctl *c, int argc, char **argv)
{
	struct json_object *rec, *att, *o;
	const char *vol;

	if (json_flag(c, argc, argv, &vol))
		return 1;
	if (!vol)
		return ctl_fail("which volume? (vol-...)");
	if (state_load_volume(c, vol, &rec))
		return ctl_fail("no volume %s in %s", vol, c->state_dir);
	att = ctl_attachments(c);
	if (!att)
		ctl_warn("ebscrypt-agent not reachable at %s: attachment state unknown", c->agent_socket);
	o = volume_describe(rec, att);
	if (c->json) {
		print_json(o);
	} else {
		json_object_object_foreach(o, k, v)
			printf("%-24s %s\n", k, v ? json_object_get_string(v) : "-");
	}
	json_object_put(o);
	json_object_put(rec);
	json_object_put(att);
	return 0;
}

static int is_attached(struct ctl *c, const char *vol, int *attached)
{
	struct json_object *att = ctl_attachments(c), *a;

	if (!att)
		return ctl_fail("ebscrypt-agent not reachable at %s: cannot tell whether %s is attached",
				c->agent_socket, vol);
	*attached = json_object_object_get_ex(att, vol, &a);
	json_object_put(att);
	return 0;
}

int cmd_volume_delete(struct ctl *c, int argc, char **argv)
{
	struct json_object *rec;
	char path[4096], rp[4096];
	const char *vol;
	int attached = 0, rc;

	if (json_flag(c, argc, argv, &vol))
		return 1;
	if (!vol)
		return ctl_fail("which volume? (vol-...)");
	if (state_lock(c))
		return ctl_fail("cannot lock the state directory %s", c->state_dir);
	if (state_load_volume(c, vol, &rec))
		return ctl_fail("no volume %s in %s", vol, c->state_dir);
	if ((rc = is_attached(c, vol, &attached)))
		goto out;
	if (attached) {
		rc = ctl_fail("%s is attached: detach it first", vol);
		goto out;
	}
	volume_backing_path(rec, path, sizeof(path));
	if (!strcmp(jstr(rec, "backing_type") ?: "", "device")) {
		/* Both copies gone means the wrapped key is gone: the data is unreadable. */
		static const uint8_t zero[EBS_HDR_SIZE];
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || pwrite(fd, zero, sizeof(zero), EBS_HDR_PRIMARY_OFFSET) != sizeof(zero) ||
		    pwrite(fd, zero, sizeof(zero), EBS_HDR_BACKUP_OFFSET) != sizeof(zero) || fsync(fd)) {
			rc = ctl_fail("cannot erase the headers on %s: %m", path);
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	} else if (unlink(path) && errno != ENOENT) {
		rc = ctl_fail("cannot remove %s: %m", path);
		goto out;
	}
	state_path(c, rp, sizeof(rp), "volumes/%s.json", vol);
	if (unlink(rp)) {
		rc = ctl_fail("cannot remove %s: %m", rp);
		goto out;
	}
	printf("deleted %s\n", vol);
	rc = 0;
out:
	json_object_put(rec);
	return rc;
}

int cmd_volume_attach(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object *rec, *req, *rep;
	const char *name = NULL, *vol;
	char path[4096];
	int o, rc, lock_fd;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n')
			name = optarg;
		else if (o == 'j')
			c->json = 1;
		else
			return 2;
	}
	if (optind != argc - 1)
		return ctl_fail("usage: ebscryptctl volume attach VOL [--name NAME]");
	vol = argv[optind];
	if (state_load_volume(c, vol, &rec))
		return ctl_fail("no volume %s in %s", vol, c->state_dir);
	volume_backing_path(rec, path, sizeof(path));
	json_object_put(rec);
	/* Held through the attach: no snapshot starts on a half-built stack. */
	if (repair_volume(c, vol, &lock_fd)) {
		if (lock_fd >= 0)
			close(lock_fd);
		return 1;
	}
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("attach"));
	json_object_object_add(req, "volume_id", json_object_new_string(vol));
	json_object_object_add(req, "path", json_object_new_string(path));
	if (name)
		json_object_object_add(req, "name", json_object_new_string(name));
	rc = ctl_agent(c, req, &rep);
	json_object_put(req);
	if (lock_fd >= 0)
		close(lock_fd);
	if (rc)
		return rc;
	if (c->json) {
		json_object_object_del(rep, "ok");
		json_object_object_add(rep, "volume_id", json_object_new_string(vol));
		print_json(rep);
	} else {
		printf("%s\n", jstr(rep, "device"));
	}
	json_object_put(rep);
	return 0;
}

/* The volume id behind a detach argument (an id, or the name of its mapping). */
static int detach_volume_id(const char *what, char *vol, size_t len)
{
	char uuid[160];

	if (ebs_id_valid(what, "vol")) {
		snprintf(vol, len, "%s", what);
		return 0;
	}
	dm_setup();
	if (dm_uuid_of(what, uuid, sizeof(uuid)) || strncmp(uuid, "EBSCRYPT-", 9) ||
	    !ebs_id_valid(uuid + 9, "vol"))
		return -ENODEV;
	snprintf(vol, len, "%s", uuid + 9);
	return 0;
}

int cmd_volume_detach(struct ctl *c, int argc, char **argv)
{
	struct json_object *req, *rep;
	const char *what;
	char vol[160];
	int rc, lock_fd = -1;

	if (json_flag(c, argc, argv, &what))
		return 1;
	if (!what)
		return ctl_fail("which volume? (vol-... or its mapping name)");
	/*
	 * A stack a killed snapshot left suspended would hang or fail the
	 * detach: repaired first, under the capture lock, which also keeps a
	 * running snapshot's stack from being taken apart under it.
	 */
	if (!detach_volume_id(what, vol, sizeof(vol)) && repair_volume(c, vol, &lock_fd)) {
		if (lock_fd >= 0)
			close(lock_fd);
		return 1;
	}
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("detach"));
	json_object_object_add(req, "volume", json_object_new_string(what));
	rc = ctl_agent(c, req, &rep);
	json_object_put(req);
	if (lock_fd >= 0)
		close(lock_fd);
	if (!rc) {
		printf("detached %s\n", jstr(rep, "volume_id") ?: what);
		json_object_put(rep);
	}
	return rc;
}
