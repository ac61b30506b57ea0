// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "header.h"
#include "secmem.h"

/*
 * Fixed part of a copy (little-endian). Offsets are part of the on-disk
 * format: never move a field, add new ones in the reserved bytes under a
 * new version.
 */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 8,
	OFF_HDRSIZE = 10,
	OFF_FLAGS = 12,
	OFF_SEQNO = 16,
	OFF_CREATED = 24,
	OFF_DATA_OFFSET = 32,
	OFF_DATA_SECTORS = 40,
	OFF_SECTOR_SIZE = 48,
	OFF_KEY_BYTES = 52,
	OFF_LINEAGE = 56,
	OFF_KCV = 72,
	OFF_VOLID = 88,
	OFF_CIPHER = 120,
	OFF_RESERVED = 152,
	OFF_VAR = 256,
	OFF_CSUM = EBS_HDR_SIZE - 32,
};

static void set_why(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint16_t get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static int sha256(const uint8_t *in, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	return EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) ? 0 : -EIO;
}

int ebs_id_valid(const char *id, const char *prefix)
{
	size_t pl = strlen(prefix), i;

	if (!id || strncmp(id, prefix, pl) || id[pl] != '-')
		return 0;
	for (i = 0; i < 17; i++) {
		char c = id[pl + 1 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return id[pl + 1 + 17] == '\0';
}

void ebs_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Printable ASCII only: these strings end up in terminals, JSON and KMS calls. */
static int printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

void ebs_header_init(struct ebs_header *h, const char *volume_id,
		     uint64_t data_sectors, uint32_t sector_size, int encrypted)
{
	memset(h, 0, sizeof(*h));
	h->version = EBS_HDR_VERSION;
	h->flags = encrypted ? EBS_HDR_FLAG_ENCRYPTED : 0;
	h->data_offset = EBS_HDR_DEFAULT_DATA_OFFSET;
	h->data_sectors = data_sectors;
	h->sector_size = sector_size;
	h->key_bytes = encrypted ? EBS_HDR_KEY_BYTES : 0;
	snprintf(h->volume_id, sizeof(h->volume_id), "%s", volume_id);
	snprintf(h->cipher, sizeof(h->cipher), "%s",
		 encrypted ? EBS_HDR_CIPHER : EBS_HDR_CIPHER_NONE);
}

static int all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

int ebs_header_validate(const struct ebs_header *h, char *why, size_t why_len)
{
	uint32_t spb;
	size_t i, j;

	if (h->version != EBS_HDR_VERSION) {
		set_why(why, why_len, "unsupported header version %u (this build reads version %u)",
			h->version, EBS_HDR_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h->flags & ~EBS_HDR_KNOWN_FLAGS) {
		set_why(why, why_len, "unknown header flags 0x%x", h->flags & ~EBS_HDR_KNOWN_FLAGS);
		return -EPROTONOSUPPORT;
	}
	if (!ebs_id_valid(h->volume_id, "vol")) {
		set_why(why, why_len, "volume id is not of the form vol-<17 hex digits>");
		return -EINVAL;
	}
	if (h->sector_size != 512 && h->sector_size != 1024 &&
	    h->sector_size != 2048 && h->sector_size != 4096) {
		set_why(why, why_len, "sector size %u is not 512, 1024, 2048 or 4096", h->sector_size);
		return -EINVAL;
	}
	spb = h->sector_size / 512;
	if (h->data_offset < EBS_HDR_MIN_DATA_OFFSET || h->data_offset > EBS_HDR_MAX_DATA_OFFSET ||
	    h->data_offset % 8) {
		set_why(why, why_len, "data offset %llu sectors is outside %u..%u or not 4 KiB aligned",
			(unsigned long long)h->data_offset, EBS_HDR_MIN_DATA_OFFSET,
			EBS_HDR_MAX_DATA_OFFSET);
		return -EINVAL;
	}
	/* 2^54 sectors = 8 EiB: keeps (offset + sectors) * 512 inside 64 bits. */
	if (!h->data_sectors || h->data_sectors > (1ull << 54) || h->data_sectors % spb) {
		set_why(why, why_len, "data size %llu sectors is zero, too large or not a multiple of the sector size",
			(unsigned long long)h->data_sectors);
		return -EINVAL;
	}
	if (h->wrapped_len > EBS_HDR_WRAPPED_MAX || h->ctx_count > EBS_HDR_CTX_MAX) {
		set_why(why, why_len, "wrapped key or encryption context too large");
		return -EINVAL;
	}
	if (memchr(h->kms_key_arn, 0, sizeof(h->kms_key_arn)) == NULL ||
	    !printable(h->kms_key_arn, strlen(h->kms_key_arn))) {
		set_why(why, why_len, "KMS key ARN is not printable text");
		return -EINVAL;
	}
	for (i = 0; i < h->ctx_count; i++) {
		const struct ebs_header_ctx_pair *p = &h->ctx[i];

		if (!memchr(p->key, 0, sizeof(p->key)) || !memchr(p->value, 0, sizeof(p->value)) ||
		    !p->key[0] || !printable(p->key, strlen(p->key)) ||
		    !printable(p->value, strlen(p->value))) {
			set_why(why, why_len, "encryption context entry %zu is empty or not printable text", i);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (!strcmp(h->ctx[j].key, p->key)) {
				set_why(why, why_len, "encryption context key \"%s\" appears twice", p->key);
				return -EINVAL;
			}
	}
	if (ebs_header_encrypted(h)) {
		if (strcmp(h->cipher, EBS_HDR_CIPHER) || h->key_bytes != EBS_HDR_KEY_BYTES) {
			set_why(why, why_len, "cipher \"%.31s\" with a %u-byte key is not supported (only %s, %u bytes)",
				h->cipher, h->key_bytes, EBS_HDR_CIPHER, EBS_HDR_KEY_BYTES);
			return -EPROTONOSUPPORT;
		}
		if (!h->kms_key_arn[0] || !h->wrapped_len) {
			set_why(why, why_len, "encrypted volume without a KMS key or wrapped key");
			return -EINVAL;
		}
		if (all_zero(h->kcv, sizeof(h->kcv)) || all_zero(h->lineage, sizeof(h->lineage))) {
			set_why(why, why_len, "encrypted volume without a key check value or lineage id");
			return -EINVAL;
		}
	} else if (strcmp(h->cipher, EBS_HDR_CIPHER_NONE) || h->key_bytes || h->kms_key_arn[0] ||
		   h->wrapped_len || !all_zero(h->kcv, sizeof(h->kcv))) {
		set_why(why, why_len, "unencrypted volume carries key fields");
		return -EINVAL;
	}
	return 0;
}

/* Appends a 16-bit length and the bytes, never past end. */
static int put_var(uint8_t **p, const uint8_t *end, const void *src, size_t len)
{
	if (len > 0xffff || (size_t)(end - *p) < 2 + len)
		return -ENOSPC;
	put16(*p, len);
	if (len)
		memcpy(*p + 2, src, len);
	*p += 2 + len;
	return 0;
}

int ebs_header_encode(const struct ebs_header *h, uint8_t *buf, size_t buf_len)
{
	uint8_t *p, *end = buf + OFF_CSUM;
	size_t i;
	int rc;

	if (buf_len < EBS_HDR_SIZE)
		return -ENOSPC;
	rc = ebs_header_validate(h, NULL, 0);
	if (rc)
		return rc;
	memset(buf, 0, EBS_HDR_SIZE);
	memcpy(buf + OFF_MAGIC, EBS_HDR_MAGIC, EBS_HDR_MAGIC_LEN);
	put16(buf + OFF_VERSION, h->version);
	put16(buf + OFF_HDRSIZE, EBS_HDR_SIZE);
	put32(buf + OFF_FLAGS, h->flags);
	put64(buf + OFF_SEQNO, h->seqno);
	put64(buf + OFF_CREATED, h->created);
	put64(buf + OFF_DATA_OFFSET, h->data_offset);
	put64(buf + OFF_DATA_SECTORS, h->data_sectors);
	put32(buf + OFF_SECTOR_SIZE, h->sector_size);
	put32(buf + OFF_KEY_BYTES, h->key_bytes);
	memcpy(buf + OFF_LINEAGE, h->lineage, EBS_HDR_LINEAGE_LEN);
	memcpy(buf + OFF_KCV, h->kcv, EBS_HDR_KCV_LEN);
	memcpy(buf + OFF_VOLID, h->volume_id, strlen(h->volume_id));
	memcpy(buf + OFF_CIPHER, h->cipher, strlen(h->cipher));

	p = buf + OFF_VAR;
	if ((rc = put_var(&p, end, h->kms_key_arn, strlen(h->kms_key_arn))) ||
	    (rc = put_var(&p, end, h->wrapped_dek, h->wrapped_len)))
		return rc;
	if (end - p < 2)
		return -ENOSPC;
	put16(p, h->ctx_count);
	p += 2;
	for (i = 0; i < h->ctx_count; i++)
		if ((rc = put_var(&p, end, h->ctx[i].key, strlen(h->ctx[i].key))) ||
		    (rc = put_var(&p, end, h->ctx[i].value, strlen(h->ctx[i].value))))
			return rc;
	return sha256(buf, OFF_CSUM, buf + OFF_CSUM);
}

/* Reads a 16-bit length and the bytes behind it, never past end. */
static int get_var(const uint8_t **p, const uint8_t *end, size_t max,
		   const uint8_t **out, size_t *len)
{
	size_t n;

	if (end - *p < 2)
		return -EINVAL;
	n = get16(*p);
	if (n > max || (size_t)(end - *p - 2) < n)
		return -EINVAL;
	*out = *p + 2;
	*len = n;
	*p += 2 + n;
	return 0;
}

/* Copies a fixed NUL-padded field: text, then only zeros. */
static int get_fixed_str(const uint8_t *src, size_t field, char *dst, size_t dst_len)
{
	const uint8_t *nul = memchr(src, 0, field);
	size_t n = nul ? (size_t)(nul - src) : field;

	if (n >= dst_len || !all_zero(src + n, field - n))
		return -EINVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int copy_text(char *dst, size_t dst_len, const uint8_t *src, size_t n)
{
	if (n >= dst_len || memchr(src, 0, n))
		return -EINVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int ebs_header_decode(const uint8_t *buf, size_t len, struct ebs_header *h,
		      char *why, size_t why_len)
{
	const uint8_t *p, *end, *s;
	uint8_t csum[32];
	size_t n, i;
	uint32_t hs;

	memset(h, 0, sizeof(*h));
	if (len < EBS_HDR_SIZE) {
		set_why(why, why_len, "header truncated: %zu of %u bytes", len, EBS_HDR_SIZE);
		return -ENODATA;
	}
	if (memcmp(buf + OFF_MAGIC, EBS_HDR_MAGIC, EBS_HDR_MAGIC_LEN)) {
		set_why(why, why_len, "no ebscrypt header magic (not an ebscrypt volume)");
		return -EMEDIUMTYPE;
	}
	/* Version first: a newer format may lay out (and checksum) differently. */
	h->version = get16(buf + OFF_VERSION);
	if (h->version != EBS_HDR_VERSION) {
		set_why(why, why_len, "unsupported header version %u (this build reads version %u)",
			h->version, EBS_HDR_VERSION);
		return -EPROTONOSUPPORT;
	}
	hs = get16(buf + OFF_HDRSIZE);
	if (hs != EBS_HDR_SIZE) {
		set_why(why, why_len, "header size %u, expected %u", hs, EBS_HDR_SIZE);
		return -EINVAL;
	}
	if (sha256(buf, OFF_CSUM, csum))
		return -EIO;
	if (memcmp(csum, buf + OFF_CSUM, 32)) {
		set_why(why, why_len, "header checksum mismatch (torn or corrupted)");
		return -EBADMSG;
	}
	h->flags = get32(buf + OFF_FLAGS);
	h->seqno = get64(buf + OFF_SEQNO);
	h->created = get64(buf + OFF_CREATED);
	h->data_offset = get64(buf + OFF_DATA_OFFSET);
	h->data_sectors = get64(buf + OFF_DATA_SECTORS);
	h->sector_size = get32(buf + OFF_SECTOR_SIZE);
	h->key_bytes = get32(buf + OFF_KEY_BYTES);
	memcpy(h->lineage, buf + OFF_LINEAGE, EBS_HDR_LINEAGE_LEN);
	memcpy(h->kcv, buf + OFF_KCV, EBS_HDR_KCV_LEN);
	if (get_fixed_str(buf + OFF_VOLID, OFF_CIPHER - OFF_VOLID, h->volume_id, sizeof(h->volume_id)) ||
	    get_fixed_str(buf + OFF_CIPHER, OFF_RESERVED - OFF_CIPHER, h->cipher, sizeof(h->cipher))) {
		set_why(why, why_len, "volume id or cipher field is not NUL-padded text");
		return -EINVAL;
	}
	if (!all_zero(buf + OFF_RESERVED, OFF_VAR - OFF_RESERVED)) {
		set_why(why, why_len, "reserved header bytes are not zero");
		return -EINVAL;
	}

	p = buf + OFF_VAR;
	end = buf + OFF_CSUM;
	if (get_var(&p, end, EBS_HDR_ARN_MAX, &s, &n) ||
	    copy_text(h->kms_key_arn, sizeof(h->kms_key_arn), s, n)) {
		set_why(why, why_len, "KMS key ARN field out of bounds");
		return -EINVAL;
	}
	if (get_var(&p, end, EBS_HDR_WRAPPED_MAX, &s, &n)) {
		set_why(why, why_len, "wrapped key field out of bounds (max %d bytes)", EBS_HDR_WRAPPED_MAX);
		return -EINVAL;
	}
	memcpy(h->wrapped_dek, s, n);
	h->wrapped_len = n;
	if (end - p < 2 || (h->ctx_count = get16(p)) > EBS_HDR_CTX_MAX) {
		set_why(why, why_len, "encryption context has more than %d entries", EBS_HDR_CTX_MAX);
		h->ctx_count = 0;
		return -EINVAL;
	}
	p += 2;
	for (i = 0; i < h->ctx_count; i++) {
		if (get_var(&p, end, EBS_HDR_CTX_KEY_MAX, &s, &n) ||
		    copy_text(h->ctx[i].key, sizeof(h->ctx[i].key), s, n) ||
		    get_var(&p, end, EBS_HDR_CTX_VALUE_MAX, &s, &n) ||
		    copy_text(h->ctx[i].value, sizeof(h->ctx[i].value), s, n)) {
			set_why(why, why_len, "encryption context entry %zu out of bounds", i);
			return -EINVAL;
		}
	}
	if (!all_zero(p, end - p)) {
		set_why(why, why_len, "trailing bytes after the encryption context are not zero");
		return -EINVAL;
	}
	return ebs_header_validate(h, why, why_len);
}

/* One copy from the device: short reads and I/O errors become reasons. */
static int read_copy(int fd, off_t off, struct ebs_header *h, char *why, size_t why_len)
{
	uint8_t buf[EBS_HDR_SIZE];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(buf)) {
		n = pread(fd, buf + got, sizeof(buf) - got, off + got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			set_why(why, why_len, "read error at byte %lld: %s",
				(long long)off, strerror(errno));
			return -errno;
		}
		if (n == 0)
			break;
		got += n;
	}
	return ebs_header_decode(buf, got, h, why, why_len);
}

int ebs_header_read(int fd, struct ebs_header *h, struct ebs_header_read_info *info)
{
	struct ebs_header_read_info local;
	struct ebs_header *b;
	int prc, brc;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	prc = read_copy(fd, EBS_HDR_PRIMARY_OFFSET, h, info->primary_why, sizeof(info->primary_why));
	brc = read_copy(fd, EBS_HDR_BACKUP_OFFSET, b, info->backup_why, sizeof(info->backup_why));
	info->primary_rc = prc;
	info->backup_rc = brc;
	/*
	 * A rewrite writes the backup first: a valid backup with a higher seqno
	 * than a valid primary is a rewrite that crashed before the primary.
	 */
	if (!brc && (prc || b->seqno > h->seqno)) {
		if (!prc)
			snprintf(info->primary_why, sizeof(info->primary_why),
				 "primary copy is older (seqno %llu < %llu)",
				 (unsigned long long)h->seqno, (unsigned long long)b->seqno);
		memcpy(h, b, sizeof(*h));
		info->used_backup = 1;
	}
	free(b);
	if (prc && brc) {
		memset(h, 0, sizeof(*h));
		/* Both copies without magic: say "not an ebscrypt volume", not "corrupted". */
		return prc == -EMEDIUMTYPE ? brc : prc;
	}
	return 0;
}

static int write_copy(int fd, off_t off, const uint8_t *buf)
{
	size_t done = 0;
	ssize_t n;

	while (done < EBS_HDR_SIZE) {
		n = pwrite(fd, buf + done, EBS_HDR_SIZE - done, off + done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		done += n;
	}
	return fsync(fd) ? -errno : 0;
}

int ebs_header_write(int fd, const struct ebs_header *h)
{
	uint8_t buf[EBS_HDR_SIZE];
	int rc;

	rc = ebs_header_encode(h, buf, sizeof(buf));
	if (!rc)
		rc = write_copy(fd, EBS_HDR_BACKUP_OFFSET, buf);
	if (!rc)
		rc = write_copy(fd, EBS_HDR_PRIMARY_OFFSET, buf);
	return rc;
}

int ebs_header_kcv(const uint8_t *dek, size_t dek_len, uint8_t out[EBS_HDR_KCV_LEN])
{
	static const char label[] = "ebscrypt-kcv";
	uint8_t mac[32];
	unsigned int n = sizeof(mac);

	if (!HMAC(EVP_sha256(), dek, (int)dek_len, (const uint8_t *)label,
		  sizeof(label) - 1, mac, &n))
		return -EIO;
	memcpy(out, mac, EBS_HDR_KCV_LEN);
	secmem_wipe(mac, sizeof(mac));
	return 0;
}

const char *ebs_header_ctx_get(const struct ebs_header *h, const char *key)
{
	size_t i;

	for (i = 0; i < h->ctx_count && i < EBS_HDR_CTX_MAX; i++)
		if (!strcmp(h->ctx[i].key, key))
			return h->ctx[i].value;
	return NULL;
}

const struct kms_context *ebs_kms_context(const struct ebs_header_ctx_pair *cp, size_t n,
					  struct ebs_kms_context *out)
{
	size_t i;

	if (n > EBS_HDR_CTX_MAX)
		n = EBS_HDR_CTX_MAX;
	for (i = 0; i < n; i++) {
		out->pairs[i].key = cp[i].key;
		out->pairs[i].value = cp[i].value;
	}
	out->ctx.pairs = out->pairs;
	out->ctx.count = n;
	return &out->ctx;
}

int ebs_header_ctx_set(struct ebs_header *h, const char *key, const char *value)
{
	size_t i;

	if (strlen(key) > EBS_HDR_CTX_KEY_MAX || strlen(value) > EBS_HDR_CTX_VALUE_MAX)
		return -E2BIG;
	for (i = 0; i < h->ctx_count; i++)
		if (!strcmp(h->ctx[i].key, key))
			break;
	if (i == h->ctx_count) {
		if (h->ctx_count == EBS_HDR_CTX_MAX)
			return -ENOSPC;
		h->ctx_count++;
	}
	snprintf(h->ctx[i].key, sizeof(h->ctx[i].key), "%s", key);
	snprintf(h->ctx[i].value, sizeof(h->ctx[i].value), "%s", value);
	return 0;
}
