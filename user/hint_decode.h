/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel hints from bytes to what the engine is told, without BPF or a
 * tracker: the ring-buffer record checked and copied out (hints.c's reader),
 * then the cgroup path resolved into a struct hint_msg (hint_source.c). Pure
 * functions, so that tests/fuzz/fuzz_hints.c can feed them any bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kpleg_hints.h"
#include "tracker_internal.h"

/* One ring record of @size bytes (include/kpleg_hints.h) into @ret: 0 with
 * ret->hint filled; for HINT_CGROUP_CREATED also ret->path (NUL-terminated
 * within KPLEG_PATH_MAX; path_len is not trusted) and ret->path_flags.
 * -EBADMSG: shorter than a struct kpleg_hint, or a CREATED record shorter
 * than a struct kpleg_hint_created (dropped). Any type is passed on; the
 * consumer ignores types it does not know. */
int hint_record_decode(const void *data, size_t size, struct kpleg_hint_created *ret);

/* Resolves @path (at most CGROUP_PATH_MAX bytes) to the pod and object @hint
 * is about and fills @ret_uid (KPLEG_ID_MAX bytes) and @ret: 0, or -ENOENT
 * when the cgroup is no pod's (not under kubepods, a kubepods/QoS cgroup,
 * conmon) with *@ret_unknown set for an unknown shape under kubepods;
 * -EINVAL for a path the resolver refuses. The map-derived fields (OOM count
 * and first exec of an exit) are left for the caller. */
int hint_resolve(const struct kpleg_hint *hint, const char *path, char *ret_uid,
		 struct hint_msg *ret, bool *ret_unknown);
