// SPDX-License-Identifier: GPL-2.0
/*
 * `ebscrypt-kmsd credentials issue`: the operator mints temporary
 * credentials for a configured principal, on a machine that holds the
 * root key, and prints them in the JSON of an AWS credential_process
 * (Version 1), so the output can be handed to a host as it is: in a
 * credential_process, served by an instance metadata service, or as the
 * AWS_* environment of one command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kmsd.h"
#include "log.h"
#include "secmem.h"

static void creds_usage(FILE *f)
{
	fprintf(f, "usage: ebscrypt-kmsd credentials issue --principal NAME [--duration SECONDS]\n"
		   "                                   [--config FILE] [--state-dir DIR]\n"
		   "\n"
		   "Prints temporary credentials for principal NAME (default lifetime %d s,\n"
		   "%d..%d) as credential_process JSON (Version 1).\n",
		   SESSION_DEFAULT_S, SESSION_MIN_S, SESSION_MAX_S);
}

int sessions_cmd(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "principal", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *cfg_path = NULL, *dir = NULL;
	long long duration = SESSION_DEFAULT_S;
	struct kmsd_config cfg;
	struct session_creds sc;
	uint8_t *root_key = NULL;
	char path[4096], err[512] = "", exp[32], *end;
	struct tm tm;
	time_t t;
	int c, rc;

	if (argc < 2 || strcmp(argv[1], "issue")) {
		creds_usage(argc > 1 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			name = optarg;
			break;
		case 't':
			errno = 0;
			duration = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || duration < SESSION_MIN_S ||
			    duration > SESSION_MAX_S) {
				ebs_err("--duration must be %d..%d seconds", SESSION_MIN_S, SESSION_MAX_S);
				return 2;
			}
			break;
		case 'c':
			cfg_path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			creds_usage(stdout);
			return 0;
		default:
			creds_usage(stderr);
			return 2;
		}
	}
	if (!name || optind != argc) {
		creds_usage(stderr);
		return 2;
	}
	cfg_path = config_path(cfg_path, dir, path, sizeof(path));
	if (config_load(cfg_path, &cfg, err, sizeof(err))) {
		ebs_err("%s: %s", cfg_path, err);
		return 1;
	}
	rc = 1;
	if (!config_find_principal(&cfg, name)) {
		ebs_err("%s: no principal %s is configured", cfg_path, name);
		goto out;
	}
	/* Loading would create a root key where there is none: refuse instead. */
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : cfg.state_dir, KMSD_ROOT_KEY_FILE);
	if (access(path, F_OK)) {
		ebs_err("no root key at %s: credentials are issued where the service keeps its state",
			path);
		goto out;
	}
	if (secmem_harden_process())
		ebs_warn("cannot harden the process");
	if (crypto_load_root_key(dir ? dir : cfg.state_dir, &root_key)) {
		ebs_err("cannot load the root key in %s", dir ? dir : cfg.state_dir);
		goto out;
	}
	if (session_issue(root_key, name, (long long)time(NULL), duration, &sc)) {
		ebs_err("cannot issue credentials");
		goto out;
	}
	t = (time_t)sc.expiration;
	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Base64 and the key id need no JSON escaping. */
	printf("{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", "
	       "\"SessionToken\": \"%s\", \"Expiration\": \"%s\"}\n",
	       sc.access_key_id, sc.secret, sc.token, exp);
	rc = fflush(stdout) ? 1 : 0;
	session_creds_free(&sc);
out:
	crypto_free_root_key(root_key);
	config_free(&cfg);
	return rc;
}
