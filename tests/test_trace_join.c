// SPDX-License-Identifier: Apache-2.0
/* `kpleg trace`'s join (user/trace_join.c): each tracker's event lands in its
 * column of one row per (object, transition); a row is written once every
 * running tracker reported it (and its runtime timestamp was looked up), or
 * after the linger, or at the end; later reports never open a second row. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "trace_join.h"
#include "util.h"

#define ALL_THREE ((1u << TRACE_SRC_GENERIC) | (1u << TRACE_SRC_EVENTED) | (1u << TRACE_SRC_AUTO))
#define LINGER 12000000000ULL

struct written {
	struct trace_row rows[8];
	size_t n;
};

static int keep(const struct trace_row *r, void *ctx)
{
	struct written *w = ctx;

	assert_true(w->n < ARRAY_SIZE(w->rows));
	w->rows[w->n++] = *r;
	return 0;
}

static struct kpleg_event ev_of(enum kpleg_event_type type, const char *cid,
				enum kpleg_source source)
{
	struct kpleg_event ev = { .type = type, .source = source };

	strcpy(ev.pod_uid, "uid-1");
	strcpy(ev.pod_name, "web-0");
	strcpy(ev.pod_namespace, "shop");
	strcpy(ev.sandbox_id, "sb1");
	if (cid) {
		strcpy(ev.container_id, cid);
		strcpy(ev.container_name, "app");
	}
	return ev;
}

static struct kpleg_event died(const char *cid, enum kpleg_source source, int32_t code,
			       bool provisional, uint64_t kernel_ns)
{
	struct kpleg_event ev = ev_of(KPLEG_EVENT_CONTAINER_DIED, cid, source);

	ev.has_exit_code = true;
	ev.exit_code = code;
	strcpy(ev.reason, code ? "Error" : "Completed");
	ev.provisional = provisional;
	ev.kernel_mono_ns = kernel_ns;
	return ev;
}

static size_t flush(struct join *j, uint64_t now, bool all, struct written *w)
{
	size_t before = w->n;

	assert_int_equal(join_flush(j, now, LINGER, all, keep, w), 0);
	return w->n - before;
}

/* A ContainerDied seen by every source, the kernel's exit code corrected by
 * the runtime: one row, every column, the runtime's exit code. */
static void test_died_every_source(void **state)
{
	struct kpleg_event ev;
	struct join_lookup l[4];
	struct written w = { 0 };
	struct join *j;
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t v;

	assert_true(efd >= 0);
	assert_int_equal(join__new(efd, &j), 0);
	/* Before join_start: a first sync's state, not a transition. */
	ev = died("c0", KPLEG_SOURCE_RELIST, 1, false, 0);
	join_event(j, TRACE_SRC_GENERIC, &ev, 10);
	assert_int_equal(join_open_rows(j), 0);
	assert_true(read(efd, &v, sizeof(v)) < 0);

	join_start(j, ALL_THREE);
	ev = died("c1", KPLEG_SOURCE_KERNEL, 137, true, 1000);
	join_event(j, TRACE_SRC_AUTO, &ev, 1100);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	ev = died("c1", KPLEG_SOURCE_CRI_EVENT, 3, false, 0);
	join_event(j, TRACE_SRC_EVENTED, &ev, 1300);
	ev = died("c1", KPLEG_SOURCE_RELIST, 3, false, 0);
	join_event(j, TRACE_SRC_GENERIC, &ev, 1500);
	assert_int_equal(flush(j, 1600, false, &w), 0); /* auto's confirmation to come */
	ev = died("c1", KPLEG_SOURCE_RELIST, 3, false, 0);
	ev.type = KPLEG_EVENT_CONTAINER_CONFIRMED;
	ev.corrected = true;
	ev.kernel_mono_ns = 1000;
	join_event(j, TRACE_SRC_AUTO, &ev, 1400);
	/* Complete, but its runtime timestamp is still to be read. */
	assert_int_equal(flush(j, 1600, false, &w), 0);
	assert_int_equal(join_take_lookups(j, l, ARRAY_SIZE(l)), 1);
	assert_int_equal(l[0].src, TRACE_SRC_EVENTED); /* the first runtime-only tracker */
	assert_int_equal(l[0].transition, KPLEG_EVENT_CONTAINER_DIED);
	assert_string_equal(l[0].id, "c1");
	assert_string_equal(l[0].pod_uid, "uid-1");
	assert_int_equal(join_take_lookups(j, l, ARRAY_SIZE(l)), 0); /* handed out once */
	join_set_runtime(j, &l[0], 1005);
	assert_int_equal(flush(j, 1600, false, &w), 1);
	assert_string_equal(w.rows[0].pod_namespace, "shop");
	assert_string_equal(w.rows[0].pod_name, "web-0");
	assert_string_equal(w.rows[0].container_id, "c1");
	assert_int_equal(w.rows[0].transition, KPLEG_EVENT_CONTAINER_DIED);
	assert_true(w.rows[0].has_exit_code);
	assert_int_equal(w.rows[0].exit_code, 3);
	assert_string_equal(w.rows[0].reason, "Error");
	assert_int_equal(w.rows[0].t[TRACE_KERNEL], 1000);
	assert_int_equal(w.rows[0].t[TRACE_HINT], 1100);
	assert_int_equal(w.rows[0].t[TRACE_CRI_EVENT], 1300);
	assert_int_equal(w.rows[0].t[TRACE_RELIST], 1500);
	assert_int_equal(w.rows[0].t[TRACE_CONFIRMED], 1400);
	assert_int_equal(w.rows[0].t[TRACE_RUNTIME], 1005);
	assert_int_equal(join_open_rows(j), 0);
	/* A late report about a written row opens no second row. */
	ev = died("c1", KPLEG_SOURCE_RELIST, 3, false, 0);
	join_event(j, TRACE_SRC_GENERIC, &ev, 9000);
	assert_int_equal(join_open_rows(j), 0);
	join__free(j);
	close(efd);
}

/* The evented tracker's relist is not the event stream; kernel start times;
 * sandbox rows; transitions a trace does not record. */
static void test_columns(void **state)
{
	struct kpleg_event ev;
	struct join_lookup l[4];
	struct written w = { 0 };
	struct join *j;

	assert_int_equal(join__new(-1, &j), 0);
	join_start(j, ALL_THREE);
	ev = ev_of(KPLEG_EVENT_CONTAINER_STARTED, "c2", KPLEG_SOURCE_KERNEL);
	ev.kernel_mono_ns = 500;
	join_event(j, TRACE_SRC_AUTO, &ev, 700);
	ev = ev_of(KPLEG_EVENT_CONTAINER_STARTED, "c2", KPLEG_SOURCE_RELIST);
	join_event(j, TRACE_SRC_EVENTED, &ev, 800);
	join_event(j, TRACE_SRC_GENERIC, &ev, 900);
	ev = ev_of(KPLEG_EVENT_SANDBOX_NOTREADY, NULL, KPLEG_SOURCE_RELIST);
	join_event(j, TRACE_SRC_GENERIC, &ev, 950);
	ev = ev_of(KPLEG_EVENT_POD_SYNC, NULL, KPLEG_SOURCE_RELIST);
	join_event(j, TRACE_SRC_GENERIC, &ev, 960);
	assert_int_equal(join_open_rows(j), 2);
	assert_int_equal(join_take_lookups(j, l, ARRAY_SIZE(l)), 1); /* NotReady has no time */
	assert_int_equal(l[0].src, TRACE_SRC_EVENTED);
	join_set_runtime(j, &l[0], TRACE_NONE); /* the runtime had none */
	assert_int_equal(flush(j, 1000, false, &w), 1);
	assert_int_equal(w.rows[0].transition, KPLEG_EVENT_CONTAINER_STARTED);
	assert_int_equal(w.rows[0].t[TRACE_KERNEL], 500);
	assert_int_equal(w.rows[0].t[TRACE_CONFIRMED], 700);
	assert_int_equal(w.rows[0].t[TRACE_CRI_EVENT], TRACE_NONE);
	assert_int_equal(w.rows[0].t[TRACE_RELIST], 900);
	assert_int_equal(w.rows[0].t[TRACE_RUNTIME], TRACE_NONE);
	assert_int_equal(w.rows[0].t[TRACE_HINT], TRACE_NONE);
	assert_false(w.rows[0].has_exit_code);
	/* The sandbox row waits for the others until the linger is over. */
	assert_int_equal(flush(j, 950 + LINGER - 1, false, &w), 0);
	assert_int_equal(flush(j, 950 + LINGER, false, &w), 1);
	assert_int_equal(w.rows[1].transition, KPLEG_EVENT_SANDBOX_NOTREADY);
	assert_string_equal(w.rows[1].container_id, "");
	assert_string_equal(w.rows[1].sandbox_id, "sb1");
	assert_int_equal(w.rows[1].t[TRACE_RELIST], 950);
	join__free(j);
}

/* A provisional exit alone keeps the kernel's code; closing stops new rows
 * but not reports about open ones; the end writes everything open. */
static void test_close_and_end(void **state)
{
	struct kpleg_event ev;
	struct written w = { 0 };
	struct join *j;

	assert_int_equal(join__new(-1, &j), 0);
	join_start(j, (1u << TRACE_SRC_GENERIC) | (1u << TRACE_SRC_AUTO));
	ev = died("c3", KPLEG_SOURCE_KERNEL, 1, true, 100);
	join_event(j, TRACE_SRC_AUTO, &ev, 110);
	join_close(j);
	ev = died("c4", KPLEG_SOURCE_KERNEL, 2, true, 200);
	join_event(j, TRACE_SRC_AUTO, &ev, 210);
	assert_int_equal(join_open_rows(j), 1);
	ev = died("c3", KPLEG_SOURCE_RELIST, 1, false, 0);
	join_event(j, TRACE_SRC_GENERIC, &ev, 400);
	assert_int_equal(flush(j, 500, true, &w), 1);
	assert_string_equal(w.rows[0].container_id, "c3");
	assert_int_equal(w.rows[0].exit_code, 1);
	assert_int_equal(w.rows[0].t[TRACE_HINT], 110);
	assert_int_equal(w.rows[0].t[TRACE_RELIST], 400);
	assert_int_equal(w.rows[0].t[TRACE_CONFIRMED], TRACE_NONE);
	assert_int_equal(join_open_rows(j), 0);
	/* Seen only by the evented tracker's relist: no time, no row. */
	join_start(j, ALL_THREE);
	ev = ev_of(KPLEG_EVENT_CONTAINER_REMOVED, "c3", KPLEG_SOURCE_RELIST);
	join_event(j, TRACE_SRC_EVENTED, &ev, 600);
	assert_int_equal(join_open_rows(j), 0); /* closed: no new rows */
	join__free(j);
	assert_int_equal(join__new(-1, &j), 0);
	join_start(j, ALL_THREE);
	join_event(j, TRACE_SRC_EVENTED, &ev, 600);
	assert_int_equal(join_open_rows(j), 1);
	assert_int_equal(flush(j, 700, true, &w), 0);
	assert_int_equal(join_open_rows(j), 0);
	join__free(j);
	join__free(NULL);
}

static int fail_write(const struct trace_row *r, void *ctx)
{
	return -ENOSPC;
}

/* A write error stops the flush and keeps the row. */
static void test_write_error(void **state)
{
	struct kpleg_event ev = died("c5", KPLEG_SOURCE_RELIST, 0, false, 0);
	struct join *j;

	assert_int_equal(join__new(-1, &j), 0);
	join_start(j, 1u << TRACE_SRC_GENERIC);
	join_event(j, TRACE_SRC_GENERIC, &ev, 10);
	assert_int_equal(join_flush(j, 20, LINGER, true, fail_write, NULL), -ENOSPC);
	assert_int_equal(join_open_rows(j), 1);
	join__free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_died_every_source),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_close_and_end),
		cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
