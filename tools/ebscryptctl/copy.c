// SPDX-License-Identifier: GPL-2.0
/*
 * The one copy loop behind snapshots, restores and re-encryption: fixed 1 MiB
 * buffer (memory independent of volume size), optional SHA-256 of what it
 * read, holes kept when the destination is a fresh file, and progress on a
 * terminal (bytes, rate, ETA), silent otherwise or in --json mode.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctl.h"

#define COPY_CHUNK (1u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void progress(const struct copy_job *j, uint64_t done, double t0, int final)
{
	double el = now_s() - t0, rate = el > 0 ? done / el : 0;

	if (!j->show)
		return;
	fprintf(stderr, "\r%s: %llu / %llu MiB, %.1f MiB/s, ETA %.0f s   %s", j->what,
		(unsigned long long)(done >> 20), (unsigned long long)(j->len >> 20), rate / 1048576.0,
		rate > 0 ? (j->len - done) / rate : 0.0, final ? "\n" : "");
}

int copy_run(struct copy_job *j)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	EVP_MD_CTX *md = NULL;
	uint64_t done = 0;
	double t0 = now_s(), last = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	if (j->sha256 && (!(md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))) {
		rc = -ENOMEM;
		goto out;
	}
	while (done < j->len) {
		size_t want = j->len - done < COPY_CHUNK ? (size_t)(j->len - done) : COPY_CHUNK, got = 0;
		ssize_t n;

		if (j->cancel && j->cancel()) {
			rc = -ECANCELED;
			goto out;
		}
		while (got < want) {
			n = pread(j->in, buf + got, want - got, j->in_off + done + got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
				goto out;
			}
			if (n == 0) {
				rc = -ENODATA;
				goto out;
			}
			got += n;
		}
		if (md)
			EVP_DigestUpdate(md, buf, want);
		if (j->out >= 0 && !(j->sparse && all_zero(buf, want))) {
			size_t put = 0;

			while (put < want) {
				n = pwrite(j->out, buf + put, want - put, j->out_off + done + put);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					rc = n < 0 ? -errno : -ENOSPC;
					goto out;
				}
				put += n;
			}
		}
		done += want;
		if (now_s() - last > 0.5) {
			last = now_s();
			progress(j, done, t0, 0);
		}
	}
	if (j->out >= 0 && fsync(j->out))
		rc = -errno;
	if (!rc && md) {
		unsigned int l = 32;

		EVP_DigestFinal_ex(md, j->sha256, &l);
	}
	progress(j, done, t0, 1);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}
