/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod-status cache. Only the engine thread writes it (cache_apply,
 * cache_set_error); readers on other threads take the tracker's read lock and
 * copy out (cache_copy_pod). Merging follows one rule per object: state only
 * moves forward (container CREATED < RUNNING < EXITED < removed, sandbox READY
 * < NOTREADY < removed), a removed id is remembered so that a stale report
 * cannot bring it back, and within one state a report older (on kpleg's
 * monotonic clock) than what the cache holds is ignored. Runtime timestamps
 * are data, never used to order reports: evented PLEG's timestamp bugs
 * (REFERENCE.md §1) cannot happen here.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "htab.h"
#include "kpleg/kpleg.h"
#include "snapshot.h"

struct cache;

struct cache_ctr {
	struct hnode node; /* cache->containers by id */
	struct cache_ctr *next;
	struct cache_pod *pod;
	char *id, *sandbox_id, *name, *reason, *message, *image; /* in strs[] */
	int state;
	uint32_t attempt;
	int32_t exit_code;
	int64_t created_at, started_at, finished_at;
	uint64_t observed_ns;
	bool provisional;		/* EXITED from the kernel, unconfirmed */
	/* The last kernel exit applied (kept after the runtime's word). */
	bool kernel_oom;
	int32_t kernel_exit_code;
	uint64_t kernel_ns;
	char strs[];
};

struct cache_sb {
	struct hnode node; /* cache->sandboxes by id */
	struct cache_sb *next;
	struct cache_pod *pod;
	char *id, *ip;
	int state;
	uint32_t attempt;
	int64_t created_at;
	uint64_t observed_ns;
	size_t n_labels;
	struct kpleg_label *labels; /* in strs[] */
	char strs[];
};

struct cache_pod {
	struct hnode node; /* cache->pods by uid */
	char *uid, *name, *namespace_;
	uint64_t observed_ns;
	uint64_t generation;
	int last_error;
	size_t n_sandboxes, n_containers;
	struct cache_sb *sandboxes;
	struct cache_ctr *containers;
};

/* Receives each lifecycle event a merge produces (engine thread). */
typedef void (*cache_emit_fn)(void *ctx, struct kpleg_event *ev);

struct cache_stats {
	uint64_t stale_dropped;
	uint64_t provisional, confirmed, corrected;
	size_t pods, sandboxes, containers;
};

struct cache *cache__new(void);
void cache__free(struct cache *c);

/* Merges @s into the cache, emitting the transitions it causes. Returns the
 * number of objects that changed, or -ENOMEM. */
int cache_apply(struct cache *c, const struct snap *s, cache_emit_fn emit, void *ctx);
/* Records a failed fetch for pod @uid (kept until the next applied fetch). */
void cache_set_error(struct cache *c, const char *uid, int err);

struct cache_pod *cache_pod(struct cache *c, const char *uid);
struct cache_sb *cache_sandbox(struct cache *c, const char *id);
struct cache_ctr *cache_container(struct cache *c, const char *id);
bool cache_is_removed(struct cache *c, const char *id);
void cache_stats(struct cache *c, struct cache_stats *ret);

/* Calls @fn for every pod; stops early when @fn returns non-zero. */
int cache_for_each_pod(struct cache *c, int (*fn)(struct cache_pod *p, void *arg), void *arg);

/* A self-contained copy for API readers; NULL on ENOMEM. */
struct kpleg_pod_status *cache_copy_pod(const struct cache_pod *p);
