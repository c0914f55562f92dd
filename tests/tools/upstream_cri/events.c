// SPDX-License-Identifier: Apache-2.0
/*
 * upstream-cri: GetContainerEvents, read by a thread of its own.
 *
 * Four batches go out at once on one `next` completion queue: the request
 * (initial metadata, the message, half-close), RECV_INITIAL_METADATA,
 * RECV_STATUS_ON_CLIENT and the first RECV_MESSAGE. The reader thread takes
 * every completion, keeps each event (or a note that the stream ended on its
 * own) in arrival order, and starts the next RECV_MESSAGE until one comes back
 * empty. It exits when nothing is outstanding; cancelling the call gets it
 * there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grpc/support/time.h>
#include <json-c/json.h>

#include "upstream_cri.h"

enum { TAG_SENT = 1, TAG_HDR, TAG_STATUS, TAG_MSG };

enum entry_kind { ENTRY_EVENT, ENTRY_UNDECODABLE, ENTRY_END };

struct entry {
	enum entry_kind kind;
	int64_t recv_ms;                              /* since the stream was opened */
	Runtime__V1__ContainerEventResponse *ev;      /* ENTRY_EVENT */
	size_t bytes;                                 /* ENTRY_UNDECODABLE */
	grpc_status_code code;                        /* ENTRY_END */
	char *details;                                /* ENTRY_END */
};

struct uc_events {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *req, *msg;
	grpc_metadata_array hdr, trl;
	grpc_status_code code;
	grpc_slice details;
	int outstanding; /* reader thread only, after open */
	pthread_t thread;
	bool thread_started;
	struct timespec t0;

	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t cond;
	bool sent, ended, cancelled;
	struct entry *v;
	size_t n, cap;
};

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Called with the lock held. On allocation failure the entry is dropped,
 * which the caller sees as a missing event: loud enough for a test tool. */
static struct entry *push(struct uc_events *s, enum entry_kind kind)
{
	struct entry *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		struct entry *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->recv_ms = ms_since(&s->t0);
	return e;
}

static bool start_recv(struct uc_events *s)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

	s->msg = NULL;
	op.data.recv_message.recv_message = &s->msg;
	if (grpc_call_start_batch(s->call, &op, 1, (void *)TAG_MSG, NULL) != GRPC_CALL_OK)
		return false;
	s->outstanding++;
	return true;
}

static void got_message(struct uc_events *s)
{
	size_t len = grpc_byte_buffer_length(s->msg);
	ProtobufCMessage *m = uc_unpack(s->msg, &runtime__v1__container_event_response__descriptor);
	struct entry *e;

	grpc_byte_buffer_destroy(s->msg);
	s->msg = NULL;
	pthread_mutex_lock(&s->lock);
	e = push(s, m ? ENTRY_EVENT : ENTRY_UNDECODABLE);
	if (e && m)
		e->ev = (Runtime__V1__ContainerEventResponse *)m;
	else if (e)
		e->bytes = len;
	else if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void got_status(struct uc_events *s)
{
	struct entry *e;

	pthread_mutex_lock(&s->lock);
	s->ended = true;
	/* Our own cancel is not news; any other end is. */
	if (!s->cancelled && (e = push(s, ENTRY_END))) {
		e->code = s->code;
		e->details = strndup((const char *)GRPC_SLICE_START_PTR(s->details),
				     GRPC_SLICE_LENGTH(s->details));
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *reader(void *arg)
{
	struct uc_events *s = arg;

	while (s->outstanding > 0) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
							   NULL);

		if (ev.type != GRPC_OP_COMPLETE)
			break;
		s->outstanding--;
		switch ((intptr_t)ev.tag) {
		case TAG_SENT:
			pthread_mutex_lock(&s->lock);
			s->sent = true;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
			break;
		case TAG_MSG:
			if (ev.success && s->msg) {
				got_message(s);
				start_recv(s);
			}
			break;
		case TAG_STATUS:
			got_status(s);
			break;
		default:
			break;
		}
	}
	return NULL;
}

int uc_events_open(struct uc_conn *c, struct uc_events **ret, struct uc_err *e)
{
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	struct uc_events *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	struct timespec until;
	grpc_op ops[4];
	int r;

	if (!s)
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: out of memory");
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->hdr);
	grpc_metadata_array_init(&s->trl);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->req = uc_pack(&req.base);
	/* No deadline: the stream lives until it is cancelled. */
	s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(UC_SERVICE
									 "GetContainerEvents"),
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	*ret = s;
	if (!s->req || !s->call)
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: cannot create the call");

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	if (grpc_call_start_batch(s->call, ops, 3, (void *)TAG_SENT, NULL) != GRPC_CALL_OK)
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: cannot start the call");
	s->outstanding++;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &s->hdr;
	if (grpc_call_start_batch(s->call, ops, 1, (void *)TAG_HDR, NULL) != GRPC_CALL_OK)
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: cannot start the call");
	s->outstanding++;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &s->trl;
	ops[0].data.recv_status_on_client.status = &s->code;
	ops[0].data.recv_status_on_client.status_details = &s->details;
	if (grpc_call_start_batch(s->call, ops, 1, (void *)TAG_STATUS, NULL) != GRPC_CALL_OK)
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: cannot start the call");
	s->outstanding++;
	if (!start_recv(s))
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: cannot start reading");
	r = pthread_create(&s->thread, NULL, reader, s);
	if (r)
		return uc_fail(e, GRPC_STATUS_OK, "GetContainerEvents: pthread_create: %s",
			       strerror(r));
	s->thread_started = true;

	/* The request is out once its batch completes (or the call failed). */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&s->lock);
	while (!s->sent && !s->ended &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
		;
	r = s->sent || s->ended;
	pthread_mutex_unlock(&s->lock);
	if (!r)
		return uc_fail(e, GRPC_STATUS_OK,
			       "GetContainerEvents: the request was not sent within 10 s");
	return 0;
}

bool uc_events_ended(struct uc_events *s, struct uc_err *e)
{
	bool ended;

	pthread_mutex_lock(&s->lock);
	ended = s->ended && !s->cancelled;
	if (ended)
		uc_fail(e, s->code, "GetContainerEvents: stream ended: %s: %.*s",
			uc_code_name(s->code), (int)GRPC_SLICE_LENGTH(s->details),
			(const char *)GRPC_SLICE_START_PTR(s->details));
	pthread_mutex_unlock(&s->lock);
	return ended;
}

static bool has_deleted(struct uc_events *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++) {
		const Runtime__V1__ContainerEventResponse *ev = s->v[i].ev;

		if (ev && ev->container_event_type ==
				  RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT &&
		    !strcmp(ev->container_id, id))
			return true;
	}
	return false;
}

static bool has_about(struct uc_events *s, const char *sandbox_id)
{
	for (size_t i = 0; i < s->n; i++) {
		const Runtime__V1__ContainerEventResponse *ev = s->v[i].ev;

		if (ev && (!strcmp(ev->container_id, sandbox_id) ||
			   (ev->pod_sandbox_status &&
			    !strcmp(ev->pod_sandbox_status->id, sandbox_id))))
			return true;
	}
	return false;
}

/* Waits until @found(s, id) holds or the stream has ended or @timeout_ms passed. */
static bool wait_for(struct uc_events *s, bool (*found)(struct uc_events *, const char *),
		     const char *id, int timeout_ms)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (!(ok = found(s, id)) && !s->ended &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool uc_events_wait_deleted(struct uc_events *s, const char *id, int timeout_ms)
{
	return wait_for(s, has_deleted, id, timeout_ms);
}

bool uc_events_wait_about(struct uc_events *s, const char *sandbox_id, int timeout_ms)
{
	return wait_for(s, has_about, sandbox_id, timeout_ms);
}

void uc_events_stop(struct uc_events *s)
{
	if (!s || !s->call)
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->ended)
		s->cancelled = true;
	pthread_mutex_unlock(&s->lock);
	grpc_call_cancel(s->call, NULL);
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
}

/* ---- JSON ------------------------------------------------------------------- */

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *statuses_json(const Runtime__V1__ContainerEventResponse *ev)
{
	json_object *a = json_object_new_array();
	char buf[32];

	for (size_t i = 0; i < ev->n_containers_statuses; i++) {
		const Runtime__V1__ContainerStatus *cs = ev->containers_statuses[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(cs->id));
		json_object_object_add(o, "name",
				       str_or_null(cs->metadata ? cs->metadata->name : NULL));
		json_object_object_add(o, "state",
				       json_object_new_string(uc_enum_name(
					       &runtime__v1__container_state__descriptor,
					       cs->state, buf, sizeof(buf))));
		json_object_object_add(o, "exit_code", json_object_new_int(cs->exit_code));
		json_object_object_add(o, "reason", json_object_new_string(cs->reason));
		json_object_array_add(a, o);
	}
	return a;
}

static bool is_sandbox(const Runtime__V1__ContainerEventResponse *ev,
		       const char *const *sandbox_ids)
{
	if (ev->pod_sandbox_status && !strcmp(ev->container_id, ev->pod_sandbox_status->id))
		return true;
	for (; sandbox_ids && *sandbox_ids; sandbox_ids++)
		if (!strcmp(ev->container_id, *sandbox_ids))
			return true;
	return false;
}

static json_object *event_json(const Runtime__V1__ContainerEventResponse *ev,
			       const char *const *sandbox_ids)
{
	const Runtime__V1__PodSandboxStatus *ps = ev->pod_sandbox_status;
	json_object *o = json_object_new_object();
	char buf[32];

	json_object_object_add(o, "type",
			       json_object_new_string(uc_enum_name(
				       &runtime__v1__container_event_type__descriptor,
				       ev->container_event_type, buf, sizeof(buf))));
	json_object_object_add(o, "container_id", json_object_new_string(ev->container_id));
	json_object_object_add(o, "is_sandbox", json_object_new_boolean(is_sandbox(ev, sandbox_ids)));
	json_object_object_add(o, "created_at", json_object_new_int64(ev->created_at));
	json_object_object_add(o, "has_sandbox_status", json_object_new_boolean(ps != NULL));
	json_object_object_add(o, "sandbox_id", str_or_null(ps ? ps->id : NULL));
	json_object_object_add(o, "sandbox_state",
			       ps ? json_object_new_string(uc_enum_name(
					    &runtime__v1__pod_sandbox_state__descriptor, ps->state,
					    buf, sizeof(buf)))
				  : NULL);
	json_object_object_add(o, "pod_uid",
			       str_or_null(ps && ps->metadata ? ps->metadata->uid : NULL));
	json_object_object_add(o, "statuses", statuses_json(ev));
	return o;
}

size_t uc_events_write(struct uc_events *s, FILE *out, const char *const *sandbox_ids)
{
	size_t lines = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->v[i];
		json_object *o;

		switch (e->kind) {
		case ENTRY_EVENT:
			o = event_json(e->ev, sandbox_ids);
			break;
		case ENTRY_UNDECODABLE:
			o = json_object_new_object();
			json_object_object_add(o, "type", json_object_new_string("undecodable"));
			json_object_object_add(o, "bytes", json_object_new_int64((int64_t)e->bytes));
			break;
		default:
			o = json_object_new_object();
			json_object_object_add(o, "type", json_object_new_string("stream-end"));
			json_object_object_add(o, "code",
						json_object_new_string(uc_code_name(e->code)));
			json_object_object_add(o, "details", str_or_null(e->details));
			break;
		}
		json_object_object_add(o, "recv_ms", json_object_new_int64(e->recv_ms));
		fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		lines++;
	}
	pthread_mutex_unlock(&s->lock);
	return lines;
}

void uc_events_free(struct uc_events *s)
{
	if (!s)
		return;
	uc_events_stop(s);
	if (s->call)
		grpc_call_unref(s->call);
	if (s->cq) {
		grpc_completion_queue_shutdown(s->cq);
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(s->cq);
	}
	if (s->req)
		grpc_byte_buffer_destroy(s->req);
	if (s->msg)
		grpc_byte_buffer_destroy(s->msg);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->hdr);
	grpc_metadata_array_destroy(&s->trl);
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].ev)
			protobuf_c_message_free_unpacked(&s->v[i].ev->base, NULL);
		free(s->v[i].details);
	}
	free(s->v);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
