/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel hints loader (bpf/hints.bpf.c). Tracks the cgroups under a few roots
 * in one cgroup hierarchy; state per cgroup is in a BPF map (hints__lookup),
 * the ring buffer only wakes the caller up (hints__poll). When hints__lost()
 * grows, reconcile from the map. Every call returns 0 or -errno; -EPERM or
 * -ENOTSUP from hints__start mean "go on without BPF".
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kpleg_hints.h"

struct hints;

struct hints_opts {
	/* Hierarchy: NULL picks v2 when cgroup2 is mounted at
	 * <cgroup_mount>/unified (or at <cgroup_mount>) and holds the first
	 * root, else v1 "memory". "unified" (or "") forces v2; a v1 controller
	 * name ("memory", "pids", "cpu", ...) forces that hierarchy. */
	const char *controller;
	const char *cgroup_mount;  /* default "/sys/fs/cgroup" */
	const char *const *roots;  /* relative to the hierarchy's mount; default {"kubepods"} */
	size_t n_roots;
	/* Root names: a cgroup made (mkdir) after start with one of these
	 * names is tracked at any level, its parent tracked or not. NULL:
	 * {"kubepods", "kubepods.slice"}; non-NULL with n_root_names 0: none.
	 * At most KPLEG_MAX_ROOT_NAMES, each shorter than KPLEG_ROOT_NAME_MAX. */
	const char *const *root_names;
	size_t n_root_names;
	uint32_t ring_size;	   /* bytes, power of 2 >= page size; 0: 256 KiB */
	uint32_t max_cgroups;	   /* 0: 65536 */
};

/* Resolves the hierarchy (no BPF yet). NULL with errno set on failure. */
struct hints *hints__new(const struct hints_opts *opts);

/* Opens, sets rodata, loads, seeds the map from cgroupfs, attaches, and seeds
 * again to close the window between the walk and the attach. Programs whose
 * tracepoint this kernel cannot attach are switched off with a log line.
 * -EPERM: no privilege; -ENOTSUP: BPF or the ring buffer unusable here. */
int hints__start(struct hints *h);

/* The ring buffer's epoll fd, for the caller's loop; -EBADF before start. */
int hints__fd(const struct hints *h);

/* Return non-zero to stop the poll; the value is handed back by hints__poll.
 * For HINT_CGROUP_CREATED @hint is the first member of a whole struct
 * kpleg_hint_created (cast it to read the path); its path is in the
 * hints__path table before @cb runs. For HINT_CGROUP_REMOVED the path is
 * still answered inside @cb and dropped after it. */
typedef int (*hints_cb)(void *ctx, const struct kpleg_hint *hint);

/* Waits up to @timeout_ms (-1: forever) and calls @cb for each hint.
 * Returns the number of hints consumed, or -errno (-EINTR is a normal stop). */
int hints__poll(struct hints *h, int timeout_ms, hints_cb cb, void *ctx);

/* Failed ring buffer reservations since start, summed over CPUs. */
uint64_t hints__lost(const struct hints *h);

/* The map state of @cgid; -ENOENT when it is not tracked. */
int hints__lookup(const struct hints *h, uint64_t cgid, struct kpleg_cg_state *ret_state);

/* The path of tracked cgroup @cgid relative to the hierarchy's mount, as the
 * cgroup tracepoints write it ("/kubepods/burstable/pod<uid>/<id>"), into
 * @buf: known from the seeding walk and from CREATED hints, dropped on
 * REMOVED (or when the map no longer has @cgid); after a lost CREATED hint,
 * asked from the kernel (open_by_handle_at). -ENOENT: unknown (gone, or a
 * path longer than KPLEG_PATH_MAX - 1 bytes);
 * -ENAMETOOLONG: @n too small. */
int hints__path(struct hints *h, uint64_t cgid, char *buf, size_t n);

/* Calls @fn for every tracked cgroup in the map (for a reconcile after
 * lost hints); stops at the first non-zero return, which it returns. */
int hints__for_each(const struct hints *h,
		    int (*fn)(void *ctx, uint64_t cgid, const struct kpleg_cg_state *st), void *ctx);

/* The tracked hierarchy: mount path (e.g. /sys/fs/cgroup/memory) and id. */
const char *hints__mount(const struct hints *h);
uint32_t hints__hierarchy_id(const struct hints *h);

/* The kernfs id of a cgroup directory (name_to_handle_at), 0/-errno. */
int hints_cgroup_id(const char *path, uint64_t *ret_id);

/* Detaches everything; NULL is fine. */
void hints__free(struct hints *h);
