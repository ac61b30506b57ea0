// SPDX-License-Identifier: GPL-2.0
/*
 * Attach grants, read and written with ebscryptctl's own KMS credentials.
 * A volume authorized for host H has one KMS grant on its key: grantee and
 * retiring principal H's principal, operation Decrypt, constraint
 * EncryptionContextSubset {"ebscrypt:volume-id": VOL}, name VOL. The grants
 * are the fleet's record of where each volume may be attached and since
 * when; the operator sees them all (ListGrants), a host only its own
 * (ListRetirableGrants), as it has no right to list a key's grants.
 *
 * A host is named by its principal's ARN, or by NAME, which stands for
 * arn:aws:iam::ACCOUNT:role/ebscrypt-host/NAME in the key's account.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "header.h"

#define HOST_ROLE_PATH ":role/ebscrypt-host/"
#define MAX_GRANTS 64

static int host_principal(const char *key_arn, const char *host, char *out, size_t len)
{
	const char *p = key_arn;
	int i;

	if (!strncmp(host, "arn:", 4)) {
		snprintf(out, len, "%s", host);
		return 0;
	}
	if (!*host || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(host) ||
	    strlen(host) > 64)
		return -EINVAL;
	/* arn:aws:kms:REGION:ACCOUNT:key/ID: the account is the fifth field. */
	for (i = 0; i < 4 && p; i++)
		p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
	if (!p || strspn(p, "0123456789") != 12)
		return -EINVAL;
	snprintf(out, len, "arn:aws:iam::%.12s" HOST_ROLE_PATH "%s", p, host);
	return 0;
}

static void host_name(const char *principal, char *out, size_t len)
{
	const char *p = strstr(principal, HOST_ROLE_PATH);

	snprintf(out, len, "%s", p ? p + strlen(HOST_ROLE_PATH) : principal);
}

static const char *grant_volume(struct json_object *g)
{
	struct json_object *c, *sub, *v;

	if (!json_object_object_get_ex(g, "Constraints", &c) ||
	    !json_object_object_get_ex(c, "EncryptionContextSubset", &sub) ||
	    !json_object_object_get_ex(sub, EBS_CTX_VOLUME_ID, &v))
		return NULL;
	return json_object_get_string(v);
}

static void collect(struct json_object *grants, const char *key_arn, const char *vol,
		    struct attach_grant *g, size_t cap, size_t *n)
{
	size_t i;

	for (i = 0; i < json_object_array_length(grants) && *n < cap; i++) {
		struct json_object *e = json_object_array_get_idx(grants, i);
		const char *gv = grant_volume(e), *key = jstr(e, "KeyId");

		if (!gv || strcmp(gv, vol) || !key || strcmp(key, key_arn))
			continue;
		memset(&g[*n], 0, sizeof(g[*n]));
		snprintf(g[*n].grant_id, sizeof(g[*n].grant_id), "%s", jstr(e, "GrantId") ?: "");
		snprintf(g[*n].key_arn, sizeof(g[*n].key_arn), "%s", key);
		snprintf(g[*n].principal, sizeof(g[*n].principal), "%s", jstr(e, "GranteePrincipal") ?: "");
		host_name(g[*n].principal, g[*n].host, sizeof(g[*n].host));
		g[*n].since = jint(e, "CreationDate");
		(*n)++;
	}
}

static int list_pages(struct ctl *c, const char *op, const char *key_arn, const char *vol,
		      struct attach_grant *g, size_t cap, size_t *n, struct kms_error *err)
{
	_cleanup_free_ char *marker = NULL;
	struct kms_client *k;
	int rc, pages;

	if ((rc = ctl_kms(c, &k)))
		return rc;
	for (pages = 0; pages < 100; pages++) {
		_cleanup_json_ struct json_object *req = json_object_new_object(), *resp = NULL;
		struct json_object *grants;

		if (!strcmp(op, "ListGrants"))
			json_object_object_add(req, "KeyId", json_object_new_string(key_arn));
		json_object_object_add(req, "Limit", json_object_new_int(100));
		if (marker)
			json_object_object_add(req, "Marker", json_object_new_string(marker));
		memset(err, 0, sizeof(*err));
		rc = kms_call(k, op, req, &resp, err);
		if (rc)
			return rc;
		if (!json_object_object_get_ex(resp, "Grants", &grants) ||
		    !json_object_is_type(grants, json_type_array))
			return -EPROTO;
		collect(grants, key_arn, vol, g, cap, n);
		free(marker);
		marker = NULL;
		if (!jbool(resp, "Truncated") || !jstr(resp, "NextMarker"))
			return 0;
		marker = strdup(jstr(resp, "NextMarker"));
		if (!marker)
			return -ENOMEM;
	}
	return 0;
}

int attach_grants(struct ctl *c, const char *key_arn, const char *vol, struct attach_grant *g,
		  size_t cap, size_t *n)
{
	struct kms_error err;
	int rc;

	*n = 0;
	rc = list_pages(c, "ListGrants", key_arn, vol, g, cap, n, &err);
	if (rc == -EREMOTEIO && !strcmp(err.type, "AccessDeniedException")) {
		/* A host: it sees the grants it holds, and nothing of others'. */
		*n = 0;
		rc = list_pages(c, "ListRetirableGrants", key_arn, vol, g, cap, n, &err);
	}
	if (rc == -EREMOTEIO)
		return ctl_err_kms(c, rc, &err, "listing the attach grants");
	if (rc)
		return ctl_err(c, rc, "cannot list the attach grants of %s: %s", vol, strerror(-rc));
	return 0;
}

void attach_describe(struct ctl *c, struct json_object *o)
{
	struct attach_grant g[MAX_GRANTS];
	const char *key = jstr(o, "kms_key_id"), *vol = jstr(o, "volume_id");
	char t[32];
	size_t n = 0;

	if (!jbool(o, "encrypted") || !key || !vol)
		return;
	if (attach_grants(c, key, vol, g, MAX_GRANTS, &n)) {
		ctl_warn(c, "the KMS's record of %s's attachment is unavailable: %s", vol, c->err);
		c->err[0] = '\0';
		return;
	}
	if (!n) {
		json_object_object_add(o, "attachment_host", NULL);
		return;
	}
	format_time((uint64_t)g[0].since, t, sizeof(t));
	json_object_object_add(o, "attachment_host", json_object_new_string(g[0].host));
	json_object_object_add(o, "attachment_principal", json_object_new_string(g[0].principal));
	json_object_object_add(o, "attachment_time", json_object_new_string(t));
	json_object_object_add(o, "attachment_grant_id", json_object_new_string(g[0].grant_id));
}

static int revoke_grant(struct ctl *c, const struct attach_grant *g)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *resp = NULL;
	struct kms_error err = { 0 };
	struct kms_client *k;
	int rc;

	if ((rc = ctl_kms(c, &k)))
		return rc;
	json_object_object_add(req, "KeyId", json_object_new_string(g->key_arn));
	json_object_object_add(req, "GrantId", json_object_new_string(g->grant_id));
	rc = kms_call(k, "RevokeGrant", req, &resp, &err);
	return rc ? ctl_err_kms(c, rc, &err, "RevokeGrant") : 0;
}

static int create_grant(struct ctl *c, const char *key_arn, const char *vol, const char *principal, char *gid,
		  size_t gid_len)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *resp = NULL;
	struct json_object *ops = json_object_new_array(), *cons = json_object_new_object(),
			   *sub = json_object_new_object();
	struct kms_error err = { 0 };
	struct kms_client *k;
	int rc;

	json_object_array_add(ops, json_object_new_string("Decrypt"));
	json_object_object_add(sub, EBS_CTX_VOLUME_ID, json_object_new_string(vol));
	json_object_object_add(cons, "EncryptionContextSubset", sub);
	json_object_object_add(req, "KeyId", json_object_new_string(key_arn));
	json_object_object_add(req, "GranteePrincipal", json_object_new_string(principal));
	json_object_object_add(req, "RetiringPrincipal", json_object_new_string(principal));
	json_object_object_add(req, "Operations", ops);
	json_object_object_add(req, "Constraints", cons);
	json_object_object_add(req, "Name", json_object_new_string(vol));
	if ((rc = ctl_kms(c, &k)))
		return rc;
	rc = kms_call(k, "CreateGrant", req, &resp, &err);
	if (rc)
		return ctl_err_kms(c, rc, &err, "CreateGrant");
	snprintf(gid, gid_len, "%s", jstr(resp, "GrantId") ?: "");
	return 0;
}

/* The volume's key ARN, from its header (found by id). */
static int volume_key(struct ctl *c, const char *vol, char *arn, size_t len)
{
	_cleanup_json_ struct json_object *rec = NULL;
	int rc = volume_find(c, vol, &rec);

	if (rc)
		return rc;
	if (!jbool(rec, "encrypted") || !jstr(rec, "kms_key_id"))
		return ctl_err(c, -EINVAL, "%s is not encrypted: it has no key to authorize, and any "
			       "host that sees its device can attach it", vol);
	snprintf(arn, len, "%s", jstr(rec, "kms_key_id"));
	return 0;
}

int cmd_volume_authorize(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct attach_grant g[MAX_GRANTS];
	const char *host = NULL, *vol;
	char arn[256], principal[256], gid[80] = "", t[32];
	int force = 0, o, rc;
	size_t n = 0, i;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'h': host = optarg; break;
		case 'f': force = 1; break;
		case 'j': c->json = 1; break;
		default: return ctl_usage(c);
		}
	}
	if (optind != argc - 1 || !host)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl volume authorize VOL --host HOST [--force]");
	vol = argv[optind];
	if ((rc = volume_key(c, vol, arn, sizeof(arn))))
		return rc;
	if (host_principal(arn, host, principal, sizeof(principal)))
		return ctl_err(c, -EINVAL, "--host %s: give a host name (letters, digits, -_.) or a principal ARN", host);
	if ((rc = attach_grants(c, arn, vol, g, MAX_GRANTS, &n)))
		return rc;
	for (i = 0; i < n; i++) {
		if (!strcmp(g[i].principal, principal)) {
			snprintf(gid, sizeof(gid), "%.79s", g[i].grant_id);
			continue;
		}
		format_time((uint64_t)g[i].since, t, sizeof(t));
		if (!force)
			return ctl_err(c, -EBUSY, "%s is attached to host %s (authorized since %s, grant %s): "
				       "detach it there first, or take it over with --force once that host "
				       "can no longer write to it", vol, g[i].host, t, g[i].grant_id);
		if ((rc = revoke_grant(c, &g[i])))
			return rc;
		ctl_warn(c, "revoked %s's grant for %s: that host cannot attach it again, but keeps "
			 "I/O it already has until its storage access is fenced", g[i].host, vol);
	}
	if (!gid[0] && (rc = create_grant(c, arn, vol, principal, gid, sizeof(gid))))
		return rc;
	if (c->json) {
		_cleanup_json_ struct json_object *out = json_object_new_object();

		json_object_object_add(out, "volume_id", json_object_new_string(vol));
		json_object_object_add(out, "attachment_principal", json_object_new_string(principal));
		json_object_object_add(out, "attachment_grant_id", json_object_new_string(gid));
		print_json(out);
	} else {
		printf("authorized %s for %s (grant %s)\n", vol, principal, gid);
	}
	return 0;
}

int cmd_volume_revoke(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct attach_grant g[MAX_GRANTS];
	const char *host = NULL, *vol;
	char arn[256], principal[256] = "";
	int o, rc, done = 0;
	size_t n = 0, i;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'h')
			host = optarg;
		else
			return ctl_usage(c);
	}
	if (optind != argc - 1)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl volume revoke VOL [--host HOST]");
	vol = argv[optind];
	if ((rc = volume_key(c, vol, arn, sizeof(arn))))
		return rc;
	if (host && host_principal(arn, host, principal, sizeof(principal)))
		return ctl_err(c, -EINVAL, "--host %s: give a host name (letters, digits, -_.) or a principal ARN", host);
	if ((rc = attach_grants(c, arn, vol, g, MAX_GRANTS, &n)))
		return rc;
	for (i = 0; i < n; i++) {
		if (principal[0] && strcmp(principal, g[i].principal))
			continue;
		if ((rc = revoke_grant(c, &g[i])))
			return rc;
		printf("revoked %s's grant %s for %s\n", g[i].host, g[i].grant_id, vol);
		done++;
	}
	if (!done)
		return ctl_err(c, -ENOENT, "%s is not authorized for %s", vol, host ? host : "any host");
	return 0;
}
