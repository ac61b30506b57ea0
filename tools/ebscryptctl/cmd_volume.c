// SPDX-License-Identifier: GPL-2.0
/*
 * volume create|list|describe|delete|attach|detach|load-key|table.
 * No command here, or anywhere in ebscryptctl, turns an encrypted volume
 * into plaintext: attach gives a decrypted view through the kernel,
 * and copying files out of it is the only way out (docs/volumes.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "exitcode.h"
#include "log.h"
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

static int lock_state(struct ctl *c)
{
	int rc = state_lock(c);

	return rc ? ctl_err(c, rc, "cannot lock the state directory %s: %s", c->state_dir,
			    strerror(-rc)) : 0;
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
		{ "force", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *size_arg = NULL, *snap = NULL;
	int want_enc = 0, no_enc = 0, ebd, o, rc;
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
		case 'F': sp.force = 1; break;
		case 'j': c->json = 1; break;
		default: return ctl_usage(c);
		}
	}
	if (optind != argc)
		return ctl_err(c, -EINVAL, "unexpected argument \"%s\"", argv[optind]);
	if (size_arg && parse_size(size_arg, &sp.size))
		return ctl_err(c, -EINVAL, "--size %s: give GiB, or a number with a K/M/G/T suffix",
			       size_arg);
	if (!size_arg && !sp.device && !snap)
		return ctl_err(c, -EINVAL, "--size is required (or --device, to use the whole device)");
	if (no_enc && (want_enc || sp.key))
		return ctl_err(c, -EINVAL, "--no-encryption contradicts --encrypted/--kms-key-id");
	if ((rc = lock_state(c)))
		return rc;
	if ((rc = state_load_settings(c, &ebd, default_key, sizeof(default_key))))
		return ctl_err(c, rc, "cannot read %s/config.json", c->state_dir);
	if (no_enc && ebd)
		return ctl_err(c, -EPERM, "encrypt-by-default is on, so every new volume is encrypted: "
			       "--no-encryption is refused (an administrator can turn it off with "
			       "`ebscryptctl config set encrypt-by-default off`)");
	if (snap) {
		struct restore_req rq = {
			.encrypt = want_enc || sp.key || ebd,
			.refuse_plain = no_enc,
			.key = sp.key ? sp.key : default_key,
			.key_named = !!sp.key,
		};

		rc = restore_into(c, snap, &sp, &rq, &nv);
	} else {
		sp.encrypted = want_enc || sp.key || ebd;
		if (!sp.key)
			sp.key = default_key;
		rc = volume_new(c, &sp, &nv);
	}
	if (!rc)
		rc = volume_new_commit(c, &nv);
	if (rc)
		return rc;
	volume_new_print(c, &nv);
	volume_new_done(&nv);
	return 0;
}

static int json_flag(struct ctl *c, int argc, char **argv, const char **pos)
{
	int i;

	*pos = NULL;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (argv[i][0] == '-')
			return ctl_err(c, -EINVAL, "unknown option %s", argv[i]);
		else if (!*pos)
			*pos = argv[i];
		else
			return ctl_err(c, -EINVAL, "unexpected argument \"%s\"", argv[i]);
	}
	return 0;
}

/* Backing files without a record: what an interrupted create or restore leaves. */
static void warn_orphans(struct ctl *c)
{
	char dir[PATH_MAX], rec[PATH_MAX], vol[64];
	struct dirent *de;
	DIR *d;

	state_path(c, dir, "store");
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
		state_path(c, rec, "volumes/%s.json", vol);
		if (access(rec, F_OK))
			ctl_warn(c, "%s/%s has no volume record: left by an interrupted create or restore; "
				 "remove it with `rm %s/%s`", dir, de->d_name, dir, de->d_name);
	}
	closedir(d);
}

int cmd_volume_list(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *att = NULL, *arr = json_object_new_array();
	const char *extra;
	char dir[PATH_MAX];
	struct dirent **names;
	int n, i, rc;

	if ((rc = json_flag(c, argc, argv, &extra)))
		return rc;
	if (extra)
		return ctl_err(c, -EINVAL, "unexpected argument \"%s\"", extra);
	warn_orphans(c);
	att = ctl_attachments(c);
	if (!att)
		ctl_warn(c, "ebscrypt-agent not reachable at %s: attachment state unknown", c->agent_socket);
	state_path(c, dir, "volumes");
	n = scandir(dir, &names, NULL, alphasort);
	/* No directory yet is no volume yet; an unreadable one is not an empty list. */
	if (n < 0 && errno != ENOENT) {
		rc = -errno;
		return ctl_err(c, rc, "cannot read the volumes in %s: %s%s", dir, strerror(-rc),
			       rc == -EACCES && geteuid() ? " (run as root)" : "");
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]->d_name);
		_cleanup_json_ struct json_object *rec = NULL;
		char p[PATH_MAX];

		if (l > 5 && l < CTL_STATE_REL_MAX - 8 && !strcmp(names[i]->d_name + l - 5, ".json")) {
			state_path(c, p, "volumes/%s", names[i]->d_name);
			if (!state_read_json(p, &rec))
				json_object_array_add(arr, volume_describe(rec, att));
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	print_records(c, "volumes", arr, print_human);
	return 0;
}

int cmd_volume_describe(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *rec = NULL, *att = NULL, *o = NULL;
	const char *vol;
	int rc;

	if ((rc = json_flag(c, argc, argv, &vol)))
		return rc;
	if (!vol)
		return ctl_err(c, -EINVAL, "which volume? (vol-...)");
	if ((rc = volume_find(c, vol, &rec)))
		return rc;
	att = ctl_attachments(c);
	if (!att)
		ctl_warn(c, "ebscrypt-agent not reachable at %s: attachment state unknown", c->agent_socket);
	o = volume_describe(rec, att);
	attach_describe(c, o);
	if (c->json) {
		print_json(o);
	} else {
		json_object_object_foreach(o, k, v)
			printf("%-24s %s\n", k, v ? json_object_get_string(v) : "-");
	}
	return 0;
}

static int is_attached(struct ctl *c, const char *vol, int *attached)
{
	_cleanup_json_ struct json_object *att = ctl_attachments(c);
	struct json_object *a;

	if (!att)
		return ctl_err(c, -EHOSTDOWN, "ebscrypt-agent not reachable at %s: cannot tell whether "
			       "%s is attached", c->agent_socket, vol);
	*attached = json_object_object_get_ex(att, vol, &a);
	return 0;
}

/* Both copies gone means the wrapped key is gone: the data is unreadable. */
static int erase_headers(struct ctl *c, const char *path)
{
	static const uint8_t zero[EBS_HDR_SIZE];
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0 || pwrite(fd, zero, sizeof(zero), EBS_HDR_PRIMARY_OFFSET) != sizeof(zero) ||
	    pwrite(fd, zero, sizeof(zero), EBS_HDR_BACKUP_OFFSET) != sizeof(zero) || fsync(fd)) {
		rc = -errno;
		return ctl_err(c, rc, "cannot erase the headers on %s: %s", path, strerror(-rc));
	}
	return 0;
}

int cmd_volume_delete(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *rec = NULL;
	char path[PATH_MAX], rp[PATH_MAX];
	const char *vol;
	int attached = 0, rc;

	if ((rc = json_flag(c, argc, argv, &vol)))
		return rc;
	if (!vol)
		return ctl_err(c, -EINVAL, "which volume? (vol-...)");
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s", c->state_dir);
	if ((rc = state_load_volume(c, vol, &rec)))
		return ctl_err(c, rc, "no volume %s in %s", vol, c->state_dir);
	if ((rc = is_attached(c, vol, &attached)))
		return rc;
	if (attached)
		return ctl_err(c, -EBUSY, "%s is attached: detach it first", vol);
	volume_backing_path(rec, path, sizeof(path));
	if (!strcmp(jstr(rec, "backing_type") ?: "", "device")) {
		if ((rc = erase_headers(c, path)))
			return rc;
	} else if (unlink(path) && errno != ENOENT) {
		rc = -errno;
		return ctl_err(c, rc, "cannot remove %s: %s", path, strerror(-rc));
	}
	state_path(c, rp, "volumes/%s.json", vol);
	if (unlink(rp)) {
		rc = -errno;
		return ctl_err(c, rc, "cannot remove %s: %s", rp, strerror(-rc));
	}
	printf("deleted %s\n", vol);
	return 0;
}

/* Whether a failed attach is worth another try: the KMS or the agent may come up. */
static int attach_transient(const struct ctl *c)
{
	return c->status == EBS_EXIT_KMS_UNREACHABLE || c->status == EBS_EXIT_AGENT_DOWN;
}

/*
 * One attach request, or (with retry_for >= 0) as many as it takes while
 * the KMS or the agent is unreachable, for retry_for seconds (0: for ever),
 * waiting 1 s, 2 s, 4 s ... 30 s in between. Each try is a fresh KMS
 * Decrypt through the agent.
 */
static int attach_with_retries(struct ctl *c, struct json_object *req, long retry_for,
			       struct json_object **rep)
{
	struct timespec t0, now;
	unsigned int wait_s = 1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rc = ctl_agent(c, req, rep);
		if (!rc || retry_for < 0 || !attach_transient(c))
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (retry_for > 0 && now.tv_sec - t0.tv_sec + wait_s > retry_for) {
			ctl_warn(c, "still failing after %ld s: giving up", (long)(now.tv_sec - t0.tv_sec));
			return rc;
		}
		fprintf(stderr, "%sebscryptctl: warning: %s; retrying in %u s\n", ebs_log_prefix(LOG_WARNING),
			c->err, wait_s);
		ctl_flush_warnings(c);
		/* The next try's reason is its own. */
		c->err[0] = '\0';
		c->status = 0;
		sleep(wait_s);
		wait_s = wait_s * 2 > 30 ? 30 : wait_s * 2;
	}
}

int cmd_volume_attach(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "retry-for", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ struct json_object *rec = NULL, *req = NULL, *rep = NULL;
	_cleanup_close_ int lock_fd = -1;
	const char *name = NULL, *vol;
	char path[PATH_MAX], *end;
	struct ebs_header h;
	int o, rc, read_only = 0;
	long retry_for = -1;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n') {
			name = optarg;
		} else if (o == 'r') {
			read_only = 1;
		} else if (o == 't') {
			errno = 0;
			retry_for = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || retry_for < 0)
				return ctl_status(c, EBS_EXIT_USAGE, ctl_err(c, -EINVAL,
					"--retry-for %s: give seconds (0: for ever)", optarg));
		} else if (o == 'j') {
			c->json = 1;
		} else {
			return ctl_usage(c);
		}
	}
	if (optind != argc - 1)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl volume attach VOL|DEVICE [--name NAME] "
			       "[--read-only] [--retry-for S]");
	vol = argv[optind];
	if (vol[0] == '/') {
		/* A device (or file) named by path: its header says which volume it holds. */
		snprintf(path, sizeof(path), "%s", vol);
		if ((rc = volume_header_check(c, path, &h)))
			return ctl_status(c, rc == -ENOENT ? EBS_EXIT_NOT_FOUND : EBS_EXIT_DEVICE, rc);
		vol = h.volume_id;
	} else {
		if ((rc = volume_find(c, vol, &rec)))
			return rc;
		volume_backing_path(rec, path, sizeof(path));
	}
	/* Held through the attach: no snapshot starts on a half-built stack. */
	if ((rc = repair_volume(c, vol, &lock_fd)))
		return rc;
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("attach"));
	json_object_object_add(req, "volume_id", json_object_new_string(vol));
	json_object_object_add(req, "path", ctl_agent_path(path));
	if (name)
		json_object_object_add(req, "name", json_object_new_string(name));
	if (read_only)
		json_object_object_add(req, "read_only", json_object_new_boolean(1));
	if ((rc = attach_with_retries(c, req, retry_for, &rep)))
		return rc;
	if (c->json) {
		json_object_object_del(rep, "ok");
		json_object_object_add(rep, "volume_id", json_object_new_string(vol));
		print_json(rep);
	} else {
		printf("%s\n", jstr(rep, "device"));
	}
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
	if (dm_uuid_of(what, uuid, sizeof(uuid)) || strncmp(uuid, DM_UUID_VOLUME, strlen(DM_UUID_VOLUME)) ||
	    !ebs_id_valid(uuid + strlen(DM_UUID_VOLUME), "vol"))
		return -ENODEV;
	snprintf(vol, len, "%s", uuid + strlen(DM_UUID_VOLUME));
	return 0;
}

int cmd_volume_detach(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *req = NULL, *rep = NULL;
	_cleanup_close_ int lock_fd = -1;
	const char *what;
	char vol[160];
	int rc;

	if ((rc = json_flag(c, argc, argv, &what)))
		return rc;
	if (!what)
		return ctl_err(c, -EINVAL, "which volume? (vol-... or its mapping name)");
	/*
	 * A stack a killed snapshot left suspended would hang or fail the
	 * detach: repaired first, under the capture lock, which also keeps a
	 * running snapshot's stack from being taken apart under it.
	 */
	if (!detach_volume_id(what, vol, sizeof(vol)) && (rc = repair_volume(c, vol, &lock_fd)))
		return rc;
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("detach"));
	json_object_object_add(req, "volume", json_object_new_string(what));
	if ((rc = ctl_agent(c, req, &rep)))
		return rc;
	printf("detached %s\n", jstr(rep, "volume_id") ?: what);
	return 0;
}
