// SPDX-License-Identifier: GPL-2.0
/* kmsd's per-source connection count (max_connections_per_source). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "kms-agent/kmsd/kmsd.h"

static struct sockaddr_storage v4(const char *a, unsigned short port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a, unsigned short port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void a_source_is_refused_at_its_cap_and_admitted_again_once_one_closes(void **state)
{
	struct sockaddr_storage a = v4("192.0.2.1", 1000);
	struct source_cap *sc;
	unsigned int open, i;

	assert_int_equal(source_cap_new(3, &sc), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
		assert_int_equal(open, i);
	}
	assert_int_equal(source_cap_take(sc, SA(a), &open), -EBUSY);
	assert_int_equal(open, 3);
	/* A refusal is not counted: one close makes room for exactly one. */
	source_cap_put(sc, SA(a));
	assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
	assert_int_equal(source_cap_take(sc, SA(a), &open), -EBUSY);
	source_cap_free(sc);
}

static void sources_are_counted_apart_by_address_not_port(void **state)
{
	struct sockaddr_storage a = v4("192.0.2.1", 1000), a2 = v4("192.0.2.1", 2000),
				b = v4("192.0.2.2", 1000), c = v6("2001:db8::1", 1000),
				d = v6("2001:db8::2", 1000);
	struct source_cap *sc;
	unsigned int open;

	assert_int_equal(source_cap_new(1, &sc), 0);
	assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
	assert_int_equal(source_cap_take(sc, SA(a2), &open), -EBUSY);
	assert_int_equal(source_cap_take(sc, SA(b), &open), 0);
	assert_int_equal(source_cap_take(sc, SA(c), &open), 0);
	assert_int_equal(source_cap_take(sc, SA(d), &open), 0);
	assert_int_equal(source_cap_take(sc, SA(c), &open), -EBUSY);
	source_cap_free(sc);
}

static void an_ipv4_mapped_address_counts_as_its_ipv4_address(void **state)
{
	struct sockaddr_storage a = v4("192.0.2.1", 1000), m = v6("::ffff:192.0.2.1", 1000);
	struct source_cap *sc;
	unsigned int open;

	assert_int_equal(source_cap_new(1, &sc), 0);
	assert_int_equal(source_cap_take(sc, SA(m), &open), 0);
	assert_int_equal(source_cap_take(sc, SA(a), &open), -EBUSY);
	source_cap_put(sc, SA(a));
	assert_int_equal(source_cap_take(sc, SA(m), &open), 0);
	source_cap_free(sc);
}

static void a_unix_socket_peer_is_never_refused(void **state)
{
	struct sockaddr_storage u = { 0 };
	struct source_cap *sc;
	unsigned int open, i;

	((struct sockaddr_un *)&u)->sun_family = AF_UNIX;
	assert_int_equal(source_cap_new(1, &sc), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(source_cap_take(sc, SA(u), &open), 0);
	source_cap_put(sc, SA(u));
	source_cap_free(sc);
}

static void the_count_of_a_source_that_closed_everything_is_gone(void **state)
{
	struct sockaddr_storage a;
	struct source_cap *sc;
	unsigned int open, i;
	char addr[32];

	/* Many sources coming and going: put() forgets each (ASan sees leaks at free). */
	assert_int_equal(source_cap_new(2, &sc), 0);
	for (i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%u.%u", i / 256, i % 256);
		a = v4(addr, 1);
		assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
		assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
		assert_int_equal(open, 1);
		source_cap_put(sc, SA(a));
		source_cap_put(sc, SA(a));
		/* A put for a source with nothing open changes nothing. */
		source_cap_put(sc, SA(a));
		assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
		assert_int_equal(open, 0);
		source_cap_put(sc, SA(a));
	}
	/* Some left open for source_cap_free to release. */
	a = v4("10.9.9.9", 1);
	assert_int_equal(source_cap_take(sc, SA(a), &open), 0);
	source_cap_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_source_is_refused_at_its_cap_and_admitted_again_once_one_closes),
		cmocka_unit_test(sources_are_counted_apart_by_address_not_port),
		cmocka_unit_test(an_ipv4_mapped_address_counts_as_its_ipv4_address),
		cmocka_unit_test(a_unix_socket_peer_is_never_refused),
		cmocka_unit_test(the_count_of_a_source_that_closed_everything_is_gone),
	};

	return cmocka_run_group_tests_name("kmsd source_cap", tests, NULL, NULL);
}
