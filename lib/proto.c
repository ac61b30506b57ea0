// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proto.h"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int ebs_proto_send(int fd, struct json_object *msg)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s), done = 0;
	ssize_t n;

	if (len + 1 > EBS_PROTO_MAX_MSG)
		return -EMSGSIZE;
	while (done < len) {
		n = send(fd, s + done, len - done, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += n;
	}
	return send(fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

int ebs_proto_recv(int fd, int timeout_ms, struct json_object **msg)
{
	long deadline = now_ms() + timeout_ms;
	char *buf = malloc(EBS_PROTO_MAX_MSG + 1);
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t got = 0;
	ssize_t n;
	int rc = 0;

	*msg = NULL;
	if (!buf)
		return -ENOMEM;
	while (!memchr(buf, '\n', got)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();

		if (got == EBS_PROTO_MAX_MSG) {
			rc = -EMSGSIZE;
			goto out;
		}
		if (left <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n ? -errno : -ETIMEDOUT;
			goto out;
		}
		n = recv(fd, buf + got, EBS_PROTO_MAX_MSG - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += n;
	}
	if (!got) {
		rc = -ECONNRESET;
		goto out;
	}
	buf[got] = '\0';
	tok = json_tokener_new();
	if (!tok) {
		rc = -ENOMEM;
		goto out;
	}
	*msg = json_tokener_parse_ex(tok, buf, (int)got);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || !json_object_is_type(*msg, json_type_object)) {
		json_object_put(*msg);
		*msg = NULL;
		rc = -EPROTO;
	}
out:
	free(buf);
	return rc;
}

int ebs_agent_call(const char *socket_path, struct json_object *req,
		   int timeout_ms, struct json_object **resp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	*resp = NULL;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = ebs_proto_send(fd, req);
	if (!rc)
		rc = ebs_proto_recv(fd, timeout_ms, resp);
	close(fd);
	return rc;
}
