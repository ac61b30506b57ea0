// SPDX-License-Identifier: GPL-2.0
/* The strict "key = value" parser behind agent.conf and ebscryptctl.conf. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/conf.h"

static const char *const keys[] = { "kms_endpoint", "kms_timeout_ms", "secret", NULL };

static int parse(const char *text, struct ebs_conf *c, char *why)
{
	return ebs_conf_parse(text, strlen(text), keys, c, why, 160);
}

static void values_comments_and_spaces(void **state)
{
	struct ebs_conf c;
	char why[160];
	long t;

	assert_int_equal(parse("# comment\n\n  kms_endpoint =  http://127.0.0.1:8700/  \n"
			       "kms_timeout_ms=2500\r\nsecret = a b=c", &c, why), 0);
	assert_string_equal(ebs_conf_get(&c, "kms_endpoint"), "http://127.0.0.1:8700/");
	assert_string_equal(ebs_conf_get(&c, "secret"), "a b=c");
	assert_int_equal(ebs_conf_get_long(&c, "kms_timeout_ms", 1, 100, 10000, &t, why, 160), 0);
	assert_int_equal(t, 2500);
	ebs_conf_free(&c);
}

static void a_comment_after_white_space_is_not_part_of_the_value(void **state)
{
	struct ebs_conf c;
	char why[160];

	/* As the documented agent.conf writes them. */
	assert_int_equal(parse("kms_endpoint = http://127.0.0.1:8700/   # the local kmsd\n"
			       "secret = ab#cd\t# a '#' inside a value stays\n", &c, why), 0);
	assert_string_equal(ebs_conf_get(&c, "kms_endpoint"), "http://127.0.0.1:8700/");
	assert_string_equal(ebs_conf_get(&c, "secret"), "ab#cd");
	ebs_conf_free(&c);
}

struct seen {
	char what[4][64];
	size_t line[4], n;
};

static int record(void *arg, const struct ebs_conf_line *l, char *why, size_t why_len)
{
	struct seen *s = arg;

	if (s->n == 4)
		return -E2BIG;
	if (l->section)
		snprintf(s->what[s->n], sizeof(s->what[0]), "%s", l->section);
	else
		snprintf(s->what[s->n], sizeof(s->what[0]), "%s=%s", l->key, l->value);
	s->line[s->n++] = l->lineno;
	return 0;
}

static void sections_reach_the_caller_in_order(void **state)
{
	static const char text[] = "a = 1\n[principal x]  # first\nb = 2\n";
	struct seen s = { .n = 0 };
	char why[160];

	assert_int_equal(ebs_conf_scan(text, strlen(text), EBS_CONF_SECTIONS, record, &s, why, 160), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.what[0], "a=1");
	assert_string_equal(s.what[1], "[principal x]");
	assert_int_equal(s.line[1], 2);
	assert_string_equal(s.what[2], "b=2");
	/* Without EBS_CONF_SECTIONS a section line is a mistake like any other. */
	s.n = 0;
	assert_int_equal(ebs_conf_scan(text, strlen(text), EBS_CONF_NO_SECTIONS, record, &s, why, 160), -EINVAL);
	assert_non_null(strstr(why, "line 2"));
}

static void every_mistake_names_its_line(void **state)
{
	static const char *const bad[] = {
		"kms_endpont = x\n",               /* typo: unknown key */
		"kms_endpoint = a\nkms_endpoint = b\n", /* duplicate */
		"kms_endpoint\n",                   /* no '=' */
		"= value\n",                        /* no key */
		"KMS_ENDPOINT = x\n",               /* keys are lowercase */
	};
	struct ebs_conf c;
	char why[160];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		assert_int_equal(parse(bad[i], &c, why), -EINVAL);
		assert_non_null(strstr(why, "line "));
		assert_null(c.e);
	}
}

static void long_lines_nul_bytes_and_ranges_are_refused(void **state)
{
	char big[EBS_CONF_MAX_LINE + 40], why[160];
	struct ebs_conf c;
	long t;

	memset(big, 'a', sizeof(big));
	memcpy(big, "secret = ", 9);
	assert_int_equal(ebs_conf_parse(big, sizeof(big), keys, &c, why, 160), -EINVAL);
	assert_int_equal(ebs_conf_parse("secret = a\0b\n", 13, keys, &c, why, 160), -EINVAL);
	assert_int_equal(parse("kms_timeout_ms = 12x\n", &c, why), 0);
	assert_int_equal(ebs_conf_get_long(&c, "kms_timeout_ms", 1, 100, 10000, &t, why, 160), -EINVAL);
	ebs_conf_free(&c);
	assert_int_equal(parse("kms_timeout_ms = 99999999\n", &c, why), 0);
	assert_int_equal(ebs_conf_get_long(&c, "kms_timeout_ms", 1, 100, 10000, &t, why, 160), -EINVAL);
	ebs_conf_free(&c);
}

static void credential_files_must_be_private(void **state)
{
	char path[] = "/tmp/ebs-conf-XXXXXX", why[160];
	struct ebs_conf c;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret = s3cr3t\n", 16), 16);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(ebs_conf_load(path, EBS_CONF_CREDENTIALS, keys, &c, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "0600"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(ebs_conf_load(path, EBS_CONF_CREDENTIALS, keys, &c, why, sizeof(why)), 0);
	assert_string_equal(ebs_conf_get(&c, "secret"), "s3cr3t");
	ebs_conf_free(&c);
	unlink(path);
}

static int accept_any(void *arg, const struct ebs_conf_line *l, char *why, size_t why_len)
{
	size_t *key_len = arg;

	*key_len = l->key ? strlen(l->key) : 0;
	return 0;
}

/*
 * The longest key a line can hold fills the scanner's whole buffer: a
 * buffer one byte short takes the key's NUL one byte past its end, which
 * ASan reports.
 */
static void a_key_as_long_as_a_line_stays_inside_the_buffer(void **state)
{
	char line[EBS_CONF_MAX_LINE + 1], why[160];
	struct ebs_conf c;
	size_t key_len = 0;

	memset(line, 'k', EBS_CONF_MAX_LINE);
	line[EBS_CONF_MAX_LINE] = '\0';
	assert_int_equal(parse(line, &c, why), -EINVAL);
	assert_non_null(strstr(why, "key = value"));
	assert_int_equal(ebs_conf_scan(line, EBS_CONF_MAX_LINE, EBS_CONF_SECTIONS, accept_any, &key_len,
				       why, sizeof(why)), -EINVAL);
	line[EBS_CONF_MAX_LINE - 1] = '=';
	assert_int_equal(ebs_conf_scan(line, EBS_CONF_MAX_LINE, EBS_CONF_SECTIONS, accept_any, &key_len,
				       why, sizeof(why)), 0);
	assert_int_equal(key_len, EBS_CONF_MAX_LINE - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values_comments_and_spaces),
		cmocka_unit_test(a_comment_after_white_space_is_not_part_of_the_value),
		cmocka_unit_test(sections_reach_the_caller_in_order),
		cmocka_unit_test(every_mistake_names_its_line),
		cmocka_unit_test(long_lines_nul_bytes_and_ranges_are_refused),
		cmocka_unit_test(credential_files_must_be_private),
		cmocka_unit_test(a_key_as_long_as_a_line_stays_inside_the_buffer),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
