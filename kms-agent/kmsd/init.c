// SPDX-License-Identifier: GPL-2.0
/*
 * `ebscrypt-kmsd init`: a ready-to-run state directory for a demo or a
 * first install: a config listening on loopback, an "admin" principal
 * (role admin) and a "host" principal (role user, for ebscrypt-agent), their
 * generated secrets in 0600 files, and an AWS shared-credentials file with
 * both as profiles so the AWS CLI can be pointed at the service at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

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

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	size_t len = strlen(text);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "ebscrypt-kmsd: cannot create %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd))
		rc = -EIO;
	close(fd);
	return rc;
}

int kmsd_init_state(const char *state_dir, const char *listen)
{
	static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char secretset[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char akid_admin[21] = "AKIA", akid_host[21] = "AKIA";
	char sec_admin[42], sec_host[42], text[4096], creds[1024];
	int rc;

	if (mkdir(state_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "ebscrypt-kmsd: cannot create %s: %s\n", state_dir, strerror(errno));
		return -errno;
	}
	if (random_chars(akid_admin + 4, 16, upper) || random_chars(akid_host + 4, 16, upper) ||
	    random_chars(sec_admin, 40, secretset) || random_chars(sec_host, 40, secretset))
		return -EIO;
	snprintf(text, sizeof(text),
		 "# ebscrypt-kmsd configuration, written by `ebscrypt-kmsd init`.\n"
		 "# See ebscrypt-kmsd(8) and docs/kmsd.md.\n"
		 "listen = %s\n"
		 "state_dir = %s\n"
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
		 listen ? listen : "127.0.0.1:8700", state_dir, akid_admin, akid_host);
	snprintf(creds, sizeof(creds),
		 "[admin]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
		 "[host]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		 akid_admin, sec_admin, akid_host, sec_host);
	strcat(sec_admin, "\n");
	strcat(sec_host, "\n");
	rc = write_file(state_dir, "kmsd.conf", text);
	if (!rc)
		rc = write_file(state_dir, "admin.secret", sec_admin);
	if (!rc)
		rc = write_file(state_dir, "host.secret", sec_host);
	if (!rc)
		rc = write_file(state_dir, "credentials", creds);
	OPENSSL_cleanse(sec_admin, sizeof(sec_admin));
	OPENSSL_cleanse(sec_host, sizeof(sec_host));
	OPENSSL_cleanse(creds, sizeof(creds));
	if (!rc)
		printf("wrote %s/kmsd.conf, admin.secret, host.secret and credentials "
		       "(AWS profiles \"admin\" and \"host\")\n", state_dir);
	return rc;
}
