/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by cache.c, cache_merge.c and cache_copy.c only. */
#pragma once

#include "cache.h"

/* Removed ids remembered against stale reports, the oldest forgotten first.
 * containerd buffers at most 1000 events (REFERENCE.md §2), so a stale report
 * refers to one of the last few thousand removals; 8192 costs ~700 KiB.
 * Ids longer than the slot (no runtime we know has them) are not remembered. */
#define TOMBSTONES 8192
#define TOMBSTONE_ID_MAX 72

struct tombstone {
	struct hnode node;
	char id[TOMBSTONE_ID_MAX];
};

struct cache {
	struct htab pods, sandboxes, containers, removed;
	struct tombstone *tomb; /* ring of TOMBSTONES */
	size_t tomb_next;
	uint64_t stale_dropped;
	uint64_t provisional, confirmed, corrected;
};


/* One cache_apply() in progress. */
struct merge {
	struct cache *c;
	const struct snap *s;
	struct cache_pod *pod;
	cache_emit_fn emit;
	void *ctx;
	int changed;
	int emitted;
};

/* What a ContainerConfirmed event carries beyond a plain event. */
struct kpleg_event_extra {
	enum kpleg_source source;	/* overrides the snapshot's */
	bool corrected;
	uint64_t kernel_ns;
	int32_t kernel_exit_code;
};

void cache_bury(struct cache *c, const char *id);
void cache_emit(struct merge *m, enum kpleg_event_type type, const char *sandbox_id,
		const struct cache_ctr *ct);
void cache_emit_x(struct merge *m, enum kpleg_event_type type, const char *sandbox_id,
		  const struct cache_ctr *ct, const struct kpleg_event_extra *x);
struct cache_pod *cache_get_pod(struct merge *m);
int cache_fill_pod_meta(struct merge *m);
void cache_drop_pod_if_empty(struct merge *m);
void cache_free_pod(struct cache_pod *p);
