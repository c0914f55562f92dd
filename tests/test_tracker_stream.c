// SPDX-License-Identifier: Apache-2.0
/*
 * Evented mode when the event stream is not there: a stream that breaks
 * (UNAVAILABLE) and stays refused for longer than the kubelet's five retries,
 * with a container exiting meanwhile; runtimes without events (containerd
 * 1.6's UNIMPLEMENTED, CRI-O's OK-at-once). The evented relist period is
 * 10 min: only the fast relist while the stream is down explains detections.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tracker_helpers.h"

#define C_CREATED KPLEG_EVENT_CONTAINER_CREATED
#define C_STARTED KPLEG_EVENT_CONTAINER_STARTED
#define C_DIED KPLEG_EVENT_CONTAINER_DIED
#define C_REMOVED KPLEG_EVENT_CONTAINER_REMOVED
#define S_READY KPLEG_EVENT_SANDBOX_READY
#define S_NOTREADY KPLEG_EVENT_SANDBOX_NOTREADY
#define S_REMOVED KPLEG_EVENT_SANDBOX_REMOVED

static int setup_with(void **state, enum fakecri_events_mode events)
{
	*state = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_EVENTED, .events = events,
					      .relist_ms = 100, .backoff_ms = 200 });
	return 0;
}

static int setup_on(void **state)
{
	return setup_with(state, FAKECRI_EVENTS_ON);
}

static int setup_unimplemented(void **state)
{
	return setup_with(state, FAKECRI_EVENTS_UNIMPLEMENTED);
}

static int setup_empty_ok(void **state)
{
	return setup_with(state, FAKECRI_EVENTS_EMPTY_OK);
}

static int teardown(void **state)
{
	tk_fx_free(*state);
	return 0;
}

static void test_stream_break_and_recover(void **state)
{
	struct tk_fx *fx = *state;
	struct fakecri_fault refuse = { .code = GRPC_STATUS_UNAVAILABLE, .message = "restarting",
					.count = -1 };
	struct kpleg_health h0, h;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *a, *b;
	uint64_t r1;
	long calls;

	tk_start(fx);
	p = tk_pod_new(fx, "web");
	a = tk_ctr_add(fx, p, "a", true);
	e = tk_wait_event(fx, a, C_STARTED);
	assert_int_equal(e.source, KPLEG_SOURCE_CRI_EVENT);
	tk_health(fx, &h0);
	assert_true(h0.events_supported);
	assert_true(h0.stream_connects >= 1);

	/* The runtime drops the stream and refuses new ones for a while. */
	calls = fakecri__count_calls(fx->f, "GetContainerEvents");
	assert_int_equal(fakecri__set_fault(fx->f, "GetContainerEvents", &refuse), 0);
	assert_int_equal(fakecri__break_streams(fx->f, GRPC_STATUS_UNAVAILABLE), 1);
	TK_WAIT((tk_health(fx, &h), !h.events_connected), "stream still reported connected");
	tk_ctr_exit(fx, a, 7); /* nobody subscribed: no event anywhere */
	e = tk_wait_event(fx, a, C_DIED);
	assert_int_equal(e.source, KPLEG_SOURCE_RELIST);
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 7);

	/* More refused attempts than the kubelet's five; it keeps trying. */
	TK_WAIT(fakecri__count_calls(fx->f, "GetContainerEvents") >= calls + 7,
		"%ld reconnect attempts, want >= 7",
		fakecri__count_calls(fx->f, "GetContainerEvents") - calls);
	assert_int_equal(fakecri__set_fault(fx->f, "GetContainerEvents", NULL), 0);
	TK_WAIT((tk_health(fx, &h), h.events_connected && h.stream_connects > h0.stream_connects) &&
			fakecri__subscribers(fx->f) == 1,
		"not reconnected (connects %" PRIu64 ", subscribers %u)", h.stream_connects,
		fakecri__subscribers(fx->f));
	assert_true(h.stream_errors > h0.stream_errors);

	/* Events flow again, and the fast relist stops. */
	b = tk_ctr_add(fx, p, "b", true);
	tk_wait_event(fx, b, C_STARTED);
	tk_ctr_remove(fx, a);
	tk_wait_event(fx, a, C_REMOVED);
	tk_health(fx, &h);
	r1 = h.relists;
	usleep(600 * 1000); /* six fast-relist periods */
	tk_health(fx, &h);
	if (h.relists > r1 + 1)
		fail_msg("%" PRIu64 " relists in 600 ms with the stream up", h.relists - r1);

	TK_EXPECT_SEQ(fx, a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, b, C_CREATED, C_STARTED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY);
	TK_EXPECT_TOTAL(fx, 7);
}

/* Every step waited for: the fast relist reports each state. */
static void no_events_lifecycle(struct tk_fx *fx)
{
	struct kpleg_health h;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *a;
	uint64_t t0;

	tk_start(fx);
	tk_wait_relists(fx, 2);
	tk_health(fx, &h);
	assert_false(h.events_supported);
	assert_false(h.events_connected);

	p = tk_pod_new(fx, "web");
	tk_wait_event(fx, p->sb, S_READY);
	a = tk_ctr_add(fx, p, "a", false);
	tk_wait_event(fx, a, C_CREATED);
	tk_ctr_start(fx, a);
	tk_wait_event(fx, a, C_STARTED);
	t0 = testenv_now_ms();
	tk_ctr_exit(fx, a, 9);
	e = tk_wait_event(fx, a, C_DIED);
	/* 20 fast periods; the evented period is 10 min. */
	assert_true(testenv_now_ms() - t0 < 2000);
	assert_int_equal(e.source, KPLEG_SOURCE_RELIST);
	assert_int_equal(e.exit_code, 9);
	tk_ctr_remove(fx, a);
	tk_wait_event(fx, a, C_REMOVED);
	tk_pod_stop(fx, p);
	tk_wait_event(fx, p->sb, S_NOTREADY);
	tk_pod_remove(fx, p);
	tk_wait_event(fx, p->sb, S_REMOVED);
	tk_wait_relists(fx, 2);

	TK_EXPECT_SEQ(fx, a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY, S_NOTREADY, S_REMOVED);
	TK_EXPECT_TOTAL(fx, 7);
	/* Probing again is fine; spinning on it is not. */
	assert_true(fakecri__count_calls(fx->f, "GetContainerEvents") < 40);
}

static void test_events_unimplemented(void **state)
{
	no_events_lifecycle(*state);
}

static void test_events_empty_ok(void **state)
{
	no_events_lifecycle(*state);
}

/* Auto mode, no event stream, kernel hints up but silent (fakecri runs no
 * process): every transition after the first sync is one the relist found
 * and no faster source announced, the missed-event count. The relist runs at
 * the hinted period. */
static int setup_auto_no_events(void **state)
{
	*state = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_AUTO,
					      .events = FAKECRI_EVENTS_UNIMPLEMENTED,
					      .relist_ms = 100, .relist_hinted_ms = 150 });
	return 0;
}

static void test_missed_events(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_health h;
	struct tk_pod *p;
	const char *a;

	tk_start(fx);
	tk_health(fx, &h);
	if (!h.bpf_active)
		fail_msg("kernel hints not active (%s): this test needs root and BTF", h.bpf_state);
	assert_int_equal(h.missed_events, 0);
	p = tk_pod_new(fx, "quiet");
	tk_wait_event(fx, p->sb, S_READY);
	a = tk_ctr_add(fx, p, "a", true);
	tk_wait_event(fx, a, C_STARTED);
	tk_ctr_exit(fx, a, 2);
	tk_wait_event(fx, a, C_DIED);
	tk_wait_relists(fx, 1);
	tk_health(fx, &h);
	/* SandboxReady, ContainerCreated, ContainerStarted, ContainerDied */
	assert_int_equal(h.missed_events, 4);
	assert_int_equal(h.relist_period_ms, 150);
	assert_true(h.bpf_active);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stream_break_and_recover, setup_on, teardown),
		cmocka_unit_test_setup_teardown(test_events_unimplemented, setup_unimplemented,
						teardown),
		cmocka_unit_test_setup_teardown(test_events_empty_ok, setup_empty_ok, teardown),
		cmocka_unit_test_setup_teardown(test_missed_events, setup_auto_no_events, teardown),
	};

	return cmocka_run_group_tests_name("tracker_stream", tests, NULL, NULL);
}
