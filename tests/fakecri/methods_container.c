// SPDX-License-Identifier: Apache-2.0
/* Container methods. */
#include <errno.h>
#include <string.h>

#include "methods.h"

#define EXIT_KILLED 137 /* 128 + SIGKILL */

/* INVALID_ARGUMENT for an empty id, NOT_FOUND for an unknown one. */
static grpc_status_code find_container(struct fk_ctx *x, const char *id,
				       struct fk_container **ret)
{
	if (!id || !*id)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT, "container id is required");
	*ret = fk_store_container(&x->f->st, id);
	if (!*ret)
		return fk_error(x, GRPC_STATUS_NOT_FOUND, "container \"%s\" not found", id);
	return GRPC_STATUS_OK;
}

static grpc_status_code check_create(struct fk_ctx *x, const Runtime__V1__CreateContainerRequest *r,
				     struct fk_sandbox **ret)
{
	const Runtime__V1__ContainerConfig *cfg = r->config;

	if (!*r->pod_sandbox_id)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT, "pod sandbox id is required");
	if (!cfg || !cfg->metadata || !*cfg->metadata->name)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT,
				"container config with metadata and a name is required");
	if (!cfg->image || !*cfg->image->image)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT, "container image is required");
	*ret = fk_store_sandbox(&x->f->st, r->pod_sandbox_id);
	if (!*ret)
		return fk_error(x, GRPC_STATUS_NOT_FOUND, "pod sandbox \"%s\" not found",
				r->pod_sandbox_id);
	if ((*ret)->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
		return fk_error(x, GRPC_STATUS_FAILED_PRECONDITION, "pod sandbox \"%s\" is not ready",
				r->pod_sandbox_id);
	return GRPC_STATUS_OK;
}

grpc_status_code fk_h_create_container(struct fk_ctx *x)
{
	const Runtime__V1__CreateContainerRequest *r = x->req;
	Runtime__V1__CreateContainerResponse *m;
	struct fk_container *c;
	struct fk_sandbox *sb = NULL;
	grpc_status_code code = check_create(x, r, &sb);
	int err;

	if (code != GRPC_STATUS_OK)
		return code;
	m = fk_resp_new(x, &runtime__v1__create_container_response__descriptor);
	if (!m)
		return FK_ENOMEM(x);
	err = fk_store_create_container(x->f, sb, r->config, &c);
	if (err < 0)
		return fk_errno(x, err);
	m->container_id = c->id;
	return GRPC_STATUS_OK;
}

grpc_status_code fk_h_start_container(struct fk_ctx *x)
{
	const Runtime__V1__StartContainerRequest *r = x->req;
	struct fk_container *c;
	grpc_status_code code = find_container(x, r->container_id, &c);

	if (code != GRPC_STATUS_OK)
		return code;
	if (fk_store_start_container(x->f, c) < 0)
		return fk_error(x, GRPC_STATUS_FAILED_PRECONDITION,
				"container \"%s\" is not in CONTAINER_CREATED state", c->id);
	return fk_resp_new(x, &runtime__v1__start_container_response__descriptor) ? GRPC_STATUS_OK
										: FK_ENOMEM(x);
}

/* A grace period means the process ended politely (0, "Completed"); none
 * means SIGKILL (137, "Error"). Not running: nothing to do (idempotent). */
grpc_status_code fk_h_stop_container(struct fk_ctx *x)
{
	const Runtime__V1__StopContainerRequest *r = x->req;
	struct fk_container *c;
	grpc_status_code code = find_container(x, r->container_id, &c);
	int err;

	if (code != GRPC_STATUS_OK)
		return code;
	err = fk_store_exit_container(x->f, c, r->timeout > 0 ? 0 : EXIT_KILLED,
				      r->timeout > 0 ? "Completed" : "Error");
	if (err == -ENOMEM)
		return FK_ENOMEM(x);
	return fk_resp_new(x, &runtime__v1__stop_container_response__descriptor) ? GRPC_STATUS_OK
									       : FK_ENOMEM(x);
}

/* An unknown id is not an error: RemoveContainer is idempotent (CRI). */
grpc_status_code fk_h_remove_container(struct fk_ctx *x)
{
	const Runtime__V1__RemoveContainerRequest *r = x->req;
	struct fk_container *c;

	if (!*r->container_id)
		return fk_error(x, GRPC_STATUS_INVALID_ARGUMENT, "container id is required");
	c = fk_store_container(&x->f->st, r->container_id);
	if (c)
		fk_store_remove_container(x->f, c);
	return fk_resp_new(x, &runtime__v1__remove_container_response__descriptor) ? GRPC_STATUS_OK
										 : FK_ENOMEM(x);
}

grpc_status_code fk_h_container_status(struct fk_ctx *x)
{
	const Runtime__V1__ContainerStatusRequest *r = x->req;
	Runtime__V1__ContainerStatusResponse *m;
	struct fk_container *c;
	grpc_status_code code = find_container(x, r->container_id, &c);

	if (code != GRPC_STATUS_OK)
		return code;
	m = fk_resp_new(x, &runtime__v1__container_status_response__descriptor);
	if (!m || !(m->status = fk_cv_container_status(x->a, c)))
		return FK_ENOMEM(x);
	return GRPC_STATUS_OK;
}

static bool container_match(const struct fk_container *c, const Runtime__V1__ContainerFilter *flt)
{
	if (!flt)
		return true;
	if (*flt->id && strcmp(flt->id, c->id))
		return false;
	if (*flt->pod_sandbox_id && strcmp(flt->pod_sandbox_id, c->sb->id))
		return false;
	if (flt->state && flt->state->state != c->state)
		return false;
	return fk_kvs_match(&c->labels, flt->n_label_selector, (void *const *)flt->label_selector);
}

grpc_status_code fk_h_list_containers(struct fk_ctx *x)
{
	const Runtime__V1__ListContainersRequest *r = x->req;
	struct store *st = &x->f->st;
	Runtime__V1__ListContainersResponse *m;
	struct fk_container *c;
	size_t n = 0;

	m = fk_resp_new(x, &runtime__v1__list_containers_response__descriptor);
	if (!m)
		return FK_ENOMEM(x);
	if (!st->containers.n)
		return GRPC_STATUS_OK;
	m->containers = fk_arena_alloc(x->a, st->containers.n * sizeof(*m->containers));
	if (!m->containers)
		return FK_ENOMEM(x);
	TAILQ_FOREACH(c, &st->ctr_list, link) {
		if (!container_match(c, r->filter))
			continue;
		m->containers[n] = fk_cv_container(x->a, c);
		if (!m->containers[n++])
			return FK_ENOMEM(x);
	}
	m->n_containers = n;
	return GRPC_STATUS_OK;
}
