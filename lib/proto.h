/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ebscryptctl <-> ebscrypt-agent protocol: over a Unix stream socket,
 * one request per connection, each message one JSON object on one line.
 * Requests carry "op"; replies carry "ok" (bool) and on failure "error" (a
 * sentence for the user) and "code" (a stable token for scripts). The
 * operations are listed in docs/volumes.md ("Agent protocol").
 */
#ifndef EBSCRYPT_PROTO_H
#define EBSCRYPT_PROTO_H

#include "paths.h"

struct json_object;

#define EBS_PROTO_MAX_MSG   (64 * 1024)
#define EBS_AGENT_SOCKET    EBS_RUNSTATEDIR "/ebscrypt/agent.sock"

int ebs_proto_send(int fd, struct json_object *msg);
/* -EPROTO on anything but one JSON object within EBS_PROTO_MAX_MSG bytes. */
int ebs_proto_recv(int fd, int timeout_ms, struct json_object **msg);
/* Connects, sends req, waits for the reply. -ECONNREFUSED/-ENOENT: no agent. */
int ebs_agent_call(const char *socket_path, struct json_object *req,
		   int timeout_ms, struct json_object **resp);

#endif
