// SPDX-License-Identifier: GPL-2.0
/*
 * HTTPS termination with OpenSSL in front of libmicrohttpd.
 *
 * Debian's libmicrohttpd does TLS with GnuTLS and has no hook for another
 * TLS library, and the service is to have one TLS stack (OpenSSL), the one
 * its crypto and the client already use. So TLS ends here and MHD only
 * ever sees plaintext:
 *
 *   listener thread      accept()s on the TCP socket;
 *   a thread per conn.   SSL_accept() under a deadline, then a socketpair():
 *                        one end goes to MHD with MHD_add_connection(), and
 *                        bytes are pumped between the SSL object and the
 *                        other end until either side closes.
 *
 * Limits stay meaningful:
 *  - connections, handshaking or not, are capped at max_connections (so
 *    are the threads), and those from one client address at
 *    max_connections_per_source; one over either cap is accepted and closed
 *    at once, as MHD does at its own caps. Both are counted here, from
 *    accept to close, so a client cannot hold every slot with handshakes it
 *    never finishes; MHD's own per-address count is off behind us (it would
 *    count a subset of the same connections);
 *  - a handshake must finish within a fixed time of the accept (the shorter
 *    of connection_timeout_s and request_timeout_s), however steadily the
 *    client dribbles its ClientHello, so a client that stalls in it holds
 *    its slot for that long and blocks nobody else;
 *  - after the handshake MHD applies the idle timeout, the request
 *    deadline, the body limit and its connection cap to its end of the
 *    pair, and when MHD closes its end the TLS connection is closed; a
 *    client that stops reading replies is dropped here after
 *    connection_timeout_s;
 *  - each direction has one fixed buffer, and nothing more is read from a
 *    side while the buffer toward the other is full.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kmsd.h"
#include "log.h"
#include "readfile.h"

#define TLS_BUF 16384

/*
 * TLS 1.3 suites are OpenSSL's defaults (all AEAD). For TLS 1.2: forward
 * secret key exchange and AEAD only, which every current AWS SDK, the AWS
 * CLI and libcurl offer.
 */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

struct tls_server {
	SSL_CTX *ctx;
	unsigned int max_conns;
	long long timeout_ms;
	long long handshake_ms;
	int listen_fd;
	int stop[2];            /* pipe, readable once stopping: wakes every waiter */
	pthread_t listener;
	int listening;
	tls_handover_fn handover;
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t drained;
	unsigned int nconns;
	struct source_cap *sources;  /* under lock */
	time_t last_cap_log, last_source_log;
};

struct tls_conn {
	struct tls_server *t;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	long long accepted_ms;
};

struct pumpbuf {
	unsigned char d[TLS_BUF];
	size_t off, len;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The most specific OpenSSL reason for the last failure; clears the queue. */
static void ssl_reason(char *out, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, out, len);
	else
		snprintf(out, len, "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
}

/* What the socket must become ready for before OpenSSL can go on; 0: it cannot. */
static short tls_wanted_events(int ssl_error)
{
	if (ssl_error == SSL_ERROR_WANT_READ)
		return POLLIN;
	if (ssl_error == SSL_ERROR_WANT_WRITE)
		return POLLOUT;
	return 0;
}

/* The address alone; its port too unless port is NULL. */
static void addr_name(const struct sockaddr_storage *peer, char *out, size_t len, unsigned int *port)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (port)
		*port = 0;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)peer;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		if (port)
			*port = ntohs(s->sin_port);
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)peer;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		if (port)
			*port = ntohs(s->sin6_port);
	}
	snprintf(out, len, "%s", a);
}

static void peer_name(const struct tls_conn *c, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	unsigned int port;

	addr_name(&c->peer, a, sizeof(a), &port);
	snprintf(out, len, "%s port %u", a, port);
}

/* Never prompt on a terminal for a passphrase: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int load_key(SSL_CTX *ctx, const char *cert, const char *path)
{
	_cleanup_file_ struct ebs_file pem = { 0 };
	EVP_PKEY *pkey = NULL;
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	char why[256];
	BIO *bio;
	int rc = 0;

	/* Read into locked memory so the PEM text never reaches swap. */
	rc = ebs_file_read(path, 1 << 20, EBS_FILE_PRIVATE | EBS_FILE_SECRET, &pem);
	if (rc == -EPERM) {
		ebs_err("the TLS key %s must not be accessible by group or others (chmod 600)", path);
		return rc;
	}
	if (rc == -EINVAL || rc == -EFBIG || (!rc && !pem.len)) {
		ebs_err("the TLS key %s is not a PEM file of sensible size", path);
		return -EINVAL;
	}
	if (rc == -EIO) {
		ebs_err("cannot read the TLS key %s", path);
		return rc;
	}
	if (rc) {
		ebs_err("cannot open the TLS key %s: %s", path, strerror(-rc));
		return rc;
	}
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey) {
		ssl_reason(why, sizeof(why));
		ebs_err("the TLS key %s is not an unencrypted PEM private key (%s)", path, why);
		return -EINVAL;
	}
	/* Checked here to say which files disagree; OpenSSL's own words are terse. */
	if (!leaf || X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		ebs_err("the TLS certificate %s does not match the private key %s: "
			"tls_cert and tls_key must be a pair", cert, path);
		rc = -EINVAL;
	} else if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		ebs_err("cannot use the TLS key %s: %s", path, why);
		rc = -EINVAL;
	}
	EVP_PKEY_free(pkey);
	return rc;
}

static int make_ctx(struct tls_server *t, const char *cert, const char *key)
{
	char why[256];
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_reason(why, sizeof(why));
		ebs_err("cannot create the TLS context: %s", why);
		return -ENOMEM;
	}
	t->ctx = ctx;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		ssl_reason(why, sizeof(why));
		ebs_err("cannot configure TLS: %s", why);
		return -EINVAL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	/* The pump retries partial writes from a buffer it may refill. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	/* OpenSSL would only say "system lib" for a missing file. */
	if (access(cert, R_OK)) {
		int rc = -errno;

		ebs_err("cannot read the TLS certificate %s: %s", cert, strerror(-rc));
		return rc;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_reason(why, sizeof(why));
		ebs_err("cannot load the TLS certificate %s: %s", cert, why);
		return -EINVAL;
	}
	return load_key(ctx, cert, key);
}

int tls_server_require_client_ca(struct tls_server *t, const char *ca_file)
{
	STACK_OF(X509_NAME) *names;
	char why[256];

	if (access(ca_file, R_OK)) {
		int rc = -errno;

		ebs_err("cannot read the client CA %s: %s", ca_file, strerror(-rc));
		return rc;
	}
	if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1 ||
	    !(names = SSL_load_client_CA_file(ca_file))) {
		ssl_reason(why, sizeof(why));
		ebs_err("cannot load the client CA %s: %s", ca_file, why);
		return -EINVAL;
	}
	SSL_CTX_set_client_CA_list(t->ctx, names);
	/* A second factor beside SigV4: no certificate, no request. */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/*
	 * With peer verification on, OpenSSL refuses to resume a session (a
	 * TLS 1.3 ticket, a 1.2 session id) made without a session id context,
	 * and fails the whole handshake: a long-lived agent's next connection,
	 * once the idle one is closed, would get "SSL connect error" until it
	 * restarts.
	 */
	if (SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)"ebscrypt-kmsd",
					   sizeof("ebscrypt-kmsd") - 1) != 1) {
		ssl_reason(why, sizeof(why));
		ebs_err("cannot set the TLS session id context: %s", why);
		return -EINVAL;
	}
	return 0;
}

int tls_server_new(const char *cert, const char *key, const struct tls_limits *lim,
		   struct tls_server **out)
{
	struct tls_server *t = calloc(1, sizeof(*t));
	int rc;

	if (!t) {
		ebs_err("cannot allocate the TLS front end");
		return -ENOMEM;
	}
	t->listen_fd = -1;
	t->stop[0] = t->stop[1] = -1;
	t->max_conns = lim->max_conns ? lim->max_conns : 1;
	t->timeout_ms = (long long)(lim->idle_timeout_s ? lim->idle_timeout_s : 1) * 1000;
	t->handshake_ms = (long long)(lim->handshake_timeout_s ? lim->handshake_timeout_s : 1) * 1000;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->drained, NULL);
	rc = source_cap_new(lim->max_per_source, &t->sources);
	if (rc)
		ebs_err("cannot allocate the per-source connection count");
	else
		rc = make_ctx(t, cert, key);
	if (!rc && pipe2(t->stop, O_CLOEXEC | O_NONBLOCK)) {
		rc = -errno;
		ebs_err("cannot create a pipe: %s", strerror(-rc));
	}
	if (rc) {
		tls_server_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* 0 when ready, -ETIMEDOUT past the deadline, -ECANCELED when stopping. */
static int wait_io(struct tls_server *t, int fd, short ev, long long deadline)
{
	struct pollfd p[2] = { { .fd = fd, .events = ev }, { .fd = t->stop[0], .events = POLLIN } };

	for (;;) {
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[1].revents)
			return -ECANCELED;
		if (n > 0)
			return 0;
	}
}

/*
 * FIN, then read and discard what the client still sends for a moment:
 * closing a socket with unread input sends a RST, which can destroy a reply
 * still in flight (MHD's early 413 to an oversize body, our 400 to plain
 * HTTP) before the client has read it.
 */
static void drain_close(struct tls_server *t, int net)
{
	long long deadline = now_ms() + (t->timeout_ms < 2000 ? t->timeout_ms : 2000);
	struct pollfd p = { .fd = net, .events = POLLIN };
	char junk[4096];

	shutdown(net, SHUT_WR);
	for (;;) {
		long long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		r = recv(net, junk, sizeof(junk), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/* A plain HTTP client gets an HTTP answer rather than bytes it cannot read. */
static void refuse_plain_http(int fd)
{
	static const char msg[] =
		"HTTP/1.1 400 Bad Request\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 41\r\n"
		"Connection: close\r\n"
		"\r\n"
		"This port speaks HTTPS, not plain HTTP.\r\n";

	if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;
}

static int handshake(struct tls_server *t, SSL *ssl, const struct tls_conn *c)
{
	/* From the accept, not from the last byte: dribbling does not extend it. */
	long long deadline = c->accepted_ms + t->handshake_ms;
	char who[INET6_ADDRSTRLEN + 16], why[256];

	for (;;) {
		short want;
		int r, e, rc;

		ERR_clear_error();
		errno = 0;
		r = SSL_accept(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		peer_name(c, who, sizeof(who));
		want = tls_wanted_events(e);
		if (want) {
			rc = wait_io(t, c->fd, want, deadline);
			if (!rc)
				continue;
			if (rc == -ETIMEDOUT)
				ebs_debug("%s: TLS handshake not finished in time, dropped", who);
			return rc;
		}
		if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_HTTP_REQUEST) {
			ERR_clear_error();
			refuse_plain_http(c->fd);
			drain_close(t, c->fd);
			ebs_debug("%s: plain HTTP on the HTTPS port, refused", who);
			return -EPROTO;
		}
		ssl_reason(why, sizeof(why));
		ebs_debug("%s: TLS handshake failed: %s", who, why);
		return -EPROTO;
	}
}

/*
 * Moves bytes both ways until either side closes. Every step is tried each
 * round; only when none moved a byte does it poll, on what the stuck steps
 * wait for. A side is polled only when a step waits on it, so a peer that
 * hung up cannot make poll() return at once round after round. Once MHD
 * stops reading (it answered early, e.g. 413, and closed), client input is
 * no longer forwarded, but what MHD wrote is still delivered.
 */
static void pump(struct tls_server *t, SSL *ssl, int net, int app)
{
	struct pumpbuf *up = calloc(1, sizeof(*up));    /* client -> MHD */
	struct pumpbuf *down = calloc(1, sizeof(*down)); /* MHD -> client */
	long long stalled_since = -1;
	int app_reading = 1, app_eof = 0;

	if (!up || !down)
		goto out;
	for (;;) {
		short net_ev = 0, app_ev = 0;
		int progress = 0, n;
		struct pollfd p[2];
		long long limit, left;
		size_t done;
		ssize_t r;

		if (app_reading && !up->len) {
			ERR_clear_error();
			if (SSL_read_ex(ssl, up->d, sizeof(up->d), &done)) {
				up->off = 0;
				up->len = done;
				progress = 1;
			} else {
				short want = tls_wanted_events(SSL_get_error(ssl, 0));

				if (!want)
					goto out;  /* client closed or broke the stream */
				net_ev |= want;
			}
		}
		if (app_reading && up->len) {
			r = send(app, up->d + up->off, up->len, MSG_NOSIGNAL);
			if (r > 0) {
				up->off += (size_t)r;
				up->len -= (size_t)r;
				progress = 1;
			} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				app_ev |= POLLOUT;
			} else if (r < 0 && errno == EINTR) {
				progress = 1;  /* retry at once rather than poll for nothing */
			} else {
				/* MHD closed; its reply may still be in the pair. */
				app_reading = 0;
				up->len = 0;
				progress = 1;
			}
		}
		if (!app_eof && !down->len) {
			r = recv(app, down->d, sizeof(down->d), 0);
			if (r > 0) {
				down->off = 0;
				down->len = (size_t)r;
				progress = 1;
			} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				app_ev |= POLLIN;
			} else if (r < 0 && errno == EINTR) {
				progress = 1;
			} else {
				app_eof = 1;
				progress = 1;
			}
		}
		if (down->len) {
			ERR_clear_error();
			if (SSL_write_ex(ssl, down->d + down->off, down->len, &done)) {
				down->off += done;
				down->len -= done;
				progress = 1;
			} else {
				short want = tls_wanted_events(SSL_get_error(ssl, 0));

				if (!want)
					goto out;
				net_ev |= want;
			}
		}
		if (app_eof && !down->len) {
			/* MHD is done and everything it wrote went out. */
			ERR_clear_error();
			SSL_shutdown(ssl);
			ERR_clear_error();
			drain_close(t, net);
			goto out;
		}
		if (progress) {
			stalled_since = -1;
			continue;
		}
		/*
		 * Blocked on a client that does not read: the idle timeout. Else
		 * MHD's own timeout closes idle connections; the longer limit is
		 * only a backstop should MHD ever keep a silent connection.
		 */
		limit = down->len ? t->timeout_ms : 4 * t->timeout_ms;
		if (stalled_since < 0)
			stalled_since = now_ms();
		left = stalled_since + limit - now_ms();
		if (left <= 0) {
			ebs_debug("TLS connection idle for %lld s, dropped", limit / 1000);
			goto out;
		}
		p[0] = (struct pollfd){ .fd = net_ev ? net : -1, .events = net_ev };
		p[1] = (struct pollfd){ .fd = app_ev ? app : -1, .events = app_ev };
		n = poll(p, 2, (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno != EINTR)
			goto out;
	}
out:
	/* Replies carry data keys in plaintext. */
	if (up)
		OPENSSL_cleanse(up, sizeof(*up));
	if (down)
		OPENSSL_cleanse(down, sizeof(*down));
	free(up);
	free(down);
}

static void conn_release(struct tls_server *t, const struct sockaddr_storage *peer)
{
	pthread_mutex_lock(&t->lock);
	source_cap_put(t->sources, (const struct sockaddr *)peer);
	if (!--t->nconns)
		pthread_cond_broadcast(&t->drained);
	pthread_mutex_unlock(&t->lock);
}

/*
 * Counts a new connection against both caps, or refuses it. The warnings
 * are rate-limited: a flood must not become a flood of log lines.
 */
static int conn_admit(struct tls_server *t, const struct sockaddr_storage *peer)
{
	char a[INET6_ADDRSTRLEN];
	unsigned int open;
	int rc;

	pthread_mutex_lock(&t->lock);
	if (t->nconns >= t->max_conns) {
		if (time(NULL) - t->last_cap_log >= 10) {
			t->last_cap_log = time(NULL);
			ebs_warn("%u connections open (max_connections): refusing new ones", t->nconns);
		}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	rc = source_cap_take(t->sources, (const struct sockaddr *)peer, &open);
	if (rc) {
		if (time(NULL) - t->last_source_log >= 10) {
			t->last_source_log = time(NULL);
			addr_name(peer, a, sizeof(a), NULL);
			if (rc == -EBUSY)
				ebs_warn("%u connections from %s open (max_connections_per_source): "
					 "refusing more from it", open, a);
			else
				ebs_warn("cannot count a connection from %s: out of memory", a);
		}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	t->nconns++;
	pthread_mutex_unlock(&t->lock);
	return 1;
}

static void *conn_main(void *arg)
{
	struct tls_conn *c = arg;
	struct tls_server *t = c->t;
	int pair[2] = { -1, -1 };
	SSL *ssl = SSL_new(t->ctx);

	if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
		ERR_clear_error();
		ebs_warn("cannot set up a TLS connection: out of memory");
		goto out;
	}
	if (handshake(t, ssl, c))
		goto out;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair)) {
		ebs_warn("cannot create a socket pair: %s", strerror(errno));
		goto out;
	}
	/* The handover owns pair[1] from here, whatever it returns. */
	if (!t->handover(t->arg, pair[1], (struct sockaddr *)&c->peer, c->peer_len))
		pump(t, ssl, c->fd, pair[0]);
	pair[1] = -1;
out:
	SSL_free(ssl);
	if (pair[0] >= 0)
		close(pair[0]);
	if (pair[1] >= 0)
		close(pair[1]);
	close(c->fd);
	conn_release(t, &c->peer);
	free(c);
	return NULL;
}

static void *listener_main(void *arg)
{
	struct tls_server *t = arg;
	struct pollfd p[2] = {
		{ .fd = t->listen_fd, .events = POLLIN },
		{ .fd = t->stop[0], .events = POLLIN },
	};
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct tls_conn *c;
		pthread_t th;
		int fd, rc;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ebs_err("TLS listener: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(t->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				ebs_warn("cannot accept a connection: %s", strerror(errno));
				/* Let connections close before trying again. */
				poll(NULL, 0, 100);
			}
			continue;
		}
		if (!conn_admit(t, &ss)) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			conn_release(t, &ss);
			continue;
		}
		c->t = t;
		c->fd = fd;
		memcpy(&c->peer, &ss, sizeof(ss));
		c->peer_len = sl;
		c->accepted_ms = now_ms();
		rc = pthread_create(&th, &attr, conn_main, c);
		if (rc) {
			ebs_warn("cannot start a connection thread: %s", strerror(rc));
			close(fd);
			free(c);
			conn_release(t, &ss);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int tls_server_start(struct tls_server *t, int listen_fd, tls_handover_fn handover, void *arg)
{
	int fl = fcntl(listen_fd, F_GETFL), rc;

	/* A client that resets between poll() and accept() must not block us. */
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK)) {
		rc = -errno;
		ebs_err("cannot set up the listening socket: %s", strerror(-rc));
		return rc;
	}
	t->listen_fd = listen_fd;
	t->handover = handover;
	t->arg = arg;
	rc = pthread_create(&t->listener, NULL, listener_main, t);
	if (rc) {
		ebs_err("cannot start the TLS listener: %s", strerror(rc));
		return -rc;
	}
	t->listening = 1;
	return 0;
}

void tls_server_stop_accepting(struct tls_server *t)
{
	if (!t)
		return;
	/* Never drained: wakes the listener and aborts handshakes in progress. */
	if (t->stop[1] >= 0 && write(t->stop[1], "x", 1) < 0)
		ebs_warn("cannot signal the TLS threads to stop: %s", strerror(errno));
	if (t->listening) {
		pthread_join(t->listener, NULL);
		t->listening = 0;
	}
}

void tls_server_free(struct tls_server *t)
{
	if (!t)
		return;
	tls_server_stop_accepting(t);
	/* Pumps end when MHD closes its ends, or at the idle timeout. */
	pthread_mutex_lock(&t->lock);
	while (t->nconns)
		pthread_cond_wait(&t->drained, &t->lock);
	pthread_mutex_unlock(&t->lock);
	if (t->stop[0] >= 0)
		close(t->stop[0]);
	if (t->stop[1] >= 0)
		close(t->stop[1]);
	SSL_CTX_free(t->ctx);
	source_cap_free(t->sources);
	pthread_cond_destroy(&t->drained);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
