// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Kernel hints (REFERENCE.md §3): per tracked cgroup state in a hash map, the
 * ring buffer only wakes user space up. Tracking is inherited at mkdir from a
 * tracked parent, in one hierarchy only (targ_hierarchy_id; v2 is 0). Live
 * processes are counted per cgroup: +1 at fork (also CLONE_INTO_CGROUP),
 * moved at cgroup_attach_task (cgroup.procs writes) and, as a fallback, at
 * exec; -1 when the thread group dies. `procs` remembers where each process
 * was counted, so a move can take it off its old cgroup. A cgroup whose name
 * is one of targ_root_names starts tracking at mkdir at any level, tracked
 * parent or not (kubepods appears with the first pod). HINT_CGROUP_CREATED
 * carries the tracepoint's path (struct kpleg_hint_created).
 *
 * Only tp_btf programs: fentry and kprobes do not work on the project's kernel.
 * Handlers on the cgroup tracepoints run under a global lock with IRQs off:
 * they do a lookup or two and nothing else.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kpleg_hints.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

_Static_assert(sizeof(struct kpleg_hint) == KPLEG_HINT_SIZE, "kpleg_hint ABI");
_Static_assert(sizeof(struct kpleg_cg_state) == KPLEG_CG_STATE_SIZE, "kpleg_cg_state ABI");
_Static_assert(sizeof(struct kpleg_hint_created) == KPLEG_HINT_CREATED_SIZE,
	       "kpleg_hint_created ABI");

#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */

const volatile __u32 targ_hierarchy_id = 0; /* cgrp->root->hierarchy_id; v2: 0 */
const volatile __u32 targ_ctrl = KPLEG_CTRL_NONE; /* v1 controller, NONE: v2 */
/* Read-only map memory: bpf_strncmp() takes its second string only from there. */
const volatile char targ_root_names[KPLEG_MAX_ROOT_NAMES][KPLEG_ROOT_NAME_MAX] = {
	"kubepods", "kubepods.slice",
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* bpf_map__set_max_entries() before load */
	__type(key, __u64);
	__type(value, struct kpleg_cg_state);
} cgroups SEC(".maps");

/* tgid -> cgid the process is counted in. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* bpf_map__set_max_entries() before load */
} hints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		*n += 1; /* per CPU: no atomic needed */
}

static __always_inline void fill(struct kpleg_hint *h, __u32 type, __u64 cgid,
				 const struct kpleg_cg_state *st, __u32 pid)
{
	h->cgid = cgid;
	h->parent_cgid = st->parent_cgid;
	/* An exit's time is the map's, so that a hint rebuilt from the map
	 * after a loss names the same instant as the ring's. */
	h->ts_ns = type == HINT_EXITED ? st->last_exit_ns : bpf_ktime_get_ns();
	h->type = type;
	h->exit_code = type == HINT_EXITED ? st->last_exit_code : 0;
	h->exit_status = type == HINT_EXITED ? st->last_exit_status : 0;
	h->pid = pid;
	h->level = st->level;
	h->flags = st->flags;
}

static __always_inline void emit(__u32 type, __u64 cgid, const struct kpleg_cg_state *st,
				 __u32 pid)
{
	struct kpleg_hint *h = bpf_ringbuf_reserve(&hints, sizeof(*h), 0);

	if (!h) {
		count_lost();
		return;
	}
	fill(h, type, cgid, st, pid);
	bpf_ringbuf_submit(h, 0);
}

/* HINT_CGROUP_CREATED with the path: one bounded copy into the reservation. */
static __always_inline void emit_created(__u64 cgid, const struct kpleg_cg_state *st,
					 const char *path)
{
	struct kpleg_hint_created *c = bpf_ringbuf_reserve(&hints, sizeof(*c), 0);
	long n;

	if (!c) {
		count_lost();
		return;
	}
	fill(&c->hint, HINT_CGROUP_CREATED, cgid, st, 0);
	n = bpf_probe_read_kernel_str(c->path, sizeof(c->path), path);
	if (n <= 0) {
		c->path[0] = '\0';
		n = 1;
	}
	c->path_len = n - 1;
	c->path_flags = n >= (long)sizeof(c->path) ? KPLEG_PATH_TRUNCATED : 0;
	bpf_ringbuf_submit(c, 0);
}

/* Is the cgroup's own name (kn->name) one of targ_root_names? The name is
 * read once into a buffer twice the size of a root name, so a longer name
 * cut by the read can never equal one. */
static __always_inline bool root_named(struct cgroup *cgrp)
{
	char name[2 * KPLEG_ROOT_NAME_MAX];
	const char *kname = BPF_CORE_READ(cgrp, kn, name);

	if (!targ_root_names[0][0])
		return false; /* none configured */
	if (bpf_probe_read_kernel_str(name, sizeof(name), kname) <= 0)
		return false;
	for (int i = 0; i < KPLEG_MAX_ROOT_NAMES; i++) {
		if (!targ_root_names[i][0])
			continue;
		if (!bpf_strncmp(name, sizeof(name), (const char *)targ_root_names[i]))
			return true;
	}
	return false;
}

static __always_inline int ctrl_ssid(void)
{
	switch (targ_ctrl) {
	case KPLEG_CTRL_CPUSET:
		return bpf_core_enum_value(enum cgroup_subsys_id, cpuset_cgrp_id);
	case KPLEG_CTRL_CPU:
		return bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
	case KPLEG_CTRL_CPUACCT:
		return bpf_core_enum_value(enum cgroup_subsys_id, cpuacct_cgrp_id);
	case KPLEG_CTRL_BLKIO:
		return bpf_core_enum_value(enum cgroup_subsys_id, io_cgrp_id);
	case KPLEG_CTRL_MEMORY:
		return bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	case KPLEG_CTRL_DEVICES:
		return bpf_core_enum_value(enum cgroup_subsys_id, devices_cgrp_id);
	case KPLEG_CTRL_FREEZER:
		return bpf_core_enum_value(enum cgroup_subsys_id, freezer_cgrp_id);
	case KPLEG_CTRL_PIDS:
		return bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id);
	}
	return -1;
}

/* The task's cgroup in the tracked hierarchy, 0 when it cannot be read. */
static __always_inline __u64 task_cgid(struct task_struct *task)
{
	struct cgroup *cgrp;
	int ssid;

	if (targ_ctrl == KPLEG_CTRL_NONE) {
		cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	} else {
		ssid = ctrl_ssid();
		if (ssid < 0 || ssid >= 64)
			return 0;
		cgrp = BPF_CORE_READ(task, cgroups, subsys[ssid], cgroup);
	}
	if (!cgrp)
		return 0;
	return BPF_CORE_READ(cgrp, kn, id);
}

static __always_inline bool in_hierarchy(struct cgroup *cgrp)
{
	return BPF_CORE_READ(cgrp, root, hierarchy_id) == (int)targ_hierarchy_id;
}

static __always_inline void count_in(__u32 tgid, __u64 cgid, struct kpleg_cg_state *st)
{
	__sync_fetch_and_add(&st->live_tasks, 1);
	bpf_map_update_elem(&procs, &tgid, &cgid, BPF_ANY);
}

/* Pid 1 of a pid namespace below the host's: a container's init (the
 * kubelet gives each container its own pid namespace unless the pod shares
 * one). When it exits the kernel kills the rest of its namespace. */
static __always_inline bool ns_init(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	if (level == 0 || level > 32)
		return false;
	if (bpf_core_read(&up, sizeof(up), &pid->numbers[level]))
		return false;
	return up.nr == 1;
}

/* Takes one process off @cgid; the last one out sends HINT_EXITED. Its
 * status is the container init's when init exited here: what the kernel or
 * the runtime then kills to empty the cgroup (137) says nothing about the
 * container. (A runc container's first exec is not its entrypoint: runc's
 * own helpers exec first, so "first exec" cannot name the main process.) */
static __always_inline void count_out(__u64 cgid, __u32 tgid, __u32 status, bool dead,
				      bool init)
{
	struct kpleg_cg_state *st = bpf_map_lookup_elem(&cgroups, &cgid);
	__u64 old;

	if (!st)
		return;
	old = st->live_tasks;
	if (old == 0)
		return; /* counted before we started and not seeded: nothing to do */
	if (dead && init) {
		st->last_exit_status = status;
		st->flags |= KPLEG_CG_INIT_EXITED;
	}
	old = __sync_fetch_and_add(&st->live_tasks, -1);
	if (old != 1 || !dead)
		return;
	if (!(st->flags & KPLEG_CG_INIT_EXITED))
		st->last_exit_status = status;
	st->last_exit_code = kpleg_decode_exit(st->last_exit_status);
	st->last_exit_ns = bpf_ktime_get_ns();
	st->flags |= KPLEG_CG_EXITED;
	emit(HINT_EXITED, cgid, st, tgid);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(hints_mkdir, struct cgroup *cgrp, const char *path)
{
	struct kpleg_cg_state st = {}, *parent;
	__u64 cgid, pcgid;

	if (!in_hierarchy(cgrp))
		return 0;
	pcgid = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	parent = bpf_map_lookup_elem(&cgroups, &pcgid);
	if (parent)
		st.flags = KPLEG_CG_INHERITED;
	else if (root_named(cgrp))
		st.flags = KPLEG_CG_NAMED;
	else
		return 0;
	cgid = BPF_CORE_READ(cgrp, kn, id);
	st.parent_cgid = pcgid;
	st.level = BPF_CORE_READ(cgrp, level);
	if (bpf_map_update_elem(&cgroups, &cgid, &st, BPF_NOEXIST))
		return 0; /* full map or already seeded */
	emit_created(cgid, &st, path);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(hints_rmdir, struct cgroup *cgrp, const char *path)
{
	struct kpleg_cg_state *st;
	__u64 cgid;

	if (!in_hierarchy(cgrp))
		return 0;
	cgid = BPF_CORE_READ(cgrp, kn, id);
	st = bpf_map_lookup_elem(&cgroups, &cgid);
	if (!st)
		return 0;
	emit(HINT_CGROUP_REMOVED, cgid, st, 0);
	bpf_map_delete_elem(&cgroups, &cgid);
	return 0;
}

/* cgroup.procs writes; CLONE_INTO_CGROUP does not come here (fork covers it). */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(hints_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	struct kpleg_cg_state *st;
	__u32 tgid, pid;
	__u64 cgid, *old;

	if (!in_hierarchy(dst))
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	pid = BPF_CORE_READ(task, pid);
	if (!threadgroup && pid != tgid)
		return 0; /* a lone thread moved (v1 tasks file): not a process */
	cgid = BPF_CORE_READ(dst, kn, id);
	old = bpf_map_lookup_elem(&procs, &tgid);
	if (old && *old == cgid)
		return 0;
	if (old) {
		count_out(*old, tgid, 0, false, false);
		bpf_map_delete_elem(&procs, &tgid);
	}
	st = bpf_map_lookup_elem(&cgroups, &cgid);
	if (st)
		count_in(tgid, cgid, st);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(hints_fork, struct task_struct *parent, struct task_struct *child)
{
	struct kpleg_cg_state *st;
	__u32 tgid = BPF_CORE_READ(child, tgid);
	__u64 cgid;

	if ((__u32)BPF_CORE_READ(child, pid) != tgid)
		return 0; /* a new thread, not a new process */
	cgid = task_cgid(child);
	st = bpf_map_lookup_elem(&cgroups, &cgid);
	if (st)
		count_in(tgid, cgid, st);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(hints_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u64 cgid = task_cgid(task), *old, now;
	struct kpleg_cg_state *st = bpf_map_lookup_elem(&cgroups, &cgid);

	old = bpf_map_lookup_elem(&procs, &tgid);
	if (!old || *old != cgid) {
		/* A move we did not see (attach not attached, or v1 tasks file). */
		if (old) {
			count_out(*old, tgid, 0, false, false);
			bpf_map_delete_elem(&procs, &tgid);
		}
		if (st)
			count_in(tgid, cgid, st);
	}
	if (!st || st->first_exec_ns)
		return 0;
	now = bpf_ktime_get_ns();
	if (__sync_val_compare_and_swap(&st->first_exec_ns, 0, now) != 0)
		return 0; /* another CPU won */
	emit(HINT_STARTED, cgid, st, tgid);
	return 0;
}

/* Older kernels had no mark_victim(task): the exit path catches the victim. */
static __always_inline void note_oom(__u64 cgid, __u32 tgid)
{
	struct kpleg_cg_state *st = bpf_map_lookup_elem(&cgroups, &cgid);

	if (!st)
		return;
	__sync_fetch_and_add(&st->oom, 1);
	emit(HINT_OOM, cgid, st, tgid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(hints_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid), status;
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	__u64 cgid, *old;

	/* signal->live dropped to 0 before the tracepoint: the last thread. */
	if (BPF_CORE_READ(sig, live.counter) != 0)
		return 0;
	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		status = BPF_CORE_READ(sig, group_exit_code);
	else
		status = BPF_CORE_READ(task, exit_code);
	old = bpf_map_lookup_elem(&procs, &tgid);
	if (old) {
		cgid = *old;
		bpf_map_delete_elem(&procs, &tgid);
	} else {
		cgid = task_cgid(task); /* running before start, seeded */
	}
	/* mark_victim with a task argument already counted the OOM. */
	if (!bpf_core_field_exists(struct trace_event_raw_mark_victim, uid) &&
	    BPF_CORE_READ(sig, oom_mm))
		note_oom(cgid, tgid);
	count_out(cgid, tgid, status, true, ns_init(task));
	return 0;
}

/* mark_victim(struct task_struct *, uid_t) since 6.8 (the same change added
 * `uid` to trace_event_raw_mark_victim); with the older (int pid) layout this
 * program loads but does nothing, and the exit path catches the victim. */
SEC("tp_btf/mark_victim")
int BPF_PROG(hints_oom, struct task_struct *task)
{
	__u64 cgid;

	if (!bpf_core_field_exists(struct trace_event_raw_mark_victim, uid))
		return 0;
	cgid = task_cgid(task);
	note_oom(cgid, BPF_CORE_READ(task, tgid));
	return 0;
}
