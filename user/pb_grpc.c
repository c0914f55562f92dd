// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "pb_grpc.h"

grpc_byte_buffer *pb_to_byte_buffer(const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	grpc_slice slice = grpc_slice_malloc(len);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
	bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	if (!bb)
		errno = ENOMEM;
	return bb;
}

int pb_from_byte_buffer(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
			size_t max_size, ProtobufCMessage **ret)
{
	grpc_byte_buffer_reader reader;
	ProtobufCMessage *msg;
	grpc_slice slice;
	size_t len = bb ? grpc_byte_buffer_length(bb) : 0;

	if (len > max_size)
		return -EMSGSIZE;
	if (!bb) {
		msg = protobuf_c_message_unpack(desc, NULL, 0, (const uint8_t *)"");
	} else {
		if (!grpc_byte_buffer_reader_init(&reader, bb))
			return -EBADMSG;
		slice = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
		msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
						GRPC_SLICE_START_PTR(slice));
		grpc_slice_unref(slice);
	}
	if (!msg)
		return -EBADMSG;
	*ret = msg;
	return 0;
}

/* ---- arena ------------------------------------------------------------------- */

#define ARENA_MAGIC 0x6b706c6567617231ULL /* "kplegar1" */
#define ARENA_ALIGN 16

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	uint64_t magic;
	alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct arena_block *first, *cur;
	size_t block_size;
	bool failed;
};

static struct arena_block *block_new(size_t size)
{
	struct arena_block *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	b->magic = ARENA_MAGIC;
	return b;
}

static void *arena_alloc(void *data, size_t n)
{
	struct arena *a = data;
	struct arena_block *b = a->cur;

	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (!b || b->used + n > b->size) {
		b = block_new(n > a->block_size ? n : a->block_size);
		if (!b) {
			a->failed = true;
			return NULL;
		}
		if (a->cur)
			a->cur->next = b;
		else
			a->first = b;
		a->cur = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static void arena_noop_free(void *data, void *p)
{
}

static void blocks_free(struct arena_block *b)
{
	while (b) {
		struct arena_block *n = b->next;

		free(b);
		b = n;
	}
}

int pb_unpack_arena(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
		    size_t max_size, ProtobufCMessage **ret)
{
	size_t len = bb ? grpc_byte_buffer_length(bb) : 0;
	/* Unpacked messages take roughly twice their wire size. */
	struct arena a = { .block_size = len * 2 + 4096 };
	ProtobufCAllocator alloc = { .alloc = arena_alloc, .free = arena_noop_free,
				     .allocator_data = &a };
	grpc_byte_buffer_reader reader;
	ProtobufCMessage *msg;
	grpc_slice slice = grpc_empty_slice();

	if (len > max_size)
		return -EMSGSIZE;
	if (bb) {
		if (!grpc_byte_buffer_reader_init(&reader, bb))
			return -EBADMSG;
		slice = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
	}
	msg = protobuf_c_message_unpack(desc, &alloc, GRPC_SLICE_LENGTH(slice),
					bb ? GRPC_SLICE_START_PTR(slice) : (const uint8_t *)"");
	grpc_slice_unref(slice);
	/* protobuf-c allocates the message itself first: it opens the arena. */
	if (!msg || (void *)msg != (void *)a.first->data) {
		blocks_free(a.first);
		return a.failed ? -ENOMEM : -EBADMSG;
	}
	*ret = msg;
	return 0;
}

void pb_arena_free(void *msg)
{
	struct arena_block *b;

	if (!msg)
		return;
	b = (struct arena_block *)((unsigned char *)msg - offsetof(struct arena_block, data));
	if (b->magic != ARENA_MAGIC)
		abort(); /* not ours: a bug, not input */
	b->magic = 0;
	blocks_free(b);
}
