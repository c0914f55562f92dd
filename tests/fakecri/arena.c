// SPDX-License-Identifier: Apache-2.0
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Chunks double from the first to the last size: most replies and events
 * need a few KiB, and a fresh 256 KiB block per message is an mmap and a
 * munmap under ASan (16x slower event floods). */
#define ARENA_FIRST_CHUNK (4 * 1024)
#define ARENA_CHUNK (256 * 1024)
#define ARENA_ALIGN alignof(max_align_t)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	alignas(max_align_t) unsigned char data[];
};

void *fk_arena_alloc(struct arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	void *p;

	if (!c || c->size - c->used < need) {
		size_t sz = c ? (c->size * 2 < ARENA_CHUNK ? c->size * 2 : ARENA_CHUNK)
			      : ARENA_FIRST_CHUNK;

		sz = need > sz ? need : sz;

		c = malloc(sizeof(*c) + sz);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = sz;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	return memset(p, 0, size);
}

void *fk_arena_msg(struct arena *a, const ProtobufCMessageDescriptor *desc)
{
	void *m = fk_arena_alloc(a, desc->sizeof_message);

	if (m)
		protobuf_c_message_init(desc, m);
	return m;
}

void fk_arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;

	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}
