// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: key policies, parsed and evaluated by ebscrypt-kmsd
 * through the API alone, so it follows the policy code wherever it goes:
 * the admin creates a key with the input as its Policy; where the policy is
 * accepted, the host and the outsider principals then try the key's
 * operations (each authorized by that policy), the admin describes it.
 *
 * Input: the policy document; after an optional line "--", an encryption
 * context (a JSON object) that the crypto calls carry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "kmsd_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try(enum fx_who who, const char *op, const char *fmt, const char *id, const char *ctx)
{
	char body[2048];
	int n = snprintf(body, sizeof(body), fmt, id, ctx);

	if (n > 0 && (size_t)n < sizeof(body))
		fx_call(who, op, NULL, 0, body, (size_t)n, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[8192];
	const char *sep = memmem(data, size, "\n--\n", 4), *ctx = "{}";
	size_t plen = sep ? (size_t)(sep - (const char *)data) : size;
	struct json_object *req, *rep, *m, *jid, *jctx = NULL;
	char id[64] = "";
	int who;

	if (sep) {
		struct json_tokener *tok = json_tokener_new();

		if (!tok)
			abort();
		/* The input is not NUL-terminated: parse it with its length. */
		jctx = json_tokener_parse_ex(tok, sep + 4, (int)(size - plen - 4));
		json_tokener_free(tok);
		if (jctx && json_object_is_type(jctx, json_type_object) && json_object_object_length(jctx) <= 8 &&
		    strlen(json_object_to_json_string(jctx)) < 1024)
			ctx = json_object_to_json_string(jctx);
	}
	req = json_object_new_object();
	json_object_object_add(req, "Policy", json_object_new_string_len((const char *)data, (int)plen));
	json_object_object_add(req, "Description", json_object_new_string("fuzz"));
	if (fx_call(FX_ADMIN, "CreateKey", NULL, 0, json_object_to_json_string(req),
		    strlen(json_object_to_json_string(req)), out, sizeof(out)) == 200) {
		rep = json_tokener_parse(out);
		if (rep && json_object_object_get_ex(rep, "KeyMetadata", &m) &&
		    json_object_object_get_ex(m, "KeyId", &jid))
			snprintf(id, sizeof(id), "%s", json_object_get_string(jid));
		json_object_put(rep);
	}
	json_object_put(req);
	if (id[0]) {
		for (who = FX_HOST; who <= FX_OUTSIDER; who++) {
			try(who, "DescribeKey", "{\"KeyId\":\"%s\"%.0s}", id, ctx);
			try(who, "Encrypt", "{\"KeyId\":\"%s\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionContext\":%s}",
			    id, ctx);
			try(who, "GenerateDataKeyWithoutPlaintext",
			    "{\"KeyId\":\"%s\",\"NumberOfBytes\":32,\"EncryptionContext\":%s}", id, ctx);
			try(who, "CreateGrant",
			    "{\"KeyId\":\"%s\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:user/outsider\","
			    "\"Operations\":[\"Decrypt\"],\"Constraints\":{\"EncryptionContextSubset\":%s}}", id, ctx);
			try(who, "ListGrants", "{\"KeyId\":\"%s\"%.0s}", id, ctx);
			try(who, "EnableKeyRotation", "{\"KeyId\":\"%s\"%.0s}", id, ctx);
			try(who, "DisableKey", "{\"KeyId\":\"%s\"%.0s}", id, ctx);
			try(who, "ScheduleKeyDeletion", "{\"KeyId\":\"%s\",\"PendingWindowInDays\":7%.0s}", id, ctx);
		}
		try(FX_ADMIN, "DescribeKey", "{\"KeyId\":\"%s\"%.0s}", id, ctx);
	}
	json_object_put(jctx);
	return 0;
}
