// SPDX-License-Identifier: GPL-2.0
/*
 * config show / config set: the host's encryption defaults. While
 * encrypt-by-default is on, every new volume and every copy is encrypted,
 * whatever its source.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "header.h"

int cmd_config_show(struct ctl *c, int argc, char **argv)
{
	char key[512];
	int ebd, rc;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		c->json = 1;
	else if (argc != 1)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl config show [--json]");
	if ((rc = state_load_settings(c, &ebd, key, sizeof(key))))
		return ctl_err(c, rc, "cannot read %s/config.json", c->state_dir);
	if (c->json) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "encrypt_by_default", json_object_new_boolean(ebd));
		json_object_object_add(o, "default_kms_key_id", json_object_new_string(key));
		print_json(o);
	} else {
		printf("encrypt-by-default  %s\ndefault-kms-key     %s\n", ebd ? "on" : "off", key);
	}
	return 0;
}

int cmd_config_set(struct ctl *c, int argc, char **argv)
{
	char key[512], arn[EBS_HDR_ARN_MAX + 1];
	int ebd, rc;

	if (argc != 3)
		return ctl_err(c, -EINVAL, "usage: ebscryptctl config set encrypt-by-default on|off | "
			       "default-kms-key KEY");
	if ((rc = state_lock(c)))
		return ctl_err(c, rc, "cannot lock the state directory %s", c->state_dir);
	if ((rc = state_load_settings(c, &ebd, key, sizeof(key))))
		return ctl_err(c, rc, "cannot read %s/config.json", c->state_dir);
	if (!strcmp(argv[1], "encrypt-by-default")) {
		if (!strcmp(argv[2], "on"))
			ebd = 1;
		else if (!strcmp(argv[2], "off"))
			ebd = 0;
		else
			return ctl_err(c, -EINVAL, "encrypt-by-default takes on or off");
	} else if (!strcmp(argv[1], "default-kms-key")) {
		/* Checked now, so a typo fails here rather than at the next create. */
		if (strcmp(argv[2], CTL_DEFAULT_KMS_KEY) &&
		    (rc = ctl_resolve_key(c, argv[2], KEY_MUST_EXIST, arn, sizeof(arn))))
			return rc;
		snprintf(key, sizeof(key), "%s", argv[2]);
	} else {
		return ctl_err(c, -EINVAL, "unknown setting \"%s\" (encrypt-by-default, default-kms-key)",
			       argv[1]);
	}
	rc = state_save_settings(c, ebd, key);
	if (rc)
		return ctl_err(c, rc, "cannot save %s/config.json: %s", c->state_dir, strerror(-rc));
	printf("encrypt-by-default %s, default-kms-key %s\n", ebd ? "on" : "off", key);
	return 0;
}
