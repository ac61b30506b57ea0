// SPDX-License-Identifier: GPL-2.0
/*
 * Attach grants: on a fleet host, the operator authorizes a volume for this
 * host with a KMS grant (grantee and retiring principal: this host; Decrypt,
 * constrained to the volume's id in the encryption context). Attach needs
 * nothing else: the Decrypt is allowed by that grant. Detach retires it, so
 * the KMS's grants say where each volume is attached. The host has no right
 * to list a key's grants; ListRetirableGrants shows it the ones it may retire.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "agent.h"
#include "cleanup.h"
#include "header.h"
#include "log.h"

/* The volume id a grant is constrained to, or NULL. */
static const char *grant_volume(struct json_object *g)
{
	struct json_object *c, *sub, *v;

	if (!json_object_object_get_ex(g, "Constraints", &c) ||
	    !json_object_object_get_ex(c, "EncryptionContextSubset", &sub) ||
	    !json_object_object_get_ex(sub, EBS_CTX_VOLUME_ID, &v))
		return NULL;
	return json_object_get_string(v);
}

static int retire_one(struct agent *a, struct json_object *g, const char *vol, struct json_object *rep)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *resp = NULL;
	struct json_object *key, *gid;
	struct kms_error err = { 0 };
	int rc;

	if (!json_object_object_get_ex(g, "KeyId", &key) || !json_object_object_get_ex(g, "GrantId", &gid))
		return -EPROTO;
	json_object_object_add(req, "KeyId", json_object_get(key));
	json_object_object_add(req, "GrantId", json_object_get(gid));
	rc = kms_call(a->kms, "RetireGrant", req, &resp, &err);
	if (rc) {
		reply_warn(rep, "cannot retire the attach grant %s for %s: %s%s%s (the operator can "
			   "revoke it)", json_object_get_string(gid), vol, err.type, err.type[0] ? ": " : "",
			   err.message[0] ? err.message : strerror(-rc));
		return rc;
	}
	ebs_info("retired attach grant %s for %s", json_object_get_string(gid), vol);
	return 0;
}

int agent_retire_grants(struct agent *a, const char *vol, struct json_object *rep)
{
	char marker[64] = "";
	int retired = 0, pages;

	/* Bounded: a host has a handful of grants, a page holds 100. */
	for (pages = 0; pages < 100; pages++) {
		_cleanup_json_ struct json_object *req = json_object_new_object(), *resp = NULL;
		struct json_object *grants, *trunc, *next;
		struct kms_error err = { 0 };
		size_t i, n;
		int rc;

		json_object_object_add(req, "Limit", json_object_new_int(100));
		if (marker[0])
			json_object_object_add(req, "Marker", json_object_new_string(marker));
		rc = kms_call(a->kms, "ListRetirableGrants", req, &resp, &err);
		if (rc) {
			reply_warn(rep, "detached, but cannot list this host's grants to retire the one for %s: "
				   "%s%s%s (the operator can revoke it)", vol, err.type, err.type[0] ? ": " : "",
				   err.message[0] ? err.message : strerror(-rc));
			return rc;
		}
		if (!json_object_object_get_ex(resp, "Grants", &grants) ||
		    !json_object_is_type(grants, json_type_array))
			return -EPROTO;
		n = json_object_array_length(grants);
		for (i = 0; i < n; i++) {
			struct json_object *g = json_object_array_get_idx(grants, i);
			const char *gv = grant_volume(g);

			if (gv && !strcmp(gv, vol) && !retire_one(a, g, vol, rep))
				retired++;
		}
		if (!json_object_object_get_ex(resp, "Truncated", &trunc) || !json_object_get_boolean(trunc) ||
		    !json_object_object_get_ex(resp, "NextMarker", &next))
			break;
		/* Retired entries leave the list: the next page starts that much earlier. */
		snprintf(marker, sizeof(marker), "%lld", (long long)json_object_get_int64(next) - retired);
	}
	return retired;
}
