// SPDX-License-Identifier: GPL-2.0
/* The one small-file reader: what it reads, and each refusal by its own -errno. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/readfile.h"
#include "lib/secmem.h"

static char dir[] = "/tmp/ebs-readfile-XXXXXX";

static const char *put(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void a_file_is_read_whole_and_nul_terminated(void **state)
{
	struct ebs_file f;

	assert_int_equal(ebs_file_read(put("a", "key = value\n", 12, 0644), 64, 0, &f), 0);
	assert_int_equal(f.len, 12);
	assert_string_equal(f.data, "key = value\n");
	ebs_file_free(&f);
	assert_null(f.data);
	ebs_file_free(&f);
	assert_int_equal(ebs_file_read(put("empty", "", 0, 0644), 64, 0, &f), 0);
	assert_int_equal(f.len, 0);
	assert_string_equal(f.data, "");
	ebs_file_free(&f);
}

static void a_secret_is_read_into_locked_memory(void **state)
{
	_cleanup_file_ struct ebs_file f = { 0 };

	assert_int_equal(ebs_file_read(put("s", "s3cr3t", 6, 0600), 64,
				       EBS_FILE_SECRET | EBS_FILE_PRIVATE | EBS_FILE_OWNED, &f), 0);
	assert_string_equal(f.data, "s3cr3t");
	/* secmem_size() aborts on memory secmem did not allocate. */
	assert_int_equal(secmem_size(f.data), 7);
}

static void each_refusal_has_its_own_errno(void **state)
{
	char link[300], sub[300];
	struct ebs_file f;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(put("target", "x", 1, 0600), link), 0);

	assert_int_equal(ebs_file_read("/nonexistent/file", 64, 0, &f), -ENOENT);
	assert_int_equal(ebs_file_read(sub, 64, 0, &f), -EINVAL);
	assert_int_equal(ebs_file_read(link, 64, EBS_FILE_NOFOLLOW, &f), -ELOOP);
	assert_int_equal(ebs_file_read(link, 64, 0, &f), 0);
	ebs_file_free(&f);
	assert_int_equal(ebs_file_read(put("big", "0123456789", 10, 0600), 9, 0, &f), -EFBIG);
	assert_int_equal(ebs_file_read(put("nul", "a\0b", 3, 0600), 9, EBS_FILE_TEXT, &f), -EBADMSG);
	assert_null(f.data);
	/* The mode and owner are there for the caller's message. */
	assert_int_equal(ebs_file_read(put("open", "x", 1, 0640), 9, EBS_FILE_PRIVATE, &f), -EPERM);
	assert_int_equal(f.st.st_mode & 0777, 0640);
	assert_int_equal(ebs_file_read(put("mine", "x", 1, 0600), 9, EBS_FILE_OWNED, &f), 0);
	ebs_file_free(&f);
	if (geteuid() == 0) {
		const char *p = put("theirs", "x", 1, 0600);

		assert_int_equal(chown(p, 65534, 65534), 0);
		assert_int_equal(ebs_file_read(p, 9, EBS_FILE_OWNED, &f), -EPERM);
		assert_int_equal(f.st.st_uid, 65534);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_file_is_read_whole_and_nul_terminated),
		cmocka_unit_test(a_secret_is_read_into_locked_memory),
		cmocka_unit_test(each_refusal_has_its_own_errno),
	};

	return cmocka_run_group_tests_name("readfile", tests, setup, teardown);
}
