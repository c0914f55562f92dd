// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI client against real runtimes: the private containerd 1.6 and 1.7
 * that scripts/run-tests.sh starts (KPLEG_TEST_CD16, KPLEG_TEST_CD17), and a
 * third 1.7 (KPLEG_TEST_CDKILL) that one test kills mid-stream.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cri.h"
#include "kube.h"
#include "testenv.h"

#define SLOW_MS 60000 /* runtime calls that start processes */

struct rt {
	struct cri_client *c;
};

static int rt_setup(void **state, const char *var)
{
	struct rt *rt = calloc(1, sizeof(*rt));

	rt->c = cri_client__new(testenv_require(var));
	assert_non_null(rt->c);
	*state = rt;
	return 0;
}

static int setup16(void **state) { return rt_setup(state, "KPLEG_TEST_CD16"); }
static int setup17(void **state) { return rt_setup(state, "KPLEG_TEST_CD17"); }

static int teardown(void **state)
{
	struct rt *rt = *state;

	if (rt)
		cri_client__free(rt->c);
	free(rt);
	return 0;
}

/* The pod's sandbox cgroup exists under the kubelet's parent in some hierarchy. */
static void assert_cgroup(const struct kube_pod *p, const char *sandbox_id)
{
	static const char *const roots[] = { "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory",
					     "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char path[512];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s%s/%s", roots[i], p->cgroup_parent, sandbox_id);
		if (access(path, F_OK) == 0)
			return;
	}
	fail_msg("no cgroup %s/%s in any hierarchy", p->cgroup_parent, sandbox_id);
}

static char *run_pod(struct cri_client *c, struct kube_pod *p, enum kube_qos qos)
{
	struct cri_status st;
	char *id = NULL;

	assert_int_equal(kube_pod_init(p, NULL, "cri-test", "kpleg-test", qos), 0);
	if (cri_run_pod_sandbox(c, &p->cfg, SLOW_MS, &id, &st) < 0)
		fail_msg("RunPodSandbox: %s", st.message);
	assert_cgroup(p, id);
	return id;
}

static char *create_ctr(struct cri_client *c, const struct kube_pod *p, const char *sb,
			const char *name, const char *script)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)script, NULL };
	struct kube_container k;
	struct cri_status st;
	char *id = NULL;

	assert_int_equal(kube_container_init(&k, p, name, argv, 0), 0);
	if (cri_create_container(c, sb, &k.cfg, &p->cfg, SLOW_MS, &id, &st) < 0)
		fail_msg("CreateContainer: %s", st.message);
	return id;
}

static int ctr_state(struct cri_client *c, const char *id, int *exit_code)
{
	Runtime__V1__ContainerStatusResponse *r = NULL;
	struct cri_status st;
	int s;

	if (cri_container_status(c, id, 0, &r, &st) < 0)
		fail_msg("ContainerStatus %s: %s", id, st.message);
	s = r->status->state;
	if (exit_code)
		*exit_code = r->status->exit_code;
	assert_string_equal(r->status->metadata->name, "app");
	cri_msg_free(r);
	return s;
}

static void wait_exited(struct cri_client *c, const char *id, int *exit_code)
{
	uint64_t end = testenv_now_ms() + 10000;

	while (ctr_state(c, id, exit_code) != RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
		if (testenv_now_ms() > end)
			fail_msg("container %s did not exit within 10 s", id);
		usleep(20000);
	}
}

static void check_lists(struct cri_client *c, const char *sb, const char *ctr,
			const struct kube_pod *p)
{
	Runtime__V1__PodSandboxFilter pf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ListPodSandboxResponse *pl = NULL;
	Runtime__V1__ListContainersResponse *cl = NULL;
	Runtime__V1__PodSandboxStatusResponse *ps = NULL;
	struct cri_status st;

	pf.id = (char *)sb;
	assert_int_equal(cri_list_pod_sandbox(c, &pf, 0, &pl, &st), 0);
	assert_int_equal(pl->n_items, 1);
	assert_string_equal(pl->items[0]->metadata->uid, p->uid);
	assert_int_equal(pl->items[0]->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
	cf.pod_sandbox_id = (char *)sb;
	assert_int_equal(cri_list_containers(c, &cf, 0, &cl, &st), 0);
	assert_int_equal(cl->n_containers, 1);
	assert_string_equal(cl->containers[0]->id, ctr);
	assert_int_equal(cri_pod_sandbox_status(c, sb, 0, &ps, &st), 0);
	assert_string_equal(ps->status->metadata->namespace_, "kpleg-test");
	assert_string_equal(ps->status->metadata->uid, p->uid);
	cri_msg_free(pl);
	cri_msg_free(cl);
	cri_msg_free(ps);
}

/* Every CRI call the client has, in a container's whole life. */
static void roundtrip(struct cri_client *c, const char *want_version)
{
	Runtime__V1__VersionResponse *v = NULL;
	Runtime__V1__StatusResponse *s = NULL;
	struct cri_status st;
	struct kube_pod p;
	char *sb, *ctr;
	int code = -1;

	assert_int_equal(cri_version(c, 0, &v, &st), 0);
	assert_string_equal(v->runtime_name, "containerd");
	assert_true(strstr(v->runtime_version, want_version) == v->runtime_version);
	assert_int_equal(cri_status(c, 0, &s, &st), 0);
	assert_true(s->status->n_conditions >= 2);
	cri_msg_free(v);
	cri_msg_free(s);

	sb = run_pod(c, &p, KUBE_QOS_BESTEFFORT);
	ctr = create_ctr(c, &p, sb, "app", "sleep 0.2; exit 3");
	assert_int_equal(ctr_state(c, ctr, NULL), RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
	check_lists(c, sb, ctr, &p);
	assert_int_equal(cri_start_container(c, ctr, SLOW_MS, &st), 0);
	wait_exited(c, ctr, &code);
	assert_int_equal(code, 3);
	assert_int_equal(cri_stop_container(c, ctr, 1, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_container(c, ctr, SLOW_MS, &st), 0);
	assert_int_equal(cri_container_status(c, ctr, 0, (void *)&v, &st), -ENOENT);
	assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
	assert_int_equal(cri_stop_pod_sandbox(c, sb, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_pod_sandbox(c, sb, SLOW_MS, &st), 0);
	free(sb);
	free(ctr);
}

static void test_roundtrip_16(void **state) { roundtrip(((struct rt *)*state)->c, "1.6."); }
static void test_roundtrip_17(void **state) { roundtrip(((struct rt *)*state)->c, "1.7."); }

/* The kubelet's three cgroup parents, one pod each; the sandbox cgroup lands there. */
static void test_qos_parents(void **state)
{
	struct cri_client *c = ((struct rt *)*state)->c;
	struct cri_status st;

	for (int q = KUBE_QOS_BESTEFFORT; q <= KUBE_QOS_GUARANTEED; q++) {
		struct kube_pod p;
		char *sb = run_pod(c, &p, q);

		assert_int_equal(cri_stop_pod_sandbox(c, sb, SLOW_MS, &st), 0);
		assert_int_equal(cri_remove_pod_sandbox(c, sb, SLOW_MS, &st), 0);
		free(sb);
	}
}

static void test_no_events_16(void **state)
{
	struct cri_client *c = ((struct rt *)*state)->c;
	Runtime__V1__ContainerEventResponse *ev = NULL;
	struct cri_event_stream *s = NULL;
	enum cri_events_support sup;
	struct cri_status st;

	assert_int_equal(cri_events_probe(c, 2000, &sup, &st), 0);
	assert_int_equal(sup, CRI_EVENTS_UNIMPLEMENTED);
	assert_int_equal(cri_events__open(c, &s, &st), 0);
	assert_int_equal(cri_events__read(s, 2000, &ev, &st), -EOPNOTSUPP);
	assert_int_equal(st.code, GRPC_STATUS_UNIMPLEMENTED);
	assert_int_equal(cri_events__read(s, 10, &ev, &st), -EOPNOTSUPP);
	cri_events__free(s);
}

/* Events seen per object of interest: a bit per type, checked for order and
 * uniqueness as they arrive. Other objects' events (containerd 1.7 replays
 * what it buffered for earlier tests to a new subscriber) are ignored. */
struct seen {
	int n;
	struct {
		char id[72];
		int mask;
		int exit_code;
	} o[4];
};

static int seen_add(struct seen *sn, const char *id)
{
	assert_true(sn->n < 4);
	snprintf(sn->o[sn->n].id, sizeof(sn->o[0].id), "%s", id);
	sn->o[sn->n].exit_code = -1;
	return sn->n++;
}

static void seen_record(struct seen *sn, const Runtime__V1__ContainerEventResponse *ev)
{
	int t = ev->container_event_type;

	for (int i = 0; i < sn->n; i++) {
		if (strcmp(sn->o[i].id, ev->container_id))
			continue;
		if (sn->o[i].mask != (1 << t) - 1)
			fail_msg("%.12s: %s after events 0x%x", ev->container_id,
				 cri_event_type_str(t), sn->o[i].mask);
		sn->o[i].mask |= 1 << t;
		if (t == RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT &&
		    ev->n_containers_statuses == 1)
			sn->o[i].exit_code = ev->containers_statuses[0]->exit_code;
	}
}

/* Reads events until object @i of @sn has seen type @want. */
static void expect_event(struct cri_event_stream *s, struct seen *sn, int i, int want)
{
	uint64_t end = testenv_now_ms() + 20000;
	struct cri_status st;

	while (!(sn->o[i].mask & (1 << want)) && testenv_now_ms() < end) {
		Runtime__V1__ContainerEventResponse *ev = NULL;
		int r = cri_events__read(s, 500, &ev, &st);

		if (r == -EAGAIN)
			continue;
		if (r < 0)
			fail_msg("event stream: %s", st.message);
		seen_record(sn, ev);
		cri_msg_free(ev);
	}
	if (!(sn->o[i].mask & (1 << want)))
		fail_msg("no %s event for %.12s within 20 s", cri_event_type_str(want),
			 sn->o[i].id);
}

static void test_events_17(void **state)
{
	struct cri_client *c = ((struct rt *)*state)->c;
	struct cri_event_stream *s = NULL;
	enum cri_events_support sup;
	struct seen sn = { 0 };
	struct cri_status st;
	struct kube_pod p;
	char *sb, *ctr;
	int isb, ict;

	assert_int_equal(cri_events__open(c, &s, &st), 0);
	sb = run_pod(c, &p, KUBE_QOS_BURSTABLE);
	isb = seen_add(&sn, sb);
	/* containerd 1.7 sends sandbox events too, with the sandbox id. */
	expect_event(s, &sn, isb, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	ctr = create_ctr(c, &p, sb, "app", "sleep 0.2; exit 3");
	ict = seen_add(&sn, ctr);
	expect_event(s, &sn, ict, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
	assert_int_equal(cri_start_container(c, ctr, SLOW_MS, &st), 0);
	expect_event(s, &sn, ict, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
	assert_int_equal(sn.o[ict].exit_code, 3);
	assert_int_equal(cri_remove_container(c, ctr, SLOW_MS, &st), 0);
	expect_event(s, &sn, ict, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
	assert_int_equal(sn.o[ict].mask, 0xf);
	assert_int_equal(cri_stop_pod_sandbox(c, sb, SLOW_MS, &st), 0);
	assert_int_equal(cri_remove_pod_sandbox(c, sb, SLOW_MS, &st), 0);
	expect_event(s, &sn, isb, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
	assert_int_equal(sn.o[isb].mask, 0xf);
	cri_events__free(s);
	free(sb);
	free(ctr);
	/* Probed last: containerd 1.7 hands each event to one subscriber only
	 * (REFERENCE.md §2), and a probe's stream would compete with ours. */
	assert_int_equal(cri_events_probe(c, 1000, &sup, &st), 0);
	assert_int_equal(sup, CRI_EVENTS_SUPPORTED);
}

/* A runtime killed mid-stream ends the stream with an error within a second. */
static void test_runtime_killed(void **state)
{
	const char *pidfile = testenv_require("KPLEG_TEST_CDKILL_PIDFILE");
	struct cri_client *c = cri_client__new(testenv_require("KPLEG_TEST_CDKILL"));
	Runtime__V1__ContainerEventResponse *ev = NULL;
	struct cri_event_stream *s = NULL;
	struct cri_status st;
	uint64_t t0, dt;
	FILE *f;
	int pid = 0, r;

	assert_non_null(c);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	assert_true(pid > 1);
	assert_int_equal(cri_events__open(c, &s, &st), 0);
	assert_int_equal(cri_events__read(s, 500, &ev, &st), -EAGAIN);
	assert_int_equal(kill(pid, SIGKILL), 0);
	t0 = testenv_now_ms();
	do {
		r = cri_events__read(s, 100, &ev, &st);
		cri_msg_free(ev);
		ev = NULL;
	} while (r == -EAGAIN && testenv_now_ms() - t0 < 5000);
	dt = testenv_now_ms() - t0;
	print_message("stream ended %llu ms after SIGKILL: %s\n", (unsigned long long)dt,
		      st.message);
	assert_true(r < 0 && r != -EAGAIN && r != -ENODATA);
	assert_true(dt < 1000);
	cri_events__free(s);
	/* Unary calls fail fast, too. */
	t0 = testenv_now_ms();
	assert_int_equal(cri_version(c, 3000, (void *)&ev, &st), -ENOTCONN);
	assert_true(testenv_now_ms() - t0 < 3000);
	cri_client__free(c);
}

static void test_missing_socket(void **state)
{
	struct cri_client *c = cri_client__new("unix:///run/kpleg-test/no-such.sock");
	Runtime__V1__VersionResponse *v = NULL;
	struct cri_status st;
	uint64_t t0 = testenv_now_ms();

	assert_non_null(c);
	assert_int_equal(cri_version(c, 3000, &v, &st), -ENOTCONN);
	assert_null(v);
	assert_true(testenv_now_ms() - t0 < 3000);
	assert_non_null(strstr(st.message, "UNAVAILABLE"));
	cri_client__free(c);
}

int main(void)
{
	const struct CMUnitTest cd16[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_16, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_qos_parents, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_no_events_16, setup16, teardown),
	};
	const struct CMUnitTest cd17[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_17, setup17, teardown),
		cmocka_unit_test_setup_teardown(test_qos_parents, setup17, teardown),
		cmocka_unit_test_setup_teardown(test_events_17, setup17, teardown),
		cmocka_unit_test(test_runtime_killed),
		cmocka_unit_test(test_missing_socket),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("cri_containerd_1.6", cd16, NULL, NULL);
	failed += cmocka_run_group_tests_name("cri_containerd_1.7", cd17, NULL, NULL);
	return failed;
}
