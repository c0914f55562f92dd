/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRI runtime.v1 client on gRPC C core.
 *
 * Every call returns 0 or a negative errno. gRPC status codes are mapped to
 * errno in one place (cri_status_to_errno); the runtime's own message is kept
 * in struct cri_status for logs. Replies are decoded and validated before they
 * are handed out: an empty id, an unknown enum value or missing metadata is an
 * error (-EPROTO, with the reason in cri_status), never garbage in later state.
 *
 * Thread-safety: a struct cri_client may be used from any number of threads at
 * once (each call has its own completion queue). A struct cri_event_stream
 * belongs to one reader thread; cri_events__cancel() may be called from any
 * thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <grpc/status.h>

#include "cri.pb-c.h"

/* Default deadline of a unary call. */
#define CRI_DEFAULT_TIMEOUT_MS 2000

struct cri_client;
struct cri_event_stream;
struct kpleg_metrics;

/* Outcome of a call, for logs: the gRPC status and the runtime's message (or
 * kpleg's reason for rejecting a reply). */
struct cri_status {
	grpc_status_code code;
	char message[256];
};

/* Maps a gRPC status to 0 or -errno (the one boundary where this happens). */
int cri_status_to_errno(grpc_status_code code);
/* A short name such as "UNIMPLEMENTED". */
const char *cri_status_code_name(grpc_status_code code);

/* Accepts "unix:///path" or "/path"; writes the gRPC target "unix:///path".
 * Returns -EINVAL for anything else (other schemes, relative paths, too long). */
int cri_endpoint_normalize(const char *endpoint, char *out, size_t out_size);

/* Tries the usual containerd and CRI-O sockets in order and writes the first
 * that exists and is a socket to @out as "unix:///path". Returns -ENOENT when
 * none exists. @tried, if not NULL, receives the list that was tried. */
int cri_endpoint_discover(char *out, size_t out_size, const char **tried);
extern const char *const cri_default_endpoints[];

/* Creates a client for @endpoint (see cri_endpoint_normalize). Does not
 * connect: the first call does. NULL with errno set on failure. */
struct cri_client *cri_client__new(const char *endpoint);
void cri_client__free(struct cri_client *c);
const char *cri_client__target(const struct cri_client *c);
/* Every later unary call is timed into @m (metrics.h) by method and status
 * code. Set it before the client is shared between threads. */
void cri_client__set_metrics(struct cri_client *c, struct kpleg_metrics *m);

/* ---- unary calls ----------------------------------------------------------
 * @timeout_ms <= 0 means CRI_DEFAULT_TIMEOUT_MS. *@ret is set only on success
 * and is freed by the caller with cri_msg_free(). @st may be NULL. */
/* One unary call of any service on the client's channel: @method is a
 * RuntimeService method's name or a full path ("/kpleg.v1.Kpleg/Status");
 * the reply is decoded as @resp_desc into an arena (free with cri_msg_free). */
int cri_call_unary(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *resp_desc, int timeout_ms,
		   ProtobufCMessage **ret, struct cri_status *st);

int cri_version(struct cri_client *c, int timeout_ms, Runtime__V1__VersionResponse **ret,
		struct cri_status *st);
int cri_status(struct cri_client *c, int timeout_ms, Runtime__V1__StatusResponse **ret,
	       struct cri_status *st);
int cri_list_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxFilter *filter,
			 int timeout_ms, Runtime__V1__ListPodSandboxResponse **ret,
			 struct cri_status *st);
int cri_pod_sandbox_status(struct cri_client *c, const char *id, int timeout_ms,
			   Runtime__V1__PodSandboxStatusResponse **ret, struct cri_status *st);
int cri_list_containers(struct cri_client *c, const Runtime__V1__ContainerFilter *filter,
			int timeout_ms, Runtime__V1__ListContainersResponse **ret,
			struct cri_status *st);
int cri_container_status(struct cri_client *c, const char *id, int timeout_ms,
			 Runtime__V1__ContainerStatusResponse **ret, struct cri_status *st);

/* Calls that drive a runtime (tests, demo). *@ret_id is malloc'ed. */
int cri_run_pod_sandbox(struct cri_client *c, const Runtime__V1__PodSandboxConfig *config,
			int timeout_ms, char **ret_id, struct cri_status *st);
int cri_stop_pod_sandbox(struct cri_client *c, const char *id, int timeout_ms,
			 struct cri_status *st);
int cri_remove_pod_sandbox(struct cri_client *c, const char *id, int timeout_ms,
			   struct cri_status *st);
int cri_create_container(struct cri_client *c, const char *pod_id,
			 const Runtime__V1__ContainerConfig *config,
			 const Runtime__V1__PodSandboxConfig *sandbox_config, int timeout_ms,
			 char **ret_id, struct cri_status *st);
int cri_start_container(struct cri_client *c, const char *id, int timeout_ms,
			struct cri_status *st);
int cri_stop_container(struct cri_client *c, const char *id, int64_t grace_s, int timeout_ms,
		       struct cri_status *st);
int cri_remove_container(struct cri_client *c, const char *id, int timeout_ms,
			 struct cri_status *st);

/* Frees any reply returned above; NULL-safe. */
void cri_msg_free(void *msg);

/* ---- GetContainerEvents ----------------------------------------------------
 * cri_events__open() starts the server stream (no deadline: it lives until
 * cancelled or ended by the runtime). cri_events__read() waits up to
 * @timeout_ms (< 0: forever) for the next event and returns:
 *   0             an event in *@ret (validated; free with cri_msg_free)
 *   -EAGAIN       nothing within @timeout_ms; the stream is still open
 *   -ENODATA      the runtime ended the stream with OK
 *   -EOPNOTSUPP   UNIMPLEMENTED: the runtime has no event stream
 *   -ECANCELED    cancelled (cri_events__cancel or by the runtime)
 *   -ETIMEDOUT    the call's deadline passed
 *   -ENOTCONN     the runtime went away (UNAVAILABLE)
 *   -EPROTO/-EBADMSG  a reply that does not decode or validate; the stream
 *                 stays open and the next read continues with the next event
 *   other -errno  mapped from the final gRPC status
 * Once the stream has ended every further read returns the same code. */
int cri_events__open(struct cri_client *c, struct cri_event_stream **ret, struct cri_status *st);
int cri_events__read(struct cri_event_stream *s, int timeout_ms,
		     Runtime__V1__ContainerEventResponse **ret, struct cri_status *st);
void cri_events__cancel(struct cri_event_stream *s);
void cri_events__free(struct cri_event_stream *s);

/* How a runtime answers GetContainerEvents, probed within @timeout_ms. */
enum cri_events_support {
	CRI_EVENTS_SUPPORTED,	   /* stream stays open, or delivered an event */
	CRI_EVENTS_UNIMPLEMENTED,  /* containerd 1.6 */
	CRI_EVENTS_EMPTY,	   /* OK with no messages: CRI-O without pod events */
};
int cri_events_probe(struct cri_client *c, int timeout_ms, enum cri_events_support *ret,
		     struct cri_status *st);
const char *cri_events_support_str(enum cri_events_support s);

/* ---- validation (cri_validate.c) -------------------------------------------
 * Each returns 0 or -EPROTO with the reason written to @why. */
int cri_validate_container_status(const Runtime__V1__ContainerStatus *s, char *why, size_t n);
int cri_validate_sandbox_status(const Runtime__V1__PodSandboxStatus *s, char *why, size_t n);
int cri_validate_container(const Runtime__V1__Container *ct, char *why, size_t n);
int cri_validate_sandbox(const Runtime__V1__PodSandbox *sb, char *why, size_t n);
int cri_validate_event(const Runtime__V1__ContainerEventResponse *ev, char *why, size_t n);
int cri_validate_version(const Runtime__V1__VersionResponse *v, char *why, size_t n);
int cri_validate_status(const Runtime__V1__StatusResponse *r, char *why, size_t n);

const char *cri_container_state_str(int state);
const char *cri_sandbox_state_str(int state);
const char *cri_event_type_str(int type);
