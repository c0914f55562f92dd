// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "bpf_features.h"
#include "features.skel.h"

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* Opens the skeleton with only @prog_name enabled, loads and attaches it. */
static int try_one(const char *prog_name)
{
	struct features_bpf *skel = features_bpf__open();
	struct bpf_program *prog;
	struct bpf_link *link;
	int err;

	if (!skel)
		return -errno;
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), prog_name));
	err = features_bpf__load(skel);
	if (err)
		goto cleanup;
	prog = bpf_object__find_program_by_name(skel->obj, prog_name);
	link = bpf_program__attach(prog);
	if (!link) {
		err = -errno;
		goto cleanup;
	}
	bpf_link__destroy(link);
cleanup:
	features_bpf__destroy(skel);
	return err;
}

int bpf_features_probe(struct bpf_features *ret)
{
	static const char *const progs[] = {
		"cgroup_mkdir",	      "cgroup_rmdir",	    "cgroup_release",
		"cgroup_attach_task", "sched_process_fork", "sched_process_exec",
		"sched_process_exit", "mark_victim",	    "ringbuf",
	};
	libbpf_print_fn_t old = libbpf_set_print(silent_print);
	char name[64];

	memset(ret, 0, sizeof(*ret));
	ret->btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	if (!ret->btf) {
		libbpf_set_print(old);
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_feature *f = &ret->f[ret->n++];

		snprintf(name, sizeof(name), "probe_%s", progs[i]);
		f->name = progs[i];
		f->err = try_one(name);
		f->ok = f->err == 0;
	}
	libbpf_set_print(old);
	/* Nothing loads at all: not a kernel problem but a privilege one. */
	for (int i = 0; i < ret->n; i++)
		if (ret->f[i].ok || ret->f[i].err != -EPERM)
			return 0;
	return -EPERM;
}

bool bpf_features_has(const struct bpf_features *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->f[i].name, name))
			return f->f[i].ok;
	return false;
}
