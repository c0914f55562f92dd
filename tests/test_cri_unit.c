// SPDX-License-Identifier: Apache-2.0
/* Unit tests of the CRI client's pure parts: endpoints, status mapping,
 * validation of decoded replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cri.h"

static void test_endpoint_normalize(void **state)
{
	char out[128];
	char longpath[200];

	assert_int_equal(cri_endpoint_normalize("unix:///run/x.sock", out, sizeof(out)), 0);
	assert_string_equal(out, "unix:///run/x.sock");
	assert_int_equal(cri_endpoint_normalize("/run/x.sock", out, sizeof(out)), 0);
	assert_string_equal(out, "unix:///run/x.sock");
	assert_int_equal(cri_endpoint_normalize("tcp://1.2.3.4:5", out, sizeof(out)), -EINVAL);
	assert_int_equal(cri_endpoint_normalize("run/x.sock", out, sizeof(out)), -EINVAL);
	assert_int_equal(cri_endpoint_normalize("unix://run/x", out, sizeof(out)), -EINVAL);
	assert_int_equal(cri_endpoint_normalize("", out, sizeof(out)), -EINVAL);
	assert_int_equal(cri_endpoint_normalize(NULL, out, sizeof(out)), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(cri_endpoint_normalize(longpath, out, sizeof(out)), -EINVAL);
	assert_int_equal(cri_endpoint_normalize("/a/b", out, 8), -ENAMETOOLONG);
}

static void test_status_mapping(void **state)
{
	assert_int_equal(cri_status_to_errno(GRPC_STATUS_OK), 0);
	assert_int_equal(cri_status_to_errno(GRPC_STATUS_UNIMPLEMENTED), -EOPNOTSUPP);
	assert_int_equal(cri_status_to_errno(GRPC_STATUS_NOT_FOUND), -ENOENT);
	assert_int_equal(cri_status_to_errno(GRPC_STATUS_DEADLINE_EXCEEDED), -ETIMEDOUT);
	assert_int_equal(cri_status_to_errno(GRPC_STATUS_UNAVAILABLE), -ENOTCONN);
	assert_int_equal(cri_status_to_errno(GRPC_STATUS_CANCELLED), -ECANCELED);
	assert_int_equal(cri_status_to_errno((grpc_status_code)999), -EIO);
	for (int c = 1; c <= 16; c++)
		assert_true(cri_status_to_errno((grpc_status_code)c) < 0);
	assert_string_equal(cri_status_code_name(GRPC_STATUS_UNIMPLEMENTED), "UNIMPLEMENTED");
	assert_string_equal(cri_status_code_name((grpc_status_code)77), "UNKNOWN");
}

struct cstatus {
	Runtime__V1__ContainerStatus s;
	Runtime__V1__ContainerMetadata m;
};

static void make_status(struct cstatus *c)
{
	runtime__v1__container_status__init(&c->s);
	runtime__v1__container_metadata__init(&c->m);
	c->s.id = (char *)"abc";
	c->m.name = (char *)"app";
	c->s.metadata = &c->m;
	c->s.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
}

static void test_validate_container_status(void **state)
{
	struct cstatus c;
	char why[200];

	make_status(&c);
	assert_int_equal(cri_validate_container_status(&c.s, why, sizeof(why)), 0);
	c.s.id = (char *)"";
	assert_int_equal(cri_validate_container_status(&c.s, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "empty id"));
	make_status(&c);
	c.s.metadata = NULL;
	assert_int_equal(cri_validate_container_status(&c.s, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "no metadata"));
	make_status(&c);
	c.s.state = 99;
	assert_int_equal(cri_validate_container_status(&c.s, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "unknown state 99"));
	make_status(&c);
	c.s.finished_at = -5;
	assert_int_equal(cri_validate_container_status(&c.s, why, sizeof(why)), -EPROTO);
	make_status(&c);
	c.m.name = (char *)"";
	assert_int_equal(cri_validate_container_status(&c.s, why, sizeof(why)), -EPROTO);
}

static void test_validate_sandbox(void **state)
{
	Runtime__V1__PodSandbox sb;
	Runtime__V1__PodSandboxMetadata m;
	char why[200];

	runtime__v1__pod_sandbox__init(&sb);
	runtime__v1__pod_sandbox_metadata__init(&m);
	sb.id = (char *)"s1";
	m.name = (char *)"p";
	m.uid = (char *)"u";
	m.namespace_ = (char *)"default";
	sb.metadata = &m;
	assert_int_equal(cri_validate_sandbox(&sb, why, sizeof(why)), 0);
	m.uid = (char *)"";
	assert_int_equal(cri_validate_sandbox(&sb, why, sizeof(why)), -EPROTO);
	m.uid = (char *)"u";
	sb.state = 2;
	assert_int_equal(cri_validate_sandbox(&sb, why, sizeof(why)), -EPROTO);
	sb.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
	sb.metadata = NULL;
	assert_int_equal(cri_validate_sandbox(&sb, why, sizeof(why)), -EPROTO);
}

static void test_validate_event(void **state)
{
	Runtime__V1__ContainerEventResponse ev;
	Runtime__V1__ContainerStatus *list[1];
	struct cstatus c;
	char why[200];

	runtime__v1__container_event_response__init(&ev);
	ev.container_id = (char *)"abc";
	ev.container_event_type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT;
	/* No statuses at all is valid: the consumer fetches. */
	assert_int_equal(cri_validate_event(&ev, why, sizeof(why)), 0);
	ev.container_event_type = 4;
	assert_int_equal(cri_validate_event(&ev, why, sizeof(why)), -EPROTO);
	ev.container_event_type = 0;
	make_status(&c);
	c.s.state = 7;
	list[0] = &c.s;
	ev.containers_statuses = list;
	ev.n_containers_statuses = 1;
	assert_int_equal(cri_validate_event(&ev, why, sizeof(why)), -EPROTO);
	c.s.state = 1;
	assert_int_equal(cri_validate_event(&ev, why, sizeof(why)), 0);
	ev.container_id = (char *)"";
	assert_int_equal(cri_validate_event(&ev, why, sizeof(why)), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_normalize),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_validate_container_status),
		cmocka_unit_test(test_validate_sandbox),
		cmocka_unit_test(test_validate_event),
	};

	return cmocka_run_group_tests_name("cri_unit", tests, NULL, NULL);
}
