// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel hints in the engine. The kernel sees a container's processes start,
 * exit and get OOM-killed microseconds after the fact; the runtime reports it
 * tens of milliseconds later (REFERENCE.md §2). So a hint about a container's
 * or sandbox's cgroup:
 *  - for an exit, puts the kernel's exit code (and OOM kill) into the cache at
 *    once, marked provisional: ContainerDied, source kernel, provisional;
 *  - becomes a wait: a targeted fetch of the pod, retried on a short schedule
 *    until the runtime reflects what the kernel saw (cache_apply then confirms
 *    or corrects the provisional exit), given up after hint_retry_max_ms;
 *  - about an object the cache does not know, discovers the pod first
 *    (ListPodSandbox and ListContainers filtered by the pod's UID).
 * One wait per object: any number of hints coalesce into it, and the per-pod
 * fetch state keeps at most one fetch in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpleg_hints.h"
#include "log.h"
#include "tracker_internal.h"
#include "util.h"

/* Retries: the runtime reports an exit 100-300 ms after the kernel here
 * (containerd 1.6 and 1.7), so poll its status for the object every 10 ms
 * for the first second (one cheap call each), every 100 ms after that. An
 * object the runtime does not list yet (a sandbox's cgroup appears while
 * RunPodSandbox runs) costs a discovery each time: back off from 10 ms to
 * 500 ms. */
#define RETRY_FAST_MS 10
#define RETRY_FAST_FOR_MS 1000
#define RETRY_SLOW_MS 100
#define RETRY_DISCOVER_MAX_MS 500
/* ... and not for long: a pod the runtime never lists (another runtime's,
 * on a node that has two) would cost a discovery per hint. 8 tries span
 * about 1.6 s; a later hint or the relist finds what came later still. */
#define RETRY_DISCOVER_TRIES 8
/* With the CRI event stream up the runtime tells us itself: poll only as a
 * safety net for a lost or late event. */
#define RETRY_EVENTED_MS 250
/* Waits without a due retry are checked for staleness this often. */
#define SCAN_MS 1000

static enum hint_want want_of(uint32_t type)
{
	switch (type) {
	case HINT_STARTED:
		return WANT_RUNNING;
	case HINT_EXITED:
	case HINT_CGROUP_REMOVED: /* runc removes the cgroup when the task is deleted */
		return WANT_EXITED;
	default: /* CREATED, OOM (the victim may not be the container's init) */
		return WANT_KNOWN;
	}
}

static bool satisfied(struct kpleg_tracker *t, const struct hint_wait *w)
{
	struct cache_sb *sb = cache_sandbox(t->cache, w->id);
	struct cache_ctr *ct;

	if (sb)
		return w->want != WANT_EXITED || sb->state == KPLEG_SANDBOX_NOTREADY;
	ct = cache_container(t->cache, w->id);
	if (!ct)
		return cache_is_removed(t->cache, w->id);
	switch (w->want) {
	case WANT_KNOWN:
		return true;
	case WANT_RUNNING:
		return ct->state == KPLEG_CONTAINER_RUNNING || ct->state == KPLEG_CONTAINER_EXITED;
	case WANT_EXITED:
		return ct->state == KPLEG_CONTAINER_EXITED && !ct->provisional;
	}
	return true;
}

static void drop(struct kpleg_tracker *t, struct hint_wait *w)
{
	htab_del(&t->hint_waits, &w->node);
	free(w);
}

static struct hint_wait *get_wait(struct kpleg_tracker *t, const char *id, const char *uid)
{
	struct hint_wait *w = (struct hint_wait *)htab_find(&t->hint_waits, id);

	if (w || t->hint_waits.n >= HINT_WAITS_MAX)
		return w; /* NULL when full: the caller still fetches once */
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	snprintf(w->id, sizeof(w->id), "%s", id);
	snprintf(w->uid, sizeof(w->uid), "%s", uid);
	w->node.key = w->id;
	if (htab_add(&t->hint_waits, &w->node) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

static const char *exit_reason(bool oom, int32_t code)
{
	/* containerd's words (its CRI status reasons). */
	return oom ? "OOMKilled" : code == 0 ? "Completed" : "Error";
}

/* The kernel's exit as a provisional cache record, when the cache knows the
 * container and has not seen it exit. */
static void apply_exit(struct kpleg_tracker *t, struct hint_wait *w)
{
	struct cache_ctr *ct = cache_container(t->cache, w->id);
	struct snap_container sc;
	struct snap *s;

	if (!ct)
		return; /* not yet: a fetch will bring it, then we come back */
	w->exit_pending = false;
	if (ct->state == KPLEG_CONTAINER_EXITED)
		return; /* the runtime was first */
	if (ct->kernel_ns && ct->kernel_ns >= w->exit_ns)
		return; /* this exit was applied and settled already (a re-read map) */
	sc = (struct snap_container){
		.id = ct->id,
		.sandbox_id = ct->sandbox_id,
		.name = ct->name,
		.reason = (char *)exit_reason(w->oom, w->exit_code),
		.message = (char *)"",
		.image = ct->image,
		.state = KPLEG_CONTAINER_EXITED,
		.attempt = ct->attempt,
		.exit_code = w->exit_code,
		.created_at = ct->created_at,
		.started_at = ct->started_at ? ct->started_at
		      : w->first_exec_ns ? (int64_t)(w->first_exec_ns + t->real_offset_ns) : 0,
		.finished_at = (int64_t)(w->exit_ns + t->real_offset_ns),
		.provisional = true,
		.oom = w->oom,
		.kernel_ns = w->exit_ns,
	};
	s = snap__new(ct->pod->uid, KPLEG_SOURCE_KERNEL, w->exit_ns);
	if (!s || snap_add_container_copy(s, &sc) < 0)
		log_error("\"Out of memory recording a kernel exit, the runtime's status will do\" "
			  "container=\"%s\"", w->id);
	else
		engine_apply(t, s);
	snap__free(s);
}

/* A container's status when the cache knows it; the whole pod for a
 * sandbox (its pause process exits when the pod stops: the pod's containers
 * changed too); otherwise discover the pod. */
static void ask(struct kpleg_tracker *t, struct hint_wait *w)
{
	struct cache_ctr *ct = cache_container(t->cache, w->id);
	struct fetch_id id = { .sandbox = false };

	w->due_ns = 0;
	w->attempts++;
	if (!ct) {
		engine_request_fetch(t, w->uid, NULL, 0, !cache_sandbox(t->cache, w->id), false,
				     KPLEG_SOURCE_KERNEL);
		return;
	}
	snprintf(id.id, sizeof(id.id), "%s", w->id);
	snprintf(id.sandbox_id, sizeof(id.sandbox_id), "%s", ct->sandbox_id);
	engine_request_object(t, w->uid, &id);
}

static uint64_t retry_delay_ns(struct kpleg_tracker *t, const struct hint_wait *w, uint64_t now)
{
	uint64_t ms;

	if (!cache_container(t->cache, w->id) && !cache_sandbox(t->cache, w->id)) {
		ms = (uint64_t)RETRY_FAST_MS << (w->attempts < 7 ? w->attempts - 1 : 6);
		ms = ms < RETRY_DISCOVER_MAX_MS ? ms : RETRY_DISCOVER_MAX_MS;
	} else if (t->stream_up) {
		ms = RETRY_EVENTED_MS;
	} else {
		ms = now - w->since_ns < RETRY_FAST_FOR_MS * NSEC_PER_MSEC ? RETRY_FAST_MS
									  : RETRY_SLOW_MS;
	}
	return ms * NSEC_PER_MSEC;
}

static bool discovery_spent(struct kpleg_tracker *t, const struct hint_wait *w)
{
	return w->attempts >= RETRY_DISCOVER_TRIES && !cache_container(t->cache, w->id) &&
	       !cache_sandbox(t->cache, w->id);
}

static void set_due(struct kpleg_tracker *t, struct hint_wait *w, uint64_t due)
{
	w->due_ns = due;
	if (due < t->hint_scan_ns)
		t->hint_scan_ns = due;
}

/* The retries ran out. A provisional exit the runtime never confirmed is
 * settled by one last fetch whose statuses overrule it. */
static void give_up(struct kpleg_tracker *t, struct hint_wait *w)
{
	struct cache_ctr *ct = cache_container(t->cache, w->id);

	log_v(1, "\"Runtime did not reflect a kernel hint in time\" id=\"%s\" pod=\"%s\" "
	      "attempts=%u", w->id, w->uid, w->attempts);
	if (ct && ct->provisional)
		engine_request_fetch_overrule(t, ct->pod->uid);
	drop(t, w);
}

static void pod_hint(struct kpleg_tracker *t, const struct msg *m)
{
	/* The pod cgroup goes last, after every container's; a sub-cgroup is a
	 * process tree inside a container: either way, only a reason to look. */
	if (cache_pod(t->cache, m->uid) &&
	    (m->hint.kind == HINT_KIND_SUB || m->hint.type == HINT_CGROUP_REMOVED))
		engine_request_fetch(t, m->uid, NULL, 0, false, false, KPLEG_SOURCE_KERNEL);
}

void engine_hint(struct kpleg_tracker *t, const struct msg *m)
{
	const struct hint_msg *h = &m->hint;
	struct cache_ctr *ct;
	struct cache_sb *sb;
	struct hint_wait *w;
	const char *uid;

	if (h->kind != HINT_KIND_OBJECT) {
		pod_hint(t, m);
		return;
	}
	ct = cache_container(t->cache, h->id);
	sb = ct ? NULL : cache_sandbox(t->cache, h->id);
	if (!ct && !sb && cache_is_removed(t->cache, h->id))
		return; /* old news about an object already gone */
	uid = ct ? ct->pod->uid : sb ? sb->pod->uid : m->uid;
	if (!*uid)
		return; /* no pod to ask about (a podman container outside kubepods) */
	w = get_wait(t, h->id, uid);
	if (!w) {
		engine_request_fetch(t, uid, NULL, 0, !ct && !sb, false, KPLEG_SOURCE_KERNEL);
		return;
	}
	if (!w->since_ns)
		w->since_ns = h->kernel_ns ? h->kernel_ns : now_mono_ns();
	if (want_of(h->type) > w->want)
		w->want = want_of(h->type);
	w->oom |= h->oom;
	if (h->first_exec_ns)
		w->first_exec_ns = h->first_exec_ns;
	if (h->type == HINT_EXITED && !sb) {
		w->exit_pending = true;
		w->exit_code = h->exit_code;
		w->exit_ns = h->kernel_ns;
	}
	if (w->exit_pending)
		apply_exit(t, w);
	if (satisfied(t, w)) {
		drop(t, w);
		return;
	}
	/* Coalesced by the pod's fetch state: at most one fetch in flight, and
	 * one more only if the one in flight started before this hint. */
	ask(t, w);
}

void engine_hints_recheck(struct kpleg_tracker *t, const char *uid)
{
	struct fetch_state *f;
	uint64_t now, cap;
	bool busy;

	if (!t->hint_waits.n)
		return;
	f = (struct fetch_state *)htab_find(&t->fetches, uid);
	busy = f && f->inflight;
	now = now_mono_ns();
	cap = (uint64_t)t->cfg.hint_retry_max_ms * NSEC_PER_MSEC;
	for (size_t i = 0; i < t->hint_waits.nb; i++) {
		struct hnode *n = t->hint_waits.b[i], *next;

		for (; n; n = next) {
			struct hint_wait *w = (struct hint_wait *)n;

			next = n->next;
			if (strcmp(w->uid, uid))
				continue;
			if (w->exit_pending)
				apply_exit(t, w);
			if (satisfied(t, w))
				drop(t, w);
			else if (busy)
				continue; /* the fetch in flight answers next */
			else if (now - w->since_ns > cap || discovery_spent(t, w))
				give_up(t, w);
			else
				set_due(t, w, now + retry_delay_ns(t, w, now));
		}
	}
}

uint64_t engine_hints_tick(struct kpleg_tracker *t, uint64_t now, uint64_t until)
{
	uint64_t stuck = 2 * (uint64_t)t->cfg.hint_retry_max_ms * NSEC_PER_MSEC +
			 2 * (uint64_t)t->cfg.call_timeout_ms * NSEC_PER_MSEC;

	if (!t->hint_waits.n)
		return until;
	/* Nothing due before the next scan: no walk over every wait per message. */
	if (now < t->hint_scan_ns)
		return until < t->hint_scan_ns ? until : t->hint_scan_ns;
	t->hint_scan_ns = now + SCAN_MS * NSEC_PER_MSEC;
	for (size_t i = 0; i < t->hint_waits.nb; i++) {
		struct hnode *n = t->hint_waits.b[i], *next;

		for (; n; n = next) {
			struct hint_wait *w = (struct hint_wait *)n;

			next = n->next;
			if (w->due_ns && w->due_ns <= now)
				ask(t, w);
			else if (w->due_ns && w->due_ns < t->hint_scan_ns)
				t->hint_scan_ns = w->due_ns;
			else if (!w->due_ns && now - w->since_ns > stuck)
				drop(t, w); /* its fetch never came back: the relist covers it */
		}
	}
	return until < t->hint_scan_ns ? until : t->hint_scan_ns;
}

void engine_hints_start_time(struct kpleg_tracker *t, struct kpleg_event *ev)
{
	const char *id = *ev->container_id ? ev->container_id : ev->sandbox_id;
	const struct hint_wait *w;

	/* The wait lasts until the runtime shows the object running, which is
	 * what emits this event: it is still there now. */
	w = (const struct hint_wait *)htab_find(&t->hint_waits, id);
	if (w && w->first_exec_ns && !ev->kernel_mono_ns)
		ev->kernel_mono_ns = w->first_exec_ns;
}

void engine_hints_lost(struct kpleg_tracker *t, const struct msg *m)
{
	if (m->err) {
		t->hints_active = false;
		log_warn("\"Kernel hints stopped; tracking with the CRI sources only\" err=%d", m->err);
		pthread_mutex_lock(&t->stats_lock);
		t->stats.bpf_active = false;
		snprintf(t->stats.bpf_state, sizeof(t->stats.bpf_state), "failed (error %d)", m->err);
		pthread_mutex_unlock(&t->stats_lock);
		engine_relist_now(t);
		return;
	}
	if (!t->hints_reconciling)
		log_warn("\"Kernel hints were lost; reconciling from the BPF map and a relist, "
			 "relisting every %u ms until done\"", t->cfg.relist_period_ms);
	t->hints_reconciling = true;
	t->hints_lost_ns = m->ns;
	engine_relist_now(t);
}

void engine_hints_free(struct kpleg_tracker *t)
{
	for (size_t i = 0; t->hint_waits.b && i < t->hint_waits.nb; i++) {
		struct hnode *n = t->hint_waits.b[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	htab_fini(&t->hint_waits);
}
