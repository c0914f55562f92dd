/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A snapshot is what a source knows about one pod at one instant: some of its
 * sandboxes and containers, each either present (with its status) or known to
 * be absent. Sources build snapshots; only the engine merges them into the
 * cache. A snapshot never implies anything about objects it does not name.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cri.h"
#include "kpleg/kpleg.h"

struct snap_label {
	char *key, *value;
};

struct snap_sandbox {
	char *id;
	bool absent;
	int state;	/* enum kpleg_sandbox_state */
	uint32_t attempt;
	int64_t created_at;
	char *ip;
	size_t n_labels;
	struct snap_label *labels;
};

struct snap_container {
	char *id;
	char *sandbox_id;
	bool absent;
	int state;	/* enum kpleg_container_state */
	char *name;
	uint32_t attempt;
	int32_t exit_code;
	char *reason, *message, *image;
	int64_t created_at, started_at, finished_at;
	/* Kernel-observed exit (source kernel): to be confirmed by the runtime. */
	bool provisional, oom;
	uint64_t kernel_ns;
};

struct snap {
	char *uid, *name, *namespace_; /* name/namespace may be NULL if unknown */
	enum kpleg_source source;
	uint64_t observed_ns;	       /* CLOCK_MONOTONIC when the data was asked for */
	/* Objects new to the cache were born after kpleg started: report every
	 * transition they went through (Created, Started, Died), not only the
	 * state they are in, unlike the kubelet, which misses a container that
	 * lives and dies between two relists. False for the first sync. */
	bool backfill;
	/* The runtime's status overrules a provisional exit even when it says
	 * the container still runs (the hint's retries ran out). */
	bool overrule;
	/* A whole pod's statuses from a fetch: the pod's data is this fresh. */
	bool fetched;
	size_t n_sandboxes, n_containers;
	struct snap_sandbox *sandboxes;
	struct snap_container *containers;
};

struct snap *snap__new(const char *uid, enum kpleg_source source, uint64_t observed_ns);
void snap__free(struct snap *s);

/* Adds objects; strings are copied. 0 or -ENOMEM. */
int snap_add_sandbox_status(struct snap *s, const Runtime__V1__PodSandboxStatus *st);
int snap_add_sandbox_absent(struct snap *s, const char *id);
int snap_add_container_status(struct snap *s, const char *sandbox_id,
			      const Runtime__V1__ContainerStatus *st);
/* Adds a copy of @src (strings duplicated; NULL strings become ""). */
int snap_add_container_copy(struct snap *s, const struct snap_container *src);
int snap_add_container_absent(struct snap *s, const char *id, const char *sandbox_id);
/* Sets pod name and namespace if not set yet. */
int snap_set_pod_meta(struct snap *s, const char *name, const char *ns);

struct snap_container *snap_find_container(struct snap *s, const char *id);
