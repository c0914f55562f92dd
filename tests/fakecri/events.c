// SPDX-License-Identifier: Apache-2.0
/* GetContainerEvents: the three runtime behaviours, subscribers with bounded
 * queues, and state-change events. Everything here runs under f->lock except
 * the send completion, which takes it. A stream is linked in f->subs only
 * while its call is open (the close op holds the call). One send is in flight
 * per stream at a time. */
#include <errno.h>
#include <stdlib.h>
#include <grpc/byte_buffer.h>
#include <grpc/slice.h>

#include "internal.h"

struct fk_stream {
	TAILQ_ENTRY(fk_stream) link;
	struct fk_call *c;
	bool linked, busy, closing, done, dead;
	grpc_status_code close_code;
	grpc_byte_buffer *inflight;
	grpc_byte_buffer **q;
	unsigned head, len, cap;
	struct fk_tag t_send;
};

void fk_events_init(struct fakecri *f, unsigned queue_len)
{
	TAILQ_INIT(&f->subs);
	f->queue_len = queue_len ? queue_len : 1000;
}

static void stream_drop_queue(struct fk_stream *s)
{
	for (; s->len; s->len--, s->head = (s->head + 1) % s->cap)
		grpc_byte_buffer_destroy(s->q[s->head]);
}

void fk_events_stream_free(struct fk_stream *s)
{
	if (!s)
		return;
	stream_drop_queue(s);
	if (s->inflight)
		grpc_byte_buffer_destroy(s->inflight);
	free(s->q);
	free(s);
}

static void stream_unlink(struct fakecri *f, struct fk_stream *s)
{
	if (!s->linked)
		return;
	TAILQ_REMOVE(&f->subs, s, link);
	s->linked = false;
	f->nsubs--;
}

/* Starts the next send, if any and none is in flight. */
static void stream_pump(struct fk_stream *s)
{
	grpc_op op = { 0 };

	if (s->busy || s->dead || s->done)
		return;
	if (s->closing) {
		op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		op.data.send_status_from_server.status = s->close_code;
		s->done = true;
	} else if (s->len) {
		s->inflight = s->q[s->head];
		s->head = (s->head + 1) % s->cap;
		s->len--;
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = s->inflight;
	} else {
		return;
	}
	s->busy = fk_call_batch(s->c, &op, 1, &s->t_send) == 0;
	if (!s->busy)
		s->dead = true;
}

static void on_send(void *ctx, bool ok)
{
	struct fk_stream *s = ctx;
	struct fk_call *c = s->c;
	struct fakecri *f = c->f;

	pthread_mutex_lock(&f->lock);
	if (s->inflight) {
		grpc_byte_buffer_destroy(s->inflight);
		s->inflight = NULL;
	}
	s->busy = false;
	if (!ok) {
		s->dead = true;
		stream_unlink(f, s);
		stream_drop_queue(s);
	}
	stream_pump(s);
	pthread_mutex_unlock(&f->lock);
	fk_call_unref(c);
}

static int stream_open(struct fk_call *c)
{
	struct fakecri *f = c->f;
	grpc_op op = { .op = GRPC_OP_SEND_INITIAL_METADATA };
	struct fk_stream *s = calloc(1, sizeof(*s));

	if (!s || !(s->q = calloc(f->queue_len, sizeof(*s->q)))) {
		free(s);
		return -ENOMEM;
	}
	s->c = c;
	s->cap = f->queue_len;
	s->t_send.done = on_send;
	s->t_send.ctx = s;
	pthread_mutex_lock(&f->lock);
	c->stream = s;
	if (!c->closed && !atomic_load(&f->stopping)) {
		TAILQ_INSERT_TAIL(&f->subs, s, link);
		s->linked = true;
		f->nsubs++;
		/* Initial metadata now, so clients waiting for it do not hang. */
		s->busy = fk_call_batch(c, &op, 1, &s->t_send) == 0;
		if (!s->busy)
			stream_unlink(f, s);
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

void fk_events_serve(struct fk_call *c)
{
	switch (atomic_load(&c->f->events_mode)) {
	case FAKECRI_EVENTS_UNIMPLEMENTED:
		fk_call_finish(c, NULL, GRPC_STATUS_UNIMPLEMENTED,
			       "GetContainerEvents is not implemented");
		return;
	case FAKECRI_EVENTS_EMPTY_OK:
		fk_call_finish(c, NULL, GRPC_STATUS_OK, NULL);
		return;
	default:
		if (stream_open(c) < 0)
			fk_call_finish(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	}
}

void fk_events_call_closed(struct fk_call *c)
{
	struct fk_stream *s = c->stream;

	s->dead = true;
	stream_unlink(c->f, s);
	stream_drop_queue(s);
}

/* Packs @ev once and queues it for every subscriber (dropped when full). */
static int broadcast(struct fakecri *f, const ProtobufCMessage *ev)
{
	size_t len = protobuf_c_message_get_packed_size(ev);
	grpc_slice slice = grpc_slice_malloc(len);
	struct fk_stream *s;
	int err = 0;

	protobuf_c_message_pack(ev, GRPC_SLICE_START_PTR(slice));
	TAILQ_FOREACH(s, &f->subs, link) {
		if (s->len == s->cap) {
			f->dropped++;
			continue;
		}
		s->q[(s->head + s->len) % s->cap] = grpc_raw_byte_buffer_create(&slice, 1);
		if (!s->q[(s->head + s->len) % s->cap]) {
			err = -ENOMEM;
			continue;
		}
		s->len++;
		stream_pump(s);
	}
	grpc_slice_unref(slice);
	return err;
}

/* containerd 1.7's shape: the sandbox status (absent once the sandbox is
 * deleted) and the status of every container still in the pod. */
static void emit(struct fakecri *f, const char *id, struct fk_sandbox *sb, bool sb_gone,
		 Runtime__V1__ContainerEventType type)
{
	struct arena a = ARENA_INIT;
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	struct fk_container *c;
	size_t n = 0;

	ev.container_id = (char *)id;
	ev.container_event_type = type;
	ev.created_at = fk_now(f);
	if (!sb_gone && !(ev.pod_sandbox_status = fk_cv_sandbox_status(&a, sb)))
		goto cleanup;
	TAILQ_FOREACH(c, &sb->ctrs, sb_link)
		n++;
	ev.containers_statuses = n ? fk_arena_alloc(&a, n * sizeof(*ev.containers_statuses)) : NULL;
	if (n && !ev.containers_statuses)
		goto cleanup;
	TAILQ_FOREACH(c, &sb->ctrs, sb_link) {
		ev.containers_statuses[ev.n_containers_statuses] = fk_cv_container_status(&a, c);
		if (!ev.containers_statuses[ev.n_containers_statuses++])
			goto cleanup;
	}
	broadcast(f, &ev.base);
cleanup:
	fk_arena_free(&a);
}

void fk_events_sandbox(struct fakecri *f, struct fk_sandbox *sb,
		       Runtime__V1__ContainerEventType type)
{
	if (f->nsubs && !f->quiet)
		emit(f, sb->id, sb, type == RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT,
		     type);
}

void fk_events_container(struct fakecri *f, struct fk_container *c,
			 Runtime__V1__ContainerEventType type)
{
	if (f->nsubs && !f->quiet)
		emit(f, c->id, c->sb, false, type);
}

int fakecri__set_events_mode(struct fakecri *f, enum fakecri_events_mode mode)
{
	if ((unsigned)mode > FAKECRI_EVENTS_EMPTY_OK)
		return -EINVAL;
	atomic_store(&f->events_mode, mode);
	return 0;
}

int fakecri__break_streams(struct fakecri *f, grpc_status_code code)
{
	struct fk_stream *s;
	int n = 0;

	pthread_mutex_lock(&f->lock);
	while ((s = TAILQ_FIRST(&f->subs))) {
		stream_unlink(f, s);
		stream_drop_queue(s);
		s->closing = true;
		s->close_code = code;
		stream_pump(s);
		n++;
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fakecri__emit_event(struct fakecri *f, const Runtime__V1__ContainerEventResponse *ev)
{
	int err = 0;

	if (!ev)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->nsubs)
		err = broadcast(f, &ev->base);
	pthread_mutex_unlock(&f->lock);
	return err;
}

unsigned fakecri__subscribers(struct fakecri *f)
{
	unsigned n;

	pthread_mutex_lock(&f->lock);
	n = f->nsubs;
	pthread_mutex_unlock(&f->lock);
	return n;
}

uint64_t fakecri__dropped_events(struct fakecri *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->lock);
	n = f->dropped;
	pthread_mutex_unlock(&f->lock);
	return n;
}
