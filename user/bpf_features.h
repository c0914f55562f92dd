/* SPDX-License-Identifier: Apache-2.0 */
/* What this kernel lets kpleg attach, probed at start-up (bpf/features.bpf.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct bpf_feature {
	const char *name; /* tracepoint, or "ringbuf" */
	bool ok;
	int err;	  /* -errno of the failed load or attach */
};

#define BPF_FEATURES_MAX 16

struct bpf_features {
	bool btf;	/* /sys/kernel/btf/vmlinux is there */
	int n;
	struct bpf_feature f[BPF_FEATURES_MAX];
};

/* Loads and attaches each probe program on its own and records the outcome.
 * Returns 0 when the probe ran (individual results in @ret), -errno when BPF
 * is not usable at all (no BTF: -ENOENT, no privilege: -EPERM). */
int bpf_features_probe(struct bpf_features *ret);

/* Whether the named feature was found usable. */
bool bpf_features_has(const struct bpf_features *f, const char *name);
