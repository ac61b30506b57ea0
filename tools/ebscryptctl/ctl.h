/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ebscryptctl internals: the command table, the state directory and the
 * connections (KMS, agent) a command opens on demand.
 */
#ifndef EBSCRYPT_CTL_H
#define EBSCRYPT_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "kms_client.h"
#include "paths.h"

#define CTL_DEFAULT_CONFIG    EBS_SYSCONFDIR "/ebscrypt/ebscryptctl.conf"
#define CTL_DEFAULT_STATE_DIR EBS_LOCALSTATEDIR "/lib/ebscrypt"
#define CTL_DEFAULT_KMS_KEY   "alias/aws/ebs"

struct json_object;

struct ctl {
	const char *state_dir;
	const char *config_path;
	const char *agent_socket;
	int json;
	struct ebs_conf conf;
	struct kms_endpoint ep;
	struct kms_client *kms;
	int lock_fd;
};

struct ctl_cmd {
	const char *group;        /* "volume" */
	const char *name;         /* "create" */
	const char *synopsis;     /* "--size SIZE [--encrypted] ..." */
	const char *help;         /* paragraph for --help */
	int (*run)(struct ctl *c, int argc, char **argv);
};

extern const struct ctl_cmd ctl_commands[];

/* Prints an error once, at the boundary; returns 1 (the exit status). */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints --help for a command; returns 0. */
int ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f);
const struct ctl_cmd *ctl_find(const char *group, const char *name);

/* state.c */
int state_lock(struct ctl *c);              /* flock on <state>/lock, waits */
void state_unlock(struct ctl *c);
int state_path(struct ctl *c, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int state_write_json(const char *path, struct json_object *obj); /* temp, fsync, rename, fsync dir */
int state_read_json(const char *path, struct json_object **obj);
int state_load_volume(struct ctl *c, const char *vol, struct json_object **rec);
int state_save_volume(struct ctl *c, struct json_object *rec);
int state_load_settings(struct ctl *c, int *encrypt_by_default, char *default_key, size_t len);
int state_save_settings(struct ctl *c, int encrypt_by_default, const char *default_key);

/* kmsconn.c */
int ctl_kms(struct ctl *c, struct kms_client **out);
/* A user-facing sentence for a KMS failure. */
void ctl_kms_error(char *buf, size_t len, const char *what, int rc, const struct kms_error *err);
/* Resolves id/ARN/alias to the key's ARN; creates alias/aws/ebs on first use. */
int ctl_resolve_key(struct ctl *c, const char *key, int create_default, char *arn, size_t arn_len);

/* agentconn.c: one request; failures come back as a printed message and 1. */
int ctl_agent(struct ctl *c, struct json_object *req, struct json_object **rep);
int ctl_agent_attach(struct ctl *c, const char *vol, const char *path, const char *name,
		     const char *purpose, char *dev, size_t dev_len);
int ctl_agent_detach(struct ctl *c, const char *what);
/* Attachments by volume id: a JSON object { vol: {name, device} }, or NULL. */
struct json_object *ctl_attachments(struct ctl *c);

/* util.c */
int parse_size(const char *s, uint64_t *bytes);
int random_hex_id(const char *prefix, char *out, size_t len);
const char *jstr(struct json_object *o, const char *key);
int64_t jint(struct json_object *o, const char *key);
int jbool(struct json_object *o, const char *key);
void print_json(struct json_object *o);
void format_time(uint64_t t, char *buf, size_t len);



/* Command implementations (cmd_*.c). */
int cmd_config_show(struct ctl *c, int argc, char **argv);
int cmd_config_set(struct ctl *c, int argc, char **argv);
int cmd_volume_create(struct ctl *c, int argc, char **argv);
int cmd_volume_list(struct ctl *c, int argc, char **argv);
int cmd_volume_describe(struct ctl *c, int argc, char **argv);
int cmd_volume_delete(struct ctl *c, int argc, char **argv);
int cmd_volume_attach(struct ctl *c, int argc, char **argv);
int cmd_volume_detach(struct ctl *c, int argc, char **argv);
int cmd_volume_load_key(struct ctl *c, int argc, char **argv);
int cmd_volume_table(struct ctl *c, int argc, char **argv);
int cmd_header_dump(struct ctl *c, int argc, char **argv);
int cmd_header_rewrap(struct ctl *c, int argc, char **argv);
int cmd_agent_status(struct ctl *c, int argc, char **argv);
int cmd_kms_simple(struct ctl *c, int argc, char **argv);
int cmd_kms_call(struct ctl *c, int argc, char **argv);

/* Volume record helpers shared by volume and header commands (volume.c). */
int volume_backing_path(struct json_object *rec, char *out, size_t len);
/* A volume id or a device/file path, resolved to the path of its header. */
int resolve_device(struct ctl *c, const char *arg, char *path, size_t len);


/* copy.c */
struct copy_job {
	int in, out;              /* out < 0: only hash */
	uint64_t in_off, out_off, len;
	int sparse;               /* leave zero chunks unwritten (fresh file destination) */
	enum copy_sum {
		COPY_SUM_NONE,
		COPY_SUM_TREE,    /* treehash.h: leaves hashed in parallel */
		COPY_SUM_SHA256,  /* one SHA-256 stream: snapshots from before the tree */
	} sum;
	uint8_t *digest;          /* 32 bytes, with a sum */
	int hashers;              /* 0: min(online CPUs, 4); the single stream always uses one */
	const char *what;         /* progress label */
	int show;                 /* progress on stderr */
	int (*cancel)(void);      /* checked every chunk: nonzero stops with -ECANCELED */
};
int copy_run(struct copy_job *j);

/* repair.c: leftovers of killed snapshots, never under a live one. */
/* The volume's capture lock: an fd to close when done, -EBUSY when held and !wait. */
int capture_lock(struct ctl *c, const char *vol, int wait);
/* Repairs vol's stack (lock held by the caller); 0, or 1 after saying why not. */
int repair_locked(const char *vol);
/* Takes vol's capture lock (refusing if a snapshot holds it) and repairs; 0 or 1. */
int repair_volume(struct ctl *c, const char *vol, int *lock_fd);
/* Repairs every other volume whose capture lock is free. */
void repair_others(struct ctl *c, const char *except);

/* cmd_volume.c: making a new volume in steps (restores fill it in between). */
struct vol_spec {
	uint64_t size;            /* bytes; 0 with a device: all of it */
	unsigned int sector;      /* 0: 4096 where possible */
	int encrypted;
	const char *key;          /* id, ARN or alias */
	const char *device;       /* NULL: a sparse file in the store */
	const char *snapshot_id;  /* recorded as the source */
};
struct vol_new {
	char vol[32];
	char path[4096];
	struct json_object *rec;
	int created_file;
};
int volume_new(struct ctl *c, const struct vol_spec *sp, struct vol_new *nv);
int volume_new_commit(struct ctl *c, struct vol_new *nv);
void volume_new_abort(struct vol_new *nv);

/* cmd_snapshot.c */
int volume_restore(struct ctl *c, const char *snap, struct vol_spec *sp, int want_enc,
		   int no_enc, const char *key, int key_given);
int cmd_snapshot_create(struct ctl *c, int argc, char **argv);
int cmd_snapshot_list(struct ctl *c, int argc, char **argv);
int cmd_snapshot_describe(struct ctl *c, int argc, char **argv);
int cmd_snapshot_delete(struct ctl *c, int argc, char **argv);
int cmd_snapshot_copy(struct ctl *c, int argc, char **argv);
#endif
