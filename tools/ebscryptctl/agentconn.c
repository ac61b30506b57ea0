// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "exitcode.h"
#include "proto.h"

/* An attach may wait for the KMS deadline with retries; be generous. */
#define CTL_AGENT_TIMEOUT_MS 180000

/* The agent's reply codes, as exit statuses; unlisted codes are EBS_EXIT_FAILURE. */
static const struct { const char *code; int status; } agent_codes[] = {
	{ "KMSUnreachable", EBS_EXIT_KMS_UNREACHABLE },
	{ "KMSAccessDenied", EBS_EXIT_KMS_REFUSED },
	{ "KMSKeyUnavailable", EBS_EXIT_KMS_REFUSED },
	{ "KMSKeyNotFound", EBS_EXIT_KMS_REFUSED },
	{ "KMSInvalidCiphertext", EBS_EXIT_KMS_REFUSED },
	{ "KMSError", EBS_EXIT_KMS_REFUSED },
	{ "KCVMismatch", EBS_EXIT_KMS_REFUSED },
	{ "NotAttached", EBS_EXIT_NOT_FOUND },
	{ "DeviceError", EBS_EXIT_DEVICE },
	{ "NotEbscrypt", EBS_EXIT_DEVICE },
	{ "Truncated", EBS_EXIT_DEVICE },
	{ "HeaderInvalid", EBS_EXIT_DEVICE },
	{ "WrongVolume", EBS_EXIT_DEVICE },
	{ "LoopError", EBS_EXIT_DEVICE },
	{ "MapError", EBS_EXIT_DEVICE },
	{ "KeyringError", EBS_EXIT_DEVICE },
	{ "NoDeviceMapper", EBS_EXIT_DEVICE },
	{ "ModuleNotLoadable", EBS_EXIT_DEVICE },
	{ "Busy", EBS_EXIT_BUSY },
	{ "AlreadyAttached", EBS_EXIT_BUSY },
	{ "NameInUse", EBS_EXIT_BUSY },
	{ "PermissionDenied", EBS_EXIT_NOPERM },
	{ "InvalidRequest", EBS_EXIT_USAGE },
};

static int agent_code_status(const char *code)
{
	size_t i;

	for (i = 0; code && i < sizeof(agent_codes) / sizeof(agent_codes[0]); i++)
		if (!strcmp(code, agent_codes[i].code))
			return agent_codes[i].status;
	return EBS_EXIT_FAILURE;
}

int ctl_agent(struct ctl *c, struct json_object *req, struct json_object **rep)
{
	struct json_object *warnings;
	int rc = ebs_agent_call(c->agent_socket, req, CTL_AGENT_TIMEOUT_MS, rep);
	size_t i;

	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return ctl_status(c, EBS_EXIT_AGENT_DOWN, ctl_err(c, rc, "ebscrypt-agent is not running (no socket at %s): start it with "
			       "`systemctl start ebscrypt-agent`", c->agent_socket));
	if (rc == -EACCES || rc == -EPERM)
		return ctl_status(c, EBS_EXIT_NOPERM, ctl_err(c, rc, "not allowed to talk to ebscrypt-agent at %s (root or the agent's "
			       "group only)", c->agent_socket));
	if (rc)
		return ctl_err(c, rc, "no answer from ebscrypt-agent at %s: %s", c->agent_socket,
			       strerror(-rc));
	if (json_object_object_get_ex(*rep, "warnings", &warnings) &&
	    json_object_is_type(warnings, json_type_array))
		for (i = 0; i < json_object_array_length(warnings); i++)
			ctl_warn(c, "%s", json_object_get_string(json_object_array_get_idx(warnings, i)));
	if (!jbool(*rep, "ok")) {
		/* The agent's sentence, as it said it; its code is for programs. */
		rc = ctl_status(c, agent_code_status(jstr(*rep, "code")),
				ctl_err(c, -EREMOTEIO, "%s", jstr(*rep, "error") ?: "the agent refused the request"));
		json_object_put(*rep);
		*rep = NULL;
		return rc;
	}
	return 0;
}

struct json_object *ctl_attachments(struct ctl *c)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *rep = NULL;
	struct json_object *arr, *out;
	size_t i;

	json_object_object_add(req, "op", json_object_new_string("list"));
	if (ebs_agent_call(c->agent_socket, req, 10000, &rep) || !jbool(rep, "ok") ||
	    !json_object_object_get_ex(rep, "attachments", &arr))
		return NULL;
	out = json_object_new_object();
	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *a = json_object_array_get_idx(arr, i);
		const char *vol = jstr(a, "volume_id");

		if (vol)
			json_object_object_add(out, vol, json_object_get(a));
	}
	return out;
}

/*
 * The agent accepts only a clean absolute path that is not a symlink, so
 * /dev/disk/by-id/... links and relative store directories are resolved
 * here, with the caller's own rights.
 */
struct json_object *ctl_agent_path(const char *path)
{
	char *real = realpath(path, NULL);
	struct json_object *j = json_object_new_string(real ? real : path);

	free(real);
	return j;
}

int ctl_agent_attach(struct ctl *c, const char *vol, const char *path, const char *name,
		     const char *purpose, char *dev, size_t dev_len)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *rep = NULL;
	int rc;

	json_object_object_add(req, "op", json_object_new_string("attach"));
	json_object_object_add(req, "volume_id", json_object_new_string(vol));
	json_object_object_add(req, "path", ctl_agent_path(path));
	if (name)
		json_object_object_add(req, "name", json_object_new_string(name));
	if (purpose)
		json_object_object_add(req, "purpose", json_object_new_string(purpose));
	rc = ctl_agent(c, req, &rep);
	if (rc)
		return rc;
	snprintf(dev, dev_len, "%s", jstr(rep, "device") ?: "");
	return 0;
}

int ctl_agent_detach(struct ctl *c, const char *what)
{
	_cleanup_json_ struct json_object *req = json_object_new_object(), *rep = NULL;

	json_object_object_add(req, "op", json_object_new_string("detach"));
	json_object_object_add(req, "volume", json_object_new_string(what));
	return ctl_agent(c, req, &rep);
}
