/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What kpleg's kernel-hint programs cost in the kernel, for the benchmarks
 * (header only, like bench.h). The kernel counts each BPF program's runs and
 * run time only while someone holds a BPF_STATS_RUN_TIME fd (it is a global
 * switch with a reference count, and the counters are the kernel's own, read
 * back through bpf_obj_get_info_by_fd()).
 *
 * Which programs: those of bpf/hints.bpf.c, by name (the names come from the
 * skeleton, so they follow the source; the kernel keeps the first 15
 * characters), and of those only the ones this process holds an fd to (listed
 * in /proc/self/fdinfo as "prog_id:"): other kpleg trackers on the machine
 * load programs with the same names, and their runs are not ours.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bench.h"
#include "hints.skel.h"

#define BENCH_BPF_MAX_PROGS 16
#define BENCH_BPF_MAX_OWNED 256

struct bench_bpf_prog {
	char name[BPF_OBJ_NAME_LEN];	/* as the kernel has it (15 chars at most) */
	char section[64];		/* "tp_btf/sched_process_exit" */
	uint32_t id;			/* 0: not loaded by this process */
	uint64_t run_cnt, run_time_ns;
};

struct bench_bpf_snap {
	unsigned n;
	struct bench_bpf_prog p[BENCH_BPF_MAX_PROGS];
	unsigned foreign;		/* same names, loaded by other processes */
	uint64_t mono_ns;		/* when taken */
};

/* The hint programs' names and sections, from the skeleton (opened, never
 * loaded). 0 or -errno. */
static inline int bench_bpf_names(struct bench_bpf_snap *s)
{
	struct hints_bpf *skel = hints_bpf__open();
	struct bpf_program *prog;

	memset(s, 0, sizeof(*s));
	if (!skel)
		return -errno;
	bpf_object__for_each_program(prog, skel->obj) {
		struct bench_bpf_prog *p;

		if (s->n == BENCH_BPF_MAX_PROGS)
			break;
		p = &s->p[s->n++];
		snprintf(p->name, sizeof(p->name), "%.*s", BPF_OBJ_NAME_LEN - 1,
			 bpf_program__name(prog));
		snprintf(p->section, sizeof(p->section), "%s", bpf_program__section_name(prog));
	}
	hints_bpf__destroy(skel);
	return 0;
}

/* Program ids this process holds an fd to (programs and links to them). */
static inline unsigned bench_bpf_owned(uint32_t *ids, unsigned max)
{
	DIR *d = opendir("/proc/self/fdinfo");
	unsigned n = 0;
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], line[128];
		unsigned id;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1 && n < max)
				ids[n++] = id;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* Fills the counters of @s (names from bench_bpf_names()) from the kernel. */
static inline void bench_bpf_snapshot(struct bench_bpf_snap *s)
{
	uint32_t owned[BENCH_BPF_MAX_OWNED], id = 0;
	unsigned n_owned = bench_bpf_owned(owned, BENCH_BPF_MAX_OWNED);

	s->foreign = 0;
	for (unsigned i = 0; i < s->n; i++) {
		s->p[i].id = 0;
		s->p[i].run_cnt = s->p[i].run_time_ns = 0;
	}
	while (bpf_prog_get_next_id(id, &id) == 0) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		bool mine = false;
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue; /* unloaded meanwhile */
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		for (unsigned i = 0; i < n_owned; i++)
			mine |= owned[i] == info.id;
		for (unsigned i = 0; i < s->n; i++) {
			if (strncmp(s->p[i].name, info.name, sizeof(info.name)))
				continue;
			if (!mine) {
				s->foreign++;
			} else {
				s->p[i].id = info.id;
				s->p[i].run_cnt = info.run_cnt;
				s->p[i].run_time_ns = info.run_time_ns;
			}
			break;
		}
	}
	s->mono_ns = bench_mono_ns();
}
