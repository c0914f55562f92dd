// SPDX-License-Identifier: Apache-2.0
/*
 * A CRI event is a runtime snapshot of one sandbox: containerd 1.7 sends the
 * sandbox's status and the statuses of its containers (REFERENCE.md §2). We
 * use what it carries and fetch what it lacks: an event whose own container
 * is missing from its statuses (containerd 2.0 has sent empty ones) or that
 * has no sandbox status becomes a targeted fetch. Absence is only concluded
 * from a DELETED event about that very object.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "tracker_internal.h"

static void count(struct kpleg_tracker *t, bool rejected)
{
	pthread_mutex_lock(&t->stats_lock);
	t->stats.events_received++;
	t->stats.events_rejected += rejected;
	pthread_mutex_unlock(&t->stats_lock);
}

/* The event's own time goes with it, for the detection latency metric. */
static void apply_event(struct kpleg_tracker *t, struct snap *s,
			const Runtime__V1__ContainerEventResponse *ev)
{
	t->cri_event_created_at = ev->created_at;
	engine_apply(t, s);
	t->cri_event_created_at = 0;
}

static bool is_deleted(const Runtime__V1__ContainerEventResponse *ev)
{
	return ev->container_event_type ==
	       RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT;
}

/* No sandbox status: a sandbox's DELETED, or an incomplete event. */
static void without_sandbox(struct kpleg_tracker *t, const struct msg *m)
{
	const char *id = m->ev->container_id;
	struct cache_sb *sb = cache_sandbox(t->cache, id);
	struct cache_ctr *ct = cache_container(t->cache, id);
	const char *uid = sb ? sb->pod->uid : ct ? ct->pod->uid : NULL;
	struct snap *s;

	if (!uid) {
		/* Unknown object, unknown pod: the relist will find it if it exists. */
		if (!is_deleted(m->ev) && !cache_is_removed(t->cache, id))
			engine_relist_now(t);
		return;
	}
	if (!is_deleted(m->ev)) {
		engine_request_fetch(t, uid, NULL, 0, true, false, KPLEG_SOURCE_CRI_EVENT);
		return;
	}
	s = snap__new(uid, KPLEG_SOURCE_CRI_EVENT, m->ns);
	if (!s || (sb ? snap_add_sandbox_absent(s, id) : snap_add_container_absent(s, id, NULL)) < 0)
		log_error("\"Out of memory handling a CRI event, the relist recovers\"");
	else
		apply_event(t, s, m->ev);
	snap__free(s);
}

/* Whether a sandbox's own event with no container statuses can be believed:
 * a sandbox being created has no containers yet, and neither has one whose
 * pod we know without any container in it. Otherwise the statuses may simply
 * be missing, as containerd 2.0 has sent them (REFERENCE.md §1). */
static bool empty_sandbox_plausible(struct kpleg_tracker *t, const char *uid, const char *sb_id,
				    int type)
{
	struct cache_pod *p = cache_pod(t->cache, uid);

	if (!p)
		return type == RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT;
	for (struct cache_ctr *ct = p->containers; ct; ct = ct->next)
		if (!strcmp(ct->sandbox_id, sb_id))
			return false;
	return true;
}

static int build(struct kpleg_tracker *t, struct snap *s,
		 const Runtime__V1__ContainerEventResponse *ev, bool *complete)
{
	const Runtime__V1__PodSandboxStatus *ps = ev->pod_sandbox_status;
	bool own_sandbox = !strcmp(ev->container_id, ps->id);
	int r;

	if (own_sandbox)
		*complete = ev->n_containers_statuses > 0 ||
			    empty_sandbox_plausible(t, s->uid, ps->id, ev->container_event_type);
	else
		*complete = is_deleted(ev);
	r = snap_add_sandbox_status(s, ps);
	for (size_t i = 0; r == 0 && i < ev->n_containers_statuses; i++)
		r = snap_add_container_status(s, ps->id, ev->containers_statuses[i]);
	if (r == 0 && is_deleted(ev) && !own_sandbox)
		r = snap_add_container_absent(s, ev->container_id, ps->id);
	if (r == 0 && !own_sandbox && !is_deleted(ev))
		*complete = snap_find_container(s, ev->container_id) != NULL;
	return r;
}

void engine_cri_event(struct kpleg_tracker *t, struct msg *m)
{
	const Runtime__V1__ContainerEventResponse *ev = m->ev;
	struct snap *s;
	bool complete = false;

	count(t, false);
	if (!ev->pod_sandbox_status) {
		without_sandbox(t, m);
		return;
	}
	s = snap__new(ev->pod_sandbox_status->metadata->uid, KPLEG_SOURCE_CRI_EVENT, m->ns);
	if (!s || build(t, s, ev, &complete) < 0) {
		log_error("\"Out of memory handling a CRI event, the relist recovers\"");
		snap__free(s);
		return;
	}
	apply_event(t, s, ev);
	if (!complete)
		engine_request_fetch(t, s->uid, NULL, 0, true, false, KPLEG_SOURCE_CRI_EVENT);
	engine_hints_recheck(t, s->uid);
	snap__free(s);
}
