// SPDX-License-Identifier: Apache-2.0
/*
 * Validation of decoded CRI replies. protobuf-c hands out "" for a missing
 * string, NULL for a missing submessage and any integer for an enum
 * (REFERENCE.md §4): a missing state would read as CONTAINER_CREATED or
 * SANDBOX_READY. Nothing that fails here may reach kpleg's state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cri.h"
#include "kpleg/kpleg.h"

/* Bounds on what a runtime may send us (docs/DESIGN.md "Bounds on input"). A
 * container id is 64 hex characters in every runtime we know; leave room for
 * others, refuse the absurd. Ids and UIDs must fit kpleg's own fixed buffers
 * (KPLEG_ID_MAX), as in the relist's list reader (cri_listview.c). */
#define CRI_MAX_ID_LEN (KPLEG_ID_MAX - 1)
#define CRI_MAX_NAME_LEN 1024
#define CRI_MAX_LABELS 1024
#define CRI_MAX_EVENT_STATUSES 1024 /* containers_statuses of one event */

static int invalid(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int invalid(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

static int check_id(const char *what, const char *id, char *why, size_t n)
{
	if (!id || !*id)
		return invalid(why, n, "%s: empty id", what);
	if (strnlen(id, CRI_MAX_ID_LEN + 1) > CRI_MAX_ID_LEN)
		return invalid(why, n, "%s: id longer than %d bytes", what, CRI_MAX_ID_LEN);
	return 0;
}

static int check_labels(const char *what, const char *id, size_t n_labels, char *why, size_t n)
{
	if (n_labels > CRI_MAX_LABELS)
		return invalid(why, n, "%s %.64s: %zu labels (at most %d)", what, id, n_labels,
			       CRI_MAX_LABELS);
	return 0;
}

static int check_container_meta(const char *id, const Runtime__V1__ContainerMetadata *m,
				char *why, size_t n)
{
	if (!m)
		return invalid(why, n, "container %.64s: no metadata", id);
	if (!*m->name)
		return invalid(why, n, "container %.64s: metadata without a name", id);
	if (strnlen(m->name, CRI_MAX_NAME_LEN + 1) > CRI_MAX_NAME_LEN)
		return invalid(why, n, "container %.64s: name too long", id);
	return 0;
}

static int check_sandbox_meta(const char *id, const Runtime__V1__PodSandboxMetadata *m,
			      char *why, size_t n)
{
	if (!m)
		return invalid(why, n, "sandbox %.64s: no metadata", id);
	if (!*m->name || !*m->uid || !*m->namespace_)
		return invalid(why, n, "sandbox %.64s: metadata without name, uid or namespace",
			       id);
	if (strnlen(m->uid, CRI_MAX_ID_LEN + 1) > CRI_MAX_ID_LEN ||
	    strnlen(m->name, CRI_MAX_NAME_LEN + 1) > CRI_MAX_NAME_LEN ||
	    strnlen(m->namespace_, CRI_MAX_NAME_LEN + 1) > CRI_MAX_NAME_LEN)
		return invalid(why, n, "sandbox %.64s: metadata field too long", id);
	return 0;
}

static bool container_state_ok(int s)
{
	return s >= RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED &&
	       s <= RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
}

static bool sandbox_state_ok(int s)
{
	return s == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ||
	       s == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
}

int cri_validate_container_status(const Runtime__V1__ContainerStatus *s, char *why, size_t n)
{
	int r;

	if ((r = check_id("container status", s->id, why, n)) < 0 ||
	    (r = check_container_meta(s->id, s->metadata, why, n)) < 0 ||
	    (r = check_labels("container", s->id, s->n_labels + s->n_annotations, why, n)) < 0)
		return r;
	if (!container_state_ok(s->state))
		return invalid(why, n, "container %.64s: unknown state %d", s->id, s->state);
	if (s->created_at < 0 || s->started_at < 0 || s->finished_at < 0)
		return invalid(why, n, "container %.64s: negative timestamp", s->id);
	return 0;
}

int cri_validate_sandbox_status(const Runtime__V1__PodSandboxStatus *s, char *why, size_t n)
{
	int r;

	if ((r = check_id("sandbox status", s->id, why, n)) < 0 ||
	    (r = check_sandbox_meta(s->id, s->metadata, why, n)) < 0 ||
	    (r = check_labels("sandbox", s->id, s->n_labels + s->n_annotations, why, n)) < 0)
		return r;
	if (!sandbox_state_ok(s->state))
		return invalid(why, n, "sandbox %.64s: unknown state %d", s->id, s->state);
	if (s->created_at < 0)
		return invalid(why, n, "sandbox %.64s: negative timestamp", s->id);
	return 0;
}

int cri_validate_container(const Runtime__V1__Container *ct, char *why, size_t n)
{
	int r;

	if ((r = check_id("container", ct->id, why, n)) < 0 ||
	    (r = check_id("container's sandbox", ct->pod_sandbox_id, why, n)) < 0 ||
	    (r = check_container_meta(ct->id, ct->metadata, why, n)) < 0 ||
	    (r = check_labels("container", ct->id, ct->n_labels + ct->n_annotations, why, n)) < 0)
		return r;
	if (!container_state_ok(ct->state))
		return invalid(why, n, "container %.64s: unknown state %d", ct->id, ct->state);
	if (ct->created_at < 0)
		return invalid(why, n, "container %.64s: negative timestamp", ct->id);
	return 0;
}

int cri_validate_sandbox(const Runtime__V1__PodSandbox *sb, char *why, size_t n)
{
	int r;

	if ((r = check_id("sandbox", sb->id, why, n)) < 0 ||
	    (r = check_sandbox_meta(sb->id, sb->metadata, why, n)) < 0 ||
	    (r = check_labels("sandbox", sb->id, sb->n_labels + sb->n_annotations, why, n)) < 0)
		return r;
	if (!sandbox_state_ok(sb->state))
		return invalid(why, n, "sandbox %.64s: unknown state %d", sb->id, sb->state);
	if (sb->created_at < 0)
		return invalid(why, n, "sandbox %.64s: negative timestamp", sb->id);
	return 0;
}

/* An event is checked as far as it goes: the statuses it carries must be valid,
 * but they may be missing (a sandbox's DELETED has no sandbox status, and
 * containerd 2.0 has sent events with empty container statuses: REFERENCE.md §1);
 * the consumer decides whether to fetch. */
int cri_validate_event(const Runtime__V1__ContainerEventResponse *ev, char *why, size_t n)
{
	int r;

	if ((r = check_id("event", ev->container_id, why, n)) < 0)
		return r;
	if (ev->container_event_type < RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT ||
	    ev->container_event_type > RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT)
		return invalid(why, n, "event for %.64s: unknown type %d", ev->container_id,
			       ev->container_event_type);
	if (ev->created_at < 0)
		return invalid(why, n, "event for %.64s: negative timestamp", ev->container_id);
	if (ev->n_containers_statuses > CRI_MAX_EVENT_STATUSES)
		return invalid(why, n, "event for %.64s: %zu container statuses (at most %d)",
			       ev->container_id, ev->n_containers_statuses, CRI_MAX_EVENT_STATUSES);
	if (ev->pod_sandbox_status &&
	    (r = cri_validate_sandbox_status(ev->pod_sandbox_status, why, n)) < 0)
		return r;
	for (size_t i = 0; i < ev->n_containers_statuses; i++) {
		r = cri_validate_container_status(ev->containers_statuses[i], why, n);
		if (r < 0)
			return r;
	}
	return 0;
}

int cri_validate_version(const Runtime__V1__VersionResponse *v, char *why, size_t n)
{
	if (!*v->runtime_name || !*v->runtime_version)
		return invalid(why, n, "version reply without runtime name or version");
	return 0;
}

int cri_validate_status(const Runtime__V1__StatusResponse *r, char *why, size_t n)
{
	if (!r->status)
		return invalid(why, n, "status reply without a runtime status");
	for (size_t i = 0; i < r->status->n_conditions; i++)
		if (!*r->status->conditions[i]->type)
			return invalid(why, n, "runtime condition without a type");
	return 0;
}

const char *cri_container_state_str(int state)
{
	switch (state) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED: return "created";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING: return "running";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:  return "exited";
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN: return "unknown";
	}
	return "invalid";
}

const char *cri_sandbox_state_str(int state)
{
	switch (state) {
	case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY:    return "ready";
	case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY: return "notready";
	}
	return "invalid";
}

const char *cri_event_type_str(int type)
{
	switch (type) {
	case RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT: return "CREATED";
	case RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT: return "STARTED";
	case RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT: return "STOPPED";
	case RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT: return "DELETED";
	}
	return "INVALID";
}
