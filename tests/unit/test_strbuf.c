// SPDX-License-Identifier: GPL-2.0
/* lib/strbuf: what a finished buffer hands over is always a C string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/secmem.h"
#include "lib/strbuf.h"

/*
 * Nothing added: sb_finish() allocates, and the result must still be "".
 * ASan fills fresh heap memory with 0xbe, so an unterminated buffer makes
 * strlen() run off its end.
 */
static void an_empty_buffer_finishes_as_the_empty_string(void **state)
{
	struct strbuf sb;
	char *s = NULL;

	sb_init(&sb);
	assert_int_equal(sb_finish(&sb, &s), 0);
	assert_non_null(s);
	assert_int_equal(strlen(s), 0);
	free(s);
}

static void an_empty_locked_buffer_finishes_as_the_empty_string(void **state)
{
	struct strbuf sb;
	char *s = NULL;

	sb_init_locked(&sb);
	assert_int_equal(sb_finish(&sb, &s), 0);
	assert_non_null(s);
	assert_int_equal(strlen(s), 0);
	secmem_free(s);
}

static void a_finished_buffer_can_be_reused(void **state)
{
	struct strbuf sb;
	char *a = NULL, *b = NULL;

	sb_init(&sb);
	sb_addf(&sb, "%s-%d", "x", 7);
	assert_int_equal(sb_finish(&sb, &a), 0);
	assert_string_equal(a, "x-7");
	assert_int_equal(sb_finish(&sb, &b), 0);
	assert_string_equal(b, "");
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_empty_buffer_finishes_as_the_empty_string),
		cmocka_unit_test(an_empty_locked_buffer_finishes_as_the_empty_string),
		cmocka_unit_test(a_finished_buffer_can_be_reused),
	};

	return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}
