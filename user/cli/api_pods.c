// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon's Pod messages back into struct kpleg_pod_status, laid out the
 * way the library's copies are (one allocation holding the struct, its
 * arrays and its strings), so kpleg_pod_status__free() frees them and the
 * output code cannot tell a daemon's pod from a local tracker's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"

/* Enum values: proto = C + 1 (proto/kpleg.proto); 0 is never sent. */
static enum kpleg_container_state ctr_state(Kpleg__V1__ContainerState s)
{
	if (s >= KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_CREATED &&
	    s <= KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_UNKNOWN)
		return (enum kpleg_container_state)(s - 1);
	return KPLEG_CONTAINER_UNKNOWN;
}

static enum kpleg_sandbox_state sb_state(Kpleg__V1__SandboxState s)
{
	return s == KPLEG__V1__SANDBOX_STATE__SANDBOX_STATE_READY ? KPLEG_SANDBOX_READY
								  : KPLEG_SANDBOX_NOTREADY;
}

/* The strings of one pod, copied into the end of its block. */
struct strpool {
	char *at, *end;
};

static size_t strsize(const char *s)
{
	return strlen(s ? s : "") + 1;
}

/* A copy of @s in the pool ("" if it does not fit, which pod_strings()
 * below rules out: it counts the same fields). */
static const char *str(struct strpool *sp, const char *s)
{
	size_t n = strsize(s);
	char *r = sp->at;

	if (n > (size_t)(sp->end - sp->at))
		return "";
	memcpy(r, s ? s : "", n);
	sp->at += n;
	return r;
}

/* The bytes str() needs for every string of @m. */
static size_t pod_strings(const Kpleg__V1__Pod *m)
{
	size_t n = strsize(m->uid) + strsize(m->name) + strsize(m->namespace_);

	for (size_t i = 0; i < m->n_sandboxes; i++) {
		const Kpleg__V1__Sandbox *s = m->sandboxes[i];

		n += strsize(s->id) + strsize(s->ip);
		for (size_t k = 0; k < s->n_labels; k++)
			n += strsize(s->labels[k]->key) + strsize(s->labels[k]->value);
	}
	for (size_t i = 0; i < m->n_containers; i++) {
		const Kpleg__V1__Container *c = m->containers[i];

		n += strsize(c->id) + strsize(c->sandbox_id) + strsize(c->name) +
		     strsize(c->reason) + strsize(c->message) + strsize(c->image);
	}
	return n;
}

static void fill_sandbox(struct kpleg_sandbox_status *sb, struct kpleg_label **labels,
			 const Kpleg__V1__Sandbox *m, struct strpool *sp)
{
	sb->id = str(sp, m->id);
	sb->state = sb_state(m->state);
	sb->attempt = m->attempt;
	sb->created_at = m->created_at;
	sb->ip = str(sp, m->ip);
	sb->n_labels = m->n_labels;
	sb->labels = *labels;
	for (size_t k = 0; k < m->n_labels; k++, (*labels)++) {
		(*labels)->key = str(sp, m->labels[k]->key);
		(*labels)->value = str(sp, m->labels[k]->value);
	}
}

static void fill_container(struct kpleg_container_status *c, const Kpleg__V1__Container *m,
			   struct strpool *sp)
{
	c->id = str(sp, m->id);
	c->sandbox_id = str(sp, m->sandbox_id);
	c->name = str(sp, m->name);
	c->attempt = m->attempt;
	c->state = ctr_state(m->state);
	c->exit_code = m->exit_code;
	c->reason = str(sp, m->reason);
	c->message = str(sp, m->message);
	c->image = str(sp, m->image);
	c->created_at = m->created_at;
	c->started_at = m->started_at;
	c->finished_at = m->finished_at;
	c->provisional = m->provisional;
}

/* Fills @p and the arrays that follow it in its block. */
static void fill_pod(struct kpleg_pod_status *p, struct kpleg_sandbox_status *sbs,
		     struct kpleg_container_status *cts, struct kpleg_label *labels,
		     const Kpleg__V1__Pod *m, struct strpool *sp)
{
	p->uid = str(sp, m->uid);
	p->name = str(sp, m->name);
	p->namespace_ = str(sp, m->namespace_);
	p->observed_mono_ns = m->observed_mono_ns;
	p->generation = m->generation;
	p->last_error = m->last_error;
	p->n_sandboxes = m->n_sandboxes;
	p->sandboxes = sbs;
	p->n_containers = m->n_containers;
	p->containers = cts;
	for (size_t i = 0; i < m->n_sandboxes; i++)
		fill_sandbox(&sbs[i], &labels, m->sandboxes[i], sp);
	for (size_t i = 0; i < m->n_containers; i++)
		fill_container(&cts[i], m->containers[i], sp);
}

int api_pod_view(const Kpleg__V1__Pod *m, struct kpleg_pod_status **ret)
{
	struct kpleg_pod_status *p;
	struct kpleg_sandbox_status *sbs;
	struct kpleg_container_status *cts;
	struct kpleg_label *labels;
	struct strpool sp;
	size_t n_labels = 0, fixed, strings = pod_strings(m);

	for (size_t i = 0; i < m->n_sandboxes; i++)
		n_labels += m->sandboxes[i]->n_labels;
	/* Every struct here is pointer-aligned: the arrays follow each other. */
	fixed = sizeof(*p) + m->n_sandboxes * sizeof(*sbs) + m->n_containers * sizeof(*cts) +
		n_labels * sizeof(*labels);
	p = calloc(1, fixed + strings);
	if (!p)
		return -ENOMEM;
	sbs = (struct kpleg_sandbox_status *)(p + 1);
	cts = (struct kpleg_container_status *)(sbs + m->n_sandboxes);
	labels = (struct kpleg_label *)(cts + m->n_containers);
	sp = (struct strpool){ .at = (char *)p + fixed, .end = (char *)p + fixed + strings };
	fill_pod(p, sbs, cts, labels, m, &sp);
	*ret = p;
	return 0;
}

int api_pods_view(Kpleg__V1__Pod *const *msgs, size_t n, struct kpleg_pod_status ***ret)
{
	struct kpleg_pod_status **pods = calloc(n ? n : 1, sizeof(*pods));

	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (api_pod_view(msgs[i], &pods[i]) < 0) {
			kpleg_pod_list__free(pods, i);
			return -ENOMEM;
		}
	*ret = pods;
	return 0;
}

static int cmp_pods(const void *a, const void *b)
{
	const struct kpleg_pod_status *x = *(struct kpleg_pod_status *const *)a;
	const struct kpleg_pod_status *y = *(struct kpleg_pod_status *const *)b;
	int c = strcmp(x->namespace_, y->namespace_);

	if (!c)
		c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->uid, y->uid);
}

void api_pods_sort(struct kpleg_pod_status **pods, size_t n)
{
	if (n)
		qsort(pods, n, sizeof(*pods), cmp_pods);
}

size_t api_pods_keep(struct kpleg_pod_status **pods, size_t n,
		     bool (*keep)(const struct kpleg_pod_status *, const void *), const void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (keep(pods[i], arg)) {
			struct kpleg_pod_status *p = pods[k];

			pods[k++] = pods[i];
			pods[i] = p;
		}
	return k;
}
