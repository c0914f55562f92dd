// SPDX-License-Identifier: Apache-2.0
/* CRI client: channel set-up and the unary calls. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "cri_internal.h"
#include "metrics.h"
#include "pb_grpc.h"
#include "util.h"

int cri_set_status(struct cri_status *st, grpc_status_code code, int err, const char *fmt, ...)
{
	va_list ap;

	if (st) {
		st->code = code;
		va_start(ap, fmt);
		vsnprintf(st->message, sizeof(st->message), fmt, ap);
		va_end(ap);
	}
	return err;
}

int cri_status_from_grpc(struct cri_status *st, grpc_status_code code, grpc_slice details)
{
	int len = (int)GRPC_SLICE_LENGTH(details);

	return cri_set_status(st, code, cri_status_to_errno(code), "%s: %.*s",
			      cri_status_code_name(code), len,
			      (const char *)GRPC_SLICE_START_PTR(details));
}

gpr_timespec cri_deadline_ms(int timeout_ms)
{
	if (timeout_ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

struct cri_client *cri_client__new(const char *endpoint)
{
	_cleanup_free_ struct cri_client *c = calloc(1, sizeof(*c));
	grpc_channel_credentials *creds;
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = KPLEG_MAX_MSG_SIZE },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = KPLEG_MAX_MSG_SIZE },
		/* A runtime that restarts should be reached again quickly. */
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		  .value.integer = 1000 },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		  .value.integer = 100 },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
		  .value.integer = 100 },
	};
	grpc_channel_args chargs = { .num_args = ARRAY_SIZE(args), .args = args };
	int r;

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	r = cri_endpoint_normalize(endpoint, c->target, sizeof(c->target));
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	grpc_init();
	creds = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(c->target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	if (!c->channel) {
		grpc_shutdown();
		errno = EIO;
		return NULL;
	}
	return TAKE_PTR(c);
}

void cri_client__free(struct cri_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->channel);
	free(c);
	grpc_shutdown();
}

const char *cri_client__target(const struct cri_client *c)
{
	return c->target;
}

void cri_client__set_metrics(struct cri_client *c, struct kpleg_metrics *m)
{
	c->metrics = m;
}

/* Every reply the client hands out lives in one arena (pb_grpc.h). */
void cri_msg_free(void *msg)
{
	pb_arena_free(msg);
}

/* One unary call: a single batch with all six ops on a private pluck queue.
 * The reply's raw bytes go to *@ret_recv (the caller destroys them). */
int cri_call_raw(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		 int timeout_ms, grpc_byte_buffer **ret_recv, struct cri_status *st)
{
	char path[96];
	grpc_metadata_array md_init, md_trail;
	grpc_byte_buffer *send = NULL, *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_completion_queue *cq;
	grpc_call *call = NULL;
	grpc_event ev;
	grpc_op ops[6];
	uint64_t t0 = now_mono_ns();
	int r;

	if (timeout_ms <= 0)
		timeout_ms = CRI_DEFAULT_TIMEOUT_MS;
	/* A bare name is a RuntimeService method; a full path any service's. */
	if (method[0] == '/')
		snprintf(path, sizeof(path), "%s", method);
	else
		snprintf(path, sizeof(path), CRI_SERVICE "%s", method);
	send = pb_to_byte_buffer(req);
	if (!send)
		return cri_set_status(st, GRPC_STATUS_INTERNAL, -ENOMEM, "out of memory");
	grpc_metadata_array_init(&md_init);
	grpc_metadata_array_init(&md_trail);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					grpc_slice_from_static_string(path), NULL,
					cri_deadline_ms(timeout_ms), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_init;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &md_trail;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, ARRAY_SIZE(ops), (void *)1, NULL) != GRPC_CALL_OK) {
		r = cri_set_status(st, GRPC_STATUS_INTERNAL, -EIO, "%s: cannot start call", method);
		goto cleanup;
	}
	/* The call's own deadline bounds this; infinite pluck cannot hang. */
	ev = grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
		r = cri_set_status(st, GRPC_STATUS_INTERNAL, -EIO, "%s: batch failed", method);
		goto cleanup;
	}
	if (code != GRPC_STATUS_OK) {
		r = cri_status_from_grpc(st, code, details);
		goto cleanup;
	}
	*ret_recv = recv;
	recv = NULL;
	r = cri_set_status(st, GRPC_STATUS_OK, 0, "OK");
cleanup:
	metrics_cri_call(c->metrics, method, code, now_mono_ns() - t0);
	if (call)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_init);
	grpc_metadata_array_destroy(&md_trail);
	return r;
}

int cri_call_unary(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *resp_desc, int timeout_ms,
		   ProtobufCMessage **ret, struct cri_status *st)
{
	grpc_byte_buffer *recv = NULL;
	int r = cri_call_raw(c, method, req, timeout_ms, &recv, st);

	if (r < 0)
		return r;
	r = pb_unpack_arena(recv, resp_desc, KPLEG_MAX_MSG_SIZE, ret);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	if (r < 0)
		return cri_set_status(st, GRPC_STATUS_OK, r, "%s: reply does not decode as %s",
				      method, resp_desc->name);
	return 0;
}

/* Runs @validate on a decoded reply; frees it and reports -EPROTO if it fails. */
#define CALL_AND_VALIDATE(c, method, req, type, desc, validate, timeout_ms, ret, st)       \
	({                                                                                  \
		ProtobufCMessage *_m = NULL;                                                \
		char _why[200];                                                             \
		int _r = cri_call_unary(c, method, &(req)->base, &desc, timeout_ms, &_m, st);   \
		if (_r == 0 && (_r = validate((type *)_m, _why, sizeof(_why))) < 0) {       \
			cri_set_status(st, GRPC_STATUS_OK, _r, "%s: invalid reply: %s",     \
				       method, _why);                                       \
			cri_msg_free(_m);                                                   \
		} else if (_r == 0) {                                                       \
			*(ret) = (type *)_m;                                                \
		}                                                                           \
		_r;                                                                         \
	})

static int no_check(const void *m, char *why, size_t n)
{
	return 0;
}

int cri_version(struct cri_client *c, int timeout_ms, Runtime__V1__VersionResponse **ret,
		struct cri_status *st)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;

	req.version = (char *)"v1";
	return CALL_AND_VALIDATE(c, "Version", &req, Runtime__V1__VersionResponse,
				 runtime__v1__version_response__descriptor, cri_validate_version,
				 timeout_ms, ret, st);
}

int cri_status(struct cri_client *c, int timeout_ms, Runtime__V1__StatusResponse **ret,
	       struct cri_status *st)
{
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;

	return CALL_AND_VALIDATE(c, "Status", &req, Runtime__V1__StatusResponse,
				 runtime__v1__status_response__descriptor, cri_validate_status,
				 timeout_ms, ret, st);
}

static int validate_sandbox_list(const Runtime__V1__ListPodSandboxResponse *r, char *why,
				 size_t n)
{
	for (size_t i = 0; i < r->n_items; i++) {
		int err = cri_validate_sandbox(r->items[i], why, n);

		if (err < 0)
			return err;
	}
	return 0;
}

int cri_list_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxFilter *filter,
			 int timeout_ms, Runtime__V1__ListPodSandboxResponse **ret,
			 struct cri_status *st)
{
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;

	req.filter = (Runtime__V1__PodSandboxFilter *)filter;
	return CALL_AND_VALIDATE(c, "ListPodSandbox", &req, Runtime__V1__ListPodSandboxResponse,
				 runtime__v1__list_pod_sandbox_response__descriptor,
				 validate_sandbox_list, timeout_ms, ret, st);
}

static int validate_sandbox_status_reply(const Runtime__V1__PodSandboxStatusResponse *r,
					 char *why, size_t n)
{
	if (!r->status) {
		snprintf(why, n, "no status");
		return -EPROTO;
	}
	return cri_validate_sandbox_status(r->status, why, n);
}

int cri_pod_sandbox_status(struct cri_client *c, const char *id, int timeout_ms,
			   Runtime__V1__PodSandboxStatusResponse **ret, struct cri_status *st)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;

	req.pod_sandbox_id = (char *)id;
	return CALL_AND_VALIDATE(c, "PodSandboxStatus", &req,
				 Runtime__V1__PodSandboxStatusResponse,
				 runtime__v1__pod_sandbox_status_response__descriptor,
				 validate_sandbox_status_reply, timeout_ms, ret, st);
}

static int validate_container_list(const Runtime__V1__ListContainersResponse *r, char *why,
				   size_t n)
{
	for (size_t i = 0; i < r->n_containers; i++) {
		int err = cri_validate_container(r->containers[i], why, n);

		if (err < 0)
			return err;
	}
	return 0;
}

int cri_list_containers(struct cri_client *c, const Runtime__V1__ContainerFilter *filter,
			int timeout_ms, Runtime__V1__ListContainersResponse **ret,
			struct cri_status *st)
{
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;

	req.filter = (Runtime__V1__ContainerFilter *)filter;
	return CALL_AND_VALIDATE(c, "ListContainers", &req, Runtime__V1__ListContainersResponse,
				 runtime__v1__list_containers_response__descriptor,
				 validate_container_list, timeout_ms, ret, st);
}

static int validate_container_status_reply(const Runtime__V1__ContainerStatusResponse *r,
					   char *why, size_t n)
{
	if (!r->status) {
		snprintf(why, n, "no status");
		return -EPROTO;
	}
	return cri_validate_container_status(r->status, why, n);
}

int cri_container_status(struct cri_client *c, const char *id, int timeout_ms,
			 Runtime__V1__ContainerStatusResponse **ret, struct cri_status *st)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;

	req.container_id = (char *)id;
	return CALL_AND_VALIDATE(c, "ContainerStatus", &req, Runtime__V1__ContainerStatusResponse,
				 runtime__v1__container_status_response__descriptor,
				 validate_container_status_reply, timeout_ms, ret, st);
}

/* ---- calls that drive a runtime ------------------------------------------ */

static int take_id(const char *method, const char *id, char **ret_id, struct cri_status *st)
{
	if (!id || !*id)
		return cri_set_status(st, GRPC_STATUS_OK, -EPROTO, "%s: reply has no id", method);
	*ret_id = strdup(id);
	return *ret_id ? 0 : -ENOMEM;
}

int cri_run_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxConfig *config,
			int timeout_ms, char **ret_id, struct cri_status *st)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *resp = NULL;
	int r;

	req.config = (Runtime__V1__PodSandboxConfig *)config;
	r = CALL_AND_VALIDATE(c, "RunPodSandbox", &req, Runtime__V1__RunPodSandboxResponse,
			      runtime__v1__run_pod_sandbox_response__descriptor, no_check,
			      timeout_ms, &resp, st);
	if (r == 0)
		r = take_id("RunPodSandbox", resp->pod_sandbox_id, ret_id, st);
	cri_msg_free(resp);
	return r;
}

int cri_create_container(struct cri_client *c, const char *pod_id,
			 const Runtime__V1__ContainerConfig *config,
			 const Runtime__V1__PodSandboxConfig *sandbox_config, int timeout_ms,
			 char **ret_id, struct cri_status *st)
{
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__CreateContainerResponse *resp = NULL;
	int r;

	req.pod_sandbox_id = (char *)pod_id;
	req.config = (Runtime__V1__ContainerConfig *)config;
	req.sandbox_config = (Runtime__V1__PodSandboxConfig *)sandbox_config;
	r = CALL_AND_VALIDATE(c, "CreateContainer", &req, Runtime__V1__CreateContainerResponse,
			      runtime__v1__create_container_response__descriptor, no_check,
			      timeout_ms, &resp, st);
	if (r == 0)
		r = take_id("CreateContainer", resp->container_id, ret_id, st);
	cri_msg_free(resp);
	return r;
}

/* The remaining calls take an id and answer an empty message. */
#define CALL_BY_ID(c, method, reqtype, REQINIT, field, resp_desc, id, timeout_ms, st)       \
	({                                                                                  \
		reqtype _req = REQINIT;                                                     \
		ProtobufCMessage *_m = NULL;                                                \
		int _r;                                                                     \
		_req.field = (char *)(id);                                                  \
		_r = cri_call_unary(c, method, &_req.base, &resp_desc, timeout_ms, &_m, st);    \
		cri_msg_free(_m);                                                           \
		_r;                                                                         \
	})

int cri_stop_pod_sandbox(struct cri_client *c, const char *id, int timeout_ms,
			 struct cri_status *st)
{
	return CALL_BY_ID(c, "StopPodSandbox", Runtime__V1__StopPodSandboxRequest,
			  RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT, pod_sandbox_id,
			  runtime__v1__stop_pod_sandbox_response__descriptor, id, timeout_ms, st);
}

int cri_remove_pod_sandbox(struct cri_client *c, const char *id, int timeout_ms,
			   struct cri_status *st)
{
	return CALL_BY_ID(c, "RemovePodSandbox", Runtime__V1__RemovePodSandboxRequest,
			  RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT, pod_sandbox_id,
			  runtime__v1__remove_pod_sandbox_response__descriptor, id, timeout_ms,
			  st);
}

int cri_start_container(struct cri_client *c, const char *id, int timeout_ms,
			struct cri_status *st)
{
	return CALL_BY_ID(c, "StartContainer", Runtime__V1__StartContainerRequest,
			  RUNTIME__V1__START_CONTAINER_REQUEST__INIT, container_id,
			  runtime__v1__start_container_response__descriptor, id, timeout_ms, st);
}

int cri_remove_container(struct cri_client *c, const char *id, int timeout_ms,
			 struct cri_status *st)
{
	return CALL_BY_ID(c, "RemoveContainer", Runtime__V1__RemoveContainerRequest,
			  RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT, container_id,
			  runtime__v1__remove_container_response__descriptor, id, timeout_ms,
			  st);
}

int cri_stop_container(struct cri_client *c, const char *id, int64_t grace_s, int timeout_ms,
		       struct cri_status *st)
{
	Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int r;

	req.container_id = (char *)id;
	req.timeout = grace_s;
	r = cri_call_unary(c, "StopContainer", &req.base,
		       &runtime__v1__stop_container_response__descriptor, timeout_ms, &m, st);
	cri_msg_free(m);
	return r;
}
