// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI proxy (see cri_proxy.h). Each call runs on an rpc_server handler
 * thread. Its call to the runtime is a child of the client's call
 * (rpc_call_child), so gRPC itself cancels the runtime's call when the
 * client's ends, whatever the handler is waiting for; the deadline is the
 * client's. Unary calls: one batch of six ops to the runtime, then one batch
 * back (initial metadata, message, status, trailing metadata). Server
 * streams: the runtime's initial metadata, each message and the status are
 * passed on as they arrive. Nothing is decoded: the bytes go on in gRPC's
 * own slices.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "cri.h"
#include "cri_proxy.h"
#include "log.h"
#include "util.h"

#define MAX_MESSAGE (16 << 20) /* like the kubelet's */
#define DEFAULT_MAX_CALLS 256
#define METHOD_MAX 255	       /* rpc_server keeps 255 characters of a path */

struct cri_proxy {
	struct cri_proxy_opts o;
	char target[128];
	grpc_channel *ch;
	struct rpc_server *srv;
	bool grpc_inited;
	atomic_uint_fast64_t forwarded, streams, events_served, rejected;
};

/* ---- metadata ---------------------------------------------------------------- */

/* Keys gRPC core sets from its own state (or HTTP/2 forbids): forwarding
 * them would duplicate or contradict what the proxy's own calls carry. */
static const char *const reserved_keys[] = {
	"content-type", "te", "user-agent", "host", "content-encoding", "accept-encoding",
	"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
};

static bool md_forwardable(const grpc_metadata *m)
{
	const char *k = (const char *)GRPC_SLICE_START_PTR(m->key);
	size_t n = GRPC_SLICE_LENGTH(m->key);

	if (!n || k[0] == ':' || (n >= 5 && !memcmp(k, "grpc-", 5)))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(reserved_keys); i++)
		if (n == strlen(reserved_keys[i]) && !memcmp(k, reserved_keys[i], n))
			return false;
	/* What gRPC would refuse (and fail the whole batch for). */
	return grpc_header_key_is_legal(m->key) &&
	       (grpc_is_binary_header(m->key) || grpc_header_nonbin_value_is_legal(m->value));
}

/* @out: the entries of @in worth forwarding, sharing @in's slices; free
 * @out->metadata only. */
static int md_filter(const grpc_metadata_array *in, grpc_metadata_array *out)
{
	memset(out, 0, sizeof(*out));
	if (!in->count)
		return 0;
	out->metadata = calloc(in->count, sizeof(*out->metadata));
	if (!out->metadata)
		return -ENOMEM;
	out->capacity = in->count;
	for (size_t i = 0; i < in->count; i++)
		if (md_forwardable(&in->metadata[i]))
			out->metadata[out->count++] = in->metadata[i];
	return 0;
}

/* ---- one forwarded call -------------------------------------------------------- */

enum { T_UNARY = 1, T_SEND, T_INIT, T_MSG, T_STATUS };

struct up {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array send_md;	     /* the client's, filtered */
	grpc_metadata_array init_md, trail_md; /* the runtime's */
	grpc_byte_buffer *req, *msg;
	grpc_status_code code;
	grpc_slice details;
};

/* The client's deadline, on gRPC's monotonic clock (which is not
 * CLOCK_MONOTONIC: gRPC adds an offset). */
static gpr_timespec client_deadline(const struct rpc_call *c)
{
	uint64_t d = rpc_call_deadline_ns(c), now = now_mono_ns();

	if (d == UINT64_MAX)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_nanos(d > now ? (int64_t)(d - now) : 0, GPR_TIMESPAN));
}

static int up_open(struct cri_proxy *p, struct rpc_call *c, struct up *u)
{
	memset(u, 0, sizeof(*u));
	grpc_metadata_array_init(&u->init_md);
	grpc_metadata_array_init(&u->trail_md);
	u->details = grpc_empty_slice();
	u->code = GRPC_STATUS_UNKNOWN;
	if (md_filter(rpc_call_metadata(c), &u->send_md) < 0)
		return -ENOMEM;
	u->req = rpc_call_request_buffer(c);
	u->cq = grpc_completion_queue_create_for_next(NULL);
	if (!u->req || !u->cq)
		return -ENOMEM;
	u->call = rpc_call_child(c, p->ch, rpc_call_method(c), u->cq, client_deadline(c));
	return u->call ? 0 : -EIO;
}

static void up_close(struct up *u)
{
	if (u->call)
		grpc_call_unref(u->call);
	if (u->cq) {
		grpc_completion_queue_shutdown(u->cq);
		while (grpc_completion_queue_next(u->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(u->cq);
	}
	if (u->req)
		grpc_byte_buffer_destroy(u->req);
	if (u->msg)
		grpc_byte_buffer_destroy(u->msg);
	free(u->send_md.metadata);
	grpc_metadata_array_destroy(&u->init_md);
	grpc_metadata_array_destroy(&u->trail_md);
	grpc_slice_unref(u->details);
}

static void set_send_ops(struct up *u, grpc_op *ops)
{
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = u->send_md.count;
	ops[0].data.send_initial_metadata.metadata = u->send_md.metadata;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = u->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
}

static void set_status_op(struct up *u, grpc_op *op)
{
	op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op->data.recv_status_on_client.trailing_metadata = &u->trail_md;
	op->data.recv_status_on_client.status = &u->code;
	op->data.recv_status_on_client.status_details = &u->details;
}

/* The runtime's status and trailing metadata (and, unary, message and
 * initial metadata) back to the client. */
static void reply_back(struct rpc_call *c, struct up *u, bool with_initial)
{
	grpc_metadata_array init, trail;

	if (md_filter(&u->init_md, &init) < 0 || md_filter(&u->trail_md, &trail) < 0) {
		free(init.metadata);
		rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "kpleg cri-proxy: out of memory");
		return;
	}
	rpc_call_reply_md(c, u->msg, u->code, &u->details, with_initial ? &init : NULL, &trail);
	free(init.metadata);
	free(trail.metadata);
}

/* One batch of six ops, like a unary client; ends when the runtime answers,
 * the deadline passes or the client's call ends (which cancels this one). */
static void forward_unary(struct rpc_call *c, struct up *u)
{
	grpc_op ops[6];
	grpc_event ev;

	memset(ops, 0, sizeof(ops));
	set_send_ops(u, ops);
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &u->msg;
	set_status_op(u, &ops[5]);
	if (grpc_call_start_batch(u->call, ops, ARRAY_SIZE(ops), (void *)T_UNARY, NULL) !=
	    GRPC_CALL_OK) {
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg cri-proxy: cannot start the call");
		return;
	}
	ev = grpc_completion_queue_next(u->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
		rpc_call_fail(c, GRPC_STATUS_INTERNAL,
			      "kpleg cri-proxy: the call to the runtime failed");
		return;
	}
	reply_back(c, u, true);
}

struct stream {
	int outstanding;	/* batches not completed yet */
	bool init_done, init_sent, msg_pending, ended, gone;
	grpc_byte_buffer *ready; /* received, not passed on yet */
};

static int start_one(struct up *u, struct stream *s, grpc_op *op, size_t n, intptr_t tag)
{
	if (grpc_call_start_batch(u->call, op, n, (void *)tag, NULL) != GRPC_CALL_OK)
		return -EIO;
	s->outstanding++;
	return 0;
}

static int start_recv(struct up *u, struct stream *s)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

	op.data.recv_message.recv_message = &u->msg;
	u->msg = NULL;
	if (start_one(u, s, &op, 1, T_MSG) < 0)
		return -EIO;
	s->msg_pending = true;
	return 0;
}

/* The client went away: the runtime's call goes too, and the rest drains. */
static void client_gone(struct up *u, struct stream *s)
{
	if (s->gone)
		return;
	s->gone = true;
	grpc_call_cancel(u->call, NULL);
}

/* Passes on what can go now: the initial metadata once the runtime sent it,
 * then a received message (and asks for the next). */
static void stream_flush(struct rpc_call *c, struct up *u, struct stream *s)
{
	if (s->init_done && !s->init_sent && !s->gone) {
		grpc_metadata_array init;

		s->init_sent = true;
		if (md_filter(&u->init_md, &init) < 0 ||
		    rpc_call_send_initial_md(c, &init) == -ECANCELED)
			client_gone(u, s);
		free(init.metadata);
	}
	if (!s->ready || !s->init_sent)
		return;
	if (!s->gone && rpc_call_send_buffer(c, s->ready) < 0)
		client_gone(u, s);
	grpc_byte_buffer_destroy(s->ready);
	s->ready = NULL;
	if (!s->gone && !s->ended && start_recv(u, s) < 0)
		client_gone(u, s); /* cannot read on: cancel rather than hang */
}

static void forward_stream(struct rpc_call *c, struct up *u)
{
	struct stream s = { 0 };
	grpc_op ops[3], init = { .op = GRPC_OP_RECV_INITIAL_METADATA }, status;

	memset(ops, 0, sizeof(ops));
	memset(&status, 0, sizeof(status));
	set_send_ops(u, ops);
	init.data.recv_initial_metadata.recv_initial_metadata = &u->init_md;
	set_status_op(u, &status);
	if (start_one(u, &s, ops, 3, T_SEND) < 0 || start_one(u, &s, &init, 1, T_INIT) < 0 ||
	    start_one(u, &s, &status, 1, T_STATUS) < 0 || start_recv(u, &s) < 0) {
		grpc_call_cancel(u->call, NULL);
		s.gone = true; /* nothing to tell the client but this: */
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg cri-proxy: cannot start the call");
	}
	while (s.outstanding) {
		grpc_event ev =
			grpc_completion_queue_next(u->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

		if (ev.type != GRPC_OP_COMPLETE)
			break;
		s.outstanding--;
		switch ((intptr_t)ev.tag) {
		case T_INIT:
			s.init_done = true;
			break;
		case T_MSG:
			s.msg_pending = false;
			if (ev.success && u->msg) {
				s.ready = u->msg;
			} else {
				if (u->msg)
					grpc_byte_buffer_destroy(u->msg);
				s.ended = true;
			}
			u->msg = NULL;
			break;
		default:
			break;
		}
		stream_flush(c, u, &s);
	}
	if (s.ready)
		grpc_byte_buffer_destroy(s.ready);
	if (!s.gone)
		reply_back(c, u, !s.init_sent);
}

/* ---- handlers ------------------------------------------------------------------ */

static bool is_cri_method(const char *m)
{
	size_t n = strlen(m);
	const char *name;

	if (n >= METHOD_MAX) /* possibly cut short by rpc_server */
		return false;
	if (!strncmp(m, CRI_PROXY_RUNTIME_SERVICE, strlen(CRI_PROXY_RUNTIME_SERVICE)))
		name = m + strlen(CRI_PROXY_RUNTIME_SERVICE);
	else if (!strncmp(m, CRI_PROXY_IMAGE_SERVICE, strlen(CRI_PROXY_IMAGE_SERVICE)))
		name = m + strlen(CRI_PROXY_IMAGE_SERVICE);
	else
		return false;
	return *name && !strchr(name, '/');
}

/* runtime.v1's one server-streaming method, and the Stream* list methods
 * newer cri-api versions add. Any other method is forwarded as unary: one
 * reply message, then the status. */
static bool is_stream_method(const char *m)
{
	static const char rs[] = CRI_PROXY_RUNTIME_SERVICE "Stream";
	static const char is[] = CRI_PROXY_IMAGE_SERVICE "Stream";

	return !strcmp(m, CRI_PROXY_EVENTS_METHOD) || !strncmp(m, rs, sizeof(rs) - 1) ||
	       !strncmp(m, is, sizeof(is) - 1);
}

static void on_call(struct rpc_call *c, void *ctx)
{
	struct cri_proxy *p = ctx;
	const char *m = rpc_call_method(c);
	bool stream = is_stream_method(m);
	uint64_t t0 = now_mono_ns();
	struct up u;
	int r;

	if (!is_cri_method(m)) {
		atomic_fetch_add(&p->rejected, 1);
		rpc_call_fail(c, GRPC_STATUS_UNIMPLEMENTED,
			      "kpleg cri-proxy: %s is not a method of runtime.v1.RuntimeService "
			      "or runtime.v1.ImageService", m);
		return;
	}
	atomic_fetch_add(&p->forwarded, 1);
	if (stream)
		atomic_fetch_add(&p->streams, 1);
	r = up_open(p, c, &u);
	if (r < 0)
		rpc_call_fail(c,
			      r == -ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL,
			      "kpleg cri-proxy: cannot call the runtime: %s", strerror(-r));
	else if (stream)
		forward_stream(c, &u);
	else
		forward_unary(c, &u);
	if (r == 0 && !stream && u.code == GRPC_STATUS_OK && p->o.on_forwarded) {
		size_t n;
		const void *req = rpc_call_request(c, &n);

		p->o.on_forwarded(m, req, n, p->o.hook_ctx);
	}
	log_v(5, "\"CRI proxy call\" method=\"%s\" code=%d us=%llu", m, (int)u.code,
	      (unsigned long long)((now_mono_ns() - t0) / 1000));
	up_close(&u);
}

static void on_events(struct rpc_call *c, void *ctx)
{
	struct cri_proxy *p = ctx;

	atomic_fetch_add(&p->events_served, 1);
	p->o.events_handler(c, p->o.events_ctx);
}

/* ---- life ------------------------------------------------------------------------ */

static grpc_channel *channel_create(const char *target)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = MAX_MESSAGE },
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = MAX_MESSAGE },
		/* A restarted runtime is reached again within a second. */
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		  .value.integer = 1000 },
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		  .value.integer = 100 },
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
		  .value.integer = 100 },
	};
	grpc_channel_args ca = { .num_args = ARRAY_SIZE(args), .args = args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, &ca);

	grpc_channel_credentials_release(creds);
	return ch;
}

int cri_proxy__start(const struct cri_proxy_opts *o, struct cri_proxy **ret)
{
	static const char scheme[] = "unix://";
	/* rpc_server keeps a pointer to the method table. */
	static const struct rpc_method events_method[] = {
		{ CRI_PROXY_EVENTS_METHOD, on_events },
	};
	struct rpc_server_opts so = { 0 };
	struct cri_proxy *p;
	int r;

	if (!o || !o->socket_path || !*o->socket_path || !o->upstream || !ret)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *o;
	r = cri_endpoint_normalize(o->upstream, p->target, sizeof(p->target));
	/* Serving on the runtime's own path would forward every call to itself. */
	if (r == 0 && !strcmp(p->target + strlen(scheme), o->socket_path))
		r = -EINVAL;
	if (r < 0)
		goto fail;
	grpc_init();
	p->grpc_inited = true;
	p->ch = channel_create(p->target);
	if (!p->ch) {
		r = -EIO;
		goto fail;
	}
	so.path = o->socket_path;
	so.allow_uid = o->allow_uid;
	so.allow_gid = o->allow_gid;
	so.max_calls = o->max_calls ? o->max_calls : DEFAULT_MAX_CALLS;
	so.max_message = MAX_MESSAGE;
	so.methods = o->events_handler ? events_method : NULL;
	so.n_methods = o->events_handler ? ARRAY_SIZE(events_method) : 0;
	so.fallback = on_call;
	so.ctx = p;
	r = rpc_server__start(&so, &p->srv);
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	cri_proxy__free(p);
	return r;
}

void cri_proxy__free(struct cri_proxy *p)
{
	if (!p)
		return;
	/* First the server: it cancels every call, which cancels the runtime's. */
	rpc_server__free(p->srv);
	if (p->ch)
		grpc_channel_destroy(p->ch);
	if (p->grpc_inited)
		grpc_shutdown();
	free(p);
}

void cri_proxy__stats(struct cri_proxy *p, struct cri_proxy_stats *ret)
{
	ret->forwarded = atomic_load(&p->forwarded);
	ret->streams = atomic_load(&p->streams);
	ret->events_served = atomic_load(&p->events_served);
	ret->rejected = atomic_load(&p->rejected);
	rpc_server__stats(p->srv, &ret->server);
}
