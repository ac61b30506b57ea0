// SPDX-License-Identifier: GPL-2.0
/*
 * Connections open per client address, for max_connections_per_source on
 * the HTTPS port, where the service accepts connections itself (tls.c);
 * libmicrohttpd counts the plain HTTP port's the same way.
 *
 * An address is the whole IPv4 or IPv6 address, as libmicrohttpd compares
 * them; an IPv4-mapped IPv6 address (a dual-stack listener) counts as its
 * IPv4 address. Other families (a Unix socket) have no address to tell
 * clients apart by and are not counted.
 *
 * The table is a glibc search tree (tsearch): lookups stay logarithmic
 * whatever addresses a client picks, and it holds one node per address
 * with connections open, so at most max_connections nodes. Callers
 * serialise the calls.
 */
#include <errno.h>
#include <netinet/in.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kmsd.h"

struct source_entry {
	unsigned char family;
	unsigned char addr[16];
	unsigned int open;
};

struct source_cap {
	void *root;
	unsigned int max_per_source;
};

static int source_cmp(const void *a, const void *b)
{
	const struct source_entry *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* 0 with the key filled in, or -EAFNOSUPPORT for an address not counted. */
static int source_key(const struct sockaddr *sa, struct source_entry *key)
{
	memset(key, 0, sizeof(*key));
	if (sa && sa->sa_family == AF_INET) {
		key->family = AF_INET;
		memcpy(key->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key->family = AF_INET;
			memcpy(key->addr, a->s6_addr + 12, 4);
		} else {
			key->family = AF_INET6;
			memcpy(key->addr, a->s6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int source_cap_new(unsigned int max_per_source, struct source_cap **out)
{
	struct source_cap *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return -ENOMEM;
	sc->max_per_source = max_per_source ? max_per_source : 1;
	*out = sc;
	return 0;
}

int source_cap_take(struct source_cap *sc, const struct sockaddr *sa, unsigned int *open)
{
	struct source_entry key, *e, **slot;

	*open = 0;
	if (source_key(sa, &key))
		return 0;
	slot = tfind(&key, &sc->root, source_cmp);
	if (slot) {
		e = *slot;
		*open = e->open;
		if (e->open >= sc->max_per_source)
			return -EBUSY;
		e->open++;
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = key;
	e->open = 1;
	if (!tsearch(e, &sc->root, source_cmp)) {
		free(e);
		return -ENOMEM;
	}
	return 0;
}

void source_cap_put(struct source_cap *sc, const struct sockaddr *sa)
{
	struct source_entry key, *e, **slot;

	if (source_key(sa, &key))
		return;
	slot = tfind(&key, &sc->root, source_cmp);
	if (!slot)
		return;
	e = *slot;
	if (--e->open)
		return;
	tdelete(&key, &sc->root, source_cmp);
	free(e);
}

void source_cap_free(struct source_cap *sc)
{
	if (!sc)
		return;
	tdestroy(sc->root, free);
	free(sc);
}
