// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.1 front end on libmicrohttpd: a thread pool polling with
 * epoll, a connection limit, a cap on connections per source address, an
 * idle timeout per connection (slow clients that stop sending are
 * dropped), a deadline for each whole request (headers and body: a client
 * that trickles a byte every few seconds is dropped too, by the reaper
 * thread below), and a bounded request body (refused from Content-Length
 * before reading it).
 *
 * The router sees the request target as the client sent it, query string
 * included (MHD's own url argument has the query cut off), so the query
 * is part of the canonical request the signature is checked over.
 *
 * HTTPS is terminated with OpenSSL by tls.c, which hands MHD the plaintext
 * end of a socketpair per connection (MHD_add_connection); MHD's own TLS
 * (GnuTLS in Debian's build) is not used, so there is one TLS stack.
 *
 * We bind the listening socket ourselves (TCP or Unix) so that port 0
 * works and the bound address is logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "kmsd.h"
#include "log.h"
#include "secmem.h"
#include "strbuf.h"

/* A connection the reaper watches: since when it has been sending its request. */
struct conn_watch {
	struct conn_watch *prev, *next;
	int fd;
	long long since_ms;
	int answering;           /* the request is complete: no deadline until it is answered */
	int dropped;
};

struct http_server {
	struct MHD_Daemon *d;
	struct kmsd *k;
	int fd;
	char *unix_path;
	struct tls_server *tls;
	pthread_mutex_t handover_lock;
	int accepting;           /* d may take connections from tls */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond;
	struct conn_watch *watched;
	pthread_t reaper;
	int reaper_running, stopping;
};

struct conn {
	char *uri;               /* the request target as sent, query included */
	int started;
	struct strbuf body;
	int too_large;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct conn_watch *w = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		w = calloc(1, sizeof(*w));
		if (!w || !ci)
			return free(w);  /* unwatched: the idle timeout still applies */
		w->fd = ci->connect_fd;
		w->since_ms = mono_ms();
		pthread_mutex_lock(&s->watch_lock);
		w->next = s->watched;
		if (w->next)
			w->next->prev = w;
		s->watched = w;
		pthread_mutex_unlock(&s->watch_lock);
		*socket_context = w;
		return;
	}
	if (!w)
		return;
	/* MHD closes the socket after this returns: the reaper never sees a reused fd. */
	pthread_mutex_lock(&s->watch_lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		s->watched = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&s->watch_lock);
	free(w);
	*socket_context = NULL;
}

static struct conn_watch *watch_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The request is read: the time spent answering it is not the client's. */
static void watch_answering(struct http_server *s, struct MHD_Connection *c, int answering)
{
	struct conn_watch *w = watch_of(c);

	if (!w)
		return;
	pthread_mutex_lock(&s->watch_lock);
	w->answering = answering;
	w->since_ms = mono_ms();
	pthread_mutex_unlock(&s->watch_lock);
}

/*
 * Drops connections whose request has taken longer than the deadline to
 * arrive. shutdown() rather than close(): MHD owns the descriptor, sees
 * the end of the stream on its next read and cleans up as for any client
 * that went away.
 */
static void *reaper_main(void *arg)
{
	struct http_server *s = arg;
	long long limit_ms = (long long)s->k->cfg->request_timeout * 1000;
	struct conn_watch *w;
	struct timespec ts;
	long long now;

	pthread_mutex_lock(&s->watch_lock);
	while (!s->stopping) {
		now = mono_ms();
		for (w = s->watched; w; w = w->next) {
			if (w->answering || w->dropped || now - w->since_ms < limit_ms)
				continue;
			w->dropped = 1;
			shutdown(w->fd, SHUT_RDWR);
			ebs_debug("dropped a connection whose request took over %u s",
				  s->k->cfg->request_timeout);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->watch_cond, &s->watch_lock, &ts);
	}
	pthread_mutex_unlock(&s->watch_lock);
	return NULL;
}

/* MHD calls this once the request line is in; what it returns becomes *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct conn *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	cc->uri = strdup(uri ? uri : "");
	if (!cc->uri) {
		free(cc);
		return NULL;
	}
	sb_init(&cc->body);
	return cc;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	ebs_debug("libmicrohttpd: %s", line);
}

static void free_reply(void *p)
{
	OPENSSL_cleanse(p, strlen(p));
	free(p);
}

/* A reply that carries a plaintext (GenerateDataKey, Decrypt) is locked memory. */
static void free_sensitive_reply(void *p)
{
	secmem_free(p);
}

struct header_acc {
	struct sigv4_header *h;
	size_t n, cap;
	int oom;
};

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct header_acc *a = cls;

	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		struct sigv4_header *nh = realloc(a->h, ncap * sizeof(*nh));

		if (!nh) {
			a->oom = 1;
			return MHD_NO;
		}
		a->h = nh;
		a->cap = ncap;
	}
	a->h[a->n].name = key;
	a->h[a->n].value = value ? value : "";
	a->n++;
	return MHD_YES;
}

static void source_of(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "unix");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static enum MHD_Result respond(struct http_server *s, struct MHD_Connection *c,
			       const char *url, const char *method, struct conn *cc)
{
	struct header_acc acc = { 0 };
	struct http_header_list hl;
	struct http_reply rep;
	struct MHD_Response *resp;
	char source[INET6_ADDRSTRLEN + 1];
	enum MHD_Result ret;

	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &acc);
	if (acc.oom) {
		free(acc.h);
		return MHD_NO;
	}
	hl.h = acc.h;
	hl.n = acc.n;
	source_of(c, source, sizeof(source));
	router_handle(s->k, method, cc->uri, &hl, cc->body.buf ? cc->body.buf : "", cc->body.len,
		      cc->too_large, source, &rep);
	free(acc.h);
	sb_wipe_free(&cc->body);
	if (!rep.body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback(rep.len, rep.body,
								  rep.sensitive ? free_sensitive_reply : free_reply);
	if (!resp) {
		(rep.sensitive ? free_sensitive_reply : free_reply)(rep.body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/x-amz-json-1.1");
	MHD_add_response_header(resp, "x-amzn-RequestId", rep.request_id);
	if (cc->too_large)
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(c, (unsigned int)rep.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct conn *cc = *con_cls;

	if (!cc)
		return MHD_NO;  /* on_uri() ran out of memory */
	if (!cc->started) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

		cc->started = 1;
		if (cl) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (errno || *end || n > s->k->cfg->max_body)
				cc->too_large = 1;
		}
		/* Refuse an oversize body before a byte of it is read. */
		if (cc->too_large) {
			watch_answering(s, c, 1);
			return respond(s, c, url, method, cc);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!cc->too_large && cc->body.len + *upload_data_size > s->k->cfg->max_body) {
			cc->too_large = 1;
			sb_wipe_free(&cc->body);
		}
		if (!cc->too_large) {
			sb_add(&cc->body, upload_data, *upload_data_size);
			if (cc->body.oom)
				return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	watch_answering(s, c, 1);
	return respond(s, c, url, method, cc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct conn *cc = *con_cls;

	/* The next request on this connection has its own deadline, from now. */
	watch_answering(s, c, 0);
	if (!cc)
		return;
	sb_wipe_free(&cc->body);
	free(cc->uri);
	free(cc);
	*con_cls = NULL;
}

static int bind_listen(struct http_server *s, const char *listen_on)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char host[256], port[16], shown[300];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *colon;
	int fd, one = 1, rc;

	if (!strncmp(listen_on, "unix:", 5)) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		const char *path = listen_on + 5;

		if (!*path || strlen(path) >= sizeof(sun.sun_path))
			return -EINVAL;
		strcpy(sun.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		/* A socket file left by an unclean exit would make bind fail. */
		{
			struct stat st;

			if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
				unlink(path);
		}
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 128)) {
			rc = -errno;
			close(fd);
			return rc;
		}
		/* Access control is SigV4, as over TCP; the socket file itself is open. */
		chmod(path, 0666);
		s->unix_path = strdup(path);
		s->fd = fd;
		ebs_info("listening on unix:%s", path);
		return 0;
	}
	if (*listen_on == '[') {
		const char *end = strchr(listen_on, ']');

		if (!end || end[1] != ':' || (size_t)(end - listen_on - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen_on + 1, (size_t)(end - listen_on - 1));
		host[end - listen_on - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(listen_on, ':');
		if (!colon || (size_t)(colon - listen_on) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen_on, (size_t)(colon - listen_on));
		host[colon - listen_on] = '\0';
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(*host ? host : NULL, port, &hints, &ai) || !ai)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(ai);
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		rc = -errno;
		close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		snprintf(shown, sizeof(shown), "[%s]:%u", a, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
		snprintf(shown, sizeof(shown), "%s:%u", a, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	s->fd = fd;
	ebs_info("listening on %s (%s)", shown, s->tls ? "https" : "http");
	return 0;
}

/* tls.c's handover: MHD takes the plaintext end as if it had accepted it. */
static int add_connection(void *arg, int fd, const struct sockaddr *peer, unsigned int peer_len)
{
	struct http_server *s = arg;
	int rc = -ESHUTDOWN;

	/* Held across the call so http_stop cannot free the daemon under it. */
	pthread_mutex_lock(&s->handover_lock);
	if (s->accepting)
		rc = MHD_add_connection(s->d, fd, peer, (socklen_t)peer_len) == MHD_YES ? 0 : -EAGAIN;
	else
		close(fd);
	pthread_mutex_unlock(&s->handover_lock);
	if (rc == -EAGAIN)
		ebs_debug("the HTTP server refused a TLS connection (connection limit?)");
	return rc;
}

int http_start(struct kmsd *k, struct http_server **out)
{
	const struct kmsd_config *cfg = k->cfg;
	struct http_server *s = calloc(1, sizeof(*s));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	int rc;

	if (!s)
		return -ENOMEM;
	s->k = k;
	s->fd = -1;
	pthread_mutex_init(&s->handover_lock, NULL);
	pthread_mutex_init(&s->watch_lock, NULL);
	pthread_cond_init(&s->watch_cond, NULL);
	if (cfg->tls_cert) {
		/*
		 * The handshake is the first part of the first request, so the
		 * request deadline bounds it too.
		 */
		struct tls_limits lim = {
			.max_conns = cfg->max_connections,
			.max_per_source = cfg->max_connections_per_source,
			.handshake_timeout_s = cfg->connection_timeout < cfg->request_timeout ?
					       cfg->connection_timeout : cfg->request_timeout,
			.idle_timeout_s = cfg->connection_timeout,
		};

		/* Before binding: a bad certificate or key must not leave a port open. */
		rc = tls_server_new(cfg->tls_cert, cfg->tls_key, &lim, &s->tls);
		if (!rc && cfg->tls_client_ca)
			rc = tls_server_require_client_ca(s->tls, cfg->tls_client_ca);
		if (rc) {
			http_stop(s);
			return rc;
		}
		flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	}
	rc = bind_listen(s, cfg->listen);
	if (rc) {
		ebs_err("cannot listen on %s: %s", cfg->listen, strerror(-rc));
		http_stop(s);
		return rc;
	}
	/*
	 * With TLS, tls.c counts connections per source from accept to close,
	 * the handshake included; a second count here would only see a subset
	 * of the same connections.
	 */
	if (s->tls)
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
			MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
			MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
			MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
			MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
			MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
			MHD_OPTION_LISTEN_SOCKET, s->fd,
			MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
			MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
			MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_source,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
			MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
			MHD_OPTION_END);
	if (!s->d) {
		ebs_err("cannot start the HTTP server");
		http_stop(s);
		return -EIO;
	}
	rc = pthread_create(&s->reaper, NULL, reaper_main, s);
	if (rc) {
		ebs_err("cannot start the request deadline thread: %s", strerror(rc));
		http_stop(s);
		return -rc;
	}
	s->reaper_running = 1;
	if (s->tls) {
		s->accepting = 1;
		rc = tls_server_start(s->tls, s->fd, add_connection, s);
		if (rc) {
			http_stop(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->reaper_running) {
		pthread_mutex_lock(&s->watch_lock);
		s->stopping = 1;
		pthread_cond_signal(&s->watch_cond);
		pthread_mutex_unlock(&s->watch_lock);
		pthread_join(s->reaper, NULL);
	}
	if (s->tls) {
		/* No new TLS clients; those in handshake are dropped. */
		tls_server_stop_accepting(s->tls);
		pthread_mutex_lock(&s->handover_lock);
		s->accepting = 0;
		pthread_mutex_unlock(&s->handover_lock);
		/* Stopping MHD lets in-flight requests finish, then closes its ends. */
		if (s->d)
			MHD_stop_daemon(s->d);
		s->d = NULL;
		tls_server_free(s->tls);
	}
	if (s->d) {
		/* Stop accepting, then let in-flight requests finish. */
		MHD_socket q = MHD_quiesce_daemon(s->d);

		MHD_stop_daemon(s->d);
		if (q != MHD_INVALID_SOCKET)
			close(q);
		s->fd = -1;  /* MHD owned it from here on */
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->unix_path) {
		unlink(s->unix_path);
		free(s->unix_path);
	}
	pthread_mutex_destroy(&s->handover_lock);
	pthread_mutex_destroy(&s->watch_lock);
	pthread_cond_destroy(&s->watch_cond);
	free(s);
}
