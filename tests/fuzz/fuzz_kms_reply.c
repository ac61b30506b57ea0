// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the KMS client's handling of replies (lib/kms_client.c),
 * through its public calls against a server that answers with the input.
 * A thread serves HTTP on a Unix socket (the client's kms_unix_socket
 * transport) and, for each request, writes the current input back as the
 * whole response and closes.
 *
 * Input: a byte choosing the call (Decrypt, DescribeKey,
 * GenerateDataKeyWithoutPlaintext, ReEncrypt, or kms_call ListKeys), then
 * the reply. With the byte's 0x80 bit the rest is the body of a
 * "200 OK" response (0x40: of a "400 Bad Request", an AWS error), with a
 * correct Content-Length; otherwise it is sent raw, status line and all.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "kms_client.h"
#include "log.h"
#include "secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kms_client *fx_client;
static char fx_sock[256];
static pthread_mutex_t fx_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *fx_reply;
static size_t fx_reply_len;

static void *serve(void *arg)
{
	int lfd = *(int *)arg;

	for (;;) {
		char req[65536];
		size_t got = 0;
		int cfd = accept(lfd, NULL, NULL);

		if (cfd < 0)
			continue;
		/* The request's headers and its (small) body: read what comes within a moment. */
		for (;;) {
			struct timeval tv = { 0, 20000 };
			ssize_t n;

			setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			n = recv(cfd, req + got, sizeof(req) - got - 1, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n") && strstr(req, "}"))
				break;
		}
		pthread_mutex_lock(&fx_lock);
		if (fx_reply_len && send(cfd, fx_reply, fx_reply_len, MSG_NOSIGNAL) < 0)
			(void)0; /* the client may have given up */
		pthread_mutex_unlock(&fx_lock);
		close(cfd);
	}
	return NULL;
}

static void fx_cleanup(void)
{
	unlink(fx_sock);
}

static void fx_setup(void)
{
	static int lfd;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kms_endpoint ep = {
		.url = "http://kms.fuzz.invalid/", .region = "us-east-1", .access_key_id = "AKIDFUZZ",
		.secret_access_key = "fuzzsecret", .timeout_ms = 2000, .max_retries = 0,
	};
	pthread_t t;

	ebs_log_init("fuzz-kms-client", LOG_CRIT);
	snprintf(fx_sock, sizeof(fx_sock), "%s/ebscrypt-fuzz-kms.%d.sock", getenv("TMPDIR") ?: "/tmp",
		 (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx_sock);
	unlink(fx_sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16))
		abort();
	atexit(fx_cleanup);
	if (pthread_create(&t, NULL, serve, &lfd))
		abort();
	ep.unix_socket = fx_sock;
	if (kms_client_new(&ep, &fx_client))
		abort();
}

static void set_reply(const uint8_t *data, size_t size, int wrap)
{
	char head[128];
	int n = 0;

	pthread_mutex_lock(&fx_lock);
	free(fx_reply);
	if (wrap)
		n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
			     "Content-Length: %zu\r\n\r\n", wrap == 1 ? "200 OK" : "400 Bad Request", size);
	fx_reply = malloc((size_t)n + size + 1);
	if (!fx_reply)
		abort();
	memcpy(fx_reply, head, (size_t)n);
	if (size)
		memcpy(fx_reply + n, data, size);
	fx_reply_len = (size_t)n + size;
	pthread_mutex_unlock(&fx_lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t blob[] = "fuzz-blob";
	struct kms_context_pair pair = { "volume", "vol-0123456789abcdef0" };
	struct kms_context ctx = { &pair, 1 };
	struct kms_key_info info = { 0 };
	struct kms_error err;
	struct json_object *req, *resp = NULL;
	uint8_t *plain, *out = NULL;
	size_t plain_len = 0, out_len = 0;
	char *arn = NULL;
	int call;

	if (!size)
		return 0;
	if (!fx_client)
		fx_setup();
	call = data[0] & 7;
	set_reply(data + 1, size - 1, data[0] & 0x80 ? 1 : data[0] & 0x40 ? 2 : 0);
	memset(&err, 0, sizeof(err));
	switch (call % 5) {
	case 0:
		plain = secmem_alloc(64);
		if (!plain)
			abort();
		if (!kms_decrypt(fx_client, NULL, blob, sizeof(blob), &ctx, plain, 64, &plain_len, &arn, &err) &&
		    plain_len > 64)
			abort();
		secmem_free(plain);
		break;
	case 1:
		kms_describe_key(fx_client, "alias/fuzz", &info, &err);
		if (memchr(info.key_state, '\0', sizeof(info.key_state)) == NULL)
			abort();
		break;
	case 2:
		kms_generate_data_key_without_plaintext(fx_client, "alias/fuzz", &ctx, 64, &out, &out_len, &arn, &err);
		break;
	case 3:
		kms_reencrypt(fx_client, blob, sizeof(blob), &ctx, "alias/fuzz", &ctx, &out, &out_len, &arn, &err);
		break;
	default:
		req = json_object_new_object();
		json_object_object_add(req, "Limit", json_object_new_int(10));
		kms_call(fx_client, "ListKeys", req, &resp, &err);
		json_object_put(req);
		json_object_put(resp);
		break;
	}
	/* Errors are NUL-terminated text, whatever came back. */
	if (!memchr(err.type, '\0', sizeof(err.type)) || !memchr(err.message, '\0', sizeof(err.message)))
		abort();
	free(out);
	free(arn);
	return 0;
}
