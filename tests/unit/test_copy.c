// SPDX-License-Identifier: GPL-2.0
/*
 * copy_run, the pipeline behind every snapshot, restore and copy: holes kept,
 * the tree checksum equal to one computed here with OpenSSL alone (so the
 * format, not just the code, is pinned) whatever the number of hashers, the
 * old single-stream SHA-256 equal to a one-shot digest, offsets honoured,
 * a short source refused, a cancel honoured, and the same result whether the
 * kernel takes O_DIRECT (a disk filesystem) or refuses it (tmpfs).
 */
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

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tools/ebscryptctl/ctl.h"

#define MIB (1u << 20)

/* A temporary file in dir, already unlinked. */
static int tmp_file(const char *dir)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/ebs-copy-XXXXXX", dir);
	fd = mkstemp(p);
	assert_true(fd >= 0);
	unlink(p);
	return fd;
}

/* len bytes at off: random, or zeros. */
static void fill(int fd, uint64_t off, size_t len, int random)
{
	uint8_t *b = calloc(1, len);

	assert_non_null(b);
	if (random)
		assert_int_equal(RAND_bytes(b, (int)len), 1);
	assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	free(b);
}

static uint8_t *slurp(int fd, uint64_t off, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	assert_int_equal(pread(fd, b, len, (off_t)off), (ssize_t)len);
	return b;
}

static void sha256_of(int fd, uint64_t off, size_t len, uint8_t out[32])
{
	uint8_t *b = slurp(fd, off, len);
	unsigned int l = 32;

	assert_int_equal(EVP_Digest(b, len, out, &l, EVP_sha256(), NULL), 1);
	free(b);
}

/*
 * The documented tree root, written out independently of treehash.c:
 * SHA-256("ebscrypt-sha256-tree-v1\0" || be64(2 MiB) || be64(len) || leaves).
 */
static void tree_of(int fd, uint64_t off, size_t len, uint8_t out[32])
{
	/* The name, its NUL, then be64(2 MiB) = 00 00 00 00 00 20 00 00 (the last 00: the literal's NUL). */
	static const uint8_t head[] = "ebscrypt-sha256-tree-v1\0" "\0\0\0\0\0\x20\0";
	uint8_t *b = len ? slurp(fd, off, len) : NULL, leaf[32], be[8];
	EVP_MD_CTX *root = EVP_MD_CTX_new();
	unsigned int l = 32;
	size_t at, n;
	int i;

	assert_int_equal(sizeof(head), 24 + 8);
	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	assert_non_null(root);
	assert_int_equal(EVP_DigestInit_ex(root, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(root, head, sizeof(head)), 1);
	assert_int_equal(EVP_DigestUpdate(root, be, 8), 1);
	for (at = 0; at < len; at += n) {
		n = len - at < 2 * MIB ? len - at : 2 * MIB;
		assert_int_equal(EVP_Digest(b + at, n, leaf, &l, EVP_sha256(), NULL), 1);
		assert_int_equal(EVP_DigestUpdate(root, leaf, 32), 1);
	}
	assert_int_equal(EVP_DigestFinal_ex(root, out, &l), 1);
	EVP_MD_CTX_free(root);
	free(b);
}

/* copy_run's tree root of len random bytes against tree_of's. */
static void tree_root_for(uint64_t len, int hashers)
{
	int in = tmp_file("/var/tmp"), out = tmp_file("/var/tmp");
	uint8_t want[32], got[32];
	struct copy_job j = { .in = in, .out = out, .in_off = 4096, .len = len, .sum = COPY_SUM_TREE,
			      .digest = got, .hashers = hashers, .what = "t" };

	fill(in, 0, 4096 + len, 1);
	tree_of(in, 4096, len, want);
	assert_int_equal(copy_run(&j), 0);
	assert_memory_equal(got, want, 32);
	close(in);
	close(out);
}

static void tree_root_of_nothing_is_the_prefix_digest(void **state)
{
	tree_root_for(0, 0);
}

static void tree_root_of_less_than_a_leaf_matches(void **state)
{
	tree_root_for(1000, 0);
}

static void tree_root_of_exactly_n_leaves_matches(void **state)
{
	tree_root_for(6 * MIB, 0);
}

static void tree_root_of_n_leaves_and_a_bit_matches(void **state)
{
	tree_root_for(6 * MIB + 4097, 0);
}

static void tree_root_does_not_depend_on_the_number_of_hashers(void **state)
{
	uint64_t len = 19 * MIB + 512;
	int in = tmp_file("/var/tmp"), h;
	uint8_t want[32], got[32];
	struct copy_job j = { .in = in, .out = -1, .len = len, .sum = COPY_SUM_TREE, .digest = got,
			      .what = "t" };

	fill(in, 0, len, 1);
	tree_of(in, 0, len, want);
	for (h = 0; h <= 4; h++) {
		j.hashers = h;
		memset(got, 0, sizeof(got));
		assert_int_equal(copy_run(&j), 0);
		assert_memory_equal(got, want, 32);
	}
	close(in);
}

static void tree_root_differs_from_the_single_stream(void **state)
{
	int in = tmp_file("/var/tmp");
	uint8_t tree[32], one[32];
	struct copy_job t = { .in = in, .out = -1, .len = 3 * MIB, .sum = COPY_SUM_TREE, .digest = tree,
			      .what = "t" };
	struct copy_job s = { .in = in, .out = -1, .len = 3 * MIB, .sum = COPY_SUM_SHA256, .digest = one,
			      .what = "t" };

	fill(in, 0, 3 * MIB, 1);
	assert_int_equal(copy_run(&t), 0);
	assert_int_equal(copy_run(&s), 0);
	assert_memory_not_equal(tree, one, 32);
	close(in);
}

static void holes_kept_for_a_sparse_destination(void **state)
{
	/* Zeros over whole chunks in the middle, data around, an odd tail. */
	uint64_t len = 12 * MIB + 1536;
	int in = tmp_file("/var/tmp"), out = tmp_file("/var/tmp");
	uint8_t *a, *b, want[32], got[32];
	struct copy_job j = { .in = in, .out = out, .len = len, .sparse = 1, .sum = COPY_SUM_TREE,
			      .digest = got, .what = "t" };
	off_t data;

	fill(in, 0, 2 * MIB, 1);
	fill(in, 2 * MIB, 8 * MIB, 0);
	fill(in, 10 * MIB, 2 * MIB + 1536, 1);
	assert_int_equal(ftruncate(out, (off_t)len), 0);
	tree_of(in, 0, len, want);
	assert_int_equal(copy_run(&j), 0);
	/* The skipped chunks were hashed all the same. */
	assert_memory_equal(got, want, 32);
	a = slurp(in, 0, len);
	b = slurp(out, 0, len);
	assert_memory_equal(a, b, len);
	/* Nothing was written between 2 and 10 MiB: the first data after 2 MiB is at 10. */
	data = lseek(out, 2 * MIB, SEEK_DATA);
	assert_true(data >= 10 * MIB);
	free(a);
	free(b);
	close(in);
	close(out);
}

static void zeros_written_when_not_sparse(void **state)
{
	int in = tmp_file("/var/tmp"), out = tmp_file("/var/tmp");
	struct copy_job j = { .in = in, .out = out, .len = 4 * MIB, .what = "t" };
	uint8_t *b;
	size_t i;

	fill(in, 0, 4 * MIB, 0);
	fill(out, 0, 4 * MIB, 1);
	assert_int_equal(copy_run(&j), 0);
	b = slurp(out, 0, 4 * MIB);
	for (i = 0; i < 4 * MIB; i++)
		if (b[i])
			fail_msg("byte %zu not overwritten with zero", i);
	free(b);
	close(in);
	close(out);
}

static void checksum_in(const char *dir)
{
	uint64_t len = 9 * MIB + 4096 + 512, in_off = 1 * MIB, out_off = 4096;
	int in = tmp_file(dir), out = tmp_file(dir);
	uint8_t want[32], got[32], only[32], *a, *b;
	struct copy_job j = { .in = in, .out = out, .in_off = in_off, .out_off = out_off, .len = len,
			      .sum = COPY_SUM_SHA256, .digest = got, .what = "t" };
	struct copy_job h = { .in = in, .out = -1, .in_off = in_off, .len = len, .sum = COPY_SUM_SHA256,
			      .digest = only, .what = "t" };

	fill(in, 0, in_off + len, 1);
	sha256_of(in, in_off, len, want);
	assert_int_equal(copy_run(&j), 0);
	assert_memory_equal(got, want, 32);
	a = slurp(in, in_off, len);
	b = slurp(out, out_off, len);
	assert_memory_equal(a, b, len);
	/* Hash only (out < 0): the snapshot verification path. */
	assert_int_equal(copy_run(&h), 0);
	assert_memory_equal(only, want, 32);
	free(a);
	free(b);
	close(in);
	close(out);
}

static void single_stream_equals_one_shot_sha256(void **state)
{
	checksum_in("/var/tmp");
}

static void single_stream_the_same_where_o_direct_is_refused(void **state)
{
	struct stat st;

	if (stat("/dev/shm", &st) || !S_ISDIR(st.st_mode))
		skip();
	checksum_in("/dev/shm");
}

static void short_source_is_enodata(void **state)
{
	int in = tmp_file("/var/tmp"), out = tmp_file("/var/tmp");
	uint8_t sha[32];
	struct copy_job j = { .in = in, .out = out, .len = 5 * MIB, .sum = COPY_SUM_TREE, .digest = sha,
			      .what = "t" };

	fill(in, 0, 3 * MIB + 100, 1);
	assert_int_equal(copy_run(&j), -ENODATA);
	close(in);
	close(out);
}

static int calls;
static int cancel_after_two(void)
{
	return ++calls > 2;
}

static void cancel_stops_the_copy(void **state)
{
	int in = tmp_file("/var/tmp"), out = tmp_file("/var/tmp");
	uint8_t sha[32];
	struct copy_job j = { .in = in, .out = out, .len = 32 * MIB, .sum = COPY_SUM_TREE, .digest = sha,
			      .what = "t", .cancel = cancel_after_two };

	fill(in, 0, 32 * MIB, 1);
	calls = 0;
	assert_int_equal(copy_run(&j), -ECANCELED);
	/* Checked once per chunk, and nothing after the one that said stop. */
	assert_int_equal(calls, 3);
	close(in);
	close(out);
}

static void empty_single_stream_is_the_empty_digest(void **state)
{
	int in = tmp_file("/var/tmp"), out = tmp_file("/var/tmp");
	uint8_t sha[32], want[32];
	unsigned int l = 32;
	struct copy_job j = { .in = in, .out = out, .len = 0, .sum = COPY_SUM_SHA256, .digest = sha,
			      .what = "t" };

	assert_int_equal(EVP_Digest("", 0, want, &l, EVP_sha256(), NULL), 1);
	assert_int_equal(copy_run(&j), 0);
	assert_memory_equal(sha, want, 32);
	close(in);
	close(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tree_root_of_nothing_is_the_prefix_digest),
		cmocka_unit_test(tree_root_of_less_than_a_leaf_matches),
		cmocka_unit_test(tree_root_of_exactly_n_leaves_matches),
		cmocka_unit_test(tree_root_of_n_leaves_and_a_bit_matches),
		cmocka_unit_test(tree_root_does_not_depend_on_the_number_of_hashers),
		cmocka_unit_test(tree_root_differs_from_the_single_stream),
		cmocka_unit_test(holes_kept_for_a_sparse_destination),
		cmocka_unit_test(zeros_written_when_not_sparse),
		cmocka_unit_test(single_stream_equals_one_shot_sha256),
		cmocka_unit_test(single_stream_the_same_where_o_direct_is_refused),
		cmocka_unit_test(short_source_is_enodata),
		cmocka_unit_test(cancel_stops_the_copy),
		cmocka_unit_test(empty_single_stream_is_the_empty_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
