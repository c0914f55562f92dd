/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI proxy (`kpleg daemon --cri-proxy-socket P`): serves
 * runtime.v1.RuntimeService and runtime.v1.ImageService on P, so that a
 * kubelet can use P as its runtime endpoint. Every call is forwarded to the
 * real runtime as raw bytes, never decoded: same method, the request's
 * bytes, the client's deadline and metadata; the runtime's initial metadata,
 * reply bytes, status code, status message and trailing metadata come back
 * unchanged. A client that cancels or goes away cancels the runtime's call.
 * GetContainerEvents alone may be answered by kpleg (events_handler).
 *
 * Metadata that gRPC manages itself is not forwarded either way: pseudo
 * headers (":path", ":authority", ...), "grpc-*" (the deadline travels as the
 * call's own deadline), "content-type", "te", "user-agent" (the runtime sees
 * the proxy's), "host", "content-encoding", "accept-encoding" and the HTTP/1
 * connection headers; nor anything gRPC would refuse to send.
 *
 * GetContainerEvents (and methods named Stream*, which newer cri-api
 * versions may add) are forwarded as server streams, message by message;
 * every other method as unary. Paths outside the two services are answered
 * UNIMPLEMENTED and not forwarded; unknown methods inside them are forwarded
 * (the runtime answers).
 *
 * One gRPC channel to the runtime serves the proxy's whole life; gRPC
 * reconnects it (backoff at most 1 s). While the runtime is down, calls fail
 * at once with UNAVAILABLE. Messages are bounded to 16 MiB both ways, like
 * the kubelet's. The socket and peer admission are rpc_server's (mode 0660,
 * root plus the allowed uid/gid); the directory of P must exist.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "rpc_server.h"

#define CRI_PROXY_RUNTIME_SERVICE "/runtime.v1.RuntimeService/"
#define CRI_PROXY_IMAGE_SERVICE "/runtime.v1.ImageService/"
#define CRI_PROXY_EVENTS_METHOD "/runtime.v1.RuntimeService/GetContainerEvents"

struct cri_proxy;

struct cri_proxy_opts {
	const char *socket_path;	/* P: the socket the proxy serves on */
	const char *upstream;		/* the runtime: unix:///path or /path */
	uid_t allow_uid;		/* as rpc_server_opts; -1: none */
	gid_t allow_gid;		/* (gid_t)-1: none */
	unsigned max_calls;		/* concurrent calls; 0: 256 */
	/* GetContainerEvents is handed to this (on its own thread, as any
	 * rpc_server handler); NULL: forwarded like every other method. */
	rpc_handler events_handler;
	void *events_ctx;
	/* Called after a unary call the runtime answered OK has been answered
	 * to the client, with its method path and request bytes (so kpleg can
	 * look at what the kubelet just changed); NULL: none. */
	void (*on_forwarded)(const char *method, const void *req, size_t len, void *ctx);
	void *hook_ctx;
};

struct cri_proxy_stats {
	uint64_t forwarded;		/* calls sent to the runtime */
	uint64_t streams;		/* of which server-streaming */
	uint64_t events_served;		/* GetContainerEvents handed to events_handler */
	uint64_t rejected;		/* paths outside the two services */
	struct rpc_server_stats server;
};

/* Binds P, starts serving and returns; does not contact the runtime (the
 * first call does). -EINVAL: a bad upstream endpoint, or P is the upstream's
 * own path; otherwise rpc_server__start's errors (-EADDRINUSE, -EEXIST, ...). */
int cri_proxy__start(const struct cri_proxy_opts *o, struct cri_proxy **ret);
/* Stops serving, cancels every call (and so the runtime's), waits for them,
 * removes P and frees. NULL-safe. */
void cri_proxy__free(struct cri_proxy *p);
void cri_proxy__stats(struct cri_proxy *p, struct cri_proxy_stats *ret);
