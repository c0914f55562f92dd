// SPDX-License-Identifier: Apache-2.0
/*
 * The relist's wire reader (user/cri_listview.c) against protobuf-c's own
 * encoder: it must read what the full decoder reads, reject what validation
 * rejects, and survive every truncation and corruption of a reply.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cri_listview.h"

struct ctr {
	Runtime__V1__Container c;
	Runtime__V1__ContainerMetadata m;
	Runtime__V1__ImageSpec img;
	Runtime__V1__Container__LabelsEntry l[3];
	Runtime__V1__Container__LabelsEntry *lp[3];
	char id[80], sb[80], name[32];
};

static void make_ctr(struct ctr *x, int i, const char *uid)
{
	static const char *const keys[] = { "app", "io.kubernetes.pod.uid",
					    "io.kubernetes.container.name" };

	memset(x, 0, sizeof(*x));
	runtime__v1__container__init(&x->c);
	runtime__v1__container_metadata__init(&x->m);
	runtime__v1__image_spec__init(&x->img);
	snprintf(x->id, sizeof(x->id), "%064x", i + 1);
	snprintf(x->sb, sizeof(x->sb), "sb%062x", i / 2 + 1);
	snprintf(x->name, sizeof(x->name), "c%d", i);
	x->c.id = x->id;
	x->c.pod_sandbox_id = x->sb;
	x->m.name = x->name;
	x->m.attempt = (uint32_t)i;
	x->c.metadata = &x->m;
	x->img.image = (char *)"busybox";
	x->c.image = &x->img;
	x->c.state = i % 4;
	x->c.created_at = 1700000000000000000LL + i;
	for (int k = 0; k < 3; k++) {
		runtime__v1__container__labels_entry__init(&x->l[k]);
		x->l[k].key = (char *)keys[k];
		x->l[k].value = k == 1 ? (char *)uid : x->name;
		x->lp[k] = &x->l[k];
	}
	x->c.labels = x->lp;
	x->c.n_labels = 3;
}

static uint8_t *pack_ctrs(struct ctr *x, size_t n, size_t *len)
{
	Runtime__V1__ListContainersResponse r = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
	Runtime__V1__Container **p = calloc(n, sizeof(*p));
	uint8_t *buf;

	for (size_t i = 0; i < n; i++)
		p[i] = &x[i].c;
	r.containers = p;
	r.n_containers = n;
	*len = runtime__v1__list_containers_response__get_packed_size(&r);
	buf = malloc(*len + 1);
	runtime__v1__list_containers_response__pack(&r, buf);
	free(p);
	return buf;
}

static struct cri_list_view *view_new(void)
{
	struct cri_list_view *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	return v;
}

static void test_containers_roundtrip(void **state)
{
	struct ctr x[5];
	struct cri_list_view *v = view_new();
	char why[200];
	size_t len;
	uint8_t *buf;

	for (int i = 0; i < 5; i++)
		make_ctr(&x[i], i, "0b75982d-1111-2222-3333-444455556666");
	buf = pack_ctrs(x, 5, &len);
	assert_int_equal(lv_parse_containers(buf, len, v, why, sizeof(why)), 0);
	assert_int_equal(v->n_containers, 5);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(v->containers[i].id, x[i].id);
		assert_string_equal(v->containers[i].sandbox_id, x[i].sb);
		assert_string_equal(v->containers[i].name, x[i].name);
		assert_int_equal(v->containers[i].state, i % 4);
		assert_string_equal(v->containers[i].pod_uid_label,
				    "0b75982d-1111-2222-3333-444455556666");
	}
	free(buf);
	cri_list_view_free(v);
}

static void test_sandboxes_roundtrip(void **state)
{
	Runtime__V1__ListPodSandboxResponse r = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
	Runtime__V1__PodSandbox sb = RUNTIME__V1__POD_SANDBOX__INIT, *p = &sb;
	Runtime__V1__PodSandboxMetadata m = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	struct cri_list_view *v = view_new();
	char why[200];
	uint8_t buf[512];
	size_t len;

	m.name = (char *)"web";
	m.uid = (char *)"u-1";
	m.namespace_ = (char *)"shop";
	sb.id = (char *)"s1";
	sb.metadata = &m;
	sb.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
	r.items = &p;
	r.n_items = 1;
	len = runtime__v1__list_pod_sandbox_response__pack(&r, buf);
	assert_int_equal(lv_parse_sandboxes(buf, len, v, why, sizeof(why)), 0);
	assert_int_equal(v->n_sandboxes, 1);
	assert_string_equal(v->sandboxes[0].id, "s1");
	assert_string_equal(v->sandboxes[0].uid, "u-1");
	assert_string_equal(v->sandboxes[0].name, "web");
	assert_string_equal(v->sandboxes[0].namespace_, "shop");
	assert_int_equal(v->sandboxes[0].state, 1);
	cri_list_view_free(v);
	/* Without a uid: rejected like the full decoder's validation does. */
	m.uid = (char *)"";
	len = runtime__v1__list_pod_sandbox_response__pack(&r, buf);
	v = view_new();
	assert_int_equal(lv_parse_sandboxes(buf, len, v, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "uid"));
	cri_list_view_free(v);
}

static void expect_reject(struct ctr *x, const char *says)
{
	struct cri_list_view *v = view_new();
	char why[200] = "";
	size_t len;
	uint8_t *buf = pack_ctrs(x, 1, &len);
	int r = lv_parse_containers(buf, len, v, why, sizeof(why));

	if (r != -EPROTO || !strstr(why, says))
		fail_msg("want -EPROTO \"%s\", got %d \"%s\"", says, r, why);
	free(buf);
	cri_list_view_free(v);
}

static void test_containers_invalid(void **state)
{
	char longid[200];
	struct ctr x;

	make_ctr(&x, 1, "u");
	x.c.id = (char *)"";
	expect_reject(&x, "empty id");
	make_ctr(&x, 1, "u");
	x.c.metadata = NULL;
	expect_reject(&x, "no metadata");
	make_ctr(&x, 1, "u");
	x.c.state = 7;
	expect_reject(&x, "unknown state");
	make_ctr(&x, 1, "u");
	x.c.pod_sandbox_id = (char *)"";
	expect_reject(&x, "sandbox");
	make_ctr(&x, 1, "u");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	x.c.id = longid;
	{
		struct cri_list_view *v = view_new();
		char why[200];
		size_t len;
		uint8_t *buf = pack_ctrs(&x, 1, &len);

		assert_int_equal(lv_parse_containers(buf, len, v, why, sizeof(why)), -E2BIG);
		free(buf);
		cri_list_view_free(v);
	}
}

/* Every prefix of a valid reply, and every single-byte corruption: an error
 * or a valid view, never a crash or a read past the end (ASan checks). */
static void test_truncations_and_corruptions(void **state)
{
	struct ctr x[3];
	size_t len, errors = 0;
	uint8_t *buf;
	char why[200];

	for (int i = 0; i < 3; i++)
		make_ctr(&x[i], i, "uid");
	buf = pack_ctrs(x, 3, &len);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		struct cri_list_view *v = view_new();

		memcpy(p, buf, cut);
		errors += lv_parse_containers(p, cut, v, why, sizeof(why)) < 0;
		free(p);
		cri_list_view_free(v);
	}
	assert_true(errors > len / 2);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			struct cri_list_view *v = view_new();

			int r;

			buf[i] ^= (uint8_t)(1 << bit);
			r = lv_parse_containers(buf, len, v, why, sizeof(why));
			buf[i] ^= (uint8_t)(1 << bit);
			/* A reply that still parses is still valid throughout
			 * (on error the view is thrown away). */
			for (size_t k = 0; r == 0 && k < v->n_containers; k++)
				assert_true(*v->containers[k].id && *v->containers[k].name &&
					    *v->containers[k].sandbox_id);
			cri_list_view_free(v);
		}
	}
	free(buf);
}

/* A metadata submessage given twice merges, as protobuf-c merges it: the
 * second one without a name keeps the first's (found by tests/fuzz/fuzz_cri:
 * the reader used to reset the name and reject the reply). */
static void test_metadata_twice(void **state)
{
	struct ctr x;
	struct cri_list_view *v = view_new();
	Runtime__V1__ListContainersResponse *full;
	/* Field 3 (metadata) once more, after the container's own: { attempt: 7 }. */
	static const uint8_t extra[] = { 0x1a, 0x02, 0x10, 0x07 };
	uint8_t *item, *buf;
	size_t n, len = 0;
	char why[200];

	make_ctr(&x, 0, "u");
	n = runtime__v1__container__get_packed_size(&x.c);
	item = malloc(n + sizeof(extra));
	runtime__v1__container__pack(&x.c, item);
	memcpy(item + n, extra, sizeof(extra));
	n += sizeof(extra);
	/* ListContainersResponse { containers (1): item } */
	buf = malloc(n + 8);
	buf[len++] = 0x0a;
	for (size_t k = n; ; k >>= 7) {
		buf[len++] = (uint8_t)((k & 0x7f) | (k >= 0x80 ? 0x80 : 0));
		if (k < 0x80)
			break;
	}
	memcpy(buf + len, item, n);
	len += n;
	free(item);
	item = buf;
	buf = NULL;
	full = runtime__v1__list_containers_response__unpack(NULL, len, item);
	assert_non_null(full);
	assert_string_equal(full->containers[0]->metadata->name, "c0");
	assert_int_equal(full->containers[0]->metadata->attempt, 7);
	assert_int_equal(lv_parse_containers(item, len, v, why, sizeof(why)), 0);
	assert_int_equal(v->n_containers, 1);
	assert_string_equal(v->containers[0].name, "c0");
	runtime__v1__list_containers_response__free_unpacked(full, NULL);
	cri_list_view_free(v);
	free(item);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containers_roundtrip),
		cmocka_unit_test(test_sandboxes_roundtrip),
		cmocka_unit_test(test_containers_invalid),
		cmocka_unit_test(test_truncations_and_corruptions),
		cmocka_unit_test(test_metadata_twice),
	};

	return cmocka_run_group_tests_name("listview", tests, NULL, NULL);
}
