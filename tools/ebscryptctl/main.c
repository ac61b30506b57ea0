// SPDX-License-Identifier: GPL-2.0
/*
 * ebscryptctl: EBS-shaped volume management. Global options, then a command
 * group and a command looked up in the command table (commands.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "exitcode.h"
#include "log.h"
#include "paths.h"
#include "proto.h"

static const char *const ctl_conf_keys[] = {
	"kms_endpoint", "kms_unix_socket", "kms_ca_file", "kms_client_cert", "kms_client_key", "kms_region", "kms_access_key_id",
	"kms_secret_access_key", "kms_timeout_ms", "kms_max_retries", "agent_socket", "state_dir",
	"kms_profile", "kms_imds_endpoint", NULL
};

static int usage(FILE *f)
{
	const struct ctl_cmd *cmd;

	fprintf(f, "usage: ebscryptctl [--state-dir DIR] [--config FILE] [--agent-socket PATH] [--json]\n"
		   "                   GROUP COMMAND [ARGS...]\n"
		   "       ebscryptctl --version\n\n"
		   "Encrypted block volumes with EBS semantics. Commands:\n\n");
	for (cmd = ctl_commands; cmd->group; cmd++)
		fprintf(f, "  %s %s %s\n", cmd->group, cmd->name, cmd->synopsis);
	fprintf(f, "\n`ebscryptctl GROUP COMMAND --help` explains a command. See ebscryptctl(8).\n");
	return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' },
		{ "agent-socket", required_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .lock_fd = -1 };
	const struct ctl_cmd *cmd;
	const char *sd_opt = NULL, *sock_opt = NULL;
	char why[256] = "";
	int o, rc;

	ebs_log_init("ebscryptctl", LOG_WARNING);
	c.config_path = getenv("EBSCRYPT_CONFIG") ?: CTL_DEFAULT_CONFIG;
	/* "+": stop at the group name; command options are the command's own. */
	while ((o = getopt_long(argc, argv, "+S:C:A:jhV", opts, NULL)) != -1) {
		switch (o) {
		case 'S': sd_opt = optarg; break;
		case 'C': c.config_path = optarg; break;
		case 'A': sock_opt = optarg; break;
		case 'j': c.json = 1; break;
		case 'h': return usage(stdout);
		case 'V': printf("ebscryptctl %s\n", EBS_VERSION); return 0;
		default: return usage(stderr);
		}
	}
	if (argc - optind < 2)
		return usage(stderr);
	cmd = ctl_find(argv[optind], argv[optind + 1]);
	if (!cmd) {
		fprintf(stderr, "%sebscryptctl: unknown command \"%s %s\"\n", ebs_log_prefix(LOG_ERR),
			argv[optind], argv[optind + 1]);
		return usage(stderr);
	}
	for (o = optind + 2; o < argc; o++)
		if (!strcmp(argv[o], "--help") || !strcmp(argv[o], "-h")) {
			ctl_cmd_help(cmd, stdout);
			return 0;
		}
	rc = ebs_conf_load(c.config_path, EBS_CONF_CREDENTIALS, ctl_conf_keys, &c.conf, why, sizeof(why));
	if (rc && !(rc == -ENOENT && !getenv("EBSCRYPT_CONFIG") && !strcmp(c.config_path, CTL_DEFAULT_CONFIG)))
		return ctl_finish(&c, ctl_status(&c, EBS_EXIT_CONFIG,
						 ctl_err(&c, rc, "%s: %s", c.config_path, why)));
	c.state_dir = sd_opt ?: getenv("EBSCRYPT_STATE_DIR") ?: ebs_conf_get(&c.conf, "state_dir") ?:
		      CTL_DEFAULT_STATE_DIR;
	if (strlen(c.state_dir) > CTL_STATE_DIR_MAX) {
		rc = ctl_err(&c, -ENAMETOOLONG, "the state directory %.64s... is longer than %d bytes",
			     c.state_dir, CTL_STATE_DIR_MAX);
		ebs_conf_free(&c.conf);
		return ctl_finish(&c, rc);
	}
	c.agent_socket = sock_opt ?: getenv("EBSCRYPT_AGENT_SOCKET") ?:
			 ebs_conf_get(&c.conf, "agent_socket") ?: EBS_AGENT_SOCKET;
	optind += 1;
	c.cmd = cmd;
	/* The command sees argv[0] = its name, then its own arguments. */
	rc = cmd->run(&c, argc - optind, argv + optind);
	state_unlock(&c);
	kms_client_free(c.kms);
	ebs_conf_free(&c.conf);
	return ctl_finish(&c, rc);
}
