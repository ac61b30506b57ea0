// SPDX-License-Identifier: GPL-2.0
/* kms ...: thin convenience over the KMS API with ebscryptctl's credentials. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"

static int call(struct ctl *c, const char *op, struct json_object *req_in)
{
	_cleanup_json_ struct json_object *req = req_in, *resp = NULL;
	struct kms_client *k;
	struct kms_error err;
	int rc;

	if ((rc = ctl_kms(c, &k)))
		return rc;
	memset(&err, 0, sizeof(err));
	rc = kms_call(k, op, req, &resp, &err);
	if (rc)
		return ctl_err_kms(c, rc, &err, op);
	print_json(resp);
	return 0;
}

static struct json_object *with(const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct json_object *o = json_object_new_object();

	if (k1)
		json_object_object_add(o, k1, json_object_new_string(v1));
	if (k2)
		json_object_object_add(o, k2, json_object_new_string(v2));
	return o;
}

int cmd_kms_simple(struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "create-key")) {
		if (argc == 3 && !strcmp(argv[1], "--description"))
			return call(c, "CreateKey", with("Description", argv[2], NULL, NULL));
		if (argc == 1)
			return call(c, "CreateKey", with(NULL, NULL, NULL, NULL));
	} else if (!strcmp(cmd, "list-keys") || !strcmp(cmd, "list-aliases")) {
		if (argc == 1)
			return call(c, cmd[5] == 'k' ? "ListKeys" : "ListAliases", with(NULL, NULL, NULL, NULL));
	} else if (!strcmp(cmd, "create-alias")) {
		if (argc == 3)
			return call(c, "CreateAlias", with("AliasName", argv[1], "TargetKeyId", argv[2]));
	} else if (argc == 2) {
		const char *op = !strcmp(cmd, "describe-key") ? "DescribeKey" :
				 !strcmp(cmd, "disable-key") ? "DisableKey" : "EnableKey";

		return call(c, op, with("KeyId", argv[1], NULL, NULL));
	}
	ctl_cmd_help(c->cmd, stderr);
	return ctl_usage(c);
}

int cmd_kms_call(struct ctl *c, int argc, char **argv)
{
	struct json_object *req;

	if (argc != 2 && argc != 3)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl kms call OPERATION [JSON]");
	req = argc == 3 ? json_tokener_parse(argv[2]) : json_object_new_object();
	if (!req || !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return ctl_err(c, -EINVAL, "the request must be a JSON object");
	}
	return call(c, argv[1], req);
}
