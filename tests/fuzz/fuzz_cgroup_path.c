// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the cgroup path resolver (user/cgroup_path.c) on any
 * bytes, with the promises of cgroup_path.h checked on every answer. Input:
 * the path itself (not NUL-terminated; the resolver reads at most len bytes).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_path.h"

#define CHECK(x)                                                                          \
	do {                                                                              \
		if (!(x))                                                                 \
			abort();                                                          \
	} while (0)

static int lhex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Dashed 8-4-4-4-12 lower-case hex, or a static pod's 32 hex. */
static int uid_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 32)
		return lhex(u, 32);
	if (n != 36)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' : !lhex(&u[i], 1))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes, so ASan sees any read past the end. */
	char *p = malloc(size ? size : 1);
	struct cgroup_ref r, again;
	int e;

	if (!p)
		return 0;
	memcpy(p, data, size);
	memset(&r, 0x5a, sizeof(r));
	e = cgroup_path_resolve(p, size, &r);
	if (e < 0) {
		CHECK(e == -EINVAL);
		CHECK(size > CGROUP_PATH_MAX || memchr(p, '\0', size));
		goto out;
	}
	CHECK(size <= CGROUP_PATH_MAX && !memchr(p, '\0', size));
	CHECK(memchr(r.pod_uid, 0, sizeof(r.pod_uid)) && memchr(r.id, 0, sizeof(r.id)) &&
	      memchr(r.qos, 0, sizeof(r.qos)));
	CHECK(strcmp(cg_kind_name(r.kind), "?") && strcmp(cg_runtime_name(r.runtime), "?") &&
	      strcmp(cg_driver_name(r.driver), "?"));
	switch (r.kind) {
	case CG_NONE:
		CHECK(!*r.pod_uid && !*r.id && r.runtime == CG_RT_UNKNOWN && !r.sub);
		break;
	case CG_POD:
		CHECK(uid_ok(r.pod_uid) && !*r.id && !r.sub && !r.unknown_shape);
		break;
	case CG_CONTAINER:
	case CG_CONMON:
		CHECK(strlen(r.id) == 64 && lhex(r.id, 64) && !r.unknown_shape);
		CHECK(r.runtime != CG_RT_UNKNOWN);
		/* Only podman outside kubepods has no pod. */
		CHECK(r.runtime == CG_RT_PODMAN ? !*r.pod_uid : uid_ok(r.pod_uid));
		break;
	default:
		CHECK(0);
	}
	CHECK(!*r.qos || !strcmp(r.qos, "besteffort") || !strcmp(r.qos, "burstable"));
	/* Pure: the same bytes give the same answer. */
	memset(&again, 0, sizeof(again));
	CHECK(cgroup_path_resolve(p, size, &again) == 0);
	CHECK(again.kind == r.kind && again.runtime == r.runtime && again.driver == r.driver &&
	      again.sub == r.sub && again.unknown_shape == r.unknown_shape &&
	      !strcmp(again.pod_uid, r.pod_uid) && !strcmp(again.id, r.id) &&
	      !strcmp(again.qos, r.qos));
out:
	free(p);
	return 0;
}
