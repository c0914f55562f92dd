/* SPDX-License-Identifier: Apache-2.0 */
/* protobuf-c messages <-> gRPC C core byte buffers, shared by the CRI client,
 * kpleg's own servers and the fake runtime. */
#pragma once

#include <stddef.h>
#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

/* Largest message we accept from a peer: the runtimes' own default and what
 * the kubelet configures (REFERENCE.md §2); gRPC C core defaults to 4 MiB. */
#define KPLEG_MAX_MSG_SIZE (16 * 1024 * 1024)

/* Serialises @msg into a new byte buffer. Returns NULL with errno=ENOMEM. */
grpc_byte_buffer *pb_to_byte_buffer(const ProtobufCMessage *msg);

/* Decodes @bb (may be NULL: an empty message) as @desc into *@ret.
 * Returns 0, -EMSGSIZE when the payload exceeds @max_size, -EBADMSG when it
 * does not decode, -ENOMEM. *@ret is untouched on failure. Free the result with
 * protobuf_c_message_free_unpacked(). */
int pb_from_byte_buffer(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
			size_t max_size, ProtobufCMessage **ret);

/* Like pb_from_byte_buffer, but the message and everything in it live in one
 * arena of a few large blocks, freed at once by pb_arena_free(). A 10,000
 * container ListContainers reply is ~200,000 small strings: with malloc,
 * unpacking it costs several times more than with the arena. */
int pb_unpack_arena(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
		    size_t max_size, ProtobufCMessage **ret);
/* Frees a message from pb_unpack_arena(); NULL-safe. */
void pb_arena_free(void *msg);
