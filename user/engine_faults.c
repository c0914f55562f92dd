// SPDX-License-Identifier: Apache-2.0
/*
 * Two faults the rest of the engine only reports here.
 *
 * Falling behind: CRI events arrive faster than the engine applies them.
 * The queue holds at most cfg.event_queue_max of them; the event that finds
 * it full drops the whole backlog (it only said what a relist also says) and
 * becomes one MSG_EVENTS_DROPPED, which counts it and relists. The health
 * says "falling behind" until a relist started after the last drop has
 * synced.
 *
 * Stuck pods: the runtime hangs (or fails) on one pod while it answers the
 * rest. The worker pool holds at most one fetch per pod and each call has a
 * deadline, so the other pods are tracked on time; here the pod is named in
 * the health, "degraded" rather than unhealthy, until a fetch of it
 * succeeds. An unreachable runtime is not a stuck pod: relists fail too and
 * the health says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracker_internal.h"
#include "util.h"

/* "falling behind" lasts at least this long after a drop, so that a reader
 * polling the health during a flood sees it even when relists sync between
 * overflows. */
#define BEHIND_HOLD_NS (3 * NSEC_PER_SEC)

struct stuck_pod {
	struct hnode node;
	char uid[KPLEG_ID_MAX];
	uint64_t since_ns;
	char reason[KPLEG_REASON_MAX];
};

/* ---- the CRI event backlog ---------------------------------------------------------- */

struct msg *engine_drop_backlog_locked(struct kpleg_tracker *t, struct msg *m)
{
	struct msg *dropped = NULL, **pp = &t->mq_head, *prev = NULL;
	uint64_t n = 0;

	while (*pp) {
		struct msg *q = *pp;

		if (q->type != MSG_CRI_EVENT) {
			prev = q;
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		q->next = dropped;
		dropped = q;
		n++;
	}
	t->mq_tail = prev;
	t->mq_events = 0;
	/* @m's own event goes too: it is no newer news than a relist. */
	m->type = MSG_EVENTS_DROPPED;
	m->dropped = n + 1;
	m->ns = now_mono_ns();
	if (m->ev) {
		struct msg *own = msg__new(MSG_CRI_EVENT);

		if (own) { /* freed unlocked with the rest */
			own->ev = m->ev;
			own->next = dropped;
			dropped = own;
		} else {
			cri_msg_free(m->ev);
		}
		m->ev = NULL;
	}
	return dropped;
}

void engine_events_dropped(struct kpleg_tracker *t, const struct msg *m)
{
	bool first = !t->behind_reconciling;
	uint64_t total;

	pthread_mutex_lock(&t->mq_lock); /* read by the health under it */
	t->behind_reconciling = true;
	t->behind_drop_ns = m->ns;
	pthread_mutex_unlock(&t->mq_lock);
	pthread_mutex_lock(&t->stats_lock);
	t->stats.events_dropped += m->dropped;
	t->stats.event_overflows++;
	total = t->stats.events_dropped;
	pthread_mutex_unlock(&t->stats_lock);
	if (first)
		log_warn("\"Falling behind the CRI event stream: dropped the queued events, "
			 "relisting\" dropped=%llu queueMax=%u",
			 (unsigned long long)m->dropped, t->cfg.event_queue_max);
	else
		log_v(1, "\"Still falling behind the CRI event stream\" dropped=%llu total=%llu",
		      (unsigned long long)m->dropped, (unsigned long long)total);
	engine_relist_now(t);
}

/* ---- stuck pods ----------------------------------------------------------------------- */

/* The runtime as a whole is unreachable or we are stopping: not the pod's doing. */
static bool runtime_wide(int err)
{
	return err == -ENOTCONN || err == -ECANCELED || err == -ECONNREFUSED || err == -ENOMEM;
}

/* Publishes the count and the pod stuck longest. */
static void publish(struct kpleg_tracker *t)
{
	const struct stuck_pod *oldest = NULL;

	for (size_t i = 0; i < t->stuck.nb; i++)
		for (struct hnode *n = t->stuck.b[i]; n; n = n->next) {
			const struct stuck_pod *s = (const struct stuck_pod *)n;

			if (!oldest || s->since_ns < oldest->since_ns)
				oldest = s;
		}
	pthread_mutex_lock(&t->stats_lock);
	t->stats.stuck_pods = t->stuck.n;
	snprintf(t->stats.stuck_pod_uid, sizeof(t->stats.stuck_pod_uid), "%s",
		 oldest ? oldest->uid : "");
	snprintf(t->stats.stuck_reason, sizeof(t->stats.stuck_reason), "%s",
		 oldest ? oldest->reason : "");
	t->stats.stuck_since_mono_ns = oldest ? oldest->since_ns : 0;
	pthread_mutex_unlock(&t->stats_lock);
}

static void forget(struct kpleg_tracker *t, struct stuck_pod *s)
{
	htab_del(&t->stuck, &s->node);
	free(s);
}

static void describe(const struct kpleg_tracker *t, const struct msg *m, char *buf, size_t n)
{
	const char *call = *m->failed_call ? m->failed_call : "status fetch";

	if (m->err == -ETIMEDOUT)
		snprintf(buf, n, "%s %.64s timed out after %u ms", call, m->failed_id,
			 t->cfg.call_timeout_ms);
	else
		snprintf(buf, n, "%s %.64s failed: %s", call, m->failed_id, strerror(-m->err));
}

void engine_stuck_update(struct kpleg_tracker *t, const struct msg *m)
{
	struct stuck_pod *s = (struct stuck_pod *)htab_find(&t->stuck, m->uid);

	if (!m->err) {
		if (!s)
			return;
		log_info("\"The runtime answers about a stuck pod again\" pod=\"%s\" stuckMs=%llu",
			 m->uid, (unsigned long long)((now_mono_ns() - s->since_ns) / NSEC_PER_MSEC));
		forget(t, s);
		publish(t);
		return;
	}
	if (runtime_wide(m->err))
		return;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return; /* only the report is lost; the retries go on */
		snprintf(s->uid, sizeof(s->uid), "%s", m->uid);
		s->node.key = s->uid;
		s->since_ns = m->ns;
		if (htab_add(&t->stuck, &s->node) < 0) {
			free(s);
			return;
		}
		describe(t, m, s->reason, sizeof(s->reason));
		log_warn("\"The runtime does not answer about one pod; tracking the others\" "
			 "pod=\"%s\" reason=\"%s\"", s->uid, s->reason);
	} else {
		describe(t, m, s->reason, sizeof(s->reason));
	}
	publish(t);
}

void engine_faults_synced(struct kpleg_tracker *t)
{
	bool changed = false;

	if (t->behind_reconciling && t->relist_list_ns >= t->behind_drop_ns) {
		pthread_mutex_lock(&t->mq_lock);
		t->behind_reconciling = false;
		pthread_mutex_unlock(&t->mq_lock);
		log_info("\"Caught up with the CRI event stream after a relist\"");
	}
	/* A stuck pod that is neither cached nor being fetched is gone. */
	for (size_t i = 0; i < t->stuck.nb; i++) {
		struct hnode *n = t->stuck.b[i], *next;

		for (; n; n = next) {
			next = n->next;
			if (!cache_pod(t->cache, n->key) && !htab_find(&t->fetches, n->key)) {
				forget(t, (struct stuck_pod *)n);
				changed = true;
			}
		}
	}
	if (changed)
		publish(t);
}

/* ---- health ------------------------------------------------------------------------------ */

void engine_faults_health(struct kpleg_tracker *t, struct kpleg_health *h, uint64_t now)
{
	char stuck[256] = "", behind[64] = "";

	pthread_mutex_lock(&t->mq_lock);
	h->event_backlog = t->mq_events;
	h->falling_behind = t->behind_reconciling ||
			    (t->behind_drop_ns && now - t->behind_drop_ns < BEHIND_HOLD_NS);
	pthread_mutex_unlock(&t->mq_lock);
	if (h->stuck_pods)
		snprintf(stuck, sizeof(stuck), "%zu pod%s stuck for %llu ms, first %.64s: %.120s",
			 h->stuck_pods, h->stuck_pods == 1 ? "" : "s",
			 (unsigned long long)((now - h->stuck_since_mono_ns) / NSEC_PER_MSEC),
			 h->stuck_pod_uid, h->stuck_reason);
	if (h->falling_behind)
		snprintf(behind, sizeof(behind), "falling behind: %llu CRI events dropped, relisting",
			 (unsigned long long)h->events_dropped);
	h->degraded = h->stuck_pods || h->falling_behind;
	snprintf(h->degraded_reason, sizeof(h->degraded_reason), "%s%s%s", stuck,
		 *stuck && *behind ? "; " : "", behind);
}

void engine_faults_free(struct kpleg_tracker *t)
{
	for (size_t i = 0; t->stuck.b && i < t->stuck.nb; i++) {
		struct hnode *n = t->stuck.b[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	htab_fini(&t->stuck);
}
