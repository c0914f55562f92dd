// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testenv.h"
#include "tracker_helpers.h"

int64_t tk_now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- fixture --------------------------------------------------------------- */

static void on_event(const struct kpleg_event *ev, void *userdata)
{
	struct tk_fx *fx = userdata;

	pthread_mutex_lock(&fx->lock);
	if (fx->n == fx->cap) {
		size_t cap = fx->cap ? fx->cap * 2 : 256;
		struct kpleg_event *v = realloc(fx->ev, cap * sizeof(*v));

		if (!v) {
			fx->oom = true;
			goto out;
		}
		fx->ev = v;
		fx->cap = cap;
	}
	if (ev->seq != (fx->n ? fx->ev[fx->n - 1].seq + 1 : 1))
		fx->seq_errors++;
	fx->ev[fx->n++] = *ev;
	pthread_cond_broadcast(&fx->cond);
out:
	pthread_mutex_unlock(&fx->lock);
}

struct tk_fx *tk_fx_new(const struct tk_opts *o)
{
	static unsigned counter;
	struct tk_fx *fx = calloc(1, sizeof(*fx));
	struct fakecri_opts fo = { 0 };
	pthread_condattr_t ca;

	assert_non_null(fx);
	fx->o = *o;
	pthread_mutex_init(&fx->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fx->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(fx->sock, sizeof(fx->sock), "/tmp/kpleg-trk-%d-%u.sock", (int)getpid(), counter++);
	fo.socket_path = fx->sock;
	fo.events = o->events;
	fo.event_queue_len = o->event_queue_len;
	fx->f = fakecri__new(&fo);
	if (!fx->f)
		fail_msg("fakecri__new(%s): %s", fx->sock, strerror(errno));
	fx->c = cri_client__new(fakecri__endpoint(fx->f));
	assert_non_null(fx->c);
	if (o->record) {
		struct cri_status st;

		assert_int_equal(cri_events__open(fx->c, &fx->rec, &st), 0);
		TK_WAIT(fakecri__subscribers(fx->f) == 1, "recorder stream not subscribed");
	}
	return fx;
}

static bool uses_events(const struct tk_fx *fx)
{
	return fx->o.mode != KPLEG_MODE_GENERIC && fx->o.events == FAKECRI_EVENTS_ON;
}

void tk_start(struct tk_fx *fx)
{
	struct kpleg_config cfg;
	struct kpleg_health h;
	int r;

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = fakecri__endpoint(fx->f);
	cfg.mode = fx->o.mode;
	cfg.relist_period_ms = fx->o.relist_ms ? fx->o.relist_ms : 100;
	cfg.relist_period_evented_ms = fx->o.relist_evented_ms ? fx->o.relist_evented_ms : 600000;
	if (fx->o.relist_hinted_ms)
		cfg.relist_period_hinted_ms = fx->o.relist_hinted_ms;
	if (fx->o.health_ms)
		cfg.health_threshold_ms = fx->o.health_ms;
	cfg.call_timeout_ms = fx->o.call_timeout_ms ? fx->o.call_timeout_ms : 2000;
	cfg.event_backoff_max_ms = fx->o.backoff_ms ? fx->o.backoff_ms : 200;
	assert_int_equal(kpleg_tracker__new(&cfg, &fx->t), 0);
	assert_int_equal(kpleg_tracker__subscribe(fx->t, on_event, fx, &fx->sub), 0);
	if (fx->o.queue)
		assert_int_equal(kpleg_tracker__subscribe_queue(fx->t, 0, &fx->q), 0);
	assert_int_equal(kpleg_tracker__start(fx->t), 0);
	r = kpleg_tracker__wait_synced(fx->t, TK_WAIT_MS);
	if (r < 0)
		fail_msg("kpleg_tracker__wait_synced: %s", strerror(-r));
	if (uses_events(fx)) {
		unsigned want = fx->o.record ? 2 : 1;

		TK_WAIT((tk_health(fx, &h), h.events_connected) &&
				fakecri__subscribers(fx->f) == want,
			"event stream not connected (events_connected %d, subscribers %u)",
			h.events_connected, fakecri__subscribers(fx->f));
		/* The engine relists once more when the stream comes up; let that
		 * relist pass so that later changes are the stream's to report. */
		TK_WAIT((tk_health(fx, &h), h.relists >= 2),
			"%" PRIu64 " relists after the stream came up, want 2", h.relists);
	}
}

void tk_fx_free(struct tk_fx *fx)
{
	if (!fx)
		return;
	if (fx->t)
		kpleg_tracker__stop(fx->t);
	kpleg_subscription__free(fx->sub);
	kpleg_subscription__free(fx->q);
	kpleg_tracker__free(fx->t);
	for (size_t i = 0; i < fx->npods; i++) {
		tk_pod_free(fx->pods[i]);
		free(fx->pods[i]);
	}
	free(fx->pods);
	for (size_t i = 0; i < fx->nrec; i++)
		cri_msg_free(fx->recd[i]);
	free(fx->recd);
	cri_events__free(fx->rec);
	cri_client__free(fx->c);
	fakecri__free(fx->f);
	pthread_cond_destroy(&fx->cond);
	pthread_mutex_destroy(&fx->lock);
	free(fx->ev);
	free(fx);
}

/* ---- driving the runtime ---------------------------------------------------- */

void tk_pod_run(struct tk_fx *fx, struct tk_pod *p, const char *name)
{
	struct cri_status st;
	int r;

	memset(p, 0, sizeof(*p));
	assert_int_equal(kube_pod_init(&p->kp, NULL, name, "tk", KUBE_QOS_BESTEFFORT), 0);
	r = cri_run_pod_sandbox(fx->c, &p->kp.cfg, 0, &p->sb, &st);
	if (r < 0)
		fail_msg("RunPodSandbox %s: %d %s", name, r, st.message);
}

struct tk_pod *tk_pod_new(struct tk_fx *fx, const char *name)
{
	struct tk_pod *p = calloc(1, sizeof(*p));
	struct tk_pod **v = realloc(fx->pods, (fx->npods + 1) * sizeof(*v));

	assert_non_null(p);
	assert_non_null(v);
	fx->pods = v;
	fx->pods[fx->npods++] = p;
	tk_pod_run(fx, p, name);
	return p;
}

const char *tk_ctr_add(struct tk_fx *fx, struct tk_pod *p, const char *name, bool start)
{
	char *argv[] = { (char *)"/bin/sleep", (char *)"3600", NULL };
	struct kube_container k;
	struct cri_status st;
	int r;

	assert_true(p->nct < TK_MAX_CTRS);
	assert_int_equal(kube_container_init(&k, &p->kp, name, argv, 0), 0);
	r = cri_create_container(fx->c, p->sb, &k.cfg, &p->kp.cfg, 0, &p->ct[p->nct], &st);
	if (r < 0)
		fail_msg("CreateContainer %s: %d %s", name, r, st.message);
	if (start)
		tk_ctr_start(fx, p->ct[p->nct]);
	return p->ct[p->nct++];
}

void tk_ctr_start(struct tk_fx *fx, const char *id)
{
	struct cri_status st;
	int r = cri_start_container(fx->c, id, 0, &st);

	if (r < 0)
		fail_msg("StartContainer %.12s: %d %s", id, r, st.message);
}

void tk_ctr_exit(struct tk_fx *fx, const char *id, int32_t code)
{
	assert_int_equal(fakecri__container_exit(fx->f, id, code, NULL), 0);
}

void tk_ctr_remove(struct tk_fx *fx, const char *id)
{
	struct cri_status st;
	int r = cri_remove_container(fx->c, id, 0, &st);

	if (r < 0)
		fail_msg("RemoveContainer %.12s: %d %s", id, r, st.message);
}

void tk_pod_stop(struct tk_fx *fx, struct tk_pod *p)
{
	struct cri_status st;
	int r = cri_stop_pod_sandbox(fx->c, p->sb, 0, &st);

	if (r < 0)
		fail_msg("StopPodSandbox %.12s: %d %s", p->sb, r, st.message);
}

void tk_pod_remove(struct tk_fx *fx, struct tk_pod *p)
{
	struct cri_status st;
	int r = cri_remove_pod_sandbox(fx->c, p->sb, 0, &st);

	if (r < 0)
		fail_msg("RemovePodSandbox %.12s: %d %s", p->sb, r, st.message);
}

void tk_pod_free(struct tk_pod *p)
{
	free(p->sb);
	for (size_t i = 0; i < p->nct; i++)
		free(p->ct[i]);
	memset(p, 0, sizeof(*p));
}

void tk_block_relists(struct tk_fx *fx)
{
	struct fakecri_fault fault = { .code = GRPC_STATUS_UNAVAILABLE, .message = "blocked",
				       .count = -1 };
	struct kpleg_health h;
	uint64_t failures;

	tk_health(fx, &h);
	failures = h.relist_failures;
	assert_int_equal(fakecri__set_fault(fx->f, "ListContainers", &fault), 0);
	TK_WAIT((tk_health(fx, &h), h.relist_failures > failures),
		"no relist failed after ListContainers was faulted");
}

void tk_unblock_relists(struct tk_fx *fx)
{
	assert_int_equal(fakecri__set_fault(fx->f, "ListContainers", NULL), 0);
}

/* ---- the event log ---------------------------------------------------------- */

const char *tk_ev_key(const struct kpleg_event *e)
{
	return e->container_id[0] ? e->container_id : e->sandbox_id;
}

size_t tk_nevents(struct tk_fx *fx)
{
	size_t n;

	pthread_mutex_lock(&fx->lock);
	n = fx->n;
	pthread_mutex_unlock(&fx->lock);
	return n;
}

struct kpleg_event tk_event(struct tk_fx *fx, size_t i)
{
	struct kpleg_event e;

	pthread_mutex_lock(&fx->lock);
	assert_true(i < fx->n);
	e = fx->ev[i];
	pthread_mutex_unlock(&fx->lock);
	return e;
}

void tk_dump(struct tk_fx *fx, size_t from)
{
	pthread_mutex_lock(&fx->lock);
	print_message("---- %zu events (from #%zu)\n", fx->n, from);
	for (size_t i = from; i < fx->n; i++) {
		const struct kpleg_event *e = &fx->ev[i];

		print_message("  #%-4" PRIu64 " %-17s %-9s %.12s pod=%s ctr=%s exit=%s%d %s\n",
			      e->seq, kpleg_event_type_str(e->type), kpleg_source_str(e->source),
			      tk_ev_key(e), e->pod_name, e->container_name,
			      e->has_exit_code ? "" : "none/", e->exit_code, e->reason);
	}
	pthread_mutex_unlock(&fx->lock);
}

static ssize_t find_locked(struct tk_fx *fx, const char *key, enum kpleg_event_type type)
{
	for (size_t i = 0; i < fx->n; i++)
		if (fx->ev[i].type == type && !strcmp(tk_ev_key(&fx->ev[i]), key))
			return (ssize_t)i;
	return -1;
}

static void deadline_ts(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

struct kpleg_event tk_wait_event(struct tk_fx *fx, const char *key, enum kpleg_event_type type)
{
	struct kpleg_event e;
	struct timespec ts;
	ssize_t i;
	int r = 0;

	deadline_ts(&ts, TK_WAIT_MS);
	pthread_mutex_lock(&fx->lock);
	while ((i = find_locked(fx, key, type)) < 0 && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&fx->cond, &fx->lock, &ts);
	if (i >= 0)
		e = fx->ev[i];
	pthread_mutex_unlock(&fx->lock);
	if (i < 0) {
		tk_dump(fx, 0);
		fail_msg("no %s about %.12s within %d ms", kpleg_event_type_str(type), key,
			 TK_WAIT_MS);
	}
	return e;
}

void tk_wait_nevents(struct tk_fx *fx, size_t n)
{
	struct timespec ts;
	size_t got;
	int r = 0;

	deadline_ts(&ts, TK_WAIT_MS);
	pthread_mutex_lock(&fx->lock);
	while (fx->n < n && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&fx->cond, &fx->lock, &ts);
	got = fx->n;
	pthread_mutex_unlock(&fx->lock);
	if (got < n) {
		tk_dump(fx, 0);
		fail_msg("%zu events within %d ms, want %zu", got, TK_WAIT_MS, n);
	}
}

size_t tk_seq(struct tk_fx *fx, const char *key, int *types, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&fx->lock);
	for (size_t i = 0; i < fx->n; i++) {
		if (strcmp(tk_ev_key(&fx->ev[i]), key))
			continue;
		if (n < max)
			types[n] = fx->ev[i].type;
		n++;
	}
	pthread_mutex_unlock(&fx->lock);
	return n;
}

static void fmt_types(char *buf, size_t size, const int *t, size_t n)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "",
					kpleg_event_type_str(t[i]));
}

void tk_expect_seq_(struct tk_fx *fx, const char *key, const int *want, size_t n,
		    const char *file, int line)
{
	int got[32];
	size_t m = tk_seq(fx, key, got, 32);
	char a[512], b[512];

	if (m == n && (!n || !memcmp(got, want, n * sizeof(*want))))
		return;
	fmt_types(a, sizeof(a), want, n);
	fmt_types(b, sizeof(b), got, m < 32 ? m : 32);
	tk_dump(fx, 0);
	print_error("events about %.12s: want [%s], got [%s]\n", key, a, b);
	_fail(file, line);
}

void tk_expect_total_(struct tk_fx *fx, size_t n, const char *file, int line)
{
	size_t got = tk_nevents(fx);
	uint64_t seq_errors;
	bool oom;

	pthread_mutex_lock(&fx->lock);
	seq_errors = fx->seq_errors;
	oom = fx->oom;
	pthread_mutex_unlock(&fx->lock);
	assert_false(oom);
	if (got != n || seq_errors) {
		tk_dump(fx, 0);
		print_error("%zu events, want %zu (%" PRIu64 " seq gaps)\n", got, n, seq_errors);
		_fail(file, line);
	}
}

/* ---- state -------------------------------------------------------------------- */

void tk_health(struct tk_fx *fx, struct kpleg_health *h)
{
	memset(h, 0, sizeof(*h));
	kpleg_tracker__health(fx->t, h);
}

void tk_wait_relists(struct tk_fx *fx, unsigned n)
{
	struct kpleg_health h;
	uint64_t want;

	tk_health(fx, &h);
	want = h.relists + n;
	TK_WAIT((tk_health(fx, &h), h.relists >= want), "%" PRIu64 " relists, want %" PRIu64,
		h.relists, want);
}

struct kpleg_pod_status *tk_get_pod(struct tk_fx *fx, const char *uid)
{
	struct kpleg_pod_status *p = NULL;
	int r = kpleg_tracker__get_pod(fx->t, uid, &p);

	if (r == -ENOENT)
		return NULL;
	if (r < 0)
		fail_msg("kpleg_tracker__get_pod(%s): %s", uid, strerror(-r));
	assert_non_null(p);
	return p;
}

const struct kpleg_container_status *tk_pod_ctr(const struct kpleg_pod_status *p, const char *id)
{
	for (size_t i = 0; p && i < p->n_containers; i++)
		if (!strcmp(p->containers[i].id, id))
			return &p->containers[i];
	return NULL;
}

const struct kpleg_sandbox_status *tk_pod_sb(const struct kpleg_pod_status *p, const char *id)
{
	for (size_t i = 0; p && i < p->n_sandboxes; i++)
		if (!strcmp(p->sandboxes[i].id, id))
			return &p->sandboxes[i];
	return NULL;
}

/* ---- our own event subscriber ------------------------------------------------ */

static const Runtime__V1__ContainerEventResponse *rec_lookup(struct tk_fx *fx, const char *id,
							     Runtime__V1__ContainerEventType type)
{
	for (size_t i = 0; i < fx->nrec; i++)
		if (fx->recd[i]->container_event_type == type &&
		    !strcmp(fx->recd[i]->container_id, id))
			return fx->recd[i];
	return NULL;
}

const Runtime__V1__ContainerEventResponse *tk_rec_find(struct tk_fx *fx, const char *id,
						       Runtime__V1__ContainerEventType type)
{
	uint64_t end = testenv_now_ms() + TK_WAIT_MS;
	const Runtime__V1__ContainerEventResponse *found;

	assert_non_null(fx->rec);
	while (!(found = rec_lookup(fx, id, type)) && testenv_now_ms() < end) {
		Runtime__V1__ContainerEventResponse *ev = NULL;
		struct cri_status st;
		int r = cri_events__read(fx->rec, 50, &ev, &st);

		if (r == -EAGAIN)
			continue;
		if (r < 0)
			fail_msg("recorder stream: %d %s", r, st.message);
		if (fx->nrec == fx->caprec) {
			fx->caprec = fx->caprec ? 2 * fx->caprec : 64;
			fx->recd = realloc(fx->recd, fx->caprec * sizeof(*fx->recd));
			assert_non_null(fx->recd);
		}
		fx->recd[fx->nrec++] = ev;
	}
	if (!found)
		fail_msg("fakecri sent no %s event about %.12s", cri_event_type_str(type), id);
	return found;
}

void tk_emit(struct tk_fx *fx, const Runtime__V1__ContainerEventResponse *ev, int64_t created_at)
{
	Runtime__V1__ContainerEventResponse copy = *ev;

	if (created_at >= 0)
		copy.created_at = created_at;
	assert_int_equal(fakecri__emit_event(fx->f, &copy), 0);
}
