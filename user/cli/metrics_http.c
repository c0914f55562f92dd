// SPDX-License-Identifier: Apache-2.0
/*
 * /metrics, /healthz and /readyz on libmicrohttpd (see metrics_http.h).
 * One internal polling thread serves every connection without blocking; the
 * listening socket is ours (bound here, so a bind error is an errno, not a
 * log line), handed to libmicrohttpd, which closes it when it stops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics_http.h"
#include "util.h"

/* Prometheus scrapes one connection at a time; leave room for probes and a
 * few humans with curl, and no more. */
#define CONN_LIMIT 16
#define CONN_TIMEOUT_S 5
#define CONN_MEMORY 32768
#define BACKLOG 16

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct metrics_http_opts o;
	struct MHD_Daemon *d;
};

/* ---- the address --------------------------------------------------------------- */

static int parse_port(const char *s, in_port_t *ret)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*ret = htons((in_port_t)v);
	return 0;
}

int metrics_address_parse(const char *s, struct sockaddr_storage *ret, char *why, size_t n)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	in_port_t p;

	if (s[0] == '[') { /* [IPv6]:PORT */
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host)) {
			snprintf(why, n, "expected [IPv6]:PORT");
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(end - s - 1), s + 1);
		port = end + 2;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
			snprintf(why, n, "\"%s\" is not an IPv6 address", host);
			return -EINVAL;
		}
		in6->sin6_family = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon || (size_t)(colon - s) >= sizeof(host)) {
			snprintf(why, n, "expected HOST:PORT (an IPv6 address in brackets)");
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
		port = colon + 1;
		in4->sin_family = AF_INET;
		if (!*host)
			in4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (!strcmp(host, "localhost"))
			in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
			snprintf(why, n, "\"%s\" is not an IPv4 address (no names are looked up)",
				 host);
			return -EINVAL;
		}
	}
	if (parse_port(port, &p) < 0) {
		snprintf(why, n, "the port must be a number from 1 to 65535");
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		in6->sin6_port = p;
	else
		in4->sin_port = p;
	*ret = ss;
	return 0;
}

/* ---- answers ------------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
			      char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* libmicrohttpd closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *s)
{
	return answer(c, status, CT_TEXT, (char *)s, strlen(s), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result serve_metrics(struct metrics_http *h, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = h->o.render(f, h->o.ctx);
	if (fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(buf);
		log_warn("\"Cannot render the metrics\" err=%d", r);
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics\n");
	}
	return answer(c, MHD_HTTP_OK, CT_METRICS, buf, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics_http *h = cls;
	char reason[192];

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (*upload_size) { /* a GET with a body: ignore it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/metrics"))
		return serve_metrics(h, c);
	if (!strcmp(url, "/healthz")) {
		if (h->o.healthy(reason, sizeof(reason), h->o.ctx))
			return text(c, MHD_HTTP_OK, "ok");
		return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, reason);
	}
	if (!strcmp(url, "/readyz")) {
		if (h->o.ready(h->o.ctx))
			return text(c, MHD_HTTP_OK, "ok");
		return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not synced yet");
	}
	return text(c, MHD_HTTP_NOT_FOUND, "404 page not found\n");
}

/* libmicrohttpd's own complaints (a full connection table, a client that
 * went away): one per connection at worst, so not at the default level. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	if (log_get_verbosity() < 2)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	log_v(2, "\"HTTP server\" msg=\"%s\"", msg);
}

int metrics_http_listen(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
	_cleanup_close_ int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, BACKLOG) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int metrics_http__start(const struct metrics_http_opts *o, struct metrics_http **ret)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = o ? o->fd : -1;
	struct metrics_http *h;

	if (fd < 0 || !o->render || !o->healthy || !o->ready || !ret) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->o = *o;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (!h->d) {
		close(fd);
		free(h);
		return -EIO;
	}
	*ret = h;
	return 0;
}

void metrics_http__free(struct metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d); /* joins its thread and closes the socket */
	free(h);
}
