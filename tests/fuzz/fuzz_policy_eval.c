// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the key policy checker and evaluator: any bytes as a
 * document, and a document that is accepted is evaluated for a few requests
 * (with and without an encryption context, as CreateGrant with grant
 * facts). Besides "never crash": a document accepted once is accepted again
 * from its own re-serialisation, so what is stored can always be loaded.
 *
 *   make fuzz FUZZ_TARGETS=policy_eval   # over tests/fuzz/corpus/policy_eval
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void evaluate_some(struct json_object *doc)
{
	static const char *const actions[] = { "Decrypt", "CreateGrant", "PutKeyPolicy", "ListGrants" };
	struct json_object *ctx = json_tokener_parse("{\"volume\":\"vol-1\",\"Snap\":\"s\"}");
	struct json_object *ops = json_tokener_parse("[\"Decrypt\",\"CreateGrant\"]");
	struct policy_request r = {
		.principal_arn = "arn:aws:sts::111122223333:assumed-role/ebs/host",
		.caller_account = "111122223333",
	};
	size_t i;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		r.action = actions[i];
		r.enc_ctx = i == 0 ? ctx : NULL;
		r.grant_ops = i == 1 ? ops : NULL;
		r.grantee = i == 1 ? "arn:aws:iam::111122223333:user/x" : NULL;
		r.grant_call = i == 1 || i == 3;
		(void)policy_evaluate(doc, &r);
	}
	json_object_put(ctx);
	json_object_put(ops);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *doc, *again;
	char err[512], *text;

	if (size > POLICY_MAX_BYTES + 16)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	doc = policy_load(text, err, sizeof(err));
	if (doc) {
		evaluate_some(doc);
		again = policy_load(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN), err,
				    sizeof(err));
		if (!again)
			abort();
		json_object_put(again);
		json_object_put(doc);
	}
	free(text);
	return 0;
}
