// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

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
