// SPDX-License-Identifier: GPL-2.0
/* agent status: whether ebscrypt-agent runs, and how. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"

int cmd_agent_status(struct ctl *c, int argc, char **argv)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		c->json = 1;
	json_object_object_add(req, "op", json_object_new_string("ping"));
	if ((rc = ctl_agent(c, req, &rep)))
		return rc;
	json_object_object_del(rep, "ok");
	if (c->json)
		print_json(rep);
	else
		printf("ebscrypt-agent pid %lld, KMS %s (using %s, credentials: %s), %s\n",
		       (long long)jint(rep, "pid"), jstr(rep, "kms_endpoint") ?: "?",
		       jstr(rep, "kms_current_endpoint") ?: "?", jstr(rep, "kms_credentials") ?: "?",
		       jint(rep, "dumpable") ? "DUMPABLE" : "not dumpable");
	return 0;
}
