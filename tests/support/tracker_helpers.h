/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the tracker tests (tests/test_tracker*.c): a fakecri on a
 * private socket, a CRI client to drive it like the kubelet would, a tracker
 * whose events are collected under a mutex, bounded waits on that log, and an
 * optional "recorder" subscriber of our own that keeps every real event
 * fakecri sends, so that tests can replay them later (stale, duplicate or
 * altered). Every helper fails the calling cmocka test on error.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <kpleg/kpleg.h>

#include "cri.h"
#include "fakecri.h"
#include "kube.h"
#include "testenv.h"

/* Upper bound of every wait: far above what a healthy run needs. */
#define TK_WAIT_MS 5000
#define TK_MAX_CTRS 8

struct tk_opts {
	enum kpleg_mode mode;
	unsigned relist_ms;	    /* 0: 100 */
	unsigned relist_evented_ms; /* 0: 600000 (only events can explain a fast detection) */
	unsigned relist_hinted_ms;  /* 0: library default (with kernel hints, no stream) */
	unsigned health_ms;	    /* 0: library default */
	unsigned call_timeout_ms;   /* 0: 2000 */
	unsigned backoff_ms;	    /* 0: 200 */
	enum fakecri_events_mode events;
	unsigned event_queue_len;   /* fakecri's per-subscriber queue; 0: 1000 */
	bool record;		    /* open our own event stream (a second subscriber) */
	bool queue;		    /* also subscribe a queue (fx->q) */
};

struct tk_fx {
	struct tk_opts o;
	struct fakecri *f;
	struct cri_client *c;
	struct kpleg_tracker *t;
	struct kpleg_subscription *sub, *q;
	char sock[108];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kpleg_event *ev; /* every event the callback got, in order */
	size_t n, cap;
	bool oom;
	uint64_t seq_errors; /* events whose seq was not the previous + 1 */

	struct tk_pod **pods; /* from tk_pod_new(), freed with the fixture */
	size_t npods;

	struct cri_event_stream *rec;
	Runtime__V1__ContainerEventResponse **recd;
	size_t nrec, caprec;
};

/* A pod driven through the CRI; must not move once run (kube_pod points
 * into itself). */
struct tk_pod {
	struct kube_pod kp;
	char *sb;
	char *ct[TK_MAX_CTRS];
	size_t nct;
};

/* ---- fixture --------------------------------------------------------------- */
struct tk_fx *tk_fx_new(const struct tk_opts *o);
/* Creates and starts the tracker (subscribed before start), waits until it is
 * synced and, when it should use events, until its stream is connected. */
void tk_start(struct tk_fx *fx);
void tk_fx_free(struct tk_fx *fx);

/* ---- driving the runtime ---------------------------------------------------- */
/* Runs a pod sandbox; the pod belongs to the fixture (freed even when the
 * test fails half-way). */
struct tk_pod *tk_pod_new(struct tk_fx *fx, const char *name);
/* The same into caller-owned memory (free with tk_pod_free). */
void tk_pod_run(struct tk_fx *fx, struct tk_pod *p, const char *name);
/* Creates container @name in @p (and starts it if @start); returns its id
 * (owned by @p). */
const char *tk_ctr_add(struct tk_fx *fx, struct tk_pod *p, const char *name, bool start);
void tk_ctr_start(struct tk_fx *fx, const char *id);
void tk_ctr_exit(struct tk_fx *fx, const char *id, int32_t code);
void tk_ctr_remove(struct tk_fx *fx, const char *id);
void tk_pod_stop(struct tk_fx *fx, struct tk_pod *p);
void tk_pod_remove(struct tk_fx *fx, struct tk_pod *p);
void tk_pod_free(struct tk_pod *p);
/* Blocks relists: ListContainers fails (UNAVAILABLE) until tk_unblock_relists;
 * returns once a relist has failed, so no relist that listed before is
 * still running. */
void tk_block_relists(struct tk_fx *fx);
void tk_unblock_relists(struct tk_fx *fx);

/* ---- the event log ---------------------------------------------------------- */
/* The object an event is about: container id, else sandbox id. */
const char *tk_ev_key(const struct kpleg_event *e);
size_t tk_nevents(struct tk_fx *fx);
/* Copy of event @i of the log. */
struct kpleg_event tk_event(struct tk_fx *fx, size_t i);
/* Waits for the first event of @type about @key; returns a copy. */
struct kpleg_event tk_wait_event(struct tk_fx *fx, const char *key, enum kpleg_event_type type);
/* Waits until the log holds at least @n events. */
void tk_wait_nevents(struct tk_fx *fx, size_t n);
/* Fills @types with the types of the events about @key, in order; returns
 * how many there are (may exceed @max). */
size_t tk_seq(struct tk_fx *fx, const char *key, int *types, size_t max);
void tk_expect_seq_(struct tk_fx *fx, const char *key, const int *want, size_t n,
		    const char *file, int line);
#define TK_TYPES(...) ((const int[]){ __VA_ARGS__ })
#define TK_EXPECT_SEQ(fx, key, ...)                                                         \
	tk_expect_seq_((fx), (key), TK_TYPES(__VA_ARGS__),                                  \
		       sizeof(TK_TYPES(__VA_ARGS__)) / sizeof(int), __FILE__, __LINE__)
#define TK_EXPECT_NONE(fx, key) tk_expect_seq_((fx), (key), NULL, 0, __FILE__, __LINE__)
/* The whole log has exactly @n events, with seq 1..n. */
void tk_expect_total_(struct tk_fx *fx, size_t n, const char *file, int line);
#define TK_EXPECT_TOTAL(fx, n) tk_expect_total_((fx), (n), __FILE__, __LINE__)
void tk_dump(struct tk_fx *fx, size_t from);

/* ---- state -------------------------------------------------------------------- */
void tk_health(struct tk_fx *fx, struct kpleg_health *h);
/* Waits until @n more relists than now have succeeded. */
void tk_wait_relists(struct tk_fx *fx, unsigned n);
/* The cached pod, or NULL when the cache has none. */
struct kpleg_pod_status *tk_get_pod(struct tk_fx *fx, const char *uid);
const struct kpleg_container_status *tk_pod_ctr(const struct kpleg_pod_status *p, const char *id);
const struct kpleg_sandbox_status *tk_pod_sb(const struct kpleg_pod_status *p, const char *id);

/* Waits (bounded) until @cond holds, polling every 2 ms. */
#define TK_WAIT(cond, ...)                                                                  \
	do {                                                                                \
		uint64_t tk_end_ = testenv_now_ms() + TK_WAIT_MS;                           \
		while (!(cond) && testenv_now_ms() < tk_end_)                               \
			usleep(2000);                                                       \
		if (!(cond))                                                                \
			fail_msg(__VA_ARGS__);                                              \
	} while (0)

/* ---- our own event subscriber ------------------------------------------------ */
/* Waits until fakecri has sent us an event of @type about @id; the message
 * stays owned by the fixture. */
const Runtime__V1__ContainerEventResponse *tk_rec_find(struct tk_fx *fx, const char *id,
						       Runtime__V1__ContainerEventType type);
/* Sends a copy of @ev with created_at replaced (if @created_at >= 0). */
void tk_emit(struct tk_fx *fx, const Runtime__V1__ContainerEventResponse *ev,
	     int64_t created_at);

int64_t tk_now_real_ns(void);
