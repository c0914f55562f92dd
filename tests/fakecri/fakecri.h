/* SPDX-License-Identifier: Apache-2.0 */
/* fakecri: an in-memory CRI runtime (runtime.v1 RuntimeService) served over a
 * unix socket on gRPC C core, for kpleg's scale and fault tests. It runs no
 * process and never replaces a real runtime.
 *
 * Behaviour follows containerd 1.7 where the CRI leaves room (REFERENCE.md §2):
 *  - RunPodSandbox: READY, a fake IP 10.88.x.y, created_at in ns; emits the
 *    sandbox's CREATED then STARTED events.
 *  - StopPodSandbox: SIGKILLs running containers (EXITED, 137, "Error"), then
 *    NOTREADY; idempotent.
 *  - RemovePodSandbox / RemoveContainer: remove (a running container is killed
 *    first); an unknown id answers OK, as the CRI contract and containerd do.
 *  - CreateContainer: CREATED (sandbox must be READY, else FAILED_PRECONDITION);
 *    StartContainer: RUNNING with started_at (FAILED_PRECONDITION unless CREATED).
 *  - StopContainer: timeout > 0 is a polite stop (exit 0, "Completed"),
 *    timeout == 0 a kill (exit 137, "Error"); no-op unless RUNNING.
 *  - Other methods with an unknown id answer NOT_FOUND; an empty id or missing
 *    config/metadata/image answers INVALID_ARGUMENT; methods outside the
 *    service answer UNIMPLEMENTED.
 *  - List filters: exact id, state, pod_sandbox_id, label_selector (ANDed).
 *
 * Every function below is thread-safe and may be called while serving.
 * Functions returning int return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <grpc/status.h>

#include "cri.pb-c.h"

struct fakecri;

enum fakecri_events_mode {
	/* containerd-1.7-like: CREATED/STARTED/STOPPED/DELETED for containers and
	 * sandboxes (container_id == sandbox id for the latter), created_at in ns,
	 * pod_sandbox_status (absent on the sandbox's DELETED) and the statuses of
	 * every container of the pod. Unlike containerd 1.7, every subscriber gets
	 * every event (containerd 2.x-like broadcast). */
	FAKECRI_EVENTS_ON,
	FAKECRI_EVENTS_UNIMPLEMENTED, /* containerd 1.6: status UNIMPLEMENTED */
	FAKECRI_EVENTS_EMPTY_OK,      /* CRI-O without enable_pod_events: OK, no messages */
};

struct fakecri_opts {
	const char *socket_path;     /* required; a stale socket there is unlinked */
	enum fakecri_events_mode events;
	/* Per-subscriber queue; 0 means 1000 (containerd's and CRI-O's channel).
	 * When full the event is dropped for that subscriber and counted. */
	unsigned event_queue_len;
	/* A cgroup v2 mount ("/sys/fs/cgroup"): when set, every pod with a UID
	 * gets a real directory <root>/kubepods/besteffort/pod<uid> and every
	 * started container <pod dir>/<id> (containerd's cgroupfs layout), gone
	 * when it exits or is removed and at fakecri__free, so that kernel
	 * hints see them. NULL: none. */
	const char *cgroup_root;
};

enum fakecri_reply {
	FAKECRI_REPLY_NORMAL,
	FAKECRI_REPLY_GARBAGE,     /* bytes that decode as no protobuf message */
	FAKECRI_REPLY_TRUNCATED,   /* the normal encoding minus its last byte */
	FAKECRI_REPLY_EMPTY_ID,    /* every "id" field (and a top-level
				    * pod_sandbox_id/container_id) set to "" */
	FAKECRI_REPLY_BAD_ENUM,    /* every "state" field set to 99 */
	FAKECRI_REPLY_NO_METADATA, /* every "metadata" submessage left out */
};

/* A fault for one method. delay_ms is waited off the serving thread, so other
 * calls are answered meanwhile; then a non-OK code answers that status with
 * message, else the reply is produced and altered as .reply says. On
 * GetContainerEvents only delay_ms and code apply. */
struct fakecri_fault {
	unsigned delay_ms;
	grpc_status_code code;
	const char *message;       /* copied; NULL = "" */
	enum fakecri_reply reply;
	int count;                 /* matching calls it applies to; -1 or 0 = until cleared */
	const char *match_id;      /* copied; only requests naming this container or
				    * sandbox id (list calls: the filter's ids); NULL = all */
};

/* Starts serving on its own threads. NULL with errno on failure
 * (EINVAL: no socket path; ENOENT/ENOTDIR: no such directory; EEXIST: a
 * non-socket file is in the way; EADDRINUSE: gRPC could not bind). */
struct fakecri *fakecri__new(const struct fakecri_opts *opts);
/* Cancels every call, stops, drains and frees everything; unlinks the socket.
 * NULL is a no-op. */
void fakecri__free(struct fakecri *f);
/* "unix:///path", valid until fakecri__free(). */
const char *fakecri__endpoint(const struct fakecri *f);

/* -EINVAL for an unknown mode. Open streams keep going (see break_streams). */
int fakecri__set_events_mode(struct fakecri *f, enum fakecri_events_mode mode);
/* Ends every open event stream with @code (after the message in flight;
 * queued events are dropped). Returns how many streams it ended. */
int fakecri__break_streams(struct fakecri *f, grpc_status_code code);
/* Sends @ev as is to every subscriber (stale, odd or empty events). */
int fakecri__emit_event(struct fakecri *f, const Runtime__V1__ContainerEventResponse *ev);
/* Open event streams, to wait for a client to subscribe. */
unsigned fakecri__subscribers(struct fakecri *f);
/* Events dropped on full subscriber queues since start. */
uint64_t fakecri__dropped_events(struct fakecri *f);

/* RUNNING -> EXITED with finished_at, @exit_code and @reason (NULL: "Completed"
 * for 0, "Error" otherwise), then a STOPPED event. -ENOENT unknown id,
 * -EBUSY not running. */
int fakecri__container_exit(struct fakecri *f, const char *id, int32_t exit_code,
			    const char *reason);
/* Every later timestamp (objects and events) reads @ns; 0 = CLOCK_REALTIME. */
void fakecri__set_clock(struct fakecri *f, int64_t ns);
/* Overwrites the timestamps of container or sandbox @id (sandboxes only have
 * created_at); a negative value leaves that one alone. No event. -ENOENT. */
int fakecri__set_timestamps(struct fakecri *f, const char *id, int64_t created_at,
			    int64_t started_at, int64_t finished_at);
/* Adds @npods kubelet-like READY pods (labels io.kubernetes.pod.{uid,name,
 * namespace}, io.kubernetes.container.name; uid a UUID) of @containers_per_pod
 * containers each, RUNNING if @running else CREATED. Silent: no events. */
int fakecri__populate(struct fakecri *f, unsigned npods, unsigned containers_per_pod,
		      bool running);

/* Calls received for @method ("ListContainers"), faulted or not, since start
 * or the last reset; -EINVAL for a name outside the service. */
long fakecri__count_calls(struct fakecri *f, const char *method);
void fakecri__reset_counts(struct fakecri *f);

/* Installs @fault for @method (replacing any), or clears it when NULL.
 * -EINVAL for an unknown method or reply kind, -ENOMEM. */
int fakecri__set_fault(struct fakecri *f, const char *method, const struct fakecri_fault *fault);
void fakecri__clear_faults(struct fakecri *f);

/* ---- event flood --------------------------------------------------------------
 * A thread that makes @rate store changes per second, each sent to every
 * subscriber as a CRI event (subject to the per-subscriber queue, whose drops
 * fakecri__dropped_events() counts). Start, stop and stats from one thread. */
#define FAKECRI_FLOOD_RATE_MAX 1000000

enum fakecri_flood_kind {
	/* Real state changes: in every READY sandbox at the start, containers
	 * are created, started, exited and removed in turn (one change per
	 * step, round robin over the sandboxes), so the store stays small. */
	FAKECRI_FLOOD_CHURN,
	/* No change: the current state of the next container sent again
	 * (CREATED, STARTED or STOPPED event with the pod's statuses). */
	FAKECRI_FLOOD_REPEAT,
};

struct fakecri_flood {
	enum fakecri_flood_kind kind;
	unsigned rate;		/* changes (events) per second, 1..FAKECRI_FLOOD_RATE_MAX */
	unsigned duration_ms;	/* 0: until fakecri__flood_stop() */
	bool wait_subscriber;	/* start once an event stream is open */
};

struct fakecri_flood_stats {
	bool running;
	uint64_t changes;		/* steps made (by every flood since start) */
	uint64_t started_ns, ended_ns;	/* CLOCK_MONOTONIC of the current flood; 0 = not yet */
};

/* -EINVAL bad rate or kind, -EBUSY a flood is on (stop it first), -ENOENT
 * nothing to flood with (no READY sandbox; REPEAT: no container). */
int fakecri__flood_start(struct fakecri *f, const struct fakecri_flood *fl);
/* Stops and joins the flood; no-op without one. fakecri__free() calls it. */
void fakecri__flood_stop(struct fakecri *f);
void fakecri__flood_stats(struct fakecri *f, struct fakecri_flood_stats *ret);
