// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: CRI replies from a hostile runtime, decoded the way
 * kpleg decodes them and merged into a cache the way the engine merges them.
 *
 * Input: frames of [kind:1][flags:1][len:2 little-endian][len bytes]. Kinds:
 *   0 ListPodSandboxResponse   the relist's wire reader (lv_parse_bb, the
 *   1 ListContainersResponse   reply cut into up to 3 slices where @flags
 *                              says) and the full decode (pb_unpack_arena +
 *                              cri_validate_*): a reply the full decoder
 *                              accepts must be read alike by the wire reader
 *   2 PodSandboxStatusResponse  decode, validate, snapshot, cache_apply
 *   3 ContainerStatusResponse   (as workers.c's fetch_one)
 *   4 ContainerEventResponse    decode, validate, snapshot, cache_apply (as
 *                              engine_events.c)
 *   5 absent                   NOT_FOUND for the last sandbox/container
 *   6 kernel exit              a provisional exit of the last container (as
 *                              engine_hints.c), exit code from the payload
 * @flags also picks the snapshot's source, backfill/overrule/fetched, and
 * whether its observed time goes forward or back. At the end every cached pod
 * is copied out (cache_copy_pod) and built into an API Pod (api_pod_build).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer.h>
#include <grpc/slice.h>

#include "api_convert.h"
#include "cache.h"
#include "cri.h"
#include "cri_listview.h"
#include "pb_grpc.h"
#include "snapshot.h"

#define CHECK(x)                                                                          \
	do {                                                                              \
		if (!(x))                                                                 \
			abort();                                                          \
	} while (0)

struct state {
	struct cache *cache;
	uint64_t ns;
	char uid[KPLEG_ID_MAX], sb[KPLEG_ID_MAX], ct[KPLEG_ID_MAX];
	unsigned events;
};

static void copy_id(char *dst, const char *src)
{
	size_t n = strnlen(src, KPLEG_ID_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static void on_event(void *ctx, struct kpleg_event *ev)
{
	struct state *st = ctx;

	CHECK(memchr(ev->pod_uid, 0, sizeof(ev->pod_uid)) &&
	      memchr(ev->container_id, 0, sizeof(ev->container_id)) &&
	      memchr(ev->reason, 0, sizeof(ev->reason)));
	CHECK((unsigned)ev->type <= KPLEG_EVENT_CONTAINER_CONFIRMED);
	st->events++;
}

/* The io.kubernetes.pod.uid label as the full decoder has it (the last
 * entry with the key wins), or NULL. */
static const char *uid_label(const Runtime__V1__Container *c)
{
	const char *v = NULL;

	for (size_t i = 0; i < c->n_labels; i++)
		if (!strcmp(c->labels[i]->key, "io.kubernetes.pod.uid"))
			v = c->labels[i]->value;
	return v;
}

/* The payload as gRPC would hand it: 1-3 slices, cut where @flags says. */
static grpc_byte_buffer *buffer(const uint8_t *p, size_t n, uint8_t flags)
{
	grpc_slice s[3];
	size_t cut1 = n ? (size_t)(flags & 7) * n / 8 : 0, cut2 = n ? (size_t)((flags >> 3) & 7) * n / 8 : 0;
	size_t k = 0, at = 0;
	grpc_byte_buffer *bb;

	if (cut2 < cut1) {
		size_t t = cut1;

		cut1 = cut2;
		cut2 = t;
	}
	if (cut1 > at)
		s[k++] = grpc_slice_from_copied_buffer((const char *)p + at, cut1 - at), at = cut1;
	if (cut2 > at)
		s[k++] = grpc_slice_from_copied_buffer((const char *)p + at, cut2 - at), at = cut2;
	s[k++] = grpc_slice_from_copied_buffer((const char *)p + at, n - at);
	bb = grpc_raw_byte_buffer_create(s, k);
	for (size_t i = 0; i < k; i++)
		grpc_slice_unref(s[i]);
	return bb;
}

static int unpack(const uint8_t *p, size_t n, uint8_t flags, const ProtobufCMessageDescriptor *d,
		  ProtobufCMessage **ret)
{
	grpc_byte_buffer *bb = buffer(p, n, flags);
	int e;

	CHECK(bb);
	e = pb_unpack_arena(bb, d, KPLEG_MAX_MSG_SIZE, ret);
	grpc_byte_buffer_destroy(bb);
	CHECK(e == 0 || e == -EBADMSG);
	return e;
}

static void list(const uint8_t *p, size_t n, uint8_t flags, bool containers)
{
	struct cri_list_view *v = calloc(1, sizeof(*v));
	grpc_byte_buffer *bb = buffer(p, n, flags);
	ProtobufCMessage *m = NULL;
	char why[200] = "";
	int lv, full;

	CHECK(bb && v);
	lv = lv_parse_bb(bb, containers, v, why, sizeof(why));
	grpc_byte_buffer_destroy(bb);
	CHECK(lv == 0 || lv == -EPROTO || lv == -EBADMSG || lv == -E2BIG);
	full = unpack(p, n, flags, containers ? &runtime__v1__list_containers_response__descriptor
					      : &runtime__v1__list_pod_sandbox_response__descriptor,
		      &m);
	if (full == 0 && containers) {
		Runtime__V1__ListContainersResponse *r = (void *)m;

		for (size_t i = 0; full == 0 && i < r->n_containers; i++)
			full = cri_validate_container(r->containers[i], why, sizeof(why));
		/* What the full decoder accepts, the wire reader reads alike, but
		 * for a pod UID label too long for an id (-E2BIG). */
		if (full == 0 && lv == -E2BIG) {
			bool long_uid = false;

			for (size_t i = 0; i < r->n_containers; i++)
				long_uid |= strlen(uid_label(r->containers[i]) ?: "") >
					    KPLEG_ID_MAX - 1;
			CHECK(long_uid);
		} else if (full == 0) {
			CHECK(lv == 0 && v->n_containers == r->n_containers);
			for (size_t i = 0; i < r->n_containers; i++) {
				const char *a = v->containers[i].pod_uid_label;
				const char *b = uid_label(r->containers[i]);

				CHECK(a ? b && !strcmp(a, b) : !b);
			}
			for (size_t i = 0; i < r->n_containers; i++)
				CHECK(!strcmp(v->containers[i].id, r->containers[i]->id) &&
				      !strcmp(v->containers[i].sandbox_id,
					      r->containers[i]->pod_sandbox_id) &&
				      v->containers[i].state == (int)r->containers[i]->state &&
				      !strcmp(v->containers[i].name,
					      r->containers[i]->metadata->name));
		}
	} else if (full == 0) {
		Runtime__V1__ListPodSandboxResponse *r = (void *)m;

		for (size_t i = 0; full == 0 && i < r->n_items; i++)
			full = cri_validate_sandbox(r->items[i], why, sizeof(why));
		if (full == 0) {
			CHECK(lv == 0 && v->n_sandboxes == r->n_items);
			for (size_t i = 0; i < r->n_items; i++)
				CHECK(!strcmp(v->sandboxes[i].id, r->items[i]->id) &&
				      !strcmp(v->sandboxes[i].uid, r->items[i]->metadata->uid) &&
				      v->sandboxes[i].state == (int)r->items[i]->state &&
				      !strcmp(v->sandboxes[i].name, r->items[i]->metadata->name) &&
				      !strcmp(v->sandboxes[i].namespace_,
					      r->items[i]->metadata->namespace_));
		}
	}
	pb_arena_free(m);
	cri_list_view_free(v);
}

static struct snap *snap_for(struct state *st, const char *uid, uint8_t flags)
{
	static const enum kpleg_source src[] = { KPLEG_SOURCE_RELIST, KPLEG_SOURCE_CRI_EVENT,
						  KPLEG_SOURCE_KERNEL, KPLEG_SOURCE_RELIST };
	struct snap *s;

	/* Mostly forward; now and then a report from the past. */
	st->ns = flags & 0x80 && st->ns > 50 ? st->ns - 50 : st->ns + 10;
	s = snap__new(uid, src[flags & 3], st->ns);
	CHECK(s);
	s->backfill = flags & 4;
	s->overrule = flags & 8;
	s->fetched = flags & 16;
	return s;
}

static void apply(struct state *st, struct snap *s)
{
	int r = cache_apply(st->cache, s, on_event, st);

	CHECK(r >= 0 || r == -ENOMEM);
	snap__free(s);
}

static void frame(struct state *st, uint8_t kind, uint8_t flags, const uint8_t *p, size_t n)
{
	ProtobufCMessage *m = NULL;
	struct snap *s;
	char why[200];

	switch (kind % 7) {
	case 0:
	case 1:
		list(p, n, flags, kind % 7 == 1);
		return;
	case 2: {
		Runtime__V1__PodSandboxStatusResponse *r;

		if (unpack(p, n, flags, &runtime__v1__pod_sandbox_status_response__descriptor, &m))
			return;
		r = (void *)m;
		if (r->status && cri_validate_sandbox_status(r->status, why, sizeof(why)) == 0) {
			copy_id(st->uid, r->status->metadata->uid);
			copy_id(st->sb, r->status->id);
			s = snap_for(st, st->uid, flags);
			CHECK(snap_add_sandbox_status(s, r->status) == 0);
			apply(st, s);
		}
		break;
	}
	case 3: {
		Runtime__V1__ContainerStatusResponse *r;

		if (!*st->uid ||
		    unpack(p, n, flags, &runtime__v1__container_status_response__descriptor, &m))
			return;
		r = (void *)m;
		if (r->status && cri_validate_container_status(r->status, why, sizeof(why)) == 0) {
			copy_id(st->ct, r->status->id);
			s = snap_for(st, st->uid, flags);
			CHECK(snap_add_container_status(s, st->sb, r->status) == 0);
			apply(st, s);
		}
		break;
	}
	case 4: {
		Runtime__V1__ContainerEventResponse *ev;
		const Runtime__V1__PodSandboxStatus *ps;

		if (unpack(p, n, flags, &runtime__v1__container_event_response__descriptor, &m))
			return;
		ev = (void *)m;
		if (cri_validate_event(ev, why, sizeof(why)) < 0 || !(ps = ev->pod_sandbox_status))
			break;
		s = snap_for(st, ps->metadata->uid, flags);
		CHECK(snap_add_sandbox_status(s, ps) == 0);
		for (size_t i = 0; i < ev->n_containers_statuses; i++)
			CHECK(snap_add_container_status(s, ps->id, ev->containers_statuses[i]) == 0);
		if (ev->container_event_type ==
			    RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT &&
		    strcmp(ev->container_id, ps->id))
			CHECK(snap_add_container_absent(s, ev->container_id, ps->id) == 0);
		apply(st, s);
		break;
	}
	case 5:
		if (!*st->uid)
			return;
		s = snap_for(st, st->uid, flags);
		if (flags & 32 && *st->sb)
			CHECK(snap_add_sandbox_absent(s, st->sb) == 0);
		else if (*st->ct)
			CHECK(snap_add_container_absent(s, st->ct, st->sb) == 0);
		apply(st, s);
		return;
	case 6: {
		struct snap_container sc = {
			.id = st->ct, .sandbox_id = st->sb, .name = (char *)"", .reason = (char *)"Error",
			.message = (char *)"", .image = (char *)"", .state = KPLEG_CONTAINER_EXITED,
			.provisional = true, .oom = flags & 32,
		};

		if (!*st->uid || !*st->ct)
			return;
		if (n >= 4)
			memcpy(&sc.exit_code, p, 4);
		s = snap_for(st, st->uid, flags);
		sc.kernel_ns = st->ns;
		CHECK(snap_add_container_copy(s, &sc) == 0);
		apply(st, s);
		return;
	}
	}
	pb_arena_free(m);
}

static int read_out(struct cache_pod *p, void *arg)
{
	struct kpleg_pod_status *c = cache_copy_pod(p);
	Kpleg__V1__Pod *m = NULL;

	CHECK(c);
	CHECK(api_pod_build(c, &m) == 0);
	CHECK(protobuf_c_message_get_packed_size(&m->base) > 0);
	api_pod_free(m);
	kpleg_pod_status__free(c);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st = { .ns = 1000 };

	st.cache = cache__new();
	CHECK(st.cache);
	while (size >= 4) {
		size_t n = (size_t)data[2] | (size_t)data[3] << 8;
		uint8_t kind = data[0], flags = data[1];

		data += 4;
		size -= 4;
		if (n > size)
			n = size;
		frame(&st, kind, flags, data, n);
		data += n;
		size -= n;
	}
	cache_for_each_pod(st.cache, read_out, NULL);
	cache__free(st.cache);
	return 0;
}
