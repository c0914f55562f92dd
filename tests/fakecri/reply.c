// SPDX-License-Identifier: Apache-2.0
/* Unary replies: run the handler under f->lock, then encode its message,
 * altered as the call's fault asks (GARBAGE, TRUNCATED, EMPTY_ID, ...). */
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer.h>
#include <grpc/slice.h>

#include "methods.h"
#include "pb_grpc.h"

/* Wire type 7 does not exist: no protobuf decoder accepts this. */
static const char garbage[] = "\x0f\xde\xad\xbe\xef";

static bool is_id_field(const char *name, bool top)
{
	return !strcmp(name, "id") ||
	       (top && (!strcmp(name, "pod_sandbox_id") || !strcmp(name, "container_id")));
}

/* Walks the reply by reflection so one rule covers every message type. */
static void mutate(ProtobufCMessage *m, enum fakecri_reply kind, bool top)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		char *member = (char *)m + fd->offset;

		if (fd->type == PROTOBUF_C_TYPE_STRING && kind == FAKECRI_REPLY_EMPTY_ID &&
		    fd->label != PROTOBUF_C_LABEL_REPEATED && is_id_field(fd->name, top))
			*(char **)member = "";
		else if (fd->type == PROTOBUF_C_TYPE_ENUM && kind == FAKECRI_REPLY_BAD_ENUM &&
			 !strcmp(fd->name, "state"))
			*(int *)member = 99;
		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)((char *)m + fd->quantifier_offset);

			for (size_t j = 0; j < n; j++)
				mutate((*(ProtobufCMessage ***)member)[j], kind, false);
		} else if (kind == FAKECRI_REPLY_NO_METADATA && !strcmp(fd->name, "metadata")) {
			*(ProtobufCMessage **)member = NULL;
		} else if (*(ProtobufCMessage **)member) {
			mutate(*(ProtobufCMessage **)member, kind, false);
		}
	}
}

static grpc_byte_buffer *bytes_buffer(const void *p, size_t len)
{
	grpc_slice s = grpc_slice_from_copied_buffer(p, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

	grpc_slice_unref(s);
	return bb;
}

/* A valid encoding minus its last byte never decodes: that byte ends the
 * last field's value. An empty message becomes a lone field-1 tag. */
static grpc_byte_buffer *truncated(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	grpc_byte_buffer *bb;

	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	if (!len)
		buf[len++] = 0x0a;
	bb = bytes_buffer(buf, len - (len > 1));
	free(buf);
	return bb;
}

static grpc_byte_buffer *encode(ProtobufCMessage *m, enum fakecri_reply kind)
{
	switch (kind) {
	case FAKECRI_REPLY_GARBAGE:
		return bytes_buffer(garbage, sizeof(garbage) - 1);
	case FAKECRI_REPLY_TRUNCATED:
		return truncated(m);
	case FAKECRI_REPLY_EMPTY_ID:
	case FAKECRI_REPLY_BAD_ENUM:
	case FAKECRI_REPLY_NO_METADATA:
		mutate(m, kind, true);
		break;
	case FAKECRI_REPLY_NORMAL:
		break;
	}
	return pb_to_byte_buffer(m);
}

void fk_reply_unary(struct fk_call *c)
{
	struct fakecri *f = c->f;
	struct arena a = ARENA_INIT;
	struct fk_ctx x = { .f = f, .req = c->req, .a = &a };
	grpc_byte_buffer *bb = NULL;
	grpc_status_code code;

	pthread_mutex_lock(&f->lock);
	code = fk_methods[c->method].handle(&x);
	if (code == GRPC_STATUS_OK) {
		bb = encode(x.resp, c->fault.reply);
		if (!bb)
			code = FK_ENOMEM(&x);
	}
	pthread_mutex_unlock(&f->lock);
	fk_arena_free(&a);
	fk_call_finish(c, bb, code, code == GRPC_STATUS_OK ? NULL : x.err);
}
