// SPDX-License-Identifier: GPL-2.0
/* kmsd config parsing: a full config, the defaults, and a list of bad ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "kms-agent/kmsd/kmsd.h"

static char dir[] = "/tmp/kmsd-config-XXXXXX";

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	put("a.secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n", 0600);
	put("b.secret", "another-secret", 0600);
	put("open.secret", "world-readable", 0644);
	put("empty.secret", "\n", 0600);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void full_config_parses(void **state)
{
	static const char text[] =
		"# comment\n"
		"listen = 0.0.0.0:8443   # trailing comment\n"
		"state_dir = /var/lib/x\n"
		"region = eu-west-1\n"
		"account_id = 123456789012\n"
		"tls_cert = /etc/c.pem\n"
		"tls_key = /etc/k.pem\n"
		"max_body_bytes = 131072\n"
		"max_connections = 50\n"
		"threads = 8\n"
		"connection_timeout_s = 5\n"
		"max_clock_skew_s = 300\n"
		"\n"
		"[principal admin]\n"
		"arn = arn:aws:iam::123456789012:user/admin\n"
		"access_key_id = AKIAADMIN\n"
		"secret_access_key_file = a.secret\n"
		"role = admin\n"
		"[principal host]\n"
		"arn = arn:aws:iam::123456789012:role/host\n"
		"access_key_id = AKIAHOST\n"
		"secret_access_key_file = b.secret\n"
		"role = user\n";
	struct kmsd_config c;
	const struct principal *p;
	char err[256];

	assert_int_equal(config_parse(text, dir, &c, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "0.0.0.0:8443");
	assert_string_equal(c.region, "eu-west-1");
	assert_string_equal(c.account_id, "123456789012");
	assert_string_equal(c.tls_key, "/etc/k.pem");
	assert_int_equal(c.max_body, 131072);
	assert_int_equal(c.max_connections, 50);
	assert_int_equal(c.threads, 8);
	assert_int_equal(c.connection_timeout, 5);
	assert_int_equal(c.max_skew, 300);
	assert_int_equal(c.nprincipals, 2);
	p = config_find_access_key(&c, "AKIAHOST");
	assert_non_null(p);
	assert_string_equal(p->name, "host");
	assert_int_equal(p->role, ROLE_USER);
	assert_int_equal(p->secret_len, strlen("another-secret"));
	assert_memory_equal(p->secret, "another-secret", p->secret_len);
	p = config_find_access_key(&c, "AKIAADMIN");
	assert_int_equal(p->role, ROLE_ADMIN);
	assert_int_equal(p->secret_len, 40);
	assert_null(config_find_access_key(&c, "AKIANOBODY"));
	config_free(&c);
}

static void defaults_apply(void **state)
{
	struct kmsd_config c;
	char err[256];

	assert_int_equal(config_parse("", dir, &c, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "127.0.0.1:8700");
	assert_string_equal(c.region, "us-east-1");
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.max_skew, 900);
	assert_null(c.tls_cert);
	assert_int_equal(c.nprincipals, 0);
	assert_int_equal(c.request_timeout, 30);
	assert_int_equal(c.max_connections_per_source, 32);
	assert_null(c.service_host_name);
	config_free(&c);
}

static void connection_limits_and_host_name_parse(void **state)
{
	struct kmsd_config c;
	char err[256];

	assert_int_equal(config_parse("request_timeout_s = 5\nmax_connections_per_source = 4\n"
				      "service_host_name = kms.example.internal\n", dir, &c, err, sizeof(err)), 0);
	assert_int_equal(c.request_timeout, 5);
	assert_int_equal(c.max_connections_per_source, 4);
	assert_string_equal(c.service_host_name, "kms.example.internal");
	config_free(&c);
}

static void bad_configs_are_refused(void **state)
{
	static const char *const bad[] = {
		"listen\n",
		"listen =\n",
		"colour = blue\n",
		"max_body_bytes = 12\n",
		"max_body_bytes = 1e6\n",
		"threads = -1\n",
		"threads = 0\n",
		"connection_timeout_s = 99999\n",
		"request_timeout_s = 0\n",
		"max_connections_per_source = 0\n",
		"service_host_name = kms.example:443\n",
		"service_host_name = https://kms.example\n",
		"account_id = 12345\n",
		"account_id = 12345678901x\n",
		"tls_cert = /c.pem\n",
		"[principal]\n",
		"[user x]\n",
		"[principal x\n",
		"[principal x]\narn = a\naccess_key_id = K\n",
		"[principal x]\narn = a\nsecret_access_key_file = a.secret\n",
		"[principal x]\naccess_key_id = K\nsecret_access_key_file = a.secret\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = open.secret\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = empty.secret\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = missing.secret\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = a.secret\nrole = root\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = a.secret\nsecret_access_key_file = b.secret\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = a.secret\nnickname = y\n",
		"[principal x]\narn = a\naccess_key_id = K\nsecret_access_key_file = a.secret\n"
		"[principal y]\narn = b\naccess_key_id = K\nsecret_access_key_file = b.secret\n",
	};
	struct kmsd_config c;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (config_parse(bad[i], dir, &c, err, sizeof(err)) == 0)
			fail_msg("config %zu was accepted: %s", i, bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void loopback_detection(void **state)
{
	assert_true(config_listen_is_local("127.0.0.1:8700"));
	assert_true(config_listen_is_local("127.1.2.3:0"));
	assert_true(config_listen_is_local("localhost:8700"));
	assert_true(config_listen_is_local("[::1]:8700"));
	assert_true(config_listen_is_local("unix:/run/kmsd.sock"));
	assert_false(config_listen_is_local("0.0.0.0:8700"));
	assert_false(config_listen_is_local("10.0.0.1:8700"));
	assert_false(config_listen_is_local("[::]:8700"));
	assert_false(config_listen_is_local("[::1:8700"));
	assert_false(config_listen_is_local("128.0.0.1:1"));
	assert_false(config_listen_is_local("example.com:8700"));
}

#define T(name, fn) { name, fn, NULL, NULL, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T("a full config with two principals parses, secrets read from their files", full_config_parses),
		T("an empty config gives loopback, us-east-1 and the documented limits", defaults_apply),
		T("request_timeout_s, max_connections_per_source and service_host_name parse", connection_limits_and_host_name_parse),
		T("bad keys, values, sections, principals and secret files are refused with a message", bad_configs_are_refused),
		T("plain HTTP is only considered local on loopback and Unix sockets", loopback_detection),
	};

	return cmocka_run_group_tests_name("kmsd config", tests, setup, teardown);
}
