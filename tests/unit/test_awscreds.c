// SPDX-License-Identifier: GPL-2.0
/*
 * The AWS credential chain's parsers and its refresh rule: ISO 8601 times,
 * credential_process and IMDS documents (every bad one refused), profiles
 * read from the shared files, and when temporary credentials are fetched
 * again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/awscreds.h"
#include "lib/secmem.h"

static int parse(const char *json, enum aws_creds_doc doc, struct aws_credentials *c)
{
	char *buf = strdup(json), why[200] = "";
	int rc;

	assert_non_null(buf);
	rc = aws_creds_parse_json(buf, strlen(buf), doc, c, why, sizeof(why));
	/* The text is wiped: the secret is only in the credentials now. */
	for (size_t i = 0; i < strlen(json); i++)
		assert_int_equal(buf[i], 0);
	if (rc)
		assert_true(why[0]);
	free(buf);
	return rc;
}

static void iso8601_times_parse(void **state)
{
	static const char *const bad[] = {
		"", "2026-12-01", "2026-12-01T13:00:00", "2026-12-01 13:00:00Z", "2026-13-01T13:00:00Z",
		"2026-12-32T13:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T13:60:00Z",
		"2026-12-01T13:00:00+01:00", "2026-12-01T13:00:00Zjunk", "x026-12-01T13:00:00Z",
		"2026-12-01T13:00:00.Z5",
	};
	long long t;
	size_t i;

	assert_int_equal(aws_parse_iso8601("1970-01-01T00:00:00Z", 20, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(aws_parse_iso8601("2026-12-01T13:00:00Z", 20, &t), 0);
	assert_int_equal(t, 1796130000LL);
	assert_int_equal(aws_parse_iso8601("2026-12-01T13:00:00.123Z", 24, &t), 0);
	assert_int_equal(t, 1796130000LL);
	assert_int_equal(aws_parse_iso8601("2026-12-01T13:00:00+00:00", 25, &t), 0);
	assert_int_equal(t, 1796130000LL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(aws_parse_iso8601(bad[i], strlen(bad[i]), &t), -EINVAL);
}

static void a_process_document_is_read(void **state)
{
	struct aws_credentials c = { 0 };

	assert_int_equal(parse("{\"Version\": 1, \"AccessKeyId\": \"ASIAEXAMPLE\", \"SecretAccessKey\": \"s\\/cret\","
			       " \"SessionToken\": \"tok\", \"Expiration\": \"2026-12-01T13:00:00Z\"}",
			       AWS_DOC_PROCESS, &c), 0);
	assert_string_equal(c.access_key_id, "ASIAEXAMPLE");
	assert_string_equal(c.secret, "s/cret");
	assert_int_equal(secmem_size(c.secret), 7);
	assert_string_equal(c.session_token, "tok");
	assert_int_equal(c.expiration, 1796130000LL);
	/* Long-lived: no token, no expiry. */
	assert_int_equal(parse("{\"Version\": 1, \"AccessKeyId\": \"AKIA1\", \"SecretAccessKey\": \"s\"}",
			       AWS_DOC_PROCESS, &c), 0);
	assert_null(c.session_token);
	assert_int_equal(c.expiration, 0);
	aws_credentials_clear(&c);
}

static void bad_documents_are_refused(void **state)
{
	static const char *const bad_process[] = {
		"", "[]", "{}", "not json", "{\"Version\": 1",
		"{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}",
		"{\"Version\": \"1\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}",
		"{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}",
		"{\"Version\": 1, \"SecretAccessKey\": \"s\"}",
		"{\"Version\": 1, \"AccessKeyId\": \"A\"}",
		"{\"Version\": 1, \"AccessKeyId\": \"\", \"SecretAccessKey\": \"s\"}",
		"{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"\"}",
		"{\"Version\": 1, \"AccessKeyId\": 5, \"SecretAccessKey\": \"s\"}",
		"{\"Version\": 1, \"AccessKeyId\": \"A\\u0000B\", \"SecretAccessKey\": \"s\"}",
		"{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Expiration\": \"soon\"}",
		"{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Expiration\": 5}",
	};
	static const char *const bad_imds[] = {
		"{\"Code\": \"Failure\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Token\": \"t\","
		" \"Expiration\": \"2026-12-01T13:00:00Z\"}",
		"{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Token\": \"t\", \"Expiration\": \"2026-12-01T13:00:00Z\"}",
		"{\"Code\": \"Success\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Expiration\": \"2026-12-01T13:00:00Z\"}",
		"{\"Code\": \"Success\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Token\": \"t\"}",
	};
	struct aws_credentials c = { 0 };
	char big[400];
	size_t i;

	for (i = 0; i < sizeof(bad_process) / sizeof(bad_process[0]); i++) {
		assert_int_not_equal(parse(bad_process[i], AWS_DOC_PROCESS, &c), 0);
		assert_null(c.secret);
	}
	for (i = 0; i < sizeof(bad_imds) / sizeof(bad_imds[0]); i++)
		assert_int_not_equal(parse(bad_imds[i], AWS_DOC_IMDS, &c), 0);
	/* A 257-character secret is longer than any AWS secret. */
	snprintf(big, sizeof(big), "{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"%0257d\"}", 0);
	assert_int_not_equal(parse(big, AWS_DOC_PROCESS, &c), 0);
	assert_int_equal(parse("{\"Code\": \"Success\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Token\": \"t\","
			       " \"Expiration\": \"2026-12-01T13:00:00Z\"}", AWS_DOC_IMDS, &c), 0);
	assert_string_equal(c.session_token, "t");
	aws_credentials_clear(&c);
}

static char dir[] = "/tmp/ebs-awscreds-XXXXXX";

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int get(const char *profile, struct aws_credentials *c, char *why, size_t len)
{
	struct aws_chain_config cfg = { .profile = profile };
	struct aws_cred_provider *p;
	int rc;

	assert_int_equal(aws_cred_provider_new(&cfg, &p), 0);
	rc = aws_cred_provider_get(p, 1000, c, why, len);
	aws_cred_provider_free(p);
	return rc;
}

static void profiles_are_read_from_the_shared_files(void **state)
{
	struct aws_credentials c = { 0 };
	char path[256], why[400];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/credentials", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/config", dir);
	setenv("AWS_CONFIG_FILE", path, 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_PROFILE");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	put("credentials", "; a comment\n# another\n[default]\naws_access_key_id = AKIADEFAULT\n"
	    "aws_secret_access_key = dsecret\n\n[other]\naws_access_key_id=AKIAOTHER  \n"
	    "aws_secret_access_key=osecret\naws_session_token = otoken\n");
	put("config", "[default]\nregion = eu-west-1\n[profile other]\naws_access_key_id = AKIAIGNORED\n"
	    "s3 =\n  max_concurrent_requests = 4\n[profile proc]\ncredential_process = printf "
	    "'{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": \"p\"}'\n");
	assert_int_equal(get(NULL, &c, why, sizeof(why)), 0);
	assert_string_equal(c.access_key_id, "AKIADEFAULT");
	assert_string_equal(c.secret, "dsecret");
	/* The credentials file wins over the config file for the same profile. */
	assert_int_equal(get("other", &c, why, sizeof(why)), 0);
	assert_string_equal(c.access_key_id, "AKIAOTHER");
	assert_string_equal(c.session_token, "otoken");
	assert_int_equal(get("proc", &c, why, sizeof(why)), 0);
	assert_string_equal(c.access_key_id, "ASIAPROC");
	assert_int_equal(get("missing", &c, why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "profile missing"));
	/* The environment comes before the files. */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "esecret", 1);
	assert_int_equal(get("other", &c, why, sizeof(why)), 0);
	assert_string_equal(c.access_key_id, "AKIAENV");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	/* No default profile and no metadata service: nothing found, and it says so. */
	put("credentials", "[x]\n");
	put("config", "");
	assert_int_equal(get(NULL, &c, why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "AWS_EC2_METADATA_DISABLED"));
	aws_credentials_clear(&c);
}

/* A credential_process that counts its runs: each run is one fetch. */
static void temporary_credentials_are_refreshed_before_they_expire(void **state)
{
	struct aws_chain_config cfg = { .profile = "count" };
	struct aws_credentials c = { 0 };
	struct aws_cred_provider *p;
	char why[400], text[1024], path[256];
	long long now = (long long)time(NULL);
	FILE *f;
	int runs;

	snprintf(path, sizeof(path), "%s/runs", dir);
	unlink(path);
	/* Credentials that expire 100 s from now (whatever "now" the test passes in). */
	snprintf(text, sizeof(text), "[profile count]\ncredential_process = echo x >> %s; printf "
		 "'{\"Version\": 1, \"AccessKeyId\": \"ASIAC\", \"SecretAccessKey\": \"c\","
		 " \"SessionToken\": \"t\", \"Expiration\": \"%%s\"}' \"$(date -u -d @%lld +%%Y-%%m-%%dT%%H:%%M:%%SZ)\"\n",
		 path, now + 100);
	put("config", text);
	assert_int_equal(aws_cred_provider_new(&cfg, &p), 0);
	assert_int_equal(aws_cred_provider_get(p, now, &c, why, sizeof(why)), 0);
	assert_string_equal(c.session_token, "t");
	/* With 75 s of 100 left, no refresh; a quarter (25 s) left, a refresh. */
	assert_int_equal(aws_cred_provider_get(p, now + 70, &c, why, sizeof(why)), 0);
	f = fopen(path, "r");
	for (runs = 0; f && fgets(text, sizeof(text), f); runs++)
		;
	fclose(f);
	assert_int_equal(runs, 1);
	assert_int_equal(aws_cred_provider_get(p, now + 76, &c, why, sizeof(why)), 0);
	f = fopen(path, "r");
	for (runs = 0; f && fgets(text, sizeof(text), f); runs++)
		;
	fclose(f);
	assert_int_equal(runs, 2);
	/* Past the expiry the process still hands out the same: they are refused. */
	assert_int_equal(aws_cred_provider_get(p, now + 101, &c, why, sizeof(why)), -EKEYEXPIRED);
	assert_null(c.secret);
	aws_cred_provider_free(p);
	aws_credentials_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(iso8601_times_parse),
		cmocka_unit_test(a_process_document_is_read),
		cmocka_unit_test(bad_documents_are_refused),
		cmocka_unit_test(profiles_are_read_from_the_shared_files),
		cmocka_unit_test(temporary_credentials_are_refreshed_before_they_expire),
	};

	return cmocka_run_group_tests_name("awscreds", tests, NULL, NULL);
}
