// SPDX-License-Identifier: GPL-2.0
/*
 * ebscrypt-kmsd: a key service speaking the AWS KMS JSON 1.1 protocol.
 *
 *   ebscrypt-kmsd [--config FILE] [--state-dir DIR] [--listen ADDR] [--foreground] [--pidfile FILE] [--verbose]
 *   ebscrypt-kmsd init [--config FILE] [--state-dir DIR] [--listen ADDR]
 *   ebscrypt-kmsd audit [--config FILE | --state-dir DIR] [--since ISO8601] [--key KEYID] [--json]
 *   ebscrypt-kmsd audit export --json [--config FILE | --state-dir DIR] [--since ISO8601] [--key KEYID]
 *   ebscrypt-kmsd audit prune --before ISO8601 [--config FILE | --state-dir DIR]
 *   ebscrypt-kmsd backup [--config FILE | --state-dir DIR] DEST
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

#include "detach.h"
#include "kmsd.h"
#include "log.h"
#include "paths.h"
#include "secmem.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ebscrypt-kmsd [--config FILE] [--state-dir DIR] [--listen ADDR] [--foreground] [--pidfile FILE] [--verbose]\n"
		"       ebscrypt-kmsd init [--config FILE] [--state-dir DIR] [--listen ADDR]\n"
		"       ebscrypt-kmsd audit [--config FILE | --state-dir DIR] [--since ISO8601] [--key KEYID] [--json]\n"
		"       ebscrypt-kmsd audit export --json [--config FILE | --state-dir DIR] [--since ISO8601]\n"
		"                                  [--key KEYID]\n"
		"       ebscrypt-kmsd audit prune --before ISO8601 [--config FILE | --state-dir DIR]\n"
		"       ebscrypt-kmsd backup [--config FILE | --state-dir DIR] DEST\n"
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
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *listen_on = NULL, *cfg_path = NULL;
	char path[4096];
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
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
	/*
	 * Where the daemon will look: `ebscrypt-kmsd` (and its unit) reads
	 * the default config, `ebscrypt-kmsd --state-dir DIR` reads DIR/kmsd.conf.
	 */
	return kmsd_init_state(config_path(cfg_path, dir, path, sizeof(path)),
			       dir ?: KMSD_DEFAULT_STATE_DIR, listen_on) ? 1 : 0;
}

/* audit, audit export (JSON lines only) and audit prune share their options. */
static int cmd_audit(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "before", required_argument, NULL, 'b' },
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *dir = NULL, *since = NULL, *key = NULL, *before = NULL;
	const char *sub = NULL;
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
		case 'c':
			cfg_path = optarg;
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
	if (optind != argc || (before && (!sub || strcmp(sub, "prune")))) {
		usage(stderr);
		return 2;
	}
	if (sub && !strcmp(sub, "prune")) {
		if (!before || since || key || json) {
			usage(stderr);
			return 2;
		}
		return audit_prune(cfg_path, dir, before) ? 1 : 0;
	}
	if (sub && !json) {
		fprintf(stderr, "ebscrypt-kmsd: audit export writes JSON lines: give --json\n");
		return 2;
	}
	return audit_query(cfg_path, dir, since, key, json) ? 1 : 0;
}

/*
 * An online copy of the SQLite store, while the service runs. The root key
 * is deliberately not copied: a backup must not hold what opens it.
 */
static int cmd_backup(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *dir = NULL;
	struct kmsd_config cfg;
	char path[4096], err[512] = "";
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cfg_path = config_path(cfg_path, dir, path, sizeof(path));
	if (config_load(cfg_path, &cfg, err, sizeof(err))) {
		ebs_err("%s: %s", cfg_path, err);
		return 1;
	}
	if (strcmp(cfg.store, "sqlite")) {
		ebs_err("the store is PostgreSQL: back it up with pg_dump or pg_basebackup "
			"(see ebscrypt-kmsd(8))");
		config_free(&cfg);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : cfg.state_dir, KMSD_DB_FILE);
	rc = store_backup_sqlite(path, argv[optind]);
	config_free(&cfg);
	if (!rc)
		printf("%s: a consistent copy of %s (the root key is not in it)\n", argv[optind], path);
	return rc ? 1 : 0;
}

static int serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *dir = NULL, *listen_on = NULL;
	struct ebs_detach det = { .ready_fd = -1 };
	struct kmsd_config cfg;
	struct http_server *srv = NULL;
	struct kmsd k;
	char path[4096], err[512] = "", *abs_dir;
	int c, foreground = 0, sig, rc;
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
		case 'p':
			det.pidfile = optarg;
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
	cfg_path = config_path(cfg_path, dir, path, sizeof(path));
	/*
	 * Detach first: config_load() puts the principals' secrets in secmem,
	 * which a fork() child would see zeroed (and unlocked). Errors from
	 * here on still reach the terminal, and the command's exit status.
	 */
	if (!foreground && ebs_detach(&det)) {
		ebs_err("cannot detach");
		return 1;
	}
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
	/* Absolute, since a detached daemon leaves its starting directory. */
	abs_dir = realpath(cfg.state_dir, NULL);
	if (!abs_dir) {
		ebs_err("cannot resolve %s: %s", cfg.state_dir, strerror(errno));
		config_free(&cfg);
		return 1;
	}
	free(cfg.state_dir);
	cfg.state_dir = abs_dir;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Block before any thread starts, so only sigwait() sees these. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = store_open(&cfg, &k.db);
	if (rc) {
		if (!strcmp(cfg.store, "sqlite"))
			ebs_err("cannot open %s/%s: %s", cfg.state_dir, KMSD_DB_FILE, strerror(-rc));
		else
			ebs_err("cannot open the %s store: %s", cfg.store, strerror(-rc));
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
	ebs_info("serving %zu principal(s), state in %s, store %s", cfg.nprincipals, cfg.state_dir,
		 store_kind(k.db));
	rc = ebs_detach_ready(&det);
	if (rc)
		goto out;
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
	ebs_detach_done(&det);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	ebs_log_init("ebscrypt-kmsd", LOG_INFO);
	if (argc > 1 && !strcmp(argv[1], "init"))
		return cmd_init(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "audit"))
		return cmd_audit(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "backup"))
		return cmd_backup(argc - 1, argv + 1);
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
