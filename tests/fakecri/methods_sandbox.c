// SPDX-License-Identifier: Apache-2.0
/* Pod sandbox methods. */
#include <string.h>

#include "methods.h"

/* INVALID_ARGUMENT for an empty id, NOT_FOUND for an unknown one. */
static grpc_status_code find_sandbox(struct fk_ctx *x, const char *id, struct fk_sandbox **ret)
{
	if (!id || !*id)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT, "pod sandbox id is required");
	*ret = fk_store_sandbox(&x->f->st, id);
	if (!*ret)
		return fk_error(x, GRPC_STATUS_NOT_FOUND, "pod sandbox \"%s\" not found", id);
	return GRPC_STATUS_OK;
}

grpc_status_code fk_h_run_pod_sandbox(struct fk_ctx *x)
{
	const Runtime__V1__RunPodSandboxRequest *r = x->req;
	Runtime__V1__RunPodSandboxResponse *m;
	struct fk_sandbox *sb;
	int err;

	if (!r->config || !r->config->metadata || !*r->config->metadata->name)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT,
				"sandbox config with metadata and a name is required");
	m = fk_resp_new(x, &runtime__v1__run_pod_sandbox_response__descriptor);
	if (!m)
		return FK_ENOMEM(x);
	err = fk_store_run_sandbox(x->f, r->config, r->runtime_handler, &sb);
	if (err < 0)
		return fk_errno(x, err);
	m->pod_sandbox_id = sb->id;
	return GRPC_STATUS_OK;
}

grpc_status_code fk_h_stop_pod_sandbox(struct fk_ctx *x)
{
	const Runtime__V1__StopPodSandboxRequest *r = x->req;
	struct fk_sandbox *sb;
	grpc_status_code code = find_sandbox(x, r->pod_sandbox_id, &sb);

	if (code != GRPC_STATUS_OK)
		return code;
	fk_store_stop_sandbox(x->f, sb);
	return fk_resp_new(x, &runtime__v1__stop_pod_sandbox_response__descriptor) ? GRPC_STATUS_OK
										 : FK_ENOMEM(x);
}

/* An unknown id is not an error: RemovePodSandbox is idempotent (CRI). */
grpc_status_code fk_h_remove_pod_sandbox(struct fk_ctx *x)
{
	const Runtime__V1__RemovePodSandboxRequest *r = x->req;
	struct fk_sandbox *sb;

	if (!*r->pod_sandbox_id)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT, "pod sandbox id is required");
	sb = fk_store_sandbox(&x->f->st, r->pod_sandbox_id);
	if (sb)
		fk_store_remove_sandbox(x->f, sb);
	return fk_resp_new(x, &runtime__v1__remove_pod_sandbox_response__descriptor) ? GRPC_STATUS_OK
										   : FK_ENOMEM(x);
}

grpc_status_code fk_h_pod_sandbox_status(struct fk_ctx *x)
{
	const Runtime__V1__PodSandboxStatusRequest *r = x->req;
	Runtime__V1__PodSandboxStatusResponse *m;
	struct fk_sandbox *sb;
	grpc_status_code code = find_sandbox(x, r->pod_sandbox_id, &sb);

	if (code != GRPC_STATUS_OK)
		return code;
	m = fk_resp_new(x, &runtime__v1__pod_sandbox_status_response__descriptor);
	if (!m || !(m->status = fk_cv_sandbox_status(x->a, sb)))
		return FK_ENOMEM(x);
	return GRPC_STATUS_OK;
}

static bool sandbox_match(const struct fk_sandbox *sb, const Runtime__V1__PodSandboxFilter *flt)
{
	if (!flt)
		return true;
	if (*flt->id && strcmp(flt->id, sb->id))
		return false;
	if (flt->state && flt->state->state != sb->state)
		return false;
	return fk_kvs_match(&sb->labels, flt->n_label_selector, (void *const *)flt->label_selector);
}

grpc_status_code fk_h_list_pod_sandbox(struct fk_ctx *x)
{
	const Runtime__V1__ListPodSandboxRequest *r = x->req;
	struct store *st = &x->f->st;
	Runtime__V1__ListPodSandboxResponse *m;
	struct fk_sandbox *sb;
	size_t n = 0;

	m = fk_resp_new(x, &runtime__v1__list_pod_sandbox_response__descriptor);
	if (!m)
		return FK_ENOMEM(x);
	if (!st->sandboxes.n)
		return GRPC_STATUS_OK;
	m->items = fk_arena_alloc(x->a, st->sandboxes.n * sizeof(*m->items));
	if (!m->items)
		return FK_ENOMEM(x);
	TAILQ_FOREACH(sb, &st->sb_list, link) {
		if (!sandbox_match(sb, r->filter))
			continue;
		m->items[n] = fk_cv_sandbox(x->a, sb);
		if (!m->items[n++])
			return FK_ENOMEM(x);
	}
	m->n_items = n;
	return GRPC_STATUS_OK;
}
