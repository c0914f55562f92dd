// SPDX-License-Identifier: Apache-2.0
/* Copies a cached pod out for API readers: one allocation, strings inside. */
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"


static size_t sl(const char *s)
{
	return strlen(s) + 1;
}

static size_t pod_size(const struct cache_pod *p)
{
	size_t n = sizeof(struct kpleg_pod_status) + sl(p->uid) + sl(p->name) + sl(p->namespace_);

	for (const struct cache_sb *sb = p->sandboxes; sb; sb = sb->next) {
		n += sizeof(struct kpleg_sandbox_status) + sl(sb->id) + sl(sb->ip);
		for (size_t i = 0; i < sb->n_labels; i++)
			n += sizeof(struct kpleg_label) + sl(sb->labels[i].key) +
			     sl(sb->labels[i].value);
	}
	for (const struct cache_ctr *c = p->containers; c; c = c->next)
		n += sizeof(struct kpleg_container_status) + sl(c->id) + sl(c->sandbox_id) +
		     sl(c->name) + sl(c->reason) + sl(c->message) + sl(c->image);
	return n + 16; /* alignment slack */
}

static const char *put(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = *p;

	memcpy(d, s, n);
	*p += n;
	return d;
}

static void copy_sandbox(struct kpleg_sandbox_status *d, const struct cache_sb *sb,
			 struct kpleg_label **labels, char **p)
{
	d->id = put(p, sb->id);
	d->ip = put(p, sb->ip);
	d->state = sb->state;
	d->attempt = sb->attempt;
	d->created_at = sb->created_at;
	d->n_labels = sb->n_labels;
	d->labels = *labels;
	for (size_t i = 0; i < sb->n_labels; i++) {
		(*labels)[i].key = put(p, sb->labels[i].key);
		(*labels)[i].value = put(p, sb->labels[i].value);
	}
	*labels += sb->n_labels;
}

static void copy_container(struct kpleg_container_status *d, const struct cache_ctr *c, char **p)
{
	d->id = put(p, c->id);
	d->sandbox_id = put(p, c->sandbox_id);
	d->name = put(p, c->name);
	d->reason = put(p, c->reason);
	d->message = put(p, c->message);
	d->image = put(p, c->image);
	d->attempt = c->attempt;
	d->state = c->state;
	d->exit_code = c->exit_code;
	d->created_at = c->created_at;
	d->started_at = c->started_at;
	d->finished_at = c->finished_at;
	d->provisional = c->provisional;
}

struct kpleg_pod_status *cache_copy_pod(const struct cache_pod *p)
{
	struct kpleg_pod_status *out = calloc(1, pod_size(p));
	struct kpleg_sandbox_status *sbs;
	struct kpleg_container_status *cts;
	struct kpleg_label *labels;
	size_t n_labels = 0, i;
	char *s;

	if (!out)
		return NULL;
	for (const struct cache_sb *sb = p->sandboxes; sb; sb = sb->next)
		n_labels += sb->n_labels;
	/* Fixed-size arrays first (aligned), then the strings. */
	sbs = (struct kpleg_sandbox_status *)(out + 1);
	cts = (struct kpleg_container_status *)(sbs + p->n_sandboxes);
	labels = (struct kpleg_label *)(cts + p->n_containers);
	s = (char *)(labels + n_labels);
	out->uid = put(&s, p->uid);
	out->name = put(&s, p->name);
	out->namespace_ = put(&s, p->namespace_);
	out->observed_mono_ns = p->observed_ns;
	out->generation = p->generation;
	out->last_error = p->last_error;
	out->sandboxes = sbs;
	out->containers = cts;
	i = 0;
	for (const struct cache_sb *sb = p->sandboxes; sb; sb = sb->next)
		copy_sandbox(&sbs[i++], sb, &labels, &s);
	out->n_sandboxes = i;
	i = 0;
	for (const struct cache_ctr *c = p->containers; c; c = c->next)
		copy_container(&cts[i++], c, &s);
	out->n_containers = i;
	return out;
}

void kpleg_pod_status__free(struct kpleg_pod_status *p)
{
	free(p);
}

void kpleg_pod_list__free(struct kpleg_pod_status **pods, size_t n)
{
	if (!pods)
		return;
	for (size_t i = 0; i < n; i++)
		free(pods[i]);
	free(pods);
}
