// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI client against fakecri: every call round-trips; every malformed
 * reply fakecri can produce is rejected with a clear error (and, under
 * SANITIZE=1, without a leak); every way an event stream can end is told apart.
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
#include <unistd.h>
#include <cmocka.h>

#include "cri.h"
#include "cri_listview.h"
#include "fakecri.h"
#include "kube.h"
#include "testenv.h"

struct fx {
	struct fakecri *f;
	struct cri_client *c;
	char sock[64];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct fakecri_opts o = { .socket_path = fx->sock, .events = FAKECRI_EVENTS_ON };

	snprintf(fx->sock, sizeof(fx->sock), "/tmp/kpleg-cri-fakecri-%d.sock", (int)getpid());
	fx->f = fakecri__new(&o);
	assert_non_null(fx->f);
	fx->c = cri_client__new(fakecri__endpoint(fx->f));
	assert_non_null(fx->c);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cri_client__free(fx->c);
	fakecri__free(fx->f);
	free(fx);
	return 0;
}

/* A pod with one created container; ids returned malloc'ed. */
static void make_pod(struct fx *fx, struct kube_pod *p, char **sb, char **ct)
{
	char *argv[] = { (char *)"/bin/true", NULL };
	struct kube_container k;
	struct cri_status st;

	assert_int_equal(kube_pod_init(p, NULL, "web", "shop", KUBE_QOS_BURSTABLE), 0);
	assert_int_equal(cri_run_pod_sandbox(fx->c, &p->cfg, 0, sb, &st), 0);
	assert_int_equal(kube_container_init(&k, p, "app", argv, 0), 0);
	assert_int_equal(cri_create_container(fx->c, *sb, &k.cfg, &p->cfg, 0, ct, &st), 0);
}

static void test_roundtrip(void **state)
{
	struct fx *fx = *state;
	Runtime__V1__VersionResponse *v = NULL;
	Runtime__V1__StatusResponse *s = NULL;
	Runtime__V1__ListPodSandboxResponse *pl = NULL;
	Runtime__V1__ListContainersResponse *cl = NULL;
	Runtime__V1__PodSandboxStatusResponse *ps = NULL;
	Runtime__V1__ContainerStatusResponse *cs = NULL;
	struct cri_status st;
	struct kube_pod p;
	char *sb, *ct;

	assert_int_equal(cri_version(fx->c, 0, &v, &st), 0);
	assert_string_equal(v->runtime_name, "fakecri");
	assert_int_equal(cri_status(fx->c, 0, &s, &st), 0);
	assert_true(s->status->n_conditions >= 2);
	make_pod(fx, &p, &sb, &ct);
	assert_int_equal(cri_list_pod_sandbox(fx->c, NULL, 0, &pl, &st), 0);
	assert_int_equal(pl->n_items, 1);
	assert_string_equal(pl->items[0]->metadata->uid, p.uid);
	assert_int_equal(cri_pod_sandbox_status(fx->c, sb, 0, &ps, &st), 0);
	assert_string_equal(ps->status->metadata->namespace_, "shop");
	assert_int_equal(cri_start_container(fx->c, ct, 0, &st), 0);
	assert_int_equal(fakecri__container_exit(fx->f, ct, 3, NULL), 0);
	assert_int_equal(cri_container_status(fx->c, ct, 0, &cs, &st), 0);
	assert_int_equal(cs->status->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
	assert_int_equal(cs->status->exit_code, 3);
	assert_int_equal(cri_list_containers(fx->c, NULL, 0, &cl, &st), 0);
	assert_int_equal(cl->n_containers, 1);
	assert_int_equal(cri_stop_container(fx->c, ct, 0, 0, &st), 0);
	assert_int_equal(cri_remove_container(fx->c, ct, 0, &st), 0);
	assert_int_equal(cri_stop_pod_sandbox(fx->c, sb, 0, &st), 0);
	assert_int_equal(cri_remove_pod_sandbox(fx->c, sb, 0, &st), 0);
	assert_int_equal(cri_pod_sandbox_status(fx->c, sb, 0, &ps, &st), -ENOENT);
	assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
	assert_int_equal(fakecri__count_calls(fx->f, "ContainerStatus"), 1);
	cri_msg_free(v);
	cri_msg_free(s);
	cri_msg_free(pl);
	cri_msg_free(cl);
	cri_msg_free(ps);
	cri_msg_free(cs);
	free(sb);
	free(ct);
}

/* Each malformed reply kind, on each read call: an error, a clear message. */
static void test_malformed_replies(void **state)
{
	static const struct {
		enum fakecri_reply kind;
		int err;
		const char *says;
	} kinds[] = {
		{ FAKECRI_REPLY_GARBAGE, -EBADMSG, "does not decode" },
		{ FAKECRI_REPLY_TRUNCATED, -EBADMSG, "does not decode" },
		{ FAKECRI_REPLY_EMPTY_ID, -EPROTO, "empty id" },
		{ FAKECRI_REPLY_BAD_ENUM, -EPROTO, "unknown state 99" },
		{ FAKECRI_REPLY_NO_METADATA, -EPROTO, "metadata" },
	};
	static const char *const methods[] = { "ListPodSandbox", "PodSandboxStatus",
					       "ListContainers", "ContainerStatus" };
	struct fx *fx = *state;
	struct cri_status st;
	struct kube_pod p;
	char *sb, *ct;

	make_pod(fx, &p, &sb, &ct);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			struct fakecri_fault fault = { .reply = kinds[k].kind, .count = 1 };
			void *reply = NULL;
			int r;

			assert_int_equal(fakecri__set_fault(fx->f, methods[m], &fault), 0);
			switch (m) {
			case 0: r = cri_list_pod_sandbox(fx->c, NULL, 0, (void *)&reply, &st); break;
			case 1: r = cri_pod_sandbox_status(fx->c, sb, 0, (void *)&reply, &st); break;
			case 2: r = cri_list_containers(fx->c, NULL, 0, (void *)&reply, &st); break;
			default: r = cri_container_status(fx->c, ct, 0, (void *)&reply, &st); break;
			}
			if (r != kinds[k].err || !strstr(st.message, kinds[k].says))
				fail_msg("%s with fault %d: got %d \"%s\"", methods[m],
					 kinds[k].kind, r, st.message);
			assert_null(reply);
			assert_non_null(strstr(st.message, methods[m]));
		}
	}
	/* The fault was for one call only: the next ones work again. */
	for (size_t m = 0; m < 2; m++) {
		Runtime__V1__ContainerStatusResponse *cs = NULL;

		assert_int_equal(cri_container_status(fx->c, ct, 0, &cs, &st), 0);
		cri_msg_free(cs);
	}
	free(sb);
	free(ct);
}

/* The relist's wire reader on real gRPC replies: the same answers as the full
 * decoder, the same rejections. */
static void test_list_view(void **state)
{
	static const enum fakecri_reply bad[] = { FAKECRI_REPLY_GARBAGE, FAKECRI_REPLY_TRUNCATED,
						  FAKECRI_REPLY_EMPTY_ID, FAKECRI_REPLY_BAD_ENUM,
						  FAKECRI_REPLY_NO_METADATA };
	static const char *const methods[] = { "ListPodSandbox", "ListContainers" };
	struct fx *fx = *state;
	struct cri_list_view *v = NULL;
	struct cri_status st;

	assert_int_equal(fakecri__populate(fx->f, 30, 3, true), 0);
	assert_int_equal(cri_list_view(fx->c, 0, &v, &st), 0);
	assert_int_equal(v->n_sandboxes, 30);
	assert_int_equal(v->n_containers, 90);
	for (size_t i = 0; i < v->n_containers; i++) {
		assert_int_equal(v->containers[i].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
		assert_non_null(v->containers[i].pod_uid_label);
	}
	cri_list_view_free(v);
	for (size_t m = 0; m < 2; m++)
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			struct fakecri_fault fault = { .reply = bad[k], .count = 1 };
			int r;

			v = NULL;
			assert_int_equal(fakecri__set_fault(fx->f, methods[m], &fault), 0);
			r = cri_list_view(fx->c, 0, &v, &st);
			if ((r != -EPROTO && r != -EBADMSG) || !strstr(st.message, methods[m]))
				fail_msg("%s fault %d: got %d \"%s\"", methods[m], bad[k], r,
					 st.message);
			assert_null(v);
		}
}

static void test_error_codes(void **state)
{
	struct fx *fx = *state;
	struct fakecri_fault fault = { .code = GRPC_STATUS_RESOURCE_EXHAUSTED,
				       .message = "too much", .count = 1 };
	Runtime__V1__VersionResponse *v = NULL;
	struct cri_status st;
	uint64_t t0;

	assert_int_equal(fakecri__set_fault(fx->f, "Version", &fault), 0);
	assert_int_equal(cri_version(fx->c, 0, &v, &st), -ENOBUFS);
	assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.message, "too much"));
	/* A runtime that hangs: the call's deadline ends it. */
	fault = (struct fakecri_fault){ .delay_ms = 2000, .count = 1 };
	assert_int_equal(fakecri__set_fault(fx->f, "Version", &fault), 0);
	t0 = testenv_now_ms();
	assert_int_equal(cri_version(fx->c, 200, &v, &st), -ETIMEDOUT);
	assert_true(testenv_now_ms() - t0 < 1000);
	assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_null(v);
}

static void expect_probe(struct fx *fx, enum fakecri_events_mode mode,
			 enum cri_events_support want)
{
	enum cri_events_support got;
	struct cri_status st;

	assert_int_equal(fakecri__set_events_mode(fx->f, mode), 0);
	assert_int_equal(cri_events_probe(fx->c, 500, &got, &st), 0);
	assert_int_equal(got, want);
}

static void test_events_probe(void **state)
{
	struct fx *fx = *state;

	expect_probe(fx, FAKECRI_EVENTS_ON, CRI_EVENTS_SUPPORTED);
	expect_probe(fx, FAKECRI_EVENTS_UNIMPLEMENTED, CRI_EVENTS_UNIMPLEMENTED);
	expect_probe(fx, FAKECRI_EVENTS_EMPTY_OK, CRI_EVENTS_EMPTY);
}

static int read_until_not_again(struct cri_event_stream *s, struct cri_status *st,
				Runtime__V1__ContainerEventResponse **ev)
{
	int r;

	do
		r = cri_events__read(s, 200, ev, st);
	while (r == -EAGAIN);
	return r;
}

static void wait_subscribed(struct fx *fx, unsigned n)
{
	uint64_t end = testenv_now_ms() + 5000;

	while (fakecri__subscribers(fx->f) < n && testenv_now_ms() < end)
		usleep(5000);
	assert_int_equal(fakecri__subscribers(fx->f), n);
}

static void test_stream_events_and_breaks(void **state)
{
	static const struct {
		grpc_status_code code;
		int err;
	} breaks[] = {
		{ GRPC_STATUS_OK, -ENODATA },
		{ GRPC_STATUS_UNAVAILABLE, -ENOTCONN },
		{ GRPC_STATUS_INTERNAL, -EREMOTEIO },
		{ GRPC_STATUS_DEADLINE_EXCEEDED, -ETIMEDOUT },
	};
	struct fx *fx = *state;

	for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
		Runtime__V1__ContainerEventResponse *ev = NULL;
		struct cri_event_stream *s = NULL;
		struct cri_status st;
		struct kube_pod p;
		char *sb, *ct;

		assert_int_equal(cri_events__open(fx->c, &s, &st), 0);
		wait_subscribed(fx, 1);
		make_pod(fx, &p, &sb, &ct);
		/* Sandbox CREATED comes first, with the sandbox id. */
		assert_int_equal(read_until_not_again(s, &st, &ev), 0);
		assert_string_equal(ev->container_id, sb);
		assert_int_equal(ev->container_event_type,
				 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
		assert_non_null(ev->pod_sandbox_status);
		cri_msg_free(ev);
		ev = NULL;
		assert_int_equal(fakecri__break_streams(fx->f, breaks[i].code), 1);
		while (read_until_not_again(s, &st, &ev) == 0) {
			cri_msg_free(ev); /* events sent before the break */
			ev = NULL;
		}
		assert_int_equal(cri_events__read(s, 10, &ev, &st), breaks[i].err);
		assert_int_equal(st.code == GRPC_STATUS_OK ? -ENODATA : cri_status_to_errno(st.code),
				 breaks[i].err);
		cri_events__free(s);
		wait_subscribed(fx, 0);
		free(sb);
		free(ct);
	}
}

static void test_stream_invalid_event(void **state)
{
	struct fx *fx = *state;
	Runtime__V1__ContainerEventResponse bad = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__ContainerEventResponse good = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__ContainerEventResponse *ev = NULL;
	struct cri_event_stream *s = NULL;
	struct cri_status st;

	assert_int_equal(cri_events__open(fx->c, &s, &st), 0);
	wait_subscribed(fx, 1);
	bad.container_id = (char *)"";
	bad.container_event_type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT;
	good.container_id = (char *)"abc";
	good.container_event_type = 9;
	assert_int_equal(fakecri__emit_event(fx->f, &bad), 0);
	assert_int_equal(fakecri__emit_event(fx->f, &good), 0);
	assert_int_equal(read_until_not_again(s, &st, &ev), -EPROTO);
	assert_non_null(strstr(st.message, "empty id"));
	assert_int_equal(read_until_not_again(s, &st, &ev), -EPROTO);
	assert_non_null(strstr(st.message, "unknown type 9"));
	good.container_event_type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT;
	assert_int_equal(fakecri__emit_event(fx->f, &good), 0);
	/* The stream stays usable after a rejected event. */
	assert_int_equal(read_until_not_again(s, &st, &ev), 0);
	assert_string_equal(ev->container_id, "abc");
	cri_msg_free(ev);
	cri_events__free(s);
}

static void *cancel_later(void *arg)
{
	usleep(200000);
	cri_events__cancel(arg);
	return NULL;
}

static void test_stream_cancel(void **state)
{
	struct fx *fx = *state;
	Runtime__V1__ContainerEventResponse *ev = NULL;
	struct cri_event_stream *s = NULL;
	struct cri_status st;
	pthread_t t;

	assert_int_equal(cri_events__open(fx->c, &s, &st), 0);
	assert_int_equal(pthread_create(&t, NULL, cancel_later, s), 0);
	assert_int_equal(cri_events__read(s, -1, &ev, &st), -ECANCELED);
	pthread_join(t, NULL);
	assert_int_equal(cri_events__read(s, -1, &ev, &st), -ECANCELED);
	cri_events__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_events_and_breaks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_invalid_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_cancel, setup, teardown),
	};

	return cmocka_run_group_tests_name("cri_fakecri", tests, NULL, NULL);
}
