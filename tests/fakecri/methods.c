// SPDX-License-Identifier: Apache-2.0
/* The method table, path lookup, and the runtime-wide methods. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "methods.h"

#define SERVICE_PREFIX "/runtime.v1.RuntimeService/"

#define SUBJECT(fn, type, field)                                                 \
	static const char *fn(const void *r)                                     \
	{                                                                        \
		return ((const type *)r)->field;                                 \
	}

SUBJECT(subj_sandbox_stop, Runtime__V1__StopPodSandboxRequest, pod_sandbox_id)
SUBJECT(subj_sandbox_remove, Runtime__V1__RemovePodSandboxRequest, pod_sandbox_id)
SUBJECT(subj_sandbox_status, Runtime__V1__PodSandboxStatusRequest, pod_sandbox_id)
SUBJECT(subj_create, Runtime__V1__CreateContainerRequest, pod_sandbox_id)
SUBJECT(subj_start, Runtime__V1__StartContainerRequest, container_id)
SUBJECT(subj_stop, Runtime__V1__StopContainerRequest, container_id)
SUBJECT(subj_remove, Runtime__V1__RemoveContainerRequest, container_id)
SUBJECT(subj_status, Runtime__V1__ContainerStatusRequest, container_id)

static const char *subj_list_sandbox(const void *req)
{
	const Runtime__V1__ListPodSandboxRequest *r = req;

	return r->filter ? r->filter->id : NULL;
}

static const char *subj_list_containers(const void *req)
{
	const Runtime__V1__ListContainersRequest *r = req;

	if (!r->filter)
		return NULL;
	return *r->filter->id ? r->filter->id : r->filter->pod_sandbox_id;
}

#define M(name, req, h, subj) { name, &runtime__v1__##req##__descriptor, h, subj }
const struct fk_method fk_methods[FK_NMETHODS] = {
	[FK_M_VERSION] = M("Version", version_request, fk_h_version, NULL),
	[FK_M_RUN_POD_SANDBOX] = M("RunPodSandbox", run_pod_sandbox_request, fk_h_run_pod_sandbox, NULL),
	[FK_M_STOP_POD_SANDBOX] = M("StopPodSandbox", stop_pod_sandbox_request, fk_h_stop_pod_sandbox,
				    subj_sandbox_stop),
	[FK_M_REMOVE_POD_SANDBOX] = M("RemovePodSandbox", remove_pod_sandbox_request,
				      fk_h_remove_pod_sandbox, subj_sandbox_remove),
	[FK_M_POD_SANDBOX_STATUS] = M("PodSandboxStatus", pod_sandbox_status_request,
				      fk_h_pod_sandbox_status, subj_sandbox_status),
	[FK_M_LIST_POD_SANDBOX] = M("ListPodSandbox", list_pod_sandbox_request, fk_h_list_pod_sandbox,
				    subj_list_sandbox),
	[FK_M_CREATE_CONTAINER] = M("CreateContainer", create_container_request, fk_h_create_container,
				    subj_create),
	[FK_M_START_CONTAINER] = M("StartContainer", start_container_request, fk_h_start_container,
				   subj_start),
	[FK_M_STOP_CONTAINER] = M("StopContainer", stop_container_request, fk_h_stop_container,
				  subj_stop),
	[FK_M_REMOVE_CONTAINER] = M("RemoveContainer", remove_container_request, fk_h_remove_container,
				    subj_remove),
	[FK_M_LIST_CONTAINERS] = M("ListContainers", list_containers_request, fk_h_list_containers,
				   subj_list_containers),
	[FK_M_CONTAINER_STATUS] = M("ContainerStatus", container_status_request, fk_h_container_status,
				    subj_status),
	[FK_M_STATUS] = M("Status", status_request, fk_h_status, NULL),
	[FK_M_GET_CONTAINER_EVENTS] = M("GetContainerEvents", get_events_request, NULL, NULL),
};

int fk_methods_by_name(const char *name)
{
	for (int i = 0; name && i < FK_NMETHODS; i++)
		if (!strcmp(fk_methods[i].name, name))
			return i;
	return -1;
}

int fk_methods_by_path(const char *path, size_t len)
{
	size_t plen = strlen(SERVICE_PREFIX);

	if (len <= plen || memcmp(path, SERVICE_PREFIX, plen))
		return -1;
	for (int i = 0; i < FK_NMETHODS; i++) {
		const char *n = fk_methods[i].name;

		if (strlen(n) == len - plen && !memcmp(path + plen, n, len - plen))
			return i;
	}
	return -1;
}

grpc_status_code fk_error(struct fk_ctx *x, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
	return code;
}

grpc_status_code fk_errno(struct fk_ctx *x, int err)
{
	if (err == -ENOMEM)
		return FK_ENOMEM(x);
	return fk_error(x, GRPC_STATUS_INTERNAL, "%s", strerror(-err));
}

void *fk_resp_new(struct fk_ctx *x, const ProtobufCMessageDescriptor *d)
{
	x->resp = fk_arena_msg(x->a, d);
	return x->resp;
}

grpc_status_code fk_h_version(struct fk_ctx *x)
{
	Runtime__V1__VersionResponse *m = fk_resp_new(x, &runtime__v1__version_response__descriptor);

	if (!m)
		return FK_ENOMEM(x);
	m->version = "0.1.0";
	m->runtime_name = "fakecri";
	m->runtime_version = "0.1.0";
	m->runtime_api_version = "v1";
	return GRPC_STATUS_OK;
}

static Runtime__V1__RuntimeCondition *condition(struct arena *a, char *type)
{
	Runtime__V1__RuntimeCondition *c = fk_arena_msg(a, &runtime__v1__runtime_condition__descriptor);

	if (c) {
		c->type = type;
		c->status = 1;
	}
	return c;
}

grpc_status_code fk_h_status(struct fk_ctx *x)
{
	Runtime__V1__StatusResponse *m = fk_resp_new(x, &runtime__v1__status_response__descriptor);
	Runtime__V1__RuntimeCondition **conds = fk_arena_alloc(x->a, 2 * sizeof(*conds));

	if (!m || !conds)
		return FK_ENOMEM(x);
	m->status = fk_arena_msg(x->a, &runtime__v1__runtime_status__descriptor);
	conds[0] = condition(x->a, "RuntimeReady");
	conds[1] = condition(x->a, "NetworkReady");
	if (!m->status || !conds[0] || !conds[1])
		return FK_ENOMEM(x);
	m->status->n_conditions = 2;
	m->status->conditions = conds;
	return GRPC_STATUS_OK;
}
