/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Kernel hints: the ABI between bpf/hints.bpf.c and user/hints.c.
 *
 * The authoritative state of every tracked cgroup lives in a BPF hash map
 * (key: 64-bit kernfs cgroup id, value: struct kpleg_cg_state). The ring
 * buffer only carries struct kpleg_hint wake-ups; when one is lost (counted
 * per CPU) the reader reconciles from the map. Fixed-width fields only, no
 * pointers: the same layout on both sides of the ring.
 *
 * Ring records: HINT_CGROUP_CREATED is a struct kpleg_hint_created (568
 * bytes: the struct kpleg_hint first, then the cgroup's path); every other
 * type is a bare struct kpleg_hint (48 bytes). Read `type` from the first
 * 48 bytes, then the record's size tells the rest.
 */
#pragma once

#ifdef __BPF__
/* vmlinux.h already provides __u32/__u64/__s32. */
#else
#include <linux/types.h>
#endif

enum kpleg_hint_type {
	HINT_CGROUP_CREATED = 1, /* mkdir under a tracked cgroup */
	HINT_STARTED = 2,	 /* first exec in the cgroup */
	HINT_EXITED = 3,	 /* last live process of the cgroup exited */
	HINT_OOM = 4,		 /* OOM victim in the cgroup */
	HINT_CGROUP_REMOVED = 5, /* rmdir of a tracked cgroup */
};

/* Controllers a v1 hierarchy can be picked by (KPLEG_CTRL_NONE: the v2
 * default hierarchy, read through task->cgroups->dfl_cgrp). */
enum kpleg_ctrl {
	KPLEG_CTRL_NONE = 0,
	KPLEG_CTRL_CPUSET,
	KPLEG_CTRL_CPU,
	KPLEG_CTRL_CPUACCT,
	KPLEG_CTRL_BLKIO, /* io_cgrp_id in the kernel */
	KPLEG_CTRL_MEMORY,
	KPLEG_CTRL_DEVICES,
	KPLEG_CTRL_FREEZER,
	KPLEG_CTRL_PIDS,
};

/* kpleg_cg_state.flags */
#define KPLEG_CG_SEEDED (1u << 0)   /* found by the user-space walk at start */
#define KPLEG_CG_INHERITED (1u << 1) /* tracked because its parent is (mkdir) */
#define KPLEG_CG_EXITED (1u << 2)   /* live processes dropped to 0 at least once */
#define KPLEG_CG_NAMED (1u << 3)    /* tracked because its name is a root name (mkdir) */
#define KPLEG_CG_INIT_EXITED (1u << 4) /* a pid namespace's init exited here: its
					 * status is the cgroup's exit status */

/* Root names (rodata targ_root_names): a cgroup made with one of these names
 * is tracked at any level even when its parent is not (kubepods appears with
 * the first pod). Names are NUL-terminated, at most KPLEG_ROOT_NAME_MAX - 1
 * bytes; an empty slot is unused. */
#define KPLEG_MAX_ROOT_NAMES 4
#define KPLEG_ROOT_NAME_MAX 32

/* kpleg_hint_created.path: the cgroup_mkdir tracepoint's path, relative to
 * the hierarchy's root ("/kubepods/besteffort/pod.../<id>"), NUL-terminated;
 * cut at KPLEG_PATH_MAX - 1 bytes (then KPLEG_PATH_TRUNCATED is set). */
#define KPLEG_PATH_MAX 512
#define KPLEG_PATH_TRUNCATED (1u << 0)

struct kpleg_hint {
	__u64 cgid;	    /* kernfs id of the cgroup (never truncated) */
	__u64 parent_cgid;  /* 0 when unknown */
	__u64 ts_ns;	    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC; HINT_EXITED: last_exit_ns */
	__u32 type;	    /* enum kpleg_hint_type */
	__s32 exit_code;    /* HINT_EXITED: like a shell's $?: code, or 128+signal */
	__u32 exit_status;  /* HINT_EXITED: raw wait() status */
	__u32 pid;	    /* tgid involved (global pid namespace), 0 for cgroup ops */
	__u32 level;	    /* cgroup level in its hierarchy (root = 0) */
	__u32 flags;	    /* kpleg_cg_state.flags at the time of the hint */
};

/* HINT_CGROUP_CREATED only. */
struct kpleg_hint_created {
	struct kpleg_hint hint; /* hint.type == HINT_CGROUP_CREATED */
	__u32 path_len;		/* strlen(path) */
	__u32 path_flags;	/* KPLEG_PATH_* */
	char path[KPLEG_PATH_MAX];
};

struct kpleg_cg_state {
	__u64 parent_cgid;
	__u64 first_exec_ns;  /* 0 until the first exec (HINT_STARTED) */
	__u64 last_exit_ns;   /* when live processes last dropped to 0 */
	__u64 live_tasks;     /* live processes (thread groups), not threads */
	__u32 level;
	__s32 last_exit_code; /* decoded like kpleg_hint.exit_code: the pid
			       * namespace init's if it exited here, else the last's */
	__u32 last_exit_status;
	__u32 oom;	      /* number of OOM victims seen in the cgroup */
	__u32 flags;	      /* KPLEG_CG_* */
	__u32 pad;
};

#define KPLEG_HINT_SIZE 48
#define KPLEG_CG_STATE_SIZE 56
#define KPLEG_HINT_CREATED_SIZE (KPLEG_HINT_SIZE + 8 + KPLEG_PATH_MAX)

/* Decodes a wait() status the way a shell reports it. */
static inline __s32 kpleg_decode_exit(__u32 status)
{
	if (status & 0x7f)
		return 128 + (__s32)(status & 0x7f);
	return (__s32)((status >> 8) & 0xff);
}
