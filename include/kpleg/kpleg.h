/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkpleg: one pod-status cache for every pod and container on a Kubernetes
 * node, kept fresh by every source the node has (a relist of the CRI runtime,
 * its GetContainerEvents stream, and kernel hints), with one writer.
 *
 * Conventions: functions return 0 or a negative errno; constructors hand the
 * object out through a ret_ parameter that is untouched on failure; every
 * __free function accepts NULL. Times named *_ns with "mono" are
 * CLOCK_MONOTONIC nanoseconds (kpleg's one clock for ordering); runtime
 * timestamps (created_at, started_at, finished_at) are the runtime's own
 * nanoseconds since the epoch and are never compared across objects.
 *
 * Thread-safety: every kpleg_tracker__* function may be called from any
 * thread, except that __free must not race with anything else. Callbacks
 * given to kpleg_tracker__subscribe() run on the tracker's engine thread:
 * they must be quick and must not call kpleg_tracker__stop/__free or the
 * blocking kpleg_tracker__get_pod_newer_than().
 */
#ifndef KPLEG_KPLEG_H
#define KPLEG_KPLEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds enforced on everything a runtime tells us (longer input is rejected
 * as invalid, never truncated), sized for the fixed arrays in events. */
#define KPLEG_ID_MAX 129     /* container and sandbox ids, pod UIDs, + NUL */
#define KPLEG_NAME_MAX 254   /* pod names (DNS subdomain, 253), + NUL */
#define KPLEG_REASON_MAX 128 /* event reasons are truncated to this */

enum kpleg_mode {
	KPLEG_MODE_AUTO = 0, /* every source the node has (the default) */
	KPLEG_MODE_GENERIC,  /* the kubelet's generic PLEG: relist only */
	KPLEG_MODE_EVENTED,  /* the kubelet's evented PLEG: CRI events + slow relist */
};

struct kpleg_config {
	const char *runtime_endpoint;	    /* required: unix:///path or /path */
	enum kpleg_mode mode;
	/* Relist period when nothing else is trusted: generic mode, and the
	 * other modes while the event stream is down. Default 1000. */
	unsigned relist_period_ms;
	/* Relist period while the event stream is healthy. Default 300000. */
	unsigned relist_period_evented_ms;
	/* Unhealthy when no relist succeeded for this long. Default 180000. */
	unsigned health_threshold_ms;
	unsigned call_timeout_ms;	    /* each CRI call's deadline; default 2000 */
	unsigned fetch_concurrency;	    /* concurrent per-pod fetches; default 4 */
	unsigned event_backoff_max_ms;	    /* cap of the reconnect backoff; default 30000 */
	/* Kernel hints (auto mode only): BPF programs that see container
	 * processes start, exit and get OOM-killed, and trigger targeted fetches.
	 * Without BPF (no privilege, no BTF, or disable_bpf) the tracker says so
	 * once and goes on with the CRI sources. */
	bool disable_bpf;
	/* Cgroup hierarchy the hints watch: NULL picks the v2 hierarchy when
	 * it holds kubepods, else the v1 "memory" one; "unified" forces v2, a
	 * v1 controller name forces that hierarchy. */
	const char *cgroup_controller;
	/* Relist period while kernel hints are healthy and there is no event
	 * stream: the relist then only catches what no process shows (a
	 * container created but not started, a hint lost). Default 10000. */
	unsigned relist_period_hinted_ms;
	/* How long a hint's targeted fetch is retried until the runtime
	 * reflects what the kernel saw (the runtime lags it). Default 5000. */
	unsigned hint_retry_max_ms;
	/* Ring buffer for hints, bytes: a power of two >= the page size.
	 * Default 262144 (about 5000 exits in flight). */
	unsigned hint_ring_bytes;
	/* Never open the runtime's event stream (auto and evented modes): for
	 * latency studies that watch each source alone (`kpleg trace`), and for
	 * containerd 1.7, which hands each event to one subscriber only. */
	bool disable_events;
	/* CRI events queued for the engine at most. When the runtime sends
	 * faster than the engine applies them and the queue is full, the
	 * queued events are dropped (counted) and a relist catches up: the
	 * health says "falling behind" until it has. Default 4096. */
	unsigned event_queue_max;
};

/* Fills @cfg with the defaults (endpoint NULL, mode AUTO). */
void kpleg_config_init(struct kpleg_config *cfg);
const char *kpleg_mode_str(enum kpleg_mode mode);
/* "auto", "generic", "evented" -> mode; -EINVAL otherwise. */
int kpleg_mode_parse(const char *s, enum kpleg_mode *ret);

/* ---- lifecycle events ------------------------------------------------------ */

enum kpleg_event_type {
	KPLEG_EVENT_CONTAINER_CREATED,
	KPLEG_EVENT_CONTAINER_STARTED,
	KPLEG_EVENT_CONTAINER_DIED,
	KPLEG_EVENT_CONTAINER_REMOVED,
	KPLEG_EVENT_SANDBOX_READY,
	KPLEG_EVENT_SANDBOX_NOTREADY,
	KPLEG_EVENT_SANDBOX_REMOVED,
	KPLEG_EVENT_POD_SYNC, /* the pod's status changed without a lifecycle transition */
	/* The runtime's word on an earlier provisional ContainerDied: exit_code
	 * and reason are the runtime's; corrected says it disagreed with the
	 * kernel (exit code, or OOM kill) or still reports the container running. */
	KPLEG_EVENT_CONTAINER_CONFIRMED,
};

enum kpleg_source {
	KPLEG_SOURCE_RELIST,	/* generic relist and targeted status fetches */
	KPLEG_SOURCE_CRI_EVENT, /* the runtime's GetContainerEvents stream */
	KPLEG_SOURCE_KERNEL,	/* BPF hints */
};

/* Which events an object produces. Each transition is reported once, by the
 * source that saw it first. Objects the first sync finds report their current
 * state only (a running container: ContainerStarted), as the kubelet does.
 * Objects born later report every state they went through as far as any
 * source can tell: ContainerCreated, ContainerStarted (if it ran), then
 * ContainerDied with its exit code, even when all of it happened between two
 * relists. A running container that vanishes reports ContainerDied then
 * ContainerRemoved; a ready sandbox that vanishes, SandboxNotReady then
 * SandboxRemoved. A container seen only as created and then gone reports
 * ContainerRemoved alone: no source saw it run. */
struct kpleg_event {
	uint64_t seq;		      /* 1, 2, 3... per tracker */
	enum kpleg_event_type type;
	enum kpleg_source source;     /* the source that saw the transition first */
	uint64_t observed_mono_ns;    /* when that source observed it */
	uint64_t observed_real_ns;    /* the same instant on CLOCK_REALTIME */
	char pod_uid[KPLEG_ID_MAX];
	char pod_name[KPLEG_NAME_MAX];
	char pod_namespace[KPLEG_NAME_MAX];
	char sandbox_id[KPLEG_ID_MAX];
	char container_id[KPLEG_ID_MAX];   /* "" for sandbox and pod events */
	char container_name[KPLEG_NAME_MAX];
	bool has_exit_code;		   /* CONTAINER_DIED */
	int32_t exit_code;
	char reason[KPLEG_REASON_MAX];	   /* e.g. "Error", "OOMKilled", "Completed" */
	/* CONTAINER_DIED from the kernel (source kernel): exit_code and reason
	 * are the kernel's (reason "OOMKilled" after an OOM kill in the
	 * container's cgroup), not yet confirmed by the runtime; a
	 * CONTAINER_CONFIRMED follows when the runtime reports the exit. */
	bool provisional;
	bool corrected;			   /* CONTAINER_CONFIRMED only */
	/* When the kernel saw it, CLOCK_MONOTONIC; 0 when it did not (no
	 * hints, or the runtime was first):
	 *  - provisional DIED and CONFIRMED: the exit of the container's last
	 *    process;
	 *  - STARTED and SANDBOX_READY: the first exec in the object's cgroup,
	 *    when a kernel hint about it is waiting for the runtime (the event
	 *    itself still comes from the runtime's status). */
	uint64_t kernel_mono_ns;
	int32_t kernel_exit_code;	   /* CONFIRMED: the provisional exit code */
};

const char *kpleg_event_type_str(enum kpleg_event_type t); /* "ContainerDied" */
const char *kpleg_source_str(enum kpleg_source s);	  /* "relist", "cri-event", "kernel" */

/* ---- pod status -------------------------------------------------------------- */

enum kpleg_container_state {
	KPLEG_CONTAINER_CREATED,
	KPLEG_CONTAINER_RUNNING,
	KPLEG_CONTAINER_EXITED,
	KPLEG_CONTAINER_UNKNOWN,
};

enum kpleg_sandbox_state { KPLEG_SANDBOX_READY, KPLEG_SANDBOX_NOTREADY };

struct kpleg_label {
	const char *key, *value;
};

struct kpleg_sandbox_status {
	const char *id;
	enum kpleg_sandbox_state state;
	uint32_t attempt;
	int64_t created_at;
	const char *ip; /* "" when none */
	size_t n_labels;
	const struct kpleg_label *labels;
};

struct kpleg_container_status {
	const char *id;
	const char *sandbox_id;
	const char *name;
	uint32_t attempt;
	enum kpleg_container_state state;
	int32_t exit_code;
	const char *reason;
	const char *message;
	const char *image;
	int64_t created_at, started_at, finished_at;
	/* EXITED as the kernel saw it, not yet confirmed by the runtime. */
	bool provisional;
};

/* A copy of one pod's cached status; strings point into the same allocation.
 * Free with kpleg_pod_status__free(). */
struct kpleg_pod_status {
	const char *uid, *name, *namespace_;
	uint64_t observed_mono_ns; /* data at least this fresh */
	uint64_t generation;	   /* bumped by every change */
	int last_error;		   /* -errno of the last failed fetch, 0 if none since */
	size_t n_sandboxes;
	const struct kpleg_sandbox_status *sandboxes;
	size_t n_containers;
	const struct kpleg_container_status *containers;
};

void kpleg_pod_status__free(struct kpleg_pod_status *p);
void kpleg_pod_list__free(struct kpleg_pod_status **pods, size_t n);

/* ---- health ------------------------------------------------------------------ */

struct kpleg_health {
	bool healthy;
	char reason[160];		/* why not, when !healthy */
	bool synced;			/* the first relist has completed */
	uint64_t last_relist_mono_ns;	/* start of the last successful relist, 0 = none */
	uint64_t relists, relist_failures;
	uint64_t fetches, fetch_failures;
	size_t fetches_pending;		/* pods with a status fetch queued or in flight */
	bool events_supported;		/* the runtime has an event stream */
	bool events_connected;		/* and it is up now */
	uint64_t events_received, events_rejected, stale_dropped;
	uint64_t stream_errors, stream_connects;
	uint64_t events_emitted, subscriber_drops;
	size_t pods, containers;
	/* Kernel hints. */
	bool bpf_active;		/* the BPF programs are loaded and read */
	char bpf_state[96];		/* "active (memory hierarchy)", "off: --no-bpf", ... */
	uint64_t hints_received;	/* hints about pod cgroups handed to the engine */
	uint64_t hints_lost;		/* failed ring buffer reservations in the kernel */
	uint64_t hints_unresolved;	/* cgroups under kubepods of no known shape */
	uint64_t provisional;		/* exits reported from the kernel before the runtime */
	uint64_t provisional_confirmed, provisional_corrected;
	/* Transitions a relist found that no hint or CRI event announced
	 * (counted after the first sync while another source is up). */
	uint64_t missed_events;
	unsigned relist_period_ms;	/* the relist period in force now */
	/* Degraded: the node as a whole is tracked (healthy stays true), but
	 * part of it is not current: stuck pods, or falling behind. */
	bool degraded;
	char degraded_reason[320];	/* both parts, when degraded */
	/* Stuck pods: the last status fetch of each failed for the pod's own
	 * sake (a call about it timed out or failed) while the runtime answered
	 * the relist; an unreachable runtime does not count (that is !healthy).
	 * Retried at the fast relist period; cleared when a fetch succeeds. */
	size_t stuck_pods;
	char stuck_pod_uid[KPLEG_ID_MAX];	/* the pod stuck longest */
	char stuck_reason[KPLEG_REASON_MAX];	/* its failed call, e.g. "ContainerStatus ID timed out after 2000 ms" */
	uint64_t stuck_since_mono_ns;		/* its first failure in a row */
	/* Falling behind the CRI event stream: the engine's queue overflowed,
	 * its backlog was dropped and a relist catches up. True from a drop
	 * until a relist started after the last drop has synced, and at least
	 * 3 s after that drop. */
	bool falling_behind;
	uint64_t events_dropped;	/* CRI events dropped that way (not in events_received) */
	uint64_t event_overflows;	/* times the queue overflowed */
	size_t event_backlog;		/* CRI events queued for the engine now */
};

/* ---- the tracker ------------------------------------------------------------- */

struct kpleg_tracker;
struct kpleg_subscription;

/* Validates @cfg (a copy is kept) and creates a stopped tracker.
 * -EINVAL with a bad endpoint or mode. */
int kpleg_tracker__new(const struct kpleg_config *cfg, struct kpleg_tracker **ret);
/* Starts the engine and its sources; returns at once. -EALREADY if started. */
int kpleg_tracker__start(struct kpleg_tracker *t);
/* Waits until the first relist has completed and every pod it found has been
 * fetched once. -ETIMEDOUT after @timeout_ms (< 0: forever). */
int kpleg_tracker__wait_synced(struct kpleg_tracker *t, int timeout_ms);
/* Stops every thread; subscriptions get no more events. Idempotent. */
void kpleg_tracker__stop(struct kpleg_tracker *t);
/* Stops if needed and frees the tracker. Free subscriptions first. */
void kpleg_tracker__free(struct kpleg_tracker *t);

/* Callback subscription: @cb runs on the engine thread for every event. */
typedef void (*kpleg_event_cb)(const struct kpleg_event *ev, void *userdata);
int kpleg_tracker__subscribe(struct kpleg_tracker *t, kpleg_event_cb cb, void *userdata,
			     struct kpleg_subscription **ret);
/* Queue subscription for event loops: kpleg_subscription__fd() becomes
 * readable (POLLIN) while events are queued. A queue that overflows
 * @queue_len (0: 4096) drops its contents and reports -ENOBUFS once from
 * __next: the consumer must resync with kpleg_tracker__list_pods(). */
int kpleg_tracker__subscribe_queue(struct kpleg_tracker *t, unsigned queue_len,
				   struct kpleg_subscription **ret);
int kpleg_subscription__fd(const struct kpleg_subscription *s);
/* 0 with an event, -EAGAIN when empty, -ENOBUFS after an overflow. */
int kpleg_subscription__next(struct kpleg_subscription *s, struct kpleg_event *ret);
/* Unsubscribes and frees; NULL-safe. */
void kpleg_subscription__free(struct kpleg_subscription *s);

/* The cached status of pod @uid. -ENOENT when the cache has no such pod. */
int kpleg_tracker__get_pod(struct kpleg_tracker *t, const char *uid,
			   struct kpleg_pod_status **ret);
/* The kubelet cache's GetNewerThan, made reliable: returns the pod's status
 * once the cache holds data about it observed at or after @min_mono_ns,
 * asking the runtime for that one pod if no source has brought it.
 * -ENOENT if the runtime has no such pod as of @min_mono_ns, -ETIMEDOUT after
 * @timeout_ms (< 0: forever). */
int kpleg_tracker__get_pod_newer_than(struct kpleg_tracker *t, const char *uid,
				      uint64_t min_mono_ns, int timeout_ms,
				      struct kpleg_pod_status **ret);
/* Every cached pod, in no particular order. */
int kpleg_tracker__list_pods(struct kpleg_tracker *t, struct kpleg_pod_status ***ret,
			     size_t *ret_n);
/* Asks for a fresh look at one pod (a "targeted relist"), coalesced with any
 * fetch already queued or in flight. Returns at once. */
int kpleg_tracker__request_pod(struct kpleg_tracker *t, const char *uid);
/* The runtime has just changed sandbox or container @id (kpleg's CRI proxy
 * saw a call succeed): fetch its pod now, if the cache knows the object.
 * For a pod the cache does not know yet, use kpleg_tracker__request_pod(). */
int kpleg_tracker__request_object(struct kpleg_tracker *t, const char *id);
void kpleg_tracker__health(struct kpleg_tracker *t, struct kpleg_health *ret);

/* ---- metrics ----------------------------------------------------------------- */

/* Writes the tracker's metrics to @out in the Prometheus text exposition
 * format 0.0.4: the kubelet's PLEG series with the prefix kpleg_ (same
 * meaning, type and buckets: kpleg_pleg_relist_duration_seconds, ...,
 * kpleg_running_containers{container_state}) and kpleg's own (detection
 * latency per source, CRI call latency, provisional exits, lost hints...);
 * README "Metrics and health" lists them. For node agents that export their
 * own /metrics: append this to it. Any thread; the cache's read lock is held
 * only while the pods are counted. 0, -EINVAL, or -EIO when @out fails. */
int kpleg_tracker__write_metrics(struct kpleg_tracker *t, FILE *out);

/* CLOCK_MONOTONIC now, in ns: for get_pod_newer_than(). */
uint64_t kpleg_now_mono_ns(void);

#ifdef __cplusplus
}
#endif
#endif
