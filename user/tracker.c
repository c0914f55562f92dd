// SPDX-License-Identifier: Apache-2.0
/* The public API (include/kpleg/kpleg.h): life cycle, readers, health. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "tracker_internal.h"
#include "util.h"

/* The kubelet's constants (REFERENCE.md §1): genericPlegRelistPeriod,
 * the evented PLEG's relist period, genericPlegRelistThreshold. */
#define DEFAULT_RELIST_MS 1000
#define DEFAULT_RELIST_EVENTED_MS 300000
#define DEFAULT_HEALTH_MS 180000
#define DEFAULT_FETCH_CONCURRENCY 4
#define DEFAULT_BACKOFF_MAX_MS 30000
/* With healthy kernel hints and no event stream, the relist is only the
 * safety net for what no process shows (created-not-started containers,
 * lost hints): 10x the kubelet's period. */
#define DEFAULT_RELIST_HINTED_MS 10000
/* The runtime reports an exit 30-160 ms after the kernel here; give it
 * far more before treating a hint's retries as spent. */
#define DEFAULT_HINT_RETRY_MAX_MS 5000
/* CRI events queued for the engine: a few seconds of a busy node's events
 * (a few KiB each, the pod's statuses included). */
#define DEFAULT_EVENT_QUEUE_MAX 4096

void kpleg_config_init(struct kpleg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = KPLEG_MODE_AUTO;
	cfg->relist_period_ms = DEFAULT_RELIST_MS;
	cfg->relist_period_evented_ms = DEFAULT_RELIST_EVENTED_MS;
	cfg->health_threshold_ms = DEFAULT_HEALTH_MS;
	cfg->call_timeout_ms = CRI_DEFAULT_TIMEOUT_MS;
	cfg->fetch_concurrency = DEFAULT_FETCH_CONCURRENCY;
	cfg->event_backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	cfg->relist_period_hinted_ms = DEFAULT_RELIST_HINTED_MS;
	cfg->hint_retry_max_ms = DEFAULT_HINT_RETRY_MAX_MS;
	cfg->event_queue_max = DEFAULT_EVENT_QUEUE_MAX;
}

uint64_t kpleg_now_mono_ns(void)
{
	return now_mono_ns();
}

static void fill_defaults(struct kpleg_config *c)
{
	struct kpleg_config d;

	kpleg_config_init(&d);
#define DEF(f) if (!c->f) c->f = d.f
	DEF(relist_period_ms);
	DEF(relist_period_evented_ms);
	DEF(health_threshold_ms);
	DEF(call_timeout_ms);
	DEF(fetch_concurrency);
	DEF(event_backoff_max_ms);
	DEF(relist_period_hinted_ms);
	DEF(hint_retry_max_ms);
	DEF(event_queue_max);
#undef DEF
}

static void init_sync(struct kpleg_tracker *t)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&t->mq_lock, NULL);
	pthread_cond_init(&t->mq_cond, &ca);
	pthread_mutex_init(&t->jq_lock, NULL);
	pthread_cond_init(&t->jq_cond, &ca);
	pthread_rwlock_init(&t->cache_lock, NULL);
	pthread_mutex_init(&t->change_lock, NULL);
	pthread_cond_init(&t->change_cond, &ca);
	pthread_mutex_init(&t->stats_lock, NULL);
	pthread_mutex_init(&t->subs_lock, NULL);
	pthread_mutex_init(&t->ev_lock, NULL);
	pthread_cond_init(&t->ev_cond, &ca);
	pthread_condattr_destroy(&ca);
}

int kpleg_tracker__new(const struct kpleg_config *cfg, struct kpleg_tracker **ret)
{
	struct kpleg_tracker *t;
	int r;

	if (!cfg || !ret || cfg->mode > KPLEG_MODE_EVENTED || cfg->fetch_concurrency > 64 ||
	    cfg->event_queue_max > (1u << 20))
		return -EINVAL;
	/* A ring is a power of two of at least a page; hints.c checks it again. */
	if (cfg->hint_ring_bytes && ((cfg->hint_ring_bytes & (cfg->hint_ring_bytes - 1)) ||
				     cfg->hint_ring_bytes < 4096 || cfg->hint_ring_bytes > (1u << 30)))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	fill_defaults(&t->cfg);
	r = cri_endpoint_normalize(cfg->runtime_endpoint, t->endpoint, sizeof(t->endpoint));
	if (r < 0)
		goto fail;
	t->cfg.runtime_endpoint = t->endpoint;
	t->hints_efd = -1;
	init_sync(t);
	t->cache = cache__new();
	t->cri = cri_client__new(t->endpoint);
	t->metrics = metrics__new();
	if (!t->cache || !t->cri || !t->metrics || htab_init(&t->fetches) < 0 ||
	    htab_init(&t->misses) < 0 || htab_init(&t->hint_waits) < 0 ||
	    htab_init(&t->stuck) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	cri_client__set_metrics(t->cri, t->metrics);
	*ret = t;
	return 0;
fail:
	kpleg_tracker__free(t);
	return r;
}

int kpleg_tracker__start(struct kpleg_tracker *t)
{
	int r;

	if (!t)
		return -EINVAL;
	if (t->started)
		return -EALREADY;
	t->start_ns = now_mono_ns();
	t->real_offset_ns = now_real_ns() - t->start_ns;
	/* Hints first: the maps are seeded before the first relist, so that a
	 * container starting meanwhile is seen by one or the other. */
	r = hint_source_start(t);
	if (r < 0)
		return r;
	r = workers_start(t);
	if (r < 0) {
		hint_source_stop(t);
		return r;
	}
	t->started = true;
	r = -pthread_create(&t->engine_thread, NULL, engine_main, t);
	if (r == 0 && t->cfg.mode != KPLEG_MODE_GENERIC && !t->cfg.disable_events)
		r = -pthread_create(&t->events_thread, NULL, event_source_main, t);
	if (r < 0) {
		kpleg_tracker__stop(t);
		return r;
	}
	log_v(1, "\"Tracker started\" endpoint=\"%s\" mode=%s relistPeriod=%ums",
		 t->endpoint, kpleg_mode_str(t->cfg.mode), t->cfg.relist_period_ms);
	return 0;
}

static void wake_all(struct kpleg_tracker *t)
{
	pthread_mutex_lock(&t->mq_lock);
	t->stopping = true;
	pthread_cond_broadcast(&t->mq_cond);
	pthread_mutex_unlock(&t->mq_lock);
	pthread_mutex_lock(&t->jq_lock);
	pthread_cond_broadcast(&t->jq_cond);
	pthread_mutex_unlock(&t->jq_lock);
	pthread_mutex_lock(&t->ev_lock);
	pthread_cond_broadcast(&t->ev_cond);
	cri_events__cancel(t->stream);
	pthread_mutex_unlock(&t->ev_lock);
	pthread_mutex_lock(&t->change_lock);
	pthread_cond_broadcast(&t->change_cond);
	pthread_mutex_unlock(&t->change_lock);
}

void kpleg_tracker__stop(struct kpleg_tracker *t)
{
	if (!t || !t->started)
		return;
	wake_all(t);
	if (t->engine_thread)
		pthread_join(t->engine_thread, NULL);
	if (t->events_thread)
		pthread_join(t->events_thread, NULL);
	workers_stop(t);
	hint_source_stop(t);
	t->engine_thread = t->events_thread = 0;
	while (t->mq_head) {
		struct msg *m = t->mq_head;

		t->mq_head = m->next;
		msg__free(m);
	}
	t->mq_tail = NULL;
	t->mq_events = 0;
	t->started = false;
}

static void free_table(struct htab *h, size_t off_ids)
{
	for (size_t i = 0; h->b && i < h->nb; i++) {
		struct hnode *n = h->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			if (off_ids)
				free(((struct fetch_state *)n)->ids);
			free(n);
		}
	}
	htab_fini(h);
}

void tracker_forget_misses(struct kpleg_tracker *t)
{
	free_table(&t->misses, 0);
	htab_init(&t->misses); /* on failure htab_add retries */
}

void kpleg_tracker__free(struct kpleg_tracker *t)
{
	if (!t)
		return;
	kpleg_tracker__stop(t);
	while (t->subs)
		kpleg_subscription__free(t->subs);
	free_table(&t->fetches, 1);
	free_table(&t->misses, 0);
	engine_hints_free(t);
	engine_faults_free(t);
	cache__free(t->cache);
	cri_client__free(t->cri);
	metrics__free(t->metrics);
	free(t);
}

/* ---- readers ------------------------------------------------------------------- */

int kpleg_tracker__wait_synced(struct kpleg_tracker *t, int timeout_ms)
{
	uint64_t end = now_mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * NSEC_PER_MSEC;
	struct timespec ts = { .tv_sec = end / NSEC_PER_SEC, .tv_nsec = end % NSEC_PER_SEC };
	int r = 0;

	pthread_mutex_lock(&t->change_lock);
	for (;;) {
		bool synced;

		pthread_mutex_lock(&t->stats_lock);
		synced = t->stats.synced;
		pthread_mutex_unlock(&t->stats_lock);
		if (synced || t->stopping)
			break;
		if (timeout_ms < 0)
			pthread_cond_wait(&t->change_cond, &t->change_lock);
		else if (pthread_cond_timedwait(&t->change_cond, &t->change_lock, &ts) == ETIMEDOUT) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&t->change_lock);
	if (r == 0) {
		pthread_mutex_lock(&t->stats_lock);
		if (!t->stats.synced)
			r = -ECANCELED; /* stopped before the first sync */
		pthread_mutex_unlock(&t->stats_lock);
	}
	return r;
}

int kpleg_tracker__get_pod(struct kpleg_tracker *t, const char *uid,
			   struct kpleg_pod_status **ret)
{
	struct cache_pod *p;
	int r = -ENOENT;

	if (!t || !uid || !ret)
		return -EINVAL;
	pthread_rwlock_rdlock(&t->cache_lock);
	p = cache_pod(t->cache, uid);
	if (p) {
		*ret = cache_copy_pod(p);
		r = *ret ? 0 : -ENOMEM;
	}
	pthread_rwlock_unlock(&t->cache_lock);
	return r;
}

struct lister {
	struct kpleg_pod_status **pods;
	size_t n;
};

static int list_one(struct cache_pod *p, void *arg)
{
	struct lister *l = arg;

	l->pods[l->n] = cache_copy_pod(p);
	return l->pods[l->n++] ? 0 : -ENOMEM;
}

int kpleg_tracker__list_pods(struct kpleg_tracker *t, struct kpleg_pod_status ***ret,
			     size_t *ret_n)
{
	struct lister l = { 0 };
	struct cache_stats cs;
	int r;

	if (!t || !ret || !ret_n)
		return -EINVAL;
	pthread_rwlock_rdlock(&t->cache_lock);
	cache_stats(t->cache, &cs);
	l.pods = calloc(cs.pods + 1, sizeof(*l.pods));
	r = l.pods ? cache_for_each_pod(t->cache, list_one, &l) : -ENOMEM;
	pthread_rwlock_unlock(&t->cache_lock);
	if (r < 0) {
		kpleg_pod_list__free(l.pods, l.n);
		return r;
	}
	*ret = l.pods;
	*ret_n = l.n;
	return 0;
}

int kpleg_tracker__request_pod(struct kpleg_tracker *t, const char *uid)
{
	struct msg *m;

	if (!t || !uid || !*uid || strlen(uid) >= KPLEG_ID_MAX)
		return -EINVAL;
	m = msg__new(MSG_REQUEST_POD);
	if (!m)
		return -ENOMEM;
	snprintf(m->uid, sizeof(m->uid), "%s", uid);
	engine_post(t, m);
	return 0;
}

int kpleg_tracker__request_object(struct kpleg_tracker *t, const char *id)
{
	struct msg *m;

	if (!t || !id || !*id || strlen(id) >= KPLEG_ID_MAX)
		return -EINVAL;
	m = msg__new(MSG_REQUEST_OBJECT);
	if (!m)
		return -ENOMEM;
	snprintf(m->uid, sizeof(m->uid), "%s", id);
	engine_post(t, m);
	return 0;
}

/* Under the read lock: 1 = fresh copy in *ret, 0 = not yet, -ENOENT, -ENOMEM. */
static int newer_than_locked(struct kpleg_tracker *t, const char *uid, uint64_t min,
			     struct kpleg_pod_status **ret)
{
	struct cache_pod *p = cache_pod(t->cache, uid);
	struct miss *miss;

	if (p && (p->observed_ns >= min || t->global_ns >= min)) {
		*ret = cache_copy_pod(p);
		return *ret ? 1 : -ENOMEM;
	}
	if (p)
		return 0;
	miss = (struct miss *)htab_find(&t->misses, uid);
	if (t->global_ns >= min || (miss && miss->ns >= min))
		return -ENOENT;
	return 0;
}

int kpleg_tracker__get_pod_newer_than(struct kpleg_tracker *t, const char *uid,
				      uint64_t min_mono_ns, int timeout_ms,
				      struct kpleg_pod_status **ret)
{
	uint64_t end = now_mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * NSEC_PER_MSEC;
	struct timespec ts = { .tv_sec = end / NSEC_PER_SEC, .tv_nsec = end % NSEC_PER_SEC };
	bool asked = false;
	int r;

	if (!t || !uid || !ret || strlen(uid) >= KPLEG_ID_MAX)
		return -EINVAL;
	pthread_mutex_lock(&t->change_lock);
	for (;;) {
		pthread_rwlock_rdlock(&t->cache_lock);
		r = newer_than_locked(t, uid, min_mono_ns, ret);
		pthread_rwlock_unlock(&t->cache_lock);
		if (r != 0 || t->stopping)
			break;
		/* No source has brought fresh enough data: ask for this pod only. */
		if (!asked && (r = kpleg_tracker__request_pod(t, uid)) < 0)
			break;
		asked = true;
		if (timeout_ms < 0)
			pthread_cond_wait(&t->change_cond, &t->change_lock);
		else if (pthread_cond_timedwait(&t->change_cond, &t->change_lock, &ts) == ETIMEDOUT) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&t->change_lock);
	if (r == 0 && t->stopping)
		r = -ECANCELED;
	return r > 0 ? 0 : r;
}

void kpleg_tracker__health(struct kpleg_tracker *t, struct kpleg_health *ret)
{
	uint64_t now = now_mono_ns(), last, limit;
	struct cache_stats cs;

	pthread_rwlock_rdlock(&t->cache_lock);
	cache_stats(t->cache, &cs);
	pthread_rwlock_unlock(&t->cache_lock);
	pthread_mutex_lock(&t->stats_lock);
	*ret = t->stats;
	pthread_mutex_unlock(&t->stats_lock);
	ret->stale_dropped = cs.stale_dropped;
	ret->provisional = cs.provisional;
	ret->provisional_confirmed = cs.confirmed;
	ret->provisional_corrected = cs.corrected;
	ret->pods = cs.pods;
	ret->containers = cs.containers;
	limit = (uint64_t)t->cfg.health_threshold_ms * NSEC_PER_MSEC;
	last = ret->last_relist_mono_ns ? ret->last_relist_mono_ns : t->start_ns;
	ret->healthy = t->started && now - last <= limit;
	if (!t->started)
		snprintf(ret->reason, sizeof(ret->reason), "tracker is not running");
	else if (!ret->healthy)
		snprintf(ret->reason, sizeof(ret->reason),
			 "no successful relist for %llu ms (threshold %u ms)",
			 (unsigned long long)((now - last) / NSEC_PER_MSEC),
			 t->cfg.health_threshold_ms);
	else
		ret->reason[0] = 0;
	engine_faults_health(t, ret, now);
}
