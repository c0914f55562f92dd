// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI event source: keeps a GetContainerEvents stream open and posts
 * every event to the engine. A broken stream is reported (the engine relists
 * at once and relists fast until it is back) and reopened with capped
 * exponential backoff, forever: unlike the kubelet's evented PLEG, which gives
 * up after 5 failures until restart (REFERENCE.md §1). A runtime without
 * events (UNIMPLEMENTED, or OK at once with no messages) is asked again at the
 * backoff cap, in case it is upgraded.
 */
#include <errno.h>
#include <time.h>

#include "log.h"
#include "tracker_internal.h"
#include "util.h"

#define BACKOFF_MIN_MS 100
/* How long a fresh stream must stay quiet and open to count as connected. */
#define SETTLE_MS 200
/* A stream that lived this long resets the backoff. */
#define STABLE_MS 10000

static void post_state(struct kpleg_tracker *t, enum stream_state s, int err)
{
	struct msg *m = msg__new(MSG_STREAM_STATE);

	if (!m)
		return;
	m->stream = s;
	m->err = err;
	tracker_metrics_stream(t, s == STREAM_UP);
	engine_post(t, m);
}

/* Sleeps @ms unless the tracker stops or the runtime is back; true then. */
static bool pause_ms(struct kpleg_tracker *t, unsigned ms)
{
	uint64_t end = now_mono_ns() + (uint64_t)ms * NSEC_PER_MSEC;
	struct timespec ts = { .tv_sec = end / NSEC_PER_SEC, .tv_nsec = end % NSEC_PER_SEC };
	bool back;

	pthread_mutex_lock(&t->ev_lock);
	while (!t->stopping && !t->ev_retry_now &&
	       pthread_cond_timedwait(&t->ev_cond, &t->ev_lock, &ts) != ETIMEDOUT)
		;
	back = t->ev_retry_now;
	t->ev_retry_now = false;
	pthread_mutex_unlock(&t->ev_lock);
	return back;
}

void event_source_retry_now(struct kpleg_tracker *t)
{
	pthread_mutex_lock(&t->ev_lock);
	t->ev_retry_now = true;
	pthread_cond_broadcast(&t->ev_cond);
	pthread_mutex_unlock(&t->ev_lock);
}

static int open_stream(struct kpleg_tracker *t, struct cri_event_stream **ret)
{
	struct cri_status st;
	int r;

	pthread_mutex_lock(&t->ev_lock);
	r = t->stopping ? -ECANCELED : cri_events__open(t->cri, &t->stream, &st);
	*ret = r == 0 ? t->stream : NULL;
	pthread_mutex_unlock(&t->ev_lock);
	return r;
}

static void close_stream(struct kpleg_tracker *t, struct cri_event_stream *s)
{
	pthread_mutex_lock(&t->ev_lock);
	t->stream = NULL;
	pthread_mutex_unlock(&t->ev_lock);
	cri_events__free(s);
}

static void post_event(struct kpleg_tracker *t, Runtime__V1__ContainerEventResponse *ev)
{
	struct msg *m = msg__new(MSG_CRI_EVENT);

	tracker_metrics_cri_event(t, ev);
	if (!m) {
		cri_msg_free(ev);
		return;
	}
	m->ev = ev;
	m->ns = now_mono_ns();
	engine_post(t, m);
}

/* Reads until the stream ends; returns its end code. */
static int pump(struct kpleg_tracker *t, struct cri_event_stream *s, bool *was_up)
{
	uint64_t opened = now_mono_ns();
	struct cri_status st;

	for (;;) {
		Runtime__V1__ContainerEventResponse *ev = NULL;
		int r = cri_events__read(s, *was_up ? -1 : SETTLE_MS, &ev, &st);

		if (r == 0 || r == -EAGAIN) {
			if (!*was_up) {
				*was_up = true;
				post_state(t, STREAM_UP, 0);
			}
			if (r == 0)
				post_event(t, ev);
			continue;
		}
		if (r == -EPROTO || r == -EBADMSG) {
			uint64_t n;

			pthread_mutex_lock(&t->stats_lock);
			t->stats.events_received++;
			n = ++t->stats.events_rejected;
			pthread_mutex_unlock(&t->stats_lock);
			/* Not one line per event: the 1st, 2nd, 4th, 8th... */
			if (!(n & (n - 1)))
				log_warn("\"Rejected a CRI event, ignoring\" rejected=%llu reason=\"%s\"",
					 (unsigned long long)n, st.message);
			else
				log_v(1, "\"Rejected a CRI event, ignoring\" reason=\"%s\"", st.message);
			continue;
		}
		/* A stream that ends OK at once means no events (CRI-O). */
		if (r == -ENODATA && !*was_up && now_mono_ns() - opened < SETTLE_MS * NSEC_PER_MSEC)
			return -EOPNOTSUPP;
		if (!t->stopping)
			log_v(1, "\"CRI event stream ended\" err=\"%s\"", st.message);
		return r;
	}
}

void *event_source_main(void *arg)
{
	struct kpleg_tracker *t = arg;
	unsigned backoff = BACKOFF_MIN_MS, cap = t->cfg.event_backoff_max_ms;
	bool said_unsupported = false;

	while (!t->stopping) {
		struct cri_event_stream *s = NULL;
		uint64_t opened = now_mono_ns();
		bool up = false;
		int r = open_stream(t, &s);

		if (r == 0) {
			r = pump(t, s, &up);
			close_stream(t, s);
		}
		if (t->stopping)
			break;
		if (r == -EOPNOTSUPP) {
			if (!said_unsupported)
				log_info("\"The runtime has no CRI event stream; relisting every %u ms%s\"",
					 t->hints_active ? t->cfg.relist_period_hinted_ms
							 : t->cfg.relist_period_ms,
					 t->hints_active ? " (kernel hints on)" : "");
			said_unsupported = true;
			post_state(t, STREAM_UNSUPPORTED, r);
			pause_ms(t, cap);
			continue;
		}
		post_state(t, STREAM_DOWN, r);
		if (up && now_mono_ns() - opened > STABLE_MS * NSEC_PER_MSEC)
			backoff = BACKOFF_MIN_MS;
		/* A restarted runtime: reopen at once, back off from the start. */
		if (pause_ms(t, backoff))
			backoff = BACKOFF_MIN_MS;
		else
			backoff = backoff * 2 > cap ? cap : backoff * 2;
	}
	return NULL;
}
