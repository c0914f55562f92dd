// SPDX-License-Identifier: Apache-2.0
/* GetContainerEvents from kpleg's merged state (cri_proxy_events.h): one
 * builder thread turns the replay buffer's events into CRI event messages
 * (with the runtime's statuses) in a ring; each subscriber streams from it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri.h"
#include "cri_proxy_events.h"
#include "log.h"
#include "util.h"

#define DEFAULT_CAP 1024
#define BATCH 64
#define POLL_MS 200
#define STATUS_TIMEOUT_MS 2000

#define EV_CREATED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT
#define EV_STARTED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT
#define EV_STOPPED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT
#define EV_DELETED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT

struct pe_msg {
	uint8_t *buf;
	size_t len;
};

/* The last status the builder read of a sandbox (builder thread only). */
#define LAST_SB_SLOTS 256
struct last_sb {
	char id[KPLEG_ID_MAX];
	uint8_t *buf;		/* a packed PodSandboxStatus or ContainerStatus */
	size_t len;
	bool stopped;		/* containers: a STOPPED was sent */
	bool exited;		/* containers: the kernel saw it exit */
	int32_t exit_code;
	char reason[KPLEG_REASON_MAX];
	int64_t finished_at;
};

struct proxy_events {
	struct last_sb last[LAST_SB_SLOTS];
	unsigned last_next;
	struct daemon *d;
	struct cri_client *cri;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;
	pthread_cond_t more;
	struct pe_msg *ring;
	unsigned cap, count, head; /* head: the oldest */
	uint64_t next;		   /* number of the next message (the first is 1) */
	bool closed;
	uint64_t built, cut;
	unsigned subscribers;
};

/* ---- building ------------------------------------------------------------------ */

static void push(struct proxy_events *pe, uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&pe->lock);
	if (pe->count == pe->cap) {
		free(pe->ring[pe->head].buf);
		pe->head = (pe->head + 1) % pe->cap;
		pe->count--;
	}
	pe->ring[(pe->head + pe->count) % pe->cap] = (struct pe_msg){ .buf = buf, .len = len };
	pe->count++;
	pe->next++;
	pe->built++;
	pthread_cond_broadcast(&pe->more);
	pthread_mutex_unlock(&pe->lock);
}

struct statuses {
	Runtime__V1__PodSandboxStatusResponse *sb;
	Runtime__V1__ListContainersResponse *list;
	Runtime__V1__ContainerStatusResponse **cs;
	Runtime__V1__ContainerStatus **ptrs;
	size_t n;
};

static void statuses_free(struct statuses *s)
{
	cri_msg_free(s->sb);
	cri_msg_free(s->list);
	for (size_t i = 0; i < s->n; i++)
		cri_msg_free(s->cs[i]);
	free(s->cs);
	free(s->ptrs);
	memset(s, 0, sizeof(*s));
}

/* The runtime's status of sandbox @sb_id and, with @containers, those of its
 * containers, now. */
static void read_statuses(struct proxy_events *pe, const char *sb_id, bool containers,
			  struct statuses *s)
{
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
	struct cri_status st;

	if (cri_pod_sandbox_status(pe->cri, sb_id, STATUS_TIMEOUT_MS, &s->sb, &st) < 0) {
		s->sb = NULL;
		return; /* gone already: the message goes without statuses */
	}
	if (!containers)
		return;
	f.pod_sandbox_id = (char *)sb_id;
	if (cri_list_containers(pe->cri, &f, STATUS_TIMEOUT_MS, &s->list, &st) < 0) {
		s->list = NULL;
		return;
	}
	s->cs = calloc(s->list->n_containers + 1, sizeof(*s->cs));
	s->ptrs = calloc(s->list->n_containers + 1, sizeof(*s->ptrs));
	if (!s->cs || !s->ptrs)
		return;
	for (size_t i = 0; i < s->list->n_containers; i++) {
		Runtime__V1__ContainerStatusResponse *r = NULL;

		if (cri_container_status(pe->cri, s->list->containers[i]->id, STATUS_TIMEOUT_MS, &r,
					 &st) < 0)
			continue; /* removed meanwhile */
		s->cs[s->n] = r;
		s->ptrs[s->n++] = r->status;
	}
}

enum with { WITH_NOTHING, WITH_SANDBOX, WITH_ALL };

static struct last_sb *last_find(struct proxy_events *pe, const char *id)
{
	for (unsigned i = 0; i < LAST_SB_SLOTS; i++)
		if (pe->last[i].buf && !strcmp(pe->last[i].id, id))
			return &pe->last[i];
	return NULL;
}

static void last_drop(struct last_sb *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static struct last_sb *last_get(struct proxy_events *pe, const char *id)
{
	struct last_sb *l = last_find(pe, id);

	if (!l) {
		l = &pe->last[pe->last_next];
		pe->last_next = (pe->last_next + 1) % LAST_SB_SLOTS;
		last_drop(l);
		snprintf(l->id, sizeof(l->id), "%s", id);
	}
	return l;
}

static void last_keep(struct proxy_events *pe, const char *id, const ProtobufCMessage *st)
{
	size_t n = protobuf_c_message_get_packed_size(st);
	uint8_t *buf = malloc(n ? n : 1);
	struct last_sb *l;

	if (!buf)
		return;
	protobuf_c_message_pack(st, buf);
	l = last_get(pe, id);
	free(l->buf);
	l->buf = buf;
	l->len = n;
}

/* One message per type in @types (all about @id, read once), into the ring. */
static void build_n(struct proxy_events *pe, const struct kpleg_event *ev, const char *id,
		    const int *types, size_t n_types, enum with with)
{
	Runtime__V1__ContainerEventResponse m = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__PodSandboxStatus *old = NULL;
	struct statuses s = { 0 };
	struct last_sb *l;
	uint8_t *buf;
	size_t len;

	m.container_id = (char *)id;
	m.created_at = (int64_t)ev->observed_real_ns;
	if (with != WITH_NOTHING && *ev->sandbox_id) {
		read_statuses(pe, ev->sandbox_id, with == WITH_ALL, &s);
		m.pod_sandbox_status = s.sb ? s.sb->status : NULL;
		if (s.sb)
			last_keep(pe, ev->sandbox_id, &s.sb->status->base);
		for (size_t i = 0; i < s.n; i++)
			last_keep(pe, s.ptrs[i]->id, &s.ptrs[i]->base);
		/* Stopped and removed before we could read it (the kubelet's
		 * StopPodSandbox then RemovePodSandbox back to back): what the
		 * runtime said last, NOTREADY now, as the runtime would have. */
		if (!s.sb && types[0] == EV_STOPPED && !strcmp(id, ev->sandbox_id) &&
		    (l = last_find(pe, id)) &&
		    (old = runtime__v1__pod_sandbox_status__unpack(NULL, l->len, l->buf))) {
			old->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
			m.pod_sandbox_status = old;
		}
		m.containers_statuses = s.ptrs; /* none read unless WITH_ALL */
		m.n_containers_statuses = s.n;
	}
	for (size_t i = 0; i < n_types; i++) {
		m.container_event_type = types[i];
		len = protobuf_c_message_get_packed_size(&m.base);
		buf = malloc(len ? len : 1);
		if (buf) {
			protobuf_c_message_pack(&m.base, buf);
			push(pe, buf, len);
		} else {
			log_error("\"Out of memory building a CRI event; subscribers miss it\"");
		}
		if (types[i] == EV_STOPPED && (l = last_find(pe, id)))
			l->stopped = true;
		if (types[i] == EV_DELETED && (l = last_find(pe, id)))
			last_drop(l);
	}
	statuses_free(&s);
	if (old)
		runtime__v1__pod_sandbox_status__free_unpacked(old, NULL);
}

static void build(struct proxy_events *pe, const struct kpleg_event *ev, const char *id,
		  int type, enum with with)
{
	build_n(pe, ev, id, &type, 1, with);
}

/* A container the kubelet removed right after its exit, before kpleg read
 * the runtime's word: containerd 1.7 would have sent STOPPED at the exit.
 * Sent here with the status the runtime last gave, as the kernel saw it end
 * (exit code, reason, time). */
static void stopped_before_removal(struct proxy_events *pe, const struct kpleg_event *ev)
{
	Runtime__V1__ContainerEventResponse m = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__PodSandboxStatusResponse *sb = NULL;
	Runtime__V1__ContainerStatus *cs, *list[1];
	struct last_sb *l = last_find(pe, ev->container_id);
	struct cri_status st;
	uint8_t *buf;
	size_t len;

	if (!l || l->stopped || !l->exited || !l->buf)
		return;
	cs = runtime__v1__container_status__unpack(NULL, l->len, l->buf);
	if (!cs)
		return;
	cs->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	cs->exit_code = l->exit_code;
	cs->reason = l->reason;
	cs->finished_at = l->finished_at;
	list[0] = cs;
	m.container_id = (char *)ev->container_id;
	m.container_event_type = EV_STOPPED;
	m.created_at = l->finished_at;
	if (cri_pod_sandbox_status(pe->cri, ev->sandbox_id, STATUS_TIMEOUT_MS, &sb, &st) == 0)
		m.pod_sandbox_status = sb->status;
	m.containers_statuses = list;
	m.n_containers_statuses = 1;
	len = protobuf_c_message_get_packed_size(&m.base);
	buf = malloc(len ? len : 1);
	if (buf) {
		protobuf_c_message_pack(&m.base, buf);
		push(pe, buf, len);
	}
	cs->reason = NULL; /* l->reason is not the message's to free */
	runtime__v1__container_status__free_unpacked(cs, NULL);
	cri_msg_free(sb);
	l->stopped = true;
}

/* The kernel's view of an exit, for stopped_before_removal(). */
static void note_exit(struct proxy_events *pe, const struct kpleg_event *ev)
{
	struct last_sb *l = last_find(pe, ev->container_id);

	if (!l)
		return;
	l->exited = true;
	l->exit_code = ev->exit_code;
	snprintf(l->reason, sizeof(l->reason), "%s", ev->reason);
	l->finished_at = (int64_t)ev->observed_real_ns; /* the kernel's exit time */
}

/* A kpleg event as containerd 1.7 would have sent it (see the header). */
static void translate(struct proxy_events *pe, const struct kpleg_event *ev)
{
	const char *ctr = ev->container_id, *sb = ev->sandbox_id;

	switch (ev->type) {
	case KPLEG_EVENT_CONTAINER_CREATED:
		build(pe, ev, ctr, EV_CREATED, WITH_ALL);
		break;
	case KPLEG_EVENT_CONTAINER_STARTED:
		build(pe, ev, ctr, EV_STARTED, WITH_ALL);
		break;
	case KPLEG_EVENT_CONTAINER_DIED:
		if (!ev->provisional)
			build(pe, ev, ctr, EV_STOPPED, WITH_ALL);
		else if (ev->has_exit_code)
			note_exit(pe, ev);
		break;
	case KPLEG_EVENT_CONTAINER_CONFIRMED:
		if (ev->has_exit_code) /* the runtime says exited (not: still running) */
			build(pe, ev, ctr, EV_STOPPED, WITH_ALL);
		break;
	case KPLEG_EVENT_CONTAINER_REMOVED:
		stopped_before_removal(pe, ev);
		build(pe, ev, ctr, EV_DELETED, WITH_ALL);
		break;
	case KPLEG_EVENT_SANDBOX_READY:
		/* A sandbox being made has no containers yet (containerd 1.7 sends
		 * none); ones created since are theirs to report. */
		build_n(pe, ev, sb, (const int[]){ EV_CREATED, EV_STARTED }, 2, WITH_SANDBOX);
		break;
	case KPLEG_EVENT_SANDBOX_NOTREADY:
		build(pe, ev, sb, EV_STOPPED, WITH_ALL);
		break;
	case KPLEG_EVENT_SANDBOX_REMOVED:
		build(pe, ev, sb, EV_DELETED, WITH_NOTHING);
		break;
	case KPLEG_EVENT_POD_SYNC:
		break;
	}
}

static void *builder_main(void *arg)
{
	struct proxy_events *pe = arg;
	struct kpleg_event *evs = calloc(BATCH, sizeof(*evs));
	uint64_t pos = evlog_next_seq(pe->d->log);

	if (!evs) {
		log_error("\"Out of memory: the CRI proxy serves no events\"");
		return NULL;
	}
	for (;;) {
		int n = evlog_read(pe->d->log, pos, evs, BATCH, POLL_MS);
		bool closed;

		pthread_mutex_lock(&pe->lock);
		closed = pe->closed;
		pthread_mutex_unlock(&pe->lock);
		if (n == -ECANCELED || closed)
			break;
		if (n == -ESTALE) {
			log_warn("\"CRI proxy events fell behind the replay buffer; some were not "
				 "sent\" from=%llu", (unsigned long long)pos);
			pos = evlog_oldest_seq(pe->d->log);
			continue;
		}
		for (int i = 0; i < n; i++) {
			pos = evs[i].seq + 1;
			translate(pe, &evs[i]);
		}
	}
	free(evs);
	return NULL;
}

int proxy_events__start(struct daemon *d, const char *upstream, unsigned cap,
			struct proxy_events **ret)
{
	struct proxy_events *pe = calloc(1, sizeof(*pe));
	pthread_condattr_t ca;

	if (!pe)
		return -ENOMEM;
	pe->d = d;
	pe->cap = cap ? cap : DEFAULT_CAP;
	pe->next = 1;
	pe->ring = calloc(pe->cap, sizeof(*pe->ring));
	pe->cri = cri_client__new(upstream);
	pthread_mutex_init(&pe->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pe->more, &ca);
	pthread_condattr_destroy(&ca);
	if (!pe->ring || !pe->cri || pthread_create(&pe->thread, NULL, builder_main, pe)) {
		proxy_events__free(pe);
		return -ENOMEM;
	}
	pe->thread_started = true;
	*ret = pe;
	return 0;
}

void proxy_events_close(struct proxy_events *pe)
{
	if (!pe)
		return;
	pthread_mutex_lock(&pe->lock);
	pe->closed = true;
	pthread_cond_broadcast(&pe->more);
	pthread_mutex_unlock(&pe->lock);
}

void proxy_events__free(struct proxy_events *pe)
{
	if (!pe)
		return;
	proxy_events_close(pe);
	if (pe->thread_started)
		pthread_join(pe->thread, NULL);
	for (unsigned i = 0; pe->ring && i < pe->count; i++)
		free(pe->ring[(pe->head + i) % pe->cap].buf);
	for (unsigned i = 0; i < LAST_SB_SLOTS; i++)
		last_drop(&pe->last[i]);
	free(pe->ring);
	cri_client__free(pe->cri);
	pthread_mutex_destroy(&pe->lock);
	pthread_cond_destroy(&pe->more);
	free(pe);
}

void proxy_events_stats(struct proxy_events *pe, uint64_t *ret_built, uint64_t *ret_cut,
			unsigned *ret_subscribers)
{
	pthread_mutex_lock(&pe->lock);
	*ret_built = pe->built;
	*ret_cut = pe->cut;
	*ret_subscribers = pe->subscribers;
	pthread_mutex_unlock(&pe->lock);
}

/* ---- serving -------------------------------------------------------------------- */

/* The next message at or after *pos, copied: 1, 0 (none within POLL_MS),
 * -ESTALE (fell behind), -ECANCELED (closed). */
static int take(struct proxy_events *pe, uint64_t *pos, struct pe_msg *ret)
{
	uint64_t end = now_mono_ns() + POLL_MS * NSEC_PER_MSEC;
	struct timespec ts = { .tv_sec = end / NSEC_PER_SEC, .tv_nsec = end % NSEC_PER_SEC };
	uint64_t oldest;
	int r = 0;

	pthread_mutex_lock(&pe->lock);
	while (!pe->closed && *pos >= pe->next &&
	       pthread_cond_timedwait(&pe->more, &pe->lock, &ts) != ETIMEDOUT)
		;
	oldest = pe->next - pe->count;
	if (pe->closed) {
		r = -ECANCELED;
	} else if (*pos < oldest) {
		r = -ESTALE;
		pe->cut++;
	} else if (*pos < pe->next) {
		const struct pe_msg *m = &pe->ring[(pe->head + (*pos - oldest)) % pe->cap];

		ret->buf = malloc(m->len ? m->len : 1);
		ret->len = m->len;
		if (ret->buf) {
			memcpy(ret->buf, m->buf, m->len);
			r = 1;
		}
		(*pos)++;
	}
	pthread_mutex_unlock(&pe->lock);
	return r;
}

void proxy_events_serve(struct rpc_call *c, void *ctx)
{
	struct proxy_events *pe = ctx;
	Runtime__V1__GetEventsRequest *req;
	uint64_t pos;
	size_t n;
	const void *buf = rpc_call_request(c, &n);

	req = runtime__v1__get_events_request__unpack(NULL, n, buf);
	if (!req) {
		rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
			      "kpleg: the request does not decode as GetEventsRequest");
		return;
	}
	runtime__v1__get_events_request__free_unpacked(req, NULL);
	pthread_mutex_lock(&pe->lock);
	pos = pe->next; /* events from now on */
	pe->subscribers++;
	pthread_mutex_unlock(&pe->lock);
	for (;;) {
		struct pe_msg m = { 0 };
		int r = take(pe, &pos, &m);

		if (r == -ECANCELED) {
			rpc_call_fail(c, GRPC_STATUS_UNAVAILABLE, "kpleg: the proxy is stopping");
			break;
		}
		if (r == -ESTALE) {
			rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				      "kpleg: this subscriber fell behind the event buffer and "
				      "is cut off; subscribe again and relist");
			break;
		}
		if (r == 0 && rpc_call_cancelled(c))
			break;
		if (r == 1) {
			r = rpc_call_send(c, m.buf, m.len);
			free(m.buf);
			if (r < 0)
				break;
		}
	}
	pthread_mutex_lock(&pe->lock);
	pe->subscribers--;
	pthread_mutex_unlock(&pe->lock);
}

/* ---- what the kubelet just changed ---------------------------------------------- */

#define UNPACK_ID(type, fn, field)                                                     \
	({                                                                             \
		type *_m = fn##__unpack(NULL, len, req);                                \
		if (_m && _m->field && *_m->field)                                     \
			kpleg_tracker__request_object(d->t, _m->field);                 \
		if (_m)                                                                \
			fn##__free_unpacked(_m, NULL);                                 \
	})

void proxy_events_on_forwarded(const char *method, const void *req, size_t len, void *ctx)
{
	struct daemon *d = ctx;
	const char *m = strrchr(method, '/');

	if (!m)
		return;
	m++;
	/* The runtime said OK: fetch that pod now rather than at the next
	 * relist (nothing in the kernel shows a container created or removed). */
	if (!strcmp(m, "CreateContainer")) {
		UNPACK_ID(Runtime__V1__CreateContainerRequest, runtime__v1__create_container_request,
			  pod_sandbox_id);
	} else if (!strcmp(m, "StartContainer")) {
		UNPACK_ID(Runtime__V1__StartContainerRequest, runtime__v1__start_container_request,
			  container_id);
	} else if (!strcmp(m, "StopContainer")) {
		UNPACK_ID(Runtime__V1__StopContainerRequest, runtime__v1__stop_container_request,
			  container_id);
	} else if (!strcmp(m, "RemoveContainer")) {
		UNPACK_ID(Runtime__V1__RemoveContainerRequest,
			  runtime__v1__remove_container_request, container_id);
	} else if (!strcmp(m, "StopPodSandbox")) {
		UNPACK_ID(Runtime__V1__StopPodSandboxRequest, runtime__v1__stop_pod_sandbox_request,
			  pod_sandbox_id);
	} else if (!strcmp(m, "RemovePodSandbox")) {
		UNPACK_ID(Runtime__V1__RemovePodSandboxRequest,
			  runtime__v1__remove_pod_sandbox_request, pod_sandbox_id);
	} else if (!strcmp(m, "RunPodSandbox")) {
		Runtime__V1__RunPodSandboxRequest *r =
			runtime__v1__run_pod_sandbox_request__unpack(NULL, len, req);

		if (r && r->config && r->config->metadata && r->config->metadata->uid &&
		    *r->config->metadata->uid)
			kpleg_tracker__request_pod(d->t, r->config->metadata->uid);
		if (r)
			runtime__v1__run_pod_sandbox_request__free_unpacked(r, NULL);
	}
}
