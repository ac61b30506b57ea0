// SPDX-License-Identifier: GPL-2.0
/*
 * Key material and ciphertext blobs, all AES-256-GCM through OpenSSL EVP.
 *
 * Blob (version 1), big-endian integers:
 *   0      4  magic "EKMS"
 *   4      1  format version (1)
 *   5      1  key id length L (1..39)
 *   6      L  key id (the KMS key's UUID, ASCII)
 *   6+L    4  key material version
 *   10+L  12  GCM nonce (fresh per blob)
 *   22+L   n  ciphertext
 *   22+L+n 16 GCM tag
 * AAD = bytes [0, 22+L) followed by the canonical encryption context, so
 * the header cannot be re-pointed at another key or version and the blob
 * only opens under the exact context it was made with.
 *
 * Key material at rest: nonce(12) | ciphertext(32) | tag(16) under the root
 * key, AAD "ebscrypt-kmsd material v1" | key id | version, so a wrapped
 * material row cannot be swapped between keys or versions in the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kmsd.h"
#include "log.h"
#include "readfile.h"
#include "secmem.h"
#include "strbuf.h"

#define ROOT_KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define MATERIAL_AAD "ebscrypt-kmsd material v1"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum gcm_dir { GCM_OPEN = 0, GCM_SEAL = 1 };  /* EVP_CipherInit_ex's enc */

static int gcm(enum gcm_dir dir, const uint8_t *key, const uint8_t *nonce,
	       const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2, size_t aad2_len,
	       const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int enc = dir == GCM_SEAL, n, ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) &&
	     EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc);
	if (ok && aad1_len)
		ok = EVP_CipherUpdate(c, NULL, &n, aad1, (int)aad1_len);
	if (ok && aad2_len)
		ok = EVP_CipherUpdate(c, NULL, &n, aad2, (int)aad2_len);
	if (ok && len)
		ok = EVP_CipherUpdate(c, out, &n, in, (int)len);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag);
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + len, &n);
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag);
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		if (len)
			OPENSSL_cleanse(out, len);
		return enc ? -EIO : -EBADMSG;
	}
	return 0;
}

/* First start: a new root key, never overwriting one that raced us. */
static int create_root_key(const char *path, uint8_t **root_key)
{
	_cleanup_secmem_ uint8_t *key = secmem_alloc(ROOT_KEY_LEN);
	int fd, rc = 0;

	if (!key)
		return -errno;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (RAND_priv_bytes(key, ROOT_KEY_LEN) != 1)
		rc = -EIO;
	else if (write(fd, key, ROOT_KEY_LEN) != ROOT_KEY_LEN || fsync(fd))
		rc = -EIO;
	close(fd);
	if (rc) {
		unlink(path);
		return rc;
	}
	ebs_info("created root key %s", path);
	*root_key = TAKE_PTR(key);
	return 0;
}

int crypto_load_root_key(const char *state_dir, uint8_t **root_key)
{
	_cleanup_file_ struct ebs_file f = { 0 };
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", state_dir, KMSD_ROOT_KEY_FILE);
	rc = ebs_file_read(path, ROOT_KEY_LEN, EBS_FILE_NOFOLLOW | EBS_FILE_PRIVATE | EBS_FILE_SECRET, &f);
	if (rc == -ENOENT)
		return create_root_key(path, root_key);
	if (rc == -EPERM)
		ebs_err("%s is accessible by group or others (mode %03o); refusing it",
			path, f.st.st_mode & 0777);
	if (rc == -EFBIG || (!rc && f.len != ROOT_KEY_LEN))
		rc = -EINVAL;
	if (rc)
		return rc;
	/* The file's locked buffer is the key (secmem_free() in crypto_free_root_key). */
	*root_key = (uint8_t *)TAKE_PTR(f.data);
	return 0;
}

struct material_check {
	const uint8_t *root_key;
	char key_id[64];
	uint32_t version;
	long n;
};

static int check_material(void *arg, const char *key_id, uint32_t version,
			  const uint8_t *wrapped, size_t len)
{
	struct material_check *mc = arg;
	uint8_t *m = secmem_alloc(KMS_MATERIAL_LEN);
	int rc;

	if (!m)
		return -ENOMEM;
	rc = crypto_unwrap_material(mc->root_key, key_id, version, wrapped, len, m);
	secmem_free(m);
	if (rc) {
		snprintf(mc->key_id, sizeof(mc->key_id), "%s", key_id ? key_id : "?");
		mc->version = version;
		return -EKEYREJECTED;
	}
	mc->n++;
	return 0;
}

int crypto_open_root_key(const char *state_dir, sqlite3 *db, uint8_t **root_key)
{
	struct material_check mc = { 0 };
	char path[4096], db_path[4096];
	struct stat st;
	int n, rc;

	snprintf(path, sizeof(path), "%s/%s", state_dir, KMSD_ROOT_KEY_FILE);
	snprintf(db_path, sizeof(db_path), "%s/%s", state_dir, KMSD_DB_FILE);
	n = store_count_keys(db);
	if (n < 0)
		return n;
	/* A new root key would open none of the keys there: only an empty store gets one. */
	if (n > 0 && lstat(path, &st) && errno == ENOENT) {
		ebs_err("%s holds keys but the root key %s is missing: restore it from the backup "
			"made with the store; refusing to start", db_path, path);
		return -ENOKEY;
	}
	rc = crypto_load_root_key(state_dir, root_key);
	if (rc)
		return rc;
	mc.root_key = *root_key;
	rc = store_materials_each(db, check_material, &mc);
	if (rc == -EKEYREJECTED) {
		ebs_err("the root key %s cannot open the material of key %s (version %u) in %s: "
			"it is not the root key this store was made with; refusing to start",
			path, mc.key_id, mc.version, db_path);
	}
	if (rc) {
		crypto_free_root_key(*root_key);
		*root_key = NULL;
		return rc;
	}
	ebs_debug("root key %s opens all %ld key material version(s) in %s", path, mc.n, db_path);
	return 0;
}

void crypto_free_root_key(uint8_t *root_key)
{
	secmem_free(root_key);
}

static size_t material_aad(const char *key_id, uint32_t version, uint8_t *aad)
{
	size_t l = strlen(MATERIAL_AAD), kl = strlen(key_id);

	memcpy(aad, MATERIAL_AAD, l);
	memcpy(aad + l, key_id, kl);
	put_be32(aad + l + kl, version);
	return l + kl + 4;
}

int crypto_new_material(const uint8_t *root_key, const char *key_id, uint32_t version,
			uint8_t wrapped[KMS_WRAPPED_LEN])
{
	uint8_t *m = secmem_alloc(KMS_MATERIAL_LEN);
	uint8_t aad[128];
	size_t alen;
	int rc;

	if (!m)
		return -errno;
	if (strlen(key_id) > 64) {
		secmem_free(m);
		return -EINVAL;
	}
	if (RAND_priv_bytes(m, KMS_MATERIAL_LEN) != 1 || RAND_bytes(wrapped, NONCE_LEN) != 1) {
		secmem_free(m);
		return -EIO;
	}
	alen = material_aad(key_id, version, aad);
	rc = gcm(GCM_SEAL, root_key, wrapped, aad, alen, NULL, 0, m, KMS_MATERIAL_LEN,
		 wrapped + NONCE_LEN, wrapped + NONCE_LEN + KMS_MATERIAL_LEN);
	secmem_free(m);
	return rc;
}

int crypto_unwrap_material(const uint8_t *root_key, const char *key_id, uint32_t version,
			   const uint8_t *wrapped, size_t len, uint8_t material[KMS_MATERIAL_LEN])
{
	uint8_t aad[128], tag[TAG_LEN];
	size_t alen;

	if (len != KMS_WRAPPED_LEN || strlen(key_id) > 64)
		return -EINVAL;
	alen = material_aad(key_id, version, aad);
	memcpy(tag, wrapped + NONCE_LEN + KMS_MATERIAL_LEN, TAG_LEN);
	return gcm(GCM_OPEN, root_key, wrapped, aad, alen, NULL, 0, wrapped + NONCE_LEN,
		   KMS_MATERIAL_LEN, material, tag);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int crypto_context_bytes(struct json_object *ctx, uint8_t **out, size_t *len)
{
	const char **keys = NULL;
	struct strbuf sb;
	size_t n = 0, i;
	uint8_t be[4];

	*out = NULL;
	*len = 0;
	if (!ctx || !json_object_is_type(ctx, json_type_object) || !json_object_object_length(ctx))
		return 0;
	keys = calloc((size_t)json_object_object_length(ctx), sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	{
		json_object_object_foreach(ctx, kk, vv) {
			(void)vv;
			keys[n++] = kk;
		}
	}
	qsort(keys, n, sizeof(*keys), cmp_keys);
	sb_init(&sb);
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_object_get(ctx, keys[i]);
		const char *s = json_object_get_string(v);
		size_t kl = strlen(keys[i]), vl = (size_t)json_object_get_string_len(v);

		put_be32(be, (uint32_t)kl);
		sb_add(&sb, be, 4);
		sb_add(&sb, keys[i], kl);
		put_be32(be, (uint32_t)vl);
		sb_add(&sb, be, 4);
		sb_add(&sb, s, vl);
	}
	free(keys);
	*len = sb.len;
	return sb_finish(&sb, (char **)out);
}

int crypto_blob_encrypt(const uint8_t material[KMS_MATERIAL_LEN], const char *key_id,
			uint32_t version, struct json_object *ctx,
			const uint8_t *plain, size_t plain_len, uint8_t **blob, size_t *blob_len)
{
	size_t kl = strlen(key_id), hl = 22 + kl, total = hl + plain_len + TAG_LEN, clen;
	uint8_t *b, *cb;
	int rc;

	if (!kl || kl > 39)
		return -EINVAL;
	b = malloc(total);
	if (!b)
		return -ENOMEM;
	memcpy(b, KMS_BLOB_MAGIC, 4);
	b[4] = KMS_BLOB_VERSION;
	b[5] = (uint8_t)kl;
	memcpy(b + 6, key_id, kl);
	put_be32(b + 6 + kl, version);
	if (RAND_bytes(b + 10 + kl, NONCE_LEN) != 1) {
		free(b);
		return -EIO;
	}
	rc = crypto_context_bytes(ctx, &cb, &clen);
	if (!rc)
		rc = gcm(GCM_SEAL, material, b + 10 + kl, b, hl, cb, clen, plain, plain_len,
			 b + hl, b + hl + plain_len);
	free(cb);
	if (rc) {
		free(b);
		return rc;
	}
	*blob = b;
	*blob_len = total;
	return 0;
}

int crypto_blob_peek(const uint8_t *blob, size_t len, char key_id[40], uint32_t *version)
{
	size_t kl, i;

	if (len < 6 || memcmp(blob, KMS_BLOB_MAGIC, 4) || blob[4] != KMS_BLOB_VERSION)
		return -EINVAL;
	kl = blob[5];
	if (!kl || kl > 39 || len < 22 + kl + TAG_LEN)
		return -EINVAL;
	for (i = 0; i < kl; i++) {
		char c = (char)blob[6 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
			return -EINVAL;
		key_id[i] = c;
	}
	key_id[kl] = '\0';
	*version = get_be32(blob + 6 + kl);
	return 0;
}

int crypto_blob_decrypt(const uint8_t material[KMS_MATERIAL_LEN],
			const uint8_t *blob, size_t len, struct json_object *ctx,
			uint8_t *plain, size_t cap, size_t *plain_len)
{
	char kid[40];
	uint32_t ver;
	size_t kl, hl, n, clen;
	uint8_t tag[TAG_LEN], *cb;
	int rc;

	if (crypto_blob_peek(blob, len, kid, &ver))
		return -EINVAL;
	kl = blob[5];
	hl = 22 + kl;
	n = len - hl - TAG_LEN;
	if (n > cap)
		return -ENOSPC;
	memcpy(tag, blob + len - TAG_LEN, TAG_LEN);
	rc = crypto_context_bytes(ctx, &cb, &clen);
	if (rc)
		return rc;
	rc = gcm(GCM_OPEN, material, blob + 10 + kl, blob, hl, cb, clen, blob + hl, n, plain, tag);
	free(cb);
	if (!rc)
		*plain_len = n;
	return rc;
}

void crypto_uuid(char out[37])
{
	uint8_t b[16];

	RAND_bytes(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

void crypto_random_hex(char *out, size_t nbytes)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t b[64];
	size_t i;

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	RAND_bytes(b, (int)nbytes);
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * nbytes] = '\0';
}
