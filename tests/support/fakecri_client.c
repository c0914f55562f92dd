// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include "fakecri.h"
#include "pb_grpc.h"
#include "util.h"
#include "fakecri_client.h"

/* ---- a tiny client: unary calls and one event stream ---- */


void reply_clear(struct reply *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
	memset(r, 0, sizeof(*r));
}

gpr_timespec deadline_ms(int ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

void cq_drain_destroy(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

grpc_channel *channel_open(const char *endpoint)
{
	grpc_arg args[1] = { { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			       .value.integer = KPLEG_MAX_MSG_SIZE } };
	grpc_channel_args ca = { .num_args = 1, .args = args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(endpoint, creds, &ca);

	grpc_channel_credentials_release(creds);
	return ch;
}

grpc_call *call_new(grpc_channel *ch, grpc_completion_queue *cq, const char *method,
			   int timeout_ms)
{
	char path[96];
	grpc_slice s;
	grpc_call *call;

	snprintf(path, sizeof(path), "/runtime.v1.RuntimeService/%s", method);
	s = grpc_slice_from_copied_string(path);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, s, NULL,
					deadline_ms(timeout_ms), NULL);
	grpc_slice_unref(s);
	return call;
}

/* Waits for @tag on @cq; other tags must not be outstanding. */
bool cq_wait(grpc_completion_queue *cq, void *tag, int timeout_ms)
{
	grpc_event ev = grpc_completion_queue_next(cq, deadline_ms(timeout_ms), NULL);

	return ev.type == GRPC_OP_COMPLETE && ev.tag == tag && ev.success;
}

/* One unary call. @resp_desc may be NULL (do not decode). */
void unary(grpc_channel *ch, const char *method, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *resp_desc, struct reply *r)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	grpc_call *call = call_new(ch, cq, method, CALL_TIMEOUT_MS);
	grpc_byte_buffer *send = pb_to_byte_buffer(req), *recv = NULL;
	grpc_metadata_array md_init, md_trail;
	grpc_slice details;
	grpc_op ops[6];

	memset(r, 0, sizeof(*r));
	memset(ops, 0, sizeof(ops));
	grpc_metadata_array_init(&md_init);
	grpc_metadata_array_init(&md_trail);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_init;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &md_trail;
	ops[5].data.recv_status_on_client.status = &r->code;
	ops[5].data.recv_status_on_client.status_details = &details;
	assert_int_equal(grpc_call_start_batch(call, ops, 6, (void *)1, NULL), GRPC_CALL_OK);
	assert_true(cq_wait(cq, (void *)1, CALL_TIMEOUT_MS + 1000));
	snprintf(r->details, sizeof(r->details), "%.*s", (int)GRPC_SLICE_LENGTH(details),
		 (const char *)GRPC_SLICE_START_PTR(details));
	r->len = recv ? grpc_byte_buffer_length(recv) : 0;
	if (r->code == GRPC_STATUS_OK && resp_desc) {
		uint64_t t0 = now_mono_ns();

		r->decode_err = pb_from_byte_buffer(recv, resp_desc, KPLEG_MAX_MSG_SIZE, &r->msg);
		r->decode_ns = now_mono_ns() - t0;
	}
	grpc_slice_unref(details);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_metadata_array_destroy(&md_init);
	grpc_metadata_array_destroy(&md_trail);
	grpc_call_unref(call);
	cq_drain_destroy(cq);
}



void stream_open(grpc_channel *ch, struct stream *s)
{
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	grpc_op ops[4], st;

	memset(s, 0, sizeof(*s));
	memset(ops, 0, sizeof(ops));
	memset(&st, 0, sizeof(st));
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->call = call_new(ch, s->cq, "GetContainerEvents", 60000);
	s->send = pb_to_byte_buffer(&req.base);
	grpc_metadata_array_init(&s->md_init);
	grpc_metadata_array_init(&s->md_trail);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md_init;
	st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	st.data.recv_status_on_client.trailing_metadata = &s->md_trail;
	st.data.recv_status_on_client.status = &s->code;
	st.data.recv_status_on_client.status_details = &s->details;
	assert_int_equal(grpc_call_start_batch(s->call, ops, 4, TAG_START, NULL), GRPC_CALL_OK);
	assert_int_equal(grpc_call_start_batch(s->call, &st, 1, TAG_STATUS, NULL), GRPC_CALL_OK);
}

/* Handles one completion; false on timeout. */
bool stream_step(struct stream *s, int timeout_ms)
{
	grpc_event ev = grpc_completion_queue_next(s->cq, deadline_ms(timeout_ms), NULL);

	if (ev.type != GRPC_OP_COMPLETE)
		return false;
	if (ev.tag == TAG_STATUS)
		s->status_done = true;
	else if (ev.tag == TAG_MSG)
		s->msg_pending = false;
	return true;
}

/* The next event (0), -ENODATA once the stream has ended, -ETIMEDOUT. */
int stream_next(struct stream *s, int timeout_ms, Runtime__V1__ContainerEventResponse **ret)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };
	ProtobufCMessage *m = NULL;
	int err;

	if (s->ended)
		return -ENODATA;
	if (!s->msg_pending) {
		op.data.recv_message.recv_message = &s->recv;
		assert_int_equal(grpc_call_start_batch(s->call, &op, 1, TAG_MSG, NULL), GRPC_CALL_OK);
		s->msg_pending = true;
	}
	while (s->msg_pending)
		if (!stream_step(s, timeout_ms))
			return -ETIMEDOUT;
	if (!s->recv) {
		s->ended = true;
		return -ENODATA;
	}
	err = pb_from_byte_buffer(s->recv, &runtime__v1__container_event_response__descriptor,
				  KPLEG_MAX_MSG_SIZE, &m);
	grpc_byte_buffer_destroy(s->recv);
	s->recv = NULL;
	*ret = (Runtime__V1__ContainerEventResponse *)m;
	return err;
}

/* Waits for the final status (after -ENODATA). */
grpc_status_code stream_status(struct stream *s)
{
	while (!s->status_done)
		assert_true(stream_step(s, CALL_TIMEOUT_MS));
	return s->code;
}

void stream_close(struct stream *s)
{
	grpc_call_cancel(s->call, NULL);
	while (!s->status_done || s->msg_pending)
		assert_true(stream_step(s, CALL_TIMEOUT_MS));
	if (s->recv)
		grpc_byte_buffer_destroy(s->recv);
	grpc_slice_unref(s->details);
	grpc_byte_buffer_destroy(s->send);
	grpc_metadata_array_destroy(&s->md_init);
	grpc_metadata_array_destroy(&s->md_trail);
	grpc_call_unref(s->call);
	cq_drain_destroy(s->cq);
}

/* ---- fixtures ---- */


int fx_setup_opts(void **state, const struct fakecri_opts *base)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct fakecri_opts o = *base;

	if (!x)
		return -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/fakecri-test-XXXXXX");
	if (!mkdtemp(x->dir))
		return -1;
	snprintf(x->sock, sizeof(x->sock), "%s/cri.sock", x->dir);
	o.socket_path = x->sock;
	x->f = fakecri__new(&o);
	if (!x->f)
		return -1;
	x->ch = channel_open(fakecri__endpoint(x->f));
	*state = x;
	return 0;
}

int fx_setup(void **state)
{
	return fx_setup_opts(state, &(struct fakecri_opts){ .events = FAKECRI_EVENTS_ON });
}

int fx_teardown(void **state)
{
	struct fx *x = *state;

	if (!x)
		return 0;
	grpc_channel_destroy(x->ch);
	fakecri__free(x->f);
	rmdir(x->dir);
	free(x);
	return 0;
}

int group_setup(void **state)
{
	(void)state;
	grpc_init();
	return 0;
}

int group_teardown(void **state)
{
	(void)state;
	grpc_shutdown();
	return 0;
}

/* ---- request helpers ---- */

char *run_pod(struct fx *x, const char *name, const char *app)
{
	Runtime__V1__PodSandboxConfig__LabelsEntry l[2] = {
		RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
		RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
	};
	Runtime__V1__PodSandboxConfig__LabelsEntry *lp[2] = { &l[0], &l[1] };
	Runtime__V1__PodSandboxConfig__AnnotationsEntry an =
		RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
	Runtime__V1__PodSandboxConfig__AnnotationsEntry *ap[1] = { &an };
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *resp;
	struct reply r;
	char *id;

	l[0].key = "io.kubernetes.pod.name", l[0].value = (char *)name;
	l[1].key = "app", l[1].value = (char *)app;
	an.key = "kubernetes.io/config.source", an.value = "api";
	md.name = (char *)name, md.uid = "0b6e1a52-4d0f-4a8c-9d3e-2f1c5b7a9e10";
	md.namespace_ = "default", md.attempt = 1;
	cfg.metadata = &md, cfg.log_directory = "/var/log/pods/x";
	cfg.n_labels = 2, cfg.labels = lp, cfg.n_annotations = 1, cfg.annotations = ap;
	req.config = &cfg;
	unary(x->ch, "RunPodSandbox", &req.base, &runtime__v1__run_pod_sandbox_response__descriptor,
	      &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	resp = (Runtime__V1__RunPodSandboxResponse *)r.msg;
	assert_int_equal(strlen(resp->pod_sandbox_id), 64);
	id = strdup(resp->pod_sandbox_id);
	reply_clear(&r);
	return id;
}

char *create_ctr(struct fx *x, const char *sb, const char *name)
{
	Runtime__V1__ContainerConfig__LabelsEntry l = RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
	Runtime__V1__ContainerConfig__LabelsEntry *lp[1] = { &l };
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	struct reply r;
	char *id;

	l.key = "io.kubernetes.container.name", l.value = (char *)name;
	md.name = (char *)name, md.attempt = 2;
	img.image = "busybox:1.36";
	cfg.metadata = &md, cfg.image = &img, cfg.log_path = "c/0.log";
	cfg.n_labels = 1, cfg.labels = lp;
	req.pod_sandbox_id = (char *)sb, req.config = &cfg;
	unary(x->ch, "CreateContainer", &req.base,
	      &runtime__v1__create_container_response__descriptor, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	id = strdup(((Runtime__V1__CreateContainerResponse *)r.msg)->container_id);
	reply_clear(&r);
	return id;
}

/* Calls a method whose request's field 1 is a container or sandbox id. */
grpc_status_code by_id(struct fx *x, const char *method,
			      const ProtobufCMessageDescriptor *req_desc, const char *id,
			      const ProtobufCMessageDescriptor *resp_desc, struct reply *r)
{
	ProtobufCMessage *req = calloc(1, req_desc->sizeof_message);

	protobuf_c_message_init(req_desc, req);
	*(const char **)((char *)req + req_desc->fields[0].offset) = id;
	unary(x->ch, method, req, resp_desc, r);
	free(req);
	return r->code;
}


Runtime__V1__ContainerStatus *ctr_status(struct fx *x, const char *id, struct reply *r)
{
	assert_int_equal(CALL_ID(x, ContainerStatus, container_status, id, r), GRPC_STATUS_OK);
	assert_int_equal(r->decode_err, 0);
	return ((Runtime__V1__ContainerStatusResponse *)r->msg)->status;
}

void expect_ok(struct fx *x, const char *method, const ProtobufCMessageDescriptor *req_desc,
		      const char *id)
{
	struct reply r;

	assert_int_equal(by_id(x, method, req_desc, id, NULL, &r), GRPC_STATUS_OK);
	reply_clear(&r);
}

const char *label(size_t n, void *const *entries, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__ContainerStatus__LabelsEntry *e = entries[i];

		if (!strcmp(e->key, key))
			return e->value;
	}
	return NULL;
}

/* ---- tests: methods ---- */
