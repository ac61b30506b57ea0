// SPDX-License-Identifier: GPL-2.0
/*
 * ebscryptctl's state directory: atomic JSON writes, volume records,
 * settings, the lock, and size/id parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tools/ebscryptctl/ctl.h"
#include "lib/header.h"


static int setup(void **state)
{
	static char dir[64];
	static struct ctl c;

	snprintf(dir, sizeof(dir), "/tmp/ebs-state-XXXXXX");
	assert_non_null(mkdtemp(dir));
	memset(&c, 0, sizeof(c));
	c.state_dir = dir;
	c.lock_fd = -1;
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctl *c = *state;
	char cmd[128];

	state_unlock(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->state_dir);
	return system(cmd);
}

static void settings_default_then_round_trip(void **state)
{
	struct ctl *c = *state;
	char key[128];
	int ebd = 7;

	assert_int_equal(state_load_settings(c, &ebd, key, sizeof(key)), 0);
	assert_int_equal(ebd, 0);
	assert_string_equal(key, "alias/aws/ebs");
	assert_int_equal(state_save_settings(c, 1, "alias/mine"), 0);
	assert_int_equal(state_load_settings(c, &ebd, key, sizeof(key)), 0);
	assert_int_equal(ebd, 1);
	assert_string_equal(key, "alias/mine");
}

static void volume_record_round_trip_leaves_no_temp_files(void **state)
{
	struct ctl *c = *state;
	struct json_object *rec = json_object_new_object(), *back;
	struct dirent *de;
	char dir[256];
	DIR *d;

	json_object_object_add(rec, "volume_id", json_object_new_string("vol-0123456789abcdef0"));
	json_object_object_add(rec, "size", json_object_new_int64(1 << 20));
	assert_int_equal(state_save_volume(c, rec), 0);
	/* Overwrite: the rename replaces the file in place. */
	json_object_object_add(rec, "size", json_object_new_int64(2 << 20));
	assert_int_equal(state_save_volume(c, rec), 0);
	assert_int_equal(state_load_volume(c, "vol-0123456789abcdef0", &back), 0);
	assert_int_equal(jint(back, "size"), 2 << 20);
	json_object_put(back);
	json_object_put(rec);
	snprintf(dir, sizeof(dir), "%s/volumes", c->state_dir);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp"));
	closedir(d);
	assert_int_equal(state_load_volume(c, "vol-../../etc/x", &back), -EINVAL);
	assert_int_equal(state_load_volume(c, "vol-00000000000000000", &back), -ENOENT);
}

static void corrupt_record_is_an_error_not_a_crash(void **state)
{
	struct ctl *c = *state;
	struct json_object *rec;
	char p[256];
	int fd;

	state_save_settings(c, 0, "x");
	snprintf(p, sizeof(p), "%s/volumes/vol-11111111111111111.json", c->state_dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"volume_id\": ", 14), 14);
	close(fd);
	assert_int_equal(state_load_volume(c, "vol-11111111111111111", &rec), -EBADMSG);
}

static void lock_excludes_a_second_command(void **state)
{
	struct ctl *c = *state;
	char p[256];
	pid_t pid;
	int st;

	assert_int_equal(state_lock(c), 0);
	pid = fork();
	if (pid == 0) {
		int fd;

		snprintf(p, sizeof(p), "%s/lock", c->state_dir);
		fd = open(p, O_RDWR);
		_exit(flock(fd, LOCK_EX | LOCK_NB) == 0 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	state_unlock(c);
}

static void sizes_parse_like_ec2_with_suffixes(void **state)
{
	uint64_t b;

	assert_int_equal(parse_size("8", &b), 0);
	assert_int_equal(b, 8ull << 30);
	assert_int_equal(parse_size("64M", &b), 0);
	assert_int_equal(b, 64ull << 20);
	assert_int_equal(parse_size("64MiB", &b), 0);
	assert_int_equal(b, 64ull << 20);
	assert_int_equal(parse_size("1T", &b), 0);
	assert_int_equal(parse_size("0", &b), -EINVAL);
	assert_int_equal(parse_size("-1G", &b), -EINVAL);
	assert_int_equal(parse_size("12Q", &b), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &b), -EINVAL);
	assert_int_equal(parse_size("1000000000T", &b), -EINVAL);
}

static void random_ids_are_ec2_shaped_and_distinct(void **state)
{
	char a[32], b[32];

	assert_int_equal(random_hex_id("vol", a, sizeof(a)), 0);
	assert_int_equal(random_hex_id("vol", b, sizeof(b)), 0);
	assert_true(ebs_id_valid(a, "vol"));
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(settings_default_then_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(volume_record_round_trip_leaves_no_temp_files, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_record_is_an_error_not_a_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_excludes_a_second_command, setup, teardown),
		cmocka_unit_test(sizes_parse_like_ec2_with_suffixes),
		cmocka_unit_test(random_ids_are_ec2_shaped_and_distinct),
	};

	return cmocka_run_group_tests_name("ctl_state", tests, NULL, NULL);
}
