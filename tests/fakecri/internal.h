/* SPDX-License-Identifier: Apache-2.0 */
/* fakecri internals shared by its files. Threads: one completion-queue thread
 * (fakecri.c; calls in call.c) answers every call; one delay thread (delay.c)
 * answers the calls a fault delays; test threads call the scripting API.
 * f->lock guards the store and the event subscribers; faults have their own
 * lock. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <sys/queue.h>

#include "fakecri.h"
#include "store.h"

enum {
	FK_M_VERSION,
	FK_M_RUN_POD_SANDBOX,
	FK_M_STOP_POD_SANDBOX,
	FK_M_REMOVE_POD_SANDBOX,
	FK_M_POD_SANDBOX_STATUS,
	FK_M_LIST_POD_SANDBOX,
	FK_M_CREATE_CONTAINER,
	FK_M_START_CONTAINER,
	FK_M_STOP_CONTAINER,
	FK_M_REMOVE_CONTAINER,
	FK_M_LIST_CONTAINERS,
	FK_M_CONTAINER_STATUS,
	FK_M_STATUS,
	FK_M_GET_CONTAINER_EVENTS,
	FK_NMETHODS,
};

/* Completion-queue tag: every event's tag points at one of these. */
struct fk_tag {
	void (*done)(void *ctx, bool ok);
	void *ctx;
};

/* What a fault asks of one call (faults.c). */
struct fk_applied {
	unsigned delay_ms;
	grpc_status_code code;
	enum fakecri_reply reply;
	char message[256];
};

/* A call parked by the delay thread (delay.c). */
struct fk_delayed {
	struct fk_delayed *next;
	uint64_t due_ns; /* CLOCK_MONOTONIC */
	void (*fire)(struct fk_delayed *d);
};

struct fk_delayq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool stop, started;
	struct fk_delayed *head; /* sorted by due_ns */
};

struct fk_stream;
struct fk_flood;

/* One server call. Each batch in flight holds a reference. */
struct fk_call {
	struct fakecri *f;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *recv_bb;
	grpc_byte_buffer *send_bb; /* owned until the reply batch completes */
	int cancelled;
	bool closed; /* RECV_CLOSE_ON_SERVER completed; under f->lock */
	atomic_int refs;
	int method; /* FK_M_*, -1 when unknown */
	ProtobufCMessage *req;
	struct fk_applied fault;
	struct fk_delayed delayed;
	struct fk_stream *stream; /* GetContainerEvents only; under f->lock */
	struct fk_tag t_new, t_recv, t_close, t_sent;
};

struct fk_fault {
	bool active;
	struct fakecri_fault f; /* message and match_id owned */
};

struct fakecri {
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t cq_thread;
	bool serving;    /* grpc_server_start() done */
	bool cq_started;
	bool server_down; /* cq thread only */
	bool cq_down;     /* cq thread only */
	struct fk_tag shutdown_tag;
	char *socket_path, *endpoint;
	atomic_bool stopping;
	atomic_bool all_cancelled; /* grpc_server_cancel_all_calls() returned */
	atomic_int ncalls;

	pthread_mutex_t lock;
	struct store st;
	TAILQ_HEAD(, fk_stream) subs;
	unsigned nsubs, queue_len;
	uint64_t dropped;
	bool quiet; /* fakecri__populate(): no events */
	atomic_int events_mode;
	_Atomic int64_t clock_ns;

	pthread_mutex_t faults_lock;
	struct fk_fault faults[FK_NMETHODS];
	struct fk_delayq delayq;
	atomic_long counts[FK_NMETHODS];

	struct fk_flood *flood;		/* flood.c; the scripting thread's */
	uint64_t flood_changes_total;	/* of the floods already stopped */

	char *cgroup_root;	   /* fakecri_opts.cgroup_root, NULL = none */
	unsigned long cg_errors; /* under lock */
};

/* call.c */
/* Queues one grpc_server_request_call for the next incoming call. */
int fk_call_request(struct fakecri *f);
void fk_call_ref(struct fk_call *c);
void fk_call_unref(struct fk_call *c);
/* Starts one batch that holds a reference until @tag completes. 0 or -EIO. */
int fk_call_batch(struct fk_call *c, const grpc_op *ops, size_t n, struct fk_tag *tag);
/* Sends initial metadata, @bb (may be NULL; consumed) and status @code with
 * @msg (NULL: none) in one batch. 0 or -EIO. */
int fk_call_finish(struct fk_call *c, grpc_byte_buffer *bb, grpc_status_code code, const char *msg);

/* methods.c */
struct fk_ctx {
	struct fakecri *f;
	const void *req;
	struct arena *a;
	ProtobufCMessage *resp; /* set by the handler when it returns OK */
	char err[160];
};

struct fk_method {
	const char *name;
	const ProtobufCMessageDescriptor *req_desc;
	grpc_status_code (*handle)(struct fk_ctx *x); /* NULL: streaming */
	const char *(*subject)(const void *req);       /* id a fault may match */
};

extern const struct fk_method fk_methods[FK_NMETHODS];
/* Index of @name (bare, "ListContainers") or -1. */
int fk_methods_by_name(const char *name);
/* Index of a method path ("/runtime.v1.RuntimeService/ListContainers") or -1. */
int fk_methods_by_path(const char *path, size_t len);
grpc_status_code fk_error(struct fk_ctx *x, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* reply.c: runs the unary handler of @c under f->lock and answers it. */
void fk_reply_unary(struct fk_call *c);

/* faults.c */
void fk_faults_init(struct fakecri *f);
void fk_faults_fini(struct fakecri *f);
/* Consumes one use of the fault matching (@method, @subject) into @ret.
 * Returns false (ret cleared) when none applies. */
bool fk_faults_take(struct fakecri *f, int method, const char *subject, struct fk_applied *ret);

/* delay.c: init before any push; stop (fires what is pending, joins) then
 * fini once nothing can push any more. */
void fk_delayq_init(struct fk_delayq *q);
int fk_delayq_start(struct fk_delayq *q);
void fk_delayq_fini(struct fk_delayq *q);
void fk_delayq_push(struct fk_delayq *q, struct fk_delayed *d, unsigned delay_ms);
void fk_delayq_stop(struct fk_delayq *q);

/* cgroups.c: real cgroup directories when f->cgroup_root is set; f->lock held. */
void fk_cgroups_sandbox_up(struct fakecri *f, struct fk_sandbox *sb);
void fk_cgroups_sandbox_down(struct fakecri *f, struct fk_sandbox *sb);
void fk_cgroups_container_up(struct fakecri *f, struct fk_container *c);
void fk_cgroups_container_down(struct fakecri *f, struct fk_container *c);
void fk_cgroups_fini(struct fakecri *f);

/* events.c */
void fk_events_init(struct fakecri *f, unsigned queue_len);
/* Answers a GetContainerEvents call according to the mode. */
void fk_events_serve(struct fk_call *c);
/* The call of @c is over (RECV_CLOSE_ON_SERVER completed); f->lock held. */
void fk_events_call_closed(struct fk_call *c);
void fk_events_stream_free(struct fk_stream *s);
/* State-change events, called by store.c under f->lock. */
void fk_events_sandbox(struct fakecri *f, struct fk_sandbox *sb,
		       Runtime__V1__ContainerEventType type);
void fk_events_container(struct fakecri *f, struct fk_container *c,
			 Runtime__V1__ContainerEventType type);
