/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kpleg daemon --metrics-address HOST:PORT`: /metrics (Prometheus text
 * 0.0.4), /healthz and /readyz over HTTP, served by libmicrohttpd on its own
 * thread. Every answer is built in memory from atomics and one short read of
 * the tracker's state, then sent by libmicrohttpd without blocking: a slow or
 * hostile client costs one of a bounded number of connections, each closed
 * after an idle timeout, and never the tracker's time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

struct metrics_http;

struct metrics_http_opts {
	int fd;	/* from metrics_http_listen(); owned by the server once started */
	/* /metrics: the body, written to @out; 0 or -errno (then 500). */
	int (*render)(FILE *out, void *ctx);
	/* /healthz: true when healthy, else the reason in @reason. */
	bool (*healthy)(char *reason, size_t n, void *ctx);
	/* /readyz: true after the first sync. */
	bool (*ready)(void *ctx);
	void *ctx;
};

/* "127.0.0.1:9101", "[::1]:9101", "localhost:9101", ":9101" (every IPv4
 * address): a numeric address (no name lookups) and a port 1-65535.
 * 0, or -EINVAL with what is wrong in @why. */
int metrics_address_parse(const char *s, struct sockaddr_storage *ret, char *why, size_t n);

/* A listening socket on @addr, or -errno (-EADDRINUSE, -EACCES...): bound
 * early, so that a taken port stops the daemon before it starts anything. */
int metrics_http_listen(const struct sockaddr_storage *addr);
/* Starts serving on o->fd, which it owns from then on (closed on failure
 * too). */
int metrics_http__start(const struct metrics_http_opts *o, struct metrics_http **ret);
/* Stops (waiting for the server's thread) and frees; NULL-safe. */
void metrics_http__free(struct metrics_http *h);
