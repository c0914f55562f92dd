// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg's structs <-> kpleg.v1 messages (proto/kpleg.proto): replies built
 * with few allocations, filters, and validation of requests. protobuf-c hands
 * out any integer for an enum and "" for a missing string, so every request
 * goes through api_validate_*() before anything else reads it.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_convert.h"

/* ---- enums: proto = C + 1, 0 is *_UNSPECIFIED ------------------------------ */

static const Kpleg__V1__EventType event_types[] = {
	[KPLEG_EVENT_CONTAINER_CREATED] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_CREATED,
	[KPLEG_EVENT_CONTAINER_STARTED] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_STARTED,
	[KPLEG_EVENT_CONTAINER_DIED] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_DIED,
	[KPLEG_EVENT_CONTAINER_REMOVED] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_REMOVED,
	[KPLEG_EVENT_SANDBOX_READY] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_SANDBOX_READY,
	[KPLEG_EVENT_SANDBOX_NOTREADY] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_SANDBOX_NOTREADY,
	[KPLEG_EVENT_SANDBOX_REMOVED] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_SANDBOX_REMOVED,
	[KPLEG_EVENT_POD_SYNC] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_POD_SYNC,
	[KPLEG_EVENT_CONTAINER_CONFIRMED] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_CONFIRMED,
};

static const Kpleg__V1__Source sources[] = {
	[KPLEG_SOURCE_RELIST] = KPLEG__V1__SOURCE__SOURCE_RELIST,
	[KPLEG_SOURCE_CRI_EVENT] = KPLEG__V1__SOURCE__SOURCE_CRI_EVENT,
	[KPLEG_SOURCE_KERNEL] = KPLEG__V1__SOURCE__SOURCE_KERNEL,
};

static const Kpleg__V1__ContainerState container_states[] = {
	[KPLEG_CONTAINER_CREATED] = KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_CREATED,
	[KPLEG_CONTAINER_RUNNING] = KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_RUNNING,
	[KPLEG_CONTAINER_EXITED] = KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_EXITED,
	[KPLEG_CONTAINER_UNKNOWN] = KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_UNKNOWN,
};

static const Kpleg__V1__SandboxState sandbox_states[] = {
	[KPLEG_SANDBOX_READY] = KPLEG__V1__SANDBOX_STATE__SANDBOX_STATE_READY,
	[KPLEG_SANDBOX_NOTREADY] = KPLEG__V1__SANDBOX_STATE__SANDBOX_STATE_NOTREADY,
};

static const Kpleg__V1__Mode modes[] = {
	[KPLEG_MODE_AUTO] = KPLEG__V1__MODE__MODE_AUTO,
	[KPLEG_MODE_GENERIC] = KPLEG__V1__MODE__MODE_GENERIC,
	[KPLEG_MODE_EVENTED] = KPLEG__V1__MODE__MODE_EVENTED,
};

/* The C enums have no count: the last value must be the last entry. */
_Static_assert(ARRAY_SIZE(event_types) == KPLEG_EVENT_CONTAINER_CONFIRMED + 1, "event types");
_Static_assert(ARRAY_SIZE(sources) == KPLEG_SOURCE_KERNEL + 1, "sources");
_Static_assert(ARRAY_SIZE(container_states) == KPLEG_CONTAINER_UNKNOWN + 1, "container states");
_Static_assert(ARRAY_SIZE(sandbox_states) == KPLEG_SANDBOX_NOTREADY + 1, "sandbox states");
_Static_assert(ARRAY_SIZE(modes) == KPLEG_MODE_EVENTED + 1, "modes");

/* C value -> proto value, 0 (UNSPECIFIED) when out of range. */
#define TO_PB(table, v) ((unsigned)(v) < ARRAY_SIZE(table) ? (int)(table)[v] : 0)

/* proto value -> C value, -1 when it maps to none (UNSPECIFIED included). */
static int from_pb(const int *table, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (v && table[i] == v)
			return (int)i;
	return -1;
}

/* protobuf-c's enum types are int-sized (PROTOBUF_C__FORCE_ENUM_TO_BE_INT_SIZE). */
_Static_assert(sizeof(Kpleg__V1__EventType) == sizeof(int), "enum size");
#define FROM_PB(table, v) from_pb((const int *)(table), ARRAY_SIZE(table), (int)(v))

/* ---- small helpers ------------------------------------------------------------ */

/* protobuf-c's string fields are char *; the messages built here only borrow. */
static char *S(const char *s)
{
	return (char *)(s ? s : "");
}

static bool empty(const char *s)
{
	return !s || !*s;
}

/* @arr (a char[@size] of a struct kpleg_event) equals @s. */
static bool arr_eq(const char *arr, size_t size, const char *s)
{
	return strnlen(s, size) < size && !strncmp(arr, s, size);
}

static bool terminated(const char *arr, size_t size)
{
	return memchr(arr, '\0', size) != NULL;
}

/* "Connection timed out" for -ETIMEDOUT (thread-safe, unlike strerror). */
static const char *errno_desc(int e)
{
	const char *d = e < 0 && e > INT_MIN ? strerrordesc_np(-e) : e > 0 ? strerrordesc_np(e) : NULL;

	return d ? d : "Unknown error";
}

/* *@total += @n * @size, false on overflow. */
static bool add_array(size_t *total, size_t n, size_t size)
{
	size_t b;

	return !__builtin_mul_overflow(n, size, &b) && !__builtin_add_overflow(*total, b, total);
}

/* ---- pods --------------------------------------------------------------------- */

/*
 * One block: the Pod, then the Sandbox, Container and Label structs, then the
 * pointer arrays. Each part's size is a multiple of its alignment and the
 * alignments never grow along the block, so every part is aligned.
 */
int api_pod_build(const struct kpleg_pod_status *p, Kpleg__V1__Pod **ret)
{
	size_t n_sb, n_ct, n_labels = 0, size = sizeof(Kpleg__V1__Pod);
	Kpleg__V1__Sandbox *sbs, **sbp;
	Kpleg__V1__Container *cts, **ctp;
	Kpleg__V1__Label *lbs, **lbp;
	Kpleg__V1__Pod *m;

	if (!p)
		return -EINVAL;
	n_sb = p->sandboxes ? p->n_sandboxes : 0;
	n_ct = p->containers ? p->n_containers : 0;
	for (size_t i = 0; i < n_sb; i++) {
		const struct kpleg_sandbox_status *sb = &p->sandboxes[i];

		if (!TO_PB(sandbox_states, sb->state))
			return -EINVAL;
		if (sb->labels && __builtin_add_overflow(n_labels, sb->n_labels, &n_labels))
			return -ENOMEM;
	}
	for (size_t i = 0; i < n_ct; i++)
		if (!TO_PB(container_states, p->containers[i].state))
			return -EINVAL;
	if (!add_array(&size, n_sb, sizeof(**sbp) + sizeof(*sbp)) ||
	    !add_array(&size, n_ct, sizeof(**ctp) + sizeof(*ctp)) ||
	    !add_array(&size, n_labels, sizeof(**lbp) + sizeof(*lbp)))
		return -ENOMEM;

	m = malloc(size);
	if (!m)
		return -ENOMEM;
	sbs = (Kpleg__V1__Sandbox *)(m + 1);
	cts = (Kpleg__V1__Container *)(sbs + n_sb);
	lbs = (Kpleg__V1__Label *)(cts + n_ct);
	sbp = (Kpleg__V1__Sandbox **)(lbs + n_labels);
	ctp = (Kpleg__V1__Container **)(sbp + n_sb);
	lbp = (Kpleg__V1__Label **)(ctp + n_ct);

	*m = (Kpleg__V1__Pod)KPLEG__V1__POD__INIT;
	m->uid = S(p->uid);
	m->name = S(p->name);
	m->namespace_ = S(p->namespace_);
	m->observed_mono_ns = p->observed_mono_ns;
	m->generation = p->generation;
	m->last_error = p->last_error;
	if (p->last_error)
		m->last_error_message = S(errno_desc(p->last_error));
	m->n_sandboxes = n_sb;
	m->sandboxes = n_sb ? sbp : NULL;
	m->n_containers = n_ct;
	m->containers = n_ct ? ctp : NULL;

	for (size_t i = 0; i < n_sb; i++) {
		const struct kpleg_sandbox_status *sb = &p->sandboxes[i];
		Kpleg__V1__Sandbox *d = &sbs[i];
		size_t nl = sb->labels ? sb->n_labels : 0;

		*d = (Kpleg__V1__Sandbox)KPLEG__V1__SANDBOX__INIT;
		d->id = S(sb->id);
		d->state = sandbox_states[sb->state];
		d->attempt = sb->attempt;
		d->created_at = sb->created_at;
		d->ip = S(sb->ip);
		d->n_labels = nl;
		d->labels = nl ? lbp : NULL;
		for (size_t j = 0; j < nl; j++) {
			*lbs = (Kpleg__V1__Label)KPLEG__V1__LABEL__INIT;
			lbs->key = S(sb->labels[j].key);
			lbs->value = S(sb->labels[j].value);
			*lbp++ = lbs++;
		}
		sbp[i] = d;
	}
	for (size_t i = 0; i < n_ct; i++) {
		const struct kpleg_container_status *c = &p->containers[i];
		Kpleg__V1__Container *d = &cts[i];

		*d = (Kpleg__V1__Container)KPLEG__V1__CONTAINER__INIT;
		d->id = S(c->id);
		d->sandbox_id = S(c->sandbox_id);
		d->name = S(c->name);
		d->attempt = c->attempt;
		d->state = container_states[c->state];
		d->exit_code = c->exit_code;
		d->reason = S(c->reason);
		d->message = S(c->message);
		d->image = S(c->image);
		d->created_at = c->created_at;
		d->started_at = c->started_at;
		d->finished_at = c->finished_at;
		d->provisional = c->provisional;
		ctp[i] = d;
	}
	*ret = m;
	return 0;
}

void api_pod_free(Kpleg__V1__Pod *m)
{
	free(m);
}

void api_pods_free(Kpleg__V1__Pod **pods, size_t n)
{
	if (!pods)
		return;
	for (size_t i = 0; i < n; i++)
		api_pod_free(pods[i]);
	free(pods);
}

/* ---- events ------------------------------------------------------------------- */

int api_event_build(const struct kpleg_event *ev, Kpleg__V1__Event *ret)
{
	int type, source;

	if (!ev || !ret)
		return -EINVAL;
	type = TO_PB(event_types, ev->type);
	source = TO_PB(sources, ev->source);
	if (!type || !source)
		return -EINVAL;
	if (!terminated(ev->pod_uid, sizeof(ev->pod_uid)) ||
	    !terminated(ev->pod_name, sizeof(ev->pod_name)) ||
	    !terminated(ev->pod_namespace, sizeof(ev->pod_namespace)) ||
	    !terminated(ev->sandbox_id, sizeof(ev->sandbox_id)) ||
	    !terminated(ev->container_id, sizeof(ev->container_id)) ||
	    !terminated(ev->container_name, sizeof(ev->container_name)) ||
	    !terminated(ev->reason, sizeof(ev->reason)))
		return -EINVAL;

	*ret = (Kpleg__V1__Event)KPLEG__V1__EVENT__INIT;
	ret->seq = ev->seq;
	ret->type = type;
	ret->source = source;
	ret->observed_mono_ns = ev->observed_mono_ns;
	ret->observed_real_ns = ev->observed_real_ns;
	ret->pod_uid = S(ev->pod_uid);
	ret->pod_name = S(ev->pod_name);
	ret->namespace_ = S(ev->pod_namespace);
	ret->sandbox_id = S(ev->sandbox_id);
	ret->container_id = S(ev->container_id);
	ret->container_name = S(ev->container_name);
	ret->has_exit_code = ev->has_exit_code;
	ret->exit_code = ev->has_exit_code ? ev->exit_code : 0;
	ret->reason = S(ev->reason);
	ret->provisional = ev->provisional;
	ret->corrected = ev->corrected;
	ret->kernel_mono_ns = ev->kernel_mono_ns;
	ret->kernel_exit_code = ev->kernel_exit_code;
	return 0;
}

/* Copies @src into char[@size] @dst; too long: -EPROTO, or cut if @cut. */
static int copy_str(char *dst, size_t size, const char *src, bool cut)
{
	size_t len;

	src = S(src);
	len = strnlen(src, size);
	if (len >= size) {
		if (!cut)
			return -EPROTO;
		len = size - 1;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

#define COPY(dst, src, cut) copy_str((dst), sizeof(dst), (src), (cut))

int api_event_parse(const Kpleg__V1__Event *m, struct kpleg_event *ret)
{
	struct kpleg_event ev = { 0 };
	int type, source, r = 0;

	if (!m || !ret)
		return -EINVAL;
	type = FROM_PB(event_types, m->type);
	source = FROM_PB(sources, m->source);
	if (type < 0 || source < 0)
		return -EPROTO;
	ev.seq = m->seq;
	ev.type = (enum kpleg_event_type)type;
	ev.source = (enum kpleg_source)source;
	ev.observed_mono_ns = m->observed_mono_ns;
	ev.observed_real_ns = m->observed_real_ns;
	r |= COPY(ev.pod_uid, m->pod_uid, false);
	r |= COPY(ev.pod_name, m->pod_name, false);
	r |= COPY(ev.pod_namespace, m->namespace_, false);
	r |= COPY(ev.sandbox_id, m->sandbox_id, false);
	r |= COPY(ev.container_id, m->container_id, false);
	r |= COPY(ev.container_name, m->container_name, false);
	r |= COPY(ev.reason, m->reason, true);
	if (r)
		return -EPROTO;
	ev.has_exit_code = m->has_exit_code;
	ev.exit_code = m->has_exit_code ? m->exit_code : 0;
	ev.provisional = m->provisional;
	ev.corrected = m->corrected;
	ev.kernel_mono_ns = m->kernel_mono_ns;
	ev.kernel_exit_code = m->kernel_exit_code;
	*ret = ev;
	return 0;
}

/* ---- status ------------------------------------------------------------------- */

struct status_block {
	Kpleg__V1__StatusResponse resp; /* first: the block is freed through it */
	Kpleg__V1__RelistStatus relist;
	Kpleg__V1__CriEventsStatus cri;
	Kpleg__V1__KernelHintsStatus hints;
	Kpleg__V1__DegradedStatus degraded;
	char strings[];
};

/* Appends @len bytes of @s and a NUL at *@p. */
static char *put(char **p, const char *s, size_t len)
{
	char *d = *p;

	memcpy(d, s, len);
	d[len] = '\0';
	*p += len + 1;
	return d;
}

int api_status_build(const struct kpleg_health *h, const struct api_status_extra *x,
		     Kpleg__V1__StatusResponse **ret)
{
	static const struct api_status_extra none = { 0 };
	const char *ep, *rn, *rv, *ra;
	size_t l_ep, l_rn, l_rv, l_ra, l_reason, l_bpf, l_dr, l_su, l_sr;
	struct status_block *b;
	char *s;
	int mode;

	if (!h || !ret)
		return -EINVAL;
	if (!x)
		x = &none;
	mode = TO_PB(modes, x->mode);
	if (!mode)
		return -EINVAL;
	ep = S(x->runtime_endpoint);
	rn = S(x->runtime_name);
	rv = S(x->runtime_version);
	ra = S(x->runtime_api_version);
	l_ep = strlen(ep);
	l_rn = strlen(rn);
	l_rv = strlen(rv);
	l_ra = strlen(ra);
	l_reason = h->healthy ? 0 : strnlen(h->reason, sizeof(h->reason));
	l_bpf = strnlen(h->bpf_state, sizeof(h->bpf_state));
	l_dr = h->degraded ? strnlen(h->degraded_reason, sizeof(h->degraded_reason)) : 0;
	l_su = strnlen(h->stuck_pod_uid, sizeof(h->stuck_pod_uid));
	l_sr = strnlen(h->stuck_reason, sizeof(h->stuck_reason));

	b = malloc(sizeof(*b) + l_ep + l_rn + l_rv + l_ra + l_reason + l_bpf + l_dr + l_su + l_sr +
		   9);
	if (!b)
		return -ENOMEM;
	s = b->strings;
	b->resp = (Kpleg__V1__StatusResponse)KPLEG__V1__STATUS_RESPONSE__INIT;
	b->relist = (Kpleg__V1__RelistStatus)KPLEG__V1__RELIST_STATUS__INIT;
	b->cri = (Kpleg__V1__CriEventsStatus)KPLEG__V1__CRI_EVENTS_STATUS__INIT;
	b->hints = (Kpleg__V1__KernelHintsStatus)KPLEG__V1__KERNEL_HINTS_STATUS__INIT;
	b->degraded = (Kpleg__V1__DegradedStatus)KPLEG__V1__DEGRADED_STATUS__INIT;

	b->resp.runtime_endpoint = put(&s, ep, l_ep);
	b->resp.runtime_name = put(&s, rn, l_rn);
	b->resp.runtime_version = put(&s, rv, l_rv);
	b->resp.runtime_api_version = put(&s, ra, l_ra);
	b->resp.mode = mode;
	b->resp.healthy = h->healthy;
	b->resp.unhealthy_reason = put(&s, h->reason, l_reason);
	b->resp.synced = h->synced;

	b->relist.relists = h->relists;
	b->relist.failures = h->relist_failures;
	b->relist.last_relist_mono_ns = h->last_relist_mono_ns;
	b->relist.period_ms = h->relist_period_ms;
	b->resp.relist = &b->relist;

	b->cri.supported = h->events_supported;
	b->cri.connected = h->events_connected;
	b->cri.received = h->events_received;
	b->cri.rejected = h->events_rejected;
	b->cri.connects = h->stream_connects;
	b->cri.errors = h->stream_errors;
	b->resp.cri_events = &b->cri;

	b->hints.bpf_active = h->bpf_active;
	b->hints.bpf_state = put(&s, h->bpf_state, l_bpf);
	b->hints.hints_received = h->hints_received;
	b->hints.hints_lost = h->hints_lost;
	b->hints.hints_unresolved = h->hints_unresolved;
	b->hints.provisional = h->provisional;
	b->hints.provisional_confirmed = h->provisional_confirmed;
	b->hints.provisional_corrected = h->provisional_corrected;
	b->resp.kernel_hints = &b->hints;

	b->resp.pods = h->pods;
	b->resp.containers = h->containers;
	b->resp.events_emitted = h->events_emitted;
	b->resp.subscriber_drops = h->subscriber_drops;
	b->resp.stale_dropped = h->stale_dropped;
	b->resp.fetches = h->fetches;
	b->resp.fetch_failures = h->fetch_failures;
	b->resp.fetches_pending = h->fetches_pending;
	b->resp.missed_events = h->missed_events;
	b->resp.watchers = x->watchers;
	b->resp.start_mono_ns = x->start_mono_ns;
	b->resp.start_real_ns = x->start_real_ns;
	b->resp.now_mono_ns = x->now_mono_ns ? x->now_mono_ns : kpleg_now_mono_ns();
	b->resp.epoch = x->epoch;
	b->resp.oldest_seq = x->oldest_seq;
	b->resp.last_seq = x->last_seq;

	b->degraded.degraded = h->degraded;
	b->degraded.reason = put(&s, h->degraded_reason, l_dr);
	b->degraded.stuck_pods = h->stuck_pods;
	b->degraded.stuck_pod_uid = put(&s, h->stuck_pod_uid, l_su);
	b->degraded.stuck_reason = put(&s, h->stuck_reason, l_sr);
	b->degraded.stuck_since_mono_ns = h->stuck_since_mono_ns;
	b->degraded.falling_behind = h->falling_behind;
	b->degraded.events_dropped = h->events_dropped;
	b->degraded.event_overflows = h->event_overflows;
	b->degraded.event_backlog = h->event_backlog;
	b->resp.degraded = &b->degraded;
	*ret = &b->resp;
	return 0;
}

void api_status_free(Kpleg__V1__StatusResponse *m)
{
	free(m); /* the start of its struct status_block */
}

/* ---- filters ------------------------------------------------------------------ */

static bool sandbox_has(const struct kpleg_sandbox_status *sb, const char *key,
			const char *value)
{
	for (size_t i = 0; sb->labels && i < sb->n_labels; i++)
		if (!strcmp(S(sb->labels[i].key), key) && !strcmp(S(sb->labels[i].value), value))
			return true;
	return false;
}

static bool sandbox_matches(const struct kpleg_sandbox_status *sb,
			    const Kpleg__V1__ListPodsRequest *req)
{
	for (size_t i = 0; i < req->n_label_selector; i++) {
		const Kpleg__V1__ListPodsRequest__LabelSelectorEntry *e = req->label_selector[i];

		if (!e || !sandbox_has(sb, S(e->key), S(e->value)))
			return false;
	}
	return true;
}

bool api_pod_matches(const struct kpleg_pod_status *p, const Kpleg__V1__ListPodsRequest *req)
{
	if (!req)
		return true;
	if (!empty(req->namespace_) && strcmp(req->namespace_, S(p->namespace_)))
		return false;
	if (!req->n_label_selector)
		return true;
	if (!req->label_selector)
		return false;
	for (size_t i = 0; p->sandboxes && i < p->n_sandboxes; i++)
		if (sandbox_matches(&p->sandboxes[i], req))
			return true;
	return false;
}

bool api_pod_matches_watch(const struct kpleg_pod_status *p, const Kpleg__V1__WatchRequest *req)
{
	if (!req)
		return true;
	if (!empty(req->namespace_) && strcmp(req->namespace_, S(p->namespace_)))
		return false;
	if (!empty(req->pod_uid) && strcmp(req->pod_uid, S(p->uid)))
		return false;
	return true;
}

bool api_event_matches(const struct kpleg_event *ev, const Kpleg__V1__WatchRequest *req)
{
	int type;

	if (!req)
		return true;
	if (!empty(req->namespace_) &&
	    !arr_eq(ev->pod_namespace, sizeof(ev->pod_namespace), req->namespace_))
		return false;
	if (!empty(req->pod_uid) && !arr_eq(ev->pod_uid, sizeof(ev->pod_uid), req->pod_uid))
		return false;
	if (!req->n_types)
		return true;
	if (!req->types)
		return false;
	type = TO_PB(event_types, ev->type);
	for (size_t i = 0; i < req->n_types; i++)
		if (type && (int)req->types[i] == type)
			return true;
	return false;
}

/* ---- validation --------------------------------------------------------------- */

static int invalid(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int invalid(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int check_len(const char *field, const char *s, size_t max, char *err, size_t n)
{
	if (s && strnlen(s, max + 1) > max)
		return invalid(err, n, "%s: longer than %zu bytes", field, max);
	return 0;
}

int api_request_decode(const ProtobufCMessageDescriptor *desc, const void *buf, size_t n,
		       ProtobufCMessage **ret, char *err, size_t errn)
{
	ProtobufCMessage *m;

	/* Requests are small: a large one would only cost memory to decode. */
	if (n > API_REQUEST_MAX) {
		invalid(err, errn, "a %s of %zu bytes (at most %d)", desc->name, n, API_REQUEST_MAX);
		return -EMSGSIZE;
	}
	m = protobuf_c_message_unpack(desc, NULL, n, n ? buf : (const void *)"");
	if (!m) {
		invalid(err, errn, "the request does not decode as %s", desc->name);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

#define UID_LEN_MAX ((size_t)KPLEG_ID_MAX - 1)
#define NAME_LEN_MAX ((size_t)KPLEG_NAME_MAX - 1)

int api_validate_list_pods(const Kpleg__V1__ListPodsRequest *r, char *err, size_t n)
{
	int ret;

	if (!r)
		return invalid(err, n, "request: missing");
	ret = check_len("namespace", r->namespace_, NAME_LEN_MAX, err, n);
	if (ret < 0)
		return ret;
	if (r->n_label_selector > API_SELECTOR_MAX)
		return invalid(err, n, "label_selector: %zu entries (at most %d)",
			       r->n_label_selector, API_SELECTOR_MAX);
	if (r->n_label_selector && !r->label_selector)
		return invalid(err, n, "label_selector: missing entries");
	for (size_t i = 0; i < r->n_label_selector; i++) {
		const Kpleg__V1__ListPodsRequest__LabelSelectorEntry *e = r->label_selector[i];

		if (!e)
			return invalid(err, n, "label_selector: missing entry");
		if (empty(e->key))
			return invalid(err, n, "label_selector: empty key");
		if (strnlen(e->key, API_LABEL_LEN_MAX + 1) > API_LABEL_LEN_MAX)
			return invalid(err, n, "label_selector: key \"%.64s...\" longer than %d bytes",
				       e->key, API_LABEL_LEN_MAX);
		if (strnlen(S(e->value), API_LABEL_LEN_MAX + 1) > API_LABEL_LEN_MAX)
			return invalid(err, n, "label_selector: value of \"%s\" longer than %d bytes",
				       e->key, API_LABEL_LEN_MAX);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->label_selector[j]->key, e->key))
				return invalid(err, n, "label_selector: key \"%s\" given twice",
					       e->key);
	}
	return 0;
}

int api_validate_get_pod(const Kpleg__V1__GetPodRequest *r, char *err, size_t n)
{
	bool uid, ns, name;
	uint64_t now;
	int ret;

	if (!r)
		return invalid(err, n, "request: missing");
	if ((ret = check_len("uid", r->uid, UID_LEN_MAX, err, n)) < 0 ||
	    (ret = check_len("namespace", r->namespace_, NAME_LEN_MAX, err, n)) < 0 ||
	    (ret = check_len("name", r->name, NAME_LEN_MAX, err, n)) < 0)
		return ret;
	uid = !empty(r->uid);
	ns = !empty(r->namespace_);
	name = !empty(r->name);
	if (uid && (ns || name))
		return invalid(err, n, "uid: give either uid or namespace and name, not both");
	if (!uid && !ns && !name)
		return invalid(err, n, "uid: required (or namespace and name)");
	if (ns && !name)
		return invalid(err, n, "name: required with namespace");
	if (name && !ns)
		return invalid(err, n, "namespace: required with name");
	now = kpleg_now_mono_ns();
	if (r->min_observed_mono_ns > now)
		return invalid(err, n,
			       "min_observed_mono_ns: %llu is later than the daemon's CLOCK_MONOTONIC now (%llu)",
			       (unsigned long long)r->min_observed_mono_ns,
			       (unsigned long long)now);
	return 0;
}

int api_validate_watch(const Kpleg__V1__WatchRequest *r, char *err, size_t n)
{
	int ret;

	if (!r)
		return invalid(err, n, "request: missing");
	if ((ret = check_len("namespace", r->namespace_, NAME_LEN_MAX, err, n)) < 0 ||
	    (ret = check_len("pod_uid", r->pod_uid, UID_LEN_MAX, err, n)) < 0)
		return ret;
	if (r->n_types > API_TYPES_MAX)
		return invalid(err, n, "types: %zu entries (at most %d)", r->n_types, API_TYPES_MAX);
	if (r->n_types && !r->types)
		return invalid(err, n, "types: missing entries");
	for (size_t i = 0; i < r->n_types; i++)
		if (FROM_PB(event_types, r->types[i]) < 0)
			return invalid(err, n, "types[%zu]: %d is not an EventType", i,
				       (int)r->types[i]);
	return 0;
}
