/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ebscrypt volume header: what a volume says about itself, on its own
 * device, ahead of the data. Layout and the reasons for it are in
 * docs/volumes.md ("Volume header"). Two identical copies: the primary at
 * byte 0 and the backup at EBS_HDR_BACKUP_OFFSET, both before the data.
 *
 * Every byte read from a device is hostile: ebs_header_decode() bounds every
 * length, refuses unknown flags, versions and non-zero reserved bytes, and
 * says why in plain words. Every function returns 0 or -errno.
 */
#ifndef EBSCRYPT_HEADER_H
#define EBSCRYPT_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "kms_client.h"

#define EBS_HDR_MAGIC          "EBSCRYPT"
#define EBS_HDR_MAGIC_LEN      8
#define EBS_HDR_VERSION        1
#define EBS_HDR_SIZE           4096u
#define EBS_HDR_PRIMARY_OFFSET 0u
#define EBS_HDR_BACKUP_OFFSET  65536u
/* Data starts at 1 MiB: room for both copies, 1 MiB aligned like LUKS2. */
#define EBS_HDR_DEFAULT_DATA_OFFSET 2048u          /* 512-byte sectors */
#define EBS_HDR_MIN_DATA_OFFSET ((EBS_HDR_BACKUP_OFFSET + EBS_HDR_SIZE) / 512)
#define EBS_HDR_MAX_DATA_OFFSET (1u << 20)         /* 512 MiB */

#define EBS_HDR_FLAG_ENCRYPTED 0x1u
#define EBS_HDR_KNOWN_FLAGS    EBS_HDR_FLAG_ENCRYPTED

#define EBS_HDR_CIPHER         "aes-xts-plain64"
#define EBS_HDR_CIPHER_NONE    "none"
#define EBS_HDR_KEY_BYTES      64u

#define EBS_HDR_VOLID_MAX      31
#define EBS_HDR_CIPHER_MAX     31
#define EBS_HDR_ARN_MAX        2048
#define EBS_HDR_WRAPPED_MAX    1024
#define EBS_HDR_CTX_MAX        8
#define EBS_HDR_CTX_KEY_MAX    128
#define EBS_HDR_CTX_VALUE_MAX  256
#define EBS_HDR_LINEAGE_LEN    16
#define EBS_HDR_KCV_LEN        16

/* Encryption-context keys ebscrypt binds every wrapped DEK to. */
#define EBS_CTX_VOLUME_ID      "ebscrypt:volume-id"
#define EBS_CTX_LINEAGE        "ebscrypt:lineage"

struct ebs_header_ctx_pair {
	char key[EBS_HDR_CTX_KEY_MAX + 1];
	char value[EBS_HDR_CTX_VALUE_MAX + 1];
};

struct ebs_header {
	uint16_t version;
	uint32_t flags;
	uint64_t seqno;          /* bumped on every rewrite; newest valid copy wins */
	uint64_t created;        /* Unix seconds */
	uint64_t data_offset;    /* 512-byte sectors from the device start */
	uint64_t data_sectors;   /* 512-byte sectors of volume data */
	uint32_t sector_size;    /* encryption sector size, bytes */
	uint32_t key_bytes;      /* 64 when encrypted, 0 otherwise */
	uint8_t lineage[EBS_HDR_LINEAGE_LEN];
	uint8_t kcv[EBS_HDR_KCV_LEN];
	char volume_id[EBS_HDR_VOLID_MAX + 1];
	char cipher[EBS_HDR_CIPHER_MAX + 1];
	char kms_key_arn[EBS_HDR_ARN_MAX + 1];
	uint8_t wrapped_dek[EBS_HDR_WRAPPED_MAX];
	size_t wrapped_len;
	struct ebs_header_ctx_pair ctx[EBS_HDR_CTX_MAX];
	size_t ctx_count;
};

/* Which copy a read used, and why the other was not used. */
struct ebs_header_read_info {
	int used_backup;          /* 1: the primary copy was bad or older */
	int primary_rc, backup_rc;
	char primary_why[160];
	char backup_why[160];
};

static inline int ebs_header_encrypted(const struct ebs_header *h)
{
	return !!(h->flags & EBS_HDR_FLAG_ENCRYPTED);
}

/* Fills the defaults of a new header (no key material). */
void ebs_header_init(struct ebs_header *h, const char *volume_id,
		     uint64_t data_sectors, uint32_t sector_size, int encrypted);

/* Checks the semantic rules a header must obey (both encode and decode). */
int ebs_header_validate(const struct ebs_header *h, char *why, size_t why_len);

/* Serialises h into exactly EBS_HDR_SIZE bytes, checksum included. */
int ebs_header_encode(const struct ebs_header *h, uint8_t *buf, size_t buf_len);

/*
 * Parses one copy. Errors: -ENODATA (too short), -EMEDIUMTYPE (no magic: not
 * an ebscrypt volume), -EPROTONOSUPPORT (unknown version or flags),
 * -EBADMSG (checksum mismatch), -EINVAL (a field out of bounds).
 */
int ebs_header_decode(const uint8_t *buf, size_t len, struct ebs_header *h,
		      char *why, size_t why_len);

/*
 * Reads both copies from fd and returns the newest valid one. Fails only when
 * neither copy is valid; info (optional) says what happened to each copy.
 */
int ebs_header_read(int fd, struct ebs_header *h, struct ebs_header_read_info *info);

/*
 * Writes both copies: backup first, synced, then primary, synced, so that a
 * crash at any instant leaves at least one valid copy (see docs/volumes.md).
 */
int ebs_header_write(int fd, const struct ebs_header *h);

/* Key check value: the first 16 bytes of HMAC-SHA256(dek, "ebscrypt-kcv"). */
int ebs_header_kcv(const uint8_t *dek, size_t dek_len, uint8_t out[EBS_HDR_KCV_LEN]);

/* Looks up a context value by key; NULL when absent. */
const char *ebs_header_ctx_get(const struct ebs_header *h, const char *key);
int ebs_header_ctx_set(struct ebs_header *h, const char *key, const char *value);

/*
 * An encryption context as the KMS client takes it (kms_client.h), over n
 * pairs (at most EBS_HDR_CTX_MAX are used): the returned context points
 * into out and into cp, which must outlive it.
 */
struct ebs_kms_context {
	struct kms_context_pair pairs[EBS_HDR_CTX_MAX];
	struct kms_context ctx;
};
const struct kms_context *ebs_kms_context(const struct ebs_header_ctx_pair *cp, size_t n,
					  struct ebs_kms_context *out);
/* The header's own context: the one its wrapped DEK is bound to. */
static inline const struct kms_context *ebs_header_kms_context(const struct ebs_header *h,
							       struct ebs_kms_context *out)
{
	return ebs_kms_context(h->ctx, h->ctx_count, out);
}

/* "vol-" followed by 17 lowercase hex digits (also "snap-"). */
int ebs_id_valid(const char *id, const char *prefix);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void ebs_hex(const uint8_t *in, size_t len, char *out);

#endif
