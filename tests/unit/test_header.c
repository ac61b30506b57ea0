// SPDX-License-Identifier: GPL-2.0
/*
 * Volume header codec: round trip, every kind of corruption refused with the
 * right error, the backup copy used when the primary is torn or older, and
 * the replayed fuzz corpus.
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
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/header.h"

static void sample(struct ebs_header *h)
{
	static const uint8_t dek[64] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t i;

	ebs_header_init(h, "vol-0123456789abcdef0", 2048 * 64, 4096, 1);
	h->created = 1700000000;
	h->seqno = 1;
	for (i = 0; i < EBS_HDR_LINEAGE_LEN; i++)
		h->lineage[i] = 0xa0 + i;
	assert_int_equal(ebs_header_kcv(dek, sizeof(dek), h->kcv), 0);
	snprintf(h->kms_key_arn, sizeof(h->kms_key_arn),
		 "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
	h->wrapped_len = 184;
	for (i = 0; i < h->wrapped_len; i++)
		h->wrapped_dek[i] = (uint8_t)(i * 7 + 3); /* includes 0x00 bytes: kept verbatim */
	assert_int_equal(ebs_header_ctx_set(h, EBS_CTX_VOLUME_ID, h->volume_id), 0);
	assert_int_equal(ebs_header_ctx_set(h, EBS_CTX_LINEAGE, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"), 0);
}

static void assert_same(const struct ebs_header *a, const struct ebs_header *b)
{
	size_t i;

	assert_int_equal(a->version, b->version);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->seqno, b->seqno);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->data_offset, b->data_offset);
	assert_int_equal(a->data_sectors, b->data_sectors);
	assert_int_equal(a->sector_size, b->sector_size);
	assert_int_equal(a->key_bytes, b->key_bytes);
	assert_memory_equal(a->lineage, b->lineage, EBS_HDR_LINEAGE_LEN);
	assert_memory_equal(a->kcv, b->kcv, EBS_HDR_KCV_LEN);
	assert_string_equal(a->volume_id, b->volume_id);
	assert_string_equal(a->cipher, b->cipher);
	assert_string_equal(a->kms_key_arn, b->kms_key_arn);
	assert_int_equal(a->wrapped_len, b->wrapped_len);
	assert_memory_equal(a->wrapped_dek, b->wrapped_dek, a->wrapped_len);
	assert_int_equal(a->ctx_count, b->ctx_count);
	for (i = 0; i < a->ctx_count; i++) {
		assert_string_equal(a->ctx[i].key, b->ctx[i].key);
		assert_string_equal(a->ctx[i].value, b->ctx[i].value);
	}
}

static void round_trip_keeps_every_field(void **state)
{
	struct ebs_header h, d;
	uint8_t buf[EBS_HDR_SIZE];
	char why[160] = "";

	sample(&h);
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, EBS_HDR_MAGIC, EBS_HDR_MAGIC_LEN);
	assert_int_equal(ebs_header_decode(buf, sizeof(buf), &d, why, sizeof(why)), 0);
	assert_same(&h, &d);
	assert_string_equal(ebs_header_ctx_get(&d, EBS_CTX_VOLUME_ID), "vol-0123456789abcdef0");
}

static void unencrypted_header_round_trips_without_key_fields(void **state)
{
	struct ebs_header h, d;
	uint8_t buf[EBS_HDR_SIZE];

	ebs_header_init(&h, "vol-00000000000000001", 8, 4096, 0);
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), 0);
	assert_int_equal(ebs_header_decode(buf, sizeof(buf), &d, NULL, 0), 0);
	assert_same(&h, &d);
	assert_false(ebs_header_encrypted(&d));
	/* Key fields on an unencrypted header are a lie the encoder refuses. */
	h.wrapped_len = 1;
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), -EINVAL);
}

/* Recompute the checksum after a deliberate field change. */
static void fix_csum(uint8_t *buf)
{
	unsigned int n = 32;

	EVP_Digest(buf, EBS_HDR_SIZE - 32, buf + EBS_HDR_SIZE - 32, &n, EVP_sha256(), NULL);
}

static int decode_after(void (*mut)(uint8_t *), int fix, char *why)
{
	struct ebs_header h;
	uint8_t buf[EBS_HDR_SIZE];

	sample(&h);
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), 0);
	mut(buf);
	if (fix)
		fix_csum(buf);
	return ebs_header_decode(buf, sizeof(buf), &h, why, 160);
}

static void m_magic(uint8_t *b) { b[0] ^= 1; }
static void m_version(uint8_t *b) { b[8] = 2; }
static void m_hdrsize(uint8_t *b) { b[10] = 0; b[11] = 2; }
static void m_flags(uint8_t *b) { b[12] |= 0x80; }
static void m_sector(uint8_t *b) { b[48] = 0; b[49] = 3; }
static void m_offset_low(uint8_t *b) { memset(b + 32, 0, 8); b[32] = 8; }
static void m_offset_huge(uint8_t *b) { memset(b + 32, 0xff, 8); }
static void m_sectors_zero(uint8_t *b) { memset(b + 40, 0, 8); }
static void m_sectors_huge(uint8_t *b) { memset(b + 40, 0xff, 8); }
static void m_keybytes(uint8_t *b) { b[52] = 32; }
static void m_volid(uint8_t *b) { b[92] = 'X'; }
static void m_volid_unpadded(uint8_t *b) { b[119] = 'x'; }
static void m_cipher(uint8_t *b) { memcpy(b + 120, "aes-cbc-essiv  ", 15); }
static void m_reserved(uint8_t *b) { b[200] = 1; }
static void m_arn_len(uint8_t *b) { b[256] = 0xff; b[257] = 0xff; }
static void m_wrapped_len(uint8_t *b)
{
	size_t arn = b[256] | b[257] << 8;

	b[258 + arn] = 0xff;
	b[259 + arn] = 0x0f;
}
static void m_ctx_count(uint8_t *b)
{
	size_t arn = b[256] | b[257] << 8, w;
	uint8_t *p = b + 258 + arn;

	w = p[0] | p[1] << 8;
	p += 2 + w;
	p[0] = 200;
}
static void m_trailing(uint8_t *b) { b[4000] = 1; }
static void m_ctrl_char(uint8_t *b) { b[258] = '\n'; }
static void m_kcv_zero(uint8_t *b) { memset(b + 72, 0, 16); }
static void m_body_bit(uint8_t *b) { b[300] ^= 0x10; }

static void every_corruption_is_refused(void **state)
{
	struct { void (*mut)(uint8_t *); int fix; int rc; } cases[] = {
		{ m_magic, 1, -EMEDIUMTYPE },
		{ m_version, 1, -EPROTONOSUPPORT },
		{ m_version, 0, -EPROTONOSUPPORT },
		{ m_hdrsize, 1, -EINVAL },
		{ m_flags, 1, -EPROTONOSUPPORT },
		{ m_sector, 1, -EINVAL },
		{ m_offset_low, 1, -EINVAL },
		{ m_offset_huge, 1, -EINVAL },
		{ m_sectors_zero, 1, -EINVAL },
		{ m_sectors_huge, 1, -EINVAL },
		{ m_keybytes, 1, -EPROTONOSUPPORT },
		{ m_volid, 1, -EINVAL },
		{ m_volid_unpadded, 1, -EINVAL },
		{ m_cipher, 1, -EPROTONOSUPPORT },
		{ m_reserved, 1, -EINVAL },
		{ m_arn_len, 1, -EINVAL },
		{ m_wrapped_len, 1, -EINVAL },
		{ m_ctx_count, 1, -EINVAL },
		{ m_trailing, 1, -EINVAL },
		{ m_ctrl_char, 1, -EINVAL },
		{ m_kcv_zero, 1, -EINVAL },
		{ m_body_bit, 0, -EBADMSG },
		{ m_volid, 0, -EBADMSG },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char why[160] = "";
		int rc = decode_after(cases[i].mut, cases[i].fix, why);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d (%s), expected %d", i, rc, why, cases[i].rc);
		assert_true(why[0] != '\0');
	}
}

static void short_buffer_is_refused(void **state)
{
	struct ebs_header h;
	uint8_t buf[EBS_HDR_SIZE];
	char why[160];

	sample(&h);
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), 0);
	assert_int_equal(ebs_header_decode(buf, EBS_HDR_SIZE - 1, &h, why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "truncated"));
}

static void encoder_refuses_what_the_decoder_would(void **state)
{
	struct ebs_header h;
	uint8_t buf[EBS_HDR_SIZE];

	sample(&h);
	snprintf(h.ctx[1].key, sizeof(h.ctx[1].key), "%s", h.ctx[0].key);
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), -EINVAL);
	sample(&h);
	h.sector_size = 333;
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), -EINVAL);
	sample(&h);
	memset(h.kms_key_arn, 'a', EBS_HDR_ARN_MAX);
	h.kms_key_arn[EBS_HDR_ARN_MAX] = 0;
	h.wrapped_len = EBS_HDR_WRAPPED_MAX;
	/* 2048 + 1024 + context fits 3808 bytes; one more big context entry does not. */
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), 0);
	{
		char big[EBS_HDR_CTX_VALUE_MAX + 1];

		memset(big, 'v', EBS_HDR_CTX_VALUE_MAX);
		big[EBS_HDR_CTX_VALUE_MAX] = 0;
		assert_int_equal(ebs_header_ctx_set(&h, "k1", big), 0);
		assert_int_equal(ebs_header_ctx_set(&h, "k2", big), 0);
		assert_int_equal(ebs_header_ctx_set(&h, "k3", big), 0);
		assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), -ENOSPC);
	}
}

static int memfd_with(const struct ebs_header *h, size_t size)
{
	int fd = memfd_create("hdr", 0);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	if (h)
		assert_int_equal(ebs_header_write(fd, h), 0);
	return fd;
}

static void read_prefers_primary_when_both_good(void **state)
{
	struct ebs_header h, d;
	struct ebs_header_read_info info;
	int fd;

	sample(&h);
	fd = memfd_with(&h, 1 << 20);
	assert_int_equal(ebs_header_read(fd, &d, &info), 0);
	assert_int_equal(info.used_backup, 0);
	assert_same(&h, &d);
	close(fd);
}

static void torn_primary_falls_back_to_backup(void **state)
{
	struct ebs_header h, d;
	struct ebs_header_read_info info;
	uint8_t junk[512];
	int fd;

	sample(&h);
	fd = memfd_with(&h, 1 << 20);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 1024), (ssize_t)sizeof(junk));
	assert_int_equal(ebs_header_read(fd, &d, &info), 0);
	assert_int_equal(info.used_backup, 1);
	assert_int_equal(info.primary_rc, -EBADMSG);
	assert_same(&h, &d);
	close(fd);
}

static void newer_backup_wins_after_interrupted_rewrite(void **state)
{
	struct ebs_header h, d;
	struct ebs_header_read_info info;
	uint8_t buf[EBS_HDR_SIZE];
	int fd;

	sample(&h);
	fd = memfd_with(&h, 1 << 20);
	/* A rewrite that wrote the backup and crashed before the primary. */
	h.seqno++;
	snprintf(h.kms_key_arn, sizeof(h.kms_key_arn), "arn:aws:kms:us-east-1:111122223333:key/new");
	assert_int_equal(ebs_header_encode(&h, buf, sizeof(buf)), 0);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), EBS_HDR_BACKUP_OFFSET), (ssize_t)sizeof(buf));
	assert_int_equal(ebs_header_read(fd, &d, &info), 0);
	assert_int_equal(info.used_backup, 1);
	assert_string_equal(d.kms_key_arn, h.kms_key_arn);
	close(fd);
}

static void both_copies_bad_is_refused(void **state)
{
	struct ebs_header h, d;
	struct ebs_header_read_info info;
	uint8_t junk[8] = "garbage!";
	int fd;

	sample(&h);
	fd = memfd_with(&h, 1 << 20);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 600), 8);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), EBS_HDR_BACKUP_OFFSET + 600), 8);
	assert_int_equal(ebs_header_read(fd, &d, &info), -EBADMSG);
	assert_int_equal(info.backup_rc, -EBADMSG);
	close(fd);
}

static void blank_device_is_not_an_ebscrypt_volume(void **state)
{
	struct ebs_header d;
	struct ebs_header_read_info info;
	int fd = memfd_with(NULL, 1 << 20);

	assert_int_equal(ebs_header_read(fd, &d, &info), -EMEDIUMTYPE);
	close(fd);
}

static void truncated_device_is_refused(void **state)
{
	struct ebs_header h, d;
	struct ebs_header_read_info info;
	int fd;

	sample(&h);
	fd = memfd_with(&h, 1 << 20);
	/* Cut inside the primary copy: neither copy is whole. */
	assert_int_equal(ftruncate(fd, 2048), 0);
	assert_int_equal(ebs_header_read(fd, &d, &info), -ENODATA);
	assert_non_null(strstr(info.backup_why, "truncated"));
	close(fd);
}

static void kcv_separates_keys_and_is_stable(void **state)
{
	uint8_t a[64] = { 0 }, b[64] = { 0 }, ka[16], ka2[16], kb[16];

	b[63] = 1;
	assert_int_equal(ebs_header_kcv(a, 64, ka), 0);
	assert_int_equal(ebs_header_kcv(a, 64, ka2), 0);
	assert_int_equal(ebs_header_kcv(b, 64, kb), 0);
	assert_memory_equal(ka, ka2, 16);
	assert_memory_not_equal(ka, kb, 16);
}

static void ids_are_checked(void **state)
{
	assert_true(ebs_id_valid("vol-0123456789abcdef0", "vol"));
	assert_true(ebs_id_valid("snap-0123456789abcdef0", "snap"));
	assert_false(ebs_id_valid("vol-0123456789abcdef", "vol"));
	assert_false(ebs_id_valid("vol-0123456789abcdef00", "vol"));
	assert_false(ebs_id_valid("vol-0123456789ABCDEF0", "vol"));
	assert_false(ebs_id_valid("snap-0123456789abcdef0", "vol"));
	assert_false(ebs_id_valid("vol_0123456789abcdef0", "vol"));
}

/* Every corpus file must decode or be refused, never crash (ASan watches). */
static void fuzz_corpus_replays_cleanly(void **state)
{
	const char *dir = getenv("EBS_FUZZ_CORPUS");
	char path[4096];
	struct dirent *de;
	int files = 0, good = 0;
	DIR *d;

	if (!dir)
		dir = SRCDIR "/tests/fuzz/corpus/header";
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		static uint8_t buf[1 << 16];
		struct ebs_header h;
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		assert_true(n >= 0);
		files++;
		good += ebs_header_decode(buf, n, &h, NULL, 0) == 0;
	}
	closedir(d);
	assert_true(files >= 3);
	assert_true(good >= 2);
}

static void the_kms_context_is_the_headers_own(void **state)
{
	struct ebs_header_ctx_pair many[EBS_HDR_CTX_MAX + 3];
	const struct kms_context *ctx;
	struct ebs_kms_context kc;
	struct ebs_header h;
	size_t i;

	ebs_header_init(&h, "vol-0123456789abcdef0", 2048, 4096, 1);
	assert_int_equal(ebs_header_ctx_set(&h, EBS_CTX_VOLUME_ID, "vol-0123456789abcdef0"), 0);
	assert_int_equal(ebs_header_ctx_set(&h, EBS_CTX_LINEAGE, "00112233445566778899aabbccddeeff"), 0);
	ctx = ebs_header_kms_context(&h, &kc);
	assert_int_equal(ctx->count, h.ctx_count);
	for (i = 0; i < ctx->count; i++) {
		assert_string_equal(ctx->pairs[i].key, h.ctx[i].key);
		assert_string_equal(ctx->pairs[i].value, h.ctx[i].value);
	}
	/* Never more pairs than a header holds, whatever the caller says. */
	memset(many, 0, sizeof(many));
	assert_int_equal(ebs_kms_context(many, EBS_HDR_CTX_MAX + 3, &kc)->count, EBS_HDR_CTX_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_keeps_every_field),
		cmocka_unit_test(unencrypted_header_round_trips_without_key_fields),
		cmocka_unit_test(every_corruption_is_refused),
		cmocka_unit_test(short_buffer_is_refused),
		cmocka_unit_test(encoder_refuses_what_the_decoder_would),
		cmocka_unit_test(read_prefers_primary_when_both_good),
		cmocka_unit_test(torn_primary_falls_back_to_backup),
		cmocka_unit_test(newer_backup_wins_after_interrupted_rewrite),
		cmocka_unit_test(both_copies_bad_is_refused),
		cmocka_unit_test(blank_device_is_not_an_ebscrypt_volume),
		cmocka_unit_test(truncated_device_is_refused),
		cmocka_unit_test(kcv_separates_keys_and_is_stable),
		cmocka_unit_test(ids_are_checked),
		cmocka_unit_test(fuzz_corpus_replays_cleanly),
		cmocka_unit_test(the_kms_context_is_the_headers_own),
	};

	return cmocka_run_group_tests_name("header", tests, NULL, NULL);
}
