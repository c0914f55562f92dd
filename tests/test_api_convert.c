// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg.v1 conversions (user/api_convert.c): pods, events and status built
 * from kpleg's structs survive a protobuf-c pack/unpack with every field
 * intact; the enum tables cover both enums exactly; the ListPods and Watch
 * filters; request validation names the offending field; and random or
 * mutated bytes decoded as any request never crash validation or matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_convert.h"

#define UID "fdcd2a05-1c7e-4f43-9a3b-0d6f3c1e2b77"

/* ---- fixtures ------------------------------------------------------------------- */

static const struct kpleg_label labels0[] = {
	{ "io.kubernetes.pod.uid", UID },
	{ "io.kubernetes.pod.name", "web-0" },
	{ "io.kubernetes.pod.namespace", "shop" },
	{ "app", "web" },
	{ "tier", "front" },
	{ "empty", "" },
};

static const struct kpleg_label labels1[] = {
	{ "app", "web" },
	{ "tier", "back" },
};

static const struct kpleg_sandbox_status sandboxes[] = {
	{ .id = "f31d0228aaaa", .state = KPLEG_SANDBOX_NOTREADY, .attempt = 0,
	  .created_at = 1764430000123456789LL, .ip = "", .n_labels = ARRAY_SIZE(labels0),
	  .labels = labels0 },
	{ .id = "f31d0228bbbb", .state = KPLEG_SANDBOX_READY, .attempt = 1,
	  .created_at = 1764430001000000001LL, .ip = "10.0.0.7", .n_labels = ARRAY_SIZE(labels1),
	  .labels = labels1 },
};

static const struct kpleg_container_status containers[] = {
	{ .id = "9cdb4b04", .sandbox_id = "f31d0228aaaa", .name = "app", .attempt = 0,
	  .state = KPLEG_CONTAINER_EXITED, .exit_code = 137, .reason = "OOMKilled",
	  .message = "killed", .image = "localhost/kpleg/test:1", .created_at = 10,
	  .started_at = 20, .finished_at = 30, .provisional = true },
	{ .id = "9cdb4b05", .sandbox_id = "f31d0228bbbb", .name = "app", .attempt = 1,
	  .state = KPLEG_CONTAINER_RUNNING, .exit_code = 0, .reason = "", .message = "",
	  .image = "localhost/kpleg/test:1", .created_at = 40, .started_at = 50 },
	{ .id = "9cdb4b06", .sandbox_id = "f31d0228bbbb", .name = "sidecar", .attempt = 2,
	  .state = KPLEG_CONTAINER_CREATED, .exit_code = -1, .reason = "r", .message = "m",
	  .image = "", .created_at = -5 },
	{ .id = "9cdb4b07", .sandbox_id = "f31d0228bbbb", .name = "init", .attempt = 0,
	  .state = KPLEG_CONTAINER_UNKNOWN, .reason = "", .message = "", .image = "i" },
};

static const struct kpleg_pod_status pod = {
	.uid = UID, .name = "web-0", .namespace_ = "shop",
	.observed_mono_ns = 10331974313736ULL, .generation = 7, .last_error = -ETIMEDOUT,
	.n_sandboxes = ARRAY_SIZE(sandboxes), .sandboxes = sandboxes,
	.n_containers = ARRAY_SIZE(containers), .containers = containers,
};

static const struct kpleg_pod_status bare_pod = {
	.uid = "u2", .name = "lonely", .namespace_ = "default", .observed_mono_ns = 1,
};

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	assert_true(protobuf_c_message_check(m));
	assert_int_equal(protobuf_c_message_pack(m, b), n);
	*len = n;
	return b;
}

/* Packs @m and unpacks it as the same type. */
static ProtobufCMessage *roundtrip(const ProtobufCMessage *m)
{
	size_t len;
	uint8_t *b = pack(m, &len);
	ProtobufCMessage *u = protobuf_c_message_unpack(m->descriptor, NULL, len, b);

	free(b);
	assert_non_null(u);
	return u;
}

static char *rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- enums ------------------------------------------------------------------------ */

/* The proto enums and the C enums have the same values, proto = C + 1, and
 * no side has one the other lacks. */
static void test_enum_tables(void **state)
{
	static const char *const types[] = {
		"EVENT_TYPE_CONTAINER_CREATED", "EVENT_TYPE_CONTAINER_STARTED",
		"EVENT_TYPE_CONTAINER_DIED",	"EVENT_TYPE_CONTAINER_REMOVED",
		"EVENT_TYPE_SANDBOX_READY",	"EVENT_TYPE_SANDBOX_NOTREADY",
		"EVENT_TYPE_SANDBOX_REMOVED",	"EVENT_TYPE_POD_SYNC",
		"EVENT_TYPE_CONTAINER_CONFIRMED",
	};
	static const char *const srcs[] = { "SOURCE_RELIST", "SOURCE_CRI_EVENT", "SOURCE_KERNEL" };
	const ProtobufCEnumDescriptor *d = &kpleg__v1__event_type__descriptor;

	/* names.c's table ends where enum kpleg_event_type does. */
	assert_string_equal(kpleg_event_type_str(KPLEG_EVENT_CONTAINER_CONFIRMED + 1), "Invalid");
	assert_string_equal(kpleg_source_str(KPLEG_SOURCE_KERNEL + 1), "invalid");
	assert_int_equal(d->n_values, ARRAY_SIZE(types) + 1);
	assert_string_equal(protobuf_c_enum_descriptor_get_value(d, 0)->name,
			    "EVENT_TYPE_UNSPECIFIED");
	for (unsigned i = 0; i < ARRAY_SIZE(types); i++)
		assert_string_equal(protobuf_c_enum_descriptor_get_value(d, (int)i + 1)->name,
				    types[i]);
	d = &kpleg__v1__source__descriptor;
	assert_int_equal(d->n_values, ARRAY_SIZE(srcs) + 1);
	for (unsigned i = 0; i < ARRAY_SIZE(srcs); i++)
		assert_string_equal(protobuf_c_enum_descriptor_get_value(d, (int)i + 1)->name,
				    srcs[i]);
	assert_int_equal(kpleg__v1__container_state__descriptor.n_values,
			 KPLEG_CONTAINER_UNKNOWN + 2);
	assert_int_equal(KPLEG__V1__CONTAINER_STATE__CONTAINER_STATE_UNKNOWN,
			 KPLEG_CONTAINER_UNKNOWN + 1);
	assert_int_equal(kpleg__v1__sandbox_state__descriptor.n_values, KPLEG_SANDBOX_NOTREADY + 2);
	assert_int_equal(KPLEG__V1__SANDBOX_STATE__SANDBOX_STATE_NOTREADY,
			 KPLEG_SANDBOX_NOTREADY + 1);
	assert_int_equal(kpleg__v1__mode__descriptor.n_values, KPLEG_MODE_EVENTED + 2);
	assert_int_equal(KPLEG__V1__MODE__MODE_EVENTED, KPLEG_MODE_EVENTED + 1);
}

/* ---- pods ------------------------------------------------------------------------- */

static void assert_pod_equal(const Kpleg__V1__Pod *m, const struct kpleg_pod_status *p)
{
	assert_string_equal(m->uid, p->uid);
	assert_string_equal(m->name, p->name);
	assert_string_equal(m->namespace_, p->namespace_);
	assert_int_equal(m->observed_mono_ns, p->observed_mono_ns);
	assert_int_equal(m->generation, p->generation);
	assert_int_equal(m->last_error, p->last_error);
	assert_int_equal(m->n_sandboxes, p->n_sandboxes);
	for (size_t i = 0; i < p->n_sandboxes; i++) {
		const struct kpleg_sandbox_status *s = &p->sandboxes[i];
		const Kpleg__V1__Sandbox *d = m->sandboxes[i];

		assert_string_equal(d->id, s->id);
		assert_int_equal(d->state, s->state + 1);
		assert_int_equal(d->attempt, s->attempt);
		assert_int_equal(d->created_at, s->created_at);
		assert_string_equal(d->ip, s->ip);
		assert_int_equal(d->n_labels, s->n_labels);
		for (size_t j = 0; j < s->n_labels; j++) {
			assert_string_equal(d->labels[j]->key, s->labels[j].key);
			assert_string_equal(d->labels[j]->value, s->labels[j].value);
		}
	}
	assert_int_equal(m->n_containers, p->n_containers);
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct kpleg_container_status *c = &p->containers[i];
		const Kpleg__V1__Container *d = m->containers[i];

		assert_string_equal(d->id, c->id);
		assert_string_equal(d->sandbox_id, c->sandbox_id);
		assert_string_equal(d->name, c->name);
		assert_int_equal(d->attempt, c->attempt);
		assert_int_equal(d->state, c->state + 1);
		assert_int_equal(d->exit_code, c->exit_code);
		assert_string_equal(d->reason, c->reason);
		assert_string_equal(d->message, c->message);
		assert_string_equal(d->image, c->image);
		assert_int_equal(d->created_at, c->created_at);
		assert_int_equal(d->started_at, c->started_at);
		assert_int_equal(d->finished_at, c->finished_at);
		assert_int_equal(!!d->provisional, c->provisional);
	}
}

static void test_pod_roundtrip(void **state)
{
	_cleanup_(api_pod_freep) Kpleg__V1__Pod *m = NULL;
	Kpleg__V1__Pod *u;

	assert_int_equal(api_pod_build(&pod, &m), 0);
	/* Borrowed, not copied. */
	assert_ptr_equal(m->uid, pod.uid);
	assert_ptr_equal(m->sandboxes[1]->labels[0]->key, labels1[0].key);
	assert_pod_equal(m, &pod);
	assert_string_equal(m->last_error_message, "Connection timed out");

	u = (Kpleg__V1__Pod *)roundtrip(&m->base);
	assert_pod_equal(u, &pod);
	assert_string_equal(u->last_error_message, "Connection timed out");
	protobuf_c_message_free_unpacked(&u->base, NULL);
}

static void test_pod_bare_and_invalid(void **state)
{
	struct kpleg_sandbox_status bad_sb = sandboxes[0];
	struct kpleg_container_status bad_ct = containers[0];
	struct kpleg_pod_status p = pod;
	Kpleg__V1__Pod *m = NULL, *u, *sentinel = (Kpleg__V1__Pod *)&p;

	assert_int_equal(api_pod_build(&bare_pod, &m), 0);
	assert_pod_equal(m, &bare_pod);
	assert_string_equal(m->last_error_message, "");
	u = (Kpleg__V1__Pod *)roundtrip(&m->base);
	assert_pod_equal(u, &bare_pod);
	assert_string_equal(u->last_error_message, "");
	protobuf_c_message_free_unpacked(&u->base, NULL);
	api_pod_free(m);

	/* States outside the enums: rejected, *ret untouched. */
	bad_sb.state = (enum kpleg_sandbox_state)2;
	p.sandboxes = &bad_sb;
	p.n_sandboxes = 1;
	m = sentinel;
	assert_int_equal(api_pod_build(&p, &m), -EINVAL);
	assert_ptr_equal(m, sentinel);
	bad_ct.state = (enum kpleg_container_state)-1;
	p = pod;
	p.containers = &bad_ct;
	p.n_containers = 1;
	assert_int_equal(api_pod_build(&p, &m), -EINVAL);
	assert_ptr_equal(m, sentinel);
	assert_int_equal(api_pod_build(NULL, &m), -EINVAL);

	/* An errno glibc has no words for. */
	p = bare_pod;
	p.last_error = -4000;
	assert_int_equal(api_pod_build(&p, &m), 0);
	assert_string_equal(m->last_error_message, "Unknown error");
	api_pod_free(m);

	api_pod_free(NULL);
	api_pods_free(NULL, 3);
}

/* ListPodsResponse, GetPodResponse and a Resync inside a WatchResponse: the
 * shapes the daemon sends, with the oneof. */
static void test_pod_containers(void **state)
{
	Kpleg__V1__ListPodsResponse list = KPLEG__V1__LIST_PODS_RESPONSE__INIT, *ul;
	Kpleg__V1__GetPodResponse get = KPLEG__V1__GET_POD_RESPONSE__INIT, *ug;
	Kpleg__V1__Resync rs = KPLEG__V1__RESYNC__INIT;
	Kpleg__V1__WatchResponse wr = KPLEG__V1__WATCH_RESPONSE__INIT, *uw;
	Kpleg__V1__Pod **pods = calloc(2, sizeof(*pods));

	assert_non_null(pods);
	assert_int_equal(api_pod_build(&pod, &pods[0]), 0);
	assert_int_equal(api_pod_build(&bare_pod, &pods[1]), 0);

	list.n_pods = 2;
	list.pods = pods;
	list.observed_mono_ns = 99;
	ul = (Kpleg__V1__ListPodsResponse *)roundtrip(&list.base);
	assert_int_equal(ul->n_pods, 2);
	assert_int_equal(ul->observed_mono_ns, 99);
	assert_pod_equal(ul->pods[0], &pod);
	assert_pod_equal(ul->pods[1], &bare_pod);
	protobuf_c_message_free_unpacked(&ul->base, NULL);

	get.pod = pods[0];
	ug = (Kpleg__V1__GetPodResponse *)roundtrip(&get.base);
	assert_non_null(ug->pod);
	assert_pod_equal(ug->pod, &pod);
	protobuf_c_message_free_unpacked(&ug->base, NULL);

	rs.reason = (char *)"behind by more than the replay buffer";
	rs.n_pods = 2;
	rs.pods = pods;
	rs.seq = 4242;
	rs.observed_mono_ns = 77;
	wr.kind_case = KPLEG__V1__WATCH_RESPONSE__KIND_RESYNC;
	wr.resync = &rs;
	wr.epoch = 0xfeedfacecafeULL;
	uw = (Kpleg__V1__WatchResponse *)roundtrip(&wr.base);
	assert_int_equal(uw->kind_case, KPLEG__V1__WATCH_RESPONSE__KIND_RESYNC);
	assert_int_equal(uw->epoch, 0xfeedfacecafeULL);
	assert_string_equal(uw->resync->reason, rs.reason);
	assert_int_equal(uw->resync->seq, 4242);
	assert_int_equal(uw->resync->observed_mono_ns, 77);
	assert_int_equal(uw->resync->n_pods, 2);
	assert_pod_equal(uw->resync->pods[0], &pod);
	protobuf_c_message_free_unpacked(&uw->base, NULL);

	api_pods_free(pods, 2);
}

/* ---- events ----------------------------------------------------------------------- */

static void fill_str(char *dst, size_t size, char c, size_t len)
{
	assert_true(len < size);
	memset(dst, c, len);
	dst[len] = '\0';
}

#define FILL(dst, c, len) fill_str((dst), sizeof(dst), (c), (len))

static void assert_event_equal(const struct kpleg_event *a, const struct kpleg_event *b)
{
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->source, b->source);
	assert_int_equal(a->observed_mono_ns, b->observed_mono_ns);
	assert_int_equal(a->observed_real_ns, b->observed_real_ns);
	assert_string_equal(a->pod_uid, b->pod_uid);
	assert_string_equal(a->pod_name, b->pod_name);
	assert_string_equal(a->pod_namespace, b->pod_namespace);
	assert_string_equal(a->sandbox_id, b->sandbox_id);
	assert_string_equal(a->container_id, b->container_id);
	assert_string_equal(a->container_name, b->container_name);
	assert_int_equal(a->has_exit_code, b->has_exit_code);
	assert_int_equal(a->exit_code, b->exit_code);
	assert_string_equal(a->reason, b->reason);
	assert_int_equal(a->provisional, b->provisional);
	assert_int_equal(a->corrected, b->corrected);
	assert_int_equal(a->kernel_mono_ns, b->kernel_mono_ns);
	assert_int_equal(a->kernel_exit_code, b->kernel_exit_code);
}

/* One event of @type from @src, every string at its longest. */
static void make_event(struct kpleg_event *ev, enum kpleg_event_type type, enum kpleg_source src)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = 1000 + type;
	ev->type = type;
	ev->source = src;
	ev->observed_mono_ns = 10331974313736ULL + type;
	ev->observed_real_ns = 1764430000123456789ULL;
	FILL(ev->pod_uid, 'u', KPLEG_ID_MAX - 1);
	FILL(ev->pod_name, 'n', KPLEG_NAME_MAX - 1);
	FILL(ev->pod_namespace, 's', KPLEG_NAME_MAX - 1);
	if (type != KPLEG_EVENT_POD_SYNC)
		FILL(ev->sandbox_id, 'b', KPLEG_ID_MAX - 1);
	if (type <= KPLEG_EVENT_CONTAINER_REMOVED || type == KPLEG_EVENT_CONTAINER_CONFIRMED) {
		FILL(ev->container_id, 'c', KPLEG_ID_MAX - 1);
		FILL(ev->container_name, 'a', KPLEG_NAME_MAX - 1);
	}
	if (type == KPLEG_EVENT_CONTAINER_DIED || type == KPLEG_EVENT_CONTAINER_CONFIRMED) {
		ev->has_exit_code = true;
		ev->exit_code = type == KPLEG_EVENT_CONTAINER_DIED ? 137 : -1;
		FILL(ev->reason, 'r', KPLEG_REASON_MAX - 1);
	}
	if (type == KPLEG_EVENT_CONTAINER_DIED && src == KPLEG_SOURCE_KERNEL) {
		ev->provisional = true;
		ev->kernel_mono_ns = ev->observed_mono_ns;
	}
	if (type == KPLEG_EVENT_CONTAINER_CONFIRMED) {
		ev->corrected = src == KPLEG_SOURCE_CRI_EVENT;
		ev->kernel_mono_ns = 10331974313000ULL;
		ev->kernel_exit_code = 143;
	}
}

static void test_event_roundtrip(void **state)
{
	unsigned n = 0;

	for (int t = KPLEG_EVENT_CONTAINER_CREATED; t <= KPLEG_EVENT_CONTAINER_CONFIRMED; t++)
		for (int s = KPLEG_SOURCE_RELIST; s <= KPLEG_SOURCE_KERNEL; s++) {
			struct kpleg_event ev, back;
			Kpleg__V1__Event m, *u;
			Kpleg__V1__WatchResponse wr = KPLEG__V1__WATCH_RESPONSE__INIT, *uw;

			make_event(&ev, t, s);
			memset(&m, 0xa5, sizeof(m)); /* any contents */
			assert_int_equal(api_event_build(&ev, &m), 0);
			assert_int_equal(m.type, t + 1);
			assert_int_equal(m.source, s + 1);
			assert_ptr_equal(m.pod_uid, ev.pod_uid); /* borrowed */

			u = (Kpleg__V1__Event *)roundtrip(&m.base);
			assert_int_equal(api_event_parse(u, &back), 0);
			assert_event_equal(&back, &ev);
			protobuf_c_message_free_unpacked(&u->base, NULL);

			/* The same inside a WatchResponse. */
			wr.kind_case = KPLEG__V1__WATCH_RESPONSE__KIND_EVENT;
			wr.event = &m;
			wr.epoch = 5;
			uw = (Kpleg__V1__WatchResponse *)roundtrip(&wr.base);
			assert_int_equal(uw->kind_case, KPLEG__V1__WATCH_RESPONSE__KIND_EVENT);
			assert_int_equal(api_event_parse(uw->event, &back), 0);
			assert_event_equal(&back, &ev);
			protobuf_c_message_free_unpacked(&uw->base, NULL);
			n++;
		}
	assert_int_equal(n, 9 * 3);
}

static void test_event_edges(void **state)
{
	struct kpleg_event ev, back;
	Kpleg__V1__Event m, *u;
	char *s;

	/* exit_code is not sent without has_exit_code. */
	make_event(&ev, KPLEG_EVENT_CONTAINER_STARTED, KPLEG_SOURCE_RELIST);
	ev.exit_code = 55;
	assert_int_equal(api_event_build(&ev, &m), 0);
	assert_false(m.has_exit_code);
	assert_int_equal(m.exit_code, 0);
	/* has_exit_code with exit code 0 survives the wire. */
	make_event(&ev, KPLEG_EVENT_CONTAINER_DIED, KPLEG_SOURCE_RELIST);
	ev.exit_code = 0;
	assert_int_equal(api_event_build(&ev, &m), 0);
	u = (Kpleg__V1__Event *)roundtrip(&m.base);
	assert_true(u->has_exit_code);
	assert_int_equal(u->exit_code, 0);
	protobuf_c_message_free_unpacked(&u->base, NULL);

	/* Outside the enums, unterminated strings. */
	ev.type = (enum kpleg_event_type)(KPLEG_EVENT_CONTAINER_CONFIRMED + 1);
	assert_int_equal(api_event_build(&ev, &m), -EINVAL);
	make_event(&ev, KPLEG_EVENT_CONTAINER_DIED, KPLEG_SOURCE_RELIST);
	ev.source = (enum kpleg_source)3;
	assert_int_equal(api_event_build(&ev, &m), -EINVAL);
	make_event(&ev, KPLEG_EVENT_CONTAINER_DIED, KPLEG_SOURCE_RELIST);
	memset(ev.container_name, 'x', sizeof(ev.container_name));
	assert_int_equal(api_event_build(&ev, &m), -EINVAL);
	assert_int_equal(api_event_build(NULL, &m), -EINVAL);

	/* Parsing: missing or unknown enums, strings too long, reason cut. */
	make_event(&ev, KPLEG_EVENT_CONTAINER_DIED, KPLEG_SOURCE_KERNEL);
	assert_int_equal(api_event_build(&ev, &m), 0);
	memset(&back, 0x5a, sizeof(back));
	m.type = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED;
	assert_int_equal(api_event_parse(&m, &back), -EPROTO);
	m.type = (Kpleg__V1__EventType)42;
	assert_int_equal(api_event_parse(&m, &back), -EPROTO);
	m.type = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_DIED;
	m.source = KPLEG__V1__SOURCE__SOURCE_UNSPECIFIED;
	assert_int_equal(api_event_parse(&m, &back), -EPROTO);
	m.source = KPLEG__V1__SOURCE__SOURCE_KERNEL;
	s = rep('u', KPLEG_ID_MAX);
	m.pod_uid = s;
	assert_int_equal(api_event_parse(&m, &back), -EPROTO);
	assert_int_equal((unsigned char)back.pod_uid[0], 0x5a); /* untouched */
	free(s);
	m.pod_uid = ev.pod_uid;
	s = rep('n', KPLEG_NAME_MAX);
	m.namespace_ = s;
	assert_int_equal(api_event_parse(&m, &back), -EPROTO);
	free(s);
	m.namespace_ = ev.pod_namespace;
	s = rep('r', 300);
	m.reason = s;
	assert_int_equal(api_event_parse(&m, &back), 0);
	assert_int_equal(strlen(back.reason), KPLEG_REASON_MAX - 1);
	free(s);
	m.reason = NULL; /* a hand-built message */
	m.container_id = NULL;
	assert_int_equal(api_event_parse(&m, &back), 0);
	assert_string_equal(back.reason, "");
	assert_string_equal(back.container_id, "");
}

/* ---- status ----------------------------------------------------------------------- */

static void test_status(void **state)
{
	struct kpleg_health h = {
		.healthy = false, .synced = true, .last_relist_mono_ns = 101,
		.relists = 102, .relist_failures = 103, .fetches = 104, .fetch_failures = 105,
		.fetches_pending = 106, .events_supported = true, .events_connected = false,
		.events_received = 107, .events_rejected = 108, .stale_dropped = 109,
		.stream_errors = 110, .stream_connects = 111, .events_emitted = 112,
		.subscriber_drops = 113, .pods = 114, .containers = 115, .bpf_active = true,
		.hints_received = 116, .hints_lost = 117, .hints_unresolved = 118,
		.provisional = 119, .provisional_confirmed = 120, .provisional_corrected = 121,
		.missed_events = 122, .relist_period_ms = 10000,
	};
	struct api_status_extra x = {
		.runtime_endpoint = "unix:///run/kpleg-test/cd17/containerd.sock",
		.runtime_name = "containerd", .runtime_version = "1.7.24~ds1",
		.runtime_api_version = "v1", .mode = KPLEG_MODE_EVENTED, .watchers = 3,
		.start_mono_ns = 201, .start_real_ns = 202, .now_mono_ns = 203, .epoch = 204,
	};
	_cleanup_(api_status_freep) Kpleg__V1__StatusResponse *m = NULL;
	Kpleg__V1__StatusResponse *u, *sentinel = (Kpleg__V1__StatusResponse *)&h;

	snprintf(h.reason, sizeof(h.reason), "no successful relist for 1913 ms");
	snprintf(h.bpf_state, sizeof(h.bpf_state), "active (memory hierarchy)");
	assert_int_equal(api_status_build(&h, &x, &m), 0);
	/* Copied, not borrowed. */
	assert_ptr_not_equal(m->runtime_endpoint, x.runtime_endpoint);
	assert_ptr_not_equal(m->kernel_hints->bpf_state, h.bpf_state);
	u = (Kpleg__V1__StatusResponse *)roundtrip(&m->base);
	assert_string_equal(u->runtime_endpoint, x.runtime_endpoint);
	assert_string_equal(u->runtime_name, "containerd");
	assert_string_equal(u->runtime_version, "1.7.24~ds1");
	assert_string_equal(u->runtime_api_version, "v1");
	assert_int_equal(u->mode, KPLEG__V1__MODE__MODE_EVENTED);
	assert_false(u->healthy);
	assert_string_equal(u->unhealthy_reason, h.reason);
	assert_true(u->synced);
	assert_non_null(u->relist);
	assert_int_equal(u->relist->relists, 102);
	assert_int_equal(u->relist->failures, 103);
	assert_int_equal(u->relist->last_relist_mono_ns, 101);
	assert_int_equal(u->relist->period_ms, 10000);
	assert_non_null(u->cri_events);
	assert_true(u->cri_events->supported);
	assert_false(u->cri_events->connected);
	assert_int_equal(u->cri_events->received, 107);
	assert_int_equal(u->cri_events->rejected, 108);
	assert_int_equal(u->cri_events->connects, 111);
	assert_int_equal(u->cri_events->errors, 110);
	assert_non_null(u->kernel_hints);
	assert_true(u->kernel_hints->bpf_active);
	assert_string_equal(u->kernel_hints->bpf_state, "active (memory hierarchy)");
	assert_int_equal(u->kernel_hints->hints_received, 116);
	assert_int_equal(u->kernel_hints->hints_lost, 117);
	assert_int_equal(u->kernel_hints->hints_unresolved, 118);
	assert_int_equal(u->kernel_hints->provisional, 119);
	assert_int_equal(u->kernel_hints->provisional_confirmed, 120);
	assert_int_equal(u->kernel_hints->provisional_corrected, 121);
	assert_int_equal(u->pods, 114);
	assert_int_equal(u->containers, 115);
	assert_int_equal(u->events_emitted, 112);
	assert_int_equal(u->subscriber_drops, 113);
	assert_int_equal(u->stale_dropped, 109);
	assert_int_equal(u->fetches, 104);
	assert_int_equal(u->fetch_failures, 105);
	assert_int_equal(u->fetches_pending, 106);
	assert_int_equal(u->missed_events, 122);
	assert_int_equal(u->watchers, 3);
	assert_int_equal(u->start_mono_ns, 201);
	assert_int_equal(u->start_real_ns, 202);
	assert_int_equal(u->now_mono_ns, 203);
	assert_int_equal(u->epoch, 204);
	protobuf_c_message_free_unpacked(&u->base, NULL);
	api_status_free(m);
	m = NULL;

	/* Healthy: no stale reason; no extra: "" and auto; reason unterminated. */
	h.healthy = true;
	memset(h.bpf_state, 'q', sizeof(h.bpf_state));
	assert_int_equal(api_status_build(&h, NULL, &m), 0);
	assert_string_equal(m->unhealthy_reason, "");
	assert_string_equal(m->runtime_endpoint, "");
	assert_int_equal(m->mode, KPLEG__V1__MODE__MODE_AUTO);
	assert_true(m->now_mono_ns > 0);
	assert_int_equal(strlen(m->kernel_hints->bpf_state), sizeof(h.bpf_state));
	u = (Kpleg__V1__StatusResponse *)roundtrip(&m->base);
	assert_string_equal(u->unhealthy_reason, "");
	protobuf_c_message_free_unpacked(&u->base, NULL);

	/* A mode outside the enum. */
	x.mode = (enum kpleg_mode)3;
	u = sentinel;
	assert_int_equal(api_status_build(&h, &x, &u), -EINVAL);
	assert_ptr_equal(u, sentinel);
	assert_int_equal(api_status_build(NULL, &x, &u), -EINVAL);
	api_status_free(NULL);
}

/* ---- filters ---------------------------------------------------------------------- */

typedef Kpleg__V1__ListPodsRequest__LabelSelectorEntry Entry;

static bool list_match(const struct kpleg_pod_status *p, const char *ns, size_t n, ...)
{
	Kpleg__V1__ListPodsRequest req = KPLEG__V1__LIST_PODS_REQUEST__INIT;
	Entry e[8], *ep[8];
	va_list ap;

	assert_true(n <= 8);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		e[i] = (Entry)KPLEG__V1__LIST_PODS_REQUEST__LABEL_SELECTOR_ENTRY__INIT;
		e[i].key = va_arg(ap, char *);
		e[i].value = va_arg(ap, char *);
		ep[i] = &e[i];
	}
	va_end(ap);
	req.namespace_ = (char *)ns;
	req.n_label_selector = n;
	req.label_selector = ep;
	assert_int_equal(api_validate_list_pods(&req, NULL, 0), 0);
	return api_pod_matches(p, &req);
}

static void test_list_filter(void **state)
{
	assert_true(api_pod_matches(&pod, NULL));
	assert_true(list_match(&pod, "", 0));
	assert_true(list_match(&pod, "shop", 0));
	assert_false(list_match(&pod, "shop2", 0));
	assert_false(list_match(&pod, "sho", 0));
	/* Labels: all of them on one sandbox. */
	assert_true(list_match(&pod, "", 1, "app", "web"));
	assert_true(list_match(&pod, "shop", 2, "app", "web", "tier", "back"));
	assert_true(list_match(&pod, "", 2, "tier", "front", "io.kubernetes.pod.uid", UID));
	assert_false(list_match(&pod, "", 2, "tier", "back", "io.kubernetes.pod.uid", UID));
	assert_false(list_match(&pod, "", 1, "app", "we"));
	assert_false(list_match(&pod, "", 1, "ap", "web"));
	assert_false(list_match(&pod, "", 1, "app", ""));
	assert_true(list_match(&pod, "", 1, "empty", ""));
	assert_false(list_match(&pod, "", 1, "empty", "x"));
	assert_false(list_match(&pod, "other", 1, "app", "web"));
	/* No sandbox: only an empty selector. */
	assert_true(list_match(&bare_pod, "default", 0));
	assert_false(list_match(&bare_pod, "", 1, "app", "web"));
}

static Kpleg__V1__WatchRequest watch_req(const char *ns, const char *uid, size_t n,
					 Kpleg__V1__EventType *types)
{
	Kpleg__V1__WatchRequest r = KPLEG__V1__WATCH_REQUEST__INIT;

	r.namespace_ = (char *)ns;
	r.pod_uid = (char *)uid;
	r.n_types = n;
	r.types = types;
	return r;
}

static void test_watch_filter(void **state)
{
	Kpleg__V1__EventType died[] = { KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_DIED };
	Kpleg__V1__EventType two[] = { KPLEG__V1__EVENT_TYPE__EVENT_TYPE_SANDBOX_READY,
				       KPLEG__V1__EVENT_TYPE__EVENT_TYPE_CONTAINER_CONFIRMED };
	Kpleg__V1__EventType junk[] = { (Kpleg__V1__EventType)0, (Kpleg__V1__EventType)99 };
	Kpleg__V1__WatchRequest r;
	struct kpleg_event ev;
	char *s;

	make_event(&ev, KPLEG_EVENT_CONTAINER_DIED, KPLEG_SOURCE_KERNEL);
	snprintf(ev.pod_namespace, sizeof(ev.pod_namespace), "shop");
	snprintf(ev.pod_uid, sizeof(ev.pod_uid), UID);

	assert_true(api_event_matches(&ev, NULL));
	r = watch_req("", "", 0, NULL);
	assert_true(api_event_matches(&ev, &r));
	r = watch_req("shop", "", 0, NULL);
	assert_true(api_event_matches(&ev, &r));
	r = watch_req("shopx", "", 0, NULL);
	assert_false(api_event_matches(&ev, &r));
	r = watch_req("", UID, 0, NULL);
	assert_true(api_event_matches(&ev, &r));
	r = watch_req("shop", "other-uid", 0, NULL);
	assert_false(api_event_matches(&ev, &r));
	r = watch_req("shop", UID, 1, died);
	assert_true(api_event_matches(&ev, &r));
	r = watch_req("", "", 2, two);
	assert_false(api_event_matches(&ev, &r));
	ev.type = KPLEG_EVENT_CONTAINER_CONFIRMED;
	assert_true(api_event_matches(&ev, &r));
	ev.type = KPLEG_EVENT_SANDBOX_READY;
	assert_true(api_event_matches(&ev, &r));
	/* Unvalidated junk never matches, never crashes. */
	r = watch_req("", "", 2, junk);
	assert_false(api_event_matches(&ev, &r));
	r = watch_req("", "", 2, NULL);
	assert_false(api_event_matches(&ev, &r));
	/* A filter longer than the event's field. */
	make_event(&ev, KPLEG_EVENT_POD_SYNC, KPLEG_SOURCE_RELIST);
	s = rep('s', KPLEG_NAME_MAX + 10);
	r = watch_req(s, "", 0, NULL);
	assert_false(api_event_matches(&ev, &r));
	s[KPLEG_NAME_MAX - 1] = '\0';
	assert_true(api_event_matches(&ev, &r));
	free(s);

	/* Resync snapshots: namespace and pod_uid, not types. */
	r = watch_req("shop", UID, 1, died);
	assert_true(api_pod_matches_watch(&pod, &r));
	assert_false(api_pod_matches_watch(&bare_pod, &r));
	r = watch_req("default", "", 0, NULL);
	assert_true(api_pod_matches_watch(&bare_pod, &r));
	assert_false(api_pod_matches_watch(&pod, &r));
	r = watch_req("", "u2", 0, NULL);
	assert_true(api_pod_matches_watch(&bare_pod, &r));
	assert_true(api_pod_matches_watch(&pod, NULL));
}

/* ---- validation ------------------------------------------------------------------- */

#define assert_rejects(call, field)                                                    \
	do {                                                                           \
		char err_[256] = "";                                                   \
		int r_ = (call(err_, sizeof(err_)));                                   \
		if (r_ != -EINVAL || !strstr(err_, field))                             \
			fail_msg("%s: got %d \"%s\", want -EINVAL naming %s", #call, r_, \
				 err_, field);                                         \
	} while (0)

static Kpleg__V1__ListPodsRequest *g_list;
static Kpleg__V1__GetPodRequest *g_get;
static Kpleg__V1__WatchRequest *g_watch;

static int v_list(char *err, size_t n)
{
	return api_validate_list_pods(g_list, err, n);
}

static int v_get(char *err, size_t n)
{
	return api_validate_get_pod(g_get, err, n);
}

static int v_watch(char *err, size_t n)
{
	return api_validate_watch(g_watch, err, n);
}

static void test_validate_list(void **state)
{
	Kpleg__V1__ListPodsRequest r = KPLEG__V1__LIST_PODS_REQUEST__INIT;
	Entry e[API_SELECTOR_MAX + 1], *ep[API_SELECTOR_MAX + 1];
	char keys[API_SELECTOR_MAX + 1][8];
	char *ns_ok = rep('s', KPLEG_NAME_MAX - 1), *ns_long = rep('s', KPLEG_NAME_MAX);
	char *l_ok = rep('k', API_LABEL_LEN_MAX), *l_long = rep('k', API_LABEL_LEN_MAX + 1);

	g_list = &r;
	for (size_t i = 0; i < ARRAY_SIZE(e); i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		e[i] = (Entry)KPLEG__V1__LIST_PODS_REQUEST__LABEL_SELECTOR_ENTRY__INIT;
		e[i].key = keys[i];
		e[i].value = (char *)"v";
		ep[i] = &e[i];
	}
	assert_int_equal(v_list(NULL, 0), 0);
	r.namespace_ = ns_ok;
	assert_int_equal(v_list(NULL, 0), 0);
	r.namespace_ = ns_long;
	assert_rejects(v_list, "namespace");
	r.namespace_ = (char *)"shop";
	r.label_selector = ep;
	r.n_label_selector = API_SELECTOR_MAX;
	assert_int_equal(v_list(NULL, 0), 0);
	r.n_label_selector = API_SELECTOR_MAX + 1;
	assert_rejects(v_list, "label_selector");
	r.n_label_selector = 3;
	e[1].key = l_ok;
	e[1].value = l_ok;
	assert_int_equal(v_list(NULL, 0), 0);
	e[1].key = l_long;
	assert_rejects(v_list, "label_selector: key");
	e[1].key = l_ok;
	e[1].value = l_long;
	assert_rejects(v_list, "label_selector: value");
	e[1].value = (char *)"";
	assert_int_equal(v_list(NULL, 0), 0);
	e[1].key = (char *)"";
	assert_rejects(v_list, "label_selector: empty key");
	e[1].key = keys[0];
	assert_rejects(v_list, "given twice");
	e[1].key = keys[1];
	ep[2] = NULL;
	assert_rejects(v_list, "label_selector");
	r.label_selector = NULL;
	assert_rejects(v_list, "label_selector");
	g_list = NULL;
	assert_rejects(v_list, "request");
	free(ns_ok);
	free(ns_long);
	free(l_ok);
	free(l_long);
}

static void test_validate_get(void **state)
{
	Kpleg__V1__GetPodRequest r = KPLEG__V1__GET_POD_REQUEST__INIT;
	char *uid_ok = rep('u', KPLEG_ID_MAX - 1), *uid_long = rep('u', KPLEG_ID_MAX);
	char *name_ok = rep('n', KPLEG_NAME_MAX - 1), *name_long = rep('n', KPLEG_NAME_MAX);
	char err[8];

	g_get = &r;
	assert_rejects(v_get, "uid: required");
	r.uid = uid_ok;
	assert_int_equal(v_get(NULL, 0), 0);
	r.uid = uid_long;
	assert_rejects(v_get, "uid: longer than 128");
	r.uid = (char *)UID;
	r.name = (char *)"web-0";
	assert_rejects(v_get, "not both");
	r.name = (char *)"";
	r.namespace_ = (char *)"shop";
	assert_rejects(v_get, "not both");
	r.uid = (char *)"";
	assert_rejects(v_get, "name: required with namespace");
	r.name = name_ok;
	r.namespace_ = name_ok;
	assert_int_equal(v_get(NULL, 0), 0);
	r.name = name_long;
	assert_rejects(v_get, "name: longer than 253");
	r.name = name_ok;
	r.namespace_ = name_long;
	assert_rejects(v_get, "namespace: longer than 253");
	r.namespace_ = NULL; /* a hand-built message */
	assert_rejects(v_get, "namespace: required with name");

	/* Freshness: now is fine, the future is not. */
	r.namespace_ = (char *)"shop";
	r.min_observed_mono_ns = kpleg_now_mono_ns();
	assert_int_equal(v_get(NULL, 0), 0);
	r.min_observed_mono_ns = kpleg_now_mono_ns() + 3600 * NSEC_PER_SEC;
	assert_rejects(v_get, "min_observed_mono_ns");
	/* A short buffer still gets a terminated message. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(api_validate_get_pod(&r, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	g_get = NULL;
	assert_rejects(v_get, "request");
	free(uid_ok);
	free(uid_long);
	free(name_ok);
	free(name_long);
}

static void test_validate_watch(void **state)
{
	Kpleg__V1__EventType types[API_TYPES_MAX + 1];
	Kpleg__V1__WatchRequest r = KPLEG__V1__WATCH_REQUEST__INIT, *u;
	char *uid_long = rep('u', KPLEG_ID_MAX), *ns_long = rep('n', KPLEG_NAME_MAX);

	g_watch = &r;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		types[i] = (Kpleg__V1__EventType)(1 + i % 9);
	assert_int_equal(v_watch(NULL, 0), 0);
	r.from_seq = UINT64_MAX;
	r.epoch = 1;
	r.types = types;
	r.n_types = API_TYPES_MAX;
	assert_int_equal(v_watch(NULL, 0), 0);
	r.n_types = API_TYPES_MAX + 1;
	assert_rejects(v_watch, "types: 33 entries");
	r.n_types = 3;
	types[1] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED;
	assert_rejects(v_watch, "types[1]");
	types[1] = (Kpleg__V1__EventType)10;
	assert_rejects(v_watch, "types[1]: 10");
	types[1] = (Kpleg__V1__EventType)-3;
	assert_rejects(v_watch, "types[1]");
	types[1] = KPLEG__V1__EVENT_TYPE__EVENT_TYPE_POD_SYNC;
	r.pod_uid = uid_long;
	assert_rejects(v_watch, "pod_uid");
	r.pod_uid = (char *)UID;
	r.namespace_ = ns_long;
	assert_rejects(v_watch, "namespace");
	r.namespace_ = (char *)"shop";
	assert_int_equal(v_watch(NULL, 0), 0);

	/* protobuf-c passes unknown enum values through the wire: the
	 * validator is what stops them. */
	types[2] = (Kpleg__V1__EventType)99;
	u = (Kpleg__V1__WatchRequest *)roundtrip(&r.base);
	assert_int_equal(u->n_types, 3);
	assert_int_equal(u->types[2], 99);
	g_watch = u;
	assert_rejects(v_watch, "types[2]: 99");
	protobuf_c_message_free_unpacked(&u->base, NULL);
	g_watch = NULL;
	assert_rejects(v_watch, "request");
	free(uid_long);
	free(ns_long);
}

/* ---- fuzz --------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Decodes @b as each request type (and as an Event, for clients), then
 * validates and matches whatever decodes. Returns how many decoded. */
static unsigned decode_all(const uint8_t *b, size_t len)
{
	struct kpleg_event ev;
	char err[128];
	unsigned ok = 0;
	ProtobufCMessage *m;

	make_event(&ev, KPLEG_EVENT_CONTAINER_DIED, KPLEG_SOURCE_KERNEL);
	m = protobuf_c_message_unpack(&kpleg__v1__list_pods_request__descriptor, NULL, len, b);
	if (m) {
		Kpleg__V1__ListPodsRequest *r = (Kpleg__V1__ListPodsRequest *)m;

		if (api_validate_list_pods(r, err, sizeof(err)) == 0)
			(void)api_pod_matches(&pod, r);
		(void)api_pod_matches(&bare_pod, r); /* unvalidated: must not crash either */
		protobuf_c_message_free_unpacked(m, NULL);
		ok++;
	}
	m = protobuf_c_message_unpack(&kpleg__v1__get_pod_request__descriptor, NULL, len, b);
	if (m) {
		(void)api_validate_get_pod((Kpleg__V1__GetPodRequest *)m, err, sizeof(err));
		protobuf_c_message_free_unpacked(m, NULL);
		ok++;
	}
	m = protobuf_c_message_unpack(&kpleg__v1__watch_request__descriptor, NULL, len, b);
	if (m) {
		Kpleg__V1__WatchRequest *r = (Kpleg__V1__WatchRequest *)m;

		(void)api_validate_watch(r, err, sizeof(err));
		(void)api_event_matches(&ev, r);
		(void)api_pod_matches_watch(&pod, r);
		protobuf_c_message_free_unpacked(m, NULL);
		ok++;
	}
	m = protobuf_c_message_unpack(&kpleg__v1__status_request__descriptor, NULL, len, b);
	if (m) {
		protobuf_c_message_free_unpacked(m, NULL);
		ok++;
	}
	m = protobuf_c_message_unpack(&kpleg__v1__event__descriptor, NULL, len, b);
	if (m) {
		(void)api_event_parse((Kpleg__V1__Event *)m, &ev);
		protobuf_c_message_free_unpacked(m, NULL);
		ok++;
	}
	return ok;
}

#define FUZZ_ROUNDS 20000

static void test_fuzz_random(void **state)
{
	uint8_t b[256];
	unsigned decoded = 0;

	rng = 0x9e3779b97f4a7c15ULL;
	for (unsigned i = 0; i < FUZZ_ROUNDS; i++) {
		size_t len = next_rand() % sizeof(b);

		for (size_t j = 0; j < len; j++)
			b[j] = (uint8_t)next_rand();
		decoded += decode_all(b, len);
	}
	print_message("fuzz: %u random inputs, %u decodes\n", FUZZ_ROUNDS, decoded);
}

/* Valid requests with a few bytes changed decode far more often than random
 * bytes, and reach the validators with odd contents. */
static void test_fuzz_mutate(void **state)
{
	Kpleg__V1__EventType types[] = { 1, 3, 9 };
	Kpleg__V1__ListPodsRequest lr = KPLEG__V1__LIST_PODS_REQUEST__INIT;
	Kpleg__V1__GetPodRequest gr = KPLEG__V1__GET_POD_REQUEST__INIT;
	Kpleg__V1__WatchRequest wr = watch_req("shop", UID, 3, types);
	Entry e[3], *ep[3];
	const ProtobufCMessage *seeds[] = { &lr.base, &gr.base, &wr.base };
	unsigned decoded = 0;

	for (size_t i = 0; i < 3; i++) {
		e[i] = (Entry)KPLEG__V1__LIST_PODS_REQUEST__LABEL_SELECTOR_ENTRY__INIT;
		e[i].key = (char *)labels0[i + 2].key;
		e[i].value = (char *)labels0[i + 2].value;
		ep[i] = &e[i];
	}
	lr.namespace_ = (char *)"shop";
	lr.n_label_selector = 3;
	lr.label_selector = ep;
	gr.namespace_ = (char *)"shop";
	gr.name = (char *)"web-0";
	gr.min_observed_mono_ns = 12345;
	wr.from_seq = 77;
	wr.epoch = 99;

	rng = 0x2545f4914f6cdd1dULL;
	for (size_t s = 0; s < ARRAY_SIZE(seeds); s++) {
		size_t len;
		uint8_t *seed = pack(seeds[s], &len), *b = malloc(len + 8);

		assert_non_null(b);
		assert_true(decode_all(seed, len) >= 1);
		for (unsigned i = 0; i < FUZZ_ROUNDS; i++) {
			size_t n = len, flips = 1 + next_rand() % 4;

			memcpy(b, seed, len);
			for (size_t f = 0; f < flips; f++)
				b[next_rand() % len] = (uint8_t)next_rand();
			if (next_rand() % 4 == 0)
				n = next_rand() % (len + 1); /* truncated */
			decoded += decode_all(b, n);
		}
		free(b);
		free(seed);
	}
	print_message("fuzz: %u mutated inputs, %u decodes\n", 3 * FUZZ_ROUNDS, decoded);
	assert_true(decoded > FUZZ_ROUNDS); /* the mutations do reach the validators */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enum_tables),
		cmocka_unit_test(test_pod_roundtrip),
		cmocka_unit_test(test_pod_bare_and_invalid),
		cmocka_unit_test(test_pod_containers),
		cmocka_unit_test(test_event_roundtrip),
		cmocka_unit_test(test_event_edges),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_list_filter),
		cmocka_unit_test(test_watch_filter),
		cmocka_unit_test(test_validate_list),
		cmocka_unit_test(test_validate_get),
		cmocka_unit_test(test_validate_watch),
		cmocka_unit_test(test_fuzz_random),
		cmocka_unit_test(test_fuzz_mutate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
