// SPDX-License-Identifier: GPL-2.0
/*
 * Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
 * GenerateDataKeyWithoutPlaintext. Plaintexts and key material only ever
 * sit in secmem buffers here; every failure to open a blob, whatever the
 * cause (malformed, tampered, unknown key or version, wrong context), is the
 * same InvalidCiphertextException so nothing about the blob leaks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "base64.h"
#include "cleanup.h"
#include "kmsd.h"
#include "secmem.h"

#define SYMMETRIC_DEFAULT "SYMMETRIC_DEFAULT"

static int bad_blob(struct kreq *req)
{
	return kfail(req, "InvalidCiphertextException", "The ciphertext is invalid.");
}

static int check_algorithm(struct kreq *req, const char *name)
{
	const char *v;
	int rc = jget_str(req, name, FIELD_OPTIONAL, 64, &v);

	if (rc < 0)
		return -1;
	if (rc && strcmp(v, SYMMETRIC_DEFAULT))
		return kfail(req, "InvalidKeyUsageException",
			     "%s %s is not valid for a symmetric key", name, v);
	return 0;
}

static void add_b64(struct kreq *req, const char *name, const uint8_t *data, size_t len)
{
	_cleanup_free_ char *s = malloc(b64_encoded_len(len) + 1);

	if (!s) {
		kfail(req, "KMSInternalException", "out of memory");
		return;
	}
	b64_encode_to(data, len, s);
	json_object_object_add(req->out, name, json_object_new_string(s));
}

/*
 * The reply's plaintext, base64 in locked memory: it never becomes a json-c
 * string, the router writes it into the (locked) reply text itself.
 */
static void add_secret_b64(struct kreq *req, const char *name, const uint8_t *data, size_t len)
{
	char *s = secmem_alloc(b64_encoded_len(len) + 1);

	if (!s) {
		kfail(req, "KMSInternalException", "out of locked memory");
		return;
	}
	b64_encode_to(data, len, s);
	secmem_free((char *)req->secret.value);
	req->secret.name = name;
	req->secret.value = s;
}

/* Encrypts plain under the key's current material (rotating first when due). */
static int seal(struct kreq *req, struct kms_key *key, struct json_object *ctx,
		const uint8_t *plain, size_t len, uint8_t **blob, size_t *blob_len)
{
	_cleanup_secmem_ uint8_t *m = NULL;
	int rc;

	if (key_maybe_auto_rotate(req, key))
		return -1;
	m = secmem_alloc(KMS_MATERIAL_LEN);
	if (!m)
		return kfail(req, "KMSInternalException", "out of locked memory");
	rc = key_material(req, key, key->current_version, m);
	if (rc == -ENOENT)
		return kfail(req, "KMSInternalException", "current key material is missing");
	if (!rc && crypto_blob_encrypt(m, key->id, key->current_version, ctx, plain, len, blob, blob_len))
		return kfail(req, "KMSInternalException", "encryption failed");
	return rc;
}

/*
 * Opens a blob: finds the key it names, checks op is allowed and the key
 * usable, decrypts into *plain (secmem, the caller frees it). want_key,
 * when given, must be the blob's key (IncorrectKeyException otherwise).
 */
static int unseal(struct kreq *req, const char *op, const uint8_t *blob, size_t blob_len,
		  struct json_object *ctx, const char *want_key, struct kms_key *key,
		  uint8_t **plain, size_t *plain_len)
{
	_cleanup_secmem_ uint8_t *m = NULL, *out = NULL;
	char kid[40];
	uint32_t version;
	int rc;

	*plain = NULL;
	if (crypto_blob_peek(blob, blob_len, kid, &version))
		return bad_blob(req);
	if (want_key) {
		_cleanup_key_ struct kms_key wk = { 0 };

		if (key_resolve(req, want_key, KEY_REF_ALIAS, &wk))
			return -1;
		if (strcmp(wk.id, kid))
			return kfail(req, "IncorrectKeyException",
				     "The key ID in the request does not identify a KMS key that can perform this operation.");
	}
	/* A blob naming an unknown (or deleted) key is just an invalid blob. */
	if (key_resolve(req, kid, KEY_REF_ID, key)) {
		if (!strcmp(req->err_type, "NotFoundException")) {
			req->err_type[0] = '\0';
			return bad_blob(req);
		}
		return -1;
	}
	if (authorize(req, key, op, ctx) || key_usable(req, key))
		return -1;
	m = secmem_alloc(KMS_MATERIAL_LEN);
	out = secmem_alloc(blob_len);
	if (!m || !out)
		return kfail(req, "KMSInternalException", "out of locked memory");
	rc = key_material(req, key, version, m);
	if (rc == -ENOENT || (!rc && crypto_blob_decrypt(m, blob, blob_len, ctx, out, blob_len, plain_len)))
		return bad_blob(req);
	if (rc)
		return rc;
	*plain = TAKE_PTR(out);
	return 0;
}

/* KeyId for a use operation: resolved, allowed, usable. */
static int use_key(struct kreq *req, const char *field_name, const char *op,
		   struct json_object *ctx, struct kms_key *key)
{
	const char *ref;

	if (jget_str(req, field_name, FIELD_REQUIRED, 2048, &ref) < 0 || key_resolve(req, ref, KEY_REF_ALIAS_MANAGED, key))
		return -1;
	if (authorize(req, key, op, ctx) || key_usable(req, key))
		return -1;
	return 0;
}

int op_encrypt(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	_cleanup_secmem_ uint8_t *plain = NULL;
	_cleanup_free_ uint8_t *blob = NULL;
	struct json_object *ctx;
	size_t plen = 0, blen;
	char arn[256];

	if (jget_ctx(req, "EncryptionContext", &ctx) < 0 ||
	    check_algorithm(req, "EncryptionAlgorithm") ||
	    jget_blob(req, "Plaintext", FIELD_REQUIRED, KMS_MAX_PLAINTEXT, &plain, &plen) < 0)
		return -1;
	req->audit_ctx = ctx;
	if (use_key(req, "KeyId", "Encrypt", ctx, &key) || seal(req, &key, ctx, plain, plen, &blob, &blen))
		return -1;
	key_arn(req->k, key.id, arn, sizeof(arn));
	add_b64(req, "CiphertextBlob", blob, blen);
	json_object_object_add(req->out, "KeyId", json_object_new_string(arn));
	json_object_object_add(req->out, "EncryptionAlgorithm", json_object_new_string(SYMMETRIC_DEFAULT));
	return 0;
}

int op_decrypt(struct kreq *req)
{
	_cleanup_key_ struct kms_key key = { 0 };
	_cleanup_secmem_ uint8_t *blob = NULL, *plain = NULL;
	struct json_object *ctx;
	const char *want = NULL;
	size_t blen = 0, plen = 0;
	char arn[256];

	if (jget_ctx(req, "EncryptionContext", &ctx) < 0 ||
	    jget_str(req, "KeyId", FIELD_OPTIONAL, 2048, &want) < 0 ||
	    check_algorithm(req, "EncryptionAlgorithm") ||
	    jget_blob(req, "CiphertextBlob", FIELD_REQUIRED, KMS_MAX_BLOB, &blob, &blen) < 0)
		return -1;
	req->audit_ctx = ctx;
	if (unseal(req, "Decrypt", blob, blen, ctx, want, &key, &plain, &plen))
		return -1;
	key_arn(req->k, key.id, arn, sizeof(arn));
	json_object_object_add(req->out, "KeyId", json_object_new_string(arn));
	add_secret_b64(req, "Plaintext", plain, plen);
	json_object_object_add(req->out, "EncryptionAlgorithm", json_object_new_string(SYMMETRIC_DEFAULT));
	return 0;
}

int op_reencrypt(struct kreq *req)
{
	_cleanup_key_ struct kms_key src = { 0 }, dst = { 0 };
	_cleanup_secmem_ uint8_t *blob = NULL, *plain = NULL;
	_cleanup_free_ uint8_t *nblob = NULL;
	struct json_object *sctx, *dctx;
	const char *want = NULL;
	size_t blen = 0, plen = 0, nlen;
	char sarn[256], darn[256];
	int rc;

	if (jget_ctx(req, "SourceEncryptionContext", &sctx) < 0 ||
	    jget_ctx(req, "DestinationEncryptionContext", &dctx) < 0 ||
	    jget_str(req, "SourceKeyId", FIELD_OPTIONAL, 2048, &want) < 0 ||
	    check_algorithm(req, "SourceEncryptionAlgorithm") ||
	    check_algorithm(req, "DestinationEncryptionAlgorithm") ||
	    jget_blob(req, "CiphertextBlob", FIELD_REQUIRED, KMS_MAX_BLOB, &blob, &blen) < 0)
		return -1;
	req->audit_ctx = sctx;
	if (unseal(req, "ReEncryptFrom", blob, blen, sctx, want, &src, &plain, &plen))
		return -1;
	key_arn(req->k, src.id, sarn, sizeof(sarn));
	rc = -1;
	if (!use_key(req, "DestinationKeyId", "ReEncryptTo", dctx, &dst) &&
	    !seal(req, &dst, dctx, plain, plen, &nblob, &nlen)) {
		key_arn(req->k, dst.id, darn, sizeof(darn));
		add_b64(req, "CiphertextBlob", nblob, nlen);
		json_object_object_add(req->out, "SourceKeyId", json_object_new_string(sarn));
		json_object_object_add(req->out, "KeyId", json_object_new_string(darn));
		json_object_object_add(req->out, "SourceEncryptionAlgorithm",
				       json_object_new_string(SYMMETRIC_DEFAULT));
		json_object_object_add(req->out, "DestinationEncryptionAlgorithm",
				       json_object_new_string(SYMMETRIC_DEFAULT));
		rc = 0;
	}
	/* The audit record names the source key, whose material was used to open the blob. */
	snprintf(req->audit_key, sizeof(req->audit_key), "%s", sarn);
	return rc;
}

enum data_key_reply { DATA_KEY_WRAPPED, DATA_KEY_AND_PLAINTEXT };

static int generate(struct kreq *req, enum data_key_reply reply)
{
	struct json_object *ctx;
	_cleanup_key_ struct kms_key key = { 0 };
	_cleanup_secmem_ uint8_t *dek = NULL;
	_cleanup_free_ uint8_t *blob = NULL;
	const char *spec = NULL;
	long long nbytes = 0;
	size_t len;
	char arn[256];
	int has_n, has_spec;

	if (jget_ctx(req, "EncryptionContext", &ctx) < 0 ||
	    (has_n = jget_int(req, "NumberOfBytes", FIELD_OPTIONAL, 1, 1024, &nbytes)) < 0 ||
	    (has_spec = jget_str(req, "KeySpec", FIELD_OPTIONAL, 16, &spec)) < 0)
		return -1;
	req->audit_ctx = ctx;
	if (has_n && has_spec)
		return kfail(req, "ValidationException",
			     "Please specify either number of bytes or key spec, not both.");
	if (!has_n && !has_spec)
		return kfail(req, "ValidationException", "Please specify either number of bytes or key spec.");
	if (has_spec) {
		if (!strcmp(spec, "AES_256"))
			nbytes = 32;
		else if (!strcmp(spec, "AES_128"))
			nbytes = 16;
		else
			return kfail(req, "ValidationException",
				     "1 validation error detected: Value '%s' at 'keySpec' failed to satisfy "
				     "constraint: Member must satisfy enum value set: [AES_256, AES_128]", spec);
	}
	if (use_key(req, "KeyId", reply == DATA_KEY_AND_PLAINTEXT ? "GenerateDataKey" : "GenerateDataKeyWithoutPlaintext",
		    ctx, &key))
		return -1;
	dek = secmem_alloc((size_t)nbytes);
	if (!dek || RAND_priv_bytes(dek, (int)nbytes) != 1)
		return kfail(req, "KMSInternalException", "cannot generate a data key");
	if (seal(req, &key, ctx, dek, (size_t)nbytes, &blob, &len))
		return -1;
	key_arn(req->k, key.id, arn, sizeof(arn));
	add_b64(req, "CiphertextBlob", blob, len);
	if (reply == DATA_KEY_AND_PLAINTEXT)
		add_secret_b64(req, "Plaintext", dek, (size_t)nbytes);
	json_object_object_add(req->out, "KeyId", json_object_new_string(arn));
	return 0;
}

int op_generate_data_key(struct kreq *req)
{
	return generate(req, DATA_KEY_AND_PLAINTEXT);
}

int op_generate_data_key_without_plaintext(struct kreq *req)
{
	return generate(req, DATA_KEY_WRAPPED);
}
