// SPDX-License-Identifier: GPL-2.0
/*
 * KMS Decrypt of a header's wrapped DEK, and the translation of every KMS
 * failure into a sentence a user can act on (which key, what state, which
 * endpoint, what deadline).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agent.h"
#include "header.h"
#include "log.h"
#include "secmem.h"

static void kms_fail(struct agent *a, const char *arn, int rc, const struct kms_error *err,
		     struct json_object *rep)
{
	struct kms_key_info info;
	struct kms_error e2;

	if (rc == -EREMOTEIO) {
		if (!strcmp(err->type, "DisabledException") ||
		    !strcmp(err->type, "KMSInvalidStateException")) {
			memset(&info, 0, sizeof(info));
			if (kms_describe_key(a->kms, arn, &info, &e2))
				snprintf(info.key_state, sizeof(info.key_state), "%s",
					 !strcmp(err->type, "DisabledException") ? "Disabled" : "unknown");
			reply_fail(rep, "KMSKeyUnavailable",
				   "KMS key %s is %s, so the volume's key cannot be unwrapped: %s "
				   "(enable the key, or cancel its deletion, then attach again)",
				   arn, info.key_state, err->message);
		} else if (!strcmp(err->type, "AccessDeniedException")) {
			reply_fail(rep, "KMSAccessDenied",
				   "KMS denied this host Decrypt with key %s (AccessDeniedException): %s",
				   arn, err->message);
		} else if (!strcmp(err->type, "NotFoundException")) {
			reply_fail(rep, "KMSKeyNotFound", "KMS key %s does not exist: %s",
				   arn, err->message);
		} else if (!strcmp(err->type, "InvalidCiphertextException")) {
			reply_fail(rep, "KMSInvalidCiphertext",
				   "KMS refused the wrapped key in the header (InvalidCiphertextException: "
				   "the wrapped key or its encryption context does not match key %s): %s",
				   arn, err->message);
		} else {
			reply_fail(rep, "KMSError", "KMS Decrypt with key %s failed: %s: %s",
				   arn, err->type[0] ? err->type : "error", err->message);
		}
		return;
	}
	if (rc == -ENOKEY || rc == -EKEYEXPIRED) {
		reply_fail(rep, "KMSNoCredentials", "no usable KMS credentials for this host: %s",
			   err->message);
		return;
	}
	if (rc == -EPROTO || rc == -EBADMSG) {
		reply_fail(rep, "KMSMalformedResponse", "malformed response from KMS at %s: %s",
			   a->ep.url, err->message[0] ? err->message : strerror(-rc));
		return;
	}
	reply_fail(rep, "KMSUnreachable",
		   "KMS at %s unreachable within the %ld ms deadline: %s",
		   a->ep.unix_socket ? a->ep.unix_socket : a->ep.url, a->ep.timeout_ms,
		   err->message[0] ? err->message : strerror(-rc));
}

int agent_decrypt(struct agent *a, const char *arn, const uint8_t *blob, size_t blob_len,
		  const struct ebs_header_ctx_pair *cp, size_t n, uint8_t *dek,
		  struct json_object *rep)
{
	struct ebs_kms_context kc;
	struct kms_error err;
	size_t len = 0;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = kms_decrypt(a->kms, arn, blob, blob_len, ebs_kms_context(cp, n, &kc), dek,
			 EBS_HDR_KEY_BYTES, &len, NULL, &err);
	if (rc == -ENOSPC || (!rc && len != EBS_HDR_KEY_BYTES)) {
		secmem_wipe(dek, EBS_HDR_KEY_BYTES);
		reply_fail(rep, "KMSMalformedResponse",
			   "KMS returned a key of the wrong length for key %s (expected %u bytes)",
			   arn, EBS_HDR_KEY_BYTES);
		return -EPROTO;
	}
	if (rc)
		kms_fail(a, arn, rc, &err, rep);
	return rc;
}

int agent_unwrap(struct agent *a, const struct ebs_header *h, uint8_t *dek,
		 struct json_object *rep)
{
	uint8_t kcv[EBS_HDR_KCV_LEN];
	int rc;

	rc = agent_decrypt(a, h->kms_key_arn, h->wrapped_dek, h->wrapped_len, h->ctx,
			   h->ctx_count, dek, rep);
	if (rc)
		return rc;
	rc = ebs_header_kcv(dek, EBS_HDR_KEY_BYTES, kcv);
	if (!rc && CRYPTO_memcmp(kcv, h->kcv, sizeof(kcv)))
		rc = -EKEYREJECTED;
	if (rc) {
		secmem_wipe(dek, EBS_HDR_KEY_BYTES);
		reply_fail(rep, "KCVMismatch",
			   "the key KMS returned does not match the header's key check value "
			   "for volume %s: refusing to map it (no I/O done)", h->volume_id);
	}
	return rc;
}
