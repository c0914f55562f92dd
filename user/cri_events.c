// SPDX-License-Identifier: Apache-2.0
/*
 * GetContainerEvents: the server-streaming call. One batch sends the request
 * and leaves RECV_STATUS_ON_CLIENT outstanding; then one RECV_MESSAGE at a
 * time. A NULL message means the stream ended, was cancelled or hit its
 * deadline, so the final status is always read (REFERENCE.md §4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "cri_internal.h"
#include "pb_grpc.h"
#include "util.h"

enum { TAG_START = 1, TAG_STATUS, TAG_RECV };

struct cri_event_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array md_init, md_trail;
	grpc_status_code code;
	grpc_slice details;
	grpc_byte_buffer *recv;
	grpc_byte_buffer *send;
	int outstanding;      /* batches not yet completed */
	bool recv_pending;    /* a RECV_MESSAGE is in flight */
	bool status_done;
	bool ended;           /* no more messages will come */
	int end_err;          /* what every read returns once ended */
};

static void handle_tag(struct cri_event_stream *s, grpc_event ev)
{
	s->outstanding--;
	switch ((intptr_t)ev.tag) {
	case TAG_STATUS:
		s->status_done = true;
		break;
	case TAG_RECV:
		s->recv_pending = false;
		if (!ev.success || !s->recv)
			s->ended = true;
		break;
	default:
		break;
	}
}

/* Waits for any batch to complete; returns false on timeout. */
static bool wait_one(struct cri_event_stream *s, gpr_timespec deadline)
{
	grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);

	if (ev.type != GRPC_OP_COMPLETE)
		return false;
	handle_tag(s, ev);
	return true;
}

static int start_recv(struct cri_event_stream *s)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

	op.data.recv_message.recv_message = &s->recv;
	s->recv = NULL;
	if (grpc_call_start_batch(s->call, &op, 1, (void *)TAG_RECV, NULL) != GRPC_CALL_OK)
		return -EIO;
	s->recv_pending = true;
	s->outstanding++;
	return 0;
}

int cri_events__open(struct cri_client *c, struct cri_event_stream **ret, struct cri_status *st)
{
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	struct cri_event_stream *s = calloc(1, sizeof(*s));
	grpc_op ops[4];

	if (!s)
		return cri_set_status(st, GRPC_STATUS_INTERNAL, -ENOMEM, "out of memory");
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->md_init);
	grpc_metadata_array_init(&s->md_trail);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->send = pb_to_byte_buffer(&req.base);
	s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(CRI_SERVICE
									 "GetContainerEvents"),
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md_init;
	if (!s->send ||
	    grpc_call_start_batch(s->call, ops, 4, (void *)TAG_START, NULL) != GRPC_CALL_OK)
		goto fail;
	s->outstanding++;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &s->md_trail;
	ops[0].data.recv_status_on_client.status = &s->code;
	ops[0].data.recv_status_on_client.status_details = &s->details;
	if (grpc_call_start_batch(s->call, ops, 1, (void *)TAG_STATUS, NULL) != GRPC_CALL_OK)
		goto fail;
	s->outstanding++;
	*ret = s;
	return cri_set_status(st, GRPC_STATUS_OK, 0, "OK");
fail:
	cri_events__free(s);
	return cri_set_status(st, GRPC_STATUS_INTERNAL, -EIO, "GetContainerEvents: cannot start");
}

/* The stream has ended: wait for the final status and map it. */
static int finish(struct cri_event_stream *s, struct cri_status *st)
{
	while (!s->status_done)
		wait_one(s, gpr_inf_future(GPR_CLOCK_REALTIME));
	if (s->code == GRPC_STATUS_OK)
		s->end_err = cri_set_status(st, GRPC_STATUS_OK, -ENODATA,
					    "GetContainerEvents: stream ended");
	else
		s->end_err = cri_status_from_grpc(st, s->code, s->details);
	return s->end_err;
}

static int decode_event(struct cri_event_stream *s, Runtime__V1__ContainerEventResponse **ret,
			struct cri_status *st)
{
	ProtobufCMessage *m = NULL;
	char why[200];
	int r;

	r = pb_unpack_arena(s->recv, &runtime__v1__container_event_response__descriptor,
				KPLEG_MAX_MSG_SIZE, &m);
	grpc_byte_buffer_destroy(s->recv);
	s->recv = NULL;
	if (r < 0)
		return cri_set_status(st, GRPC_STATUS_OK, r,
				      "GetContainerEvents: event does not decode");
	r = cri_validate_event((Runtime__V1__ContainerEventResponse *)m, why, sizeof(why));
	if (r < 0) {
		cri_msg_free(m);
		return cri_set_status(st, GRPC_STATUS_OK, r, "GetContainerEvents: invalid event: %s",
				      why);
	}
	*ret = (Runtime__V1__ContainerEventResponse *)m;
	return cri_set_status(st, GRPC_STATUS_OK, 0, "OK");
}

int cri_events__read(struct cri_event_stream *s, int timeout_ms,
		     Runtime__V1__ContainerEventResponse **ret, struct cri_status *st)
{
	gpr_timespec deadline = cri_deadline_ms(timeout_ms);

	if (s->end_err)
		return cri_set_status(st, s->code, s->end_err, "GetContainerEvents: stream ended");
	if (!s->ended && !s->recv_pending && start_recv(s) < 0)
		s->ended = true;
	while (s->recv_pending) {
		if (!wait_one(s, deadline))
			return cri_set_status(st, GRPC_STATUS_OK, -EAGAIN, "no event yet");
	}
	if (s->ended)
		return finish(s, st);
	return decode_event(s, ret, st);
}

void cri_events__cancel(struct cri_event_stream *s)
{
	if (s && s->call)
		grpc_call_cancel(s->call, NULL);
}

void cri_events__free(struct cri_event_stream *s)
{
	if (!s)
		return;
	if (s->call) {
		grpc_call_cancel(s->call, NULL);
		while (s->outstanding > 0)
			wait_one(s, gpr_inf_future(GPR_CLOCK_REALTIME));
		grpc_call_unref(s->call);
	}
	grpc_completion_queue_shutdown(s->cq);
	while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(s->cq);
	if (s->send)
		grpc_byte_buffer_destroy(s->send);
	if (s->recv)
		grpc_byte_buffer_destroy(s->recv);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->md_init);
	grpc_metadata_array_destroy(&s->md_trail);
	free(s);
}

const char *cri_events_support_str(enum cri_events_support s)
{
	switch (s) {
	case CRI_EVENTS_SUPPORTED:	 return "supported";
	case CRI_EVENTS_UNIMPLEMENTED:	 return "not supported (UNIMPLEMENTED)";
	case CRI_EVENTS_EMPTY:		 return "not supported (stream ended at once with no events)";
	}
	return "unknown";
}

int cri_events_probe(struct cri_client *c, int timeout_ms, enum cri_events_support *ret,
		     struct cri_status *st)
{
	Runtime__V1__ContainerEventResponse *ev = NULL;
	struct cri_event_stream *s = NULL;
	int r;

	r = cri_events__open(c, &s, st);
	if (r < 0)
		return r;
	r = cri_events__read(s, timeout_ms, &ev, st);
	cri_msg_free(ev);
	cri_events__free(s);
	switch (r) {
	case 0:
	case -EAGAIN: /* open and quiet: a live stream */
	case -EPROTO: /* it sent something */
	case -EBADMSG:
		*ret = CRI_EVENTS_SUPPORTED;
		return cri_set_status(st, GRPC_STATUS_OK, 0, "OK");
	case -EOPNOTSUPP:
		*ret = CRI_EVENTS_UNIMPLEMENTED;
		return 0;
	case -ENODATA:
		*ret = CRI_EVENTS_EMPTY;
		return 0;
	default:
		return r;
	}
}
