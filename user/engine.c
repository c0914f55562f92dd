// SPDX-License-Identifier: Apache-2.0
/*
 * The engine thread: the cache's one writer (REFERENCE.md §1, the kubelet's
 * 2026 redesign). It waits for messages or for the next relist, merges
 * snapshots into the cache and turns everything else into requests: a CRI
 * event without complete statuses, a broken stream, or an API reader asking
 * for fresh data all become "fetch this pod" or "relist now".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracker_internal.h"
#include "util.h"

struct msg *msg__new(enum msg_type type)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (m)
		m->type = type;
	return m;
}

void msg__free(struct msg *m)
{
	if (!m)
		return;
	cri_list_view_free(m->view);
	cri_msg_free(m->ev);
	snap__free(m->snap);
	if (m->job) {
		m->job->result = NULL;
		job__free(m->job);
	}
	free(m);
}

void engine_post(struct kpleg_tracker *t, struct msg *m)
{
	struct msg *dropped = NULL;

	pthread_mutex_lock(&t->mq_lock);
	/* Bounded: a full queue drops its CRI events for a relist. */
	if (m->type == MSG_CRI_EVENT && t->mq_events >= t->cfg.event_queue_max)
		dropped = engine_drop_backlog_locked(t, m);
	else if (m->type == MSG_CRI_EVENT)
		t->mq_events++;
	if (t->mq_tail)
		t->mq_tail->next = m;
	else
		t->mq_head = m;
	t->mq_tail = m;
	pthread_cond_signal(&t->mq_cond);
	pthread_mutex_unlock(&t->mq_lock);
	while (dropped) {
		struct msg *d = dropped;

		dropped = d->next;
		msg__free(d);
	}
}

/* Next message, or NULL when @deadline_ns (CLOCK_MONOTONIC) passes or on stop. */
static struct msg *next_msg(struct kpleg_tracker *t, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = deadline_ns / NSEC_PER_SEC,
			       .tv_nsec = deadline_ns % NSEC_PER_SEC };
	struct msg *m = NULL;

	pthread_mutex_lock(&t->mq_lock);
	while (!t->mq_head && !t->stopping &&
	       pthread_cond_timedwait(&t->mq_cond, &t->mq_lock, &ts) != ETIMEDOUT)
		;
	if (t->mq_head && !t->stopping) {
		m = t->mq_head;
		t->mq_head = m->next;
		if (!t->mq_head)
			t->mq_tail = NULL;
		if (m->type == MSG_CRI_EVENT)
			t->mq_events--;
	}
	pthread_mutex_unlock(&t->mq_lock);
	return m;
}

void engine_emit(void *ctx, struct kpleg_event *ev)
{
	struct kpleg_tracker *t = ctx;

	ev->seq = ++t->next_seq;
	/* One offset for the tracker's life: events observed at one instant get
	 * one wall-clock time, and wall-clock times never go backwards. */
	ev->observed_real_ns = ev->observed_mono_ns + t->real_offset_ns;
	if (ev->type == KPLEG_EVENT_CONTAINER_STARTED || ev->type == KPLEG_EVENT_SANDBOX_READY)
		engine_hints_start_time(t, ev);
	log_v(2, "\"Event\" type=%s pod=\"%s/%s\" container=\"%s\" source=%s",
	      kpleg_event_type_str(ev->type), ev->pod_namespace, ev->pod_name, ev->container_id,
	      kpleg_source_str(ev->source));
	subs_deliver(t, ev);
	tracker_metrics_on_emit(t, ev);
	pthread_mutex_lock(&t->stats_lock);
	t->stats.events_emitted++;
	/* KEP-3386's missed-event count: a transition only the relist saw while
	 * a faster source (hints, events) was up. */
	if (t->fetch_from_relist && ev->source == KPLEG_SOURCE_RELIST && t->stats.synced &&
	    ev->type != KPLEG_EVENT_POD_SYNC && ev->type != KPLEG_EVENT_CONTAINER_CONFIRMED &&
	    (t->hints_active || t->stream_up))
		t->stats.missed_events++;
	pthread_mutex_unlock(&t->stats_lock);
}

static void notify_readers(struct kpleg_tracker *t)
{
	pthread_mutex_lock(&t->change_lock);
	t->change_seq++;
	pthread_cond_broadcast(&t->change_cond);
	pthread_mutex_unlock(&t->change_lock);
}

void engine_apply(struct kpleg_tracker *t, struct snap *s)
{
	int r;

	pthread_mutex_lock(&t->stats_lock);
	s->backfill = t->stats.synced;
	pthread_mutex_unlock(&t->stats_lock);
	pthread_rwlock_wrlock(&t->cache_lock);
	r = cache_apply(t->cache, s, engine_emit, t);
	pthread_rwlock_unlock(&t->cache_lock);
	if (r < 0)
		log_error("\"Cannot merge a snapshot, ignoring\" pod=\"%s\" err=%d", s->uid, r);
	notify_readers(t);
}

uint64_t tracker_period_ns(const struct kpleg_tracker *t)
{
	unsigned ms = t->cfg.relist_period_ms;

	if (t->cfg.mode != KPLEG_MODE_GENERIC && t->stream_up)
		ms = t->cfg.relist_period_evented_ms;
	else if (t->hints_active && !t->hints_reconciling)
		ms = t->cfg.relist_period_hinted_ms;
	return (uint64_t)ms * NSEC_PER_MSEC;
}

/* The period in force for health readers, when it changes. */
static void publish_period(struct kpleg_tracker *t)
{
	unsigned ms = (unsigned)(tracker_period_ns(t) / NSEC_PER_MSEC);

	if (ms == t->period_ms_published)
		return;
	t->period_ms_published = ms;
	pthread_mutex_lock(&t->stats_lock);
	t->stats.relist_period_ms = ms;
	pthread_mutex_unlock(&t->stats_lock);
}

void engine_relist_now(struct kpleg_tracker *t)
{
	t->relist_due_ns = now_mono_ns();
	t->relist_asked_ns = t->relist_due_ns;
}

static void start_relist(struct kpleg_tracker *t)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		t->relist_due_ns = now_mono_ns() + tracker_period_ns(t);
		return;
	}
	j->list = true;
	t->relist_inflight = true;
	t->relist_started_ns = now_mono_ns();
	tracker_metrics_relist_started(t);

	workers_submit(t, j);
}

/* ---- message handlers ---------------------------------------------------------- */

/* One line when relists start failing (the runtime is gone or broken), one
 * when they succeed again; each failure itself only at -v1. */
/* After a failed relist the next comes at the fast period (as after a failed
 * fetch), whatever the mode: the runtime may be back any moment. */
static uint64_t relist_retry_ns(const struct kpleg_tracker *t)
{
	uint64_t fast = (uint64_t)t->cfg.relist_period_ms * NSEC_PER_MSEC;

	return fast < tracker_period_ns(t) ? fast : tracker_period_ns(t);
}

static void relist_failed(struct kpleg_tracker *t, const struct msg *m)
{
	log_v(1, "\"Relist failed\" err=%d", m->err);
	if (!t->relist_failing) {
		t->relist_failing = true;
		t->relist_failures_run = 0;
		t->relist_failing_since_ns = m->ns;
		log_warn("\"Relist failed; keeping the last known state, retrying every %u ms\" "
			 "err=%d reason=\"%s\"", (unsigned)(relist_retry_ns(t) / NSEC_PER_MSEC),
			 m->err, strerror(-m->err));
	}
	t->relist_failures_run++;
}

static void on_list_done(struct kpleg_tracker *t, struct msg *m)
{
	t->relist_inflight = false;
	/* The next relist is a period after this one started, as the kubelet
	 * does; after a failure, sooner (relist_retry_ns). */
	t->relist_due_ns = m->ns + (m->err ? relist_retry_ns(t) : tracker_period_ns(t));
	/* Asked for after this one listed: it cannot answer that. */
	if (t->relist_asked_ns > m->ns)
		t->relist_due_ns = t->relist_asked_ns;
	pthread_mutex_lock(&t->stats_lock);
	if (m->err) {
		t->stats.relist_failures++;
	} else {
		t->stats.relists++;
		t->stats.last_relist_mono_ns = m->ns;
	}
	pthread_mutex_unlock(&t->stats_lock);
	if (m->err) {
		tracker_metrics_relist_ended(t);
		relist_failed(t, m);
		return;
	}
	if (t->relist_failing) {
		t->relist_failing = false;
		log_info("\"Relist recovered\" failedRelists=%llu downFor=%llums",
			 (unsigned long long)t->relist_failures_run,
			 (unsigned long long)((m->ns - t->relist_failing_since_ns) / NSEC_PER_MSEC));
		/* The runtime answers again (restarted): a broken stream need
		 * not wait out its backoff. */
		if (t->stream_supported && !t->stream_up)
			event_source_retry_now(t);
	}
	relist_diff(t, m);
}

/* Every fetch the last relist asked for is done: the cache is current as of
 * that relist's start. */
void engine_relist_synced(struct kpleg_tracker *t)
{
	pthread_rwlock_wrlock(&t->cache_lock);
	t->global_ns = t->relist_list_ns;
	pthread_rwlock_unlock(&t->cache_lock);
	pthread_mutex_lock(&t->stats_lock);
	t->stats.synced = true;
	pthread_mutex_unlock(&t->stats_lock);
	tracker_metrics_relist_ended(t);
	if (t->hints_reconciling && t->relist_list_ns >= t->hints_lost_ns) {
		t->hints_reconciling = false;
		log_info("\"Kernel hints reconciled after a loss; relisting every %u ms again\"",
			 (unsigned)(tracker_period_ns(t) / NSEC_PER_MSEC));
		if (t->relist_due_ns > now_mono_ns() + tracker_period_ns(t))
			t->relist_due_ns = now_mono_ns() + tracker_period_ns(t);
		else
			t->relist_due_ns = t->relist_list_ns + tracker_period_ns(t);
	}
	engine_faults_synced(t);
	notify_readers(t);
}

static void relist_fetch_finished(struct kpleg_tracker *t)
{
	if (t->relist_pending && --t->relist_pending == 0)
		engine_relist_synced(t);
}

static void record_miss(struct kpleg_tracker *t, const char *uid, uint64_t ns)
{
	struct miss *e;

	pthread_rwlock_wrlock(&t->cache_lock);
	e = (struct miss *)htab_find(&t->misses, uid);
	if (!e && t->misses.n >= MISSES_MAX)
		tracker_forget_misses(t); /* bounded: start over */
	if (!e && (e = calloc(1, sizeof(*e)))) {
		snprintf(e->uid, sizeof(e->uid), "%s", uid);
		e->node.key = e->uid;
		if (htab_add(&t->misses, &e->node) < 0) {
			free(e);
			e = NULL;
		}
	}
	if (e && ns > e->ns)
		e->ns = ns;
	pthread_rwlock_unlock(&t->cache_lock);
}

static void fetch_done(struct kpleg_tracker *t, struct msg *m)
{
	struct fetch_state *f = (struct fetch_state *)htab_find(&t->fetches, m->uid);

	pthread_mutex_lock(&t->stats_lock);
	t->stats.fetches++;
	t->stats.fetch_failures += m->err != 0;
	pthread_mutex_unlock(&t->stats_lock);
	engine_stuck_update(t, m);
	if (m->err) {
		pthread_rwlock_wrlock(&t->cache_lock);
		cache_set_error(t->cache, m->uid, m->err);
		pthread_rwlock_unlock(&t->cache_lock);
		log_v(1, "\"Pod status fetch failed, will retry\" pod=\"%s\" err=%d", m->uid, m->err);
		/* The old record stays, no event; a relist at the fast period
		 * retries it even while events keep the relist slow. */
		if (t->relist_due_ns > m->ns + (uint64_t)t->cfg.relist_period_ms * NSEC_PER_MSEC)
			t->relist_due_ns = m->ns + (uint64_t)t->cfg.relist_period_ms * NSEC_PER_MSEC;
		notify_readers(t);
	} else if (m->snap->n_sandboxes == 0 && m->snap->n_containers == 0) {
		record_miss(t, m->uid, m->ns);
		notify_readers(t);
	} else {
		t->fetch_from_relist = m->job && m->job->from_relist;
		engine_apply(t, m->snap);
		t->fetch_from_relist = false;
	}
	if (!f)
		return;
	f->inflight = false;
	f->job = NULL; /* freed with @m */
	/* A failure answers every asker (the error is on the pod) and the
	 * fast relist retries: a pod the runtime hangs on is not fetched back
	 * to back, and a relist's sync never waits on it forever. */
	if (m->err)
		f->dirty = false;
	if (f->dirty) {
		f->dirty = false;
		engine_refetch(t, f);
		return;
	}
	if (f->relist_gen && f->relist_gen == t->relist_gen)
		relist_fetch_finished(t);
	htab_del(&t->fetches, &f->node);
	free(f->ids);
	free(f);
	pthread_mutex_lock(&t->stats_lock);
	t->stats.fetches_pending = t->fetches.n;
	pthread_mutex_unlock(&t->stats_lock);
}


static void on_fetch_done(struct kpleg_tracker *t, struct msg *m)
{
	fetch_done(t, m);
	engine_hints_recheck(t, m->uid);
}

static void on_stream_state(struct kpleg_tracker *t, struct msg *m)
{
	bool was_up = t->stream_up;

	t->stream_up = m->stream == STREAM_UP;
	t->stream_supported = m->stream != STREAM_UNSUPPORTED;
	pthread_mutex_lock(&t->stats_lock);
	t->stats.events_supported = t->stream_supported;
	t->stats.events_connected = t->stream_up;
	if (m->stream == STREAM_UP)
		t->stats.stream_connects++;
	else if (m->stream == STREAM_DOWN)
		t->stats.stream_errors++;
	pthread_mutex_unlock(&t->stats_lock);
	if (m->stream == STREAM_UP && !was_up)
		log_info("\"CRI event stream connected; relisting every %u ms\"",
			 t->cfg.relist_period_evented_ms);
	else if (m->stream == STREAM_DOWN && was_up)
		log_warn("\"CRI event stream broke; relisting now and every %u ms until it "
			 "is back\" err=%d", (unsigned)(tracker_period_ns(t) / NSEC_PER_MSEC),
			 m->err);
	else if (m->stream == STREAM_DOWN && !t->stream_down_logged)
		log_warn("\"CRI event stream cannot be opened; relisting every %u ms until it "
			 "is\" err=%d", (unsigned)(tracker_period_ns(t) / NSEC_PER_MSEC), m->err);
	/* One line per outage, not one per reconnection attempt. */
	t->stream_down_logged = m->stream == STREAM_DOWN;
	/* Anything may have happened while the stream was not there. */
	if (m->stream != STREAM_UNSUPPORTED || was_up)
		engine_relist_now(t);
	else if (t->relist_due_ns > now_mono_ns() + tracker_period_ns(t))
		t->relist_due_ns = now_mono_ns() + tracker_period_ns(t);
}

/* A whole-pod fetch for the pod of object @id, if the cache knows it. */
static void request_object(struct kpleg_tracker *t, const char *id)
{
	struct cache_ctr *ct = cache_container(t->cache, id);
	struct cache_sb *sb = ct ? NULL : cache_sandbox(t->cache, id);

	/* Discovery too: the change may be a container the cache has not seen. */
	if (ct || sb)
		engine_request_fetch(t, ct ? ct->pod->uid : sb->pod->uid, NULL, 0, true, false,
				     KPLEG_SOURCE_RELIST);
}

static void handle(struct kpleg_tracker *t, struct msg *m)
{
	switch (m->type) {
	case MSG_LIST_DONE:
		on_list_done(t, m);
		break;
	case MSG_FETCH_DONE:
		on_fetch_done(t, m);
		break;
	case MSG_CRI_EVENT:
		engine_cri_event(t, m);
		break;
	case MSG_STREAM_STATE:
		on_stream_state(t, m);
		break;
	case MSG_REQUEST_POD:
		engine_request_fetch(t, m->uid, NULL, 0, true, false, KPLEG_SOURCE_RELIST);
		break;
	case MSG_REQUEST_OBJECT:
		request_object(t, m->uid);
		break;
	case MSG_HINT:
		engine_hint(t, m);
		break;
	case MSG_HINTS_LOST:
		engine_hints_lost(t, m);
		break;
	case MSG_WAKE:
		break;
	case MSG_EVENTS_DROPPED:
		engine_events_dropped(t, m);
		break;
	}
}

void *engine_main(void *arg)
{
	struct kpleg_tracker *t = arg;

	engine_relist_now(t);
	while (!t->stopping) {
		uint64_t now = now_mono_ns(), until;
		struct msg *m;

		if (!t->relist_inflight && now >= t->relist_due_ns)
			start_relist(t);
		publish_period(t);
		until = t->relist_inflight ? now + 60 * NSEC_PER_SEC : t->relist_due_ns;
		until = engine_hints_tick(t, now, until);
		m = next_msg(t, until);
		if (m) {
			handle(t, m);
			msg__free(m);
		}
	}
	return NULL;
}
