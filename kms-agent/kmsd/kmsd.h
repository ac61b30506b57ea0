/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ebscrypt-kmsd internals shared between its small single-purpose files:
 * config.c (config file), store.c (the store interface; store_sqlite.c and
 * store_pg.c its SQLite and PostgreSQL backends, store_rows.c what a
 * row read from either owns), crypto.c (root key, material
 * wrapping, ciphertext blobs), auth.c (SigV4 verification), policy.c
 * (key policy and grants), audit.c (audit trail), kreq.c (a request's
 * fields and errors), router.c (protocol and dispatch), keys.c (key
 * references, material, rotation), page.c (List* paging), ops_*.c (one
 * file per family of operations), http.c (libmicrohttpd), tls.c (HTTPS
 * with OpenSSL in front of it), source_cap.c (connections per client
 * address), init.c (bootstrap), main.c.
 */
#ifndef EBSCRYPT_KMSD_H
#define EBSCRYPT_KMSD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "secjson.h"
#include "paths.h"
#include "sigv4.h"

#define KMSD_DEFAULT_CONFIG EBS_SYSCONFDIR "/ebscrypt/kmsd.conf"
#define KMSD_DEFAULT_STATE_DIR EBS_LOCALSTATEDIR "/lib/ebscrypt-kmsd"
/* The system user the packages make and the unit runs the daemon as. */
#define KMSD_SERVICE_USER "ebscrypt-kmsd"
#define KMSD_ROOT_KEY_FILE "root.key"
#define KMSD_DB_FILE "kmsd.db"
#define KMSD_MANAGED_EBS_ALIAS "alias/aws/ebs"

enum kmsd_role { ROLE_NONE = 0, ROLE_USER = 1, ROLE_ADMIN = 2 };

struct principal {
	char *name;
	char *arn;
	char *access_key_id;     /* NULL: only temporary credentials (sessions.c) */
	char *secret;            /* secmem */
	size_t secret_len;
	enum kmsd_role role;
};

struct kmsd_config {
	char *listen;            /* "127.0.0.1:8700", "[::1]:8700", "0.0.0.0:8700", "unix:/path" */
	char *state_dir;
	char *region;
	char *account_id;
	char *tls_cert;
	char *tls_key;
	char *tls_client_ca;     /* set: every client must present a certificate it signs */
	size_t max_body;
	unsigned int max_connections;
	unsigned int threads;
	unsigned int connection_timeout;
	unsigned int request_timeout;     /* seconds for a whole request, headers and body */
	unsigned int max_connections_per_source;
	unsigned int max_skew;
	char *service_host_name;  /* NULL: any Host; else the one requests must be signed for */
	struct principal *principals;
	size_t nprincipals;
	/* The store: "sqlite" (state_dir/kmsd.db) or "postgresql" (pg_conninfo). */
	char *store;
	char *pg_conninfo;       /* a libpq connection string; no password in it */
	int durable;             /* 0: commits not flushed (benchmark ceiling only) */
};

/* config.c */
int config_parse(const char *text, const char *base_dir, struct kmsd_config *cfg,
		 char *err, size_t errlen);
int config_load(const char *path, struct kmsd_config *cfg, char *err, size_t errlen);
const char *config_path(const char *cfg_path, const char *state_dir, char *buf, size_t len);
void config_free(struct kmsd_config *cfg);
const struct principal *config_find_access_key(const struct kmsd_config *cfg, const char *akid);
const struct principal *config_find_principal(const struct kmsd_config *cfg, const char *name);
/* Whether the listen address is loopback or a Unix socket (plain HTTP allowed). */
int config_listen_is_local(const char *listen);

/* The running service. */
struct kmsd {
	struct kmsd_config *cfg;
	struct store *db;        /* serialises what it must itself (store.c) */
	pthread_mutex_t lock;    /* for in-memory state; requests do not hold it */
	uint8_t *root_key;       /* secmem, 32 bytes */
	long long (*now)(void);  /* Unix seconds; replaceable in tests */
};

/* A key as stored. */
struct kms_key {
	char id[40];
	char owner[256];
	char *description;
	char state[24];          /* Enabled, Disabled, PendingDeletion */
	long long created;
	long long deletion_date;
	int pending_days;
	int rotation_enabled;
	int rotation_period;
	long long last_rotation;
	long long on_demand_rotation;
	int managed;             /* 1: AWS managed (alias/aws/...) */
	uint32_t current_version;
	char *policy_admins;     /* keys stored before key policy documents: JSON arrays of */
	char *policy_users;      /* principal ARNs, "[]" for the others */
	char *policy;            /* the key policy document; NULL for those older keys */
};

struct kms_grant {
	char id[72];
	char token[136];
	char key_id[40];
	char grantee[256];
	char retiring[256];
	char name[256];
	char *operations;        /* JSON array */
	char *constraints;       /* JSON object or NULL */
	long long created;
	char issuing[32];
};

/*
 * store.c: the key store, one transaction per request. All -errno; -ENOENT
 * when absent. Between store_begin() and store_commit()/store_rollback() the
 * calling thread holds a transaction of its own; the other calls run in it.
 * The backends (store_sqlite.c, store_pg.c) implement struct store_ops
 * (store_backend.h); docs/kmsd-storage.md says how each keeps requests
 * consistent.
 */
struct store;
int store_open(const struct kmsd_config *cfg, struct store **db);
int store_open_sqlite(const char *path, int durable, struct store **db);
int store_open_pg(const char *conninfo, unsigned int connections, int durable,
		  struct store **db);
void store_close(struct store *db);
int store_begin(struct store *db);
/* Undoes what this request changed since store_begin(); the transaction goes on. */
int store_undo(struct store *db);
/* 0 once the transaction is durable (with durable = on). */
int store_commit(struct store *db);
void store_rollback(struct store *db);
/*
 * Whether the transaction just ended (or failing now) lost a race with a
 * concurrent one (another instance, another connection): running the whole
 * request again is then correct.
 */
int store_conflict(struct store *db);
const char *store_kind(const struct store *db);
int store_key_get(struct store *db, const char *id, struct kms_key *k);
int store_key_put(struct store *db, const struct kms_key *k);
int store_key_purge(struct store *db, const char *id);
/* Frees what a key or grant owns; idempotent, and safe on a zeroed one. */
void kms_key_free(struct kms_key *k);
#define _cleanup_key_ _cleanup_(kms_key_free)
int store_keys_list(struct store *db, const char *after, int limit,
		    int (*fn)(void *arg, const char *id), void *arg);
int store_material_put(struct store *db, const char *key_id, uint32_t version,
		       const uint8_t *wrapped, size_t len, long long created);
int store_material_get(struct store *db, const char *key_id, uint32_t version,
		       uint8_t *wrapped, size_t cap, size_t *len);
/*
 * Keys plus material rows (0: an empty store), or -errno. This and
 * store_materials_each() run in a transaction of their own: call them
 * outside one (kmsd does, at startup).
 */
int store_count_keys(struct store *db);
/* Calls fn on every wrapped material row; stops at fn's first non-zero return. */
int store_materials_each(struct store *db, int (*fn)(void *arg, const char *key_id, uint32_t version,
						const uint8_t *wrapped, size_t len), void *arg);
int store_alias_get(struct store *db, const char *name, char key_id[40]);
enum alias_put { ALIAS_CREATE, ALIAS_REPOINT };
int store_alias_put(struct store *db, const char *name, const char *key_id, long long now,
		    enum alias_put how);
int store_alias_delete(struct store *db, const char *name);
struct alias_row {
	const char *name;
	const char *key_id;
	long long created;
	long long updated;
};
int store_aliases_list(struct store *db, const char *key_id, const char *after, int limit,
		       int (*fn)(void *arg, const struct alias_row *a), void *arg);
int store_grant_put(struct store *db, const struct kms_grant *g);
int store_grant_get(struct store *db, const char *id, const char *token, struct kms_grant *g);
int store_grant_delete(struct store *db, const char *id);
void kms_grant_free(struct kms_grant *g);
#define _cleanup_grant_ _cleanup_(kms_grant_free)
int store_grants_list(struct store *db, const char *key_id, const char *grantee, const char *after,
		      int limit, int (*fn)(void *arg, const struct kms_grant *g), void *arg);
struct audit_row {
	const char *time;        /* ISO 8601 UTC, milliseconds */
	const char *request_id;
	const char *principal;
	const char *access_key_id;
	const char *source;
	const char *operation;
	const char *key_id;
	const char *encryption_context;  /* JSON */
	const char *outcome;     /* success, failure */
	const char *error_type;
	int http_status;
};
int store_audit_put(struct store *db, const struct audit_row *a);
/*
 * A request that failed before it was authenticated: counted in the row of
 * (interval, source), or of (interval, "other") once max_sources rows exist
 * for the interval; starting a row first drops those of intervals before
 * horizon (audit.c says why).
 */
struct audit_unauth {
	const char *interval;    /* ISO 8601 UTC start of the interval */
	const char *horizon;     /* rows of intervals before it are dropped */
	const char *source;
	const char *time;        /* this failure's time */
	const char *error_type;
	int max_sources;
};
int store_audit_unauth_put(struct store *db, const struct audit_unauth *u);
/* An audit record as `audit` and `audit export` read it back. */
struct audit_rec {
	int unauthenticated;     /* a count of unauthenticated failures, not a request */
	long long seq;
	const char *time;        /* a count's: the start of its interval */
	const char *request_id;
	const char *principal;
	const char *access_key_id;
	const char *source;
	const char *operation;
	const char *key_id;
	const char *encryption_context;
	const char *outcome;
	const char *error_type;  /* a count's: the last failure's */
	int http_status;
	long long count;         /* a count's */
	const char *last_time;   /* a count's */
};
/*
 * Calls fn on the records from since on (NULL: all), of the key key (its id
 * or ARN; NULL: every key, and the counts), in time order; stops at fn's
 * first non-zero return. One consistent snapshot, read in a transaction of
 * its own (never call it between store_begin() and commit) that does not
 * hold up the requests being served meanwhile.
 */
int store_audit_each(struct store *db, const char *since, const char *key,
		     int (*fn)(void *arg, const struct audit_rec *r), void *arg);
/* Deletes both kinds of records from before before, in a transaction of its own; *n: how many. */
int store_audit_prune(struct store *db, const char *before, long long *n);
/* An online, consistent copy of a SQLite store into a new file dest. */
int store_backup_sqlite(const char *src, const char *dest);

/* crypto.c */
#define KMS_MATERIAL_LEN 32
#define KMS_WRAPPED_LEN (12 + KMS_MATERIAL_LEN + 16)
#define KMS_BLOB_MAGIC "EKMS"
#define KMS_BLOB_VERSION 1
#define KMS_MAX_PLAINTEXT 4096
#define KMS_MAX_BLOB 6144
int crypto_load_root_key(const char *state_dir, uint8_t **root_key);
/*
 * The service's root key for the store db: created only when the store is
 * empty, and refused (-ENOKEY, -EKEYREJECTED, logged naming both files)
 * when the store holds material that it cannot open.
 */
int crypto_open_root_key(const char *state_dir, struct store *db, uint8_t **root_key);
void crypto_free_root_key(uint8_t *root_key);
int crypto_new_material(const uint8_t *root_key, const char *key_id, uint32_t version,
			uint8_t wrapped[KMS_WRAPPED_LEN]);
int crypto_unwrap_material(const uint8_t *root_key, const char *key_id, uint32_t version,
			   const uint8_t *wrapped, size_t len, uint8_t material[KMS_MATERIAL_LEN]);
/* Canonical context bytes (sorted by key, length-prefixed); ctx may be NULL. */
int crypto_context_bytes(struct json_object *ctx, uint8_t **out, size_t *len);
int crypto_blob_encrypt(const uint8_t material[KMS_MATERIAL_LEN], const char *key_id,
			uint32_t version, struct json_object *ctx,
			const uint8_t *plain, size_t plain_len, uint8_t **blob, size_t *blob_len);
/* Header fields of a blob, without decrypting: -EINVAL when malformed. */
int crypto_blob_peek(const uint8_t *blob, size_t len, char key_id[40], uint32_t *version);
/* -EBADMSG when authentication fails (wrong key, context or tampered). */
int crypto_blob_decrypt(const uint8_t material[KMS_MATERIAL_LEN],
			const uint8_t *blob, size_t len, struct json_object *ctx,
			uint8_t *plain, size_t cap, size_t *plain_len);
void crypto_uuid(char out[37]);
void crypto_random_hex(char *out, size_t nbytes);

/* A request in flight. */
struct kreq {
	struct kmsd *k;
	const char *op;
	struct json_object *in;
	struct json_object *out;
	const struct principal *who;
	const char *access_key_id;
	const char *source;
	char session_access_key_id[32];  /* temporary credentials' key id, for access_key_id */
	char request_id[37];
	int status;
	char err_type[64];
	char err_msg[512];
	char audit_key[256];
	struct json_object *audit_ctx;  /* borrowed from in */
	struct secjson_secret secret;   /* the reply's plaintext member, value in secmem */
};

/* kreq.c: records the request's AWS error (the first one wins); returns -1. */
int kfail(struct kreq *req, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Request field helpers (kreq.c): -1 after kfail(), 0 absent, 1 present. */
enum field_need { FIELD_OPTIONAL, FIELD_REQUIRED };
int jget_str(struct kreq *req, const char *name, enum field_need need, size_t maxlen, const char **out);
int jget_int(struct kreq *req, const char *name, enum field_need need, long long lo, long long hi,
	     long long *out);
int jget_bool(struct kreq *req, const char *name, int *out);
int jget_ctx(struct kreq *req, const char *name, struct json_object **out);
int jget_blob(struct kreq *req, const char *name, enum field_need need, size_t maxlen,
	      uint8_t **out, size_t *len);
int jget_str_array(struct kreq *req, const char *name, enum field_need need, struct json_object **out);

/* Key references, states, ARNs, material and rotation (keys.c). */
void key_arn(const struct kmsd *k, const char *id, char *out, size_t len);
void alias_arn(const struct kmsd *k, const char *name, char *out, size_t len);
/* What a key reference may be. */
enum key_ref {
	KEY_REF_ID,               /* a key id or key ARN */
	KEY_REF_ALIAS,            /* that, or an alias or alias ARN */
	KEY_REF_ALIAS_MANAGED,    /* that, and alias/aws/ebs is created on first use, as AWS does */
};
int key_resolve(struct kreq *req, const char *ref, enum key_ref accept, struct kms_key *key);
int key_usable(struct kreq *req, const struct kms_key *key);
/* Creates and stores material version `version` of key id. */
int key_new_material(struct kreq *req, const char *id, uint32_t version);
int key_material(struct kreq *req, const struct kms_key *key, uint32_t version,
		 uint8_t material[KMS_MATERIAL_LEN]);
int key_maybe_auto_rotate(struct kreq *req, struct kms_key *key);
int key_rotate(struct kreq *req, struct kms_key *key);

/* page.c: one page of a List* reply (keys, aliases, grants). */
struct kpage {
	struct kreq *req;
	struct json_object *arr;  /* the reply's list */
	int limit, count, more;
	char last[260];           /* the marker of the last entry shown */
};
/* Reads Limit (1..max_limit, default def_limit) and Marker; -1 after kfail(). */
int page_args(struct kreq *req, long long def_limit, long long max_limit, struct kpage *p,
	      const char **marker);
/* The list, under member in the reply. */
void page_begin(struct kpage *p, const char *member);
/*
 * A new entry at the end of the page, marker naming it for NextMarker; NULL
 * when the page is full: the row offered shows there is a next page, stop.
 */
struct json_object *page_entry(struct kpage *p, const char *marker);
/* Truncated, and NextMarker when there is more. */
void page_end(const struct kpage *p);

/* policy.c (the policy language itself: policy_eval.h, policy_eval.c) */
/* 0 allowed, -1 after kfail(AccessDeniedException). op: AWS action without "kms:". */
int authorize(struct kreq *req, const struct kms_key *key, const char *op, struct json_object *ctx);
/* CreateGrant of ops to grantee under constraints (NULL: none): 0, or -1 after kfail(). */
int authorize_create_grant(struct kreq *req, const struct kms_key *key, struct json_object *ops,
			   const char *grantee, struct json_object *constraints);
/* Whether the key policy and the roles alone (no grant) allow op. */
int policy_permits(const struct kreq *req, const struct kms_key *key, const char *op);
int authorize_account(struct kreq *req, enum kmsd_role need);
/* AWS's default key policy for a key created without one (malloc'd). */
char *policy_default(const struct kmsd *k);
/* The key's policy document as GetKeyPolicy shows it (malloc'd). */
char *policy_of_key(const struct kmsd *k, const struct kms_key *key);
/* A document for CreateKey or PutKeyPolicy: checked, and the lockout safety check. */
int policy_check_new(struct kreq *req, const char *text, int bypass_lockout);
int grant_op_valid(const char *op);
/* Whether the grant lists op among its operations. */
int grant_has_op(const struct kms_grant *g, const char *op);

/* audit.c */
int audit_record(struct kmsd *k, const struct kreq *req);
/*
 * The store the audit commands read: config's when config is given (its
 * state_dir replaced by state_dir when that is given too); else, with
 * state_dir, state_dir/kmsd.db when it exists, or else the store of
 * state_dir/kmsd.conf; else that of the default config.
 */
int audit_query(const char *config, const char *state_dir, const char *since, const char *key,
		int json);
/* Deletes the records (both kinds) older than before (ISO 8601 UTC); prints how many. */
int audit_prune(const char *config, const char *state_dir, const char *before);
/* Unauthenticated failures: one row per source per interval, at most this many sources. */
#define AUDIT_UNAUTH_INTERVAL_S 60
#define AUDIT_UNAUTH_MAX_SOURCES 64
#define AUDIT_UNAUTH_RETENTION_S (7 * 24 * 3600)

struct http_header_list {
	struct sigv4_header *h;
	size_t n;
};
/* kreq.c: a header's value (names compare case-insensitively), or NULL. */
const char *http_header_get(const struct http_header_list *hl, const char *name);

/* auth.c: 0 with req->who set, or -1 after kfail. */
int auth_verify(struct kreq *req, const char *method, const char *path, const char *query,
		const struct http_header_list *hl, const char *body, size_t body_len);

/*
 * sessions.c: temporary credentials for a principal, verified without any
 * state but the root key. Lifetimes in seconds.
 */
#define SESSION_MIN_S 1
#define SESSION_MAX_S 129600
#define SESSION_DEFAULT_S 3600
#define SESSION_SECRET_LEN 40
struct session_creds {
	char access_key_id[24];
	char *secret;             /* secmem, SESSION_SECRET_LEN characters */
	char *token;              /* base64 */
	long long expiration;
};
struct session_claims {
	char access_key_id[24];
	char principal[256];
	long long issued;
	long long expiration;
};
int session_issue(const uint8_t *root_key, const char *principal, long long now,
		  long long duration, struct session_creds *out);
void session_creds_free(struct session_creds *c);
/* -EINVAL: not a token this root key issued. secret: SESSION_SECRET_LEN + 1 bytes. */
int session_open(const uint8_t *root_key, const char *token, struct session_claims *cl,
		 char *secret);
/* main.c's `credentials issue` command. */
int sessions_cmd(int argc, char **argv);

/* router.c */
struct http_reply {
	int status;
	char *body;        /* malloc'd, or secmem when sensitive */
	size_t len;
	int sensitive;     /* it holds a plaintext: locked, wiped when freed */
	char request_id[37];
};
void router_handle(struct kmsd *k, const char *method, const char *url,
		   const struct http_header_list *hl, const char *body, size_t body_len,
		   int body_too_large, const char *source, struct http_reply *rep);

/* operation handlers: 0 or -1 after kfail() */
typedef int (*kms_op_fn)(struct kreq *req);
int op_create_key(struct kreq *req);
int op_describe_key(struct kreq *req);
int op_list_keys(struct kreq *req);
int op_enable_key(struct kreq *req);
int op_disable_key(struct kreq *req);
int op_schedule_key_deletion(struct kreq *req);
int op_cancel_key_deletion(struct kreq *req);
int op_enable_key_rotation(struct kreq *req);
int op_disable_key_rotation(struct kreq *req);
int op_get_key_rotation_status(struct kreq *req);
int op_rotate_key_on_demand(struct kreq *req);
int op_create_alias(struct kreq *req);
int op_update_alias(struct kreq *req);
int op_delete_alias(struct kreq *req);
int op_list_aliases(struct kreq *req);
int op_encrypt(struct kreq *req);
int op_decrypt(struct kreq *req);
int op_reencrypt(struct kreq *req);
int op_generate_data_key(struct kreq *req);
int op_generate_data_key_without_plaintext(struct kreq *req);
int op_create_grant(struct kreq *req);
int op_list_grants(struct kreq *req);
int op_list_retirable_grants(struct kreq *req);
int op_retire_grant(struct kreq *req);
int op_revoke_grant(struct kreq *req);
int op_get_key_policy(struct kreq *req);
int op_put_key_policy(struct kreq *req);
int op_list_key_policies(struct kreq *req);

/* http.c */
struct http_server;
int http_start(struct kmsd *k, struct http_server **out);
void http_stop(struct http_server *s);

/* source_cap.c: connections open per client address; callers serialise. */
struct sockaddr;
struct source_cap;
int source_cap_new(unsigned int max_per_source, struct source_cap **out);
/*
 * Counts a connection from sa: 0, or -EBUSY when sa already has
 * max_per_source open, -ENOMEM (not counted either way). *open: how many
 * sa had open before. Addresses that are not IP are never refused.
 */
int source_cap_take(struct source_cap *sc, const struct sockaddr *sa, unsigned int *open);
void source_cap_put(struct source_cap *sc, const struct sockaddr *sa);
void source_cap_free(struct source_cap *sc);

/* tls.c: HTTPS termination. All -errno, errors logged here. */
struct tls_server;
struct tls_limits {
	unsigned int max_conns;          /* all clients together, handshaking or not */
	unsigned int max_per_source;     /* from one client address */
	unsigned int handshake_timeout_s; /* from accept to the end of the handshake */
	unsigned int idle_timeout_s;     /* a client that does not read its replies */
};
/* Takes ownership of fd (the plaintext end) in every case; 0 when accepted. */
typedef int (*tls_handover_fn)(void *arg, int fd, const struct sockaddr *peer,
			       unsigned int peer_len);
/* Loads and checks the certificate and key (a mismatch is refused). */
int tls_server_new(const char *cert, const char *key, const struct tls_limits *lim,
		   struct tls_server **out);
/* Mutual TLS: the handshake fails unless the client's certificate chains to ca_file. */
int tls_server_require_client_ca(struct tls_server *t, const char *ca_file);
int tls_server_start(struct tls_server *t, int listen_fd, tls_handover_fn handover, void *arg);
/* Stops the listener and aborts handshakes; established connections go on. */
void tls_server_stop_accepting(struct tls_server *t);
/* Waits for every connection to end (stop the HTTP server first), then frees. */
void tls_server_free(struct tls_server *t);

/* init.c */
/*
 * Writes a ready-to-run config at config_path, with its secrets (and, for
 * an address other than loopback, a TLS certificate and key) beside it,
 * and creates state_dir; every path in the config is absolute or relative
 * to the config's directory.
 */
int kmsd_init_state(const char *config_path, const char *state_dir, const char *listen);

#endif
