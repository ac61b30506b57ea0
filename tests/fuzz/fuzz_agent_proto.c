// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: ebscrypt-agent's side of its protocol. The input
 * arrives on a real socket and goes through ebs_proto_recv(); a message
 * that decodes is then handled by the agent's own handlers where they
 * change nothing on the host: ping, kcv (KMS at a Unix socket nobody
 * serves, so every Decrypt fails), load-key (refused unless the keyring
 * is the caller's), and the volume path checks on the message's "path"
 * against a directory of hostile entries (a symlink, a fifo, a directory,
 * an empty file). attach, detach and list would act on the host's
 * device-mapper table, so their messages are only decoded. Every reply
 * must be sendable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "log.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct agent fx_agent;
static char fx_dir[256];

static void fx_cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx_dir);
	if (system(cmd))
		fprintf(stderr, "fuzz: cannot remove %s\n", fx_dir);
}

static void fx_setup(void)
{
	static const char *const allowed[] = { "volume_file_dirs", NULL };
	char conf[512], p[300], why[256];
	int fd;

	ebs_log_init("fuzz-agent", LOG_CRIT);
	snprintf(fx_dir, sizeof(fx_dir), "%s/ebscrypt-fuzz-agent.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(fx_dir))
		abort();
	atexit(fx_cleanup);
	snprintf(p, sizeof(p), "%s/vol.img", fx_dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20))
		abort();
	close(fd);
	snprintf(p, sizeof(p), "%s/link.img", fx_dir);
	if (symlink("vol.img", p))
		abort();
	snprintf(p, sizeof(p), "%s/fifo", fx_dir);
	if (mkfifo(p, 0600))
		abort();
	snprintf(p, sizeof(p), "%s/dir", fx_dir);
	if (mkdir(p, 0700))
		abort();
	snprintf(conf, sizeof(conf), "volume_file_dirs = %s\n", fx_dir);
	if (ebs_conf_parse(conf, strlen(conf), allowed, &fx_agent.conf, why, sizeof(why)))
		abort();
	fx_agent.socket_path = "/nonexistent/agent.sock";
	fx_agent.group = (gid_t)-1;
	fx_agent.ep.url = "http://localhost/";
	snprintf(p, sizeof(p), "%s/no-kms.sock", fx_dir);
	fx_agent.ep.unix_socket = strdup(p);
	fx_agent.ep.region = "us-east-1";
	fx_agent.ep.access_key_id = "AKIDFUZZ";
	fx_agent.ep.secret_access_key = "fuzz";
	fx_agent.ep.timeout_ms = 200;
	fx_agent.ep.max_retries = 0;
	if (kms_client_new(&fx_agent.ep, &fx_agent.kms))
		abort();
}

static void check_path(const char *path)
{
	struct json_object *rep = json_object_new_object();
	struct stat st;
	int fd = -1;

	if (!agent_open_volume_path(&fx_agent, path, 0, AGENT_PATH_BLOCK_OR_FILE, O_RDONLY, &fd, &st, rep)) {
		/* Only the plain file in the directory may ever be opened. */
		if (!S_ISREG(st.st_mode) || fd < 0)
			abort();
		close(fd);
	} else if (fd != -1) {
		abort();
	}
	json_object_put(rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *msg = NULL, *rep;
	const char *op, *path;
	int sv[2], rc;

	if (!fx_agent.kms)
		fx_setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	/* What fits in the socket buffer; ebs_proto_recv() must cope with any cut. */
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (size && write(sv[1], data, size) < 0 && errno != EAGAIN)
		abort();
	shutdown(sv[1], SHUT_WR);
	rc = ebs_proto_recv(sv[0], 50, &msg);
	if (!rc) {
		if (!msg)
			abort();
		rep = json_object_new_object();
		op = req_str(msg, "op");
		path = req_str(msg, "path");
		if (op && !strcmp(op, "kcv"))
			op_kcv(&fx_agent, msg, rep);
		else if (op && !strcmp(op, "load-key"))
			op_load_key(&fx_agent, msg, rep, 65534);
		if (path)
			check_path(path);
		rc = ebs_proto_send(sv[0], rep);
		if (rc && rc != -EPIPE && rc != -EMSGSIZE)
			abort();
		json_object_put(rep);
		json_object_put(msg);
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
