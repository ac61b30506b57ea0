// SPDX-License-Identifier: GPL-2.0
/*
 * The KMS client against a server that answers each request with the next
 * scripted reply, over the client's Unix-socket transport: replies in a
 * sequence, as one client sees them over its life.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "kms_client.h"
#include "log.h"

struct script {
	int lfd;
	const char *const *replies;
	size_t n;
};

/* One connection per request: read the request, send the next reply, close. */
static void *serve(void *arg)
{
	struct script *s = arg;
	size_t i;

	for (i = 0; i < s->n; i++) {
		char req[65536];
		size_t got = 0;
		int cfd = accept(s->lfd, NULL, NULL);

		if (cfd < 0)
			break;
		for (;;) {
			ssize_t r = recv(cfd, req + got, sizeof(req) - got - 1, 0);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n") && strchr(strstr(req, "\r\n\r\n"), '}'))
				break;
		}
		if (send(cfd, s->replies[i], strlen(s->replies[i]), MSG_NOSIGNAL) < 0)
			(void)0; /* the client may have given up */
		close(cfd);
	}
	return NULL;
}

/*
 * A reply whose first header line is folded (a continuation, starting with
 * a blank) after a reply with ordinary headers, on one client. libcurl up
 * to 8.0 kept a pointer to the last header of the previous transfer in a
 * reused handle and unfolded the new line into it: a use after free that
 * AddressSanitizer reports, reached by any server or anyone between.
 */
static void folded_header_after_a_normal_reply_is_an_error_not_a_crash(void **state)
{
	static const char *const replies[] = {
		"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
		"X-Amzn-RequestId: 0123456789abcdef0123456789abcdef\r\n"
		"Content-Length: 2\r\n\r\n{}",
		"HTTP/1.1 500 Internal\n Server-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
		"Content-Length: 2\r\n\r\n{}",
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kms_endpoint ep = {
		.url = "http://kms.test.invalid/", .region = "us-east-1", .access_key_id = "AKIDTEST",
		.secret_access_key = "testsecret", .timeout_ms = 5000, .max_retries = 0,
	};
	struct script s = { .replies = replies, .n = 3 };
	struct kms_client *c;
	struct kms_key_info info;
	struct kms_error err;
	char path[108];
	pthread_t t;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/ebscrypt-test-kms.%d.sock", getenv("TMPDIR") ?: "/tmp", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s.lfd >= 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s.lfd, 4), 0);
	assert_int_equal(pthread_create(&t, NULL, serve, &s), 0);
	ep.unix_socket = path;
	assert_int_equal(kms_client_new(&ep, &c), 0);
	for (i = 0; i < 3; i++) {
		memset(&info, 0, sizeof(info));
		memset(&err, 0, sizeof(err));
		/* The replies carry no key: each call fails, cleanly. */
		assert_true(kms_describe_key(c, "alias/test", &info, &err) < 0);
		assert_non_null(memchr(err.message, '\0', sizeof(err.message)));
	}
	kms_client_free(c);
	pthread_join(t, NULL);
	close(s.lfd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(folded_header_after_a_normal_reply_is_an_error_not_a_crash),
	};

	ebs_log_init("test-kms-client", LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
