// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup_path_resolve(): a table of real path shapes (REFERENCE.md §3) with
 * their expected results, rejections, a 200,000-path fuzz run (random bytes,
 * truncations, splices and mutations of valid paths, each in an exact-size heap
 * buffer so ASan sees any read past len) and a throughput figure.
 * KPLEG_FUZZ_SEED=<n> replays a fuzz run.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cgroup_path.h"
#include "util.h"

#define UID "3f2b6a1c-8d4e-4f7a-9b0c-1d2e3f4a5b6c"
#define UID_ "3f2b6a1c_8d4e_4f7a_9b0c_1d2e3f4a5b6c"
#define SUID "6d5b2a1a4a6a5c4f9ee7a1b2c3d4e5f6" /* static pod: MD5, no dashes */
#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define CID63 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
#define CIDUP "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define SD "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice"
#define SDB "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice"
#define SDG "/kubepods.slice/kubepods-pod" UID_ ".slice"
#define KIND "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/" \
	     "kubelet-kubepods-burstable-pod" UID_ ".slice"

struct want {
	const char *path;
	enum cg_kind kind;
	enum cg_runtime rt;
	enum cg_driver drv;
	const char *uid;
	const char *id;
	bool sub;
	const char *qos;
	bool unknown;
};

#define CT CG_CONTAINER
#define CD CG_RT_CONTAINERD
#define CRIO CG_RT_CRIO
#define DOCK CG_RT_DOCKER
#define PODM CG_RT_PODMAN
#define RTU CG_RT_UNKNOWN
#define FS CG_DRIVER_CGROUPFS
#define SYS CG_DRIVER_SYSTEMD
#define DRU CG_DRIVER_UNKNOWN

static const struct want cases[] = {
	/* containerd / cri-dockerd, cgroupfs driver, each QoS class */
	{ "/kubepods/besteffort/pod" UID "/" CID, CT, CD, FS, UID, CID, false, "besteffort", false },
	{ "/kubepods/burstable/pod" UID "/" CID, CT, CD, FS, UID, CID, false, "burstable", false },
	{ "/kubepods/pod" UID "/" CID, CT, CD, FS, UID, CID, false, "", false },
	/* leading/trailing/repeated slashes */
	{ "kubepods/burstable/pod" UID "/" CID, CT, CD, FS, UID, CID, false, "burstable", false },
	{ "/kubepods/burstable/pod" UID "/" CID "/", CT, CD, FS, UID, CID, false, "burstable", false },
	{ "//kubepods//pod" UID "//" CID "//", CT, CD, FS, UID, CID, false, "", false },
	/* CRI-O, cgroupfs; its conmon under the pod */
	{ "/kubepods/burstable/pod" UID "/crio-" CID, CT, CRIO, FS, UID, CID, false, "burstable", false },
	{ "/kubepods/pod" UID "/crio-conmon-" CID, CG_CONMON, CRIO, FS, UID, CID, false, "", false },
	/* pod-level cgroups */
	{ "/kubepods/burstable/pod" UID, CG_POD, RTU, FS, UID, "", false, "burstable", false },
	{ "/kubepods/pod" UID "/", CG_POD, RTU, FS, UID, "", false, "", false },
	{ SD, CG_POD, RTU, SYS, UID, "", false, "besteffort", false },
	{ SDG "/", CG_POD, RTU, SYS, UID, "", false, "", false },
	/* static pod (32-hex MD5 UID), both drivers */
	{ "/kubepods/burstable/pod" SUID "/" CID, CT, CD, FS, SUID, CID, false, "burstable", false },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" SUID ".slice/cri-containerd-" CID ".scope",
	  CT, CD, SYS, SUID, CID, false, "burstable", false },
	/* kubepods root and QoS cgroups: not pod cgroups, not unknown */
	{ "/kubepods", CG_NONE, RTU, FS, "", "", false, "", false },
	{ "/kubepods/besteffort/", CG_NONE, RTU, FS, "", "", false, "besteffort", false },
	{ "/kubepods.slice", CG_NONE, RTU, SYS, "", "", false, "", false },
	{ "/kubepods.slice/kubepods-burstable.slice", CG_NONE, RTU, SYS, "", "", false, "burstable", false },
	/* systemd driver: containerd, CRI-O, conmon, cri-dockerd, each QoS */
	{ SD "/cri-containerd-" CID ".scope", CT, CD, SYS, UID, CID, false, "besteffort", false },
	{ SDB "/cri-containerd-" CID ".scope", CT, CD, SYS, UID, CID, false, "burstable", false },
	{ SDG "/cri-containerd-" CID ".scope", CT, CD, SYS, UID, CID, false, "", false },
	{ SDB "/crio-" CID ".scope", CT, CRIO, SYS, UID, CID, false, "burstable", false },
	{ SDB "/crio-conmon-" CID ".scope", CG_CONMON, CRIO, SYS, UID, CID, false, "burstable", false },
	{ SDG "/docker-" CID2 ".scope", CT, DOCK, SYS, UID, CID2, false, "", false },
	/* containerd's runc "slice:prefix:id" path on a cgroupfs-style tree */
	{ "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" CID,
	  CT, CD, SYS, UID, CID, false, "burstable", false },
	{ "/system.slice/containerd.service/kubepods-pod" UID_ ".slice:cri-containerd:" CID,
	  CT, CD, SYS, UID, CID, false, "", false },
	{ "/system.slice/containerd.service/kubepods-besteffort-pod" SUID ".slice:cri-containerd:" CID "/",
	  CT, CD, SYS, SUID, CID, false, "besteffort", false },
	/* node-in-container prefixes (kind, docker-in-docker) */
	{ "/system.slice/docker-" CID2 ".scope/kubelet/kubepods/burstable/pod" UID "/" CID,
	  CT, CD, FS, UID, CID, false, "burstable", false },
	{ "/kubelet/kubepods/besteffort/pod" UID "/crio-" CID, CT, CRIO, FS, UID, CID, false, "besteffort", false },
	{ KIND "/cri-containerd-" CID ".scope", CT, CD, SYS, UID, CID, false, "burstable", false },
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope",
	  CT, CD, SYS, UID, CID, false, "", false },
	{ "/machine.slice/libpod-" CID2 ".scope" KIND "/cri-containerd-" CID ".scope",
	  CT, CD, SYS, UID, CID, false, "burstable", false },
	/* sub-cgroups below the container's cgroup */
	{ "/kubepods/burstable/pod" UID "/" CID "/init", CT, CD, FS, UID, CID, true, "burstable", false },
	{ SD "/cri-containerd-" CID ".scope/container", CT, CD, SYS, UID, CID, true, "besteffort", false },
	{ SDB "/crio-" CID ".scope/container/", CT, CRIO, SYS, UID, CID, true, "burstable", false },
	{ "/kubepods/pod" UID "/" CID "/a/b/c", CT, CD, FS, UID, CID, true, "", false },
	{ "/kubepods/pod" UID "/" CID "/kubelet/kubepods/pod" UID "/" CID2, CT, CD, FS, UID, CID, true, "", false },
	/* podman outside Kubernetes */
	{ "/machine.slice/libpod-" CID ".scope", CT, PODM, SYS, "", CID, false, "", false },
	{ "/machine.slice/libpod-" CID ".scope/container", CT, PODM, SYS, "", CID, true, "", false },
	{ "/machine.slice/libpod-conmon-" CID ".scope", CG_CONMON, PODM, SYS, "", CID, false, "", false },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" CID ".scope",
	  CT, PODM, SYS, "", CID, false, "", false },
	{ "/libpod_parent/libpod-" CID, CT, PODM, FS, "", CID, false, "", false },
	/* not pods at all */
	{ "", CG_NONE, RTU, DRU, "", "", false, "", false },
	{ "/", CG_NONE, RTU, DRU, "", "", false, "", false },
	{ "/system.slice/containerd.service", CG_NONE, RTU, DRU, "", "", false, "", false },
	{ "/system.slice/docker-" CID ".scope", CG_NONE, RTU, DRU, "", "", false, "", false },
	{ "/user.slice/kubepodsx/pod" UID "/" CID, CG_NONE, RTU, DRU, "", "", false, "", false },
	{ "/foo-kubepodsx.slice", CG_NONE, RTU, DRU, "", "", false, "", false },
	{ "/machine.slice/libpod-" CID63 ".scope", CG_NONE, RTU, DRU, "", "", false, "", false },
	/* under kubepods but malformed: CG_NONE + unknown_shape */
	{ "/kubepods/burstable/pod" UID "/" CID63, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod" UID "/" CID "0", CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod" UID "/" CIDUP, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod3F2B6A1C-8d4e-4f7a-9b0c-1d2e3f4a5b6c/" CID, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod" UID_ "/" CID, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod3f2b6a1c-8d4e-4f7a-9b0c1-d2e3f4a5b6c/" CID, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod3f2b6a1c-8d4e-4f7a-9b0c-1d2e3f4a5b6g/" CID, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod" UID "x/" CID, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/guaranteed/pod" UID "/" CID, CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod" UID "/cri-containerd-" CID ".scope", CG_NONE, RTU, FS, "", "", false, "", true },
	{ "/kubepods/burstable/pod" UID "/crio-" CID ".scope", CG_NONE, RTU, FS, "", "", false, "", true },
	{ SDB "/cri-containerd-" CID, CG_NONE, RTU, SYS, "", "", false, "", true },
	{ SDB "/" CID, CG_NONE, RTU, SYS, "", "", false, "", true },
	{ SDB "/crio-" CIDUP ".scope", CG_NONE, RTU, SYS, "", "", false, "", true },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" UID_ ".slice", CG_NONE, RTU, SYS, "", "", false, "", true },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID ".slice", CG_NONE, RTU, SYS, "", "", false, "", true },
	{ "/kubepods.slice/kubepods-pod" UID_, CG_NONE, RTU, SYS, "", "", false, "", true },
	{ "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" CID63,
	  CG_NONE, RTU, SYS, "", "", false, "", true },
	{ "/system.slice/containerd.service/xkubepods-burstable-pod" UID_ ".slice:cri-containerd:" CID,
	  CG_NONE, RTU, SYS, "", "", false, "", true },
	{ "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:crio:" CID,
	  CG_NONE, RTU, SYS, "", "", false, "", true },
};

static void check_nul(const struct cgroup_ref *r)
{
	assert_true(memchr(r->pod_uid, '\0', sizeof(r->pod_uid)) != NULL);
	assert_true(memchr(r->id, '\0', sizeof(r->id)) != NULL);
	assert_true(memchr(r->qos, '\0', sizeof(r->qos)) != NULL);
}

static void check_case(const struct want *w)
{
	struct cgroup_ref r;
	char *exact = malloc(strlen(w->path) + 1);
	size_t len = strlen(w->path);

	/* not NUL-terminated: ASan catches a read past len */
	memcpy(exact, w->path, len);
	memset(&r, 0x5a, sizeof(r));
	if (cgroup_path_resolve(exact, len, &r) != 0)
		fail_msg("rc != 0 for %s", w->path);
	free(exact);
	check_nul(&r);
	if (r.kind != w->kind || r.runtime != w->rt || r.driver != w->drv || r.sub != w->sub ||
	    r.unknown_shape != w->unknown || strcmp(r.pod_uid, w->uid) || strcmp(r.id, w->id) ||
	    strcmp(r.qos, w->qos))
		fail_msg("%s\n  got  kind=%s rt=%s drv=%s uid=%s id=%s sub=%d qos=%s unknown=%d\n"
			 "  want kind=%s rt=%s drv=%s uid=%s id=%s sub=%d qos=%s unknown=%d",
			 w->path, cg_kind_name(r.kind), cg_runtime_name(r.runtime),
			 cg_driver_name(r.driver), r.pod_uid, r.id, r.sub, r.qos, r.unknown_shape,
			 cg_kind_name(w->kind), cg_runtime_name(w->rt), cg_driver_name(w->drv),
			 w->uid, w->id, w->sub, w->qos, w->unknown);
}

static void test_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_case(&cases[i]);
	print_message("  %zu path shapes checked\n", ARRAY_SIZE(cases));
}

/* Malformed input: -EINVAL and *ret untouched. */
static void test_einval(void **state)
{
	static char big[CGROUP_PATH_MAX + 2];
	const char nul[] = "/kubepods/pod" UID "\0/" CID;
	struct cgroup_ref r, before;

	memset(&r, 0x77, sizeof(r));
	before = r;
	assert_int_equal(cgroup_path_resolve(NULL, 0, &r), -EINVAL);
	assert_int_equal(cgroup_path_resolve("/kubepods", 9, NULL), -EINVAL);
	assert_int_equal(cgroup_path_resolve(nul, sizeof(nul) - 1, &r), -EINVAL);
	assert_int_equal(cgroup_path_resolve("/kubepods\0", 10, &r), -EINVAL);
	memset(big, '/', sizeof(big));
	assert_int_equal(cgroup_path_resolve(big, CGROUP_PATH_MAX + 1, &r), -EINVAL);
	assert_memory_equal(&r, &before, sizeof(r));
	/* exactly the limit is fine; len stops before the NUL */
	assert_int_equal(cgroup_path_resolve(big, CGROUP_PATH_MAX, &r), 0);
	assert_int_equal(r.kind, CG_NONE);
	assert_int_equal(cgroup_path_resolve(nul, strlen(nul), &r), 0);
	assert_int_equal(r.kind, CG_POD);
	assert_string_equal(r.pod_uid, UID);
}

/* A pod cgroup path padded to the limit with a long node prefix still resolves. */
static void test_long_prefix(void **state)
{
	const char tail[] = "/kubepods/pod" UID "/" CID;
	char buf[CGROUP_PATH_MAX];
	size_t pre = sizeof(buf) - (sizeof(tail) - 1);
	struct cgroup_ref r;

	memset(buf, 'x', pre);
	buf[0] = '/';
	memcpy(buf + pre, tail, sizeof(tail) - 1);
	assert_int_equal(cgroup_path_resolve(buf, sizeof(buf), &r), 0);
	assert_int_equal(r.kind, CG_CONTAINER);
	assert_string_equal(r.id, CID);
}

/* ---- fuzz ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd(size_t n) { return n ? (size_t)(rng() % n) : 0; }

static char rnd_char(void)
{
	static const char alpha[] = "/////-_.:0123456789abcdefABCDEFkubepodsliceconmonpxyz\0";

	return rnd(8) == 0 ? (char)rng() : alpha[rnd(sizeof(alpha))];
}

/* Builds one fuzz input of length *len into buf (capacity CGROUP_PATH_MAX + 64). */
static void fuzz_input(char *buf, size_t *len)
{
	const char *a = cases[rnd(ARRAY_SIZE(cases))].path;
	const char *b = cases[rnd(ARRAY_SIZE(cases))].path;
	size_t la = strlen(a), lb = strlen(b), n, cap = CGROUP_PATH_MAX + 64;

	switch (rnd(5)) {
	case 0: /* random bytes, any length up to past the limit */
		n = rnd(8) == 0 ? rnd(cap) : rnd(300);
		for (size_t i = 0; i < n; i++)
			buf[i] = rnd_char();
		break;
	case 1: /* truncation */
		n = rnd(la + 1);
		memcpy(buf, a, n);
		break;
	case 2: { /* splice: head of a + tail of b */
		size_t ha = rnd(la + 1), tb = rnd(lb + 1);

		memcpy(buf, a, ha);
		memcpy(buf + ha, b + lb - tb, tb);
		n = ha + tb;
		break;
	}
	case 3: /* mutations of a */
		memcpy(buf, a, la);
		n = la;
		for (size_t k = rnd(4) + 1; k-- && n;)
			buf[rnd(n)] = rnd_char();
		break;
	default: /* a repeated (deep nesting), maybe past the limit */
		n = 0;
		for (size_t k = rnd(40) + 1; k-- && n + la <= cap;) {
			memcpy(buf + n, a, la);
			n += la;
		}
		break;
	}
	*len = n;
}

static void check_fuzz_result(int rc, const char *in, size_t len, const struct cgroup_ref *r,
			      const struct cgroup_ref *before)
{
	if (rc == -EINVAL) {
		assert_true(len > CGROUP_PATH_MAX || memchr(in, '\0', len));
		assert_memory_equal(r, before, sizeof(*r));
		return;
	}
	assert_int_equal(rc, 0);
	assert_true(len <= CGROUP_PATH_MAX && !memchr(in, '\0', len));
	check_nul(r);
	assert_in_range(r->kind, CG_NONE, CG_CONMON);
	assert_in_range(r->runtime, CG_RT_UNKNOWN, CG_RT_PODMAN);
	assert_in_range(r->driver, CG_DRIVER_UNKNOWN, CG_DRIVER_SYSTEMD);
	if (r->kind == CG_CONTAINER || r->kind == CG_CONMON)
		assert_int_equal(strlen(r->id), 64);
	else
		assert_string_equal(r->id, "");
	if (r->kind == CG_POD || (r->kind != CG_NONE && r->runtime != CG_RT_PODMAN))
		assert_true(strlen(r->pod_uid) == 36 || strlen(r->pod_uid) == 32);
	if (r->kind == CG_NONE)
		assert_string_equal(r->pod_uid, "");
	if (r->unknown_shape)
		assert_int_equal(r->kind, CG_NONE);
}

static void test_fuzz(void **state)
{
	const char *seed = getenv("KPLEG_FUZZ_SEED");
	size_t counts[2] = { 0 }, kinds[4] = { 0 }, unknown = 0;
	char *buf = malloc(CGROUP_PATH_MAX + 64);

	rng_state = seed ? strtoull(seed, NULL, 0) : now_mono_ns();
	rng_state |= 1;
	print_message("  fuzz seed %llu (KPLEG_FUZZ_SEED to replay)\n",
		      (unsigned long long)rng_state);
	for (int i = 0; i < 200000; i++) {
		struct cgroup_ref r, before;
		size_t len;
		char *exact;
		int rc;

		fuzz_input(buf, &len);
		exact = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
		memcpy(exact, buf, len);
		memset(&r, (int)rnd(256), sizeof(r));
		before = r;
		rc = cgroup_path_resolve(exact, len, &r);
		check_fuzz_result(rc, exact, len, &r, &before);
		counts[rc == 0]++;
		if (rc == 0) {
			kinds[r.kind]++;
			unknown += r.unknown_shape;
		}
		free(exact);
	}
	free(buf);
	print_message("  200000 inputs: %zu -EINVAL, %zu resolved (none %zu, pod %zu, "
		      "container %zu, conmon %zu; unknown shape %zu)\n", counts[0], counts[1],
		      kinds[0], kinds[1], kinds[2], kinds[3], unknown);
}

static void test_throughput(void **state)
{
	size_t lens[ARRAY_SIZE(cases)], n = 0;
	volatile unsigned sink = 0;
	const int rounds = 20000;
	struct cgroup_ref r;
	uint64_t t0, ns;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		lens[i] = strlen(cases[i].path);
	t0 = now_mono_ns();
	for (int k = 0; k < rounds; k++) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++, n++) {
			cgroup_path_resolve(cases[i].path, lens[i], &r);
			sink += r.kind;
		}
	}
	ns = now_mono_ns() - t0;
	print_message("  throughput: %zu paths in %.1f ms = %.2f M paths/s (%.0f ns/path)\n", n,
		      ns / 1e6, n / (ns / 1e9) / 1e6, (double)ns / n);
	(void)sink;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_einval),
		cmocka_unit_test(test_long_prefix),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
