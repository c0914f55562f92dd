// SPDX-License-Identifier: Apache-2.0
/* One server call from arrival to destruction: request, receive the message,
 * count it, apply faults (delays go to the delay thread), dispatch, reply.
 * A call's batches each hold a reference; the last one destroys it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/slice.h>

#include "internal.h"
#include "pb_grpc.h"

static void on_new(void *ctx, bool ok);
static void on_recv(void *ctx, bool ok);
static void on_close(void *ctx, bool ok);
static void on_sent(void *ctx, bool ok);

static void call_destroy(struct fk_call *c)
{
	struct fakecri *f = c->f;

	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->recv_bb)
		grpc_byte_buffer_destroy(c->recv_bb);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	if (c->req)
		protobuf_c_message_free_unpacked(c->req, NULL);
	fk_events_stream_free(c->stream);
	free(c);
	atomic_fetch_sub(&f->ncalls, 1);
}

void fk_call_ref(struct fk_call *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void fk_call_unref(struct fk_call *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		call_destroy(c);
}

static void tag_set(struct fk_tag *t, void (*done)(void *, bool), void *ctx)
{
	t->done = done;
	t->ctx = ctx;
}

int fk_call_request(struct fakecri *f)
{
	struct fk_call *c = calloc(1, sizeof(*c));
	grpc_call_error e;

	if (!c)
		return -ENOMEM;
	c->f = f;
	c->method = -1;
	atomic_init(&c->refs, 1);
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	tag_set(&c->t_new, on_new, c);
	tag_set(&c->t_recv, on_recv, c);
	tag_set(&c->t_close, on_close, c);
	tag_set(&c->t_sent, on_sent, c);
	atomic_fetch_add(&f->ncalls, 1);
	e = grpc_server_request_call(f->server, &c->call, &c->details, &c->md, f->cq, f->cq,
				     &c->t_new);
	if (e != GRPC_CALL_OK) {
		fk_call_unref(c);
		return -EIO;
	}
	return 0;
}

/* Starts one batch holding a reference; drops it again if gRPC refuses. */
int fk_call_batch(struct fk_call *c, const grpc_op *ops, size_t n, struct fk_tag *tag)
{
	fk_call_ref(c);
	if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
		fk_call_unref(c);
		return -EIO;
	}
	return 0;
}

int fk_call_finish(struct fk_call *c, grpc_byte_buffer *bb, grpc_status_code code, const char *msg)
{
	grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
	grpc_op ops[3];
	size_t n = 0;
	int err;

	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n++].data.send_status_from_server.status_details = msg ? &details : NULL;
	c->send_bb = bb;
	err = fk_call_batch(c, ops, n, &c->t_sent);
	grpc_slice_unref(details);
	return err;
}

static void on_new(void *ctx, bool ok)
{
	struct fk_call *c = ctx;
	grpc_op close_op = { .op = GRPC_OP_RECV_CLOSE_ON_SERVER };
	grpc_op recv_op = { .op = GRPC_OP_RECV_MESSAGE };

	if (!ok) { /* the server is shutting down */
		fk_call_unref(c);
		return;
	}
	if (!atomic_load(&c->f->stopping))
		fk_call_request(c->f);
	close_op.data.recv_close_on_server.cancelled = &c->cancelled;
	recv_op.data.recv_message.recv_message = &c->recv_bb;
	fk_call_batch(c, &close_op, 1, &c->t_close);
	/* The request's own reference moves to the receive batch. */
	if (grpc_call_start_batch(c->call, &recv_op, 1, &c->t_recv, NULL) != GRPC_CALL_OK)
		fk_call_unref(c);
}

static void proceed(struct fk_call *c)
{
	if (c->fault.code != GRPC_STATUS_OK)
		fk_call_finish(c, NULL, c->fault.code, c->fault.message);
	else if (!fk_methods[c->method].handle)
		fk_events_serve(c);
	else
		fk_reply_unary(c);
}

static void on_delayed(struct fk_delayed *d)
{
	struct fk_call *c = (struct fk_call *)((char *)d - offsetof(struct fk_call, delayed));

	proceed(c);
	fk_call_unref(c);
}

/* Method, counting, decoding and faults; returns false when answered. */
static bool prepare(struct fk_call *c)
{
	const struct fk_method *m;
	const char *subject = NULL;

	c->method = fk_methods_by_path((const char *)GRPC_SLICE_START_PTR(c->details.method),
				       GRPC_SLICE_LENGTH(c->details.method));
	if (c->method < 0) {
		fk_call_finish(c, NULL, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
		return false;
	}
	m = &fk_methods[c->method];
	atomic_fetch_add(&c->f->counts[c->method], 1);
	if (pb_from_byte_buffer(c->recv_bb, m->req_desc, KPLEG_MAX_MSG_SIZE, &c->req) < 0) {
		fk_call_finish(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "request does not decode");
		return false;
	}
	if (m->subject)
		subject = m->subject(c->req);
	fk_faults_take(c->f, c->method, subject, &c->fault);
	return true;
}

static void on_recv(void *ctx, bool ok)
{
	struct fk_call *c = ctx;

	if (ok && prepare(c)) {
		if (c->fault.delay_ms) {
			c->delayed.fire = on_delayed; /* keeps this batch's reference */
			fk_delayq_push(&c->f->delayq, &c->delayed, c->fault.delay_ms);
			return;
		}
		proceed(c);
	}
	fk_call_unref(c);
}

static void on_close(void *ctx, bool ok)
{
	struct fk_call *c = ctx;

	(void)ok;
	pthread_mutex_lock(&c->f->lock);
	c->closed = true;
	if (c->stream)
		fk_events_call_closed(c);
	pthread_mutex_unlock(&c->f->lock);
	fk_call_unref(c);
}

static void on_sent(void *ctx, bool ok)
{
	struct fk_call *c = ctx;

	(void)ok;
	if (c->send_bb) {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
	}
	fk_call_unref(c);
}
