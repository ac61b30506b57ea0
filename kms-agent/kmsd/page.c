// SPDX-License-Identifier: GPL-2.0
/*
 * One page of a List* reply, the same for keys, aliases and grants: Limit
 * and Marker in, the entries, then Truncated and NextMarker out. The store
 * is asked for one row beyond the page: if it comes, there is a next page,
 * and the marker of the last entry shown is where it starts.
 */
#include <stdio.h>
#include <string.h>

#include "kmsd.h"

int page_args(struct kreq *req, long long def_limit, long long max_limit, struct kpage *p,
	      const char **marker)
{
	long long limit = def_limit;

	memset(p, 0, sizeof(*p));
	p->req = req;
	*marker = NULL;
	if (jget_int(req, "Limit", FIELD_OPTIONAL, 1, max_limit, &limit) < 0 ||
	    jget_str(req, "Marker", FIELD_OPTIONAL, 1024, marker) < 0)
		return -1;
	p->limit = (int)limit;
	return 0;
}

void page_begin(struct kpage *p, const char *member)
{
	p->arr = json_object_new_array();
	json_object_object_add(p->req->out, member, p->arr);
}

struct json_object *page_entry(struct kpage *p, const char *marker)
{
	struct json_object *e;

	if (p->count == p->limit) {
		p->more = 1;
		return NULL;
	}
	e = json_object_new_object();
	json_object_array_add(p->arr, e);
	snprintf(p->last, sizeof(p->last), "%s", marker);
	p->count++;
	return e;
}

void page_end(const struct kpage *p)
{
	json_object_object_add(p->req->out, "Truncated", json_object_new_boolean(p->more));
	if (p->more)
		json_object_object_add(p->req->out, "NextMarker", json_object_new_string(p->last));
}
