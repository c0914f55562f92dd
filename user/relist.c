// SPDX-License-Identifier: Apache-2.0
/*
 * The generic relist's diff (REFERENCE.md §1): group ListPodSandbox and
 * ListContainers by pod, compare each object's state with the cache, and
 * fetch the full status of only the pods that changed (or whose last fetch
 * failed). Events come later, from the fetched snapshots, so that they carry
 * exit codes and a failed fetch emits nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracker_internal.h"
#include "util.h"

/* A pod as the lists show it. */
struct lpod {
	struct hnode node;
	char uid[KPLEG_ID_MAX];
	bool changed;
	size_t n, cap;
	struct fetch_id *ids;
};

/* A listed sandbox, to find the pod of a listed container. */
struct lsb {
	struct hnode node;
	struct lpod *pod;
};

struct diff {
	struct kpleg_tracker *t;
	struct htab pods, sandboxes;
	struct lsb *lsbs;
};

int fetch_ids_add(struct fetch_id **ids, size_t *n, size_t *cap, const char *id,
		  const char *sandbox_id, bool sandbox)
{
	struct fetch_id *f;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*ids)[i].id, id))
			return 0;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4;
		struct fetch_id *a = realloc(*ids, c * sizeof(*a));

		if (!a)
			return -ENOMEM;
		*ids = a;
		*cap = c;
	}
	f = &(*ids)[(*n)++];
	snprintf(f->id, sizeof(f->id), "%s", id);
	snprintf(f->sandbox_id, sizeof(f->sandbox_id), "%s", sandbox_id ? sandbox_id : "");
	f->sandbox = sandbox;
	return 0;
}

static struct lpod *get_lpod(struct diff *d, const char *uid)
{
	struct lpod *p = (struct lpod *)htab_find(&d->pods, uid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	p->node.key = p->uid;
	if (htab_add(&d->pods, &p->node) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

static int diff_sandboxes(struct diff *d, const struct cri_list_view *l)
{
	d->lsbs = calloc(l->n_sandboxes ? l->n_sandboxes : 1, sizeof(*d->lsbs));
	if (!d->lsbs)
		return -ENOMEM;
	for (size_t i = 0; i < l->n_sandboxes; i++) {
		const struct lv_sandbox *it = &l->sandboxes[i];
		struct lpod *p = get_lpod(d, it->uid);
		struct cache_sb *sb = cache_sandbox(d->t->cache, it->id);

		if (!p || fetch_ids_add(&p->ids, &p->n, &p->cap, it->id, NULL, true) < 0)
			return -ENOMEM;
		if (!sb || sb->state != it->state || strcmp(sb->pod->uid, p->uid))
			p->changed = true;
		d->lsbs[i].node.key = it->id;
		d->lsbs[i].pod = p;
		if (htab_add(&d->sandboxes, &d->lsbs[i].node) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The pod of a listed container: its listed sandbox, else the cached one,
 * else the kubelet's label. */
static const char *container_uid(struct diff *d, const struct lv_container *c)
{
	struct lsb *l = (struct lsb *)htab_find(&d->sandboxes, c->sandbox_id);
	struct cache_sb *sb;

	if (l)
		return l->pod->uid;
	sb = cache_sandbox(d->t->cache, c->sandbox_id);
	if (sb)
		return sb->pod->uid;
	return c->pod_uid_label;
}

static int diff_containers(struct diff *d, const struct cri_list_view *l)
{
	for (size_t i = 0; i < l->n_containers; i++) {
		const struct lv_container *it = &l->containers[i];
		const char *uid = container_uid(d, it);
		struct cache_ctr *ct = cache_container(d->t->cache, it->id);
		struct lpod *p;

		if (!uid || !*uid || strlen(uid) >= KPLEG_ID_MAX)
			continue; /* a container of no pod we can name */
		p = get_lpod(d, uid);
		if (!p || fetch_ids_add(&p->ids, &p->n, &p->cap, it->id, it->sandbox_id, false) < 0)
			return -ENOMEM;
		if (!ct || ct->state != it->state)
			p->changed = true;
	}
	return 0;
}

static bool listed(const struct lpod *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->ids[i].id, id))
			return true;
	return false;
}

/* Cached pods: gone from the lists, partly gone, or waiting for a retry. */
static int diff_cached_pod(struct cache_pod *cp, void *arg)
{
	struct diff *d = arg;
	struct lpod *p = (struct lpod *)htab_find(&d->pods, cp->uid);

	if (!p) {
		p = get_lpod(d, cp->uid);
		if (!p)
			return -ENOMEM;
		p->changed = true;
	}
	if (cp->last_error)
		p->changed = true;
	for (struct cache_sb *sb = cp->sandboxes; sb && !p->changed; sb = sb->next)
		p->changed = !listed(p, sb->id);
	for (struct cache_ctr *ct = cp->containers; ct && !p->changed; ct = ct->next)
		p->changed = !listed(p, ct->id);
	return 0;
}

static int request_changed(struct diff *d)
{
	for (size_t i = 0; i < d->pods.nb; i++)
		for (struct hnode *n = d->pods.b[i]; n; n = n->next) {
			struct lpod *p = (struct lpod *)n;

			if (p->changed)
				engine_request_fetch(d->t, p->uid, p->ids, p->n, false, true,
						     KPLEG_SOURCE_RELIST);
		}
	return 0;
}

static void diff_free(struct diff *d)
{
	for (size_t i = 0; d->pods.b && i < d->pods.nb; i++) {
		struct hnode *n = d->pods.b[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(((struct lpod *)n)->ids);
			free(n);
		}
	}
	htab_fini(&d->pods);
	htab_fini(&d->sandboxes);
	free(d->lsbs);
}

int relist_diff(struct kpleg_tracker *t, const struct msg *m)
{
	struct diff d = { .t = t };
	int r;

	t->relist_gen++;
	t->relist_pending = 0;
	t->relist_list_ns = m->ns;
	r = htab_init(&d.pods);
	if (r == 0)
		r = htab_init(&d.sandboxes);
	if (r == 0)
		r = diff_sandboxes(&d, m->view);
	if (r == 0)
		r = diff_containers(&d, m->view);
	if (r == 0)
		r = cache_for_each_pod(t->cache, diff_cached_pod, &d);
	if (r == 0)
		r = request_changed(&d);
	diff_free(&d);
	if (r < 0)
		log_error("\"Relist diff failed, retrying next period\" err=%d", r);
	else if (!t->relist_pending)
		engine_relist_synced(t);
	return r;
}

/* ---- targeted fetches ------------------------------------------------------------ */

static struct fetch_state *get_fetch(struct kpleg_tracker *t, const char *uid)
{
	struct fetch_state *f = (struct fetch_state *)htab_find(&t->fetches, uid);

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	snprintf(f->uid, sizeof(f->uid), "%s", uid);
	f->node.key = f->uid;
	if (htab_add(&t->fetches, &f->node) < 0) {
		free(f);
		return NULL;
	}
	pthread_mutex_lock(&t->stats_lock);
	t->stats.fetches_pending = t->fetches.n;
	pthread_mutex_unlock(&t->stats_lock);
	return f;
}

/* The job: what was asked for plus everything the cache has for the pod. */
static struct job *make_job(struct kpleg_tracker *t, struct fetch_state *f)
{
	struct job *j = calloc(1, sizeof(*j));
	struct cache_pod *p = cache_pod(t->cache, f->uid);

	if (!j)
		return NULL;
	j->result = msg__new(MSG_FETCH_DONE);
	if (!j->result) {
		free(j);
		return NULL;
	}
	snprintf(j->result->uid, sizeof(j->result->uid), "%s", f->uid);
	snprintf(j->uid, sizeof(j->uid), "%s", f->uid);
	j->discover = f->discover || !p;
	j->overrule = f->overrule;
	j->narrow = !f->wide && !j->discover && f->n_ids;
	f->wide = false;
	j->source = f->source;
	j->from_relist = f->relist_gen == t->relist_gen && f->source == KPLEG_SOURCE_RELIST;
	f->overrule = false;
	f->source = KPLEG_SOURCE_RELIST;
	j->ids = f->ids;
	j->n_ids = f->n_ids;
	j->cap_ids = f->cap_ids;
	f->ids = NULL;
	f->n_ids = f->cap_ids = 0;
	f->discover = false;
	for (struct cache_sb *sb = p && !j->narrow ? p->sandboxes : NULL; sb; sb = sb->next)
		fetch_ids_add(&j->ids, &j->n_ids, &j->cap_ids, sb->id, NULL, true);
	for (struct cache_ctr *ct = p && !j->narrow ? p->containers : NULL; ct; ct = ct->next)
		fetch_ids_add(&j->ids, &j->n_ids, &j->cap_ids, ct->id, ct->sandbox_id, false);
	return j;
}

void engine_request_fetch_overrule(struct kpleg_tracker *t, const char *uid)
{
	struct fetch_state *f = get_fetch(t, uid);

	if (f)
		f->overrule = true;
	engine_request_fetch(t, uid, NULL, 0, false, false, KPLEG_SOURCE_KERNEL);
}

static bool in_job(const struct job *j, const char *id)
{
	for (size_t i = 0; i < j->n_ids; i++)
		if (!strcmp(j->ids[i].id, id))
			return true;
	return false;
}

/* A request while a fetch is in flight: run once more afterwards only if the
 * fetch cannot answer it, i.e. it started reading the runtime before the
 * request's data (for a relist: its list) or lacks an id or a discovery. */
static void coalesce(struct kpleg_tracker *t, struct fetch_state *f, uint64_t asked_ns)
{
	uint64_t started = atomic_load(&f->job->started_ns);

	if ((started && started < asked_ns) || f->n_ids || (f->discover && !f->job->discover) ||
	    f->overrule || (f->wide && f->job->narrow))
		f->dirty = true;
}

static void request(struct kpleg_tracker *t, const char *uid, const struct fetch_id *ids,
		    size_t n_ids, bool discover, bool from_relist, enum kpleg_source source,
		    bool narrow)
{
	struct fetch_state *f = get_fetch(t, uid);
	struct job *j;

	if (!f) {
		log_error("\"Out of memory queueing a pod fetch, the next relist retries\" pod=\"%s\"",
			  uid);
		return;
	}
	f->wide |= !narrow;
	for (size_t i = 0; i < n_ids; i++)
		if (!f->inflight || !in_job(f->job, ids[i].id))
			fetch_ids_add(&f->ids, &f->n_ids, &f->cap_ids, ids[i].id, ids[i].sandbox_id,
			       ids[i].sandbox);
	f->discover |= discover;
	/* The data answers every asker; it is credited to the first source
	 * that announced a change (a hint or an event before the relist). */
	if (source != KPLEG_SOURCE_RELIST)
		f->source = source;
	if (from_relist && f->relist_gen != t->relist_gen) {
		f->relist_gen = t->relist_gen;
		t->relist_pending++;
	}
	if (f->inflight) {
		coalesce(t, f, from_relist ? t->relist_list_ns : now_mono_ns());
		return;
	}
	j = make_job(t, f);
	if (!j)
		return;
	f->inflight = true;
	f->job = j;
	workers_submit(t, j);
}

void engine_request_fetch(struct kpleg_tracker *t, const char *uid, const struct fetch_id *ids,
			  size_t n_ids, bool discover, bool from_relist, enum kpleg_source source)
{
	request(t, uid, ids, n_ids, discover, from_relist, source, false);
}

void engine_request_object(struct kpleg_tracker *t, const char *uid, const struct fetch_id *id)
{
	request(t, uid, id, 1, false, false, KPLEG_SOURCE_KERNEL, true);
}

void engine_refetch(struct kpleg_tracker *t, struct fetch_state *f)
{
	request(t, f->uid, NULL, 0, false, false, f->source, !f->wide);
}
