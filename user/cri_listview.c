// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer_reader.h>

#include "cri_internal.h"
#include "cri_listview.h"
#include "kpleg/kpleg.h"
#include "pb_grpc.h"

/* Bounds as in cri_validate.c. */
#define LV_MAX_ID (KPLEG_ID_MAX - 1)
#define LV_MAX_NAME 1024
#define LV_MAX_LABELS 1024
#define POOL_CHUNK 65536

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct lv_pool {
	struct lv_pool *next;
	size_t used, cap;
	char data[];
};

struct seg {
	const uint8_t *p;
	size_t len;
};

/* A cursor over the reply's slices; @left bounds the message being read. */
struct rd {
	const struct seg *seg;
	size_t nseg, si, off;
	uint64_t left;
};

static int rd_byte(struct rd *r, uint8_t *b)
{
	if (!r->left)
		return -EBADMSG;
	while (r->off == r->seg[r->si].len) {
		if (++r->si == r->nseg)
			return -EBADMSG;
		r->off = 0;
	}
	*b = r->seg[r->si].p[r->off++];
	r->left--;
	return 0;
}

static int rd_varint(struct rd *r, uint64_t *v)
{
	uint8_t b;

	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		int e = rd_byte(r, &b);

		if (e < 0)
			return e;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -EBADMSG;
}

static int rd_skip(struct rd *r, uint64_t n)
{
	if (n > r->left)
		return -EBADMSG;
	r->left -= n;
	while (n) {
		size_t avail = r->seg[r->si].len - r->off, k;

		if (!avail) {
			if (++r->si == r->nseg)
				return -EBADMSG;
			r->off = 0;
			continue;
		}
		k = n < avail ? (size_t)n : avail;
		r->off += k;
		n -= k;
	}
	return 0;
}

static int rd_copy(struct rd *r, uint64_t n, char *dst)
{
	for (uint64_t i = 0; i < n; i++) {
		int e = rd_byte(r, (uint8_t *)&dst[i]);

		if (e < 0)
			return e;
	}
	dst[n] = 0;
	return 0;
}

static int skip_field(struct rd *r, int wt)
{
	uint64_t v;
	int e;

	switch (wt) {
	case WT_VARINT: return rd_varint(r, &v);
	case WT_I64:	return rd_skip(r, 8);
	case WT_I32:	return rd_skip(r, 4);
	case WT_LEN:
		e = rd_varint(r, &v);
		return e < 0 ? e : rd_skip(r, v);
	default:	return -EBADMSG; /* groups: not in CRI */
	}
}

static char *pool_alloc(struct cri_list_view *v, size_t n)
{
	struct lv_pool *p = v->pool;

	if (!p || p->used + n > p->cap) {
		size_t cap = n > POOL_CHUNK ? n : POOL_CHUNK;

		p = malloc(sizeof(*p) + cap);
		if (!p)
			return NULL;
		p->used = 0;
		p->cap = cap;
		p->next = v->pool;
		v->pool = p;
	}
	p->used += n;
	return p->data + p->used - n;
}

/* A length-delimited string of at most @max bytes into the pool. */
static int rd_str(struct rd *r, struct cri_list_view *v, size_t max, const char **ret)
{
	uint64_t n;
	char *s;
	int e = rd_varint(r, &n);

	if (e < 0)
		return e;
	if (n > max)
		return -E2BIG;
	s = pool_alloc(v, n + 1);
	if (!s)
		return -ENOMEM;
	e = rd_copy(r, n, s);
	*ret = s;
	return e;
}

/* Enters a submessage: returns the outer scope's remainder. */
static int rd_enter(struct rd *r, uint64_t *outer)
{
	uint64_t n;
	int e = rd_varint(r, &n);

	if (e < 0)
		return e;
	if (n > r->left)
		return -EBADMSG;
	*outer = r->left - n;
	r->left = n;
	return 0;
}

#define FIELDS(r, field, wt, body)                                                       \
	while ((r)->left) {                                                              \
		uint64_t _tag;                                                           \
		int _e = rd_varint(r, &_tag);                                            \
		if (_e < 0)                                                              \
			return _e;                                                       \
		field = (int)(_tag >> 3);                                                \
		wt = (int)(_tag & 7);                                                    \
		body                                                                     \
	}

/* A map entry: the value of key @want ("" if the entry has none), else
 * *@ret untouched. Fields may come in any order and repeat (the last wins,
 * as in protobuf-c), so the value is read once the key is known. */
static int parse_label(struct rd *r, struct cri_list_view *v, const char *want,
		       const char **ret)
{
	char key[64] = "";
	struct rd val;
	bool has_val = false;
	int field, wt, e = 0;
	uint64_t outer, n;

	if ((e = rd_enter(r, &outer)) < 0)
		return e;
	FIELDS(r, field, wt, {
		if (field == 1 && wt == WT_LEN) {
			if ((e = rd_varint(r, &n)) < 0)
				return e;
			if (n < sizeof(key)) {
				e = rd_copy(r, n, key);
			} else {
				key[0] = 0; /* longer than any key we look for */
				e = rd_skip(r, n);
			}
		} else if (field == 2 && wt == WT_LEN) {
			val = *r;
			has_val = true;
			e = skip_field(r, wt);
		} else {
			e = skip_field(r, wt);
		}
		if (e < 0)
			return e;
	})
	if (!strcmp(key, want)) {
		if (!has_val)
			*ret = "";
		else if ((e = rd_str(&val, v, LV_MAX_ID, ret)) < 0)
			return e;
	}
	r->left = outer;
	return 0;
}

static int parse_container_meta(struct rd *r, struct cri_list_view *v, struct lv_container *c)
{
	int field, wt, e;
	uint64_t outer;

	if ((e = rd_enter(r, &outer)) < 0)
		return e;
	/* A submessage given twice merges (protobuf): keep what the first set. */
	if (!c->name)
		c->name = "";
	FIELDS(r, field, wt, {
		e = field == 1 && wt == WT_LEN ? rd_str(r, v, LV_MAX_NAME, &c->name)
					       : skip_field(r, wt);
		if (e < 0)
			return e;
	})
	r->left = outer;
	return 0;
}

static int parse_container(struct rd *r, struct cri_list_view *v, struct lv_container *c,
			   unsigned *n_labels)
{
	int field, wt, e;
	uint64_t outer, x;

	if ((e = rd_enter(r, &outer)) < 0)
		return e;
	FIELDS(r, field, wt, {
		if (field == 1 && wt == WT_LEN)
			e = rd_str(r, v, LV_MAX_ID, &c->id);
		else if (field == 2 && wt == WT_LEN)
			e = rd_str(r, v, LV_MAX_ID, &c->sandbox_id);
		else if (field == 3 && wt == WT_LEN)
			e = parse_container_meta(r, v, c);
		else if (field == 6 && wt == WT_VARINT && (e = rd_varint(r, &x)) == 0)
			c->state = (int)(int32_t)x;
		else if (field == 8 && wt == WT_LEN && ++*n_labels)
			e = parse_label(r, v, "io.kubernetes.pod.uid", &c->pod_uid_label);
		else if (field == 9 && wt == WT_LEN && ++*n_labels)
			e = skip_field(r, wt);
		else if (field != 6 || wt != WT_VARINT)
			e = skip_field(r, wt);
		if (e < 0)
			return e;
	})
	r->left = outer;
	return 0;
}

static int parse_sandbox_meta(struct rd *r, struct cri_list_view *v, struct lv_sandbox *sb)
{
	int field, wt, e;
	uint64_t outer;

	if ((e = rd_enter(r, &outer)) < 0)
		return e;
	if (!sb->name)
		sb->name = sb->uid = sb->namespace_ = "";
	FIELDS(r, field, wt, {
		if (field == 1 && wt == WT_LEN)
			e = rd_str(r, v, LV_MAX_NAME, &sb->name);
		else if (field == 2 && wt == WT_LEN)
			e = rd_str(r, v, LV_MAX_ID, &sb->uid);
		else if (field == 3 && wt == WT_LEN)
			e = rd_str(r, v, LV_MAX_NAME, &sb->namespace_);
		else
			e = skip_field(r, wt);
		if (e < 0)
			return e;
	})
	r->left = outer;
	return 0;
}

static int parse_sandbox(struct rd *r, struct cri_list_view *v, struct lv_sandbox *sb,
			 unsigned *n_labels)
{
	int field, wt, e;
	uint64_t outer, x;

	if ((e = rd_enter(r, &outer)) < 0)
		return e;
	FIELDS(r, field, wt, {
		if (field == 1 && wt == WT_LEN)
			e = rd_str(r, v, LV_MAX_ID, &sb->id);
		else if (field == 2 && wt == WT_LEN)
			e = parse_sandbox_meta(r, v, sb);
		else if (field == 3 && wt == WT_VARINT && (e = rd_varint(r, &x)) == 0)
			sb->state = (int)(int32_t)x;
		else if ((field == 5 || field == 6) && wt == WT_LEN && ++*n_labels)
			e = skip_field(r, wt);
		else if (field != 3 || wt != WT_VARINT)
			e = skip_field(r, wt);
		if (e < 0)
			return e;
	})
	r->left = outer;
	return 0;
}

static int invalid(char *why, size_t n, const char *what, const char *id)
{
	snprintf(why, n, "%s %.64s", what, id && *id ? id : "(empty id)");
	return -EPROTO;
}

static int check_container(const struct lv_container *c, unsigned n_labels, char *why, size_t n)
{
	if (!c->id || !*c->id)
		return invalid(why, n, "container: empty id", NULL);
	if (!c->sandbox_id || !*c->sandbox_id)
		return invalid(why, n, "container's sandbox: empty id for", c->id);
	if (!c->name || !*c->name)
		return invalid(why, n, "no metadata or no name for container", c->id);
	if (c->state < 0 || c->state > RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN)
		return invalid(why, n, "unknown state of container", c->id);
	if (n_labels > LV_MAX_LABELS)
		return invalid(why, n, "too many labels on container", c->id);
	return 0;
}

static int check_sandbox(const struct lv_sandbox *sb, unsigned n_labels, char *why, size_t n)
{
	if (!sb->id || !*sb->id)
		return invalid(why, n, "sandbox: empty id", NULL);
	if (!sb->name || !*sb->name || !*sb->uid || !*sb->namespace_)
		return invalid(why, n, "no metadata, name, uid or namespace for sandbox", sb->id);
	if (sb->state < 0 || sb->state > RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY)
		return invalid(why, n, "unknown state of sandbox", sb->id);
	if (n_labels > LV_MAX_LABELS)
		return invalid(why, n, "too many labels on sandbox", sb->id);
	return 0;
}

static void *grow(void *a, size_t n, size_t *cap, size_t size)
{
	void *b;

	if (n < *cap)
		return a;
	b = realloc(a, (*cap ? *cap * 2 : 64) * size);
	if (b)
		*cap = *cap ? *cap * 2 : 64;
	return b;
}

/* One item of the reply's repeated field 1, parsed and validated. */
static int item_sandbox(struct rd *r, struct cri_list_view *v, char *why, size_t n)
{
	struct lv_sandbox *a = v->sandboxes;
	unsigned labels = 0;
	int e;

	if (v->n_sandboxes == v->cap) {
		a = grow(v->sandboxes, v->n_sandboxes, &v->cap, sizeof(*a));
		if (!a)
			return -ENOMEM;
		v->sandboxes = a;
	}
	a = &v->sandboxes[v->n_sandboxes++];
	memset(a, 0, sizeof(*a));
	e = parse_sandbox(r, v, a, &labels);
	return e < 0 ? e : check_sandbox(a, labels, why, n);
}

static int item_container(struct rd *r, struct cri_list_view *v, char *why, size_t n)
{
	struct lv_container *a = v->containers;
	unsigned labels = 0;
	int e;

	if (v->n_containers == v->cap) {
		a = grow(v->containers, v->n_containers, &v->cap, sizeof(*a));
		if (!a)
			return -ENOMEM;
		v->containers = a;
	}
	a = &v->containers[v->n_containers++];
	memset(a, 0, sizeof(*a));
	e = parse_container(r, v, a, &labels);
	return e < 0 ? e : check_container(a, labels, why, n);
}

typedef int (*item_fn)(struct rd *r, struct cri_list_view *v, char *why, size_t n);

/* A List*Response: field 1 repeated, anything else skipped. */
static int parse_segs(const struct seg *segs, size_t nseg, uint64_t len, item_fn item,
		      struct cri_list_view *v, char *why, size_t n)
{
	struct rd r = { .seg = segs, .nseg = nseg, .left = len };
	int field, wt, e;

	v->cap = 0;
	FIELDS(&r, field, wt, {
		e = field == 1 && wt == WT_LEN ? item(&r, v, why, n) : skip_field(&r, wt);
		if (e < 0)
			return e;
	})
	return 0;
}

int lv_parse_sandboxes(const uint8_t *data, size_t len, struct cri_list_view *v, char *why,
		       size_t n)
{
	struct seg s = { data, len };

	return parse_segs(&s, 1, len, item_sandbox, v, why, n);
}

int lv_parse_containers(const uint8_t *data, size_t len, struct cri_list_view *v, char *why,
			size_t n)
{
	struct seg s = { data, len };

	return parse_segs(&s, 1, len, item_container, v, why, n);
}

/* Parses @bb (NULL: an empty reply) in place, slice by slice. The reader and
 * the slice references live until the parse is done (a compressed message's
 * slices belong to the reader). */
int lv_parse_bb(grpc_byte_buffer *bb, bool containers, struct cri_list_view *v, char *why,
		size_t n)
{
	grpc_byte_buffer_reader reader;
	grpc_slice *slices = NULL;
	struct seg *segs = NULL;
	size_t nseg = 0, cap = 0, scap = 0;
	grpc_slice slice;
	uint64_t len = 0;
	int e = 0;

	if (!bb)
		return 0;
	if (grpc_byte_buffer_length(bb) > KPLEG_MAX_MSG_SIZE)
		return -EMSGSIZE;
	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return -EBADMSG;
	while (e == 0 && grpc_byte_buffer_reader_next(&reader, &slice)) {
		struct seg *a = grow(segs, nseg, &cap, sizeof(*a));
		grpc_slice *b = a ? grow(slices, nseg, &scap, sizeof(*b)) : NULL;

		if (a)
			segs = a;
		if (b)
			slices = b;
		if (!a || !b) {
			grpc_slice_unref(slice);
			e = -ENOMEM;
			break;
		}
		slices[nseg++] = slice;
	}
	/* Only now: a small slice's bytes live inside the grpc_slice itself,
	 * which the array may have moved while growing. */
	for (size_t i = 0; i < nseg; i++) {
		segs[i].p = GRPC_SLICE_START_PTR(slices[i]);
		segs[i].len = GRPC_SLICE_LENGTH(slices[i]);
		len += segs[i].len;
	}
	if (e == 0 && nseg)
		e = parse_segs(segs, nseg, len, containers ? item_container : item_sandbox, v,
			       why, n);
	for (size_t i = 0; i < nseg; i++)
		grpc_slice_unref(slices[i]);
	grpc_byte_buffer_reader_destroy(&reader);
	free(segs);
	free(slices);
	return e;
}

static int list_one(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		    bool containers, int timeout_ms, struct cri_list_view *v,
		    struct cri_status *st)
{
	grpc_byte_buffer *bb = NULL;
	char why[200] = "";
	int r = cri_call_raw(c, method, req, timeout_ms, &bb, st);

	if (r < 0)
		return r;
	r = lv_parse_bb(bb, containers, v, why, sizeof(why));
	if (bb)
		grpc_byte_buffer_destroy(bb);
	if (r == -EPROTO || r == -E2BIG)
		return cri_set_status(st, GRPC_STATUS_OK, -EPROTO, "%s: invalid reply: %s", method,
				      *why ? why : "field too long");
	if (r < 0)
		return cri_set_status(st, GRPC_STATUS_OK, r, "%s: reply does not decode", method);
	return 0;
}

int cri_list_view(struct cri_client *c, int timeout_ms, struct cri_list_view **ret,
		  struct cri_status *st)
{
	Runtime__V1__ListPodSandboxRequest preq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct cri_list_view *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return cri_set_status(st, GRPC_STATUS_INTERNAL, -ENOMEM, "out of memory");
	r = list_one(c, "ListPodSandbox", &preq.base, false, timeout_ms, v, st);
	if (r == 0)
		r = list_one(c, "ListContainers", &creq.base, true, timeout_ms, v, st);
	if (r < 0) {
		cri_list_view_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

void cri_list_view_free(struct cri_list_view *v)
{
	if (!v)
		return;
	while (v->pool) {
		struct lv_pool *p = v->pool->next;

		free(v->pool);
		v->pool = p;
	}
	free(v->sandboxes);
	free(v->containers);
	free(v);
}
