// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg's own API as `kpleg daemon` serves it (user/daemon_api.c over
 * rpc_server), in process, against fakecri: Status; ListPods and its
 * filters; GetPod by UID and by name, its freshness wait, NOT_FOUND and
 * rejected requests; Watch live, resumed from a sequence number, and started
 * with a Resync when it cannot be resumed (seq no longer buffered, another
 * epoch).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "daemon.h"
#include "kpleg.pb-c.h"
#include "pb_grpc.h"
#include "tracker_helpers.h"

#define REPLAY 16
#define MAX_RESP 64

struct env {
	struct tk_fx *fx;
	struct daemon d;
	char dir[48], path[96], target[112];
	struct cri_client *api;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kpleg_config cfg;
	struct rpc_server_opts so = { .allow_uid = (uid_t)-1, .allow_gid = (gid_t)-1,
				      .methods = daemon_api_methods };

	assert_non_null(e);
	e->fx = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_EVENTED,
					     .events = FAKECRI_EVENTS_ON });
	pthread_mutex_init(&e->d.lock, NULL);
	e->d.mode = KPLEG_MODE_EVENTED;
	e->d.max_watchers = 4;
	e->d.epoch = 42;
	snprintf(e->d.runtime_name, sizeof(e->d.runtime_name), "fakecri");
	assert_int_equal(evlog__new(REPLAY, &e->d.log), 0);
	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = fakecri__endpoint(e->fx->f);
	cfg.mode = KPLEG_MODE_EVENTED;
	cfg.relist_period_ms = 100;
	assert_int_equal(kpleg_tracker__new(&cfg, &e->d.t), 0);
	assert_int_equal(kpleg_tracker__subscribe(e->d.t, daemon_on_event, &e->d, &e->d.sub), 0);
	assert_int_equal(kpleg_tracker__start(e->d.t), 0);
	assert_int_equal(kpleg_tracker__wait_synced(e->d.t, TK_WAIT_MS), 0);
	snprintf(e->dir, sizeof(e->dir), "/tmp/kpleg-api-%d", getpid());
	mkdir(e->dir, 0755);
	snprintf(e->path, sizeof(e->path), "%s/api.sock", e->dir);
	snprintf(e->target, sizeof(e->target), "unix://%s", e->path);
	so.path = e->path;
	so.n_methods = daemon_api_n_methods;
	so.ctx = &e->d;
	assert_int_equal(rpc_server__start(&so, &e->d.api), 0);
	e->api = cri_client__new(e->target);
	assert_non_null(e->api);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	cri_client__free(e->api);
	evlog_close(e->d.log);
	rpc_server__free(e->d.api);
	kpleg_subscription__free(e->d.sub);
	kpleg_tracker__free(e->d.t);
	evlog__free(e->d.log);
	tk_fx_free(e->fx);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* A unary API call; the status code in *code. */
static int api_call(struct env *e, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *desc, void *ret, grpc_status_code *code)
{
	char path[64];
	struct cri_status st = { 0 };
	int r;

	snprintf(path, sizeof(path), KPLEG_API_SERVICE "%s", method);
	r = cri_call_unary(e->api, path, req, desc, 5000, (ProtobufCMessage **)ret, &st);
	if (code)
		*code = st.code;
	return r;
}

/* ---- Watch client ------------------------------------------------------------ */

struct watch {
	const char *path;
	Kpleg__V1__WatchRequest req;
	unsigned want;			 /* stop after this many responses */
	int ms;				 /* or after this long */
	Kpleg__V1__WatchResponse *resp[MAX_RESP];
	unsigned n;
	grpc_status_code code;
};

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	char target[112];
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata_array md, trail;
	grpc_byte_buffer *send = pb_to_byte_buffer(&w->req.base), *recv = NULL;
	grpc_slice details;
	grpc_call *call;
	grpc_op ops[3];

	snprintf(target, sizeof(target), "unix:%s", w->path);
	ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	grpc_metadata_array_init(&md);
	grpc_metadata_array_init(&trail);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					grpc_slice_from_static_string(KPLEG_API_SERVICE "Watch"), NULL,
					gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
						     gpr_time_from_millis(w->ms, GPR_TIMESPAN)),
					NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	grpc_call_start_batch(call, ops, 3, (void *)1, NULL);
	grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &md;
	grpc_call_start_batch(call, ops, 1, (void *)2, NULL);
	grpc_completion_queue_pluck(cq, (void *)2, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	while (w->n < w->want && w->n < MAX_RESP) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		grpc_call_start_batch(call, ops, 1, (void *)3, NULL);
		grpc_completion_queue_pluck(cq, (void *)3, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (!recv)
			break;
		if (pb_unpack_arena(recv, &kpleg__v1__watch_response__descriptor, 1 << 24,
				    (ProtobufCMessage **)&w->resp[w->n]) == 0)
			w->n++;
		grpc_byte_buffer_destroy(recv);
		recv = NULL;
	}
	if (w->n >= w->want)
		grpc_call_cancel(call, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &trail;
	ops[0].data.recv_status_on_client.status = &w->code;
	ops[0].data.recv_status_on_client.status_details = &details;
	grpc_call_start_batch(call, ops, 1, (void *)4, NULL);
	grpc_completion_queue_pluck(cq, (void *)4, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(details);
	grpc_call_unref(call);
	grpc_byte_buffer_destroy(send);
	grpc_metadata_array_destroy(&md);
	grpc_metadata_array_destroy(&trail);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	return NULL;
}

static void watch_free(struct watch *w)
{
	for (unsigned i = 0; i < w->n; i++)
		cri_msg_free(w->resp[i]);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_status(void **state)
{
	struct env *e = *state;
	Kpleg__V1__StatusRequest req = KPLEG__V1__STATUS_REQUEST__INIT;
	Kpleg__V1__StatusResponse *s = NULL;

	tk_pod_new(e->fx, "s1");
	TK_WAIT(evlog_next_seq(e->d.log) > 1, "no event");
	assert_int_equal(api_call(e, "Status", &req.base, &kpleg__v1__status_response__descriptor,
				  &s, NULL), 0);
	assert_string_equal(s->runtime_name, "fakecri");
	assert_true(s->healthy);
	assert_true(s->synced);
	assert_int_equal(s->epoch, 42);
	assert_int_equal(s->pods, 1);
	assert_non_null(s->cri_events);
	assert_true(s->cri_events->connected);
	cri_msg_free(s);
}

static bool cached(struct env *e, const char *uid)
{
	struct kpleg_pod_status *p = NULL;
	int r = kpleg_tracker__get_pod(e->d.t, uid, &p);

	kpleg_pod_status__free(p);
	return r == 0;
}

static void test_list_and_get(void **state)
{
	struct env *e = *state;
	Kpleg__V1__ListPodsRequest lr = KPLEG__V1__LIST_PODS_REQUEST__INIT;
	Kpleg__V1__ListPodsRequest__LabelSelectorEntry sel =
		KPLEG__V1__LIST_PODS_REQUEST__LABEL_SELECTOR_ENTRY__INIT;
	Kpleg__V1__ListPodsRequest__LabelSelectorEntry *selp = &sel;
	Kpleg__V1__ListPodsResponse *l = NULL;
	Kpleg__V1__GetPodRequest gr = KPLEG__V1__GET_POD_REQUEST__INIT;
	Kpleg__V1__GetPodResponse *g = NULL;
	Kpleg__V1__StatusResponse bad = KPLEG__V1__STATUS_RESPONSE__INIT;
	struct tk_pod *a = tk_pod_new(e->fx, "alpha"), *b = tk_pod_new(e->fx, "beta");
	grpc_status_code code;

	tk_ctr_add(e->fx, a, "app", true);
	TK_WAIT(cached(e, a->kp.uid) && cached(e, b->kp.uid), "pods not cached");

	lr.namespace_ = "tk";
	assert_int_equal(api_call(e, "ListPods", &lr.base,
				  &kpleg__v1__list_pods_response__descriptor, &l, NULL), 0);
	assert_int_equal(l->n_pods, 2);
	cri_msg_free(l);
	lr.namespace_ = "elsewhere";
	assert_int_equal(api_call(e, "ListPods", &lr.base,
				  &kpleg__v1__list_pods_response__descriptor, &l, NULL), 0);
	assert_int_equal(l->n_pods, 0);
	cri_msg_free(l);
	lr.namespace_ = "";
	sel.key = KUBE_LABEL_POD_NAME;
	sel.value = "alpha";
	lr.label_selector = &selp;
	lr.n_label_selector = 1;
	assert_int_equal(api_call(e, "ListPods", &lr.base,
				  &kpleg__v1__list_pods_response__descriptor, &l, NULL), 0);
	assert_int_equal(l->n_pods, 1);
	assert_string_equal(l->pods[0]->uid, a->kp.uid);
	cri_msg_free(l);

	/* By UID, fresher than now: the daemon asks the runtime, then answers. */
	gr.uid = a->kp.uid;
	gr.min_observed_mono_ns = kpleg_now_mono_ns();
	assert_int_equal(api_call(e, "GetPod", &gr.base, &kpleg__v1__get_pod_response__descriptor,
				  &g, NULL), 0);
	assert_string_equal(g->pod->name, "alpha");
	assert_true(g->pod->observed_mono_ns >= gr.min_observed_mono_ns);
	assert_int_equal(g->pod->n_containers, 1);
	cri_msg_free(g);
	/* By name. */
	gr.uid = "";
	gr.min_observed_mono_ns = 0;
	gr.namespace_ = "tk";
	gr.name = "beta";
	assert_int_equal(api_call(e, "GetPod", &gr.base, &kpleg__v1__get_pod_response__descriptor,
				  &g, NULL), 0);
	assert_string_equal(g->pod->uid, b->kp.uid);
	cri_msg_free(g);
	/* Unknown, ambiguous, undecodable. */
	gr.name = "gamma";
	api_call(e, "GetPod", &gr.base, &kpleg__v1__get_pod_response__descriptor, &g, &code);
	assert_int_equal(code, GRPC_STATUS_NOT_FOUND);
	gr.uid = a->kp.uid;
	api_call(e, "GetPod", &gr.base, &kpleg__v1__get_pod_response__descriptor, &g, &code);
	assert_int_equal(code, GRPC_STATUS_INVALID_ARGUMENT);
	bad.runtime_api_version = "a string where GetPodRequest has a number";
	api_call(e, "GetPod", &bad.base, &kpleg__v1__get_pod_response__descriptor, &g, &code);
	assert_int_equal(code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void run_watch(struct watch *w, pthread_t *th)
{
	assert_int_equal(pthread_create(th, NULL, watch_main, w), 0);
}

static Kpleg__V1__Event *ev_of(struct watch *w, unsigned i)
{
	assert_true(i < w->n);
	assert_int_equal(w->resp[i]->kind_case, KPLEG__V1__WATCH_RESPONSE__KIND_EVENT);
	return w->resp[i]->event;
}

static void test_watch_live_and_resume(void **state)
{
	struct env *e = *state;
	struct watch live = { .path = e->path, .want = 3, .ms = 5000 };
	struct watch again = { .path = e->path, .want = 2, .ms = 5000 };
	struct tk_pod *p;
	const char *c;
	pthread_t th;
	uint64_t first;

	kpleg__v1__watch_request__init(&live.req);
	kpleg__v1__watch_request__init(&again.req);
	run_watch(&live, &th);
	usleep(200 * 1000); /* the watch is open before anything happens */
	p = tk_pod_new(e->fx, "w");
	c = tk_ctr_add(e->fx, p, "app", true);
	pthread_join(th, NULL);
	assert_int_equal(live.n, 3); /* SandboxReady, ContainerCreated, ContainerStarted */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(live.resp[i]->epoch, 42);
	first = ev_of(&live, 0)->seq;
	assert_int_equal(ev_of(&live, 1)->seq, first + 1);
	assert_string_equal(ev_of(&live, 2)->container_id, c);
	assert_int_equal(ev_of(&live, 2)->type, KPLEG_EVENT_CONTAINER_STARTED + 1);

	/* Resumed after the first: the same next two, from the replay buffer. */
	again.req.from_seq = first + 1;
	again.req.epoch = 42;
	run_watch(&again, &th);
	pthread_join(th, NULL);
	assert_int_equal(again.n, 2);
	assert_int_equal(ev_of(&again, 0)->seq, first + 1);
	assert_int_equal(ev_of(&again, 1)->seq, first + 2);
	watch_free(&live);
	watch_free(&again);
}

static void expect_resync(struct env *e, uint64_t from, uint64_t epoch, const char *why)
{
	struct watch w = { .path = e->path, .want = 1, .ms = 5000 };
	pthread_t th;

	kpleg__v1__watch_request__init(&w.req);
	w.req.from_seq = from;
	w.req.epoch = epoch;
	run_watch(&w, &th);
	pthread_join(th, NULL);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.resp[0]->kind_case, KPLEG__V1__WATCH_RESPONSE__KIND_RESYNC);
	assert_non_null(strstr(w.resp[0]->resync->reason, why));
	assert_true(w.resp[0]->resync->n_pods >= 1); /* the snapshot */
	assert_int_equal(w.resp[0]->resync->seq + 1, evlog_next_seq(e->d.log));
	watch_free(&w);
}

static void test_watch_resync(void **state)
{
	struct env *e = *state;
	struct watch bad = { .path = e->path, .want = 1, .ms = 5000 };
	pthread_t th;

	/* More events than the replay buffer holds: seq 1 is gone. */
	for (int i = 0; i < REPLAY / 4; i++) {
		char name[16];
		struct tk_pod *p;

		snprintf(name, sizeof(name), "p%d", i);
		p = tk_pod_new(e->fx, name);
		tk_ctr_add(e->fx, p, "a", true);
		tk_ctr_add(e->fx, p, "b", true);
	}
	TK_WAIT(evlog_oldest_seq(e->d.log) > 1, "the replay buffer never wrapped");
	expect_resync(e, 1, 42, "no longer buffered");
	expect_resync(e, 2, 7, "epoch changed");
	expect_resync(e, evlog_next_seq(e->d.log) + 5, 0, "not emitted yet");

	kpleg__v1__watch_request__init(&bad.req);
	bad.req.n_types = 1;
	bad.req.types = (Kpleg__V1__EventType[]){ 99 };
	run_watch(&bad, &th);
	pthread_join(th, NULL);
	assert_int_equal(bad.n, 0);
	assert_int_equal(bad.code, GRPC_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_live_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_resync, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
