/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside a kpleg_tracker. Threads:
 *   engine   (engine.c)        the only writer of the cache; reacts to messages
 *   workers  (workers.c)       CRI list and status calls, posting results back
 *   events   (event_source.c)  reads GetContainerEvents, posting each event
 * Sources never touch the cache: they post messages to the engine's queue.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "cri.h"
#include "cri_listview.h"
#include "htab.h"
#include "kpleg/kpleg.h"
#include "snapshot.h"

struct kpleg_metrics;

enum msg_type {
	MSG_LIST_DONE,	   /* a relist's two lists (or its error) */
	MSG_FETCH_DONE,	   /* a pod's snapshot (or its error) */
	MSG_CRI_EVENT,	   /* one GetContainerEvents message */
	MSG_STREAM_STATE,  /* the event stream went up, down or is unsupported */
	MSG_REQUEST_POD,   /* someone asks for a fresh look at a pod */
	MSG_REQUEST_OBJECT, /* ... at the pod of an object (id in uid[]) */
	MSG_HINT,	   /* a kernel hint about a pod's cgroup, resolved */
	MSG_HINTS_LOST,	   /* the kernel dropped hints: reconcile */
	MSG_WAKE,	   /* re-evaluate timers (stop, config) */
	MSG_EVENTS_DROPPED, /* the CRI event backlog was dropped (engine_post) */
};

enum stream_state { STREAM_UP, STREAM_DOWN, STREAM_UNSUPPORTED };

/* A kernel hint as the engine sees it: the cgroup resolved to an object. */
enum hint_kind {
	HINT_KIND_OBJECT, /* a container's or sandbox's own cgroup */
	HINT_KIND_SUB,	  /* a cgroup below one: only a reason to look */
	HINT_KIND_POD,	  /* the pod-level cgroup */
};

struct hint_msg {
	uint32_t type;		 /* enum kpleg_hint_type */
	enum hint_kind kind;
	char id[KPLEG_ID_MAX];	 /* container or sandbox id ("" for pods) */
	uint64_t kernel_ns;	 /* when the kernel saw it (CLOCK_MONOTONIC) */
	uint64_t first_exec_ns;	 /* 0 if unknown */
	int32_t exit_code;	 /* HINT_EXITED */
	bool oom;		 /* an OOM victim was in the cgroup */
};

struct msg {
	struct msg *next;
	enum msg_type type;
	int err;
	uint64_t ns;			/* when the data was asked for / received */
	struct cri_list_view *view;	/* MSG_LIST_DONE */
	struct snap *snap;
	Runtime__V1__ContainerEventResponse *ev;
	struct job *job;		/* MSG_FETCH_DONE: the fetch it answers */
	enum stream_state stream;
	struct hint_msg hint;		/* MSG_HINT */
	char uid[KPLEG_ID_MAX];
	uint64_t dropped;		/* MSG_EVENTS_DROPPED: how many */
	/* MSG_FETCH_DONE with err: the call that failed, and about what */
	char failed_call[24];
	char failed_id[KPLEG_ID_MAX];
};

struct msg *msg__new(enum msg_type type);
void msg__free(struct msg *m);

/* One object a fetch must look at. */
struct fetch_id {
	char id[KPLEG_ID_MAX];
	char sandbox_id[KPLEG_ID_MAX]; /* "" for sandboxes */
	bool sandbox;
};

struct job {
	struct job *next;
	bool list;			/* a relist; else a fetch of @uid */
	bool discover;			/* look the pod's objects up by its UID first */
	bool overrule;			/* its statuses overrule provisional exits */
	bool narrow;			/* only @ids, not every object of the pod */
	bool from_relist;		/* asked for by a relist's diff */
	enum kpleg_source source;	/* what asked for it first */
	char uid[KPLEG_ID_MAX];
	size_t n_ids, cap_ids;
	struct fetch_id *ids;
	_Atomic uint64_t started_ns;	/* set by the worker that runs it */
	/* A fetch's answer, allocated with the job so that a worker can always
	 * report back; it carries the job back to the engine, which frees both. */
	struct msg *result;
};

void job__free(struct job *j);
/* Adds an id to a growing array unless it is there already. 0 or -ENOMEM. */
int fetch_ids_add(struct fetch_id **ids, size_t *n, size_t *cap, const char *id,
		  const char *sandbox_id, bool sandbox);

/* Per-pod fetch bookkeeping (engine thread only): at most one fetch in
 * flight per pod; requests meanwhile mark it dirty and it runs again. */
struct fetch_state {
	struct hnode node;
	char uid[KPLEG_ID_MAX];
	bool inflight, dirty, discover, overrule;
	bool wide;			/* someone asked for the whole pod */
	enum kpleg_source source;	/* for the next job */
	struct job *job;		/* the one in flight; freed with its answer */
	uint64_t relist_gen;		/* the relist that waits for it, 0 = none */
	size_t n_ids, cap_ids;
	struct fetch_id *ids;
};

/* A pod UID a targeted lookup did not find, and when (at most MISSES_MAX). */
#define MISSES_MAX 1024
struct miss {
	struct hnode node;
	uint64_t ns;
	char uid[KPLEG_ID_MAX];
};

/* A kernel hint waiting for the runtime to reflect it (engine thread). */
enum hint_want { WANT_KNOWN, WANT_RUNNING, WANT_EXITED };

#define HINT_WAITS_MAX 4096
struct hint_wait {
	struct hnode node;		/* t->hint_waits by id */
	char id[KPLEG_ID_MAX];
	char uid[KPLEG_ID_MAX];
	enum hint_want want;
	uint64_t since_ns;		/* the first hint's kernel time */
	uint64_t due_ns;		/* next fetch; 0 while one is asked for */
	unsigned attempts;
	/* The kernel's exit, until it is in the cache (as provisional). */
	bool exit_pending, oom;
	int32_t exit_code;
	uint64_t exit_ns, first_exec_ns;
};

struct kpleg_subscription {
	struct kpleg_subscription *next;
	struct kpleg_tracker *t;
	kpleg_event_cb cb;
	void *userdata;
	/* queue mode */
	pthread_mutex_t lock;
	struct kpleg_event *ring;
	unsigned cap, head, count;
	bool overflowed;
	int efd;
};

struct kpleg_tracker {
	struct kpleg_config cfg;
	char endpoint[128];
	struct cri_client *cri;

	pthread_t engine_thread, events_thread, hints_thread, *workers;
	unsigned n_workers;
	bool started;
	atomic_bool stopping;		/* read by every thread without a lock */

	/* engine's message queue */
	pthread_mutex_t mq_lock;
	pthread_cond_t mq_cond;
	struct msg *mq_head, *mq_tail;

	/* workers' job queue (relists go first) */
	pthread_mutex_t jq_lock;
	pthread_cond_t jq_cond;
	struct job *jq_head, *jq_tail;

	/* the cache: written by the engine under the write lock */
	pthread_rwlock_t cache_lock;
	struct cache *cache;
	uint64_t global_ns;		/* everything was current at this time */
	struct htab misses;		/* uid -> when a lookup found nothing */

	/* change notification for readers that wait */
	pthread_mutex_t change_lock;
	pthread_cond_t change_cond;
	uint64_t change_seq;

	/* engine state (engine thread; copied into health under stats_lock) */
	struct htab fetches;
	bool relist_inflight;
	uint64_t relist_started_ns, relist_due_ns;
	uint64_t relist_gen;		/* relists so far */
	unsigned relist_pending;	/* fetches the current relist still waits for */
	uint64_t relist_list_ns;	/* start of the relist whose fetches are pending */
	bool stream_up, stream_supported;
	struct htab hint_waits;		/* id -> struct hint_wait */
	uint64_t hint_scan_ns;		/* next walk over the waits (a retry is due) */
	bool hints_active;		/* hints flow (auto mode, BPF loaded) */
	bool hints_reconciling;		/* lost hints: fast relists until a sync */
	uint64_t hints_lost_ns;		/* when the last loss was noticed */
	bool fetch_from_relist;		/* the snapshot being applied was a relist's */
	unsigned period_ms_published;

	/* kernel hints (hint_source.c): the BPF side and its reader thread */
	struct hints *hints;
	int hints_efd;			/* wakes the reader to stop */

	pthread_mutex_t stats_lock;
	struct kpleg_health stats;
	uint64_t start_ns;
	uint64_t real_offset_ns;		/* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
	uint64_t next_seq;

	pthread_mutex_t subs_lock;
	struct kpleg_subscription *subs;

	/* event source's wait (interruptible sleep) */
	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cond;
	bool ev_retry_now;		/* the runtime answers again: end the backoff */
	struct cri_event_stream *stream;

	/* faults (engine_faults.c) */
	unsigned mq_events;		/* MSG_CRI_EVENTs in the queue (mq_lock) */
	uint64_t relist_asked_ns;	/* last engine_relist_now() (engine thread) */
	bool behind_reconciling;	/* events dropped: a relist must catch up */
	uint64_t behind_drop_ns;	/* the last drop */
	struct htab stuck;		/* uid -> struct stuck_pod (engine thread) */

	/* metrics (tracker_metrics.c); the rest is engine thread only */
	struct kpleg_metrics *metrics;
	int64_t cri_event_created_at;	/* of the CRI event being applied, 0 = none */
	bool relist_failing;		/* for one log line when relists fail, one when back */
	uint64_t relist_failures_run;	/* consecutive failed relists */
	uint64_t relist_failing_since_ns;
	bool stream_down_logged;	/* the current stream outage has its log line */
};

/* engine.c */
void *engine_main(void *arg);
void engine_post(struct kpleg_tracker *t, struct msg *m);
void engine_emit(void *ctx, struct kpleg_event *ev);
void engine_apply(struct kpleg_tracker *t, struct snap *s);
void engine_relist_now(struct kpleg_tracker *t);
void engine_relist_synced(struct kpleg_tracker *t);

/* engine_faults.c: a bounded CRI event backlog, and stuck pods */
/* engine_post() with mq_lock held, for a CRI event that finds the queue
 * full: unlinks every queued CRI event (returned, to free unlocked) and
 * turns @m into MSG_EVENTS_DROPPED. */
struct msg *engine_drop_backlog_locked(struct kpleg_tracker *t, struct msg *m);
void engine_events_dropped(struct kpleg_tracker *t, const struct msg *m);
/* A fetch's outcome: a pod failing for its own sake is stuck until a fetch
 * of it succeeds. */
void engine_stuck_update(struct kpleg_tracker *t, const struct msg *m);
/* A relist synced: the backlog is caught up with; stuck pods no source
 * knows any more are forgotten. */
void engine_faults_synced(struct kpleg_tracker *t);
/* The degraded part of the health (stats already copied into @h). */
void engine_faults_health(struct kpleg_tracker *t, struct kpleg_health *h, uint64_t now);
void engine_faults_free(struct kpleg_tracker *t);

/* engine_events.c: a CRI event becomes a snapshot or a request */
void engine_cri_event(struct kpleg_tracker *t, struct msg *m);

/* relist.c: the diff of a relist's lists against the cache */
int relist_diff(struct kpleg_tracker *t, const struct msg *m);
void engine_request_fetch(struct kpleg_tracker *t, const char *uid, const struct fetch_id *ids,
			  size_t n_ids, bool discover, bool from_relist, enum kpleg_source source);
/* Asks for the status of one known object only (a hint's retry): a
 * ContainerStatus or PodSandboxStatus, coalesced like any fetch. */
void engine_request_object(struct kpleg_tracker *t, const char *uid, const struct fetch_id *id);
/* Runs the fetch that requests made dirty while another was in flight. */
void engine_refetch(struct kpleg_tracker *t, struct fetch_state *f);
/* The same, and the fetch's statuses overrule provisional exits. */
void engine_request_fetch_overrule(struct kpleg_tracker *t, const char *uid);

/* engine_hints.c: a kernel hint becomes provisional state and targeted,
 * retried fetches */
void engine_hint(struct kpleg_tracker *t, const struct msg *m);
void engine_hints_lost(struct kpleg_tracker *t, const struct msg *m);
/* After a pod's fetch or CRI event was applied: re-check the hints waiting
 * on it (satisfied ones end, the others are scheduled again). */
void engine_hints_recheck(struct kpleg_tracker *t, const char *uid);
/* Runs the waits that are due; returns the earliest next due time (or @until). */
uint64_t engine_hints_tick(struct kpleg_tracker *t, uint64_t now, uint64_t until);
/* A ContainerStarted or SandboxReady about to go out: the first exec the
 * kernel saw in the object's cgroup, if a hint brought it, into
 * ev->kernel_mono_ns. */
void engine_hints_start_time(struct kpleg_tracker *t, struct kpleg_event *ev);
void engine_hints_free(struct kpleg_tracker *t);

/* hint_source.c: loads the BPF programs (auto mode) and reads the ring */
int hint_source_start(struct kpleg_tracker *t);
void hint_source_stop(struct kpleg_tracker *t);

/* workers.c */
int workers_start(struct kpleg_tracker *t);
void workers_stop(struct kpleg_tracker *t);
void workers_submit(struct kpleg_tracker *t, struct job *j);

/* event_source.c */
void *event_source_main(void *arg);
/* The runtime answers again (a relist succeeded after failures): reopen a
 * broken stream now instead of waiting out the backoff. */
void event_source_retry_now(struct kpleg_tracker *t);

/* subscription.c */
void subs_deliver(struct kpleg_tracker *t, const struct kpleg_event *ev);

/* tracker_metrics.c: instruments fed from the engine (unless said) */
void tracker_metrics_relist_started(struct kpleg_tracker *t);
void tracker_metrics_relist_ended(struct kpleg_tracker *t);
void tracker_metrics_on_emit(struct kpleg_tracker *t, const struct kpleg_event *ev);
/* events thread */
void tracker_metrics_cri_event(struct kpleg_tracker *t,
			       const Runtime__V1__ContainerEventResponse *ev);
void tracker_metrics_stream(struct kpleg_tracker *t, bool connected);
/* any thread holding a subscription's lock */
void tracker_metrics_discarded(struct kpleg_tracker *t, uint64_t n);

uint64_t tracker_period_ns(const struct kpleg_tracker *t);
/* Frees every recorded miss (cache write lock held, or no other thread). */
void tracker_forget_misses(struct kpleg_tracker *t);
