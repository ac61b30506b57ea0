// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>

#include <json-c/json.h>

#include "agent.h"
#include "log.h"

void reply_fail(struct json_object *rep, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The agent's log is the boundary for its own errors. */
	ebs_err("%s (%s)", msg, code);
	json_object_object_add(rep, "ok", json_object_new_boolean(0));
	json_object_object_add(rep, "code", json_object_new_string(code));
	json_object_object_add(rep, "error", json_object_new_string(msg));
}

void reply_warn(struct json_object *rep, const char *fmt, ...)
{
	struct json_object *arr;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ebs_warn("%s", msg);
	if (!json_object_object_get_ex(rep, "warnings", &arr)) {
		arr = json_object_new_array();
		json_object_object_add(rep, "warnings", arr);
	}
	json_object_array_add(arr, json_object_new_string(msg));
}

const char *req_str(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}
