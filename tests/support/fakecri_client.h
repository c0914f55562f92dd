/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal gRPC client of fakecri's own, for its tests: kpleg's real CRI
 * client (user/cri.c) is tested against fakecri separately, so fakecri's
 * tests do not depend on the code they will be used to test. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <grpc/grpc.h>

#include "fakecri.h"

#define CALL_TIMEOUT_MS 5000
#define TAG_START ((void *)1)
#define TAG_STATUS ((void *)2)
#define TAG_MSG ((void *)3)
/* A call that takes one id, e.g. CALL_ID(x, ContainerStatus, container_status, id, &r). */
#define CALL_ID(x, Method, snake, id, r)                                         \
	by_id((x), #Method, &runtime__v1__##snake##_request__descriptor, (id),   \
	      &runtime__v1__##snake##_response__descriptor, (r))

struct reply {
	grpc_status_code code;
	char details[256];
	ProtobufCMessage *msg; /* decoded, when code is OK and it decodes */
	int decode_err;        /* pb_from_byte_buffer() result */
	size_t len;            /* bytes received */
	uint64_t decode_ns;    /* time spent decoding */
};

struct stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array md_init, md_trail;
	grpc_status_code code;
	grpc_slice details;
	bool status_done, msg_pending, ended;
};

struct fx {
	char dir[64];
	char sock[96];
	struct fakecri *f;
	grpc_channel *ch;
};

void reply_clear(struct reply *r);

gpr_timespec deadline_ms(int ms);

void cq_drain_destroy(grpc_completion_queue *cq);

grpc_channel *channel_open(const char *endpoint);

grpc_call *call_new(grpc_channel *ch, grpc_completion_queue *cq, const char *method,
			   int timeout_ms);

bool cq_wait(grpc_completion_queue *cq, void *tag, int timeout_ms);

void unary(grpc_channel *ch, const char *method, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *resp_desc, struct reply *r);

void stream_open(grpc_channel *ch, struct stream *s);

bool stream_step(struct stream *s, int timeout_ms);

int stream_next(struct stream *s, int timeout_ms, Runtime__V1__ContainerEventResponse **ret);

grpc_status_code stream_status(struct stream *s);

void stream_close(struct stream *s);

int fx_setup_opts(void **state, const struct fakecri_opts *base);

int fx_setup(void **state);

int fx_teardown(void **state);

int group_setup(void **state);

int group_teardown(void **state);

char *run_pod(struct fx *x, const char *name, const char *app);

char *create_ctr(struct fx *x, const char *sb, const char *name);

grpc_status_code by_id(struct fx *x, const char *method,
			      const ProtobufCMessageDescriptor *req_desc, const char *id,
			      const ProtobufCMessageDescriptor *resp_desc, struct reply *r);

Runtime__V1__ContainerStatus *ctr_status(struct fx *x, const char *id, struct reply *r);

void expect_ok(struct fx *x, const char *method, const ProtobufCMessageDescriptor *req_desc,
		      const char *id);

const char *label(size_t n, void *const *entries, const char *key);
