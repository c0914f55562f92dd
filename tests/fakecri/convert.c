// SPDX-License-Identifier: Apache-2.0
/* Store objects -> protobuf-c messages (arena-allocated, borrowed strings),
 * and label maps <-> struct kvs. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(struct pb_map_entry) == sizeof(Runtime__V1__ContainerStatus__LabelsEntry),
	       "protobuf-c map entry layout");
_Static_assert(offsetof(struct pb_map_entry, value) ==
		       offsetof(Runtime__V1__PodSandbox__AnnotationsEntry, value),
	       "protobuf-c map entry layout");

void fk_kvs_free(struct kvs *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].key);
		free(k->v[i].value);
	}
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

int fk_kvs_from_pb(struct kvs *ret, size_t n, void *const *entries)
{
	struct kvs k = { .n = 0, .v = n ? calloc(n, sizeof(struct kv)) : NULL };

	if (n && !k.v)
		return -ENOMEM;
	for (; k.n < n; k.n++) {
		const struct pb_map_entry *e = entries[k.n];

		k.v[k.n].key = strdup(e->key ? e->key : "");
		k.v[k.n].value = strdup(e->value ? e->value : "");
		if (!k.v[k.n].key || !k.v[k.n].value) {
			k.n++;
			fk_kvs_free(&k);
			return -ENOMEM;
		}
	}
	*ret = k;
	return 0;
}

static const char *kvs_get(const struct kvs *k, const char *key)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->v[i].key, key))
			return k->v[i].value;
	return NULL;
}

bool fk_kvs_match(const struct kvs *k, size_t n, void *const *selector)
{
	for (size_t i = 0; i < n; i++) {
		const struct pb_map_entry *e = selector[i];
		const char *v = kvs_get(k, e->key ? e->key : "");

		if (!v || strcmp(v, e->value ? e->value : ""))
			return false;
	}
	return true;
}

/* An array of @k->n map entries of type @d; NULL when empty or on ENOMEM. */
static void **cv_map(struct arena *a, const struct kvs *k, const ProtobufCMessageDescriptor *d)
{
	struct pb_map_entry *e;
	void **arr;

	if (!k->n)
		return NULL;
	arr = fk_arena_alloc(a, k->n * sizeof(*arr));
	e = fk_arena_alloc(a, k->n * sizeof(*e));
	if (!arr || !e)
		return NULL;
	for (size_t i = 0; i < k->n; i++) {
		protobuf_c_message_init(d, &e[i]);
		e[i].key = k->v[i].key;
		e[i].value = k->v[i].value;
		arr[i] = &e[i];
	}
	return arr;
}

/* Sets msg->field and msg->n_field from @kvs; evaluates to true on ENOMEM. */
#define CV_MAP(a, msg, field, kvs, desc)                                         \
	((msg)->n_##field = (kvs)->n,                                            \
	 (msg)->field = (void *)cv_map((a), (kvs), (desc)),                      \
	 (msg)->n_##field && !(msg)->field)

static Runtime__V1__ContainerMetadata *cv_ctr_metadata(struct arena *a,
						       const struct fk_container *c)
{
	Runtime__V1__ContainerMetadata *m =
		fk_arena_msg(a, &runtime__v1__container_metadata__descriptor);

	if (m) {
		m->name = c->name;
		m->attempt = c->attempt;
	}
	return m;
}

static Runtime__V1__ImageSpec *cv_image(struct arena *a, char *image)
{
	Runtime__V1__ImageSpec *m = fk_arena_msg(a, &runtime__v1__image_spec__descriptor);

	if (m)
		m->image = image;
	return m;
}

Runtime__V1__ContainerStatus *fk_cv_container_status(struct arena *a, const struct fk_container *c)
{
	Runtime__V1__ContainerStatus *m = fk_arena_msg(a, &runtime__v1__container_status__descriptor);

	if (!m)
		return NULL;
	m->id = (char *)c->id;
	m->metadata = cv_ctr_metadata(a, c);
	m->image = cv_image(a, c->image);
	m->state = c->state;
	m->created_at = c->created_at;
	m->started_at = c->started_at;
	m->finished_at = c->finished_at;
	m->exit_code = c->exit_code;
	m->image_ref = c->image_ref;
	m->image_id = c->image_ref;
	m->reason = c->reason;
	m->message = c->message;
	m->log_path = c->log_path;
	if (!m->metadata || !m->image ||
	    CV_MAP(a, m, labels, &c->labels, &runtime__v1__container_status__labels_entry__descriptor) ||
	    CV_MAP(a, m, annotations, &c->annotations,
		   &runtime__v1__container_status__annotations_entry__descriptor))
		return NULL;
	return m;
}

Runtime__V1__Container *fk_cv_container(struct arena *a, const struct fk_container *c)
{
	Runtime__V1__Container *m = fk_arena_msg(a, &runtime__v1__container__descriptor);

	if (!m)
		return NULL;
	m->id = (char *)c->id;
	m->pod_sandbox_id = (char *)c->sb->id;
	m->metadata = cv_ctr_metadata(a, c);
	m->image = cv_image(a, c->image);
	m->image_ref = c->image_ref;
	m->image_id = c->image_ref;
	m->state = c->state;
	m->created_at = c->created_at;
	if (!m->metadata || !m->image ||
	    CV_MAP(a, m, labels, &c->labels, &runtime__v1__container__labels_entry__descriptor) ||
	    CV_MAP(a, m, annotations, &c->annotations,
		   &runtime__v1__container__annotations_entry__descriptor))
		return NULL;
	return m;
}

static Runtime__V1__PodSandboxMetadata *cv_sb_metadata(struct arena *a,
						       const struct fk_sandbox *sb)
{
	Runtime__V1__PodSandboxMetadata *m =
		fk_arena_msg(a, &runtime__v1__pod_sandbox_metadata__descriptor);

	if (m) {
		m->name = sb->name;
		m->uid = sb->uid;
		m->namespace_ = sb->ns;
		m->attempt = sb->attempt;
	}
	return m;
}

Runtime__V1__PodSandboxStatus *fk_cv_sandbox_status(struct arena *a, const struct fk_sandbox *sb)
{
	Runtime__V1__PodSandboxStatus *m =
		fk_arena_msg(a, &runtime__v1__pod_sandbox_status__descriptor);

	if (!m)
		return NULL;
	m->id = (char *)sb->id;
	m->metadata = cv_sb_metadata(a, sb);
	m->state = sb->state;
	m->created_at = sb->created_at;
	m->runtime_handler = sb->handler;
	m->network = fk_arena_msg(a, &runtime__v1__pod_sandbox_network_status__descriptor);
	if (!m->metadata || !m->network ||
	    CV_MAP(a, m, labels, &sb->labels,
		   &runtime__v1__pod_sandbox_status__labels_entry__descriptor) ||
	    CV_MAP(a, m, annotations, &sb->annotations,
		   &runtime__v1__pod_sandbox_status__annotations_entry__descriptor))
		return NULL;
	m->network->ip = (char *)sb->ip;
	return m;
}

Runtime__V1__PodSandbox *fk_cv_sandbox(struct arena *a, const struct fk_sandbox *sb)
{
	Runtime__V1__PodSandbox *m = fk_arena_msg(a, &runtime__v1__pod_sandbox__descriptor);

	if (!m)
		return NULL;
	m->id = (char *)sb->id;
	m->metadata = cv_sb_metadata(a, sb);
	m->state = sb->state;
	m->created_at = sb->created_at;
	m->runtime_handler = sb->handler;
	if (!m->metadata ||
	    CV_MAP(a, m, labels, &sb->labels, &runtime__v1__pod_sandbox__labels_entry__descriptor) ||
	    CV_MAP(a, m, annotations, &sb->annotations,
		   &runtime__v1__pod_sandbox__annotations_entry__descriptor))
		return NULL;
	return m;
}
