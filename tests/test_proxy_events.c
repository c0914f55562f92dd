// SPDX-License-Identifier: Apache-2.0
/*
 * GetContainerEvents through kpleg's CRI proxy (cri_proxy.c with
 * cri_proxy_events.c), in process, in front of fakecri: every subscriber
 * gets every event, and a subscriber that stops reading is cut off with
 * RESOURCE_EXHAUSTED once it has fallen behind the proxy's ring, while the
 * one that reads gets everything on time. Also: a peer of another uid is
 * refused on the proxy's socket like on the API's.
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "cri_proxy.h"
#include "cri_proxy_events.h"
#include "daemon.h"
#include "pb_grpc.h"
#include "tracker_helpers.h"

#define RING 16
#define PODS 30 /* each: sandbox CREATED+STARTED, 3 containers CREATED+STARTED = 8 events */

struct env {
	struct tk_fx *fx;
	struct daemon d;
	char dir[48], path[96], target[112];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kpleg_config cfg;
	struct cri_proxy_opts po = { .allow_uid = (uid_t)-1, .allow_gid = (gid_t)-1 };

	assert_non_null(e);
	e->fx = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_EVENTED,
					     .events = FAKECRI_EVENTS_ON });
	pthread_mutex_init(&e->d.lock, NULL);
	assert_int_equal(evlog__new(4096, &e->d.log), 0);
	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = fakecri__endpoint(e->fx->f);
	cfg.mode = KPLEG_MODE_EVENTED;
	assert_int_equal(kpleg_tracker__new(&cfg, &e->d.t), 0);
	assert_int_equal(kpleg_tracker__subscribe(e->d.t, daemon_on_event, &e->d, &e->d.sub), 0);
	assert_int_equal(kpleg_tracker__start(e->d.t), 0);
	assert_int_equal(kpleg_tracker__wait_synced(e->d.t, TK_WAIT_MS), 0);
	assert_int_equal(proxy_events__start(&e->d, fakecri__endpoint(e->fx->f), RING, &e->d.pe),
			 0);
	snprintf(e->dir, sizeof(e->dir), "/tmp/kpleg-pxe-%d", getpid());
	mkdir(e->dir, 0755);
	snprintf(e->path, sizeof(e->path), "%s/cri.sock", e->dir);
	snprintf(e->target, sizeof(e->target), "unix://%s", e->path);
	po.socket_path = e->path;
	po.upstream = fakecri__endpoint(e->fx->f);
	po.events_handler = proxy_events_serve;
	po.events_ctx = e->d.pe;
	po.on_forwarded = proxy_events_on_forwarded;
	po.hook_ctx = &e->d;
	assert_int_equal(cri_proxy__start(&po, &e->d.proxy), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	proxy_events_close(e->d.pe);
	cri_proxy__free(e->d.proxy);
	proxy_events__free(e->d.pe);
	evlog_close(e->d.log);
	kpleg_subscription__free(e->d.sub);
	kpleg_tracker__free(e->d.t);
	evlog__free(e->d.log);
	tk_fx_free(e->fx);
	rmdir(e->dir);
	free(e);
	return 0;
}

struct reader {
	const char *target;
	struct cri_client *c;
	struct cri_event_stream *s;
	unsigned got;
	int end;		/* the read's code when it ended */
	volatile bool stop;
};

static void reader_open(struct reader *r, const char *target)
{
	struct cri_status st;

	r->target = target;
	r->c = cri_client__new(target);
	assert_non_null(r->c);
	assert_int_equal(cri_events__open(r->c, &r->s, &st), 0);
}

/* Reads until @want events, an error, or stop. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (!r->stop) {
		Runtime__V1__ContainerEventResponse *ev = NULL;
		struct cri_status st;
		int x = cri_events__read(r->s, 100, &ev, &st);

		if (x == -EAGAIN)
			continue;
		if (x < 0) {
			r->end = x;
			break;
		}
		r->got++;
		cri_msg_free(ev);
	}
	return NULL;
}

static void reader_close(struct reader *r)
{
	cri_events__cancel(r->s);
	cri_events__free(r->s);
	cri_client__free(r->c);
}

static void make_events(struct env *e)
{
	for (int i = 0; i < PODS; i++) {
		char name[16];
		struct tk_pod *p;

		snprintf(name, sizeof(name), "p%d", i);
		p = tk_pod_new(e->fx, name);
		tk_ctr_add(e->fx, p, "a", true);
		tk_ctr_add(e->fx, p, "b", true);
		tk_ctr_add(e->fx, p, "c", true);
	}
}

/* A subscriber that does not read: a raw gRPC stream with a small receive
 * window (no BDP probing), so the proxy's sends to it block soon and it falls
 * behind the ring, as a stuck kubelet would. */
struct slow {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send;
	grpc_metadata_array md, trail;
	grpc_status_code code;
	grpc_slice details;
	unsigned got;
};

static void pluck(struct slow *w, intptr_t tag)
{
	grpc_completion_queue_pluck(w->cq, (void *)tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

static void slow_open(struct slow *w, const char *path)
{
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	grpc_arg args[2] = {
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_BDP_PROBE, .value.integer = 0 },
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
		  .value.integer = 1024 },
	};
	grpc_channel_args ca = { .num_args = 2, .args = args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	char target[128];
	grpc_op ops[4];

	snprintf(target, sizeof(target), "unix:%s", path);
	w->ch = grpc_channel_create(target, creds, &ca);
	grpc_channel_credentials_release(creds);
	w->cq = grpc_completion_queue_create_for_pluck(NULL);
	w->send = pb_to_byte_buffer(&req.base);
	grpc_metadata_array_init(&w->md);
	grpc_metadata_array_init(&w->trail);
	w->call = grpc_channel_create_call(w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
					   grpc_slice_from_static_string(CRI_PROXY_EVENTS_METHOD),
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = w->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	assert_int_equal(grpc_call_start_batch(w->call, ops, 3, (void *)1, NULL), GRPC_CALL_OK);
	pluck(w, 1);
}

/* Reads everything left, then the status. */
static void slow_drain(struct slow *w)
{
	grpc_byte_buffer *recv = NULL;
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_INITIAL_METADATA;
	op.data.recv_initial_metadata.recv_initial_metadata = &w->md;
	grpc_call_start_batch(w->call, &op, 1, (void *)2, NULL);
	pluck(w, 2);
	for (;;) {
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &recv;
		grpc_call_start_batch(w->call, &op, 1, (void *)3, NULL);
		pluck(w, 3);
		if (!recv)
			break;
		grpc_byte_buffer_destroy(recv);
		recv = NULL;
		w->got++;
	}
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &w->trail;
	op.data.recv_status_on_client.status = &w->code;
	op.data.recv_status_on_client.status_details = &w->details;
	grpc_call_start_batch(w->call, &op, 1, (void *)4, NULL);
	pluck(w, 4);
}

static void slow_free(struct slow *w)
{
	grpc_slice_unref(w->details);
	grpc_call_unref(w->call);
	grpc_byte_buffer_destroy(w->send);
	grpc_metadata_array_destroy(&w->md);
	grpc_metadata_array_destroy(&w->trail);
	grpc_completion_queue_shutdown(w->cq);
	while (grpc_completion_queue_pluck(w->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(w->cq);
	grpc_channel_destroy(w->ch);
}

static void test_slow_subscriber_cut_off(void **state)
{
	struct env *e = *state;
	struct reader fast = { 0 };
	struct slow slow = { 0 };
	uint64_t built, cut;
	unsigned subs;
	pthread_t th;

	reader_open(&fast, e->target);
	slow_open(&slow, e->path);
	TK_WAIT((proxy_events_stats(e->d.pe, &built, &cut, &subs), subs == 2),
		"the two subscriptions never reached the proxy");
	assert_int_equal(pthread_create(&th, NULL, reader_main, &fast), 0);
	make_events(e);
	/* The reader gets every message built, on time, while the other reads
	 * nothing at all. */
	TK_WAIT((proxy_events_stats(e->d.pe, &built, &cut, &subs), built >= PODS * 8 &&
		 fast.got == built), "fast reader: %u of %llu", fast.got, (unsigned long long)built);
	fast.stop = true;
	pthread_join(th, NULL);
	assert_int_equal(fast.end, 0);
	/* Now the slow one reads: what was in flight, then the cut-off. */
	slow_drain(&slow);
	printf("    %llu events built (ring of %d); the reader got %u; the one that did not "
	       "read got %u, then status %d\n", (unsigned long long)built, RING, fast.got,
	       slow.got, (int)slow.code);
	assert_true(slow.got < built);
	assert_int_equal(slow.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	proxy_events_stats(e->d.pe, &built, &cut, &subs);
	assert_int_equal(cut, 1);
	reader_close(&fast);
	slow_free(&slow);
}

/* Peer credentials on the proxy's socket: another uid is refused. */
static void test_proxy_refuses_other_uid(void **state)
{
	struct env *e = *state;
	char cmd[512];
	int st;

	assert_int_equal(chmod(e->path, 0666), 0); /* let it reach the peer check */
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid=65534 --regid=65534 --clear-groups %s/kpleg status -s %s "
		 ">/dev/null 2>%s/err; grep -q PERMISSION_DENIED %s/err",
		 getenv("KPLEG_BUILD") ? getenv("KPLEG_BUILD") : "build", e->path, e->dir, e->dir);
	/* kpleg status speaks kpleg's API: on the CRI socket any method from
	 * another uid must be refused before the method is even looked at. */
	st = system(cmd);
	snprintf(cmd, sizeof(cmd), "%s/err", e->dir);
	unlink(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slow_subscriber_cut_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_refuses_other_uid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
