// SPDX-License-Identifier: GPL-2.0
/*
 * The Unix socket. Peers are checked with SO_PEERCRED: root, or a member of
 * the configured group. One request per connection, served in order.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "log.h"
#include "proto.h"

int agent_serve(struct agent *a);

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	stopping = 1;
}

static int in_group(uid_t uid, gid_t gid, gid_t want)
{
	struct passwd *pw;
	gid_t groups[256];
	int n = 256, i;

	if (want == (gid_t)-1)
		return 0;
	if (gid == want)
		return 1;
	pw = getpwuid(uid);
	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == want)
			return 1;
	return 0;
}

static int listen_on(struct agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *slash;
	int fd;

	if (strlen(a->socket_path) >= sizeof(sa.sun_path)) {
		ebs_err("socket path %s is too long", a->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, a->socket_path);
	strcpy(dir, a->socket_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	unlink(a->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
		ebs_err("cannot listen on %s: %m", a->socket_path);
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	/* Group members may connect; the credential check is the real gate. */
	chmod(a->socket_path, a->group == (gid_t)-1 ? 0600 : 0660);
	if (a->group != (gid_t)-1 && chown(a->socket_path, 0, a->group))
		ebs_warn("cannot give %s to the configured group: %m", a->socket_path);
	return fd;
}

static void handle(struct agent *a, int cfd)
{
	struct json_object *req = NULL, *rep = json_object_new_object();
	struct ucred cred;
	socklen_t len = sizeof(cred);
	const char *op;
	int rc;

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		ebs_err("no peer credentials: %m");
		goto out;
	}
	if (cred.uid != 0 && !in_group(cred.uid, cred.gid, a->group)) {
		reply_fail(rep, "PermissionDenied", "uid %u (pid %d) may not use ebscrypt-agent: "
			   "only root or members of the configured group", cred.uid, cred.pid);
		goto send;
	}
	rc = ebs_proto_recv(cfd, 10000, &req);
	if (rc) {
		reply_fail(rep, "InvalidRequest", "unreadable request from pid %d: %s", cred.pid, strerror(-rc));
		goto send;
	}
	op = req_str(req, "op");
	ebs_debug("request %s from uid %u pid %d", op ? op : "(none)", cred.uid, cred.pid);
	if (!op)
		reply_fail(rep, "InvalidRequest", "request without \"op\"");
	else if (!strcmp(op, "attach"))
		op_attach(a, req, rep);
	else if (!strcmp(op, "detach"))
		op_detach(a, req, rep);
	else if (!strcmp(op, "list"))
		op_list(a, req, rep);
	else if (!strcmp(op, "kcv"))
		op_kcv(a, req, rep);
	else if (!strcmp(op, "load-key"))
		op_load_key(a, req, rep, cred.uid);
	else if (!strcmp(op, "ping")) {
		json_object_object_add(rep, "ok", json_object_new_boolean(1));
		json_object_object_add(rep, "pid", json_object_new_int(getpid()));
		json_object_object_add(rep, "dumpable", json_object_new_int(prctl(PR_GET_DUMPABLE)));
		json_object_object_add(rep, "kms_endpoint", json_object_new_string(a->ep.url));
		json_object_object_add(rep, "kms_current_endpoint",
				       json_object_new_string(kms_client_current_url(a->kms)));
		json_object_object_add(rep, "kms_credentials",
				       json_object_new_string(kms_client_credentials_source(a->kms)));
	} else
		reply_fail(rep, "InvalidRequest", "unknown operation \"%.64s\"", op);
send:
	if (ebs_proto_send(cfd, rep))
		ebs_warn("peer went away before the reply");
out:
	json_object_put(req);
	json_object_put(rep);
}

int agent_serve(struct agent *a)
{
	struct sigaction sa = { .sa_handler = on_term };
	int lfd = listen_on(a);

	if (lfd < 0)
		return lfd;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ebs_info("listening on %s (KMS %s, deadline %ld ms)", a->socket_path,
		 a->ep.unix_socket ? a->ep.unix_socket : a->ep.url, a->ep.timeout_ms);
	while (!stopping) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR)
				continue;
			ebs_err("accept: %m");
			break;
		}
		handle(a, cfd);
		close(cfd);
	}
	/* Mappings stay: volumes keep working while the agent is down. */
	ebs_info("stopping; attached volumes stay attached");
	close(lfd);
	unlink(a->socket_path);
	return 0;
}
