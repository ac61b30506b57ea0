// SPDX-License-Identifier: GPL-2.0
/*
 * header dump / header rewrap. Rewrap crash safety: ebs_header_write writes
 * the backup copy (seqno+1) and syncs it before the primary. Crash before
 * the backup is complete: the old primary is valid and newest. Crash after:
 * the backup has the higher seqno and wins. ReEncrypt leaves the old wrapped
 * key valid, so either header attaches.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "ctl.h"
#include "header.h"

static int read_header(struct ctl *c, const char *path, int flags, struct ebs_header *h, int *fd_out)
{
	struct ebs_header_read_info info;
	_cleanup_close_ int fd = open(path, flags | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		rc = -errno;
		return ctl_err(c, rc, "cannot open %s: %s", path, strerror(-rc));
	}
	rc = ebs_header_read(fd, h, &info);
	if (rc == -EMEDIUMTYPE)
		return ctl_err(c, rc, "%s is not an ebscrypt volume (no header magic)", path);
	if (rc)
		return ctl_err(c, rc, "no valid header on %s: primary copy: %s; backup copy: %s", path,
			       info.primary_why, info.backup_why);
	if (info.used_backup)
		ctl_warn(c, "%s: primary header copy not used (%s); showing the backup copy", path,
			 info.primary_why);
	*fd_out = TAKE_FD(fd);
	return 0;
}

static struct json_object *header_json(const struct ebs_header *h)
{
	struct json_object *o = json_object_new_object(), *ctx;
	char hex[65], tbuf[32];
	unsigned int n = 32;
	uint8_t fp[32];
	size_t i;

	json_object_object_add(o, "volume_id", json_object_new_string(h->volume_id));
	json_object_object_add(o, "version", json_object_new_int(h->version));
	json_object_object_add(o, "encrypted", json_object_new_boolean(ebs_header_encrypted(h)));
	json_object_object_add(o, "cipher", json_object_new_string(h->cipher));
	json_object_object_add(o, "key_bytes", json_object_new_int((int)h->key_bytes));
	json_object_object_add(o, "sector_size", json_object_new_int((int)h->sector_size));
	json_object_object_add(o, "data_offset", json_object_new_int64((int64_t)h->data_offset));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)(h->data_sectors * 512)));
	json_object_object_add(o, "seqno", json_object_new_int64((int64_t)h->seqno));
	format_time(h->created, tbuf, sizeof(tbuf));
	json_object_object_add(o, "create_time", json_object_new_string(tbuf));
	ebs_hex(h->lineage, sizeof(h->lineage), hex);
	json_object_object_add(o, "data_encryption_key_id", json_object_new_string(hex));
	if (ebs_header_encrypted(h)) {
		json_object_object_add(o, "kms_key_id", json_object_new_string(h->kms_key_arn));
		ebs_hex(h->kcv, sizeof(h->kcv), hex);
		json_object_object_add(o, "key_check_value", json_object_new_string(hex));
		json_object_object_add(o, "wrapped_key_bytes", json_object_new_int((int)h->wrapped_len));
		EVP_Digest(h->wrapped_dek, h->wrapped_len, fp, &n, EVP_sha256(), NULL);
		ebs_hex(fp, sizeof(fp), hex);
		json_object_object_add(o, "wrapped_key_sha256", json_object_new_string(hex));
		ctx = json_object_new_object();
		for (i = 0; i < h->ctx_count; i++)
			json_object_object_add(ctx, h->ctx[i].key, json_object_new_string(h->ctx[i].value));
		json_object_object_add(o, "encryption_context", ctx);
	}
	return o;
}

int cmd_header_dump(struct ctl *c, int argc, char **argv)
{
	_cleanup_free_ struct ebs_header *h = NULL;
	_cleanup_json_ struct json_object *o = NULL;
	_cleanup_close_ int fd = -1;
	const char *arg = NULL;
	char path[PATH_MAX];
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c->json = 1;
		else if (!arg && argv[i][0] != '-')
			arg = argv[i];
		else
			return ctl_err(c, -EINVAL, "unexpected argument \"%s\"", argv[i]);
	}
	if (!arg)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl header dump VOL|DEV [--json]");
	if ((rc = resolve_device(c, arg, path, sizeof(path))))
		return rc;
	h = malloc(sizeof(*h));
	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	if ((rc = read_header(c, path, O_RDONLY, h, &fd)))
		return rc;
	o = header_json(h);
	if (c->json) {
		print_json(o);
	} else {
		json_object_object_foreach(o, k, v)
			printf("%-24s %s\n", k, json_object_get_string(v));
	}
	return 0;
}

/* Moves h's DEK under the key arn with ReEncrypt; the context stays. */
static int rewrap(struct ctl *c, struct ebs_header *h, const char *arn)
{
	_cleanup_free_ uint8_t *blob = NULL;
	_cleanup_free_ char *new_arn = NULL;
	const struct kms_context *ctx;
	struct ebs_kms_context kc;
	struct kms_client *k;
	struct kms_error err;
	size_t blob_len = 0;
	int rc;

	if ((rc = ctl_kms(c, &k)))
		return rc;
	ctx = ebs_header_kms_context(h, &kc);
	memset(&err, 0, sizeof(err));
	/* Same context on both sides: the DEK's binding to the volume does not change. */
	rc = kms_reencrypt(k, h->wrapped_dek, h->wrapped_len, ctx, arn, ctx,
			   &blob, &blob_len, &new_arn, &err);
	if (rc)
		return ctl_err_kms(c, rc, &err, "ReEncrypt");
	if (!blob_len || blob_len > EBS_HDR_WRAPPED_MAX)
		return ctl_err(c, -EPROTO, "KMS returned a %zu-byte wrapped key; the header holds 1..%d",
			       blob_len, EBS_HDR_WRAPPED_MAX);
	memcpy(h->wrapped_dek, blob, blob_len);
	h->wrapped_len = blob_len;
	snprintf(h->kms_key_arn, sizeof(h->kms_key_arn), "%s", new_arn ? new_arn : arn);
	h->seqno++;
	return 0;
}

int cmd_header_rewrap(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kms-key-id", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ struct json_object *rec = NULL;
	_cleanup_free_ struct ebs_header *h = NULL;
	_cleanup_close_ int fd = -1;
	const char *key = NULL;
	char path[PATH_MAX], arn[EBS_HDR_ARN_MAX + 1];
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'k')
			return ctl_usage(c);
		key = optarg;
	}
	if (optind != argc - 1 || !key)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl header rewrap VOL|DEV --kms-key-id KEY");
	if ((rc = resolve_device(c, argv[optind], path, sizeof(path))))
		return rc;
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s", c->state_dir);
	h = malloc(sizeof(*h));
	if (!h)
		return ctl_err(c, -ENOMEM, "out of memory");
	if ((rc = read_header(c, path, O_RDWR, h, &fd)))
		return rc;
	if (!ebs_header_encrypted(h))
		return ctl_err(c, -EINVAL, "%s is not encrypted: there is no key to rewrap", h->volume_id);
	if ((rc = ctl_resolve_key(c, key, KEY_MUST_EXIST, arn, sizeof(arn))) || (rc = rewrap(c, h, arn)))
		return rc;
	rc = ebs_header_write(fd, h);
	if (rc)
		return ctl_err(c, rc, "cannot write the new header to %s: %s (the old key still opens "
			       "the volume)", path, strerror(-rc));
	if (!state_load_volume(c, h->volume_id, &rec)) {
		json_object_object_add(rec, "kms_key_id", json_object_new_string(h->kms_key_arn));
		if (state_save_volume(c, rec))
			ctl_warn(c, "header rewrapped, but the volume record still names the old key");
	}
	printf("%s now wrapped under %s\n", h->volume_id, h->kms_key_arn);
	return 0;
}
