// SPDX-License-Identifier: Apache-2.0
/*
 * Provisional exits in the cache (user/cache_merge.c): the kernel's exit goes
 * in at once, marked provisional, and the runtime's status confirms it,
 * corrects it (another exit code, or an OOM kill only one side saw), or, when
 * the hint's retries ran out and the runtime still says running, overrules
 * it. A lagging runtime (still running) changes nothing, and a second kernel
 * report or a stale one after the runtime's word changes nothing either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "snapshot.h"

#define UID "11111111-2222-3333-4444-555555555555"
#define SB "sb1"
#define CT "ct1"

struct rec {
	size_t n;
	struct kpleg_event ev[16];
};

static void record(void *ctx, struct kpleg_event *ev)
{
	struct rec *r = ctx;

	if (r->n < 16)
		r->ev[r->n++] = *ev;
}

static void apply_ctr(struct cache *c, struct rec *r, enum kpleg_source src, uint64_t ns,
		      int state, int32_t code, const char *reason, bool provisional, bool oom,
		      bool overrule)
{
	struct snap_container sc = {
		.id = (char *)CT, .sandbox_id = (char *)SB, .name = (char *)"app",
		.reason = (char *)reason, .message = (char *)"", .image = (char *)"img",
		.state = state, .exit_code = code, .started_at = 100,
		.finished_at = state == KPLEG_CONTAINER_EXITED ? 200 : 0,
		.provisional = provisional, .oom = oom, .kernel_ns = provisional ? ns : 0,
	};
	struct snap *s = snap__new(UID, src, ns);

	assert_non_null(s);
	s->backfill = true;
	s->overrule = overrule;
	assert_int_equal(snap_add_container_copy(s, &sc), 0);
	assert_true(cache_apply(c, s, record, r) >= 0);
	snap__free(s);
}

/* A running container, as the runtime reported it. */
static struct cache *running(struct rec *r)
{
	struct cache *c = cache__new();

	assert_non_null(c);
	apply_ctr(c, r, KPLEG_SOURCE_RELIST, 10, KPLEG_CONTAINER_RUNNING, 0, "", false, false,
		  false);
	r->n = 0;
	return c;
}

static void kernel_exit(struct cache *c, struct rec *r, int32_t code, bool oom)
{
	apply_ctr(c, r, KPLEG_SOURCE_KERNEL, 20, KPLEG_CONTAINER_EXITED, code,
		  oom ? "OOMKilled" : code ? "Error" : "Completed", true, oom, false);
}

static void runtime_says(struct cache *c, struct rec *r, uint64_t ns, int state, int32_t code,
			 const char *reason)
{
	apply_ctr(c, r, KPLEG_SOURCE_KERNEL, ns, state, code, reason, false, false, false);
}

static void test_confirmed(void **state)
{
	struct rec r = { 0 };
	struct cache *c = running(&r);
	struct cache_stats st;

	kernel_exit(c, &r, 137, false);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].type, KPLEG_EVENT_CONTAINER_DIED);
	assert_int_equal(r.ev[0].source, KPLEG_SOURCE_KERNEL);
	assert_true(r.ev[0].provisional);
	assert_int_equal(r.ev[0].exit_code, 137);
	assert_int_equal(r.ev[0].kernel_mono_ns, 20);
	assert_true(cache_container(c, CT)->provisional);

	/* The runtime lags: still running. Nothing changes, nothing is stale. */
	runtime_says(c, &r, 25, KPLEG_CONTAINER_RUNNING, 0, "");
	assert_int_equal(r.n, 1);
	assert_true(cache_container(c, CT)->provisional);

	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 137, "Error");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[1].type, KPLEG_EVENT_CONTAINER_CONFIRMED);
	assert_false(r.ev[1].corrected);
	assert_false(r.ev[1].provisional);
	assert_int_equal(r.ev[1].exit_code, 137);
	assert_int_equal(r.ev[1].kernel_exit_code, 137);
	assert_int_equal(r.ev[1].kernel_mono_ns, 20);
	assert_int_equal(r.ev[1].observed_mono_ns, 30);
	assert_false(cache_container(c, CT)->provisional);

	/* Once confirmed, a late kernel report and a repeat are no news. */
	kernel_exit(c, &r, 137, false);
	runtime_says(c, &r, 40, KPLEG_CONTAINER_EXITED, 137, "Error");
	assert_int_equal(r.n, 2);
	cache_stats(c, &st);
	assert_int_equal(st.provisional, 1);
	assert_int_equal(st.confirmed, 1);
	assert_int_equal(st.corrected, 0);
	assert_int_equal(st.stale_dropped, 0);
	cache__free(c);
}

static void test_corrected_code(void **state)
{
	struct rec r = { 0 };
	struct cache *c = running(&r);
	struct cache_stats st;

	kernel_exit(c, &r, 1, false);
	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 2, "Error");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[1].type, KPLEG_EVENT_CONTAINER_CONFIRMED);
	assert_true(r.ev[1].corrected);
	assert_int_equal(r.ev[1].exit_code, 2);
	assert_int_equal(r.ev[1].kernel_exit_code, 1);
	assert_int_equal(cache_container(c, CT)->exit_code, 2);
	cache_stats(c, &st);
	assert_int_equal(st.corrected, 1);
	assert_int_equal(st.confirmed, 0);
	cache__free(c);
}

/* The runtime's OOMKilled and the kernel's OOM flag must agree, both ways. */
static void test_oom_agreement(void **state)
{
	struct rec r = { 0 };
	struct cache *c = running(&r);

	kernel_exit(c, &r, 137, true);
	assert_string_equal(r.ev[0].reason, "OOMKilled");
	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 137, "OOMKilled");
	assert_false(r.ev[1].corrected);
	cache__free(c);

	r.n = 0;
	c = running(&r);
	kernel_exit(c, &r, 137, true);
	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 137, "Error");
	assert_true(r.ev[1].corrected);
	assert_string_equal(cache_container(c, CT)->reason, "Error");
	cache__free(c);

	r.n = 0;
	c = running(&r);
	kernel_exit(c, &r, 137, false);
	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 137, "OOMKilled");
	assert_true(r.ev[1].corrected);
	cache__free(c);
}

/* The retries ran out and the runtime insists the container runs: its word
 * wins, and the correction says so. */
static void test_overruled(void **state)
{
	struct rec r = { 0 };
	struct cache *c = running(&r);

	kernel_exit(c, &r, 0, false);
	apply_ctr(c, &r, KPLEG_SOURCE_KERNEL, 50, KPLEG_CONTAINER_RUNNING, 0, "", false, false,
		  true);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[1].type, KPLEG_EVENT_CONTAINER_CONFIRMED);
	assert_true(r.ev[1].corrected);
	assert_false(r.ev[1].has_exit_code);
	assert_int_equal(cache_container(c, CT)->state, KPLEG_CONTAINER_RUNNING);
	assert_false(cache_container(c, CT)->provisional);
	cache__free(c);
}

/* Removed before the runtime's word came: Removed, no second Died. */
/* containerd restarted after the container's processes died while it was
 * down reports 255 "Unknown" (status lost): the kernel's exit stands, as a
 * confirmation, and later reports of the lost status change nothing. Without
 * a kernel exit, 255 "Unknown" is the runtime's word like any other. */
static void test_runtime_lost_status(void **state)
{
	struct rec r = { 0 };
	struct cache *c = running(&r);
	struct cache_stats st;

	kernel_exit(c, &r, 137, false);
	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 255, "Unknown");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[1].type, KPLEG_EVENT_CONTAINER_CONFIRMED);
	assert_false(r.ev[1].corrected);
	assert_int_equal(r.ev[1].exit_code, 137);
	assert_string_equal(r.ev[1].reason, "Error");
	assert_int_equal(cache_container(c, CT)->exit_code, 137);
	runtime_says(c, &r, 40, KPLEG_CONTAINER_EXITED, 255, "Unknown");
	assert_int_equal(r.n, 2);
	assert_int_equal(cache_container(c, CT)->exit_code, 137);
	cache_stats(c, &st);
	assert_int_equal(st.confirmed, 1);
	assert_int_equal(st.corrected, 0);
	cache__free(c);

	r.n = 0;
	c = running(&r);
	runtime_says(c, &r, 30, KPLEG_CONTAINER_EXITED, 255, "Unknown");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].type, KPLEG_EVENT_CONTAINER_DIED);
	assert_int_equal(r.ev[0].exit_code, 255);
	cache__free(c);
}

static void test_removed_while_provisional(void **state)
{
	struct rec r = { 0 };
	struct cache *c = running(&r);
	struct snap *s;

	kernel_exit(c, &r, 0, false);
	s = snap__new(UID, KPLEG_SOURCE_RELIST, 60);
	assert_non_null(s);
	assert_int_equal(snap_add_container_absent(s, CT, SB), 0);
	assert_true(cache_apply(c, s, record, &r) >= 0);
	snap__free(s);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ev[1].type, KPLEG_EVENT_CONTAINER_REMOVED);
	assert_null(cache_container(c, CT));
	cache__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confirmed),
		cmocka_unit_test(test_corrected_code),
		cmocka_unit_test(test_oom_agreement),
		cmocka_unit_test(test_overruled),
		cmocka_unit_test(test_runtime_lost_status),
		cmocka_unit_test(test_removed_while_provisional),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
