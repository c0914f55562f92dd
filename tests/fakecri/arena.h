/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator for the short-lived protobuf-c messages of one reply: they
 * point into the store's strings and are freed all at once after packing. */
#pragma once

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
};

#define ARENA_INIT { NULL }

/* Zeroed memory aligned for any type, or NULL (ENOMEM). */
void *fk_arena_alloc(struct arena *a, size_t size);
/* A message of @desc initialised to its defaults, or NULL. */
void *fk_arena_msg(struct arena *a, const ProtobufCMessageDescriptor *desc);
void fk_arena_free(struct arena *a);
