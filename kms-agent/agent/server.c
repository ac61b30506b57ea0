// SPDX-License-Identifier: GPL-2.0
/*
 * The Unix socket. Peers are checked with SO_PEERCRED: root, or a member of
 * the configured group. One request per connection. Each connection is read
 * in a thread of its own, so a client that sends slowly or not at all holds
 * up nobody but itself; the operations then run one at a time under
 * op_lock. At most AGENT_MAX_CLIENTS connections are served at once; one
 * more is answered "Busy" at once.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "detach.h"
#include "log.h"
#include "proto.h"

int agent_serve(struct agent *a, struct ebs_detach *det);

#define AGENT_MAX_CLIENTS 64
#define AGENT_RECV_MS     10000
#define AGENT_SEND_MS     5000
/* The handlers' frames are small; glibc's 8 MiB default would only grow the address space. */
#define AGENT_THREAD_STACK (512 << 10)

static volatile sig_atomic_t stopping;
static pthread_mutex_t op_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t clients_gone = PTHREAD_COND_INITIALIZER;
static unsigned int clients;

static void on_term(int sig)
{
	stopping = 1;
}

static int in_group(uid_t uid, gid_t gid, gid_t want)
{
	struct passwd pwbuf, *pw = NULL;
	gid_t groups[256];
	char buf[4096];
	int n = 256, i;

	if (want == (gid_t)-1)
		return 0;
	if (gid == want)
		return 1;
	/* The _r form: clients are checked in threads of their own. */
	if (getpwuid_r(uid, &pwbuf, buf, sizeof(buf), &pw) || !pw ||
	    getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fd = -errno;
		ebs_err("cannot listen on %s: %s", a->socket_path, strerror(-fd));
		return fd;
	}
	/*
	 * A socket a running agent listens on must not be replaced: that agent
	 * would go on serving an unlinked socket no client can reach. Only one
	 * nobody answers on (left by an agent that was killed) is removed. A
	 * full backlog (EAGAIN) is a listener too.
	 */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		ebs_err("another ebscrypt-agent is listening on %s: not starting a second one",
			a->socket_path);
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(a->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
		int rc = -errno;

		ebs_err("cannot listen on %s: %s", a->socket_path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
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
	rc = ebs_proto_recv(cfd, AGENT_RECV_MS, &req);
	/* Closed unasked, as a starting agent's probe for a running one does. */
	if (rc == -ECONNRESET) {
		ebs_debug("pid %d closed its connection without a request", cred.pid);
		goto out;
	}
	if (rc) {
		reply_fail(rep, "InvalidRequest", "unreadable request from pid %d: %s", cred.pid, strerror(-rc));
		goto send;
	}
	op = req_str(req, "op");
	ebs_debug("request %s from uid %u pid %d", op ? op : "(none)", cred.uid, cred.pid);
	pthread_mutex_lock(&op_lock);
	if (!op)
		reply_fail(rep, "InvalidRequest", "request without \"op\"");
	else if (!strcmp(op, "attach"))
		op_attach(a, req, rep, cred.uid);
	else if (!strcmp(op, "detach"))
		op_detach(a, req, rep);
	else if (!strcmp(op, "list"))
		op_list(a, req, rep);
	else if (!strcmp(op, "kcv"))
		op_kcv(a, req, rep);
	else if (!strcmp(op, "resize"))
		op_resize(a, req, rep);
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
	pthread_mutex_unlock(&op_lock);
send:
	if (ebs_proto_send(cfd, rep))
		ebs_warn("peer went away before the reply");
out:
	json_object_put(req);
	json_object_put(rep);
}

struct client {
	struct agent *a;
	int fd;
};

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct timeval tv = { .tv_sec = AGENT_SEND_MS / 1000 };

	/* A client that never reads its reply cannot hold the thread forever. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	handle(c->a, c->fd);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&clients_lock);
	if (--clients == 0)
		pthread_cond_broadcast(&clients_gone);
	pthread_mutex_unlock(&clients_lock);
	return NULL;
}

static void refuse_busy(int cfd)
{
	struct json_object *rep = json_object_new_object();

	reply_fail(rep, "Busy", "ebscrypt-agent is serving %d clients already; try again", AGENT_MAX_CLIENTS);
	ebs_proto_send(cfd, rep);
	json_object_put(rep);
}

/* Hands the connection to a thread of its own; the caller keeps nothing. */
static void serve_client(struct agent *a, int cfd)
{
	struct client *c;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int rc;

	pthread_mutex_lock(&clients_lock);
	if (clients >= AGENT_MAX_CLIENTS) {
		pthread_mutex_unlock(&clients_lock);
		ebs_warn("%d clients at once: refusing one more", AGENT_MAX_CLIENTS);
		refuse_busy(cfd);
		close(cfd);
		return;
	}
	clients++;
	pthread_mutex_unlock(&clients_lock);
	c = malloc(sizeof(*c));
	if (!c) {
		rc = ENOMEM;
		goto fail;
	}
	c->a = a;
	c->fd = cfd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, AGENT_THREAD_STACK);
	/* SIGTERM and SIGINT stay with the accepting thread, which they wake. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, &attr, client_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!rc)
		return;
	free(c);
fail:
	ebs_err("cannot serve a client: %s", strerror(rc));
	refuse_busy(cfd);
	close(cfd);
	pthread_mutex_lock(&clients_lock);
	clients--;
	pthread_mutex_unlock(&clients_lock);
}

int agent_serve(struct agent *a, struct ebs_detach *det)
{
	struct sigaction sa = { .sa_handler = on_term };
	int lfd = listen_on(a);

	if (lfd < 0)
		return lfd;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	ebs_info("listening on %s (KMS %s, deadline %ld ms)", a->socket_path,
		 a->ep.unix_socket ? a->ep.unix_socket : a->ep.url, a->ep.timeout_ms);
	if (ebs_detach_ready(det)) {
		close(lfd);
		unlink(a->socket_path);
		return -EIO;
	}
	while (!stopping) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR)
				continue;
			ebs_err("accept: %m");
			break;
		}
		serve_client(a, cfd);
	}
	/* Mappings stay: volumes keep working while the agent is down. */
	ebs_info("stopping; attached volumes stay attached");
	close(lfd);
	unlink(a->socket_path);
	/* In-flight clients finish (each bounded by its deadlines) before a is freed. */
	pthread_mutex_lock(&clients_lock);
	while (clients)
		pthread_cond_wait(&clients_gone, &clients_lock);
	pthread_mutex_unlock(&clients_lock);
	return 0;
}
