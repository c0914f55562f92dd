// SPDX-License-Identifier: Apache-2.0
/* upstream-cri: the channel, message (de)serialisation and unary calls. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "upstream_cri.h"

int uc_conn_open(struct uc_conn *c, const char *endpoint)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = UC_MAX_MSG },
	};
	grpc_channel_args chargs = { .num_args = 1, .args = args };
	grpc_channel_credentials *creds;
	int n;

	memset(c, 0, sizeof(*c));
	if (!strncmp(endpoint, "unix://", 7) && endpoint[7] == '/')
		n = snprintf(c->target, sizeof(c->target), "%s", endpoint);
	else if (endpoint[0] == '/')
		n = snprintf(c->target, sizeof(c->target), "unix://%s", endpoint);
	else
		return -EINVAL;
	if (n < 0 || (size_t)n >= sizeof(c->target))
		return -ENAMETOOLONG;
	grpc_init();
	creds = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(c->target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	if (!c->channel) {
		grpc_shutdown();
		return -EIO;
	}
	return 0;
}

void uc_conn_close(struct uc_conn *c)
{
	if (!c->channel)
		return;
	grpc_channel_destroy(c->channel);
	c->channel = NULL;
	grpc_shutdown();
}

gpr_timespec uc_deadline(int timeout_ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

const char *uc_code_name(grpc_status_code code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};

	if ((unsigned)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "UNKNOWN_CODE";
}

int uc_fail(struct uc_err *e, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EIO;
}

grpc_byte_buffer *uc_pack(const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	grpc_slice s = grpc_slice_malloc(len);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

ProtobufCMessage *uc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
	grpc_byte_buffer_reader rd;
	ProtobufCMessage *m;
	grpc_slice s;

	if (!bb)
		return protobuf_c_message_unpack(desc, NULL, 0, (const uint8_t *)"");
	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

const char *uc_enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t n)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	if (ev)
		return ev->name;
	snprintf(buf, n, "UNKNOWN(%d)", v);
	return buf;
}

/*
 * A unary call is one batch of all six client ops on a completion queue of
 * its own; the call's deadline bounds the wait.
 */
int uc_unary(struct uc_conn *c, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **ret,
	     struct uc_err *e)
{
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice(), method_slice;
	grpc_metadata_array hdr, trl;
	grpc_byte_buffer *out, *in = NULL;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_event ev;
	grpc_op ops[6];
	char path[128];
	int r = 0;

	snprintf(path, sizeof(path), UC_SERVICE "%s", method);
	out = uc_pack(req);
	if (!out)
		return uc_fail(e, GRPC_STATUS_OK, "%s: out of memory", method);
	grpc_metadata_array_init(&hdr);
	grpc_metadata_array_init(&trl);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	method_slice = grpc_slice_from_copied_string(path);
	call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					method_slice, NULL, uc_deadline(timeout_ms), NULL);
	grpc_slice_unref(method_slice); /* the call holds its own reference */
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = out;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &hdr;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &in;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trl;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (!call || grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
		r = uc_fail(e, GRPC_STATUS_OK, "%s: cannot start the call", method);
		goto out;
	}
	ev = grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
		r = uc_fail(e, GRPC_STATUS_OK, "%s: the batch failed", method);
		goto out;
	}
	if (code != GRPC_STATUS_OK) {
		r = uc_fail(e, code, "%s: %s: %.*s", method, uc_code_name(code),
			    (int)GRPC_SLICE_LENGTH(details), (const char *)GRPC_SLICE_START_PTR(details));
		goto out;
	}
	*ret = uc_unpack(in, resp_desc);
	if (!*ret)
		r = uc_fail(e, GRPC_STATUS_OK, "%s: the reply does not decode as %s", method,
			    resp_desc->name);
out:
	if (call)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_byte_buffer_destroy(out);
	if (in)
		grpc_byte_buffer_destroy(in);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&hdr);
	grpc_metadata_array_destroy(&trl);
	return r;
}
