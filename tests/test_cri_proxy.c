// SPDX-License-Identifier: Apache-2.0
/*
 * user/cri_proxy.c, in process.
 *
 * Group cri_proxy: in front of a "mirror", an upstream built on rpc_server
 * in this test that records what reaches it (request metadata, deadline,
 * cancellation) and answers with metadata, statuses, streams and sizes of
 * its choosing. (fakecri cannot be used for this: it neither exposes the
 * metadata it receives nor sends any.) Metadata both ways, the deadline,
 * a client's cancel reaching the upstream (unary and stream), streams with
 * their trailing metadata, the 16 MiB bound both ways, non-CRI paths, the
 * events hook, an upstream that is down and then comes up, the socket's
 * mode, and freeing the proxy with a stream open.
 *
 * Groups cri_proxy_containerd_1.6 and _1.7: in front of the private
 * runtimes (KPLEG_TEST_CD16, KPLEG_TEST_CD17), every call the kubelet makes
 * in a pod's life through the proxy with kpleg's CRI client, each answer
 * compared with the runtime's own; NOT_FOUND and DEADLINE_EXCEEDED passed
 * through; GetContainerEvents forwarded (UNIMPLEMENTED on 1.6, the pod's
 * events on 1.7); and the per-call overhead of the proxy (printed).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "cri.h"
#include "cri_internal.h"
#include "cri_proxy.h"
#include "kube.h"
#include "pb_grpc.h"
#include "rpc_server.h"
#include "testenv.h"
#include "util.h"

#define SLOW_MS 60000 /* runtime calls that start processes */
#define RT "/runtime.v1.RuntimeService/"
#define IMG "/runtime.v1.ImageService/"

/* ---- a raw gRPC client: any path, bytes, metadata both ways --------------------- */

struct kv {
	char key[64];
	char val[256];
	size_t vlen;
};

#define MAX_KV 32

struct rres {
	grpc_status_code code;
	char details[512];
	char *msg; /* the last message received (malloc'ed) */
	size_t len;
	int n_msgs;
	struct kv init[MAX_KV], trail[MAX_KV];
	size_t n_init, n_trail;
	uint64_t ms; /* how long the call took */
};

enum { R_SEND = 1, R_INIT, R_MSG, R_STATUS };

struct rcall {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array init, trail;
	grpc_status_code code;
	grpc_slice details;
	bool msg_pending, ended;
};

static grpc_channel *raw_channel(const char *path)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = -1 },
		{ .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = -1 },
	};
	grpc_channel_args ca = { .num_args = ARRAY_SIZE(args), .args = args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	char target[160];
	grpc_channel *ch;

	if (!strncmp(path, "unix://", 7))
		path += 7;
	snprintf(target, sizeof(target), "unix:%s", path);
	ch = grpc_channel_create(target, creds, &ca);
	grpc_channel_credentials_release(creds);
	assert_non_null(ch);
	return ch;
}

static gpr_timespec after_ms(int ms)
{
	if (ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void rcall_open(struct rcall *r, grpc_channel *ch, const char *method, const void *buf,
		       size_t len, int timeout_ms, const grpc_metadata *md, size_t n_md)
{
	grpc_slice m = grpc_slice_from_copied_string(method);
	grpc_slice sl = grpc_slice_from_copied_buffer(buf, len);
	grpc_op ops[3];

	memset(r, 0, sizeof(*r));
	r->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata_array_init(&r->init);
	grpc_metadata_array_init(&r->trail);
	r->details = grpc_empty_slice();
	r->code = GRPC_STATUS_UNKNOWN;
	r->send = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	r->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, m, NULL,
					   after_ms(timeout_ms), NULL);
	grpc_slice_unref(m);
	assert_non_null(r->call);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n_md;
	ops[0].data.send_initial_metadata.metadata = (grpc_metadata *)md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = r->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	assert_int_equal(grpc_call_start_batch(r->call, ops, 3, (void *)R_SEND, NULL),
			 GRPC_CALL_OK);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &r->init;
	assert_int_equal(grpc_call_start_batch(r->call, ops, 1, (void *)R_INIT, NULL),
			 GRPC_CALL_OK);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &r->trail;
	ops[0].data.recv_status_on_client.status = &r->code;
	ops[0].data.recv_status_on_client.status_details = &r->details;
	assert_int_equal(grpc_call_start_batch(r->call, ops, 1, (void *)R_STATUS, NULL),
			 GRPC_CALL_OK);
}

static char *flatten(grpc_byte_buffer *bb, size_t *ret_len)
{
	grpc_byte_buffer_reader rd;
	size_t len = grpc_byte_buffer_length(bb), off = 0;
	char *out = malloc(len + 1);
	grpc_slice sl;

	assert_non_null(out);
	assert_true(grpc_byte_buffer_reader_init(&rd, bb));
	while (grpc_byte_buffer_reader_next(&rd, &sl)) {
		memcpy(out + off, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl));
		off += GRPC_SLICE_LENGTH(sl);
		grpc_slice_unref(sl);
	}
	grpc_byte_buffer_reader_destroy(&rd);
	out[len] = 0;
	*ret_len = len;
	return out;
}

/* 1: a message in *@out (malloc'ed); 0: no more; -EAGAIN: none within @timeout_ms. */
static int rcall_read(struct rcall *r, int timeout_ms, char **out, size_t *len)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };
	grpc_event ev;

	if (r->ended)
		return 0;
	if (!r->msg_pending) {
		op.data.recv_message.recv_message = &r->recv;
		r->recv = NULL;
		assert_int_equal(grpc_call_start_batch(r->call, &op, 1, (void *)R_MSG, NULL),
				 GRPC_CALL_OK);
		r->msg_pending = true;
	}
	ev = grpc_completion_queue_pluck(r->cq, (void *)R_MSG, after_ms(timeout_ms), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return -EAGAIN;
	r->msg_pending = false;
	if (!r->recv) {
		r->ended = true;
		return 0;
	}
	*out = flatten(r->recv, len);
	grpc_byte_buffer_destroy(r->recv);
	r->recv = NULL;
	return 1;
}

/* Waits for the status (the call's end), then for the other batches. */
static void rcall_finish(struct rcall *r)
{
	gpr_timespec inf = gpr_inf_future(GPR_CLOCK_REALTIME);

	grpc_completion_queue_pluck(r->cq, (void *)R_STATUS, inf, NULL);
	if (r->msg_pending) {
		grpc_completion_queue_pluck(r->cq, (void *)R_MSG, inf, NULL);
		r->msg_pending = false;
		if (r->recv)
			grpc_byte_buffer_destroy(r->recv);
		r->recv = NULL;
	}
	grpc_completion_queue_pluck(r->cq, (void *)R_SEND, inf, NULL);
	grpc_completion_queue_pluck(r->cq, (void *)R_INIT, inf, NULL);
}

static void kv_copy(const grpc_metadata_array *a, struct kv *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < a->count && *n < MAX_KV; i++) {
		struct kv *k = &out[(*n)++];
		size_t vl = GRPC_SLICE_LENGTH(a->metadata[i].value);

		snprintf(k->key, sizeof(k->key), "%.*s", (int)GRPC_SLICE_LENGTH(a->metadata[i].key),
			 (const char *)GRPC_SLICE_START_PTR(a->metadata[i].key));
		k->vlen = vl < sizeof(k->val) - 1 ? vl : sizeof(k->val) - 1;
		memcpy(k->val, GRPC_SLICE_START_PTR(a->metadata[i].value), k->vlen);
		k->val[k->vlen] = 0;
	}
}

/* Copies what @r brought into @res and frees @r. */
static void rcall_free(struct rcall *r, struct rres *res)
{
	if (res) {
		res->code = r->code;
		snprintf(res->details, sizeof(res->details), "%.*s",
			 (int)GRPC_SLICE_LENGTH(r->details),
			 (const char *)GRPC_SLICE_START_PTR(r->details));
		kv_copy(&r->init, res->init, &res->n_init);
		kv_copy(&r->trail, res->trail, &res->n_trail);
	}
	grpc_call_unref(r->call);
	grpc_completion_queue_shutdown(r->cq);
	while (grpc_completion_queue_pluck(r->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(r->cq);
	grpc_byte_buffer_destroy(r->send);
	grpc_metadata_array_destroy(&r->init);
	grpc_metadata_array_destroy(&r->trail);
	grpc_slice_unref(r->details);
}

static void rres_clear(struct rres *res)
{
	free(res->msg);
	memset(res, 0, sizeof(*res));
}

/* A whole call: every message (the last one kept), the status, the metadata. */
static void rcall_all(grpc_channel *ch, const char *method, const void *buf, size_t len,
		      int timeout_ms, const grpc_metadata *md, size_t n_md, struct rres *res)
{
	uint64_t t0 = now_mono_ns();
	struct rcall r;
	char *m;
	size_t ml;

	memset(res, 0, sizeof(*res));
	rcall_open(&r, ch, method, buf, len, timeout_ms, md, n_md);
	while (rcall_read(&r, -1, &m, &ml) == 1) {
		free(res->msg);
		res->msg = m;
		res->len = ml;
		res->n_msgs++;
	}
	rcall_finish(&r);
	rcall_free(&r, res);
	res->ms = (now_mono_ns() - t0) / NSEC_PER_MSEC;
}

static const struct kv *kv_get(const struct kv *a, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].key, key))
			return &a[i];
	return NULL;
}

static int kv_count(const struct kv *a, size_t n, const char *key)
{
	int c = 0;

	for (size_t i = 0; i < n; i++)
		c += !strcmp(a[i].key, key);
	return c;
}

#define MD(k, v)                                                                          \
	{ .key = grpc_slice_from_static_string(k), .value = grpc_slice_from_static_string(v) }

/* ---- the mirror upstream -------------------------------------------------------- */

struct mirror {
	struct rpc_server *s;
	pthread_mutex_t lock;
	atomic_int calls;
	struct kv seen[MAX_KV]; /* the last Echo's request metadata */
	size_t n_seen;
	uint64_t deadline_left_ms; /* the last Echo's deadline, from its start; UINT64_MAX: none */
	atomic_int slow_cancelled;  /* Slow saw its call cancelled */
	atomic_int stream_end;	    /* 1: the stream's client went away, 2: ran out */
};

static struct mirror mir = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *md_str(const grpc_metadata_array *md, const char *key, char *buf, size_t n)
{
	for (size_t i = 0; i < md->count; i++)
		if (GRPC_SLICE_LENGTH(md->metadata[i].key) == strlen(key) &&
		    !memcmp(GRPC_SLICE_START_PTR(md->metadata[i].key), key, strlen(key))) {
			snprintf(buf, n, "%.*s", (int)GRPC_SLICE_LENGTH(md->metadata[i].value),
				 (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value));
			return buf;
		}
	return NULL;
}

/* Echo: the request back, the request's x-kpleg-* metadata back as initial
 * and trailing metadata, and the status x-status / x-status-msg asks for. */
static void mirror_echo(struct rpc_call *c)
{
	const grpc_metadata_array *md = rpc_call_metadata(c);
	grpc_metadata out_init[MAX_KV], out_trail[MAX_KV];
	grpc_metadata_array init = { .metadata = out_init }, trail = { .metadata = out_trail };
	uint64_t d = rpc_call_deadline_ns(c), now = now_mono_ns();
	grpc_status_code code = GRPC_STATUS_OK;
	grpc_byte_buffer *bb = rpc_call_request_buffer(c);
	char buf[256], msg[256] = "";
	grpc_slice details;

	pthread_mutex_lock(&mir.lock);
	kv_copy(md, mir.seen, &mir.n_seen);
	mir.deadline_left_ms = d == UINT64_MAX ? UINT64_MAX : (d - now) / NSEC_PER_MSEC;
	pthread_mutex_unlock(&mir.lock);
	out_init[init.count++] = (grpc_metadata)MD("x-mirror", "initial");
	out_trail[trail.count++] = (grpc_metadata)MD("x-mirror", "trailing");
	for (size_t i = 0; i < md->count && init.count < MAX_KV; i++)
		if (GRPC_SLICE_LENGTH(md->metadata[i].key) > 8 &&
		    !memcmp(GRPC_SLICE_START_PTR(md->metadata[i].key), "x-kpleg-", 8)) {
			out_init[init.count++] = md->metadata[i];
			out_trail[trail.count++] = md->metadata[i];
		}
	if (md_str(md, "x-status", buf, sizeof(buf)))
		code = (grpc_status_code)atoi(buf);
	md_str(md, "x-status-msg", msg, sizeof(msg));
	details = grpc_slice_from_copied_string(msg);
	rpc_call_reply_md(c, code == GRPC_STATUS_OK ? bb : NULL, code, &details, &init, &trail);
	grpc_slice_unref(details);
	grpc_byte_buffer_destroy(bb);
}

/* Slow: waits up to 5 s for its call to be cancelled. */
static void mirror_slow(struct rpc_call *c)
{
	for (int i = 0; i < 500; i++) {
		if (rpc_call_cancelled(c)) {
			mir.slow_cancelled = 1;
			return;
		}
		usleep(10 * 1000);
	}
	rpc_call_fail(c, GRPC_STATUS_OK, "slow");
}

/* The stream (at GetContainerEvents' path): initial metadata at once, then
 * the request back every 10 ms, x-count times (0: until the client goes),
 * then OK with trailing metadata. */
static void mirror_stream(struct rpc_call *c)
{
	grpc_metadata init_md[] = { MD("x-mirror", "stream-initial") };
	grpc_metadata trail_md[] = { MD("x-mirror", "stream-trailing") };
	grpc_metadata_array init = { .count = 1, .capacity = 1, .metadata = init_md };
	grpc_metadata_array trail = { .count = 1, .capacity = 1, .metadata = trail_md };
	char buf[32];
	int count = md_str(rpc_call_metadata(c), "x-count", buf, sizeof(buf)) ? atoi(buf) : 0;
	size_t n;
	const void *req = rpc_call_request(c, &n);

	rpc_call_send_initial_md(c, &init);
	for (int i = 0; !count || i < count; i++) {
		if (rpc_call_send(c, req, n) < 0) {
			mir.stream_end = 1;
			return;
		}
		usleep(10 * 1000);
	}
	mir.stream_end = 2;
	rpc_call_reply_md(c, NULL, GRPC_STATUS_OK, NULL, NULL, &trail);
}

/* Big: a reply of x-size bytes. */
static void mirror_big(struct rpc_call *c)
{
	char buf[32];
	size_t n = 0;
	char *b;

	if (md_str(rpc_call_metadata(c), "x-size", buf, sizeof(buf)))
		n = strtoul(buf, NULL, 10);
	b = calloc(1, n + 1);

	rpc_call_reply(c, b, n);
	free(b);
}

static void mirror_call(struct rpc_call *c, void *ctx)
{
	const char *m = rpc_call_method(c);

	mir.calls++;
	if (!strcmp(m, RT "Version"))
		mirror_echo(c);
	else if (!strcmp(m, RT "ContainerStatus"))
		mirror_slow(c);
	else if (!strcmp(m, CRI_PROXY_EVENTS_METHOD))
		mirror_stream(c);
	else if (!strcmp(m, RT "ListContainers"))
		mirror_big(c);
	else
		rpc_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "mirror: %s", m);
}

static void mirror_start(const char *path)
{
	struct rpc_server_opts o = {
		.path = path, .allow_uid = (uid_t)-1, .allow_gid = (gid_t)-1,
		.max_message = 64u << 20, .fallback = mirror_call,
	};

	mir.calls = 0;
	mir.stream_end = 0;
	mir.slow_cancelled = 0;
	assert_int_equal(rpc_server__start(&o, &mir.s), 0);
}

static void mirror_stop(void)
{
	rpc_server__free(mir.s);
	mir.s = NULL;
}

/* ---- fixtures ------------------------------------------------------------------- */

struct env {
	char dir[64], sock[96], up[96], ep[112];
	struct cri_proxy *p;
	grpc_channel *ch;	    /* raw, to the proxy */
	struct cri_client *x, *d; /* kpleg's client: through the proxy, direct */
	grpc_channel *dch;	    /* raw, direct to the runtime */
	const char *runtime;	    /* containerd groups: its endpoint */
};

static void env_dirs(struct env *e)
{
	snprintf(e->dir, sizeof(e->dir), "/tmp/kpleg-proxy-%d", getpid());
	if (mkdir(e->dir, 0755) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", e->dir, strerror(errno));
	snprintf(e->sock, sizeof(e->sock), "%s/cri.sock", e->dir);
	snprintf(e->up, sizeof(e->up), "%s/up.sock", e->dir);
	snprintf(e->ep, sizeof(e->ep), "unix://%s", e->sock);
}

static int proxy_start(struct env *e, const char *upstream, rpc_handler events, void *ctx)
{
	struct cri_proxy_opts o = {
		.socket_path = e->sock, .upstream = upstream, .allow_uid = (uid_t)-1,
		.allow_gid = (gid_t)-1, .events_handler = events, .events_ctx = ctx,
	};

	return cri_proxy__start(&o, &e->p);
}

static int setup_mirror(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	env_dirs(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (e->ch)
		grpc_channel_destroy(e->ch);
	if (e->dch)
		grpc_channel_destroy(e->dch);
	cri_client__free(e->x);
	cri_client__free(e->d);
	cri_proxy__free(e->p);
	mirror_stop();
	unlink(e->up);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* The mirror at e->up, the proxy in front, a raw channel to the proxy. */
static void mirror_and_proxy(struct env *e, rpc_handler events, void *ctx)
{
	mirror_start(e->up);
	assert_int_equal(proxy_start(e, e->up, events, ctx), 0);
	e->ch = raw_channel(e->sock);
}

/* ---- tests against the mirror ---------------------------------------------------- */

static void test_socket_and_options(void **state)
{
	struct env *e = *state;
	struct cri_proxy_opts o = { .socket_path = e->sock, .allow_uid = (uid_t)-1,
				    .allow_gid = (gid_t)-1 };
	struct cri_proxy *p = NULL;
	struct stat st;

	o.upstream = "tcp://127.0.0.1:1";
	assert_int_equal(cri_proxy__start(&o, &p), -EINVAL);
	o.upstream = e->sock; /* itself */
	assert_int_equal(cri_proxy__start(&o, &p), -EINVAL);
	o.upstream = e->up;
	assert_int_equal(cri_proxy__start(&o, &e->p), 0);
	assert_int_equal(stat(e->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* A second proxy on a live socket is refused (rpc_server's claim). */
	assert_int_equal(cri_proxy__start(&o, &p), -EADDRINUSE);
	cri_proxy__free(e->p);
	e->p = NULL;
	assert_int_equal(access(e->sock, F_OK), -1);
}

static void test_not_cri(void **state)
{
	static const char *const paths[] = {
		"/kpleg.v1.Kpleg/Status", "/runtime.v1alpha2.RuntimeService/Version",
		"/runtime.v1.RuntimeService/", "/runtime.v1.RuntimeServiceX/Version",
		"/grpc.health.v1.Health/Check",
	};
	struct env *e = *state;
	struct cri_proxy_stats st;
	struct rres r;

	mirror_and_proxy(e, NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		rcall_all(e->ch, paths[i], "", 0, 2000, NULL, 0, &r);
		assert_int_equal(r.code, GRPC_STATUS_UNIMPLEMENTED);
		assert_non_null(strstr(r.details, "kpleg cri-proxy"));
		rres_clear(&r);
	}
	assert_int_equal(mir.calls, 0);
	cri_proxy__stats(e->p, &st);
	assert_int_equal(st.rejected, ARRAY_SIZE(paths));
	assert_int_equal(st.forwarded, 0);
	/* A method of the service the runtime does not know: forwarded, and
	 * the runtime's own UNIMPLEMENTED comes back. */
	rcall_all(e->ch, RT "NoSuchMethod", "", 0, 2000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_UNIMPLEMENTED);
	assert_string_equal(r.details, "mirror: " RT "NoSuchMethod");
	assert_int_equal(mir.calls, 1);
	rres_clear(&r);
}

static void test_metadata(void **state)
{
	static const char bin[] = { 0, 1, (char)0xff, '\n', 'x' };
	grpc_metadata md[] = {
		MD("x-kpleg-plain", "hello"),
		{ .key = grpc_slice_from_static_string("x-kpleg-raw-bin"),
		  .value = grpc_slice_from_static_buffer(bin, sizeof(bin)) },
		MD("authorization", "Bearer t"),
		MD("x-status", "5"),
		MD("x-status-msg", "container \"abc\" not found: in mirror"),
	};
	struct env *e = *state;
	struct rres r;
	const struct kv *k;

	mirror_and_proxy(e, NULL, NULL);
	/* OK with a message: the message, initial and trailing metadata back. */
	rcall_all(e->ch, RT "Version", "ping", 4, 3000, md, 3, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_int_equal(r.n_msgs, 1);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.msg, "ping", 4);
	/* What reached the mirror: ours, once each, and nothing gRPC refuses. */
	print_message("request metadata at the upstream:");
	for (size_t i = 0; i < mir.n_seen; i++)
		print_message(" %s", mir.seen[i].key);
	print_message("\n");
	k = kv_get(mir.seen, mir.n_seen, "x-kpleg-plain");
	assert_non_null(k);
	assert_string_equal(k->val, "hello");
	k = kv_get(mir.seen, mir.n_seen, "x-kpleg-raw-bin");
	assert_non_null(k);
	assert_int_equal(k->vlen, sizeof(bin));
	assert_memory_equal(k->val, bin, sizeof(bin));
	assert_non_null(kv_get(mir.seen, mir.n_seen, "authorization"));
	assert_int_equal(kv_count(mir.seen, mir.n_seen, "x-kpleg-plain"), 1);
	assert_true(kv_count(mir.seen, mir.n_seen, "user-agent") <= 1);
	assert_true(kv_count(mir.seen, mir.n_seen, "content-type") <= 1);
	/* What came back. */
	print_message("initial metadata at the client:");
	for (size_t i = 0; i < r.n_init; i++)
		print_message(" %s", r.init[i].key);
	print_message("\ntrailing metadata at the client:");
	for (size_t i = 0; i < r.n_trail; i++)
		print_message(" %s", r.trail[i].key);
	print_message("\n");
	k = kv_get(r.init, r.n_init, "x-mirror");
	assert_non_null(k);
	assert_string_equal(k->val, "initial");
	k = kv_get(r.init, r.n_init, "x-kpleg-raw-bin");
	assert_non_null(k);
	assert_memory_equal(k->val, bin, sizeof(bin));
	k = kv_get(r.trail, r.n_trail, "x-mirror");
	assert_non_null(k);
	assert_string_equal(k->val, "trailing");
	assert_non_null(kv_get(r.trail, r.n_trail, "x-kpleg-plain"));
	rres_clear(&r);

	/* A non-OK status: code and message unchanged, trailing metadata too. */
	rcall_all(e->ch, RT "Version", "ping", 4, 3000, md, ARRAY_SIZE(md), &r);
	assert_int_equal(r.code, GRPC_STATUS_NOT_FOUND);
	assert_string_equal(r.details, "container \"abc\" not found: in mirror");
	assert_int_equal(r.n_msgs, 0);
	assert_non_null(kv_get(r.trail, r.n_trail, "x-kpleg-plain"));
	rres_clear(&r);
}

static void test_deadline(void **state)
{
	struct env *e = *state;
	struct rres r;

	mirror_and_proxy(e, NULL, NULL);
	/* The upstream's deadline is the client's. */
	rcall_all(e->ch, RT "Version", "x", 1, 3000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	print_message("client deadline 3000 ms; the upstream saw %llu ms left\n",
		      (unsigned long long)mir.deadline_left_ms);
	/* grpc-timeout carries 1-10 s in units of 10 ms, rounded up: each hop
	 * (client to proxy, proxy to upstream) may add up to 10 ms. */
	assert_true(mir.deadline_left_ms > 2500 && mir.deadline_left_ms <= 3020);
	rres_clear(&r);
	rcall_all(e->ch, RT "Version", "x", 1, -1, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_true(mir.deadline_left_ms == UINT64_MAX);
	rres_clear(&r);
	/* It passes while the upstream works: DEADLINE_EXCEEDED on time, and
	 * the upstream's call ends with it. */
	rcall_all(e->ch, RT "ContainerStatus", "x", 1, 300, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_true(r.ms < 1000);
	for (int i = 0; i < 100 && !mir.slow_cancelled; i++)
		usleep(10 * 1000);
	assert_int_equal(mir.slow_cancelled, 1);
	rres_clear(&r);
}

/* A client that cancels a unary call cancels the upstream's. */
static void test_cancel_unary(void **state)
{
	struct env *e = *state;
	struct cri_proxy_stats st;
	struct rcall c;
	uint64_t t0;

	mirror_and_proxy(e, NULL, NULL);
	rcall_open(&c, e->ch, RT "ContainerStatus", "x", 1, -1, NULL, 0);
	usleep(200 * 1000);
	assert_int_equal(mir.slow_cancelled, 0);
	grpc_call_cancel(c.call, NULL);
	t0 = now_mono_ns();
	for (int i = 0; i < 200 && !mir.slow_cancelled; i++)
		usleep(5 * 1000);
	assert_int_equal(mir.slow_cancelled, 1);
	print_message("client cancel reached the upstream within %llu ms\n",
		      (unsigned long long)((now_mono_ns() - t0) / NSEC_PER_MSEC));
	rcall_finish(&c);
	assert_int_equal(c.code, GRPC_STATUS_CANCELLED);
	rcall_free(&c, NULL);
	for (int i = 0; i < 200; i++) {
		cri_proxy__stats(e->p, &st);
		if (!st.server.active)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st.server.active, 0);
}

/* A finite stream: every message, then OK with the upstream's metadata. */
static void test_stream(void **state)
{
	grpc_metadata md[] = { MD("x-count", "3") };
	struct env *e = *state;
	struct cri_proxy_stats st;
	struct rres r;
	const struct kv *k;

	mirror_and_proxy(e, NULL, NULL);
	rcall_all(e->ch, CRI_PROXY_EVENTS_METHOD, "tick", 4, 5000, md, 1, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_int_equal(r.n_msgs, 3);
	assert_memory_equal(r.msg, "tick", 4);
	k = kv_get(r.init, r.n_init, "x-mirror");
	assert_non_null(k);
	assert_string_equal(k->val, "stream-initial");
	k = kv_get(r.trail, r.n_trail, "x-mirror");
	assert_non_null(k);
	assert_string_equal(k->val, "stream-trailing");
	assert_int_equal(mir.stream_end, 2);
	cri_proxy__stats(e->p, &st);
	assert_int_equal(st.streams, 1);
	assert_int_equal(st.events_served, 0);
	rres_clear(&r);
}

/* Messages come as they are sent (not at the stream's end), and a client
 * that cancels ends the upstream's stream. */
static void test_stream_cancel(void **state)
{
	struct env *e = *state;
	struct rcall c;
	char *m = NULL;
	size_t n;
	uint64_t t0;

	mirror_and_proxy(e, NULL, NULL);
	rcall_open(&c, e->ch, CRI_PROXY_EVENTS_METHOD, "tock", 4, -1, NULL, 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rcall_read(&c, 2000, &m, &n), 1);
		assert_memory_equal(m, "tock", 4);
		free(m);
	}
	assert_int_equal(mir.stream_end, 0);
	grpc_call_cancel(c.call, NULL);
	t0 = now_mono_ns();
	for (int i = 0; i < 200 && !mir.stream_end; i++)
		usleep(5 * 1000);
	assert_int_equal(mir.stream_end, 1);
	print_message("stream cancel reached the upstream within %llu ms\n",
		      (unsigned long long)((now_mono_ns() - t0) / NSEC_PER_MSEC));
	rcall_finish(&c);
	assert_int_equal(c.code, GRPC_STATUS_CANCELLED);
	rcall_free(&c, NULL);
}

/* The hook answers GetContainerEvents; the upstream never hears of it. */
static atomic_int hook_calls;

static void hook(struct rpc_call *c, void *ctx)
{
	if (ctx == &hook_calls) /* no cmocka assertion off the test's thread */
		hook_calls++;
	rpc_call_send(c, "hook", 4);
	rpc_call_reply_md(c, NULL, GRPC_STATUS_OK, NULL, NULL, NULL);
}

static void test_events_hook(void **state)
{
	struct env *e = *state;
	struct cri_proxy_stats st;
	struct rres r;

	hook_calls = 0;
	mirror_and_proxy(e, hook, &hook_calls);
	rcall_all(e->ch, CRI_PROXY_EVENTS_METHOD, "x", 1, 2000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_int_equal(r.n_msgs, 1);
	assert_memory_equal(r.msg, "hook", 4);
	assert_int_equal(hook_calls, 1);
	assert_int_equal(mir.calls, 0);
	rres_clear(&r);
	rcall_all(e->ch, RT "Version", "v", 1, 2000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_int_equal(mir.calls, 1);
	cri_proxy__stats(e->p, &st);
	assert_int_equal(st.events_served, 1);
	assert_int_equal(st.forwarded, 1);
	rres_clear(&r);
}

/* 16 MiB each way: a 10 MiB request and reply pass, bigger ones do not. */
static void test_message_bounds(void **state)
{
	grpc_metadata md_ok[] = { MD("x-size", "12582912") };	  /* 12 MiB */
	grpc_metadata md_big[] = { MD("x-size", "17825792") }; /* 17 MiB */
	size_t n = 10u << 20, big = 17u << 20;
	char *buf = malloc(big);
	struct env *e = *state;
	struct rres r;

	for (size_t i = 0; i < big; i++)
		buf[i] = (char)(i * 7);
	mirror_and_proxy(e, NULL, NULL);
	rcall_all(e->ch, RT "Version", buf, n, 10000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_int_equal(r.len, n);
	assert_memory_equal(r.msg, buf, n);
	rres_clear(&r);
	rcall_all(e->ch, RT "Version", buf, big, 10000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	print_message("17 MiB request: %s\n", r.details);
	rres_clear(&r);
	rcall_all(e->ch, RT "ListContainers", "", 0, 10000, md_ok, 1, &r);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	assert_int_equal(r.len, 12u << 20);
	rres_clear(&r);
	rcall_all(e->ch, RT "ListContainers", "", 0, 10000, md_big, 1, &r);
	assert_int_equal(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	print_message("17 MiB reply: %s\n", r.details);
	rres_clear(&r);
	free(buf);
}

/* Nothing listens upstream: UNAVAILABLE at once; then the upstream comes up
 * and the same proxy (one channel, reconnected by gRPC) reaches it. */
static void test_upstream_down(void **state)
{
	struct env *e = *state;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct rres r;
	uint64_t t0;
	int fd;

	assert_int_equal(proxy_start(e, e->up, NULL, NULL), 0);
	e->ch = raw_channel(e->sock);
	rcall_all(e->ch, RT "Version", "x", 1, 3000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_UNAVAILABLE);
	print_message("no socket upstream: UNAVAILABLE after %llu ms: %s\n",
		      (unsigned long long)r.ms, r.details);
	assert_true(r.ms < 1000);
	rres_clear(&r);
	/* A stale socket: bound, nobody listening (ECONNREFUSED). */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", e->up);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	rcall_all(e->ch, RT "Version", "x", 1, 3000, NULL, 0, &r);
	assert_int_equal(r.code, GRPC_STATUS_UNAVAILABLE);
	print_message("stale socket upstream: UNAVAILABLE after %llu ms: %s\n",
		      (unsigned long long)r.ms, r.details);
	assert_true(r.ms < 3000);
	rres_clear(&r);
	/* The runtime starts: reached within the reconnect backoff (<= 1 s). */
	mirror_start(e->up);
	t0 = now_mono_ns();
	do {
		rcall_all(e->ch, RT "Version", "x", 1, 3000, NULL, 0, &r);
		if (r.code == GRPC_STATUS_OK)
			break;
		rres_clear(&r);
		usleep(50 * 1000);
	} while (now_mono_ns() - t0 < 5 * NSEC_PER_SEC);
	assert_int_equal(r.code, GRPC_STATUS_OK);
	print_message("upstream up: first OK after %llu ms\n",
		      (unsigned long long)((now_mono_ns() - t0) / NSEC_PER_MSEC));
	rres_clear(&r);
}

/* Freeing the proxy ends an open stream (and the upstream's) promptly. */
struct reader {
	grpc_channel *ch;
	int got;
	grpc_status_code code;
};

static void *read_forever(void *arg)
{
	struct reader *rd = arg;
	struct rcall c;
	char *m;
	size_t n;

	rcall_open(&c, rd->ch, CRI_PROXY_EVENTS_METHOD, "z", 1, -1, NULL, 0);
	while (rcall_read(&c, -1, &m, &n) == 1) {
		free(m);
		rd->got++;
	}
	rcall_finish(&c);
	rd->code = c.code;
	rcall_free(&c, NULL);
	return NULL;
}

static void test_free_with_stream(void **state)
{
	struct env *e = *state;
	struct reader rd = { 0 };
	pthread_t th;
	uint64_t t0;

	mirror_and_proxy(e, NULL, NULL);
	rd.ch = e->ch;
	assert_int_equal(pthread_create(&th, NULL, read_forever, &rd), 0);
	usleep(200 * 1000);
	t0 = now_mono_ns();
	cri_proxy__free(e->p);
	e->p = NULL;
	assert_true(now_mono_ns() - t0 < 2 * NSEC_PER_SEC);
	pthread_join(th, NULL);
	assert_true(rd.got > 0);
	assert_int_not_equal(rd.code, GRPC_STATUS_OK);
	for (int i = 0; i < 200 && !mir.stream_end; i++)
		usleep(5 * 1000);
	assert_int_equal(mir.stream_end, 1);
	assert_int_equal(access(e->sock, F_OK), -1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 200

/* @n samples: p50 and p90 in us. */
static void pct(uint64_t *t, size_t n, double *p50, double *p90)
{
	qsort(t, n, sizeof(t[0]), cmp_u64);
	*p50 = t[n / 2] / 1e3;
	*p90 = t[n * 9 / 10] / 1e3;
}

/* The proxy's own cost, without a runtime's: Version ROUNDS times each way
 * (the mirror echoes), interleaved. */
static void test_overhead_mirror(void **state)
{
	static uint64_t tx[ROUNDS], td[ROUNDS];
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct env *e = *state;
	struct cri_status st;
	char ep[128];
	double x50, x90, d50, d90;

	mirror_and_proxy(e, NULL, NULL);
	snprintf(ep, sizeof(ep), "unix://%s", e->up);
	e->x = cri_client__new(e->ep);
	e->d = cri_client__new(ep);
	req.version = (char *)"v1";
	for (int i = -20; i < ROUNDS; i++) {
		grpc_byte_buffer *bb = NULL;
		uint64_t t0 = now_mono_ns(), t1, t2;

		assert_int_equal(cri_call_raw(e->x, "Version", &req.base, 0, &bb, &st), 0);
		grpc_byte_buffer_destroy(bb);
		t1 = now_mono_ns();
		assert_int_equal(cri_call_raw(e->d, "Version", &req.base, 0, &bb, &st), 0);
		grpc_byte_buffer_destroy(bb);
		t2 = now_mono_ns();
		if (i >= 0) {
			tx[i] = t1 - t0;
			td[i] = t2 - t1;
		}
	}
	pct(tx, ROUNDS, &x50, &x90);
	pct(td, ROUNDS, &d50, &d90);
	print_message("Version x%d on an rpc_server upstream: direct p50 %.0f us p90 %.0f us; "
		      "through the proxy p50 %.0f us p90 %.0f us; overhead p50 %.0f us\n",
		      ROUNDS, d50, d90, x50, x90, x50 - d50);
}

/* ---- in front of containerd ------------------------------------------------------- */

static int rt_setup(void **state, const char *var)
{
	const char *runtime = testenv_require(var); /* before anything to free */
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	env_dirs(e);
	e->runtime = runtime;
	assert_int_equal(proxy_start(e, e->runtime, NULL, NULL), 0);
	e->x = cri_client__new(e->ep);
	e->d = cri_client__new(e->runtime);
	assert_non_null(e->x);
	assert_non_null(e->d);
	e->ch = raw_channel(e->sock);
	e->dch = raw_channel(e->runtime);
	return 0;
}

static int setup16(void **state) { return rt_setup(state, "KPLEG_TEST_CD16"); }
static int setup17(void **state) { return rt_setup(state, "KPLEG_TEST_CD17"); }

/* Protobuf wire: the first length-delimited field @field of @buf. */
static bool pb_field(const char *buf, size_t len, unsigned field, const char **ret, size_t *ret_len)
{
	size_t off = 0;

	while (off < len) {
		uint64_t key = 0, v = 0;
		int sh = 0;

		do
			key |= (uint64_t)(buf[off] & 0x7f) << sh, sh += 7;
		while ((buf[off++] & 0x80) && off < len);
		switch (key & 7) {
		case 0:
			while (off < len && (buf[off++] & 0x80))
				;
			break;
		case 1:
			off += 8;
			break;
		case 5:
			off += 4;
			break;
		case 2:
			sh = 0;
			do
				v |= (uint64_t)(buf[off] & 0x7f) << sh, sh += 7;
			while ((buf[off++] & 0x80) && off < len);
			if (key >> 3 == field && off + v <= len) {
				*ret = buf + off;
				*ret_len = v;
				return true;
			}
			off += v;
			break;
		default:
			return false;
		}
	}
	return false;
}

/* ImageSpec{image} as field 1: ImageStatusRequest and PullImageRequest. */
static size_t image_req(char *out, const char *image)
{
	size_t n = strlen(image);

	out[0] = 0x0a;
	out[1] = (char)(n + 2);
	out[2] = 0x0a;
	out[3] = (char)n;
	memcpy(out + 4, image, n);
	return n + 4;
}

/* An Image message that carries @tag among its repo_tags (field 2). */
static bool image_has_tag(const char *img, size_t len, const char *tag)
{
	while (len) {
		const char *t;
		size_t tl;

		if (!pb_field(img, len, 2, &t, &tl))
			return false;
		if (tl == strlen(tag) && !memcmp(t, tag, tl))
			return true;
		len -= (size_t)(t + tl - img);
		img = t + tl;
	}
	return false;
}

/* The same raw call through the proxy and directly: same code, same message
 * (and same bytes if @same_bytes). */
static void same_raw(struct env *e, const char *method, const void *req, size_t len,
		     bool same_bytes, struct rres *px, struct rres *dr)
{
	rcall_all(e->ch, method, req, len, SLOW_MS, NULL, 0, px);
	rcall_all(e->dch, method, req, len, SLOW_MS, NULL, 0, dr);
	if (px->code != dr->code || strcmp(px->details, dr->details))
		fail_msg("%s: proxy %d \"%s\", direct %d \"%s\"", method, px->code, px->details,
			 dr->code, dr->details);
	assert_int_equal(px->n_msgs, dr->n_msgs);
	if (same_bytes) {
		assert_int_equal(px->len, dr->len);
		if (px->len)
			assert_memory_equal(px->msg, dr->msg, px->len);
	}
}

static void image_calls(struct env *e)
{
	struct rres px, dr;
	const char *img, *img2;
	size_t il, il2, n;
	char req[128];

	same_raw(e, IMG "ListImages", "", 0, true, &px, &dr);
	assert_int_equal(px.code, GRPC_STATUS_OK);
	assert_true(pb_field(px.msg, px.len, 1, &img, &il));
	assert_true(image_has_tag(img, il, KUBE_TEST_IMAGE));
	rres_clear(&px);
	rres_clear(&dr);

	n = image_req(req, KUBE_TEST_IMAGE);
	same_raw(e, IMG "ImageStatus", req, n, true, &px, &dr);
	assert_int_equal(px.code, GRPC_STATUS_OK);
	assert_true(pb_field(px.msg, px.len, 1, &img, &il));
	assert_true(image_has_tag(img, il, KUBE_TEST_IMAGE));
	rres_clear(&px);
	rres_clear(&dr);

	n = image_req(req, "localhost/kpleg/no-such:1");
	same_raw(e, IMG "ImageStatus", req, n, true, &px, &dr);
	assert_int_equal(px.code, GRPC_STATUS_OK); /* absent: OK with no image */
	assert_false(px.len && pb_field(px.msg, px.len, 1, &img, &il));
	rres_clear(&px);
	rres_clear(&dr);

	/* Pulling a local-only image: whatever the runtime says, the proxy says. */
	n = image_req(req, KUBE_TEST_IMAGE);
	same_raw(e, IMG "PullImage", req, n, true, &px, &dr);
	print_message("PullImage %s: %s %s\n", KUBE_TEST_IMAGE, cri_status_code_name(px.code),
		      px.details);
	rres_clear(&px);
	rres_clear(&dr);

	/* ImageFsInfo carries timestamps: the same shape, not the same bytes. */
	same_raw(e, IMG "ImageFsInfo", "", 0, false, &px, &dr);
	assert_int_equal(px.code, GRPC_STATUS_OK);
	assert_true(pb_field(px.msg, px.len, 1, &img, &il));
	assert_true(pb_field(dr.msg, dr.len, 1, &img2, &il2));
	rres_clear(&px);
	rres_clear(&dr);
}

static void version_and_status(struct env *e)
{
	Runtime__V1__VersionResponse *vx = NULL, *vd = NULL;
	Runtime__V1__StatusResponse *sx = NULL, *sd = NULL;
	Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
	grpc_byte_buffer *bx = NULL, *bd = NULL;
	struct cri_status st;
	char *fx, *fd;
	size_t lx, ld;

	assert_int_equal(cri_version(e->x, 0, &vx, &st), 0);
	assert_int_equal(cri_version(e->d, 0, &vd, &st), 0);
	assert_string_equal(vx->version, vd->version);
	assert_string_equal(vx->runtime_name, vd->runtime_name);
	assert_string_equal(vx->runtime_version, vd->runtime_version);
	assert_string_equal(vx->runtime_api_version, vd->runtime_api_version);
	/* Byte for byte. */
	vreq.version = (char *)"v1";
	assert_int_equal(cri_call_raw(e->x, "Version", &vreq.base, 0, &bx, &st), 0);
	assert_int_equal(cri_call_raw(e->d, "Version", &vreq.base, 0, &bd, &st), 0);
	fx = flatten(bx, &lx);
	fd = flatten(bd, &ld);
	assert_int_equal(lx, ld);
	assert_memory_equal(fx, fd, lx);
	free(fx);
	free(fd);
	grpc_byte_buffer_destroy(bx);
	grpc_byte_buffer_destroy(bd);

	assert_int_equal(cri_status(e->x, 0, &sx, &st), 0);
	assert_int_equal(cri_status(e->d, 0, &sd, &st), 0);
	assert_int_equal(sx->status->n_conditions, sd->status->n_conditions);
	for (size_t i = 0; i < sx->status->n_conditions; i++) {
		assert_string_equal(sx->status->conditions[i]->type,
				    sd->status->conditions[i]->type);
		assert_int_equal(sx->status->conditions[i]->status,
				 sd->status->conditions[i]->status);
		assert_string_equal(sx->status->conditions[i]->reason,
				    sd->status->conditions[i]->reason);
	}
	cri_msg_free(vx);
	cri_msg_free(vd);
	cri_msg_free(sx);
	cri_msg_free(sd);
}

/* ContainerStatus through the proxy and directly: the same answer. */
static int same_ctr_status(struct env *e, const char *id, int *exit_code)
{
	Runtime__V1__ContainerStatusResponse *x = NULL, *d = NULL;
	struct cri_status st;
	int state;

	if (cri_container_status(e->x, id, 0, &x, &st) < 0)
		fail_msg("ContainerStatus %s through the proxy: %s", id, st.message);
	if (cri_container_status(e->d, id, 0, &d, &st) < 0)
		fail_msg("ContainerStatus %s: %s", id, st.message);
	state = x->status->state;
	/* The direct call came second: the container may have moved on. */
	if (d->status->state == x->status->state) {
		assert_string_equal(x->status->id, d->status->id);
		assert_int_equal(x->status->created_at, d->status->created_at);
		assert_int_equal(x->status->started_at, d->status->started_at);
		assert_int_equal(x->status->finished_at, d->status->finished_at);
		assert_int_equal(x->status->exit_code, d->status->exit_code);
		assert_string_equal(x->status->reason, d->status->reason);
		assert_string_equal(x->status->metadata->name, d->status->metadata->name);
		assert_string_equal(x->status->image_ref, d->status->image_ref);
		assert_int_equal(x->status->n_labels, d->status->n_labels);
	}
	if (exit_code)
		*exit_code = x->status->exit_code;
	cri_msg_free(x);
	cri_msg_free(d);
	return state;
}

static void same_sandbox(struct env *e, const char *sb, const struct kube_pod *p, int want_state)
{
	Runtime__V1__PodSandboxStatusResponse *x = NULL, *d = NULL;
	Runtime__V1__PodSandboxFilter pf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__ListPodSandboxResponse *lx = NULL, *ld = NULL;
	struct cri_status st;

	assert_int_equal(cri_pod_sandbox_status(e->x, sb, 0, &x, &st), 0);
	assert_int_equal(cri_pod_sandbox_status(e->d, sb, 0, &d, &st), 0);
	assert_int_equal(x->status->state, want_state);
	assert_int_equal(x->status->state, d->status->state);
	assert_int_equal(x->status->created_at, d->status->created_at);
	assert_string_equal(x->status->metadata->uid, p->uid);
	assert_string_equal(d->status->metadata->uid, p->uid);
	assert_string_equal(x->status->metadata->name, d->status->metadata->name);
	pf.id = (char *)sb;
	assert_int_equal(cri_list_pod_sandbox(e->x, &pf, 0, &lx, &st), 0);
	assert_int_equal(cri_list_pod_sandbox(e->d, &pf, 0, &ld, &st), 0);
	assert_int_equal(lx->n_items, 1);
	assert_int_equal(ld->n_items, 1);
	assert_string_equal(lx->items[0]->id, ld->items[0]->id);
	assert_int_equal(lx->items[0]->state, ld->items[0]->state);
	assert_int_equal(lx->items[0]->created_at, ld->items[0]->created_at);
	cri_msg_free(x);
	cri_msg_free(d);
	cri_msg_free(lx);
	cri_msg_free(ld);
}

static void same_list(struct env *e, const char *sb, const char *ctr)
{
	Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ListContainersResponse *x = NULL, *d = NULL;
	struct cri_status st;

	cf.pod_sandbox_id = (char *)sb;
	assert_int_equal(cri_list_containers(e->x, &cf, 0, &x, &st), 0);
	assert_int_equal(cri_list_containers(e->d, &cf, 0, &d, &st), 0);
	assert_int_equal(x->n_containers, 1);
	assert_int_equal(d->n_containers, 1);
	assert_string_equal(x->containers[0]->id, ctr);
	assert_string_equal(d->containers[0]->id, ctr);
	assert_int_equal(x->containers[0]->state, d->containers[0]->state);
	assert_int_equal(x->containers[0]->created_at, d->containers[0]->created_at);
	cri_msg_free(x);
	cri_msg_free(d);
}

static char *create_ctr(struct cri_client *c, const struct kube_pod *p, const char *sb,
			const char *script)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)script, NULL };
	struct kube_container k;
	struct cri_status st;
	char *id = NULL;

	assert_int_equal(kube_container_init(&k, p, "app", argv, 0), 0);
	if (cri_create_container(c, sb, &k.cfg, &p->cfg, SLOW_MS, &id, &st) < 0)
		fail_msg("CreateContainer: %s", st.message);
	return id;
}

/* The same failing call through the proxy and directly: same code, same message. */
#define SAME_FAILURE(e, call_x, call_d, want_code)                                        \
	do {                                                                              \
		struct cri_status _sx = { 0 }, _sd = { 0 };                               \
		int _rx = (call_x), _rd = (call_d);                                       \
		(void)_sd;                                                                \
		assert_int_equal(_rx, _rd);                                               \
		assert_int_equal(_sx.code, want_code);                                    \
		assert_int_equal(_sx.code, _sd.code);                                     \
		assert_string_equal(_sx.message, _sd.message);                            \
	} while (0)

/* A pod's whole life as the kubelet lives it, through the proxy. */
static void test_kubelet_life(void **state)
{
	struct env *e = *state;
	Runtime__V1__ContainerStatusResponse *cs = NULL;
	Runtime__V1__PodSandboxStatusResponse *ps = NULL;
	struct cri_proxy_stats pst;
	struct cri_status st;
	struct kube_pod p;
	char *sb = NULL, *ctr;
	uint64_t end;
	int code = -1;

	version_and_status(e);
	image_calls(e);

	assert_int_equal(kube_pod_init(&p, NULL, "proxy-test", "kpleg-test", KUBE_QOS_BURSTABLE),
			 0);
	if (cri_run_pod_sandbox(e->x, &p.cfg, SLOW_MS, &sb, &st) < 0)
		fail_msg("RunPodSandbox through the proxy: %s", st.message);
	same_sandbox(e, sb, &p, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
	ctr = create_ctr(e->x, &p, sb, "sleep 0.3; exit 3");
	assert_int_equal(same_ctr_status(e, ctr, NULL),
			 RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
	same_list(e, sb, ctr);
	assert_int_equal(cri_start_container(e->x, ctr, SLOW_MS, &st), 0);
	end = testenv_now_ms() + 10000;
	while (same_ctr_status(e, ctr, &code) != RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
		if (testenv_now_ms() > end)
			fail_msg("container %s did not exit within 10 s", ctr);
		usleep(20000);
	}
	same_ctr_status(e, ctr, &code); /* both exited now: compared in full */
	assert_int_equal(code, 3);
	same_list(e, sb, ctr);
	assert_int_equal(cri_stop_container(e->x, ctr, 1, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_container(e->x, ctr, SLOW_MS, &st), 0);
	SAME_FAILURE(e, cri_container_status(e->x, ctr, 0, &cs, &_sx),
		     cri_container_status(e->d, ctr, 0, &cs, &_sd), GRPC_STATUS_NOT_FOUND);
	assert_int_equal(cri_stop_pod_sandbox(e->x, sb, SLOW_MS, &st), 0);
	same_sandbox(e, sb, &p, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY);
	assert_int_equal(cri_remove_pod_sandbox(e->x, sb, SLOW_MS, &st), 0);
	SAME_FAILURE(e, cri_pod_sandbox_status(e->x, sb, 0, &ps, &_sx),
		     cri_pod_sandbox_status(e->d, sb, 0, &ps, &_sd), GRPC_STATUS_NOT_FOUND);
	cri_proxy__stats(e->p, &pst);
	print_message("calls forwarded to %s: %llu\n", e->runtime,
		      (unsigned long long)pst.forwarded);
	free(sb);
	free(ctr);
}

static void test_status_codes(void **state)
{
	struct env *e = *state;
	Runtime__V1__ContainerStatusResponse *cs = NULL;
	Runtime__V1__CreateContainerRequest cr = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	grpc_byte_buffer *bb = NULL;
	struct cri_status st;
	struct kube_pod p;
	char *sb = NULL, *ctr;
	uint64_t t0, dt;
	int r;

	SAME_FAILURE(e, cri_container_status(e->x, "no-such-container", 0, &cs, &_sx),
		     cri_container_status(e->d, "no-such-container", 0, &cs, &_sd),
		     GRPC_STATUS_NOT_FOUND);
	/* An empty request the runtime refuses: its code and words. */
	r = cri_call_raw(e->x, "CreateContainer", &cr.base, 0, &bb, &st);
	assert_true(r < 0);
	print_message("CreateContainer {}: %s\n", st.message);
	SAME_FAILURE(e, cri_call_raw(e->x, "CreateContainer", &cr.base, 0, &bb, &_sx),
		     cri_call_raw(e->d, "CreateContainer", &cr.base, 0, &bb, &_sd), st.code);

	/* Deadlines: StopContainer with a 30 s grace period on a container
	 * whose init ignores SIGTERM (pid 1 without a handler) cannot finish
	 * in time. */
	assert_int_equal(kube_pod_init(&p, NULL, "proxy-deadline", "kpleg-test",
				       KUBE_QOS_BESTEFFORT), 0);
	if (cri_run_pod_sandbox(e->d, &p.cfg, SLOW_MS, &sb, &st) < 0)
		fail_msg("RunPodSandbox: %s", st.message);
	ctr = create_ctr(e->d, &p, sb, "exec sleep 60");
	assert_int_equal(cri_start_container(e->d, ctr, SLOW_MS, &st), 0);
	/* 1 ms: the code is the same; the words are whoever noticed first
	 * (the client's gRPC "Deadline Exceeded", or containerd's "context
	 * deadline exceeded"), directly as well as through the proxy. */
	assert_int_equal(cri_stop_container(e->x, ctr, 30, 1, &st), -ETIMEDOUT);
	assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_int_equal(cri_stop_container(e->d, ctr, 30, 1, &st), -ETIMEDOUT);
	assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	t0 = testenv_now_ms();
	r = cri_stop_container(e->x, ctr, 30, 500, &st);
	dt = testenv_now_ms() - t0;
	print_message("StopContainer (grace 30 s) with a 500 ms deadline through the proxy: "
		      "%s after %llu ms\n", st.message, (unsigned long long)dt);
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_true(dt >= 450 && dt < 1500);
	assert_int_equal(same_ctr_status(e, ctr, NULL),
			 RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
	assert_int_equal(cri_stop_container(e->x, ctr, 0, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_container(e->x, ctr, SLOW_MS, &st), 0);
	assert_int_equal(cri_stop_pod_sandbox(e->x, sb, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_pod_sandbox(e->x, sb, SLOW_MS, &st), 0);
	free(sb);
	free(ctr);
}

static void test_no_events_16(void **state)
{
	struct env *e = *state;
	Runtime__V1__ContainerEventResponse *ev = NULL;
	struct cri_event_stream *s = NULL;
	enum cri_events_support sup;
	struct cri_status sx, sd;

	assert_int_equal(cri_events_probe(e->x, 2000, &sup, &sx), 0);
	assert_int_equal(sup, CRI_EVENTS_UNIMPLEMENTED);
	assert_int_equal(cri_events__open(e->x, &s, &sx), 0);
	assert_int_equal(cri_events__read(s, 2000, &ev, &sx), -EOPNOTSUPP);
	cri_events__free(s);
	assert_int_equal(cri_events__open(e->d, &s, &sd), 0);
	assert_int_equal(cri_events__read(s, 2000, &ev, &sd), -EOPNOTSUPP);
	cri_events__free(s);
	assert_int_equal(sx.code, GRPC_STATUS_UNIMPLEMENTED);
	assert_string_equal(sx.message, sd.message);
}

/* Reads events until @id has had an event of type @want. */
static void expect_event(struct cri_event_stream *s, const char *id, int want, int *seen)
{
	uint64_t end = testenv_now_ms() + 20000;
	struct cri_status st;

	while (!(*seen & (1 << want)) && testenv_now_ms() < end) {
		Runtime__V1__ContainerEventResponse *ev = NULL;
		int r = cri_events__read(s, 500, &ev, &st);

		if (r == -EAGAIN)
			continue;
		if (r < 0)
			fail_msg("event stream through the proxy: %s", st.message);
		if (!strcmp(ev->container_id, id))
			*seen |= 1 << ev->container_event_type;
		cri_msg_free(ev);
	}
	if (!(*seen & (1 << want)))
		fail_msg("no %s event for %.12s within 20 s", cri_event_type_str(want), id);
}

static void test_events_17(void **state)
{
	struct env *e = *state;
	struct cri_event_stream *s = NULL;
	struct cri_proxy_stats pst;
	struct cri_status st;
	struct kube_pod p;
	char *sb = NULL, *ctr;
	int seen = 0;

	assert_int_equal(cri_events__open(e->x, &s, &st), 0);
	assert_int_equal(kube_pod_init(&p, NULL, "proxy-events", "kpleg-test", KUBE_QOS_BESTEFFORT),
			 0);
	if (cri_run_pod_sandbox(e->x, &p.cfg, SLOW_MS, &sb, &st) < 0)
		fail_msg("RunPodSandbox: %s", st.message);
	ctr = create_ctr(e->x, &p, sb, "exit 7");
	expect_event(s, ctr, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT, &seen);
	assert_int_equal(cri_start_container(e->x, ctr, SLOW_MS, &st), 0);
	expect_event(s, ctr, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT, &seen);
	assert_int_equal(cri_remove_container(e->x, ctr, SLOW_MS, &st), 0);
	expect_event(s, ctr, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT, &seen);
	assert_int_equal(seen, 0xf);
	cri_proxy__stats(e->p, &pst);
	assert_int_equal(pst.streams, 1);
	/* The client goes: the stream through the proxy ends with it. */
	cri_events__free(s);
	for (int i = 0; i < 200; i++) {
		cri_proxy__stats(e->p, &pst);
		if (!pst.server.active)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(pst.server.active, 0);
	assert_int_equal(cri_stop_pod_sandbox(e->x, sb, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_pod_sandbox(e->x, sb, SLOW_MS, &st), 0);
	free(sb);
	free(ctr);
}

/* ContainerStatus ROUNDS times each way, interleaved: the proxy's cost. */
static void test_overhead(void **state)
{
	struct env *e = *state;
	static uint64_t tx[ROUNDS], td[ROUNDS];
	struct cri_status st;
	struct kube_pod p;
	char *sb = NULL, *ctr;
	double x50, x90, d50, d90;

	assert_int_equal(kube_pod_init(&p, NULL, "proxy-bench", "kpleg-test", KUBE_QOS_BESTEFFORT),
			 0);
	if (cri_run_pod_sandbox(e->d, &p.cfg, SLOW_MS, &sb, &st) < 0)
		fail_msg("RunPodSandbox: %s", st.message);
	ctr = create_ctr(e->d, &p, sb, "sleep 1");
	for (int i = -20; i < ROUNDS; i++) { /* 20 to warm up */
		Runtime__V1__ContainerStatusResponse *r = NULL;
		uint64_t t0 = now_mono_ns(), t1, t2;

		assert_int_equal(cri_container_status(e->x, ctr, 0, &r, &st), 0);
		cri_msg_free(r);
		t1 = now_mono_ns();
		assert_int_equal(cri_container_status(e->d, ctr, 0, &r, &st), 0);
		cri_msg_free(r);
		t2 = now_mono_ns();
		if (i >= 0) {
			tx[i] = t1 - t0;
			td[i] = t2 - t1;
		}
	}
	pct(tx, ROUNDS, &x50, &x90);
	pct(td, ROUNDS, &d50, &d90);
	print_message("ContainerStatus x%d on %s: direct p50 %.0f us p90 %.0f us; through the "
		      "proxy p50 %.0f us p90 %.0f us; overhead p50 %.0f us\n",
		      ROUNDS, e->runtime, d50, d90, x50, x90, x50 - d50);
	assert_int_equal(cri_remove_container(e->d, ctr, SLOW_MS, &st), 0);
	assert_int_equal(cri_stop_pod_sandbox(e->d, sb, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_pod_sandbox(e->d, sb, SLOW_MS, &st), 0);
	free(sb);
	free(ctr);
}

int main(void)
{
	const struct CMUnitTest mirror[] = {
		cmocka_unit_test_setup_teardown(test_socket_and_options, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_not_cri, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_metadata, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_unary, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_stream_cancel, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_events_hook, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_message_bounds, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_down, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_stream, setup_mirror, teardown),
		cmocka_unit_test_setup_teardown(test_overhead_mirror, setup_mirror, teardown),
	};
	const struct CMUnitTest cd16[] = {
		cmocka_unit_test_setup_teardown(test_kubelet_life, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_status_codes, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_no_events_16, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_overhead, setup16, teardown),
	};
	const struct CMUnitTest cd17[] = {
		cmocka_unit_test_setup_teardown(test_kubelet_life, setup17, teardown),
		cmocka_unit_test_setup_teardown(test_status_codes, setup17, teardown),
		cmocka_unit_test_setup_teardown(test_events_17, setup17, teardown),
		cmocka_unit_test_setup_teardown(test_overhead, setup17, teardown),
	};
	int failed = 0;

	grpc_init();
	failed += cmocka_run_group_tests_name("cri_proxy", mirror, NULL, NULL);
	failed += cmocka_run_group_tests_name("cri_proxy_containerd_1.6", cd16, NULL, NULL);
	failed += cmocka_run_group_tests_name("cri_proxy_containerd_1.7", cd17, NULL, NULL);
	grpc_shutdown();
	return failed;
}
