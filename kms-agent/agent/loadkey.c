// SPDX-License-Identifier: GPL-2.0
/*
 * load-key: for an administrator who wants to run `dmsetup create` by hand.
 * The DEK goes as a logon key (never readable back) into a keyring the
 * caller owns and possesses, with an expiry, and the reply carries the table
 * line that names it. The caller grants the agent write access to that one
 * keyring; the agent checks the keyring belongs to the peer's uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <json-c/json.h>
#include <keyutils.h>

#include "agent.h"
#include "cleanup.h"
#include "header.h"
#include "log.h"
#include "secmem.h"

static int keyring_owned_by(int32_t ring, uid_t uid)
{
	char *desc = NULL;
	unsigned int owner;
	int ok;

	if (keyctl_describe_alloc(ring, &desc) < 0)
		return 0;
	ok = !strncmp(desc, "keyring;", 8) && sscanf(desc + 8, "%u;", &owner) == 1 && owner == uid;
	free(desc);
	return ok;
}

void op_load_key(struct agent *a, struct json_object *req, struct json_object *rep,
		 uid_t peer_uid)
{
	const char *vol = req_str(req, "volume_id"), *path = req_str(req, "path");
	struct json_object *jring, *jtimeout;
	struct ebs_header *h = malloc(sizeof(*h));
	char desc[96], table[512];
	_cleanup_secmem_ uint8_t *dek = NULL;
	int32_t ring, key;
	long timeout = 300;
	struct stat st;
	int fd = -1, rc;

	if (!h) {
		reply_fail(rep, "NoMemory", "out of memory");
		return;
	}
	if (!vol || !ebs_id_valid(vol, "vol") || !path || path[0] != '/' ||
	    !json_object_object_get_ex(req, "keyring", &jring) ||
	    !json_object_is_type(jring, json_type_int)) {
		reply_fail(rep, "InvalidRequest", "load-key needs volume_id, path and keyring");
		goto out;
	}
	ring = json_object_get_int(jring);
	if (json_object_object_get_ex(req, "timeout", &jtimeout))
		timeout = json_object_get_int64(jtimeout);
	if (timeout < 1 || timeout > 86400) {
		reply_fail(rep, "InvalidRequest", "timeout must be 1..86400 seconds");
		goto out;
	}
	if (ring <= 0 || !keyring_owned_by(ring, peer_uid)) {
		reply_fail(rep, "InvalidRequest", "keyring %d is not a keyring owned by uid %u", ring, peer_uid);
		goto out;
	}
	if (agent_open_volume(a, path, peer_uid, AGENT_PATH_BLOCK_ONLY, vol, h, &fd, &st, DM_READ_ONLY, rep))
		goto out;
	if (!ebs_header_encrypted(h)) {
		reply_fail(rep, "NotEncrypted", "volume %s is not encrypted: it has no key to load", vol);
		goto out;
	}
	dek = secmem_alloc(EBS_HDR_KEY_BYTES);
	if (!dek || agent_unwrap(a, h, dek, rep)) {
		if (!dek)
			reply_fail(rep, "NoMemory", "cannot allocate locked memory for the key");
		goto out;
	}
	/* A fixed name, so `ebscryptctl volume table` can print the line later. */
	snprintf(desc, sizeof(desc), "ebscrypt:manual:%s", vol);
	/*
	 * Added to our own keyring first, where we possess it and may set its
	 * expiry and permissions, then linked into the caller's keyring: a key
	 * added straight into a keyring we do not possess could not be restricted.
	 */
	rc = keys_add_logon(a->keyring, desc, dek, EBS_HDR_KEY_BYTES, &key);
	secmem_free(TAKE_PTR(dek));
	if (rc) {
		reply_fail(rep, "KeyringError", "cannot add the key to the agent keyring: %s", strerror(-rc));
		goto out;
	}
	if (keyctl_set_timeout(key, timeout) ||
	    keyctl_setperm(key, KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR |
				KEY_USR_VIEW) ||
	    keyctl_link(key, ring)) {
		rc = -errno;
		keys_drop(key);
		reply_fail(rep, "KeyringError", "cannot hand the key to keyring %d: %s (does the caller grant write?)",
			   ring, strerror(-rc));
		goto out;
	}
	keyctl_unlink(key, a->keyring);
	snprintf(table, sizeof(table), "0 %llu ebscrypt %u:%u %llu :%u:logon:%s 1 sector_size:%u",
		 (unsigned long long)h->data_sectors, major(st.st_rdev), minor(st.st_rdev),
		 (unsigned long long)h->data_offset, EBS_HDR_KEY_BYTES, desc, h->sector_size);
	ebs_info("loaded the key of %s into keyring %d of uid %u for %ld s", vol, ring, peer_uid, timeout);
	json_object_object_add(rep, "ok", json_object_new_boolean(1));
	json_object_object_add(rep, "key_description", json_object_new_string(desc));
	json_object_object_add(rep, "key_serial", json_object_new_int(key));
	json_object_object_add(rep, "table", json_object_new_string(table));
out:
	if (fd >= 0)
		close(fd);
	free(h);
}
