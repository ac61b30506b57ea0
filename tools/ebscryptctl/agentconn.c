// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "proto.h"

/* An attach may wait for the KMS deadline with retries; be generous. */
#define CTL_AGENT_TIMEOUT_MS 180000

int ctl_agent(struct ctl *c, struct json_object *req, struct json_object **rep)
{
	struct json_object *warnings;
	int rc = ebs_agent_call(c->agent_socket, req, CTL_AGENT_TIMEOUT_MS, rep);
	size_t i;

	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return ctl_fail("ebscrypt-agent is not running (no socket at %s): start it with "
				"`systemctl start ebscrypt-agent`", c->agent_socket);
	if (rc == -EACCES || rc == -EPERM)
		return ctl_fail("not allowed to talk to ebscrypt-agent at %s (root or the agent's group only)",
				c->agent_socket);
	if (rc)
		return ctl_fail("no answer from ebscrypt-agent at %s: %s", c->agent_socket, strerror(-rc));
	if (json_object_object_get_ex(*rep, "warnings", &warnings) &&
	    json_object_is_type(warnings, json_type_array))
		for (i = 0; i < json_object_array_length(warnings); i++)
			ctl_warn("%s", json_object_get_string(json_object_array_get_idx(warnings, i)));
	if (!jbool(*rep, "ok")) {
		rc = ctl_fail("%s", jstr(*rep, "error") ?: "the agent refused the request");
		json_object_put(*rep);
		*rep = NULL;
		return rc;
	}
	return 0;
}

struct json_object *ctl_attachments(struct ctl *c)
{
	struct json_object *req = json_object_new_object(), *rep = NULL, *arr, *out;
	size_t i;
	int rc;

	json_object_object_add(req, "op", json_object_new_string("list"));
	rc = ebs_agent_call(c->agent_socket, req, 10000, &rep);
	json_object_put(req);
	if (rc || !jbool(rep, "ok") || !json_object_object_get_ex(rep, "attachments", &arr)) {
		json_object_put(rep);
		return NULL;
	}
	out = json_object_new_object();
	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *a = json_object_array_get_idx(arr, i);
		const char *vol = jstr(a, "volume_id");

		if (vol)
			json_object_object_add(out, vol, json_object_get(a));
	}
	json_object_put(rep);
	return out;
}

int ctl_agent_attach(struct ctl *c, const char *vol, const char *path, const char *name,
		     const char *purpose, char *dev, size_t dev_len)
{
	struct json_object *req = json_object_new_object(), *rep;
	int rc;

	json_object_object_add(req, "op", json_object_new_string("attach"));
	json_object_object_add(req, "volume_id", json_object_new_string(vol));
	json_object_object_add(req, "path", json_object_new_string(path));
	if (name)
		json_object_object_add(req, "name", json_object_new_string(name));
	if (purpose)
		json_object_object_add(req, "purpose", json_object_new_string(purpose));
	rc = ctl_agent(c, req, &rep);
	json_object_put(req);
	if (rc)
		return rc;
	snprintf(dev, dev_len, "%s", jstr(rep, "device") ?: "");
	json_object_put(rep);
	return 0;
}

int ctl_agent_detach(struct ctl *c, const char *what)
{
	struct json_object *req = json_object_new_object(), *rep;
	int rc;

	json_object_object_add(req, "op", json_object_new_string("detach"));
	json_object_object_add(req, "volume", json_object_new_string(what));
	rc = ctl_agent(c, req, &rep);
	json_object_put(req);
	if (!rc)
		json_object_put(rep);
	return rc;
}
