/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ebscrypt-agent internals. Each client is read in its own thread, so a slow
 * or silent one holds up nobody; the operations themselves run one at a
 * time (server.c's lock), each bounded by the KMS deadline, so no two
 * attaches race for a name or a loop device.
 */
#ifndef EBSCRYPT_AGENT_H
#define EBSCRYPT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "dmmap.h"
#include "loopdev.h"
#include "kms_client.h"
#include "paths.h"

#define AGENT_DEFAULT_CONFIG EBS_SYSCONFDIR "/ebscrypt/agent.conf"
#define AGENT_UUID_PREFIX    "EBSCRYPT-"

struct json_object;

struct agent {
	struct ebs_conf conf;
	const char *socket_path;
	gid_t group;              /* (gid_t)-1: root only */
	struct kms_endpoint ep;
	struct kms_client *kms;
	int32_t keyring;          /* private keyring inside the agent's own session */
};

int agent_load_config(struct agent *a, const char *path, const char *socket_override);
void agent_free(struct agent *a);

/* Request handlers (attach.c; load-key in loadkey.c): fill the reply object. */
void op_attach(struct agent *a, struct json_object *req, struct json_object *rep, uid_t peer_uid);
void op_detach(struct agent *a, struct json_object *req, struct json_object *rep);
void op_list(struct agent *a, struct json_object *req, struct json_object *rep);
void op_kcv(struct agent *a, struct json_object *req, struct json_object *rep);
/* resize.c */
void op_resize(struct agent *a, struct json_object *req, struct json_object *rep);
void op_load_key(struct agent *a, struct json_object *req, struct json_object *rep,
		 uid_t peer_uid);

struct ebs_header;

/* reply.c */
/* preflight.c: root, device-mapper, the target (loaded by modprobe if need be). */
int agent_preflight(const char *target, struct json_object *rep);

void reply_fail(struct json_object *rep, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void reply_warn(struct json_object *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *req_str(struct json_object *req, const char *key);

/* volpath.c: what a client may name as a volume, opened without a detour. */
enum agent_path_kind {
	AGENT_PATH_BLOCK_ONLY,
	AGENT_PATH_BLOCK_OR_FILE,     /* files only inside volume_file_dirs */
};
const char *agent_volume_file_dirs(const struct agent *a);
struct stat;
int agent_open_volume_path(const struct agent *a, const char *path, uid_t peer, enum agent_path_kind kind,
			   int flags, int *fd_out, struct stat *st, struct json_object *rep);

/* attach.c: opens a volume and reads its header, errors as replies. */
struct stat;
int agent_open_volume(const struct agent *a, const char *path, uid_t peer, enum agent_path_kind kind,
		      const char *volume_id, struct ebs_header *h, int *fd_out, struct stat *st,
		      enum dm_access access, struct json_object *rep);

/* kms.c: Decrypt a header's wrapped DEK into secmem, errors as replies. */
struct ebs_header;
struct ebs_header_ctx_pair;
int agent_decrypt(struct agent *a, const char *arn, const uint8_t *blob, size_t blob_len,
		  const struct ebs_header_ctx_pair *cp, size_t n, uint8_t *dek,
		  struct json_object *rep);
int agent_unwrap(struct agent *a, const struct ebs_header *h, uint8_t *dek,
		 struct json_object *rep);

/*
 * grants.c: retires this host's attach grants for vol (after a detach);
 * returns how many, or -errno with a warning in rep.
 */
int agent_retire_grants(struct agent *a, const char *vol, struct json_object *rep);

/* keys.c */
int keys_init(struct agent *a);
int keys_add_logon(int32_t keyring, const char *desc, const uint8_t *dek, size_t len,
		   int32_t *serial);
void keys_drop(int32_t serial);

#endif
