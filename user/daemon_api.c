// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg's own API (proto/kpleg.proto) served by `kpleg daemon`: ListPods,
 * GetPod (with GetNewerThan's wait), Watch (resumable through the replay
 * buffer, Resync when a watcher cannot be resumed) and Status. Each call runs
 * on its own rpc_server thread; requests are validated before use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_convert.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

#define WATCH_BATCH 64
#define RESYNC_TRIES 8		   /* snapshots tried for one that no event raced */
#define WATCH_POLL_MS 200	   /* how often an idle watcher checks its client */
#define NO_DEADLINE_WAIT_MS 60000  /* GetPod's wait when the client set no deadline */

static int unpack(struct rpc_call *c, const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **ret)
{
	size_t n;
	const void *buf = rpc_call_request(c, &n);
	char err[128];

	if (api_request_decode(desc, buf, n, ret, err, sizeof(err)) < 0) {
		rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "kpleg: %s", err);
		return -EINVAL;
	}
	return 0;
}

/* Packs @m and sends it: the unary answer, or one message of a stream. */
static int send_msg(struct rpc_call *c, const ProtobufCMessage *m, bool stream)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	_cleanup_free_ uint8_t *buf = malloc(n ? n : 1);

	if (!buf) {
		rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "kpleg: out of memory");
		return -ENOMEM;
	}
	protobuf_c_message_pack(m, buf);
	return stream ? rpc_call_send(c, buf, n) : rpc_call_reply(c, buf, n);
}

static int wait_ms(struct rpc_call *c)
{
	uint64_t d = rpc_call_deadline_ns(c), now = kpleg_now_mono_ns();

	if (d == UINT64_MAX)
		return NO_DEADLINE_WAIT_MS;
	return d > now ? (int)((d - now) / 1000000) : 0;
}

/* ---- Status ---------------------------------------------------------------- */

static void h_status(struct rpc_call *c, void *ctx)
{
	struct daemon *d = ctx;
	ProtobufCMessage *req;
	Kpleg__V1__StatusResponse *m = NULL;
	struct kpleg_health h;
	struct api_status_extra x = {
		.runtime_endpoint = d->endpoint, .runtime_name = d->runtime_name,
		.runtime_version = d->runtime_version, .runtime_api_version = d->runtime_api_version,
		.mode = d->mode, .start_mono_ns = d->start_mono_ns,
		.start_real_ns = d->start_real_ns, .epoch = d->epoch,
	};
	int r;

	if (unpack(c, &kpleg__v1__status_request__descriptor, &req) < 0)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	kpleg_tracker__health(d->t, &h);
	pthread_mutex_lock(&d->lock);
	x.watchers = d->watchers;
	pthread_mutex_unlock(&d->lock);
	x.oldest_seq = evlog_oldest_seq(d->log);
	x.last_seq = evlog_next_seq(d->log) - 1;
	r = api_status_build(&h, &x, &m);
	if (r < 0) {
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg: cannot build the status: %s",
			      strerror(-r));
		return;
	}
	send_msg(c, &m->base, false);
	api_status_free(m);
}

/* ---- ListPods -------------------------------------------------------------- */

/* The pods matching @match (NULL: all) as messages; *ret_n of them. */
static int build_pods(struct daemon *d, bool (*match)(const struct kpleg_pod_status *, const void *),
		      const void *req, struct kpleg_pod_status ***ret_src, Kpleg__V1__Pod ***ret,
		      size_t *ret_n)
{
	struct kpleg_pod_status **pods = NULL;
	Kpleg__V1__Pod **msgs;
	size_t n = 0, k = 0;
	int r;

	r = kpleg_tracker__list_pods(d->t, &pods, &n);
	if (r < 0)
		return r;
	msgs = calloc(n ? n : 1, sizeof(*msgs));
	if (!msgs) {
		kpleg_pod_list__free(pods, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if (!match || match(pods[i], req))
			r = api_pod_build(pods[i], &msgs[k++]);
	if (r < 0) {
		api_pods_free(msgs, k);
		kpleg_pod_list__free(pods, n);
		return r;
	}
	/* The messages borrow from the statuses: both go together. */
	*ret_src = pods;
	*ret = msgs;
	*ret_n = k;
	return (int)n;
}

static bool match_list(const struct kpleg_pod_status *p, const void *req)
{
	return api_pod_matches(p, req);
}

static void h_list_pods(struct rpc_call *c, void *ctx)
{
	struct daemon *d = ctx;
	Kpleg__V1__ListPodsResponse resp = KPLEG__V1__LIST_PODS_RESPONSE__INIT;
	Kpleg__V1__ListPodsRequest *req;
	struct kpleg_pod_status **src = NULL;
	char err[256];
	int n_src;

	if (unpack(c, &kpleg__v1__list_pods_request__descriptor, (ProtobufCMessage **)&req) < 0)
		return;
	if (api_validate_list_pods(req, err, sizeof(err)) < 0) {
		rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "kpleg: %s", err);
		goto out;
	}
	resp.observed_mono_ns = kpleg_now_mono_ns();
	n_src = build_pods(d, match_list, req, &src, &resp.pods, &resp.n_pods);
	if (n_src < 0) {
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg: cannot list pods: %s",
			      strerror(-n_src));
		goto out;
	}
	send_msg(c, &resp.base, false);
	api_pods_free(resp.pods, resp.n_pods);
	kpleg_pod_list__free(src, (size_t)n_src);
out:
	protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- GetPod ---------------------------------------------------------------- */

/* The UID of the cached pod @ns/@name (the one whose newest sandbox was
 * created last when several carry the name). -ENOENT if none. */
static int uid_by_name(struct daemon *d, const char *ns, const char *name, char *uid, size_t n)
{
	struct kpleg_pod_status **pods = NULL;
	int64_t best = -1;
	size_t np = 0;
	int r;

	r = kpleg_tracker__list_pods(d->t, &pods, &np);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < np; i++) {
		const struct kpleg_pod_status *p = pods[i];
		int64_t newest = 0;

		if (strcmp(p->namespace_, ns) || strcmp(p->name, name))
			continue;
		for (size_t k = 0; k < p->n_sandboxes; k++)
			if (p->sandboxes[k].created_at > newest)
				newest = p->sandboxes[k].created_at;
		if (newest > best) {
			best = newest;
			snprintf(uid, n, "%s", p->uid);
			r = 0;
		}
	}
	kpleg_pod_list__free(pods, np);
	return r;
}

static void h_get_pod(struct rpc_call *c, void *ctx)
{
	struct daemon *d = ctx;
	Kpleg__V1__GetPodResponse resp = KPLEG__V1__GET_POD_RESPONSE__INIT;
	Kpleg__V1__GetPodRequest *req;
	struct kpleg_pod_status *p = NULL;
	char err[256], uid[KPLEG_ID_MAX];
	int r;

	if (unpack(c, &kpleg__v1__get_pod_request__descriptor, (ProtobufCMessage **)&req) < 0)
		return;
	if (api_validate_get_pod(req, err, sizeof(err)) < 0) {
		rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "kpleg: %s", err);
		goto out;
	}
	r = 0;
	if (*req->uid)
		snprintf(uid, sizeof(uid), "%s", req->uid);
	else
		r = uid_by_name(d, req->namespace_, req->name, uid, sizeof(uid));
	if (r == 0 && req->min_observed_mono_ns)
		r = kpleg_tracker__get_pod_newer_than(d->t, uid, req->min_observed_mono_ns,
						      wait_ms(c), &p);
	else if (r == 0)
		r = kpleg_tracker__get_pod(d->t, uid, &p);
	if (r == -ENOENT) {
		rpc_call_fail(c, GRPC_STATUS_NOT_FOUND, "kpleg: no pod %s%s%s", *req->uid ? req->uid :
			      req->namespace_, *req->uid ? "" : "/", *req->uid ? "" : req->name);
	} else if (r == -ETIMEDOUT) {
		rpc_call_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED, "kpleg: no data about pod %s fresh "
			      "enough before the deadline", uid);
	} else if (r < 0) {
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg: %s", strerror(-r));
	} else if ((r = api_pod_build(p, &resp.pod)) < 0) {
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg: cannot build the pod: %s",
			      strerror(-r));
	} else {
		send_msg(c, &resp.base, false);
		api_pod_free(resp.pod);
	}
	kpleg_pod_status__free(p);
out:
	protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- Watch ----------------------------------------------------------------- */

void daemon_on_event(const struct kpleg_event *ev, void *userdata)
{
	struct daemon *d = userdata;

	evlog_push(d->log, ev);
}

static bool match_watch(const struct kpleg_pod_status *p, const void *req)
{
	return api_pod_matches_watch(p, req);
}

/* A Resync: every matching pod as of the returned seq. -ECANCELED: client gone. */
static int send_resync(struct rpc_call *c, struct daemon *d, const Kpleg__V1__WatchRequest *req,
		       const char *reason, uint64_t *ret_seq)
{
	Kpleg__V1__WatchResponse resp = KPLEG__V1__WATCH_RESPONSE__INIT;
	Kpleg__V1__Resync rs = KPLEG__V1__RESYNC__INIT;
	struct kpleg_pod_status **src = NULL;
	int n_src, r;

	/* The engine appends events while it holds the cache's write lock, so a
	 * snapshot taken with no event appended meanwhile is exactly the state
	 * as of that seq: the events after it are news, none is in the snapshot
	 * already. Under a stream of events, after a few tries, the snapshot
	 * reflects at least every event up to the seq (an event after it may
	 * repeat what the snapshot shows). */
	for (int tries = 1;; tries++) {
		uint64_t next = evlog_next_seq(d->log);

		rs.seq = next - 1;
		rs.observed_mono_ns = kpleg_now_mono_ns();
		n_src = build_pods(d, match_watch, req, &src, &rs.pods, &rs.n_pods);
		if (n_src < 0) {
			rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg: cannot take a snapshot: %s",
				      strerror(-n_src));
			return -ECANCELED;
		}
		if (evlog_next_seq(d->log) == next || tries == RESYNC_TRIES)
			break;
		api_pods_free(rs.pods, rs.n_pods);
		kpleg_pod_list__free(src, (size_t)n_src);
		src = NULL;
	}
	rs.reason = (char *)reason;
	resp.kind_case = KPLEG__V1__WATCH_RESPONSE__KIND_RESYNC;
	resp.resync = &rs;
	resp.epoch = d->epoch;
	r = send_msg(c, &resp.base, true);
	api_pods_free(rs.pods, rs.n_pods);
	kpleg_pod_list__free(src, (size_t)n_src);
	*ret_seq = rs.seq + 1;
	return r;
}

static int send_event(struct rpc_call *c, struct daemon *d, const struct kpleg_event *ev)
{
	Kpleg__V1__WatchResponse resp = KPLEG__V1__WATCH_RESPONSE__INIT;
	Kpleg__V1__Event m;

	if (api_event_build(ev, &m) < 0)
		return 0; /* not representable: cannot happen for the library's events */
	resp.kind_case = KPLEG__V1__WATCH_RESPONSE__KIND_EVENT;
	resp.event = &m;
	resp.epoch = d->epoch;
	return send_msg(c, &resp.base, true);
}

/* Where a new watch starts: the next seq to send, or 0 with *why set for a
 * Resync first. */
static uint64_t start_pos(struct daemon *d, const Kpleg__V1__WatchRequest *req, char *why,
			  size_t n)
{
	uint64_t next = evlog_next_seq(d->log);

	if (!req->from_seq)
		return next;
	if (req->epoch && req->epoch != d->epoch)
		snprintf(why, n, "epoch changed (the daemon restarted)");
	else if (req->from_seq > next)
		snprintf(why, n, "seq %llu not emitted yet", (unsigned long long)req->from_seq);
	else if (req->from_seq < evlog_oldest_seq(d->log))
		snprintf(why, n, "seq %llu no longer buffered", (unsigned long long)req->from_seq);
	else
		return req->from_seq;
	return 0;
}

static void watch(struct rpc_call *c, struct daemon *d, const Kpleg__V1__WatchRequest *req)
{
	struct kpleg_event *evs = calloc(WATCH_BATCH, sizeof(*evs));
	char why[96];
	uint64_t pos;

	if (!evs) {
		rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "kpleg: out of memory");
		return;
	}
	pos = start_pos(d, req, why, sizeof(why));
	if (!pos && send_resync(c, d, req, why, &pos) < 0)
		goto out;
	for (;;) {
		int n = evlog_read(d->log, pos, evs, WATCH_BATCH, WATCH_POLL_MS);

		if (n == -ECANCELED) {
			rpc_call_fail(c, GRPC_STATUS_UNAVAILABLE, "kpleg: the daemon is stopping");
			break;
		}
		if (n == -ESTALE) {
			snprintf(why, sizeof(why), "behind by more than the replay buffer");
			if (send_resync(c, d, req, why, &pos) < 0)
				break;
			continue;
		}
		if (n == 0 && rpc_call_cancelled(c))
			break;
		for (int i = 0; i < n; i++) {
			pos = evs[i].seq + 1;
			if (api_event_matches(&evs[i], req) && send_event(c, d, &evs[i]) < 0)
				goto out;
		}
	}
out:
	free(evs);
}

static void h_watch(struct rpc_call *c, void *ctx)
{
	struct daemon *d = ctx;
	Kpleg__V1__WatchRequest *req;
	char err[256];
	bool full;

	if (unpack(c, &kpleg__v1__watch_request__descriptor, (ProtobufCMessage **)&req) < 0)
		return;
	if (api_validate_watch(req, err, sizeof(err)) < 0) {
		rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "kpleg: %s", err);
		goto out;
	}
	pthread_mutex_lock(&d->lock);
	full = d->watchers >= d->max_watchers;
	if (!full)
		d->watchers++;
	pthread_mutex_unlock(&d->lock);
	if (full) {
		rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "kpleg: %u watchers already (max)",
			      d->max_watchers);
		goto out;
	}
	watch(c, d, req);
	pthread_mutex_lock(&d->lock);
	d->watchers--;
	pthread_mutex_unlock(&d->lock);
out:
	protobuf_c_message_free_unpacked(&req->base, NULL);
}

const struct rpc_method daemon_api_methods[] = {
	{ KPLEG_API_SERVICE "Status", h_status },
	{ KPLEG_API_SERVICE "ListPods", h_list_pods },
	{ KPLEG_API_SERVICE "GetPod", h_get_pod },
	{ KPLEG_API_SERVICE "Watch", h_watch },
};
const size_t daemon_api_n_methods = ARRAY_SIZE(daemon_api_methods);
