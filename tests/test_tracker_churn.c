// SPDX-License-Identifier: Apache-2.0
/*
 * 1,000 pods churning on fakecri (four threads creating, starting, exiting,
 * removing, stopping and deleting pods at once), in generic and in auto mode:
 * every object's events are checked against what happened to it.
 *
 * A container goes Created -> Started -> Died -> Removed and a sandbox
 * Ready -> NotReady -> Removed. The tracker may first see an object late (the
 * kubelet's blind spot: a relist sees only what exists then), so the events
 * about one object must be a contiguous run of that path starting where it was
 * first seen and ending at its final state: no duplicate, no gap, no
 * reordering, nothing missing at the end. Objects never seen at all are only
 * allowed when they are gone and no event stream could have told us (generic
 * mode, or events fakecri dropped).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tracker_helpers.h"

/* ASan makes each CRI call ~6x slower on fakecri's side and ours: the
 * sanitized build churns fewer pods to stay within its time budget (it is
 * there for memory errors; scale is the plain build's job). */
#ifdef __SANITIZE_ADDRESS__
#define NPODS 300
#else
#define NPODS 1000
#endif
#define NTHREADS 4
#define SLOTS 3 /* sandbox, c0, c1 */

enum { PATTERN_KEEP, PATTERN_EXIT, PATTERN_EXIT_REMOVE, PATTERN_STOP_POD, PATTERN_REMOVE_POD,
       NPATTERNS };

struct obj {
	char id[KPLEG_ID_MAX];
	bool sandbox;
	int final;	   /* index in the path */
	int32_t exit_code; /* when final >= Died for a container */
	int seq[8];
	size_t n;
};

struct churn {
	struct tk_fx *fx;
	struct tk_pod *pods;
	struct obj *objs; /* NPODS * SLOTS; id "" = unused */
	atomic_uint errors;
	char first_error[256];
};

/* Path indices: container Created 0 .. Removed 3; sandbox Ready 0 .. Removed 2. */
static int path_index(const struct kpleg_event *e, bool *sandbox)
{
	switch (e->type) {
	case KPLEG_EVENT_CONTAINER_CREATED: *sandbox = false; return 0;
	case KPLEG_EVENT_CONTAINER_STARTED: *sandbox = false; return 1;
	case KPLEG_EVENT_CONTAINER_DIED: *sandbox = false; return 2;
	case KPLEG_EVENT_CONTAINER_REMOVED: *sandbox = false; return 3;
	case KPLEG_EVENT_SANDBOX_READY: *sandbox = true; return 0;
	case KPLEG_EVENT_SANDBOX_NOTREADY: *sandbox = true; return 1;
	case KPLEG_EVENT_SANDBOX_REMOVED: *sandbox = true; return 2;
	default: return -1;
	}
}

static int removed_index(const struct obj *o)
{
	return o->sandbox ? 2 : 3;
}

/* ---- the churn -------------------------------------------------------------- */

static void record_error(struct churn *ch, const char *what, int r, const struct cri_status *st)
{
	if (atomic_fetch_add(&ch->errors, 1) == 0)
		snprintf(ch->first_error, sizeof(ch->first_error), "%s: %d %.200s", what, r,
			 st ? st->message : "");
}

static void set_obj(struct obj *o, const char *id, bool sandbox, int final)
{
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->sandbox = sandbox;
	o->final = final;
}

static void create_pod(struct churn *ch, size_t i)
{
	char *argv[] = { (char *)"/bin/sleep", (char *)"3600", NULL };
	struct tk_pod *p = &ch->pods[i];
	struct obj *o = &ch->objs[i * SLOTS];
	struct cri_status st;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "churn-%zu", i);
	if (kube_pod_init(&p->kp, NULL, name, "churn", KUBE_QOS_BURSTABLE) < 0 ||
	    (r = cri_run_pod_sandbox(ch->fx->c, &p->kp.cfg, 0, &p->sb, &st)) < 0) {
		record_error(ch, "RunPodSandbox", -EINVAL, NULL);
		return;
	}
	set_obj(&o[0], p->sb, true, 0);
	for (size_t k = 0; k < (i % 2 ? 2u : 1u); k++) {
		struct kube_container kc;

		snprintf(name, sizeof(name), "c%zu", k);
		if (kube_container_init(&kc, &p->kp, name, argv, 0) < 0) {
			record_error(ch, "kube_container_init", -EINVAL, NULL);
			return;
		}
		r = cri_create_container(ch->fx->c, p->sb, &kc.cfg, &p->kp.cfg, 0, &p->ct[k], &st);
		if (r < 0) {
			record_error(ch, "CreateContainer", r, &st);
			return;
		}
		p->nct++;
		r = cri_start_container(ch->fx->c, p->ct[k], 0, &st);
		if (r < 0) {
			record_error(ch, "StartContainer", r, &st);
			return;
		}
		set_obj(&o[1 + k], p->ct[k], false, 1);
	}
}

static void change_pod(struct churn *ch, size_t i)
{
	struct tk_pod *p = &ch->pods[i];
	struct obj *o = &ch->objs[i * SLOTS];
	struct cri_status st;
	int r = 0;

	if (!p->sb || !p->nct)
		return;
	switch (i / 2 % NPATTERNS) {
	case PATTERN_KEEP:
		return;
	case PATTERN_EXIT:
		o[1].final = 2;
		o[1].exit_code = (int32_t)(i % 3);
		r = fakecri__container_exit(ch->fx->f, p->ct[0], o[1].exit_code, NULL);
		break;
	case PATTERN_EXIT_REMOVE:
		o[1].final = 3;
		o[1].exit_code = 1;
		r = fakecri__container_exit(ch->fx->f, p->ct[0], 1, NULL);
		if (!r)
			r = cri_remove_container(ch->fx->c, p->ct[0], 0, &st);
		break;
	case PATTERN_STOP_POD:
	case PATTERN_REMOVE_POD: {
		bool remove = i / 2 % NPATTERNS == PATTERN_REMOVE_POD;

		o[0].final = remove ? 2 : 1;
		for (size_t k = 0; k < p->nct; k++) {
			o[1 + k].final = remove ? 3 : 2;
			o[1 + k].exit_code = 137;
		}
		r = cri_stop_pod_sandbox(ch->fx->c, p->sb, 0, &st);
		if (!r && remove)
			r = cri_remove_pod_sandbox(ch->fx->c, p->sb, 0, &st);
		break;
	}
	}
	if (r < 0)
		record_error(ch, "change", r, &st);
}

struct worker {
	struct churn *ch;
	unsigned k;
	pthread_t th;
};

/* Creates its pods, then changes them in the reverse order: while one thread
 * is still creating, the others are already exiting and removing. */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;

	for (size_t i = wk->k; i < NPODS; i += NTHREADS)
		create_pod(wk->ch, i);
	for (size_t i = NPODS; i-- > 0;)
		if (i % NTHREADS == wk->k)
			change_pod(wk->ch, i);
	return NULL;
}

static void run_churn(struct churn *ch)
{
	struct worker wk[NTHREADS];
	uint64_t t0 = testenv_now_ms();

	for (unsigned k = 0; k < NTHREADS; k++) {
		wk[k] = (struct worker){ .ch = ch, .k = k };
		assert_int_equal(pthread_create(&wk[k].th, NULL, worker_main, &wk[k]), 0);
	}
	for (unsigned k = 0; k < NTHREADS; k++)
		pthread_join(wk[k].th, NULL);
	if (atomic_load(&ch->errors))
		fail_msg("%u CRI calls failed during the churn, first: %s", atomic_load(&ch->errors),
			 ch->first_error);
	print_message("churn of %d pods took %" PRIu64 " ms\n", NPODS, testenv_now_ms() - t0);
}

/* ---- checking ----------------------------------------------------------------- */

static int obj_cmp(const void *a, const void *b)
{
	return strcmp((*(struct obj *const *)a)->id, (*(struct obj *const *)b)->id);
}

static int key_cmp(const void *key, const void *b)
{
	return strcmp(key, (*(struct obj *const *)b)->id);
}

struct verdict {
	size_t pending, unseen, from_start, pod_syncs;
	size_t unseen_runs; /* created, then gone before anyone saw it run */
	size_t nbad;	/* objects whose events can never become right */
	char bad[1024]; /* the first few of them */
};

static void add_bad(struct verdict *v, const char *what)
{
	size_t off = strlen(v->bad);

	if (v->nbad++ < 5)
		snprintf(v->bad + off, sizeof(v->bad) - off, "\n  %s", what);
}

static void describe(char *buf, size_t size, const struct obj *o, const char *why)
{
	static const char *const ctr[] = { "Created", "Started", "Died", "Removed" };
	static const char *const sb[] = { "Ready", "NotReady", "Removed" };
	const char *const *names = o->sandbox ? sb : ctr;
	size_t off = (size_t)snprintf(buf, size, "%s %.12s (ends %s): %s; got [",
				      o->sandbox ? "sandbox" : "container", o->id,
				      names[o->final], why);

	for (size_t i = 0; i < o->n && i < 8 && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "",
					names[o->seq[i]]);
	if (off < size)
		snprintf(buf + off, size - off, "]");
}

/* Rebuilds every object's sequence from the event log and judges it. */
static void judge(struct churn *ch, struct obj **index, size_t nidx, bool strict,
		  struct verdict *v)
{
	struct tk_fx *fx = ch->fx;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < nidx; i++)
		index[i]->n = 0;
	pthread_mutex_lock(&fx->lock);
	for (size_t i = 0; i < fx->n; i++) {
		const struct kpleg_event *e = &fx->ev[i];
		struct obj **hit;
		bool sandbox = false;
		int idx = path_index(e, &sandbox);

		if (idx < 0) {
			v->pod_syncs++;
			continue;
		}
		hit = bsearch(tk_ev_key(e), index, nidx, sizeof(*index), key_cmp);
		if (!hit || (*hit)->sandbox != sandbox) {
			char buf[128];

			snprintf(buf, sizeof(buf), "%s about unknown object %.12s",
				 kpleg_event_type_str(e->type), tk_ev_key(e));
			add_bad(v, buf);
			continue;
		}
		if ((*hit)->n < 8)
			(*hit)->seq[(*hit)->n] = idx;
		(*hit)->n++;
		if (e->type == KPLEG_EVENT_CONTAINER_DIED && e->has_exit_code &&
		    e->exit_code != (*hit)->exit_code) {
			char buf[128];

			snprintf(buf, sizeof(buf), "container %.12s died with %d, want %d",
				 (*hit)->id, e->exit_code, (*hit)->exit_code);
			add_bad(v, buf);
		}
	}
	pthread_mutex_unlock(&fx->lock);

	for (size_t i = 0; i < nidx; i++) {
		const struct obj *o = index[i];
		const char *why = NULL;

		if (o->n == 0) {
			if (o->final != removed_index(o))
				v->pending++;
			else if (strict)
				v->pending++; /* must show up: every event was delivered */
			else
				v->unseen++;
			continue;
		}
		if (o->n > 8)
			why = "too many events";
		for (size_t k = 1; !why && k < o->n; k++) {
			/* Without every event, a container created, run and
			 * removed between two relists is only seen created and
			 * gone: the relist's blind spot, which nothing but the
			 * kernel can close. Allowed only then, and counted. */
			if (!strict && !o->sandbox && o->seq[k - 1] == 0 &&
			    o->seq[k] == removed_index(o)) {
				v->unseen_runs++;
				continue;
			}
			if (o->seq[k] != o->seq[k - 1] + 1)
				why = "duplicate, gap or reordering";
		}
		if (!why && o->seq[o->n - 1] > o->final)
			why = "beyond its final state";
		if (why) {
			char buf[192];

			describe(buf, sizeof(buf), o, why);
			add_bad(v, buf);
			continue;
		}
		if (o->seq[o->n - 1] < o->final)
			v->pending++;
		if (o->seq[0] == 0)
			v->from_start++;
	}
}

/* Waits until every object's events end at its final state. */
static void wait_converged(struct churn *ch, struct obj **index, size_t nidx, bool strict,
			   struct verdict *v)
{
	uint64_t end = testenv_now_ms() + 20000;

	for (;;) {
		judge(ch, index, nidx, strict, v);
		if (v->nbad)
			fail_msg("%zu objects with wrong events, "
				 "e.g.:%s", v->nbad, v->bad);
		if (!v->pending)
			return;
		if (testenv_now_ms() > end)
			break;
		usleep(20000);
	}
	for (size_t i = 0, shown = 0; i < nidx && shown < 10; i++) {
		const struct obj *o = index[i];
		char buf[256];

		if ((o->n && o->seq[o->n - 1] < o->final) ||
		    (!o->n && (strict || o->final != removed_index(o)))) {
			describe(buf, sizeof(buf), o, "incomplete");
			print_error("%s\n", buf);
			shown++;
		}
	}
	fail_msg("%zu objects never reached their final state in 20 s", v->pending);
}

/* The cache agrees with the runtime at the end. */
static void expect_cache(struct churn *ch)
{
	struct kpleg_pod_status **pods = NULL;
	struct kpleg_health h;
	size_t n = 0, live_pods = 0, live_ctrs = 0;

	for (size_t i = 0; i < NPODS; i++) {
		const struct obj *o = &ch->objs[i * SLOTS];
		struct kpleg_pod_status *pod = tk_get_pod(ch->fx, ch->pods[i].kp.uid);

		if (o[0].final == 2) {
			assert_null(pod);
			continue;
		}
		live_pods++;
		assert_non_null(pod);
		assert_int_equal(tk_pod_sb(pod, o[0].id)->state,
				 o[0].final ? KPLEG_SANDBOX_NOTREADY : KPLEG_SANDBOX_READY);
		for (size_t k = 1; k < SLOTS; k++) {
			const struct kpleg_container_status *c;

			if (!o[k].id[0])
				continue;
			c = tk_pod_ctr(pod, o[k].id);
			if (o[k].final == 3) {
				assert_null(c);
				continue;
			}
			live_ctrs++;
			assert_non_null(c);
			assert_int_equal(c->state, o[k].final == 1 ? KPLEG_CONTAINER_RUNNING
								   : KPLEG_CONTAINER_EXITED);
			if (o[k].final == 2)
				assert_int_equal(c->exit_code, o[k].exit_code);
		}
		assert_int_equal(pod->last_error, 0);
		kpleg_pod_status__free(pod);
	}
	assert_int_equal(kpleg_tracker__list_pods(ch->fx->t, &pods, &n), 0);
	kpleg_pod_list__free(pods, n);
	assert_int_equal(n, live_pods);
	tk_health(ch->fx, &h);
	assert_int_equal(h.pods, live_pods);
	assert_int_equal(h.containers, live_ctrs);
	assert_int_equal(h.subscriber_drops, 0);
}

static int setup(void **state)
{
	struct churn *ch = calloc(1, sizeof(*ch));

	assert_non_null(ch);
	ch->pods = calloc(NPODS, sizeof(*ch->pods));
	ch->objs = calloc(NPODS * SLOTS, sizeof(*ch->objs));
	assert_non_null(ch->pods);
	assert_non_null(ch->objs);
	*state = ch;
	return 0;
}

static int teardown(void **state)
{
	struct churn *ch = *state;

	tk_fx_free(ch->fx);
	for (size_t i = 0; i < NPODS; i++)
		tk_pod_free(&ch->pods[i]);
	free(ch->pods);
	free(ch->objs);
	free(ch);
	return 0;
}

static void churn_test(struct churn *ch, const struct tk_opts *o, bool strict)
{
	struct obj *index[NPODS * SLOTS];
	struct verdict v;
	size_t nidx = 0, total;

	ch->fx = tk_fx_new(o);
	tk_start(ch->fx);
	run_churn(ch);
	print_message("fakecri dropped %" PRIu64 " events during the churn\n",
		      fakecri__dropped_events(ch->fx->f));
	for (size_t i = 0; i < NPODS * SLOTS; i++)
		if (ch->objs[i].id[0])
			index[nidx++] = &ch->objs[i];
	qsort(index, nidx, sizeof(*index), obj_cmp);

	wait_converged(ch, index, nidx, strict, &v);
	total = tk_nevents(ch->fx);
	/* Later relists add nothing. */
	tk_wait_relists(ch->fx, 2);
	wait_converged(ch, index, nidx, strict, &v);
	TK_EXPECT_TOTAL(ch->fx, total);
	expect_cache(ch);
	print_message("%zu objects, %zu events: %zu seen from their start, %zu never seen, "
		      "%zu seen created then gone, %zu pod syncs, fakecri dropped %" PRIu64
		      " events\n",
		      nidx, total, v.from_start, v.unseen, v.unseen_runs, v.pod_syncs,
		      fakecri__dropped_events(ch->fx->f));
	if (strict)
		assert_int_equal(v.unseen_runs, 0);
}

static void test_churn_generic(void **state)
{
	churn_test(*state, &(struct tk_opts){ .mode = KPLEG_MODE_GENERIC, .relist_ms = 100 },
		   false);
}

/* Every event delivered (large runtime queue): every object must be seen. */
static void test_churn_auto(void **state)
{
	churn_test(*state,
		   &(struct tk_opts){ .mode = KPLEG_MODE_AUTO, .relist_ms = 100,
				      .relist_evented_ms = 500, .events = FAKECRI_EVENTS_ON,
				      .event_queue_len = 1 << 20 },
		   true);
}

/* A runtime queue of 8 drops events under churn (like containerd 1.7 and
 * CRI-O when the consumer lags): the relist must make up for them. */
static void test_churn_auto_drops(void **state)
{
	churn_test(*state,
		   &(struct tk_opts){ .mode = KPLEG_MODE_AUTO, .relist_ms = 100,
				      .relist_evented_ms = 500, .events = FAKECRI_EVENTS_ON,
				      .event_queue_len = 8 },
		   false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_churn_generic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_auto_drops, setup, teardown),
	};

	return cmocka_run_group_tests_name("tracker_churn", tests, NULL, NULL);
}
