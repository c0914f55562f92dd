// SPDX-License-Identifier: Apache-2.0
/*
 * Evented mode against every failure class the kubelet's evented PLEG hit
 * (REFERENCE.md §1): stale buffered events, events about removed objects,
 * seconds-vs-nanoseconds timestamps, one huge timestamp, containerd 2.0's
 * events without container statuses, the CREATED race and duplicates.
 *
 * The relist period is 10 min: whatever is detected here was detected from
 * the stream (or a fetch the stream asked for). Stale and duplicate events are
 * real events fakecri sent earlier, recorded by a subscriber of our own and
 * replayed with fakecri__emit_event. "Nothing happened" is checked after a
 * marker: a real change sent after the injected events, whose event proves
 * the tracker has read past them (one stream, read in order).
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
#include <time.h>
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

#define EV_CREATED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT
#define EV_STARTED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT
#define EV_STOPPED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT
#define EV_DELETED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT

/* A pod under test (p, container a running) and a pod for markers (m). */
struct world {
	struct tk_fx *fx;
	struct tk_pod p, m;
	const char *a;
	unsigned markers;
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->fx = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_EVENTED,
					     .events = FAKECRI_EVENTS_ON, .record = true });
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	tk_fx_free(w->fx);
	tk_pod_free(&w->p);
	tk_pod_free(&w->m);
	free(w);
	return 0;
}

/* Starts the tracker, then the pods; everything is seen through events. */
static void start_world(struct world *w)
{
	struct tk_fx *fx = w->fx;
	struct kpleg_health h;
	struct kpleg_event e;

	tk_start(fx);
	tk_pod_run(fx, &w->m, "markers");
	tk_pod_run(fx, &w->p, "web");
	w->a = tk_ctr_add(fx, &w->p, "a", true);
	e = tk_wait_event(fx, w->a, C_STARTED);
	assert_int_equal(e.source, KPLEG_SOURCE_CRI_EVENT);
	e = tk_wait_event(fx, w->p.sb, S_READY);
	assert_int_equal(e.source, KPLEG_SOURCE_CRI_EVENT);
	tk_wait_event(fx, w->m.sb, S_READY);
	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED);
	TK_EXPECT_TOTAL(fx, 4);
	/* New pods' sandbox events are completed by targeted fetches; let them
	 * finish, so that later changes are the stream's to report first. */
	TK_WAIT((tk_health(fx, &h), h.fetches_pending == 0), "%zu fetches pending",
		h.fetches_pending);
}

/* A real change after the injected events: once it is reported, the tracker
 * has read everything sent before it. */
static void marker(struct world *w)
{
	char name[16];
	const char *id;
	struct kpleg_event e;

	snprintf(name, sizeof(name), "mark%u", w->markers++);
	id = tk_ctr_add(w->fx, &w->m, name, false);
	e = tk_wait_event(w->fx, id, C_CREATED);
	assert_int_equal(e.source, KPLEG_SOURCE_CRI_EVENT);
}

static const Runtime__V1__ContainerEventResponse *rec(struct world *w, const char *id,
						       Runtime__V1__ContainerEventType type)
{
	return tk_rec_find(w->fx, id, type);
}

static enum kpleg_container_state cached_state(struct world *w, const char *id)
{
	struct kpleg_pod_status *pod = tk_get_pod(w->fx, w->p.kp.uid);
	const struct kpleg_container_status *c;
	enum kpleg_container_state s;

	assert_non_null(pod);
	c = tk_pod_ctr(pod, id);
	if (!c)
		fail_msg("container %.12s is not in the cache", id);
	s = c->state;
	kpleg_pod_status__free(pod);
	return s;
}

static bool cached(struct world *w, const char *id)
{
	struct kpleg_pod_status *pod = tk_get_pod(w->fx, w->p.kp.uid);
	bool found = tk_pod_ctr(pod, id) || tk_pod_sb(pod, id);

	kpleg_pod_status__free(pod);
	return found;
}

/* A STARTED snapshot (container RUNNING) arriving after the container has
 * exited: buffered in the runtime, delivered late. */
static void test_stale_started_after_exit(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	struct kpleg_health h0, h;
	struct kpleg_event e;

	start_world(w);
	tk_ctr_exit(fx, w->a, 1);
	e = tk_wait_event(fx, w->a, C_DIED);
	assert_int_equal(e.source, KPLEG_SOURCE_CRI_EVENT);
	assert_int_equal(e.exit_code, 1);
	tk_health(fx, &h0);

	tk_emit(fx, rec(w, w->a, EV_STARTED), -1);		/* as it was */
	tk_emit(fx, rec(w, w->a, EV_STARTED), tk_now_real_ns()); /* looking newer */
	tk_emit(fx, rec(w, w->a, EV_CREATED), tk_now_real_ns());
	marker(w);

	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED);
	TK_EXPECT_TOTAL(fx, 6);
	assert_int_equal(cached_state(w, w->a), KPLEG_CONTAINER_EXITED);
	tk_health(fx, &h);
	assert_true(h.events_received >= h0.events_received + 4);
	assert_true(h.stale_dropped >= h0.stale_dropped + 3);
}

/* Events about a removed container, then about a removed pod, must not
 * bring them back (tombstones). */
static void test_events_for_removed_objects(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	struct kpleg_pod_status **pods = NULL;
	size_t n = 0;

	start_world(w);
	tk_ctr_remove(fx, w->a); /* killed first: STOPPED, then DELETED */
	tk_wait_event(fx, w->a, C_REMOVED);
	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);

	tk_emit(fx, rec(w, w->a, EV_CREATED), tk_now_real_ns());
	tk_emit(fx, rec(w, w->a, EV_STARTED), tk_now_real_ns());
	tk_emit(fx, rec(w, w->a, EV_STOPPED), tk_now_real_ns());
	marker(w);
	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	assert_false(cached(w, w->a));

	tk_pod_remove(fx, &w->p);
	tk_wait_event(fx, w->p.sb, S_REMOVED);
	assert_null(tk_get_pod(fx, w->p.kp.uid));
	tk_emit(fx, rec(w, w->p.sb, EV_CREATED), tk_now_real_ns());
	tk_emit(fx, rec(w, w->p.sb, EV_STARTED), tk_now_real_ns());
	tk_emit(fx, rec(w, w->a, EV_STARTED), tk_now_real_ns());
	marker(w);

	assert_null(tk_get_pod(fx, w->p.kp.uid));
	assert_int_equal(kpleg_tracker__list_pods(fx->t, &pods, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(pods[0]->uid, w->m.kp.uid);
	kpleg_pod_list__free(pods, n);
	TK_EXPECT_SEQ(fx, w->p.sb, S_READY, S_NOTREADY, S_REMOVED);
	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_TOTAL(fx, 10);
}

/* Timestamps in seconds where nanoseconds are expected (REFERENCE.md §1):
 * they neither block nor reorder later updates, in either direction. */
static void test_seconds_timestamps(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	int64_t secs = (int64_t)time(NULL);
	struct kpleg_event e;
	const char *b, *c;

	start_world(w);
	/* A stale replay stamped in seconds: nothing. */
	tk_emit(fx, rec(w, w->a, EV_STARTED), secs);

	/* Real changes stamped in seconds after nanoseconds... */
	fakecri__set_clock(fx->f, secs);
	tk_ctr_exit(fx, w->a, 0);
	e = tk_wait_event(fx, w->a, C_DIED);
	assert_int_equal(e.source, KPLEG_SOURCE_CRI_EVENT);
	b = tk_ctr_add(fx, &w->p, "b", true);
	tk_wait_event(fx, b, C_STARTED);
	/* ...then nanoseconds after seconds... */
	fakecri__set_clock(fx->f, 0);
	tk_ctr_exit(fx, b, 2);
	e = tk_wait_event(fx, b, C_DIED);
	assert_int_equal(e.exit_code, 2);
	/* ...and seconds again. */
	fakecri__set_clock(fx->f, secs + 1);
	tk_ctr_remove(fx, b);
	tk_wait_event(fx, b, C_REMOVED);
	fakecri__set_clock(fx->f, 0);
	c = tk_ctr_add(fx, &w->p, "c", true);
	tk_wait_event(fx, c, C_STARTED);

	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED);
	TK_EXPECT_SEQ(fx, b, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, c, C_CREATED, C_STARTED);
	TK_EXPECT_SEQ(fx, w->p.sb, S_READY);
	TK_EXPECT_TOTAL(fx, 11);
	assert_int_equal(cached_state(w, w->a), KPLEG_CONTAINER_EXITED);
	assert_int_equal(cached_state(w, c), KPLEG_CONTAINER_RUNNING);
}

/* One huge timestamp (REFERENCE.md §1) does not make later updates look
 * older, whether they come from events or from a fetch. */
static void test_huge_timestamp(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	const int64_t huge = INT64_MAX - 1;
	struct kpleg_pod_status *pod = NULL;
	uint64_t t;
	const char *b;

	start_world(w);
	tk_emit(fx, rec(w, w->p.sb, EV_STARTED), huge);
	tk_emit(fx, rec(w, w->a, EV_STARTED), huge);
	fakecri__set_clock(fx->f, huge);
	b = tk_ctr_add(fx, &w->p, "b", false); /* CREATED event and created_at huge */
	tk_wait_event(fx, b, C_CREATED);
	fakecri__set_clock(fx->f, 0);

	tk_ctr_start(fx, b);
	tk_wait_event(fx, b, C_STARTED);
	tk_ctr_exit(fx, w->a, 0);
	tk_wait_event(fx, w->a, C_DIED);
	tk_ctr_exit(fx, b, 1);
	tk_wait_event(fx, b, C_DIED);
	tk_ctr_remove(fx, w->a);
	tk_wait_event(fx, w->a, C_REMOVED);
	/* A fetch after all that is applied, and not older than anything. */
	t = kpleg_now_mono_ns();
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, w->p.kp.uid, t, TK_WAIT_MS, &pod),
			 0);
	assert_true(pod->observed_mono_ns >= t);
	assert_null(tk_pod_ctr(pod, w->a));
	assert_int_equal(tk_pod_ctr(pod, b)->state, KPLEG_CONTAINER_EXITED);
	kpleg_pod_status__free(pod);

	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, b, C_CREATED, C_STARTED, C_DIED);
	TK_EXPECT_SEQ(fx, w->p.sb, S_READY);
	TK_EXPECT_TOTAL(fx, 9);
}

/* A pod made silently (fakecri__populate sends no event) with @n running
 * containers; its sandbox and container ids are copied out. */
static void silent_pod(struct world *w, unsigned n, char *sb, char (*ctrs)[KPLEG_ID_MAX])
{
	Runtime__V1__ListPodSandboxResponse *pl = NULL;
	Runtime__V1__ListContainersResponse *cl = NULL;
	Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
	struct cri_status st;
	size_t found = 0, nct;

	assert_int_equal(fakecri__populate(w->fx->f, 1, n, true), 0);
	assert_int_equal(cri_list_pod_sandbox(w->fx->c, NULL, 0, &pl, &st), 0);
	for (size_t i = 0; i < pl->n_items; i++)
		if (!strncmp(pl->items[i]->metadata->name, "pod-", 4)) {
			snprintf(sb, KPLEG_ID_MAX, "%s", pl->items[i]->id);
			found++;
		}
	cri_msg_free(pl);
	assert_int_equal(found, 1);
	filter.pod_sandbox_id = sb;
	assert_int_equal(cri_list_containers(w->fx->c, &filter, 0, &cl, &st), 0);
	nct = cl->n_containers;
	for (size_t i = 0; i < nct && i < n; i++)
		snprintf(ctrs[i], KPLEG_ID_MAX, "%s", cl->containers[i]->id);
	cri_msg_free(cl);
	assert_int_equal(nct, n);
}

/* Sends an event of @type about @id built from the runtime's current status
 * of sandbox @sb and, if @ctr, of that one container, whose state is then
 * replaced by @state (>= 0). */
static void emit_built(struct world *w, const char *id, Runtime__V1__ContainerEventType type,
		       const char *sb, const char *ctr, int state)
{
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__PodSandboxStatusResponse *ss = NULL;
	Runtime__V1__ContainerStatusResponse *cs = NULL;
	Runtime__V1__ContainerStatus copy, *one[1] = { &copy };
	struct cri_status st;
	int r;

	assert_int_equal(cri_pod_sandbox_status(w->fx->c, sb, 0, &ss, &st), 0);
	if (ctr && cri_container_status(w->fx->c, ctr, 0, &cs, &st) < 0) {
		cri_msg_free(ss);
		fail_msg("ContainerStatus %.12s: %s", ctr, st.message);
	}
	ev.container_id = (char *)id;
	ev.container_event_type = type;
	ev.created_at = tk_now_real_ns();
	ev.pod_sandbox_status = ss->status;
	if (cs) {
		copy = *cs->status;
		if (state >= 0) {
			copy.state = state;
			if (state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
				copy.started_at = 0;
		}
		ev.n_containers_statuses = 1;
		ev.containers_statuses = one;
	}
	r = fakecri__emit_event(w->fx->f, &ev);
	cri_msg_free(ss);
	cri_msg_free(cs);
	assert_int_equal(r, 0);
}

/* containerd 2.0 sent events without container statuses (REFERENCE.md §1):
 * an empty list is "unknown", not "no containers": fetch, never remove. */
static void test_empty_container_statuses(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	Runtime__V1__ContainerEventResponse ev;
	struct kpleg_pod_status *pod = NULL;
	char q[KPLEG_ID_MAX], qc[2][KPLEG_ID_MAX];

	start_world(w);
	ev = *rec(w, w->a, EV_STARTED);
	ev.n_containers_statuses = 0;
	ev.containers_statuses = NULL;
	fakecri__reset_counts(fx->f);
	/* (A DELETED about the container itself is the runtime's word that it
	 * is gone, statuses or not: not part of this failure class.) */
	ev.container_event_type = EV_STOPPED;
	tk_emit(fx, &ev, tk_now_real_ns());
	ev.container_event_type = EV_STARTED;
	tk_emit(fx, &ev, tk_now_real_ns());
	TK_WAIT(fakecri__count_calls(fx->f, "ContainerStatus") +
				fakecri__count_calls(fx->f, "ListContainers") >
			0,
		"no fetch after events without container statuses");
	marker(w);
	assert_int_equal(kpleg_tracker__get_pod_newer_than(fx->t, w->p.kp.uid, kpleg_now_mono_ns(),
							   TK_WAIT_MS, &pod),
			 0);
	if (!tk_pod_ctr(pod, w->a)) {
		kpleg_pod_status__free(pod);
		tk_dump(fx, 0);
		fail_msg("container a (running) is no longer in the cache after events "
			 "without container statuses and a fetch");
	}
	assert_int_equal(tk_pod_ctr(pod, w->a)->state, KPLEG_CONTAINER_RUNNING);
	kpleg_pod_status__free(pod);
	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED);
	TK_EXPECT_TOTAL(fx, 5);

	/* A pod the tracker never heard of, announced by its sandbox's event
	 * without container statuses: its containers are fetched and reported
	 * (born after start-up: their whole life so far). */
	silent_pod(w, 2, q, qc);
	emit_built(w, q, EV_STARTED, q, NULL, -1);
	tk_wait_event(fx, q, S_READY);
	for (size_t i = 0; i < 2; i++) {
		tk_wait_event(fx, qc[i], C_STARTED);
		TK_EXPECT_SEQ(fx, qc[i], C_CREATED, C_STARTED);
	}
	TK_EXPECT_SEQ(fx, q, S_READY);
	TK_EXPECT_TOTAL(fx, 10);
}

/* The CREATED race: a CREATED snapshot read after the container runs, both
 * for a container seen through its CREATED event and for one first seen
 * RUNNING (its STARTED came before its CREATED). */
static void test_created_race(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	char q[KPLEG_ID_MAX], qc[1][KPLEG_ID_MAX];

	start_world(w);
	tk_emit(fx, rec(w, w->a, EV_CREATED), -1);
	tk_emit(fx, rec(w, w->a, EV_CREATED), tk_now_real_ns());
	marker(w);
	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED);
	assert_int_equal(cached_state(w, w->a), KPLEG_CONTAINER_RUNNING);

	/* Out of order: STARTED, then CREATED, for a silently made container. */
	silent_pod(w, 1, q, qc);
	emit_built(w, qc[0], EV_STARTED, q, qc[0], -1);
	emit_built(w, qc[0], EV_CREATED, q, qc[0], RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
	marker(w);

	/* Born after start-up: its whole life so far, once. */
	TK_EXPECT_SEQ(fx, qc[0], C_CREATED, C_STARTED);
	TK_EXPECT_SEQ(fx, q, S_READY);
	TK_EXPECT_TOTAL(fx, 9);
}

/* Duplicates, right after the original and as a whole replayed history:
 * one lifecycle event per transition. */
static void test_duplicate_events(void **state)
{
	struct world *w = *state;
	struct tk_fx *fx = w->fx;
	const char *b;
	size_t n;

	start_world(w);
	tk_emit(fx, rec(w, w->a, EV_CREATED), -1);
	tk_emit(fx, rec(w, w->a, EV_STARTED), -1);
	tk_ctr_exit(fx, w->a, 3);
	tk_emit(fx, rec(w, w->a, EV_STOPPED), -1);
	tk_emit(fx, rec(w, w->a, EV_STOPPED), -1);
	tk_wait_event(fx, w->a, C_DIED);
	b = tk_ctr_add(fx, &w->p, "b", true);
	tk_emit(fx, rec(w, b, EV_CREATED), -1);
	tk_emit(fx, rec(w, b, EV_STARTED), -1);
	tk_emit(fx, rec(w, b, EV_STARTED), -1);
	tk_wait_event(fx, b, C_STARTED);
	tk_ctr_remove(fx, w->a);
	tk_emit(fx, rec(w, w->a, EV_DELETED), -1);
	tk_emit(fx, rec(w, w->a, EV_DELETED), -1);
	tk_wait_event(fx, w->a, C_REMOVED);
	marker(w);

	/* Everything fakecri ever sent about the pod, again, in order. */
	n = fx->nrec;
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__ContainerEventResponse *r = fx->recd[i];

		if (r->pod_sandbox_status && !strcmp(r->pod_sandbox_status->id, w->p.sb))
			tk_emit(fx, r, -1);
	}
	marker(w);

	TK_EXPECT_SEQ(fx, w->a, C_CREATED, C_STARTED, C_DIED, C_REMOVED);
	TK_EXPECT_SEQ(fx, b, C_CREATED, C_STARTED);
	TK_EXPECT_SEQ(fx, w->p.sb, S_READY);
	TK_EXPECT_TOTAL(fx, 10);
	assert_int_equal(cached_state(w, b), KPLEG_CONTAINER_RUNNING);
	assert_false(cached(w, w->a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stale_started_after_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_for_removed_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seconds_timestamps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_container_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_events, setup, teardown),
	};

	return cmocka_run_group_tests_name("tracker_immunity", tests, NULL, NULL);
}
