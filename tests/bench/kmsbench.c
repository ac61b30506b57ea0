// SPDX-License-Identifier: GPL-2.0
/*
 * kmsbench: a closed-loop load generator for ebscrypt-kmsd on loopback, built
 * on lib/kms_client.c (the agent's own client). C threads, each with its own
 * client (one keep-alive connection), send one operation back to back until
 * the request count or the time is used up, whichever comes first, and the
 * latency of every request is kept.
 *
 *   kmsbench --url URL --creds FILE --profile NAME --key KEY
 *            --op decrypt|gdkwp --concurrency N --requests N --seconds S
 *
 * Prints one JSON object: op, concurrency, requests, errors, seconds,
 * req_per_s, p50_ms, p99_ms. Secrets come from the credentials file, read
 * by the credential chain (tests/helpers/credentials_file.h).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/kms_client.h"
#include "lib/secmem.h"
#include "tests/helpers/credentials_file.h"

static const char *url, *key, *profile = "host", *op = "decrypt";
static long total_requests = 1000;
static double seconds = 10;
static int concurrency = 1;
static uint8_t *blob;
static size_t blob_len;
static long next_request;
static pthread_mutex_t counter = PTHREAD_MUTEX_INITIALIZER;
static double deadline;
static double *latencies;
static long errors;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct kms_client *client(void)
{
	struct kms_endpoint ep = {
		.url = url, .region = "us-east-1", .profile = profile,
		.timeout_ms = 30000, .max_retries = 0,
	};
	struct kms_client *c = NULL;

	return kms_client_new(&ep, &c) ? NULL : c;
}

static int one(struct kms_client *c)
{
	struct kms_context_pair pair = { "volume", "vol-0123456789abcdef0" };
	struct kms_context ctx = { &pair, 1 };
	struct kms_error err;
	uint8_t plain[64], *b = NULL;
	size_t plen, blen;
	int rc;

	if (!strcmp(op, "decrypt")) {
		rc = kms_decrypt(c, NULL, blob, blob_len, &ctx, plain, sizeof(plain), &plen, NULL, &err);
		secmem_wipe(plain, sizeof(plain));
		return rc;
	}
	rc = kms_generate_data_key_without_plaintext(c, key, &ctx, 0, &b, &blen, NULL, &err);
	free(b);
	return rc;
}

static void *worker(void *arg)
{
	struct kms_client *c = client();
	long i;
	double t0;
	int rc;

	if (!c)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&counter);
		i = next_request < total_requests && now_s() < deadline ? next_request++ : -1;
		pthread_mutex_unlock(&counter);
		if (i < 0)
			break;
		t0 = now_s();
		rc = one(c);
		latencies[i] = now_s() - t0;
		if (rc)
			__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
	}
	kms_client_free(c);
	return arg;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "creds", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "op", required_argument, NULL, 'o' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *creds = NULL;
	struct kms_client *c;
	pthread_t *th;
	double start, elapsed;
	int i, o;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 'c': creds = optarg; break;
		case 'p': profile = optarg; break;
		case 'k': key = optarg; break;
		case 'o': op = optarg; break;
		case 'n': concurrency = atoi(optarg); break;
		case 'r': total_requests = atol(optarg); break;
		case 's': seconds = atof(optarg); break;
		default: return 2;
		}
	}
	if (!url || !creds || !key || concurrency < 1 || concurrency > 1024 || total_requests < 1 ||
	    seconds <= 0 || (strcmp(op, "decrypt") && strcmp(op, "gdkwp"))) {
		fprintf(stderr, "usage: kmsbench --url URL --creds FILE --profile NAME --key KEY "
			"--op decrypt|gdkwp --concurrency N --requests N --seconds S\n");
		return 2;
	}
	if (use_credentials_file(creds)) {
		fprintf(stderr, "kmsbench: cannot read %s\n", creds);
		return 2;
	}
	c = client();
	if (!c) {
		fprintf(stderr, "kmsbench: cannot make a client\n");
		return 1;
	}
	if (!strcmp(op, "decrypt")) {
		struct kms_context_pair pair = { "volume", "vol-0123456789abcdef0" };
		struct kms_context ctx = { &pair, 1 };
		struct kms_error err;

		if (kms_generate_data_key_without_plaintext(c, key, &ctx, 0, &blob, &blob_len, NULL, &err)) {
			fprintf(stderr, "kmsbench: GenerateDataKeyWithoutPlaintext: %s\n", err.message);
			return 1;
		}
	}
	kms_client_free(c);
	latencies = calloc((size_t)total_requests, sizeof(*latencies));
	th = calloc((size_t)concurrency, sizeof(*th));
	if (!latencies || !th)
		return 1;
	start = now_s();
	deadline = start + seconds;
	for (i = 0; i < concurrency; i++)
		if (pthread_create(&th[i], NULL, worker, NULL))
			return 1;
	for (i = 0; i < concurrency; i++)
		pthread_join(th[i], NULL);
	elapsed = now_s() - start;
	qsort(latencies, (size_t)next_request, sizeof(*latencies), cmp_double);
	printf("{\"op\":\"%s\",\"concurrency\":%d,\"requests\":%ld,\"errors\":%ld,\"seconds\":%.3f,"
	       "\"req_per_s\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
	       op, concurrency, next_request, errors, elapsed, (double)next_request / elapsed,
	       next_request ? latencies[next_request / 2] * 1e3 : 0.0,
	       next_request ? latencies[(long)((double)(next_request - 1) * 0.99)] * 1e3 : 0.0);
	free(blob);
	free(latencies);
	free(th);
	return errors ? 1 : 0;
}
