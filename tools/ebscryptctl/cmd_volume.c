// SPDX-License-Identifier: GPL-2.0
/*
 * volume create|list|describe|delete|attach|detach|load-key|table.
 * No command here, or anywhere in ebscryptctl, turns an encrypted volume
 * into plaintext (S11): attach gives a decrypted view through the kernel,
 * and copying files out of it is the only way out (docs/volumes.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/fs.h>
#include <openssl/rand.h>

#include "base64.h"
#include "ctl.h"
#include "dmmap.h"
#include "header.h"

static int hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	size_t i;

	if (!hex || strlen(hex) != 2 * len)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Asks the agent for the key check value of a freshly wrapped DEK. */
static int agent_kcv(struct ctl *c, const struct ebs_header *h)
{
	struct json_object *req = json_object_new_object(), *ctx = json_object_new_object(), *rep;
	char *b64 = NULL;
	size_t i;
	int rc;

	if (b64_encode(h->wrapped_dek, h->wrapped_len, &b64))
		return ctl_fail("out of memory");
	for (i = 0; i < h->ctx_count; i++)
		json_object_object_add(ctx, h->ctx[i].key, json_object_new_string(h->ctx[i].value));
	json_object_object_add(req, "op", json_object_new_string("kcv"));
	json_object_object_add(req, "kms_key_arn", json_object_new_string(h->kms_key_arn));
	json_object_object_add(req, "wrapped", json_object_new_string(b64));
	json_object_object_add(req, "context", ctx);
	free(b64);
	rc = ctl_agent(c, req, &rep);
	json_object_put(req);
	if (rc)
		return rc;
	rc = hex_to_bytes(jstr(rep, "kcv"), (uint8_t *)h->kcv, EBS_HDR_KCV_LEN);
	json_object_put(rep);
	return rc ? ctl_fail("the agent returned no key check value") : 0;
}

static int wrap_new_dek(struct ctl *c, struct ebs_header *h, const char *key_arn)
{
	struct kms_context_pair pairs[EBS_HDR_CTX_MAX];
	struct kms_context ctx = { pairs, h->ctx_count };
	struct kms_client *k;
	struct kms_error err;
	uint8_t *blob = NULL;
	char *arn = NULL, msg[768];
	size_t blob_len = 0, i;
	int rc;

	if (ctl_kms(c, &k))
		return 1;
	for (i = 0; i < h->ctx_count; i++) {
		pairs[i].key = h->ctx[i].key;
		pairs[i].value = h->ctx[i].value;
	}
	memset(&err, 0, sizeof(err));
	rc = kms_generate_data_key_without_plaintext(k, key_arn, &ctx, EBS_HDR_KEY_BYTES,
						     &blob, &blob_len, &arn, &err);
	if (rc) {
		ctl_kms_error(msg, sizeof(msg), "GenerateDataKeyWithoutPlaintext", rc, &err);
		return ctl_fail("%s", msg);
	}
	if (blob_len == 0 || blob_len > EBS_HDR_WRAPPED_MAX) {
		free(blob);
		free(arn);
		return ctl_fail("KMS returned a %zu-byte wrapped key; the header holds 1..%d",
				blob_len, EBS_HDR_WRAPPED_MAX);
	}
	memcpy(h->wrapped_dek, blob, blob_len);
	h->wrapped_len = blob_len;
	snprintf(h->kms_key_arn, sizeof(h->kms_key_arn), "%s", arn ? arn : key_arn);
	free(blob);
	free(arn);
	return 0;
}

static uint64_t device_size(int fd, unsigned int *lbs)
{
	uint64_t size = 0;
	int ss = 512;

	if (ioctl(fd, BLKGETSIZE64, &size))
		size = 0;
	if (!ioctl(fd, BLKSSZGET, &ss) && ss > 0)
		*lbs = (unsigned int)ss;
	return size;
}

static struct json_object *describe(struct json_object *rec, struct json_object *att)
{
	struct json_object *o = json_object_get(rec), *a = NULL;
	const char *vol = jstr(rec, "volume_id");

	if (att && vol && json_object_object_get_ex(att, vol, &a)) {
		json_object_object_add(o, "state", json_object_new_string("in-use"));
		json_object_object_add(o, "device", json_object_new_string(jstr(a, "device") ?: ""));
		json_object_object_add(o, "attachment_name", json_object_new_string(jstr(a, "name") ?: ""));
	} else {
		json_object_object_add(o, "state", json_object_new_string(att ? "available" : "unknown"));
	}
	return o;
}

static void print_human(struct json_object *o)
{
	const char *dev = jstr(o, "device");

	printf("%-22s %10.1f MiB  %-9s  %-9s  %s%s%s\n", jstr(o, "volume_id"),
	       jint(o, "size") / 1048576.0, jstr(o, "state"),
	       jbool(o, "encrypted") ? "encrypted" : "plain",
	       jstr(o, "kms_key_id") ?: "-", dev ? "  " : "", dev ?: "");
}

/*
 * A new volume: backing file or device, header (for an encrypted volume a
 * fresh DEK, wrapped by KMS, KCV from the agent), and its record, not yet
 * saved: the caller fills it if needed, then commits or aborts.
 */
int volume_new(struct ctl *c, const struct vol_spec *sp, struct vol_new *nv)
{
	char lineage_hex[33], arn[EBS_HDR_ARN_MAX + 1], tbuf[32];
	unsigned int lbs = 512, sector = sp->sector;
	struct ebs_header *h = NULL;
	uint64_t size = sp->size, dev_size = 0;
	int fd = -1, rc;

	memset(nv, 0, sizeof(*nv));
	if (sp->device) {
		fd = open(sp->device, O_RDWR | O_EXCL | O_CLOEXEC);
		if (fd < 0)
			return ctl_fail("cannot open %s exclusively: %m", sp->device);
		dev_size = device_size(fd, &lbs);
		if (dev_size <= EBS_HDR_DEFAULT_DATA_OFFSET * 512ull) {
			close(fd);
			return ctl_fail("%s is too small (%llu bytes; the header alone takes 1 MiB)", sp->device,
					(unsigned long long)dev_size);
		}
		if (!size)
			size = (dev_size - EBS_HDR_DEFAULT_DATA_OFFSET * 512ull) & ~4095ull;
	}
	if (!size || size % 512) {
		rc = ctl_fail("the size must be a positive multiple of 512 bytes");
		goto out;
	}
	if (!sector)
		sector = (size % 4096 == 0 && lbs <= 4096) ? 4096 : lbs;
	if ((sector != 512 && sector != 1024 && sector != 2048 && sector != 4096) || sector < lbs ||
	    size % sector) {
		rc = ctl_fail("sector size %u does not fit (device logical block %u bytes, size %llu bytes)",
			      sector, lbs, (unsigned long long)size);
		goto out;
	}
	if (sp->device && dev_size < EBS_HDR_DEFAULT_DATA_OFFSET * 512ull + size) {
		rc = ctl_fail("%s holds %llu bytes; a %llu-byte volume needs %llu", sp->device,
			      (unsigned long long)dev_size, (unsigned long long)size,
			      (unsigned long long)(EBS_HDR_DEFAULT_DATA_OFFSET * 512ull + size));
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (!h || random_hex_id("vol", nv->vol, sizeof(nv->vol))) {
		rc = ctl_fail("out of memory or randomness");
		goto out;
	}
	ebs_header_init(h, nv->vol, size / 512, sector, sp->encrypted);
	h->created = (uint64_t)time(NULL);
	h->seqno = 1;
	if (RAND_bytes(h->lineage, sizeof(h->lineage)) != 1) {
		rc = ctl_fail("no randomness for the lineage id");
		goto out;
	}
	ebs_hex(h->lineage, sizeof(h->lineage), lineage_hex);
	if (sp->encrypted) {
		if ((rc = ctl_resolve_key(c, sp->key, 1, arn, sizeof(arn))))
			goto out;
		ebs_header_ctx_set(h, EBS_CTX_VOLUME_ID, nv->vol);
		ebs_header_ctx_set(h, EBS_CTX_LINEAGE, lineage_hex);
		if ((rc = wrap_new_dek(c, h, arn)) || (rc = agent_kcv(c, h)))
			goto out;
	}
	if (sp->device) {
		snprintf(nv->path, sizeof(nv->path), "%s", sp->device);
	} else {
		state_path(c, nv->path, sizeof(nv->path), "store/%s.img", nv->vol);
		fd = open(nv->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = ctl_fail("cannot create %s: %m", nv->path);
			goto out;
		}
		nv->created_file = 1;
		if (ftruncate(fd, (off_t)(h->data_offset * 512 + size))) {
			rc = ctl_fail("cannot size %s: %m", nv->path);
			goto out;
		}
	}
	rc = ebs_header_write(fd, h);
	if (rc) {
		rc = ctl_fail("cannot write the volume header to %s: %s", nv->path, strerror(-rc));
		goto out;
	}
	nv->rec = json_object_new_object();
	format_time(h->created, tbuf, sizeof(tbuf));
	json_object_object_add(nv->rec, "volume_id", json_object_new_string(nv->vol));
	json_object_object_add(nv->rec, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(nv->rec, "encrypted", json_object_new_boolean(sp->encrypted));
	json_object_object_add(nv->rec, "kms_key_id",
			       sp->encrypted ? json_object_new_string(h->kms_key_arn) : NULL);
	json_object_object_add(nv->rec, "data_encryption_key_id", json_object_new_string(lineage_hex));
	json_object_object_add(nv->rec, "snapshot_id",
			       sp->snapshot_id ? json_object_new_string(sp->snapshot_id) : NULL);
	json_object_object_add(nv->rec, "create_time", json_object_new_string(tbuf));
	json_object_object_add(nv->rec, "sector_size", json_object_new_int((int)sector));
	json_object_object_add(nv->rec, "backing", json_object_new_string(nv->path));
	json_object_object_add(nv->rec, "backing_type", json_object_new_string(sp->device ? "device" : "file"));
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(h);
	if (rc)
		volume_new_abort(nv);
	return rc;
}

int volume_new_commit(struct ctl *c, struct vol_new *nv)
{
	int rc = state_save_volume(c, nv->rec);

	if (rc) {
		volume_new_abort(nv);
		return ctl_fail("cannot save the volume record: %s", strerror(-rc));
	}
	nv->created_file = 0;
	if (c->json) {
		struct json_object *out = describe(nv->rec, NULL);

		json_object_object_add(out, "state", json_object_new_string("available"));
		print_json(out);
		json_object_put(out);
	} else {
		printf("%s\n", nv->vol);
	}
	json_object_put(nv->rec);
	nv->rec = NULL;
	return 0;
}

void volume_new_abort(struct vol_new *nv)
{
	if (nv->created_file)
		unlink(nv->path);
	nv->created_file = 0;
	json_object_put(nv->rec);
	nv->rec = NULL;
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
			json_object_array_add(arr, describe(rec, att));
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
	o = describe(rec, att);
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
