/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A gRPC server on a unix socket with admission by peer credentials, on gRPC
 * C core. kpleg accepts the connections itself: each one's SO_PEERCRED is
 * checked (root, or the allowed uid/gid), and the connection is handed to one
 * of two gRPC servers: the real one, or one that answers every call with
 * PERMISSION_DENIED. The socket is created with mode 0660, owned by the
 * allowed uid and gid when given; a live server already on the path is an
 * error (-EADDRINUSE), a stale socket is replaced.
 *
 * Every method takes one request message (all of kpleg's and the CRI's do).
 * Each call runs on a thread of its own, at most max_calls at once (more are
 * answered RESOURCE_EXHAUSTED), so a handler may block: a unary handler
 * answers with rpc_call_reply() or rpc_call_fail(); a server-streaming one
 * sends with rpc_call_send() until it returns -ECANCELED, then finishes.
 * Whatever a handler leaves unanswered is answered INTERNAL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <grpc/grpc.h>
#include <grpc/status.h>

struct rpc_server;
struct rpc_call;

typedef void (*rpc_handler)(struct rpc_call *c, void *ctx);

struct rpc_method {
	const char *path; /* "/kpleg.v1.Kpleg/ListPods" */
	rpc_handler handler;
};

struct rpc_server_opts {
	const char *path;		 /* the unix socket */
	uid_t allow_uid;		 /* besides root, and the socket's owner; -1: none */
	gid_t allow_gid;		 /* allowed, and the socket's group; (gid_t)-1: none */
	unsigned max_calls;		 /* concurrent calls; 0: 64 */
	size_t max_message;		 /* request and reply bytes; 0: 16 MiB */
	const struct rpc_method *methods;
	size_t n_methods;
	rpc_handler fallback;		 /* any other method; NULL: UNIMPLEMENTED */
	void *ctx;			 /* handed to every handler */
};

struct rpc_server_stats {
	uint64_t accepted, refused;	 /* connections */
	uint64_t calls, busy;		 /* calls served; refused for max_calls */
	unsigned active;		 /* calls running now */
};

/* Binds, starts serving and returns. -EADDRINUSE when a server answers on
 * the path already; -EEXIST when something else than a socket is there;
 * -errno otherwise. */
int rpc_server__start(const struct rpc_server_opts *o, struct rpc_server **ret);
/* Stops accepting, cancels every call, waits for the handlers, removes the
 * socket and frees. NULL-safe. */
void rpc_server__free(struct rpc_server *s);
void rpc_server__stats(struct rpc_server *s, struct rpc_server_stats *ret);

/* ---- inside a handler ---------------------------------------------------- */

const char *rpc_call_method(const struct rpc_call *c);
/* The request message's bytes (valid during the call). */
const void *rpc_call_request(const struct rpc_call *c, size_t *ret_len);
/* The client's deadline on CLOCK_MONOTONIC ns; UINT64_MAX when none. */
uint64_t rpc_call_deadline_ns(const struct rpc_call *c);
/* The request's metadata (valid during the call). */
const grpc_metadata_array *rpc_call_metadata(const struct rpc_call *c);

/* Unary answer: the message and OK. 0 or -ECANCELED (the client is gone). */
int rpc_call_reply(struct rpc_call *c, const void *buf, size_t len);
/* Any call: the status, with a message for people. */
int rpc_call_fail(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Streaming: one message, waiting until gRPC took it. -ECANCELED when the
 * client went away, cancelled or its deadline passed. */
int rpc_call_send(struct rpc_call *c, const void *buf, size_t len);
/* Whether the client is gone (cancelled, deadline, server stopping). */
bool rpc_call_cancelled(struct rpc_call *c);

/* ---- raw forms, for a proxy (gRPC's own types) ------------------------------ */

/* The request message as a new gRPC byte buffer sharing the request's
 * slices (no copy; rpc_call_request stays valid after it is sent); the
 * caller destroys it. NULL when out of memory. */
grpc_byte_buffer *rpc_call_request_buffer(const struct rpc_call *c);
/* A client call on @ch for @method on behalf of this call, its events going
 * to @cq: its deadline is the earlier of this call's and @deadline, and gRPC
 * cancels it when this call ends (client gone or cancelled, deadline, server
 * stopping). The handler unrefs it before returning. NULL on failure. */
grpc_call *rpc_call_child(struct rpc_call *c, grpc_channel *ch, const char *method,
			  grpc_completion_queue *cq, gpr_timespec deadline);
/* Sends @md as the call's initial metadata now (before any message).
 * 0; -EALREADY when initial metadata went already; -EINVAL when gRPC would
 * refuse an entry (grpc_header_key_is_legal and friends); -ECANCELED. */
int rpc_call_send_initial_md(struct rpc_call *c, const grpc_metadata_array *md);
/* rpc_call_send with gRPC's byte buffer. gRPC moves the slices out of @bb
 * (it is empty afterwards); the caller still destroys it. */
int rpc_call_send_buffer(struct rpc_call *c, grpc_byte_buffer *bb);
/* Any call's final answer, with metadata: @initial unless initial metadata
 * went already, the message @bb (NULL: none; emptied as by
 * rpc_call_send_buffer, destroyed by the caller), then @code with
 * @details (NULL: none) and @trailing. NULL metadata: none. Metadata gRPC
 * would refuse is left out (the call is answered anyway).
 * 0, -ECANCELED (the client is gone), -EALREADY (answered already). */
int rpc_call_reply_md(struct rpc_call *c, grpc_byte_buffer *bb, grpc_status_code code,
		      const grpc_slice *details, const grpc_metadata_array *initial,
		      const grpc_metadata_array *trailing);
