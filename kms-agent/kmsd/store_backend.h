/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a store backend provides: store.c forwards each store_*() call to
 * these, so the SQL of each backend stays in its own file.
 */
#ifndef EBSCRYPT_KMSD_STORE_BACKEND_H
#define EBSCRYPT_KMSD_STORE_BACKEND_H

#include "kmsd.h"

struct store_ops {
	const char *kind;
	int (*begin)(struct store *s);
	int (*undo)(struct store *s);
	int (*commit)(struct store *s);
	void (*rollback)(struct store *s);
	int (*conflict)(struct store *s);
	void (*close)(struct store *s);
	int (*key_get)(struct store *s, const char *id, struct kms_key *k);
	int (*key_put)(struct store *s, const struct kms_key *k);
	int (*key_purge)(struct store *s, const char *id);
	int (*keys_list)(struct store *s, const char *after, int limit,
			 int (*fn)(void *arg, const char *id), void *arg);
	int (*material_put)(struct store *s, const char *key_id, uint32_t version,
			    const uint8_t *wrapped, size_t len, long long created);
	int (*material_get)(struct store *s, const char *key_id, uint32_t version,
			    uint8_t *wrapped, size_t cap, size_t *len);
	int (*alias_get)(struct store *s, const char *name, char key_id[40]);
	int (*alias_put)(struct store *s, const char *name, const char *key_id, long long now,
			 enum alias_put how);
	int (*alias_delete)(struct store *s, const char *name);
	int (*aliases_list)(struct store *s, const char *key_id, const char *after, int limit,
			    int (*fn)(void *arg, const struct alias_row *a), void *arg);
	int (*grant_put)(struct store *s, const struct kms_grant *g);
	int (*grant_get)(struct store *s, const char *id, const char *token, struct kms_grant *g);
	int (*grant_delete)(struct store *s, const char *id);
	int (*grants_list)(struct store *s, const char *key_id, const char *grantee,
			   const char *after, int limit,
			   int (*fn)(void *arg, const struct kms_grant *g), void *arg);
	int (*audit_put)(struct store *s, const struct audit_row *a);
	int (*audit_unauth_put)(struct store *s, const struct audit_unauth *u);
	/* These two run a transaction of their own. */
	int (*audit_each)(struct store *s, const char *since, const char *key,
			  int (*fn)(void *arg, const struct audit_rec *r), void *arg);
	int (*audit_prune)(struct store *s, const char *before, long long *n);
	int (*count_keys)(struct store *s);
	int (*materials_each)(struct store *s, int (*fn)(void *arg, const char *key_id,
							  uint32_t version, const uint8_t *wrapped,
							  size_t len), void *arg);
};

/* Each backend's own state begins with this. */
struct store {
	const struct store_ops *ops;
};

#endif
