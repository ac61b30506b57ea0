// SPDX-License-Identifier: GPL-2.0
/*
 * ebscrypt-kmsd: a key service speaking the AWS KMS JSON 1.1 protocol.
 *
 *   ebscrypt-kmsd [--config FILE] [--state-dir DIR] [--listen ADDR] [--foreground] [--verbose]
 *   ebscrypt-kmsd init --state-dir DIR [--listen ADDR]
 *   ebscrypt-kmsd audit --state-dir DIR [--since ISO8601] [--key KEYID] [--json]
 *   ebscrypt-kmsd audit export --json --state-dir DIR [--since ISO8601] [--key KEYID]
 *   ebscrypt-kmsd audit prune --before ISO8601 --state-dir DIR
 *   ebscrypt-kmsd credentials issue --principal NAME [--duration S] [--config FILE] [--state-dir DIR]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmsd.h"
#include "log.h"
#include "paths.h"
#include "secmem.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ebscrypt-kmsd [--config FILE] [--state-dir DIR] [--listen ADDR] [--foreground] [--verbose]\n"
		"       ebscrypt-kmsd init --state-dir DIR [--listen ADDR]\n"
		"       ebscrypt-kmsd audit --state-dir DIR [--since ISO8601] [--key KEYID] [--json]\n"
		"       ebscrypt-kmsd audit export --json --state-dir DIR [--since ISO8601] [--key KEYID]\n"
		"       ebscrypt-kmsd audit prune --before ISO8601 --state-dir DIR\n"
		"       ebscrypt-kmsd --version\n"
		"       ebscrypt-kmsd credentials issue --principal NAME [--duration S] [--config FILE]\n"
		"                                       [--state-dir DIR]\n"
		"\n"
		"A key service speaking the AWS KMS JSON 1.1 protocol. See ebscrypt-kmsd(8).\n");
}

static long long wall_now(void)
{
	return (long long)time(NULL);
}

static int cmd_init(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *listen_on = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'l':
			listen_on = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	return kmsd_init_state(dir, listen_on) ? 1 : 0;
}

/* audit, audit export (JSON lines only) and audit prune share their options. */
static int cmd_audit(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "before", required_argument, NULL, 'b' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *since = NULL, *key = NULL, *before = NULL, *sub = NULL;
	int c, json = 0;

	if (argc > 1 && (!strcmp(argv[1], "export") || !strcmp(argv[1], "prune"))) {
		sub = argv[1];
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			before = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 's':
			since = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!dir || optind != argc || (before && (!sub || strcmp(sub, "prune")))) {
		usage(stderr);
		return 2;
	}
	if (sub && !strcmp(sub, "prune")) {
		if (!before || since || key || json) {
			usage(stderr);
			return 2;
		}
		return audit_prune(dir, before) ? 1 : 0;
	}
	if (sub && !json) {
		fprintf(stderr, "ebscrypt-kmsd: audit export writes JSON lines: give --json\n");
		return 2;
	}
	return audit_query(dir, since, key, json) ? 1 : 0;
}

/* Detaches, keeping the parent until the child reports that it is serving. */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char st = 1;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st ? 1 : 0);
	}
	close(p[0]);
	setsid();
	if (chdir("/"))
		return -errno;
	*ready_fd = p[1];
	return 0;
}

static int serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *dir = NULL, *listen_on = NULL;
	struct kmsd_config cfg;
	struct http_server *srv = NULL;
	struct kmsd k;
	char path[4096], err[512] = "";
	int c, foreground = 0, ready_fd = -1, sig, rc;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "c:fvh", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'l':
			listen_on = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'v':
			ebs_log_init("ebscrypt-kmsd", LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!cfg_path && dir) {
		snprintf(path, sizeof(path), "%s/kmsd.conf", dir);
		cfg_path = path;
	}
	if (!cfg_path)
		cfg_path = KMSD_DEFAULT_CONFIG;
	if (config_load(cfg_path, &cfg, err, sizeof(err))) {
		ebs_err("%s: %s", cfg_path, err);
		return 1;
	}
	if ((dir && (free(cfg.state_dir), !(cfg.state_dir = strdup(dir)))) ||
	    (listen_on && (free(cfg.listen), !(cfg.listen = strdup(listen_on))))) {
		config_free(&cfg);
		return 1;
	}
	if (!cfg.tls_cert && !config_listen_is_local(cfg.listen)) {
		ebs_err("refusing plain HTTP on %s: configure tls_cert/tls_key, or listen on "
			"loopback or a Unix socket", cfg.listen);
		config_free(&cfg);
		return 1;
	}
	if (!cfg.nprincipals)
		ebs_warn("no principals configured: every request will be refused");

	memset(&k, 0, sizeof(k));
	k.cfg = &cfg;
	k.now = wall_now;
	pthread_mutex_init(&k.lock, NULL);
	rc = secmem_harden_process();
	if (rc)
		ebs_warn("cannot harden the process: %s", strerror(-rc));
	if (mkdir(cfg.state_dir, 0700) && errno != EEXIST) {
		ebs_err("cannot create %s: %s", cfg.state_dir, strerror(errno));
		config_free(&cfg);
		return 1;
	}
	if (!foreground && daemonize(&ready_fd)) {
		ebs_err("cannot detach");
		config_free(&cfg);
		return 1;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Block before any thread starts, so only sigwait() sees these. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(path, sizeof(path), "%s/%s", cfg.state_dir, KMSD_DB_FILE);
	rc = store_open(path, &k.db);
	if (rc) {
		ebs_err("cannot open %s: %s", path, strerror(-rc));
		goto out;
	}
	/* After the store: whether a root key may be created depends on what it holds. */
	rc = crypto_open_root_key(cfg.state_dir, k.db, &k.root_key);
	if (rc) {
		if (rc != -ENOKEY && rc != -EKEYREJECTED)
			ebs_err("cannot load the root key in %s: %s", cfg.state_dir, strerror(-rc));
		goto out;
	}
	rc = http_start(&k, &srv);
	if (rc)
		goto out;
	ebs_info("serving %zu principal(s), state in %s", cfg.nprincipals, cfg.state_dir);
	if (ready_fd >= 0) {
		char ok = 0;

		if (write(ready_fd, &ok, 1) != 1)
			ebs_warn("cannot report readiness to the parent");
		close(ready_fd);
		ready_fd = -1;
	}
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			ebs_info("SIGHUP ignored: restart to reload the configuration");
			continue;
		}
		break;
	}
	ebs_info("signal %d: finishing in-flight requests and stopping", sig);
	rc = 0;
out:
	http_stop(srv);
	if (k.db) {
		pthread_mutex_lock(&k.lock);
		store_close(k.db);
		pthread_mutex_unlock(&k.lock);
	}
	crypto_free_root_key(k.root_key);
	config_free(&cfg);
	pthread_mutex_destroy(&k.lock);
	if (ready_fd >= 0)
		close(ready_fd);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	ebs_log_init("ebscrypt-kmsd", LOG_INFO);
	if (argc > 1 && !strcmp(argv[1], "init"))
		return cmd_init(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "audit"))
		return cmd_audit(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "credentials"))
		return sessions_cmd(argc - 1, argv + 1);
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("ebscrypt-kmsd %s\n", EBS_VERSION);
		return 0;
	}
	return serve(argc, argv);
}
