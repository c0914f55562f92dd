// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: kpleg API requests as the daemon handles them
 * (user/daemon_api.c): api_request_decode() of the method's request type,
 * the method's validator, then the filters the daemon runs with a valid
 * request (ListPods' label selector, Watch's pod and event filters) against
 * a few pods and events. Also the client side of Watch: a WatchResponse
 * decoded and its Event parsed back (api_event_parse). Input: one byte
 * choosing the message type, then the encoded message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_convert.h"

#define CHECK(x)                                                                          \
	do {                                                                              \
		if (!(x))                                                                 \
			abort();                                                          \
	} while (0)

static const struct kpleg_label labels[] = {
	{ "app", "web" }, { "io.kubernetes.pod.name", "web-0" }, { "empty", "" },
};
static const struct kpleg_sandbox_status sandboxes[] = {
	{ .id = "sb1", .state = KPLEG_SANDBOX_READY, .ip = "", .n_labels = 3, .labels = labels },
	{ .id = "sb0", .state = KPLEG_SANDBOX_NOTREADY, .ip = "10.0.0.1" },
};
static const struct kpleg_container_status containers[] = {
	{ .id = "c1", .sandbox_id = "sb1", .name = "app", .state = KPLEG_CONTAINER_RUNNING,
	  .reason = "", .message = "", .image = "img" },
};
static const struct kpleg_pod_status pods[] = {
	{ .uid = "11111111-2222-3333-4444-555555555555", .name = "web-0", .namespace_ = "shop",
	  .n_sandboxes = 2, .sandboxes = sandboxes, .n_containers = 1, .containers = containers },
	{ .uid = "u2", .name = "", .namespace_ = "" },
};

static void events(struct kpleg_event ev[2])
{
	memset(ev, 0, 2 * sizeof(*ev));
	ev[0].type = KPLEG_EVENT_CONTAINER_DIED;
	strcpy(ev[0].pod_uid, pods[0].uid);
	strcpy(ev[0].pod_namespace, "shop");
	ev[1].type = KPLEG_EVENT_CONTAINER_CONFIRMED;
	strcpy(ev[1].pod_uid, "u2");
}

static const ProtobufCMessageDescriptor *const descs[] = {
	&kpleg__v1__status_request__descriptor, &kpleg__v1__list_pods_request__descriptor,
	&kpleg__v1__get_pod_request__descriptor, &kpleg__v1__watch_request__descriptor,
	&kpleg__v1__watch_response__descriptor,
};

static void use(const ProtobufCMessageDescriptor *d, ProtobufCMessage *m)
{
	struct kpleg_event ev[2], back;
	char err[256];
	int e;

	if (d == &kpleg__v1__list_pods_request__descriptor) {
		Kpleg__V1__ListPodsRequest *r = (Kpleg__V1__ListPodsRequest *)m;

		e = api_validate_list_pods(r, err, sizeof(err));
		CHECK(e == 0 || (e == -EINVAL && memchr(err, 0, sizeof(err))));
		for (size_t i = 0; e == 0 && i < ARRAY_SIZE(pods); i++)
			(void)api_pod_matches(&pods[i], r);
	} else if (d == &kpleg__v1__get_pod_request__descriptor) {
		e = api_validate_get_pod((Kpleg__V1__GetPodRequest *)m, err, sizeof(err));
		CHECK(e == 0 || (e == -EINVAL && memchr(err, 0, sizeof(err))));
	} else if (d == &kpleg__v1__watch_request__descriptor) {
		Kpleg__V1__WatchRequest *r = (Kpleg__V1__WatchRequest *)m;

		e = api_validate_watch(r, err, sizeof(err));
		CHECK(e == 0 || (e == -EINVAL && memchr(err, 0, sizeof(err))));
		events(ev);
		for (size_t i = 0; e == 0 && i < ARRAY_SIZE(pods); i++)
			(void)api_pod_matches_watch(&pods[i], r);
		for (size_t i = 0; e == 0 && i < 2; i++)
			(void)api_event_matches(&ev[i], r);
	} else if (d == &kpleg__v1__watch_response__descriptor) {
		Kpleg__V1__WatchResponse *r = (Kpleg__V1__WatchResponse *)m;

		if (r->kind_case == KPLEG__V1__WATCH_RESPONSE__KIND_EVENT && r->event) {
			e = api_event_parse(r->event, &back);
			CHECK(e == 0 || e == -EPROTO);
			if (e == 0)
				CHECK(memchr(back.pod_uid, 0, sizeof(back.pod_uid)) &&
				      memchr(back.reason, 0, sizeof(back.reason)) &&
				      memchr(back.container_name, 0, sizeof(back.container_name)));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m = NULL;
	uint8_t *buf;
	char err[128];
	int e;

	if (size < 1)
		return 0;
	d = descs[data[0] % ARRAY_SIZE(descs)];
	/* Exactly the request's bytes, as rpc_call_request hands them out. */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	e = api_request_decode(d, buf, size - 1, &m, err, sizeof(err));
	if (e < 0) {
		CHECK((e == -EBADMSG || e == -EMSGSIZE) && memchr(err, 0, sizeof(err)));
		CHECK(e != -EMSGSIZE || size - 1 > API_REQUEST_MAX);
	} else {
		use(d, m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	free(buf);
	return 0;
}
