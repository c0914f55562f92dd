/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege for `kpleg daemon` (privs.c): once start-up is done, keep
 * only the capabilities named, in every thread of the process.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct privs_keep {
	int cap;	 /* CAP_* */
	const char *why; /* logged beside it */
};

/*
 * In every thread (capabilities, the bounding set and no_new_privs are
 * per-thread in Linux, and gRPC, the tracker and the servers have started
 * theirs by now): effective = permitted = @keep (what of it is held),
 * inheritable and ambient empty, every other capability dropped from the
 * bounding set (skipped, with a log line, without CAP_SETPCAP: a process that
 * holds no capability has nothing to drop), no_new_privs set. Each kept
 * capability is logged with its reason. Then every thread's /proc status is
 * read back and must show exactly that. 0 or -errno (the caller must not go
 * on serving with more than it asked for).
 */
int privs_restrict(const struct privs_keep *keep, size_t n);

/* Whether this kernel checks CAP_BPF on every bpf() call, map reads through
 * an fd already open included: before Linux 5.19, while
 * kernel.unprivileged_bpf_disabled is not 0 (Debian's default is 2). */
bool privs_bpf_calls_need_cap(void);

/* "cap_dac_read_search", or "cap_NN" for a number this table predates. */
const char *privs_cap_name(int cap, char *buf, size_t size);
