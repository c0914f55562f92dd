// SPDX-License-Identifier: Apache-2.0
/* Merging one snapshot into the cache: the only code that changes pod state,
 * run on the engine thread. See cache.h for the rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"

/* Lifecycle order. UNKNOWN says nothing about where a container is. */
static int ctr_rank(int state)
{
	switch (state) {
	case KPLEG_CONTAINER_CREATED: return 0;
	case KPLEG_CONTAINER_RUNNING: return 1;
	case KPLEG_CONTAINER_EXITED:  return 2;
	default:		      return -1;
	}
}

static size_t slen(const char *s)
{
	return strlen(s ? s : "") + 1;
}

static char *put(char **p, const char *s)
{
	char *d = *p;
	size_t n = slen(s);

	memcpy(d, s ? s : "", n);
	*p += n;
	return d;
}

/* Builds a record from @sc; the old record @old (may be NULL) is replaced. */
static struct cache_ctr *new_ctr(const struct snap_container *sc, const struct cache_ctr *old)
{
	const char *sandbox_id = *sc->sandbox_id || !old ? sc->sandbox_id : old->sandbox_id;
	size_t n = slen(sc->id) + slen(sandbox_id) + slen(sc->name) + slen(sc->reason) +
		   slen(sc->message) + slen(sc->image);
	struct cache_ctr *ct = calloc(1, sizeof(*ct) + n);
	char *p;

	if (!ct)
		return NULL;
	p = ct->strs;
	ct->id = put(&p, sc->id);
	ct->sandbox_id = put(&p, sandbox_id);
	ct->name = put(&p, sc->name);
	ct->reason = put(&p, sc->reason);
	ct->message = put(&p, sc->message);
	ct->image = put(&p, sc->image);
	ct->node.key = ct->id;
	ct->state = sc->state;
	ct->attempt = sc->attempt;
	ct->exit_code = sc->exit_code;
	ct->created_at = sc->created_at;
	ct->started_at = sc->started_at;
	ct->finished_at = sc->finished_at;
	ct->provisional = sc->provisional;
	ct->kernel_oom = sc->provisional ? sc->oom : old && old->kernel_oom;
	ct->kernel_exit_code = sc->provisional ? sc->exit_code : old ? old->kernel_exit_code : 0;
	/* The last kernel exit applied outlives its confirmation, so that the
	 * same exit seen again (the map re-read after a loss) is not news. */
	ct->kernel_ns = sc->provisional ? sc->kernel_ns : old ? old->kernel_ns : 0;
	return ct;
}

static bool ctr_differs(const struct cache_ctr *a, const struct snap_container *b)
{
	return a->state != b->state || a->exit_code != b->exit_code ||
	       a->provisional != b->provisional ||
	       a->attempt != b->attempt || a->started_at != b->started_at ||
	       a->finished_at != b->finished_at || strcmp(a->reason, b->reason) ||
	       strcmp(a->message, b->message) || strcmp(a->image, b->image);
}

static void unlink_ctr(struct merge *m, struct cache_ctr *ct)
{
	struct cache_ctr **pp;

	for (pp = &ct->pod->containers; *pp; pp = &(*pp)->next)
		if (*pp == ct) {
			*pp = ct->next;
			break;
		}
	ct->pod->n_containers--;
	htab_del(&m->c->containers, &ct->node);
}

static int link_ctr(struct merge *m, struct cache_ctr *ct)
{
	if (htab_add(&m->c->containers, &ct->node) < 0)
		return -ENOMEM;
	ct->pod = m->pod;
	ct->next = m->pod->containers;
	m->pod->containers = ct;
	m->pod->n_containers++;
	return 0;
}

/* Events for a container moving from @old_state (-2: never seen) to @ct's state. */
static void ctr_transitions(struct merge *m, int old_state, const struct cache_ctr *ct)
{
	int from = ctr_rank(old_state), to = ctr_rank(ct->state);

	if (old_state == -2 && !m->s->backfill) { /* found at start-up: current state only */
		static const enum kpleg_event_type first[] = { KPLEG_EVENT_CONTAINER_CREATED,
							       KPLEG_EVENT_CONTAINER_STARTED,
							       KPLEG_EVENT_CONTAINER_DIED };
		if (to >= 0)
			cache_emit(m, first[to], ct->sandbox_id, ct);
		return;
	}
	if (old_state == -2) { /* born since we started: its whole life so far */
		cache_emit(m, KPLEG_EVENT_CONTAINER_CREATED, ct->sandbox_id, ct);
		from = 0;
	}
	if (from < 1 && to >= 1 && (to == 1 || ct->started_at > 0))
		cache_emit(m, KPLEG_EVENT_CONTAINER_STARTED, ct->sandbox_id, ct);
	if (from < 2 && to == 2)
		cache_emit(m, KPLEG_EVENT_CONTAINER_DIED, ct->sandbox_id, ct);
}

static int merge_ctr_absent(struct merge *m, const struct snap_container *sc)
{
	struct cache_ctr *ct = cache_container(m->c, sc->id);

	if (!ct) {
		cache_bury(m->c, sc->id);
		return 0;
	}
	if (ct->pod != m->pod)
		return 0; /* not this pod's to remove */
	/* The kubelet's rule: a container that vanishes without being seen exited
	 * died first (one never started did not). */
	if (ct->state == KPLEG_CONTAINER_RUNNING || ct->state == KPLEG_CONTAINER_UNKNOWN)
		cache_emit(m, KPLEG_EVENT_CONTAINER_DIED, ct->sandbox_id, ct);
	cache_emit(m, KPLEG_EVENT_CONTAINER_REMOVED, ct->sandbox_id, ct);
	unlink_ctr(m, ct);
	cache_bury(m->c, ct->id);
	free(ct);
	m->changed++;
	return 0;
}

/* Puts @ct in the place of @old (NULL: a new object); @ct is freed on error. */
static int replace_ctr(struct merge *m, struct cache_ctr *old, struct cache_ctr *ct)
{
	if (old) {
		unlink_ctr(m, old);
		free(old);
	}
	if (link_ctr(m, ct) < 0) {
		free(ct);
		return -ENOMEM;
	}
	m->changed++;
	return 0;
}

/* containerd's word for "exited, status lost" (CRI's unknownExitCode and
 * unknownExitReason): what it reports after a restart for a container whose
 * processes died while it was down, once it has cleaned their shim up. */
static bool exit_status_lost(const struct snap_container *sc)
{
	return sc->state == KPLEG_CONTAINER_EXITED && sc->exit_code == 255 && sc->reason &&
	       !strcmp(sc->reason, "Unknown");
}

/* The runtime lost the status of an exit the kernel saw: keep the kernel's
 * exit code and reason in @tmp (a copy of @sc) and return it, else @sc. */
static const struct snap_container *keep_kernel_exit(const struct cache_ctr *old,
						     const struct snap_container *sc,
						     struct snap_container *tmp)
{
	if (!old || !old->kernel_ns || old->attempt != sc->attempt || !exit_status_lost(sc) ||
	    (old->state != KPLEG_CONTAINER_EXITED))
		return sc;
	*tmp = *sc;
	tmp->exit_code = old->kernel_exit_code;
	tmp->reason = (char *)old->reason; /* read only */
	return tmp;
}

/* The runtime's report on a container whose exit the kernel announced:
 * confirm it (same exit code, and OOMKilled exactly when the kernel saw an
 * OOM kill) or correct it. A runtime that still says the container runs is
 * only lagging, until the hint's retries run out (then s->overrule). */
static int confirm_ctr(struct merge *m, struct cache_ctr *old, const struct snap_container *sc)
{
	struct snap_container tmp;
	bool oom;
	/* The runtime's word came through a status fetch (most often one a
	 * hint asked for) or a CRI event: the event names that channel. */
	struct kpleg_event_extra x = {
		.source = m->s->source == KPLEG_SOURCE_CRI_EVENT ? KPLEG_SOURCE_CRI_EVENT
								 : KPLEG_SOURCE_RELIST,
		.kernel_ns = old->kernel_ns,
		.kernel_exit_code = old->kernel_exit_code,
	};
	struct cache_ctr *ct;

	if (sc->state != KPLEG_CONTAINER_EXITED && !m->s->overrule)
		return 0;
	sc = keep_kernel_exit(old, sc, &tmp);
	oom = sc->reason && !strcmp(sc->reason, "OOMKilled");
	ct = new_ctr(sc, old);
	if (!ct)
		return -ENOMEM;
	ct->observed_ns = m->s->observed_ns > old->observed_ns ? m->s->observed_ns
								 : old->observed_ns;
	x.corrected = sc->state != KPLEG_CONTAINER_EXITED ||
		      sc->exit_code != old->kernel_exit_code || oom != old->kernel_oom;
	if (replace_ctr(m, old, ct) < 0)
		return -ENOMEM;
	if (x.corrected)
		m->c->corrected++;
	else
		m->c->confirmed++;
	cache_emit_x(m, KPLEG_EVENT_CONTAINER_CONFIRMED, ct->sandbox_id, ct, &x);
	return 0;
}

static int merge_ctr(struct merge *m, const struct snap_container *sc)
{
	struct snap_container tmp;
	struct cache_ctr *old, *ct;
	int old_state;

	if (sc->absent)
		return merge_ctr_absent(m, sc);
	old = cache_container(m->c, sc->id);
	if (old && old->provisional && !sc->provisional && old->pod == m->pod)
		return confirm_ctr(m, old, sc);
	/* Later reports of a lost status are not news about a confirmed exit. */
	sc = keep_kernel_exit(old, sc, &tmp);
	/* The runtime knew first, or a second kernel report: nothing new. */
	if (old && sc->provisional && ctr_rank(old->state) >= ctr_rank(sc->state))
		return 0;
	if (!old && cache_is_removed(m->c, sc->id)) {
		m->c->stale_dropped++;
		return 0;
	}
	if (old && (ctr_rank(sc->state) < ctr_rank(old->state) ||
		    (ctr_rank(sc->state) == ctr_rank(old->state) &&
		     m->s->observed_ns < old->observed_ns))) {
		if (sc->state != KPLEG_CONTAINER_UNKNOWN)
			m->c->stale_dropped++;
		return 0;
	}
	if (old && (old->pod != m->pod || !ctr_differs(old, sc))) {
		old->observed_ns = m->s->observed_ns > old->observed_ns ? m->s->observed_ns
									: old->observed_ns;
		return 0;
	}
	ct = new_ctr(sc, old);
	if (!ct)
		return -ENOMEM;
	ct->observed_ns = m->s->observed_ns;
	old_state = old ? old->state : -2;
	if (replace_ctr(m, old, ct) < 0)
		return -ENOMEM;
	m->c->provisional += ct->provisional;
	ctr_transitions(m, old_state, ct);
	return 0;
}

/* ---- sandboxes ----------------------------------------------------------------- */

static struct cache_sb *new_sb(const struct snap_sandbox *ss, const char *ip)
{
	size_t n = slen(ss->id) + slen(ip), i;
	struct cache_sb *sb;
	char *p;

	for (i = 0; i < ss->n_labels; i++)
		n += slen(ss->labels[i].key) + slen(ss->labels[i].value);
	sb = calloc(1, sizeof(*sb) + ss->n_labels * sizeof(struct kpleg_label) + n);
	if (!sb)
		return NULL;
	sb->labels = (struct kpleg_label *)sb->strs;
	p = sb->strs + ss->n_labels * sizeof(struct kpleg_label);
	sb->id = put(&p, ss->id);
	sb->ip = put(&p, ip);
	for (i = 0; i < ss->n_labels; i++) {
		sb->labels[i].key = put(&p, ss->labels[i].key);
		sb->labels[i].value = put(&p, ss->labels[i].value);
	}
	sb->n_labels = ss->n_labels;
	sb->node.key = sb->id;
	sb->state = ss->state;
	sb->attempt = ss->attempt;
	sb->created_at = ss->created_at;
	return sb;
}

static void unlink_sb(struct merge *m, struct cache_sb *sb)
{
	struct cache_sb **pp;

	for (pp = &sb->pod->sandboxes; *pp; pp = &(*pp)->next)
		if (*pp == sb) {
			*pp = sb->next;
			break;
		}
	sb->pod->n_sandboxes--;
	htab_del(&m->c->sandboxes, &sb->node);
}

static int merge_sb_absent(struct merge *m, const struct snap_sandbox *ss)
{
	struct cache_sb *sb = cache_sandbox(m->c, ss->id);

	if (!sb) {
		cache_bury(m->c, ss->id);
		return 0;
	}
	if (sb->pod != m->pod)
		return 0;
	/* Each state entered, whichever source saw it: a sandbox that vanished
	 * while ready was stopped first. */
	if (sb->state == KPLEG_SANDBOX_READY)
		cache_emit(m, KPLEG_EVENT_SANDBOX_NOTREADY, sb->id, NULL);
	cache_emit(m, KPLEG_EVENT_SANDBOX_REMOVED, sb->id, NULL);
	unlink_sb(m, sb);
	cache_bury(m->c, sb->id);
	free(sb);
	m->changed++;
	return 0;
}

static int merge_sb(struct merge *m, const struct snap_sandbox *ss)
{
	struct cache_sb *old, *sb;
	const char *ip;

	if (ss->absent)
		return merge_sb_absent(m, ss);
	old = cache_sandbox(m->c, ss->id);
	if ((!old && cache_is_removed(m->c, ss->id)) ||
	    (old && (ss->state < old->state ||
		     (ss->state == old->state && m->s->observed_ns < old->observed_ns)))) {
		m->c->stale_dropped++;
		return 0;
	}
	/* A status without an IP keeps the one we had (the kubelet does too). */
	ip = *ss->ip || !old ? ss->ip : old->ip;
	if (old && (old->pod != m->pod ||
		    (old->state == ss->state && !strcmp(old->ip, ip) &&
		     old->n_labels == ss->n_labels))) {
		if (m->s->observed_ns > old->observed_ns)
			old->observed_ns = m->s->observed_ns;
		return 0;
	}
	sb = new_sb(ss, ip);
	if (!sb)
		return -ENOMEM;
	sb->observed_ns = m->s->observed_ns;
	if (htab_add(&m->c->sandboxes, &sb->node) < 0) {
		free(sb);
		return -ENOMEM;
	}
	if (old) {
		unlink_sb(m, old);
		/* re-added below under the same key */
	}
	sb->pod = m->pod;
	sb->next = m->pod->sandboxes;
	m->pod->sandboxes = sb;
	m->pod->n_sandboxes++;
	m->changed++;
	if (!old && m->s->backfill && sb->state == KPLEG_SANDBOX_NOTREADY)
		cache_emit(m, KPLEG_EVENT_SANDBOX_READY, sb->id, NULL);
	if (!old || old->state != sb->state)
		cache_emit(m, sb->state == KPLEG_SANDBOX_READY ? KPLEG_EVENT_SANDBOX_READY
							       : KPLEG_EVENT_SANDBOX_NOTREADY,
			   sb->id, NULL);
	free(old);
	return 0;
}

/* Sandboxes first so container events carry the pod's name; removals of
 * containers before their sandbox. */
int cache_apply(struct cache *c, const struct snap *s, cache_emit_fn emit, void *ctx)
{
	struct merge m = { .c = c, .s = s, .emit = emit, .ctx = ctx };
	uint64_t gen;
	int r = 0;

	m.pod = cache_get_pod(&m);
	if (!m.pod || cache_fill_pod_meta(&m) < 0)
		return -ENOMEM;
	gen = m.pod->generation;
	for (size_t i = 0; i < s->n_sandboxes && r == 0; i++)
		if (!s->sandboxes[i].absent)
			r = merge_sb(&m, &s->sandboxes[i]);
	for (size_t i = 0; i < s->n_containers && r == 0; i++)
		r = merge_ctr(&m, &s->containers[i]);
	for (size_t i = 0; i < s->n_sandboxes && r == 0; i++)
		if (s->sandboxes[i].absent)
			r = merge_sb(&m, &s->sandboxes[i]);
	if (s->fetched)
		m.pod->last_error = 0;
	if (s->observed_ns > m.pod->observed_ns &&
	    (s->fetched || s->n_sandboxes >= m.pod->n_sandboxes))
		m.pod->observed_ns = s->observed_ns;
	if (m.changed) {
		m.pod->generation = gen + 1;
		if (!m.emitted && r == 0)
			cache_emit(&m, KPLEG_EVENT_POD_SYNC, "", NULL);
	}
	cache_drop_pod_if_empty(&m);
	return r < 0 ? r : m.changed;
}
