/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kpleg's structs <-> the kpleg.v1 messages of proto/kpleg.proto, for the
 * daemon's gRPC API: building replies, matching filters, validating requests.
 *
 * Ownership, per builder:
 *   - api_pod_build() BORROWS every string from the kpleg_pod_status: the
 *     message is one allocation holding only the message structs and pointer
 *     arrays. Free it with api_pod_free() before kpleg_pod_status__free() of
 *     its source, and never with protobuf_c_message_free_unpacked().
 *   - api_event_build() fills a caller-provided message that BORROWS the
 *     event's strings: nothing to free; the event must outlive the message.
 *   - api_status_build() COPIES everything: one allocation, api_status_free().
 * Enum values: proto = C + 1 for every enum (0 is *_UNSPECIFIED), see the
 * top of proto/kpleg.proto.
 *
 * Validators return 0 or -EINVAL with a message naming the field in @err
 * (always NUL-terminated when @n > 0). Matchers accept NULL (match all) and
 * expect a validated request but never read out of bounds on others.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpleg/kpleg.h"
#include "kpleg.pb-c.h"
#include "util.h"

/* Request bounds (besides KPLEG_ID_MAX - 1 for UIDs and KPLEG_NAME_MAX - 1
 * for names and namespaces). */
#define API_SELECTOR_MAX 64	/* label_selector entries */
#define API_LABEL_LEN_MAX 255	/* bytes in a selector key or value */
#define API_TYPES_MAX 32	/* WatchRequest.types entries */
#define API_REQUEST_MAX 65536	/* bytes of one request, checked before decoding */

/* @p as a Pod message in one allocation, borrowing @p's strings (see above).
 * 0, -EINVAL on a state outside the enums, -ENOMEM; *@ret untouched on failure. */
int api_pod_build(const struct kpleg_pod_status *p, Kpleg__V1__Pod **ret);
/* Frees a message from api_pod_build(); NULL-safe. */
void api_pod_free(Kpleg__V1__Pod *m);
/* api_pod_free()s @n messages, then free()s the array; NULL-safe. For
 * ListPodsResponse.pods and Resync.pods built into a malloc'ed array. */
void api_pods_free(Kpleg__V1__Pod **pods, size_t n);

/* Fills @ret (any contents) from @ev, borrowing @ev's strings.
 * 0, or -EINVAL on a type or source outside the enums or an unterminated
 * string (@ret then unspecified). */
int api_event_build(const struct kpleg_event *ev, Kpleg__V1__Event *ret);
/* The reverse, for clients: copies @m into @ret. -EPROTO on a missing or
 * unknown enum value or a string too long for struct kpleg_event (reasons
 * are truncated to KPLEG_REASON_MAX - 1 like the library does). */
int api_event_parse(const Kpleg__V1__Event *m, struct kpleg_event *ret);

/* What struct kpleg_health lacks for a StatusResponse. Strings may be NULL
 * (sent as ""). */
struct api_status_extra {
	const char *runtime_endpoint;
	const char *runtime_name, *runtime_version, *runtime_api_version;
	enum kpleg_mode mode;
	uint32_t watchers;		/* open Watch streams */
	uint64_t start_mono_ns, start_real_ns;	/* when the daemon started */
	uint64_t now_mono_ns;		/* 0: kpleg_now_mono_ns() at the call */
	uint64_t epoch;			/* this daemon run, see WatchResponse.epoch */
	uint64_t oldest_seq, last_seq;	/* the replay buffer's span */
};

/* A StatusResponse from @h and @x (NULL: all zero) that owns all its memory
 * (one allocation). 0, -EINVAL on a mode outside the enum, -ENOMEM. */
int api_status_build(const struct kpleg_health *h, const struct api_status_extra *x,
		     Kpleg__V1__StatusResponse **ret);
void api_status_free(Kpleg__V1__StatusResponse *m);

/* ListPods: namespace, and one sandbox carrying every selector label. */
bool api_pod_matches(const struct kpleg_pod_status *p, const Kpleg__V1__ListPodsRequest *req);
/* A Resync snapshot: the watch's namespace and pod_uid (not its types). */
bool api_pod_matches_watch(const struct kpleg_pod_status *p, const Kpleg__V1__WatchRequest *req);
/* Watch: namespace, pod_uid and types. */
bool api_event_matches(const struct kpleg_event *ev, const Kpleg__V1__WatchRequest *req);

/* Decodes a request of @n bytes as @desc into *@ret (free with
 * protobuf_c_message_free_unpacked(*ret, NULL)): 0, -EMSGSIZE past
 * API_REQUEST_MAX bytes (checked before decoding), -EBADMSG when it does not
 * decode; @err says which. Validate the result with api_validate_*(). */
int api_request_decode(const ProtobufCMessageDescriptor *desc, const void *buf, size_t n,
		       ProtobufCMessage **ret, char *err, size_t errn);
int api_validate_list_pods(const Kpleg__V1__ListPodsRequest *r, char *err, size_t n);
/* Also rejects min_observed_mono_ns later than the daemon's CLOCK_MONOTONIC now. */
int api_validate_get_pod(const Kpleg__V1__GetPodRequest *r, char *err, size_t n);
int api_validate_watch(const Kpleg__V1__WatchRequest *r, char *err, size_t n);

DEFINE_TRIVIAL_CLEANUP_FUNC(Kpleg__V1__Pod *, api_pod_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(Kpleg__V1__StatusResponse *, api_status_free)
