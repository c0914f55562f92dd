// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "util.h"

struct cache *cache__new(void)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (htab_init(&c->pods) < 0 || htab_init(&c->sandboxes) < 0 ||
	    htab_init(&c->containers) < 0 || htab_init(&c->removed) < 0) {
		cache__free(c);
		return NULL;
	}
	return c;
}

void cache_free_pod(struct cache_pod *p)
{
	while (p->sandboxes) {
		struct cache_sb *n = p->sandboxes->next;

		free(p->sandboxes);
		p->sandboxes = n;
	}
	while (p->containers) {
		struct cache_ctr *n = p->containers->next;

		free(p->containers);
		p->containers = n;
	}
	free(p);
}

static int free_pod_cb(struct cache_pod *p, void *arg)
{
	cache_free_pod(p);
	return 0;
}

void cache__free(struct cache *c)
{
	if (!c)
		return;
	if (c->pods.b)
		cache_for_each_pod(c, free_pod_cb, NULL);
	htab_fini(&c->pods);
	htab_fini(&c->sandboxes);
	htab_fini(&c->containers);
	htab_fini(&c->removed);
	free(c->tomb);
	free(c);
}

#define FIND(tab, type, key) ({ struct hnode *_n = htab_find(tab, key); _n ? (type *)_n : NULL; })

struct cache_pod *cache_pod(struct cache *c, const char *uid)
{
	return FIND(&c->pods, struct cache_pod, uid);
}

struct cache_sb *cache_sandbox(struct cache *c, const char *id)
{
	return FIND(&c->sandboxes, struct cache_sb, id);
}

struct cache_ctr *cache_container(struct cache *c, const char *id)
{
	return FIND(&c->containers, struct cache_ctr, id);
}

bool cache_is_removed(struct cache *c, const char *id)
{
	return htab_find(&c->removed, id) != NULL;
}

void cache_bury(struct cache *c, const char *id)
{
	struct tombstone *t;

	/* The ring (~700 KiB) comes with the first removal. Out of memory, the
	 * id is not remembered (as for an id longer than a slot). */
	if (!c->tomb && !(c->tomb = calloc(TOMBSTONES, sizeof(*c->tomb))))
		return;
	t = &c->tomb[c->tomb_next];
	if (strlen(id) >= sizeof(t->id) || cache_is_removed(c, id))
		return;
	if (t->node.key)
		htab_del(&c->removed, &t->node);
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->node.key = t->id;
	if (htab_add(&c->removed, &t->node) < 0)
		t->node.key = NULL;
	c->tomb_next = (c->tomb_next + 1) % TOMBSTONES;
}

void cache_stats(struct cache *c, struct cache_stats *ret)
{
	ret->stale_dropped = c->stale_dropped;
	ret->provisional = c->provisional;
	ret->confirmed = c->confirmed;
	ret->corrected = c->corrected;
	ret->pods = c->pods.n;
	ret->sandboxes = c->sandboxes.n;
	ret->containers = c->containers.n;
}

int cache_for_each_pod(struct cache *c, int (*fn)(struct cache_pod *p, void *arg), void *arg)
{
	for (size_t i = 0; i < c->pods.nb; i++) {
		struct hnode *n = c->pods.b[i], *next;

		for (; n; n = next) {
			int r;

			next = n->next; /* @fn may free the pod */
			r = fn((struct cache_pod *)n, arg);
			if (r)
				return r;
		}
	}
	return 0;
}

/* ---- events ------------------------------------------------------------------ */

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

void cache_emit(struct merge *m, enum kpleg_event_type type, const char *sandbox_id,
		 const struct cache_ctr *ct)
{
	cache_emit_x(m, type, sandbox_id, ct, NULL);
}

void cache_emit_x(struct merge *m, enum kpleg_event_type type, const char *sandbox_id,
		  const struct cache_ctr *ct, const struct kpleg_event_extra *x)
{
	struct kpleg_event ev = { .type = type, .source = m->s->source,
				  .observed_mono_ns = m->s->observed_ns };

	copy_str(ev.pod_uid, sizeof(ev.pod_uid), m->pod->uid);
	copy_str(ev.pod_name, sizeof(ev.pod_name), m->pod->name);
	copy_str(ev.pod_namespace, sizeof(ev.pod_namespace), m->pod->namespace_);
	copy_str(ev.sandbox_id, sizeof(ev.sandbox_id), sandbox_id);
	if (ct) {
		copy_str(ev.container_id, sizeof(ev.container_id), ct->id);
		copy_str(ev.container_name, sizeof(ev.container_name), ct->name);
		if ((type == KPLEG_EVENT_CONTAINER_DIED || type == KPLEG_EVENT_CONTAINER_CONFIRMED) &&
		    ct->state == KPLEG_CONTAINER_EXITED) {
			ev.has_exit_code = true;
			ev.exit_code = ct->exit_code;
			copy_str(ev.reason, sizeof(ev.reason), ct->reason);
		}
		if (type == KPLEG_EVENT_CONTAINER_DIED && ct->provisional) {
			ev.provisional = true;
			ev.kernel_mono_ns = ct->kernel_ns;
		}
	}
	if (x) {
		ev.source = x->source;
		ev.corrected = x->corrected;
		ev.kernel_mono_ns = x->kernel_ns;
		ev.kernel_exit_code = x->kernel_exit_code;
	}
	m->emitted++;
	m->emit(m->ctx, &ev);
}

/* ---- pods -------------------------------------------------------------------- */

struct cache_pod *cache_get_pod(struct merge *m)
{
	struct cache_pod *p = cache_pod(m->c, m->s->uid);
	size_t lu, ln, lns;

	if (p)
		return p;
	lu = strlen(m->s->uid) + 1;
	ln = strlen(m->s->name ? m->s->name : "") + 1;
	lns = strlen(m->s->namespace_ ? m->s->namespace_ : "") + 1;
	p = calloc(1, sizeof(*p) + lu + ln + lns);
	if (!p)
		return NULL;
	p->uid = (char *)(p + 1);
	p->name = p->uid + lu;
	p->namespace_ = p->name + ln;
	memcpy(p->uid, m->s->uid, lu);
	memcpy(p->name, m->s->name ? m->s->name : "", ln);
	memcpy(p->namespace_, m->s->namespace_ ? m->s->namespace_ : "", lns);
	p->node.key = p->uid;
	if (htab_add(&m->c->pods, &p->node) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* A pod first seen through a container-only report learns its name later. */
int cache_fill_pod_meta(struct merge *m)
{
	struct cache_pod *p = m->pod, *np;
	struct hnode *old = &p->node;

	if (*p->name || !m->s->name || !*m->s->name)
		return 0;
	htab_del(&m->c->pods, old);
	np = realloc(p, sizeof(*p) + strlen(p->uid) + strlen(m->s->name) +
				strlen(m->s->namespace_ ? m->s->namespace_ : "") + 3);
	if (!np) {
		htab_add(&m->c->pods, old);
		return -ENOMEM;
	}
	np->uid = (char *)(np + 1);
	np->name = np->uid + strlen(np->uid) + 1;
	strcpy(np->name, m->s->name);
	np->namespace_ = np->name + strlen(np->name) + 1;
	strcpy(np->namespace_, m->s->namespace_ ? m->s->namespace_ : "");
	np->node.key = np->uid;
	htab_add(&m->c->pods, &np->node);
	for (struct cache_sb *sb = np->sandboxes; sb; sb = sb->next)
		sb->pod = np;
	for (struct cache_ctr *ct = np->containers; ct; ct = ct->next)
		ct->pod = np;
	m->pod = np;
	return 0;
}

void cache_drop_pod_if_empty(struct merge *m)
{
	if (m->pod->sandboxes || m->pod->containers)
		return;
	htab_del(&m->c->pods, &m->pod->node);
	cache_free_pod(m->pod);
	m->pod = NULL;
}

void cache_set_error(struct cache *c, const char *uid, int err)
{
	struct cache_pod *p = cache_pod(c, uid);

	if (p && p->last_error != err) {
		p->last_error = err;
		p->generation++;
	}
}
