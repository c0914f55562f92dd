// SPDX-License-Identifier: Apache-2.0
/*
 * The tracker's metrics: the kubelet's PLEG series under the prefix kpleg_
 * (same meaning, type and buckets as pkg/kubelet/metrics/metrics.go, see
 * REFERENCE.md §1) and kpleg's own, rendered by kpleg_tracker__write_metrics().
 *
 * Detection latency, per source that saw a transition first:
 *   kernel     delivery to subscribers of what the kernel saw first (a
 *              provisional ContainerDied; a start or a sandbox a waiting hint
 *              announced) minus the kernel's own time (kernel_mono_ns: the
 *              exit, the first exec), CLOCK_MONOTONIC;
 *   cri-event  receipt of the CRI event minus its created_at (realtime);
 *   relist     observation (the fetch that read the status) minus the
 *              runtime's timestamp of the transition: created_at for
 *              ContainerCreated and SandboxReady, started_at for
 *              ContainerStarted, finished_at for ContainerDied (realtime).
 * Each source is held to its own clock, so a transition a kernel hint or a
 * CRI event announced but a fetch read without the kernel's or the event's
 * time (a discovery, an incomplete event) is not counted. Neither are
 * transitions without a timestamp (removals, a sandbox going NOTREADY, a
 * container that vanished running) and what the first sync found (the past,
 * not a detection).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "tracker_internal.h"
#include "util.h"

/* ---- hooks (engine thread, except where said) ------------------------------------ */

/* The kubelet observes the interval at the start of each relist, since the
 * last successful relist's start (generic.go Relist). */
void tracker_metrics_relist_started(struct kpleg_tracker *t)
{
	uint64_t now = now_mono_ns(), last = t->stats.last_relist_mono_ns; /* engine's own */

	if (!t->metrics)
		return;
	if (last)
		metrics_hist_observe_span(&t->metrics->relist_interval, last, now);
	atomic_store(&t->metrics->relist_begin_ns, now);
}

/* A relist is done: failed, or every fetch it asked for has answered. */
void tracker_metrics_relist_ended(struct kpleg_tracker *t)
{
	uint64_t begin;

	if (!t->metrics)
		return;
	begin = atomic_exchange(&t->metrics->relist_begin_ns, 0);
	if (begin)
		metrics_hist_observe_span(&t->metrics->relist_duration, begin, now_mono_ns());
}

/* The events thread, on receipt: the kubelet's evented_pleg_connection_latency
 * (now - event.created_at, evented.go). */
void tracker_metrics_cri_event(struct kpleg_tracker *t,
			       const Runtime__V1__ContainerEventResponse *ev)
{
	if (t->metrics && ev->created_at > 0)
		metrics_hist_observe_span(&t->metrics->evented_latency, (uint64_t)ev->created_at,
					  now_real_ns());
}

void tracker_metrics_stream(struct kpleg_tracker *t, bool connected)
{
	if (t->metrics)
		atomic_fetch_add(connected ? &t->metrics->evented_conn_success
					   : &t->metrics->evented_conn_errors, 1);
}

void tracker_metrics_discarded(struct kpleg_tracker *t, uint64_t n)
{
	if (t->metrics)
		atomic_fetch_add(&t->metrics->discard_events, n);
}

/* The runtime's timestamp of the transition @ev reports, 0 if none. */
static int64_t transition_time(struct kpleg_tracker *t, const struct kpleg_event *ev)
{
	struct cache_ctr *ct;
	struct cache_sb *sb;

	if (ev->type == KPLEG_EVENT_SANDBOX_READY) {
		sb = cache_sandbox(t->cache, ev->sandbox_id);
		return sb ? sb->created_at : 0;
	}
	ct = *ev->container_id ? cache_container(t->cache, ev->container_id) : NULL;
	if (!ct)
		return 0;
	switch (ev->type) {
	case KPLEG_EVENT_CONTAINER_CREATED: return ct->created_at;
	case KPLEG_EVENT_CONTAINER_STARTED: return ct->started_at;
	case KPLEG_EVENT_CONTAINER_DIED: return ct->state == KPLEG_CONTAINER_EXITED ? ct->finished_at : 0;
	default: return 0;
	}
}

/* Every event, as it is delivered (inside cache_apply: the cache is current). */
void tracker_metrics_on_emit(struct kpleg_tracker *t, const struct kpleg_event *ev)
{
	struct kpleg_metrics *m = t->metrics;
	int64_t ts;

	if (!m || ev->type == KPLEG_EVENT_POD_SYNC)
		return;
	if (ev->type == KPLEG_EVENT_CONTAINER_CONFIRMED) {
		if (ev->kernel_mono_ns)
			metrics_hist_observe_span(&m->hint_confirm[ev->corrected],
						  ev->kernel_mono_ns, now_mono_ns());
		return;
	}
	if (ev->source == KPLEG_SOURCE_KERNEL) {
		if (ev->kernel_mono_ns)
			metrics_hist_observe_span(&m->detection[KPLEG_SOURCE_KERNEL],
						  ev->kernel_mono_ns, now_mono_ns());
		return;
	}
	if (ev->source == KPLEG_SOURCE_CRI_EVENT) {
		if (t->cri_event_created_at > 0)
			metrics_hist_observe_span(&m->detection[KPLEG_SOURCE_CRI_EVENT],
						  (uint64_t)t->cri_event_created_at,
						  ev->observed_real_ns);
		return;
	}
	if (!t->stats.synced) /* engine's own field: what the first sync found is old */
		return;
	ts = transition_time(t, ev);
	if (ts > 0)
		metrics_hist_observe_span(&m->detection[KPLEG_SOURCE_RELIST], (uint64_t)ts,
					  ev->observed_real_ns);
}

/* ---- rendering ---------------------------------------------------------------------- */

struct running {
	uint64_t pods;
	uint64_t ctrs[4]; /* by enum kpleg_container_state */
};

static int count_pod(struct cache_pod *p, void *arg)
{
	struct running *r = arg;

	for (struct cache_sb *sb = p->sandboxes; sb; sb = sb->next)
		if (sb->state == KPLEG_SANDBOX_READY) {
			r->pods++; /* pods with a running sandbox, as the kubelet counts */
			break;
		}
	for (struct cache_ctr *ct = p->containers; ct; ct = ct->next)
		r->ctrs[(unsigned)ct->state < 4 ? ct->state : KPLEG_CONTAINER_UNKNOWN]++;
	return 0;
}

static const char *const source_names[] = { "relist", "cri-event", "kernel" };

static void write_kubelet(FILE *f, struct kpleg_tracker *t, const struct kpleg_health *h,
			  const struct running *run)
{
	static const char *const states[] = { "created", "running", "exited", "unknown" };
	struct kpleg_metrics *m = t->metrics;

	metrics_family(f, "kpleg_pleg_relist_duration_seconds", "histogram",
		       "Duration in seconds for relisting pods in PLEG (kpleg: from the relist's "
		       "start until every status fetch it asked for has answered, or it failed).");
	metrics_hist_write(f, "kpleg_pleg_relist_duration_seconds", NULL, 0, &m->relist_duration);
	metrics_family(f, "kpleg_pleg_relist_interval_seconds", "histogram",
		       "Interval in seconds between relisting in PLEG (at each relist's start, "
		       "since the last successful relist's start).");
	metrics_hist_write(f, "kpleg_pleg_relist_interval_seconds", NULL, 0, &m->relist_interval);
	metrics_family(f, "kpleg_pleg_discard_events", "counter",
		       "The number of discard events in PLEG (events a queue subscriber lost "
		       "to an overflow).");
	metrics_u64(f, "kpleg_pleg_discard_events", NULL, 0, atomic_load(&m->discard_events));
	metrics_family(f, "kpleg_pleg_last_seen_seconds", "gauge",
		       "Timestamp in seconds when PLEG was last seen active (the start of the "
		       "last successful relist, unix time; 0 before the first).");
	metrics_u64(f, "kpleg_pleg_last_seen_seconds", NULL, 0,
		    h->last_relist_mono_ns ? (h->last_relist_mono_ns + t->real_offset_ns) / NSEC_PER_SEC
					   : 0);
	metrics_family(f, "kpleg_evented_pleg_connection_error_count", "counter",
		       "The number of errors encountered during the establishment of streaming "
		       "connection with the CRI runtime.");
	metrics_u64(f, "kpleg_evented_pleg_connection_error_count", NULL, 0,
		    atomic_load(&m->evented_conn_errors));
	metrics_family(f, "kpleg_evented_pleg_connection_success_count", "counter",
		       "The number of times a streaming client was obtained to receive CRI Events.");
	metrics_u64(f, "kpleg_evented_pleg_connection_success_count", NULL, 0,
		    atomic_load(&m->evented_conn_success));
	metrics_family(f, "kpleg_evented_pleg_connection_latency_seconds", "histogram",
		       "The latency of streaming connection with the CRI runtime, measured in "
		       "seconds (receipt of each CRI event minus its created_at).");
	metrics_hist_write(f, "kpleg_evented_pleg_connection_latency_seconds", NULL, 0,
			   &m->evented_latency);
	metrics_family(f, "kpleg_running_pods", "gauge",
		       "Number of pods that have a running pod sandbox");
	metrics_u64(f, "kpleg_running_pods", NULL, 0, run->pods);
	metrics_family(f, "kpleg_running_containers", "gauge",
		       "Number of containers currently running (by container_state)");
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		metrics_u64(f, "kpleg_running_containers",
			    &(struct metrics_label){ "container_state", states[i] }, 1, run->ctrs[i]);
}

static void write_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_family(f, name, "counter", help);
	metrics_u64(f, name, NULL, 0, v);
}

static void write_gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_family(f, name, "gauge", help);
	metrics_u64(f, name, NULL, 0, v);
}

static void write_cri_calls(FILE *f, const struct kpleg_metrics *m)
{
	metrics_family(f, "kpleg_cri_call_duration_seconds", "histogram",
		       "Duration of kpleg's unary CRI calls, by method and gRPC status code.");
	for (int i = 0; i < MCRI_N; i++)
		for (int k = 0; k < METRICS_GRPC_CODES; k++) {
			struct metrics_label l[] = {
				{ "method", metrics_cri_method_name((enum metrics_cri_method)i) },
				{ "code", cri_status_code_name((grpc_status_code)k) },
			};

			if (metrics_hist_count(&m->cri_call[i][k]))
				metrics_hist_write(f, "kpleg_cri_call_duration_seconds", l, 2,
						   &m->cri_call[i][k]);
		}
}

static void write_own(FILE *f, struct kpleg_tracker *t, const struct kpleg_health *h)
{
	static const char *const outcomes[] = { "confirmed", "corrected" };
	struct kpleg_metrics *m = t->metrics;
	uint64_t begin = atomic_load(&m->relist_begin_ns), now = now_mono_ns();
	bool up[3] = { true, h->events_connected, h->bpf_active };

	metrics_family(f, "kpleg_detection_latency_seconds", "histogram",
		       "Time from a container or sandbox transition to kpleg knowing it, by the "
		       "source that saw it first (kernel: delivery minus the kernel's timestamp; "
		       "cri-event: receipt minus the event's created_at; relist: observation "
		       "minus the runtime's timestamp of the transition).");
	for (size_t i = 0; i < ARRAY_SIZE(source_names); i++)
		metrics_hist_write(f, "kpleg_detection_latency_seconds",
				   &(struct metrics_label){ "source", source_names[i] }, 1,
				   &m->detection[i]);
	metrics_family(f, "kpleg_hint_confirm_latency_seconds", "histogram",
		       "Time from the kernel's exit of a container to the runtime's word on it "
		       "(ContainerConfirmed delivered), by outcome.");
	for (size_t i = 0; i < ARRAY_SIZE(outcomes); i++)
		metrics_hist_write(f, "kpleg_hint_confirm_latency_seconds",
				   &(struct metrics_label){ "outcome", outcomes[i] }, 1,
				   &m->hint_confirm[i]);
	write_counter(f, "kpleg_provisional_exits_total",
		      "Container exits reported from the kernel before the runtime.", h->provisional);
	write_counter(f, "kpleg_provisional_confirmed_total",
		      "Provisional exits the runtime confirmed.", h->provisional_confirmed);
	write_counter(f, "kpleg_provisional_corrected_total",
		      "Provisional exits the runtime corrected (exit code, OOM kill, or still "
		      "running when the retries ran out).", h->provisional_corrected);
	write_counter(f, "kpleg_hints_received_total",
		      "Kernel hints about pod cgroups handed to the engine.", h->hints_received);
	write_counter(f, "kpleg_hints_lost_total",
		      "Kernel hints lost (failed ring buffer reservations).", h->hints_lost);
	write_counter(f, "kpleg_missed_events_total",
		      "Transitions a relist found that no faster source (kernel hints, CRI "
		      "events) announced while it was up.", h->missed_events);
	metrics_family(f, "kpleg_relist_in_flight_seconds", "gauge",
		       "Age of the relist in flight (listing or fetching what it found), 0 when none.");
	metrics_seconds(f, "kpleg_relist_in_flight_seconds", NULL, 0,
			begin && now > begin ? now - begin : 0);
	write_cri_calls(f, m);
	metrics_family(f, "kpleg_source_up", "gauge",
		       "Whether a source feeds the tracker now (relist: always; cri-event: the "
		       "event stream is connected; kernel: the BPF programs are loaded and read).");
	for (size_t i = 0; i < ARRAY_SIZE(source_names); i++)
		metrics_u64(f, "kpleg_source_up",
			    &(struct metrics_label){ "source", source_names[i] }, 1, up[i]);
	metrics_family(f, "kpleg_relist_period_seconds", "gauge", "The relist period in force.");
	metrics_seconds(f, "kpleg_relist_period_seconds", NULL, 0,
			(uint64_t)h->relist_period_ms * NSEC_PER_MSEC);
	write_gauge(f, "kpleg_healthy", "1 when a relist succeeded within the health threshold.",
		    h->healthy);
	write_gauge(f, "kpleg_synced", "1 once the first relist and its fetches are done.",
		    h->synced);
	write_gauge(f, "kpleg_degraded", "1 while part of the node is not current (stuck pods, "
		    "falling behind the CRI event stream); kpleg_healthy stays 1.", h->degraded);
	write_gauge(f, "kpleg_stuck_pods", "Pods whose last status fetch failed for their own "
		    "sake while the runtime answers the relist.", h->stuck_pods);
	write_gauge(f, "kpleg_cri_event_backlog", "CRI events queued for the engine.",
		    h->event_backlog);
	write_counter(f, "kpleg_cri_events_dropped_total", "CRI events dropped when the "
		      "engine's queue overflowed (a relist catches up).", h->events_dropped);
}

int kpleg_tracker__write_metrics(struct kpleg_tracker *t, FILE *out)
{
	struct running run = { 0 };
	struct kpleg_health h;

	if (!t || !out || !t->metrics)
		return -EINVAL;
	kpleg_tracker__health(t, &h);
	pthread_rwlock_rdlock(&t->cache_lock);
	cache_for_each_pod(t->cache, count_pod, &run);
	pthread_rwlock_unlock(&t->cache_lock);
	write_kubelet(out, t, &h, &run);
	write_own(out, t, &h);
	return ferror(out) ? -EIO : 0;
}
