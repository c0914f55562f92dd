// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct snap *snap__new(const char *uid, enum kpleg_source source, uint64_t observed_ns)
{
	struct snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->uid = strdup(uid);
	if (!s->uid) {
		free(s);
		return NULL;
	}
	s->source = source;
	s->observed_ns = observed_ns;
	return s;
}

static void free_sandbox(struct snap_sandbox *sb)
{
	free(sb->id);
	free(sb->ip);
	for (size_t i = 0; i < sb->n_labels; i++) {
		free(sb->labels[i].key);
		free(sb->labels[i].value);
	}
	free(sb->labels);
}

static void free_container(struct snap_container *c)
{
	free(c->id);
	free(c->sandbox_id);
	free(c->name);
	free(c->reason);
	free(c->message);
	free(c->image);
}

void snap__free(struct snap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_sandboxes; i++)
		free_sandbox(&s->sandboxes[i]);
	for (size_t i = 0; i < s->n_containers; i++)
		free_container(&s->containers[i]);
	free(s->sandboxes);
	free(s->containers);
	free(s->uid);
	free(s->name);
	free(s->namespace_);
	free(s);
}

int snap_set_pod_meta(struct snap *s, const char *name, const char *ns)
{
	if (s->name || !name || !*name)
		return 0;
	s->name = strdup(name);
	s->namespace_ = strdup(ns ? ns : "");
	return s->name && s->namespace_ ? 0 : -ENOMEM;
}

static struct snap_sandbox *new_sandbox(struct snap *s)
{
	struct snap_sandbox *a = realloc(s->sandboxes, (s->n_sandboxes + 1) * sizeof(*a));

	if (!a)
		return NULL;
	s->sandboxes = a;
	memset(&a[s->n_sandboxes], 0, sizeof(*a));
	return &a[s->n_sandboxes++];
}

static struct snap_container *new_container(struct snap *s)
{
	struct snap_container *a = realloc(s->containers, (s->n_containers + 1) * sizeof(*a));

	if (!a)
		return NULL;
	s->containers = a;
	memset(&a[s->n_containers], 0, sizeof(*a));
	return &a[s->n_containers++];
}

int snap_add_sandbox_absent(struct snap *s, const char *id)
{
	struct snap_sandbox *sb = new_sandbox(s);

	if (!sb)
		return -ENOMEM;
	sb->absent = true;
	sb->id = strdup(id);
	return sb->id ? 0 : -ENOMEM;
}

static int copy_labels(struct snap_sandbox *sb, const Runtime__V1__PodSandboxStatus *st)
{
	sb->labels = calloc(st->n_labels ? st->n_labels : 1, sizeof(*sb->labels));
	if (!sb->labels)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_labels; i++) {
		sb->labels[i].key = strdup(st->labels[i]->key);
		sb->labels[i].value = strdup(st->labels[i]->value);
		sb->n_labels++;
		if (!sb->labels[i].key || !sb->labels[i].value)
			return -ENOMEM;
	}
	return 0;
}

int snap_add_sandbox_status(struct snap *s, const Runtime__V1__PodSandboxStatus *st)
{
	struct snap_sandbox *sb = new_sandbox(s);
	const char *ip = st->network && st->network->ip ? st->network->ip : "";

	if (!sb)
		return -ENOMEM;
	sb->id = strdup(st->id);
	sb->ip = strdup(ip);
	if (!sb->id || !sb->ip)
		return -ENOMEM;
	sb->state = st->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
			    ? KPLEG_SANDBOX_READY
			    : KPLEG_SANDBOX_NOTREADY;
	sb->attempt = st->metadata->attempt;
	sb->created_at = st->created_at;
	if (copy_labels(sb, st) < 0)
		return -ENOMEM;
	return snap_set_pod_meta(s, st->metadata->name, st->metadata->namespace_);
}

int snap_add_container_absent(struct snap *s, const char *id, const char *sandbox_id)
{
	struct snap_container *c = new_container(s);

	if (!c)
		return -ENOMEM;
	c->absent = true;
	c->id = strdup(id);
	c->sandbox_id = strdup(sandbox_id ? sandbox_id : "");
	return c->id && c->sandbox_id ? 0 : -ENOMEM;
}

int snap_add_container_status(struct snap *s, const char *sandbox_id,
			      const Runtime__V1__ContainerStatus *st)
{
	struct snap_container *c = new_container(s);

	if (!c)
		return -ENOMEM;
	c->id = strdup(st->id);
	c->sandbox_id = strdup(sandbox_id ? sandbox_id : "");
	c->name = strdup(st->metadata->name);
	c->reason = strdup(st->reason);
	c->message = strdup(st->message);
	c->image = strdup(st->image && st->image->image ? st->image->image : "");
	if (!c->id || !c->sandbox_id || !c->name || !c->reason || !c->message || !c->image)
		return -ENOMEM;
	/* The CRI enum and ours have the same order (validated before). */
	c->state = st->state;
	c->attempt = st->metadata->attempt;
	c->exit_code = st->exit_code;
	c->created_at = st->created_at;
	c->started_at = st->started_at;
	c->finished_at = st->finished_at;
	return 0;
}

static char *dup0(const char *s)
{
	return strdup(s ? s : "");
}

int snap_add_container_copy(struct snap *s, const struct snap_container *src)
{
	struct snap_container *c = new_container(s);

	if (!c)
		return -ENOMEM;
	*c = *src;
	c->id = dup0(src->id);
	c->sandbox_id = dup0(src->sandbox_id);
	c->name = dup0(src->name);
	c->reason = dup0(src->reason);
	c->message = dup0(src->message);
	c->image = dup0(src->image);
	if (!c->id || !c->sandbox_id || !c->name || !c->reason || !c->message || !c->image)
		return -ENOMEM;
	return 0;
}

struct snap_container *snap_find_container(struct snap *s, const char *id)
{
	for (size_t i = 0; i < s->n_containers; i++)
		if (!strcmp(s->containers[i].id, id))
			return &s->containers[i];
	return NULL;
}
