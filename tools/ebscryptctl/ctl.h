/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ebscryptctl internals: the command table, the state directory and the
 * connections (KMS, agent) a command opens on demand.
 *
 * One error convention: every function below a cmd_*() returns 0 or
 * -errno and prints nothing. One that knows why it failed records the
 * sentence with ctl_err() (the first one recorded wins: later failures are
 * consequences), and warnings are queued with ctl_warn(). The boundary,
 * main(), prints the warnings and then the error, once. Commands return
 * 0 or -errno too.
 */
#ifndef EBSCRYPT_CTL_H
#define EBSCRYPT_CTL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "cleanup.h"
#include "conf.h"
#include "kms_client.h"
#include "strbuf.h"
#include "paths.h"

#define CTL_DEFAULT_CONFIG    EBS_SYSCONFDIR "/ebscrypt/ebscryptctl.conf"
#define CTL_DEFAULT_STATE_DIR EBS_LOCALSTATEDIR "/lib/ebscrypt"
#define CTL_DEFAULT_KMS_KEY   "alias/aws/ebs"
/*
 * Every path in the state directory is the directory and at most 64 bytes
 * built from ids and fixed words, plus a temporary file's ".tmp.<pid>", so a
 * directory this long or shorter leaves room for all of them in PATH_MAX:
 * main() checks it once, and state_path() cannot fail.
 */
#define CTL_STATE_REL_MAX 64
#define CTL_STATE_DIR_MAX (PATH_MAX - 2 * CTL_STATE_REL_MAX)

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
	const struct ctl_cmd *cmd;  /* the command running */
	char err[2048];             /* why it fails: the first ctl_err() */
	struct strbuf warnings;     /* queued ctl_warn() lines */
	int status;                 /* exitcode.h: the first classified failure; 0: from the errno */
};

struct ctl_cmd {
	const char *group;        /* "volume" */
	const char *name;         /* "create" */
	const char *synopsis;     /* "--size SIZE [--encrypted] ..." */
	const char *help;         /* paragraph for --help */
	int (*run)(struct ctl *c, int argc, char **argv);
};

extern const struct ctl_cmd ctl_commands[];
const struct ctl_cmd *ctl_find(const char *group, const char *name);

/* report.c: what the boundary tells the user. */
/* Records why the command fails, unless a reason is recorded already; returns rc (< 0). */
int ctl_err(struct ctl *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a KMS call: what failed, and KMS's or the transport's words. */
int ctl_err_kms(struct ctl *c, int rc, const struct kms_error *err, const char *what);
/* Queues a warning; printed before any error. */
void ctl_warn(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the queued warnings now, before a command's long step. */
void ctl_flush_warnings(struct ctl *c);
/* The command line cannot be used (getopt said why): -EINVAL, exit status 2. */
int ctl_usage(struct ctl *c);
/* Classifies the failure (exitcode.h) unless it is classified already; returns rc. */
int ctl_status(struct ctl *c, int status, int rc);
/* Prints the warnings, then rc's reason when rc < 0; returns the exit status (exitcode.h). */
int ctl_finish(struct ctl *c, int rc);
/* Prints --help for a command. */
void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f);

/* state.c */
int state_lock(struct ctl *c);              /* flock on <state>/lock, waits */
void state_unlock(struct ctl *c);
/* <state>/<fmt...> into out; cannot fail (see CTL_STATE_DIR_MAX). */
void state_path(const struct ctl *c, char out[PATH_MAX], const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int state_write_json(const char *path, struct json_object *obj); /* temp, fsync, rename, fsync dir */
int state_read_json(const char *path, struct json_object **obj);
int state_load_volume(struct ctl *c, const char *vol, struct json_object **rec);
int state_save_volume(struct ctl *c, struct json_object *rec);
int state_load_settings(struct ctl *c, int *encrypt_by_default, char *default_key, size_t len);
int state_save_settings(struct ctl *c, int encrypt_by_default, const char *default_key);

/* kmsconn.c */
int ctl_kms(struct ctl *c, struct kms_client **out);
/* Whether alias/aws/ebs may stand for a key KMS has not created yet. */
enum key_lookup {
	KEY_MUST_EXIST,
	KEY_MANAGED_ON_FIRST_USE,  /* KMS creates the managed key with the first data key */
};
/* Resolves id/ARN/alias to the key's ARN, which must be Enabled. */
int ctl_resolve_key(struct ctl *c, const char *key, enum key_lookup lookup, char *arn, size_t arn_len);

/* agentconn.c: one request each. */
int ctl_agent(struct ctl *c, struct json_object *req, struct json_object **rep);
struct json_object *ctl_agent_path(const char *path);
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
/* A list: a line per record (row), or with --json {"member": [records]}. */
void print_records(struct ctl *c, const char *member, struct json_object *arr,
		   void (*row)(struct json_object *o));
void format_time(uint64_t t, char *buf, size_t len);
/* Whether long copies show progress: on a terminal, and not with --json. */
int ctl_show_progress(struct ctl *c);

/* Command implementations (cmd_*.c). */
int cmd_config_show(struct ctl *c, int argc, char **argv);
int cmd_config_set(struct ctl *c, int argc, char **argv);
int cmd_volume_create(struct ctl *c, int argc, char **argv);
int cmd_volume_list(struct ctl *c, int argc, char **argv);
int cmd_volume_describe(struct ctl *c, int argc, char **argv);
int cmd_volume_delete(struct ctl *c, int argc, char **argv);
int cmd_volume_attach(struct ctl *c, int argc, char **argv);
int cmd_volume_detach(struct ctl *c, int argc, char **argv);
int cmd_volume_authorize(struct ctl *c, int argc, char **argv);
int cmd_volume_revoke(struct ctl *c, int argc, char **argv);
int cmd_volume_load_key(struct ctl *c, int argc, char **argv);
int cmd_volume_table(struct ctl *c, int argc, char **argv);
int cmd_volume_modify(struct ctl *c, int argc, char **argv);
int cmd_header_dump(struct ctl *c, int argc, char **argv);
int cmd_header_rewrap(struct ctl *c, int argc, char **argv);
int cmd_agent_status(struct ctl *c, int argc, char **argv);
int cmd_kms_simple(struct ctl *c, int argc, char **argv);
int cmd_kms_call(struct ctl *c, int argc, char **argv);
int cmd_snapshot_create(struct ctl *c, int argc, char **argv);
int cmd_snapshot_list(struct ctl *c, int argc, char **argv);
int cmd_snapshot_describe(struct ctl *c, int argc, char **argv);
int cmd_snapshot_delete(struct ctl *c, int argc, char **argv);
int cmd_snapshot_copy(struct ctl *c, int argc, char **argv);

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
/* Repairs vol's stack; the caller holds its capture lock. */
int repair_locked(struct ctl *c, const char *vol);
/*
 * Takes vol's capture lock (-EBUSY while a snapshot holds it) and repairs.
 * *lock_fd: the lock to close when done, or -1 when it could not be taken
 * for want of access (a member of the agent's group detaching), which is
 * not an error.
 */
int repair_volume(struct ctl *c, const char *vol, int *lock_fd);
/* Repairs every other volume whose capture lock is free; failures are warnings. */
void repair_others(struct ctl *c, const char *except);

/* volume.c: volume records, and making a new volume in steps (restores fill it in between). */
struct vol_spec {
	uint64_t size;            /* bytes; 0 with a device: all of it */
	unsigned int sector;      /* 0: 4096 where possible */
	int encrypted;
	const char *key;          /* id, ARN or alias */
	const char *device;       /* NULL: a sparse file in the store */
	const char *snapshot_id;  /* recorded as the source */
	int force;                /* a device's existing data may be overwritten */
};
struct vol_new {
	char vol[32];
	char path[PATH_MAX];
	struct json_object *rec;
	int created_file;
};
int volume_new(struct ctl *c, const struct vol_spec *sp, struct vol_new *nv);
/* devprobe.c: refuses (-EEXIST, saying what) a device that holds data, unless force. */
int device_refuse_existing(struct ctl *c, int fd, const char *device, int force);
/* devprobe.c: the device's /dev/disk/by-id name; -ENOENT where it has none. */
int device_stable_path(int fd, char *out, size_t len);
/* Saves the record; nv->rec stays for the caller to show, then volume_new_done(). */
int volume_new_commit(struct ctl *c, struct vol_new *nv);
void volume_new_done(struct vol_new *nv);
/* Undoes a new volume that was not committed (its file goes). */
void volume_new_abort(struct vol_new *nv);
/* Prints a committed new volume: its id, or its description with --json. */
void volume_new_print(struct ctl *c, const struct vol_new *nv);
/* The record as list and describe show it, with its attachment (att: from ctl_attachments). */
struct json_object *volume_describe(struct json_object *rec, struct json_object *att);
int volume_backing_path(struct json_object *rec, char *out, size_t len);
/* A volume id or a device/file path, resolved to the path of its header. */
int resolve_device(struct ctl *c, const char *arg, char *path, size_t len);
struct ebs_header;
struct ebs_header_read_info;
/* A header from a file or device: 0, -errno (open) or the parser's error with info saying why. */
int volume_header_read(const char *path, struct ebs_header *h, struct ebs_header_read_info *info);
/* The same, with the reason recorded. */
int volume_header_check(struct ctl *c, const char *path, struct ebs_header *h);

/* find.c: a volume by id, from the catalog (a cache) or a scan of the block devices' headers. */
int volume_find(struct ctl *c, const char *vol, struct json_object **rec);
int volume_scan(struct ctl *c, const char *vol, char *path, size_t len, struct ebs_header *h);

/* grants.c: attach grants, the KMS's record of which host may attach a volume. */
struct attach_grant {
	char grant_id[80];
	char key_arn[256];
	char principal[256];
	char host[256];           /* the name in the host principal's ARN, or the ARN */
	long long since;          /* Unix seconds */
};
/* The grants for vol on key_arn, as the caller may see them; *n of cap filled. */
int attach_grants(struct ctl *c, const char *key_arn, const char *vol, struct attach_grant *g,
		  size_t cap, size_t *n);
/* Adds the KMS's attachment fields to a description of an encrypted volume. */
void attach_describe(struct ctl *c, struct json_object *o);

/* snapshot.c */
/*
 * Snapshots a backing file or device; vol names the attached volume it
 * belongs to, or is NULL when nothing writes to it. *meta (optional): the
 * new snapshot's metadata, with its "image" path.
 */
int snapshot_take(struct ctl *c, const char *src_path, const char *vol,
		  const char *source_snapshot, uint64_t cow_bytes, char *snap_out, size_t snap_len,
		  struct json_object **meta);
int snapshot_load_meta(struct ctl *c, const char *snap, struct json_object **meta, char img[PATH_MAX]);
int snapshot_meta_checksum(struct ctl *c, const char *snap, struct json_object *meta,
			   enum copy_sum *sum, const char **want);
int snapshot_verify_image(struct ctl *c, const char *snap, struct json_object *meta, const char *img);

/* restore.c */
/* What a restore or a copy asks for, beyond the snapshot. */
struct restore_req {
	int encrypt;              /* --encrypted, --kms-key-id or encrypt-by-default */
	int refuse_plain;         /* --no-encryption: an encrypted snapshot is refused */
	const char *key;          /* the KMS key to use: --kms-key-id's, or the default */
	int key_named;            /* --kms-key-id was given: another key means a new DEK */
};
/* Restores SNAP into a new, unrecorded volume (the caller commits or discards it). */
int restore_into(struct ctl *c, const char *snap, struct vol_spec *sp, const struct restore_req *rq,
		 struct vol_new *nv);

#endif
