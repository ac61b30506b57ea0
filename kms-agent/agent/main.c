// SPDX-License-Identifier: GPL-2.0
/*
 * ebscrypt-agent: the host daemon that turns a wrapped DEK into a kernel
 * mapping. See man/ebscrypt-agent.8 and docs/volumes.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "detach.h"
#include "log.h"
#include "paths.h"
#include "secmem.h"

int agent_serve(struct agent *a, struct ebs_detach *det);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ebscrypt-agent [--config FILE] [--socket PATH] [--foreground] [--pidfile FILE] [--debug]\n"
		"\n"
		"Host daemon that attaches ebscrypt volumes: it unwraps each volume's key\n"
		"with KMS and hands it to the kernel, which alone keeps it.\n"
		"\n"
		"  --config FILE   settings and KMS credentials (default " AGENT_DEFAULT_CONFIG ", mode 0600)\n"
		"  --socket PATH   listen here instead of the configured socket\n"
		"  --foreground    do not detach from the terminal (systemd runs it so)\n"
		"  --pidfile FILE  write the pid here once serving (removed at exit)\n"
		"  --debug         log debug messages\n"
		"  --version       print the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = AGENT_DEFAULT_CONFIG, *sock = NULL;
	struct ebs_detach det = { .ready_fd = -1 };
	struct agent a;
	int foreground = 0, c, rc;

	memset(&a, 0, sizeof(a));
	ebs_log_init("ebscrypt-agent", LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:s:fp:dhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'f': foreground = 1; break;
		case 'p': det.pidfile = optarg; break;
		case 'd': ebs_log_init("ebscrypt-agent", LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ebscrypt-agent %s\n", EBS_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/*
	 * Detach before anything process-private exists: the credentials go
	 * into secmem, which a fork() child sees zeroed and unlocked. The
	 * command returns once the socket listens, or fails with the reason.
	 */
	if (!foreground && ebs_detach(&det)) {
		ebs_err("cannot detach");
		return 1;
	}
	/* Before any secret is loaded: no core dumps, no ptrace by others. */
	rc = secmem_harden_process();
	if (rc) {
		ebs_err("cannot harden the process: %s", strerror(-rc));
		return 1;
	}
	if (agent_load_config(&a, config, sock))
		return 1;
	rc = kms_client_new(&a.ep, &a.kms);
	if (rc == -EPROTONOSUPPORT) {
		ebs_err("refusing plain HTTP to %s: the KMS must be reached over https:// unless it is "
			"on loopback or a Unix socket (kms_unix_socket)", a.ep.url);
		agent_free(&a);
		return 1;
	}
	if (rc) {
		ebs_err("cannot set up the KMS client for %s: %s", a.ep.url, strerror(-rc));
		agent_free(&a);
		return 1;
	}
	rc = keys_init(&a);
	if (rc) {
		ebs_err("cannot create the agent's private keyring: %s", strerror(-rc));
		agent_free(&a);
		return 1;
	}
	dm_setup();
	signal(SIGPIPE, SIG_IGN);
	rc = agent_serve(&a, &det);
	agent_free(&a);
	ebs_detach_done(&det);
	return rc ? 1 : 0;
}
