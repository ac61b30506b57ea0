// SPDX-License-Identifier: GPL-2.0
/*
 * `ebscrypt-kmsd init`: a ready-to-run config for a demo or a first
 * install, where the daemon will read it (the unit's
 * /etc/ebscrypt/kmsd.conf by default): an "admin" principal (role admin)
 * and a "host" principal (role user, for ebscrypt-agent), their generated
 * secrets in 0600 files beside the config, and an AWS shared-credentials
 * file with both as profiles so the AWS CLI can be pointed at the service
 * at once. Paths in the config are relative to its directory (secrets,
 * TLS files) or absolute (the state directory), so it runs from any
 * working directory. An address other than loopback gets HTTPS at once: a
 * self-signed certificate and key beside the config, since the daemon
 * refuses plain HTTP there.
 *
 * Run as root for the unit's config, where the packages made the service's
 * user, the files the daemon reads become that user's: the unit starts it
 * as that user, and it reads only 0600 files it owns. The credentials file
 * is for the operator, and stays root's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "kmsd.h"

static int random_chars(char *out, size_t n, const char *alphabet)
{
	size_t m = strlen(alphabet), i = 0;
	unsigned char b;

	while (i < n) {
		if (RAND_priv_bytes(&b, 1) != 1)
			return -EIO;
		/* Rejection sampling keeps every character equally likely. */
		if (b >= 256 - 256 % m)
			continue;
		out[i++] = alphabet[b % m];
	}
	out[n] = '\0';
	OPENSSL_cleanse(&b, sizeof(b));
	return 0;
}

/* Who the files the daemon reads belong to: (uid_t)-1 keeps the creator's. */
struct init_owner {
	uid_t uid;
	gid_t gid;
};

/* path, new, with mode, given to owner. */
static int create_owned(const char *path, mode_t mode, const struct init_owner *owner)
{
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "ebscrypt-kmsd: cannot create %s: %s\n", path, strerror(-rc));
		return rc;
	}
	if (fchown(fd, owner->uid, owner->gid)) {
		rc = -errno;
		fprintf(stderr, "ebscrypt-kmsd: cannot give %s to its user: %s\n", path, strerror(-rc));
		close(fd);
		unlink(path);
		return rc;
	}
	return fd;
}

static int write_file(const char *dir, const char *name, const char *text, const struct init_owner *owner)
{
	char path[4096];
	size_t len = strlen(text);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = create_owned(path, 0600, owner);
	if (fd < 0)
		return fd;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd))
		rc = -EIO;
	close(fd);
	return rc;
}

/* The host part of ADDR:PORT or [ADDR]:PORT, if it is a literal IP address other than "any". */
static int listen_ip(const char *listen, char *ip, size_t len)
{
	const char *end;
	unsigned char buf[16];
	size_t n;

	if (*listen == '[') {
		end = strchr(listen, ']');
		listen++;
	} else {
		end = strrchr(listen, ':');
	}
	n = end ? (size_t)(end - listen) : strlen(listen);
	if (n >= len)
		return 0;
	memcpy(ip, listen, n);
	ip[n] = '\0';
	if (!strcmp(ip, "0.0.0.0") || !strcmp(ip, "::"))
		return 0;
	return inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1;
}

static int add_ext(X509 *crt, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, crt, crt, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A self-signed P-256 certificate for this host's name, localhost and the
 * listening address, valid for 10 years: tls.crt (also the clients' CA
 * file) and tls.key (0600) in dir.
 */
static int write_self_signed(const char *dir, const char *listen, const struct init_owner *owner)
{
	char host[256] = "localhost", ip[64], san[600], path[PATH_MAX + 16];
	unsigned char serial[16];
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	BIGNUM *bn = NULL;
	FILE *f = NULL;
	int fd, rc = -EIO;

	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "localhost");
	snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
	if (listen_ip(listen, ip, sizeof(ip)))
		snprintf(san + strlen(san), sizeof(san) - strlen(san), ",IP:%s", ip);
	key = EVP_EC_gen("P-256");
	crt = X509_new();
	if (!key || !crt || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !X509_set_version(crt, 2) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(crt), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(crt), 10L * 365 * 86400) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
					(const unsigned char *)host, -1, -1, 0) ||
	    !X509_set_issuer_name(crt, X509_get_subject_name(crt)) || !X509_set_pubkey(crt, key) ||
	    !add_ext(crt, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(crt, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
	    !add_ext(crt, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(crt, NID_subject_alt_name, san) || !X509_sign(crt, key, EVP_sha256()))
		goto out;
	snprintf(path, sizeof(path), "%s/tls.key", dir);
	fd = create_owned(path, 0600, owner);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	if (!(f = fdopen(fd, "w"))) {
		rc = -errno;
		close(fd);
		goto out;
	}
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) || fflush(f) || fsync(fileno(f)))
		goto out;
	fclose(f);
	f = NULL;
	snprintf(path, sizeof(path), "%s/tls.crt", dir);
	fd = create_owned(path, 0644, owner);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	if (!(f = fdopen(fd, "w"))) {
		rc = -errno;
		close(fd);
		goto out;
	}
	if (!PEM_write_X509(f, crt) || fflush(f) || fsync(fileno(f)))
		goto out;
	rc = 0;
out:
	if (f)
		fclose(f);
	if (rc == -EIO)
		fprintf(stderr, "ebscrypt-kmsd: cannot make a TLS certificate in %s\n", dir);
	BN_free(bn);
	X509_free(crt);
	EVP_PKEY_free(key);
	return rc;
}

/* dir with mode, and its missing parents 0755 (/etc/ebscrypt on a machine without it). */
static int make_dir(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST) {
			fprintf(stderr, "ebscrypt-kmsd: cannot create %s: %s\n", tmp, strerror(errno));
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(dir, mode) && errno != EEXIST) {
		fprintf(stderr, "ebscrypt-kmsd: cannot create %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * The daemon's files go to the service's user when root writes the unit's
 * config and the packages made that user; anyone else's init is for a
 * daemon they run themselves.
 */
static void service_owner(const char *config_path, struct init_owner *owner)
{
	const struct passwd *pw;

	owner->uid = (uid_t)-1;
	owner->gid = (gid_t)-1;
	if (geteuid() || strcmp(config_path, KMSD_DEFAULT_CONFIG))
		return;
	pw = getpwnam(KMSD_SERVICE_USER);
	if (!pw)
		return;
	owner->uid = pw->pw_uid;
	owner->gid = pw->pw_gid;
}

int kmsd_init_state(const char *config_path, const char *state_dir, const char *listen)
{
	static const struct init_owner keep = { (uid_t)-1, (gid_t)-1 };
	struct init_owner daemon;
	static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char secretset[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char akid_admin[21] = "AKIA", akid_host[21] = "AKIA";
	char sec_admin[42], sec_host[42], text[8192], creds[1024], cfg_dir[PATH_MAX], *slash;
	char *abs_state = NULL;
	const char *name;
	int rc, tls;

	char listen_buf[300];

	listen = listen ? listen : "127.0.0.1:8700";
	/* "0.0.0.0" or "[::]" alone: the service's usual port, as the daemon needs one. */
	if (strncmp(listen, "unix:", 5) && (*listen == '[' ? !strstr(listen, "]:") : !strchr(listen, ':'))) {
		snprintf(listen_buf, sizeof(listen_buf), "%s:8700", listen);
		listen = listen_buf;
	}
	/* The daemon refuses plain HTTP beyond loopback: give it what it needs. */
	tls = !config_listen_is_local(listen);
	snprintf(cfg_dir, sizeof(cfg_dir), "%s", config_path);
	slash = strrchr(cfg_dir, '/');
	if (slash == cfg_dir)
		cfg_dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(cfg_dir, sizeof(cfg_dir), ".");
	name = slash ? slash + 1 : config_path;
	/* The config's directory may hold other programs' configs: its files are 0600, not it. */
	if ((rc = make_dir(state_dir, 0700)) || (strcmp(cfg_dir, state_dir) && (rc = make_dir(cfg_dir, 0755))))
		return rc;
	/* Absolute: the config may be read from anywhere. */
	abs_state = realpath(state_dir, NULL);
	if (!abs_state) {
		rc = -errno;
		fprintf(stderr, "ebscrypt-kmsd: cannot resolve %s: %s\n", state_dir, strerror(-rc));
		return rc;
	}
	if (random_chars(akid_admin + 4, 16, upper) || random_chars(akid_host + 4, 16, upper) ||
	    random_chars(sec_admin, 40, secretset) || random_chars(sec_host, 40, secretset)) {
		free(abs_state);
		return -EIO;
	}
	snprintf(text, sizeof(text),
		 "# ebscrypt-kmsd configuration, written by `ebscrypt-kmsd init`.\n"
		 "# See ebscrypt-kmsd(8). Relative paths are relative to this file's directory.\n"
		 "listen = %s\n"
		 "state_dir = %s\n"
		 "%s"
		 "region = us-east-1\n"
		 "account_id = 111122223333\n"
		 "max_body_bytes = 65536\n"
		 "max_connections = 128\n"
		 "threads = 4\n"
		 "connection_timeout_s = 10\n"
		 "\n"
		 "[principal admin]\n"
		 "arn = arn:aws:iam::111122223333:user/admin\n"
		 "access_key_id = %s\n"
		 "secret_access_key_file = admin.secret\n"
		 "role = admin\n"
		 "\n"
		 "[principal host]\n"
		 "arn = arn:aws:iam::111122223333:role/ebscrypt-host\n"
		 "access_key_id = %s\n"
		 "secret_access_key_file = host.secret\n"
		 "role = user\n",
		 listen, abs_state,
		 tls ? "# Self-signed by init: clients use tls.crt as their CA file; replace both with\n"
		       "# a certificate from your own CA.\ntls_cert = tls.crt\ntls_key = tls.key\n" : "",
		 akid_admin, akid_host);
	free(abs_state);
	snprintf(creds, sizeof(creds),
		 "[admin]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
		 "[host]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		 akid_admin, sec_admin, akid_host, sec_host);
	strcat(sec_admin, "\n");
	strcat(sec_host, "\n");
	service_owner(config_path, &daemon);
	rc = write_file(cfg_dir, name, text, &daemon);
	if (!rc)
		rc = write_file(cfg_dir, "admin.secret", sec_admin, &daemon);
	if (!rc)
		rc = write_file(cfg_dir, "host.secret", sec_host, &daemon);
	if (!rc)
		rc = write_file(cfg_dir, "credentials", creds, &keep);
	if (!rc && tls)
		rc = write_self_signed(cfg_dir, listen, &daemon);
	OPENSSL_cleanse(sec_admin, sizeof(sec_admin));
	OPENSSL_cleanse(sec_host, sizeof(sec_host));
	OPENSSL_cleanse(creds, sizeof(creds));
	if (!rc)
		printf("wrote %s and, beside it, admin.secret, host.secret and credentials (AWS profiles "
		       "\"admin\" and \"host\")%s; state in %s\n", config_path,
		       tls ? ", tls.crt and tls.key (self-signed: clients' CA file)" : "", state_dir);
	return rc;
}
