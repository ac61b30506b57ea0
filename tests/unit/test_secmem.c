// SPDX-License-Identifier: GPL-2.0
/* Locked memory for secrets: the size it remembers, zeroed aligned memory, locked undumpable pages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/detach.h"
#include "lib/secmem.h"

/*
 * The VmFlags of the mapping that holds p, from /proc/self/smaps ("" when no
 * mapping does): "lo" is locked, "dd" left out of core dumps.
 */
static void vm_flags(const void *p, char *out, size_t len)
{
	unsigned long lo, hi, a = (unsigned long)p;
	char line[512];
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static int has_flag(const char *flags, const char *flag)
{
	char padded[8];

	snprintf(padded, sizeof(padded), " %s ", flag);
	return strstr(flags, padded) != NULL;
}

static void an_allocation_remembers_its_size_and_is_zeroed_locked_and_undumpable(void **state)
{
	static const size_t sizes[] = { 1, 32, 64, 4000, 4096, 10000, 70000 };
	char flags[512];
	size_t i, j;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = secmem_alloc(sizes[i]);

		assert_non_null(p);
		assert_int_equal(secmem_size(p), sizes[i]);
		assert_int_equal((uintptr_t)p % 16, 0);
		for (j = 0; j < sizes[i]; j++)
			assert_int_equal(p[j], 0);
		memset(p, 0xa5, sizes[i]);
		vm_flags(p, flags, sizeof(flags));
		assert_true(has_flag(flags, "dd"));
#ifndef __SANITIZE_ADDRESS__
		/* ASan turns mlock() into a no-op; elsewhere the pages must be locked. */
		assert_true(has_flag(flags, "lo"));
#endif
		secmem_free(p);
	}
}

static void nothing_and_null_are_handled(void **state)
{
	assert_null(secmem_alloc(0));
	assert_int_equal(secmem_size(NULL), 0);
	secmem_free(NULL);
}

static void a_cleanup_variable_is_freed_on_scope_exit(void **state)
{
	char flags[512];
	void *seen;

	{
		_cleanup_secmem_ uint8_t *k = secmem_alloc(64);

		assert_non_null(k);
		seen = k;
	}
	/* The mapping is gone: nothing in smaps covers the address any more. */
	vm_flags(seen, flags, sizeof(flags));
	assert_string_equal(flags, "");
}

/* A daemon that forked with secrets loaded would hold zeroes: ebs_detach() refuses. */
static void detaching_with_a_secret_loaded_is_refused(void **state)
{
	struct ebs_detach d = { .ready_fd = -1 };
	size_t before = secmem_live();
	void *p = secmem_alloc(32);

	assert_non_null(p);
	assert_int_equal(secmem_live(), before + 1);
	assert_int_equal(ebs_detach(&d), -EBUSY);
	assert_int_equal(d.ready_fd, -1);
	secmem_free(p);
	assert_int_equal(secmem_live(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_allocation_remembers_its_size_and_is_zeroed_locked_and_undumpable),
		cmocka_unit_test(nothing_and_null_are_handled),
		cmocka_unit_test(a_cleanup_variable_is_freed_on_scope_exit),
		cmocka_unit_test(detaching_with_a_secret_loaded_is_refused),
	};

	return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
