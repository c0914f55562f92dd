// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Feature probe: one empty tp_btf program per tracepoint the kernel-hint
 * probes rely on, plus a ring buffer. User space loads them one at a time to
 * learn what this kernel can attach (REFERENCE.md §3: tp_btf and the ring
 * buffer work here, fentry and kprobes do not). Arguments are not read, so one
 * program fits every layout of a tracepoint (mark_victim changed its own).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_rb SEC(".maps");

#define PROBE(tp)                                                                        \
	SEC("tp_btf/" #tp)                                                               \
	int probe_##tp(__u64 *ctx)                                                       \
	{                                                                                \
		return 0;                                                                \
	}

PROBE(cgroup_mkdir)
PROBE(cgroup_rmdir)
PROBE(cgroup_release)
PROBE(cgroup_attach_task)
PROBE(sched_process_fork)
PROBE(sched_process_exec)
PROBE(sched_process_exit)
PROBE(mark_victim)

/* Proves the ring buffer helpers verify on this kernel. */
SEC("tp_btf/sched_process_exit")
int probe_ringbuf(__u64 *ctx)
{
	__u32 *v = bpf_ringbuf_reserve(&probe_rb, sizeof(*v), 0);

	if (v)
		bpf_ringbuf_discard(v, 0);
	return 0;
}
