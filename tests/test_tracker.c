// SPDX-License-Identifier: Apache-2.0
/*
 * The tracker against fakecri: the kubelet's generic-PLEG unit scenarios
 * (REFERENCE.md §1) replayed through the public API only, plus the
 * GetNewerThan contract made reliable (kpleg_tracker__get_pod_newer_than).
 * Relists are frozen where a test needs two changes "between relists" by
 * faulting ListContainers, never by sleeping.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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

static int setup_with(void **state, const struct tk_opts *o)
{
	*state = tk_fx_new(o);
	return 0;
}

static int setup_generic(void **state)
{
	return setup_with(state, &(struct tk_opts){ .mode = KPLEG_MODE_GENERIC, .queue = true });
}

static int setup_health(void **state)
{
	return setup_with(state, &(struct tk_opts){ .mode = KPLEG_MODE_GENERIC, .health_ms = 300 });
}

/* Relist only once (at start): every later look at a pod is a targeted one. */
static int setup_slow(void **state)
{
	return setup_with(state, &(struct tk_opts){ .mode = KPLEG_MODE_GENERIC,
						    .relist_ms = 600000,
						    .call_timeout_ms = 1000 });
}

static int setup_evented(void **state)
{
	return setup_with(state, &(struct tk_opts){ .mode = KPLEG_MODE_EVENTED,
						    .events = FAKECRI_EVENTS_ON, .record = true });
}

static int teardown(void **state)
{
	tk_fx_free(*state);
	return 0;
}

static int want_for_state(Runtime__V1__ContainerState s)
{
	switch (s) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED: return C_CREATED;
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING: return C_STARTED;
	default: return C_DIED;
	}
}

/* The queue subscription saw exactly what the callback saw. */
static void expect_queue_matches_log(struct tk_fx *fx)
{
	struct pollfd pfd = { .fd = kpleg_subscription__fd(fx->q), .events = POLLIN };
	size_t n = tk_nevents(fx);
	struct kpleg_event e;

	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, TK_WAIT_MS), 1);
	assert_true(pfd.revents & POLLIN);
	for (size_t i = 0; i < n; i++) {
		struct kpleg_event want = tk_event(fx, i);

		assert_int_equal(kpleg_subscription__next(fx->q, &e), 0);
		assert_int_equal(e.seq, want.seq);
		assert_int_equal(e.type, want.type);
		assert_string_equal(tk_ev_key(&e), tk_ev_key(&want));
	}
	assert_int_equal(kpleg_subscription__next(fx->q, &e), -EAGAIN);
	assert_int_equal(poll(&pfd, 1, 0), 0);
}

/* Kubelet: "first relist reports existing containers and a second reports
 * nothing". One event per object for its current state. */
static void test_first_relist_reports_existing(void **state)
{
	struct tk_fx *fx = *state;
	Runtime__V1__ListPodSandboxResponse *pl = NULL;
	Runtime__V1__ListContainersResponse *cl = NULL;
	struct kpleg_pod_status **pods = NULL, *pod;
	const struct kpleg_container_status *cs;
	const struct kpleg_sandbox_status *ss;
	struct kpleg_health h;
	struct kpleg_event e;
	struct cri_status st;
	struct tk_pod *p;
	const char *run, *done, *fresh;
	size_t npods = 0;

	assert_int_equal(fakecri__populate(fx->f, 3, 2, true), 0);
	p = tk_pod_new(fx, "mixed");
	run = tk_ctr_add(fx, p, "run", true);
	done = tk_ctr_add(fx, p, "done", true);
	tk_ctr_exit(fx, done, 3);
	fresh = tk_ctr_add(fx, p, "fresh", false);
	tk_start(fx);

	/* Synced means every pod found has been fetched once. */
	assert_int_equal(kpleg_tracker__list_pods(fx->t, &pods, &npods), 0);
	assert_int_equal(npods, 4);
	kpleg_pod_list__free(pods, npods);

	assert_int_equal(cri_list_pod_sandbox(fx->c, NULL, 0, &pl, &st), 0);
	assert_int_equal(cri_list_containers(fx->c, NULL, 0, &cl, &st), 0);
	assert_int_equal(pl->n_items, 4);
	assert_int_equal(cl->n_containers, 9);
	tk_wait_nevents(fx, 13);
	for (size_t i = 0; i < pl->n_items; i++)
		TK_EXPECT_SEQ(fx, pl->items[i]->id, S_READY);
	for (size_t i = 0; i < cl->n_containers; i++)
		tk_expect_seq_(fx, cl->containers[i]->id,
			       TK_TYPES(want_for_state(cl->containers[i]->state)), 1, __FILE__,
			       __LINE__);

	e = tk_wait_event(fx, done, C_DIED);
	assert_int_equal(e.source, KPLEG_SOURCE_RELIST);
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 3);
	assert_string_equal(e.reason, "Error");
	assert_string_equal(e.container_name, "done");
	assert_string_equal(e.pod_uid, p->kp.uid);
	assert_string_equal(e.pod_name, "mixed");
	assert_string_equal(e.pod_namespace, "tk");
	assert_string_equal(e.sandbox_id, p->sb);
	e = tk_wait_event(fx, p->sb, S_READY);
	assert_string_equal(e.container_id, "");
	assert_string_equal(e.pod_uid, p->kp.uid);
	tk_wait_event(fx, run, C_STARTED);
	tk_wait_event(fx, fresh, C_CREATED);

	pod = tk_get_pod(fx, p->kp.uid);
	assert_non_null(pod);
	assert_string_equal(pod->name, "mixed");
	assert_string_equal(pod->namespace_, "tk");
	assert_int_equal(pod->last_error, 0);
	assert_int_equal(pod->n_containers, 3);
	assert_non_null(cs = tk_pod_ctr(pod, run));
	assert_int_equal(cs->state, KPLEG_CONTAINER_RUNNING);
	assert_string_equal(cs->name, "run");
	assert_string_equal(cs->sandbox_id, p->sb);
	assert_non_null(cs = tk_pod_ctr(pod, done));
	assert_int_equal(cs->state, KPLEG_CONTAINER_EXITED);
	assert_int_equal(cs->exit_code, 3);
	assert_non_null(cs = tk_pod_ctr(pod, fresh));
	assert_int_equal(cs->state, KPLEG_CONTAINER_CREATED);
	assert_non_null(ss = tk_pod_sb(pod, p->sb));
	assert_int_equal(ss->state, KPLEG_SANDBOX_READY);
	assert_string_not_equal(ss->ip, "");
	kpleg_pod_status__free(pod);

	/* The second (and third) relist reports nothing. */
	tk_wait_relists(fx, 2);
	TK_EXPECT_TOTAL(fx, 13);
	tk_health(fx, &h);
	assert_true(h.synced);
	assert_true(h.healthy);
	assert_int_equal(h.pods, 4);
	assert_int_equal(h.containers, 9);
	assert_int_equal(h.events_emitted, 13);
	/* Generic mode is the kubelet's generic PLEG: relists and nothing else. */
	assert_int_equal(fakecri__count_calls(fx->f, "GetContainerEvents"), 0);
	expect_queue_matches_log(fx);
	cri_msg_free(pl);
	cri_msg_free(cl);
}

/* Kubelet: "died and removed between relists" -> Died then Removed. */
static void test_died_and_removed_between_relists(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_pod_status *pod;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *a;

	p = tk_pod_new(fx, "web");
	a = tk_ctr_add(fx, p, "a", true);
	tk_start(fx);
	tk_wait_event(fx, a, C_STARTED);

	tk_block_relists(fx);
	tk_ctr_exit(fx, a, 0);
	tk_ctr_remove(fx, a);
	tk_unblock_relists(fx);
	tk_wait_event(fx, a, C_REMOVED);
	e = tk_wait_event(fx, a, C_DIED);
	assert_int_equal(e.source, KPLEG_SOURCE_RELIST);
	TK_EXPECT_SEQ(fx, a, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY);

	tk_wait_relists(fx, 2);
	TK_EXPECT_TOTAL(fx, 4);
	pod = tk_get_pod(fx, p->kp.uid);
	assert_non_null(pod);
	assert_int_equal(pod->n_containers, 0);
	assert_int_equal(pod->n_sandboxes, 1);
	kpleg_pod_status__free(pod);
}

/* Kubelet: "exited then garbage-collected gives Removed only" (it was seen
 * exited), for a container found already exited at start-up and for one born
 * later. A container born after start-up is reported with its whole life so
 * far (Created, and Started when started_at shows it ran), whenever it is
 * first seen. */
static void test_exited_then_removed(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *a, *old, *quick;

	p = tk_pod_new(fx, "job");
	old = tk_ctr_add(fx, p, "old", true);
	tk_ctr_exit(fx, old, 0);
	tk_start(fx);
	e = tk_wait_event(fx, old, C_DIED);
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 0);
	assert_string_equal(e.reason, "Completed");

	a = tk_ctr_add(fx, p, "a", true);
	tk_wait_event(fx, a, C_STARTED);
	tk_ctr_exit(fx, a, 2);
	e = tk_wait_event(fx, a, C_DIED);
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 2);
	assert_string_equal(e.reason, "Error");
	/* Born, run and exited between two relists. */
	tk_block_relists(fx);
	quick = tk_ctr_add(fx, p, "quick", true);
	tk_ctr_exit(fx, quick, 5);
	tk_unblock_relists(fx);
	e = tk_wait_event(fx, quick, C_DIED);
	assert_int_equal(e.exit_code, 5);

	tk_ctr_remove(fx, a);
	tk_ctr_remove(fx, old);
	tk_ctr_remove(fx, quick);
	tk_wait_event(fx, a, C_REMOVED);
	tk_wait_event(fx, old, C_REMOVED);
	tk_wait_event(fx, quick, C_REMOVED);
	tk_wait_relists(fx, 2);
	TK_EXPECT_SEQ(fx, old, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, quick, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY);
	TK_EXPECT_TOTAL(fx, 11);
}

/* Kubelet: "whole pod disappears": every object goes, each with the states it
 * had not been reported in. */
static void test_whole_pod_disappears(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_health h;
	struct tk_pod *p, *other;
	const char *a, *b, *o;

	p = tk_pod_new(fx, "gone");
	a = tk_ctr_add(fx, p, "a", true);
	b = tk_ctr_add(fx, p, "b", true);
	tk_ctr_exit(fx, b, 1);
	other = tk_pod_new(fx, "stays");
	o = tk_ctr_add(fx, other, "o", true);
	tk_start(fx);
	tk_wait_nevents(fx, 5);
	TK_EXPECT_SEQ(fx, a, C_STARTED);
	TK_EXPECT_SEQ(fx, b, C_DIED);

	tk_block_relists(fx);
	tk_pod_remove(fx, p); /* stops (kills a), removes a and b, then the sandbox */
	tk_unblock_relists(fx);
	tk_wait_event(fx, p->sb, S_REMOVED);
	tk_wait_event(fx, a, C_REMOVED);
	tk_wait_event(fx, b, C_REMOVED);
	tk_wait_relists(fx, 2);
	TK_EXPECT_SEQ(fx, a, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, b, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY, S_NOTREADY, S_REMOVED);
	TK_EXPECT_SEQ(fx, o, C_STARTED);
	TK_EXPECT_SEQ(fx, other->sb, S_READY);
	TK_EXPECT_TOTAL(fx, 10);
	assert_null(tk_get_pod(fx, p->kp.uid));
	tk_health(fx, &h);
	assert_int_equal(h.pods, 1);
	assert_int_equal(h.containers, 1);
}

/* Kubelet: "a status-fetch error stores the error, emits nothing, and emits
 * on the next successful relist without spurious events". */
static void test_status_fetch_error(void **state)
{
	struct tk_fx *fx = *state;
	struct fakecri_fault fault = { .code = GRPC_STATUS_INTERNAL, .message = "disk on fire",
				       .count = -1 };
	struct kpleg_pod_status *pod;
	struct kpleg_health h;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *a;
	uint64_t failures;
	long calls;

	p = tk_pod_new(fx, "web");
	a = tk_ctr_add(fx, p, "a", true);
	tk_start(fx);
	tk_wait_nevents(fx, 2);
	tk_health(fx, &h);
	failures = h.fetch_failures;

	assert_int_equal(fakecri__set_fault(fx->f, "ContainerStatus", &fault), 0);
	tk_ctr_exit(fx, a, 1);
	TK_WAIT((tk_health(fx, &h), h.fetch_failures >= failures + 2),
		"fetch failures %" PRIu64 ", want >= %" PRIu64, h.fetch_failures, failures + 2);
	pod = tk_get_pod(fx, p->kp.uid);
	assert_non_null(pod);
	assert_int_equal(pod->last_error, -EREMOTEIO);
	/* The old record is kept, so the diff fires again. */
	assert_int_equal(tk_pod_ctr(pod, a)->state, KPLEG_CONTAINER_RUNNING);
	kpleg_pod_status__free(pod);
	TK_EXPECT_TOTAL(fx, 2);

	/* Two more failures, then the runtime answers again. */
	calls = fakecri__count_calls(fx->f, "ContainerStatus");
	fault.count = 2;
	assert_int_equal(fakecri__set_fault(fx->f, "ContainerStatus", &fault), 0);
	e = tk_wait_event(fx, a, C_DIED);
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 1);
	assert_true(fakecri__count_calls(fx->f, "ContainerStatus") >= calls + 3);
	tk_wait_relists(fx, 2);
	TK_EXPECT_SEQ(fx, a, C_STARTED, C_DIED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY);
	TK_EXPECT_TOTAL(fx, 3);
	pod = tk_get_pod(fx, p->kp.uid);
	assert_int_equal(pod->last_error, 0);
	assert_int_equal(tk_pod_ctr(pod, a)->state, KPLEG_CONTAINER_EXITED);
	assert_int_equal(tk_pod_ctr(pod, a)->exit_code, 1);
	kpleg_pod_status__free(pod);
}

/* Kubelet: "health after the threshold": unhealthy once no relist has
 * succeeded for health_threshold_ms, healthy again after one does. */
static void test_health_threshold(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_health h, h1;
	uint64_t blocked_at;

	tk_start(fx);
	tk_health(fx, &h);
	assert_true(h.healthy);
	assert_true(h.last_relist_mono_ns > 0);

	tk_block_relists(fx);
	blocked_at = kpleg_now_mono_ns();
	TK_WAIT((tk_health(fx, &h1), !h1.healthy), "still healthy with every relist failing");
	assert_string_not_equal(h1.reason, "");
	assert_true(h1.relist_failures > h.relist_failures);
	/* The last successful relist does not advance while they fail. */
	assert_true(h1.last_relist_mono_ns < blocked_at);
	print_message("unhealthy: \"%s\"\n", h1.reason);

	tk_unblock_relists(fx);
	TK_WAIT((tk_health(fx, &h), h.healthy), "not healthy again: %s", h.reason);
	assert_true(h.last_relist_mono_ns > h1.last_relist_mono_ns);
	TK_EXPECT_TOTAL(fx, 0);
}

/* Kubelet: "sandbox state changes". */
static void test_sandbox_state_changes(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_pod_status *pod;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *a;

	p = tk_pod_new(fx, "web");
	a = tk_ctr_add(fx, p, "a", true);
	tk_start(fx);
	tk_wait_nevents(fx, 2);

	tk_pod_stop(fx, p); /* kills a: 137, "Error" */
	tk_wait_event(fx, p->sb, S_NOTREADY);
	e = tk_wait_event(fx, a, C_DIED);
	assert_true(e.has_exit_code);
	assert_int_equal(e.exit_code, 137);
	pod = tk_get_pod(fx, p->kp.uid);
	assert_int_equal(tk_pod_sb(pod, p->sb)->state, KPLEG_SANDBOX_NOTREADY);
	assert_int_equal(tk_pod_ctr(pod, a)->state, KPLEG_CONTAINER_EXITED);
	kpleg_pod_status__free(pod);

	tk_pod_remove(fx, p);
	tk_wait_event(fx, p->sb, S_REMOVED);
	tk_wait_event(fx, a, C_REMOVED);
	tk_wait_relists(fx, 2);
	TK_EXPECT_SEQ(fx, a, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, p->sb, S_READY, S_NOTREADY, S_REMOVED);
	TK_EXPECT_TOTAL(fx, 6);
	assert_null(tk_get_pod(fx, p->kp.uid));
}

/* Kubelet: "pod IP kept when the new status has none" (a stopped sandbox's
 * network is gone). The statuses come from an event, complete, so the tracker
 * has no reason to fetch: only keeping the old IP explains the result. */
static void test_pod_ip_kept(void **state)
{
	struct tk_fx *fx = *state;
	const Runtime__V1__ContainerEventResponse *rec;
	Runtime__V1__ContainerEventResponse ev;
	Runtime__V1__PodSandboxStatus sbs;
	Runtime__V1__PodSandboxNetworkStatus net;
	struct kpleg_pod_status *pod;
	char ip[64];
	struct tk_pod *p;
	const char *a, *b;

	tk_start(fx);
	p = tk_pod_new(fx, "web");
	a = tk_ctr_add(fx, p, "a", true);
	tk_wait_event(fx, a, C_STARTED);
	pod = tk_get_pod(fx, p->kp.uid);
	snprintf(ip, sizeof(ip), "%s", tk_pod_sb(pod, p->sb)->ip);
	kpleg_pod_status__free(pod);
	rec = tk_rec_find(fx, a, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	assert_non_null(rec->pod_sandbox_status);
	assert_non_null(rec->pod_sandbox_status->network);
	assert_string_equal(ip, rec->pod_sandbox_status->network->ip);

	/* The same snapshot, once with an empty IP, once without a network. */
	ev = *rec;
	sbs = *rec->pod_sandbox_status;
	net = *sbs.network;
	net.ip = (char *)"";
	sbs.network = &net;
	ev.pod_sandbox_status = &sbs;
	tk_emit(fx, &ev, tk_now_real_ns());
	sbs.network = NULL;
	tk_emit(fx, &ev, tk_now_real_ns());
	/* Marker: the stream is read in order. */
	b = tk_ctr_add(fx, p, "b", false);
	tk_wait_event(fx, b, C_CREATED);

	pod = tk_get_pod(fx, p->kp.uid);
	assert_string_equal(tk_pod_sb(pod, p->sb)->ip, ip);
	assert_int_equal(tk_pod_sb(pod, p->sb)->state, KPLEG_SANDBOX_READY);
	kpleg_pod_status__free(pod);
	TK_EXPECT_SEQ(fx, p->sb, S_READY);
	TK_EXPECT_SEQ(fx, a, C_CREATED, C_STARTED);
	TK_EXPECT_TOTAL(fx, 4);
}

static void reset_counts(struct tk_fx *fx)
{
	fakecri__reset_counts(fx->f);
}

static long status_calls(struct tk_fx *fx)
{
	return fakecri__count_calls(fx->f, "PodSandboxStatus") +
	       fakecri__count_calls(fx->f, "ContainerStatus");
}

static long all_calls(struct tk_fx *fx)
{
	return status_calls(fx) + fakecri__count_calls(fx->f, "ListPodSandbox") +
	       fakecri__count_calls(fx->f, "ListContainers");
}

/* Kubelet: "newer/older/zero timestamp" reads, here GetNewerThan made
 * reliable: fresh enough answers at once; newer asks the runtime about that
 * pod only. The relist period is 10 min, so no relist can explain anything. */
static void test_get_pod_newer_than(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_pod_status *pod = NULL;
	struct tk_pod *p, *q;
	const char *c1, *c2, *qc;
	uint64_t before, t, t0;
	int r;

	q = tk_pod_new(fx, "other");
	qc = tk_ctr_add(fx, q, "q", true);
	p = tk_pod_new(fx, "target");
	c1 = tk_ctr_add(fx, p, "c1", true);
	c2 = tk_ctr_add(fx, p, "c2", true);
	assert_int_equal(fakecri__populate(fx->f, 20, 2, true), 0);
	before = kpleg_now_mono_ns();
	tk_start(fx);
	tk_wait_event(fx, c1, C_STARTED);
	tk_wait_event(fx, c2, C_STARTED);
	tk_wait_event(fx, qc, C_STARTED);

	/* Zero and older: at once, from the cache. */
	reset_counts(fx);
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, p->kp.uid, 0, 1000, &pod), 0);
	assert_string_equal(pod->name, "target");
	assert_int_equal(pod->n_containers, 2);
	kpleg_pod_status__free(pod);
	pod = NULL;
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, p->kp.uid, before, 1000, &pod), 0);
	assert_true(pod->observed_mono_ns >= before);
	kpleg_pod_status__free(pod);
	pod = NULL;
	assert_int_equal(all_calls(fx), 0);

	/* Newer: the runtime is asked about this pod, and only this pod. */
	tk_ctr_exit(fx, c1, 4);
	tk_ctr_exit(fx, qc, 5);
	t = kpleg_now_mono_ns();
	reset_counts(fx);
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, p->kp.uid, t, TK_WAIT_MS, &pod), 0);
	assert_true(pod->observed_mono_ns >= t);
	assert_int_equal(tk_pod_ctr(pod, c1)->state, KPLEG_CONTAINER_EXITED);
	assert_int_equal(tk_pod_ctr(pod, c1)->exit_code, 4);
	assert_int_equal(tk_pod_ctr(pod, c2)->state, KPLEG_CONTAINER_RUNNING);
	kpleg_pod_status__free(pod);
	pod = NULL;
	tk_wait_event(fx, c1, C_DIED);
	assert_true(fakecri__count_calls(fx->f, "ContainerStatus") <= 2);
	assert_true(fakecri__count_calls(fx->f, "PodSandboxStatus") <= 1);
	assert_true(status_calls(fx) >= 1);

	/* A targeted request: same, without waiting on it. */
	tk_ctr_exit(fx, c2, 0);
	assert_int_equal(kpleg_tracker__request_pod(fx->t, p->kp.uid), 0);
	tk_wait_event(fx, c2, C_DIED);

	/* Unknown pods: from the cache with a zero time, from the runtime
	 * with a newer one; either way no such pod. */
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, "no-such-uid", 0, 1000, &pod),
			 -ENOENT);
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, "no-such-uid",
							   kpleg_now_mono_ns(), TK_WAIT_MS, &pod),
			 -ENOENT);
	assert_null(pod);

	/* Q changed in the runtime but nobody relisted everything. */
	TK_EXPECT_SEQ(fx, qc, C_STARTED);
	TK_EXPECT_SEQ(fx, c1, C_STARTED, C_DIED);
	TK_EXPECT_SEQ(fx, c2, C_STARTED, C_DIED);

	/* A runtime that hangs: -ETIMEDOUT on time. */
	{
		struct fakecri_fault hang = { .delay_ms = 3000, .count = -1 };
		static const char *const m[] = { "ListPodSandbox", "ListContainers",
						 "PodSandboxStatus", "ContainerStatus" };

		for (size_t i = 0; i < 4; i++)
			assert_int_equal(fakecri__set_fault(fx->f, m[i], &hang), 0);
		t0 = testenv_now_ms();
		r = kpleg_tracker__get_pod_newer_than(fx->t, p->kp.uid, kpleg_now_mono_ns(), 300,
						      &pod);
		assert_int_equal(r, -ETIMEDOUT);
		assert_null(pod);
		assert_true(testenv_now_ms() - t0 >= 250);
		assert_true(testenv_now_ms() - t0 < 1500);
		fakecri__clear_faults(fx->f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_relist_reports_existing, setup_generic,
						teardown),
		cmocka_unit_test_setup_teardown(test_died_and_removed_between_relists,
						setup_generic, teardown),
		cmocka_unit_test_setup_teardown(test_exited_then_removed, setup_generic, teardown),
		cmocka_unit_test_setup_teardown(test_whole_pod_disappears, setup_generic, teardown),
		cmocka_unit_test_setup_teardown(test_status_fetch_error, setup_generic, teardown),
		cmocka_unit_test_setup_teardown(test_health_threshold, setup_health, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_state_changes, setup_generic, teardown),
		cmocka_unit_test_setup_teardown(test_pod_ip_kept, setup_evented, teardown),
		cmocka_unit_test_setup_teardown(test_get_pod_newer_than, setup_slow, teardown),
	};

	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
