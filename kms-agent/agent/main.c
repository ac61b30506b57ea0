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
#include "log.h"
#include "secmem.h"

int agent_serve(struct agent *a);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ebscrypt-agent [--config FILE] [--socket PATH] [--foreground] [--debug]\n"
		"\n"
		"Host daemon that attaches ebscrypt volumes: it unwraps each volume's key\n"
		"with KMS and hands it to the kernel, which alone keeps it.\n"
		"\n"
		"  --config FILE   settings and KMS credentials (default " AGENT_DEFAULT_CONFIG ", mode 0600)\n"
		"  --socket PATH   listen here instead of the configured socket\n"
		"  --foreground    do not detach from the terminal (systemd runs it so)\n"
		"  --debug         log debug messages\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = AGENT_DEFAULT_CONFIG, *sock = NULL;
	struct agent a;
	int foreground = 0, c, rc;

	memset(&a, 0, sizeof(a));
	ebs_log_init("ebscrypt-agent", LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:s:fdh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'f': foreground = 1; break;
		case 'd': ebs_log_init("ebscrypt-agent", LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
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
	if (!foreground) {
		kms_client_free(a.kms);
		a.kms = NULL;
	}
	if (!foreground && daemon(0, 1)) {
		ebs_err("cannot daemonize: %m");
		agent_free(&a);
		return 1;
	}
	/*
	 * The client's copy of the secret is in locked memory that fork wipes
	 * (MADV_WIPEONFORK) and does not lock in the child: the one made above
	 * refused a bad endpoint while the caller still sees the status, and
	 * the daemon makes its own.
	 */
	if (!foreground) {
		rc = kms_client_new(&a.ep, &a.kms);
		if (rc) {
			ebs_err("cannot set up the KMS client for %s: %s", a.ep.url, strerror(-rc));
			agent_free(&a);
			return 1;
		}
	}
	rc = agent_serve(&a);
	agent_free(&a);
	return rc ? 1 : 0;
}
