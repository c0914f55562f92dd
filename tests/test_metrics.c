// SPDX-License-Identifier: Apache-2.0
/*
 * The instruments (user/metrics.c) and the exposition format: cumulative
 * buckets up to +Inf with le inclusive, exact sums, _count equal to the +Inf
 * bucket, label and HELP escaping, no lost observation under concurrent
 * writers; then kpleg_tracker__write_metrics() against fakecri: every line
 * well-formed (a checker below holds it to format 0.0.4), the kubelet's
 * kpleg_pleg_* series present with their types, the pod and container
 * gauges, detection latency counted per source, CRI call latency by method
 * and code, and discarded events counted per event.
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
#include <unistd.h>
#include <cmocka.h>

#include "metrics.h"
#include "tracker_helpers.h"

/* ---- helpers ------------------------------------------------------------------- */

struct buf {
	char *s;
	size_t n;
	FILE *f;
};

static void buf_open(struct buf *b)
{
	b->s = NULL;
	b->f = open_memstream(&b->s, &b->n);
	assert_non_null(b->f);
}

static char *buf_close(struct buf *b)
{
	assert_int_equal(fclose(b->f), 0);
	return b->s;
}

/* The value of the sample line that starts with exactly @series, or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, series, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return -1;
}

static char *render_tracker(struct kpleg_tracker *t)
{
	struct buf b;

	buf_open(&b);
	assert_int_equal(kpleg_tracker__write_metrics(t, b.f), 0);
	return buf_close(&b);
}

/* ---- a checker for the text format 0.0.4 --------------------------------------- */

#define MAX_FAM 128

struct fam {
	char name[96], type[16];
};

struct series { /* one histogram series: name + labels without le */
	char key[256];
	double last;
	bool inf;
	double inf_v;
};

static const struct fam *find_fam(const struct fam *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i].name, name))
			return &f[i];
	return NULL;
}

/* The family of sample @name: itself, or a histogram's base for _bucket,
 * _sum, _count. */
static const struct fam *fam_of(const struct fam *f, size_t n, const char *name)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	const struct fam *x = find_fam(f, n, name);
	char base[96];

	if (x)
		return x;
	for (size_t i = 0; i < 3; i++) {
		size_t ln = strlen(name), ls = strlen(sfx[i]);

		if (ln > ls && !strcmp(name + ln - ls, sfx[i]) && ln - ls < sizeof(base)) {
			snprintf(base, sizeof(base), "%.*s", (int)(ln - ls), name);
			x = find_fam(f, n, base);
			if (x && !strcmp(x->type, "histogram"))
				return x;
		}
	}
	return NULL;
}

/* Parses {a="x",le="y"}: checks the escapes, copies the labels without le
 * into @key (after @name) and le's value into @le. Returns the end or NULL. */
static const char *parse_labels(const char *p, char *key, size_t kn, char *le, size_t ln)
{
	size_t k = strlen(key);

	*le = 0;
	if (*p != '{')
		return p;
	p++;
	while (*p && *p != '}') {
		char lname[64], val[128];
		size_t i = 0, v = 0;

		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		       (i && *p >= '0' && *p <= '9'))
			lname[i++ < 63 ? i - 1 : 62] = *p++;
		lname[i < 63 ? i : 63] = 0;
		if (!i || *p++ != '=' || *p++ != '"')
			return NULL;
		while (*p && *p != '"') {
			if (*p == '\n')
				return NULL;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return NULL;
			}
			if (v < sizeof(val) - 1)
				val[v++] = *p;
			p++;
		}
		val[v] = 0;
		if (*p++ != '"')
			return NULL;
		if (!strcmp(lname, "le"))
			snprintf(le, ln, "%s", val);
		else
			k += (size_t)snprintf(key + k, k < kn ? kn - k : 0, ",%s=%s", lname, val);
		if (*p == ',')
			p++;
	}
	return *p == '}' ? p + 1 : NULL;
}

static void check_format(const char *text)
{
	struct fam fams[MAX_FAM];
	struct series ser[256];
	size_t nf = 0, ns = 0;
	char help_for[96] = "";
	const char *l = text;

	assert_true(*text && text[strlen(text) - 1] == '\n');
	for (; *l; l = strchr(l, '\n') + 1) {
		const char *e = strchr(l, '\n');
		char line[1024], name[96], key[256], le[128];
		const struct fam *fm;
		const char *p;
		size_t i = 0;
		double v;
		char *end;

		assert_non_null(e);
		snprintf(line, sizeof(line), "%.*s", (int)(e - l), l);
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line + 7, "%95s", help_for), 1);
			assert_null(find_fam(fams, nf, help_for)); /* HELP before its TYPE, once */
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_true(nf < MAX_FAM);
			assert_int_equal(sscanf(line + 7, "%95s %15s", fams[nf].name, fams[nf].type), 2);
			assert_string_equal(fams[nf].name, help_for);
			assert_null(find_fam(fams, nf, fams[nf].name));
			assert_true(!strcmp(fams[nf].type, "counter") || !strcmp(fams[nf].type, "gauge") ||
				    !strcmp(fams[nf].type, "histogram"));
			nf++;
			continue;
		}
		assert_true(line[0] != '#');
		for (p = line; (*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9'); p++)
			name[i++] = *p;
		name[i] = 0;
		assert_true(i > 0);
		fm = fam_of(fams, nf, name);
		if (!fm)
			fail_msg("sample of an undeclared family: %s", line);
		snprintf(key, sizeof(key), "%s", name);
		p = parse_labels(p, key, sizeof(key), le, sizeof(le));
		if (!p || *p != ' ')
			fail_msg("bad labels: %s", line);
		v = strtod(p + 1, &end);
		if (*end || end == p + 1)
			fail_msg("bad value: %s", line);
		if (strcmp(fm->type, "histogram"))
			continue;
		/* a histogram: buckets ascend and are cumulative, +Inf == _count */
		if (strstr(name, "_bucket")) {
			struct series *s = NULL;

			assert_true(*le);
			for (size_t k = 0; k < ns; k++)
				if (!strcmp(ser[k].key, key))
					s = &ser[k];
			if (!s) {
				assert_true(ns < 256);
				s = &ser[ns++];
				memset(s, 0, sizeof(*s));
				snprintf(s->key, sizeof(s->key), "%s", key);
			}
			assert_false(s->inf); /* nothing after +Inf */
			if (v < s->last)
				fail_msg("buckets not cumulative: %s", line);
			s->last = v;
			if (!strcmp(le, "+Inf")) {
				s->inf = true;
				s->inf_v = v;
			}
		} else if (strstr(name, "_count")) {
			char bkey[256];

			snprintf(bkey, sizeof(bkey), "%.*s_bucket%s", (int)(strlen(name) - 6), name,
				 key + strlen(name));
			for (size_t k = 0; k < ns; k++)
				if (!strcmp(ser[k].key, bkey)) {
					assert_true(ser[k].inf);
					assert_true(ser[k].inf_v == v);
				}
		}
	}
}

/* ---- instruments ------------------------------------------------------------------ */

static void test_buckets_cumulative(void **state)
{
	struct metrics_hist h;
	struct buf b;
	char *t;

	metrics_hist_init(&h, metrics_latency_buckets, metrics_n_latency_buckets);
	metrics_hist_observe(&h, 0);
	metrics_hist_observe(&h, 50000);	  /* exactly 50 us: le is inclusive */
	metrics_hist_observe(&h, 50001);
	metrics_hist_observe(&h, 1000000);	  /* 1 ms */
	metrics_hist_observe(&h, 20000000000ULL); /* 20 s: only +Inf */
	metrics_hist_observe_span(&h, 10, 5);	  /* skew: counted as 0 */
	assert_int_equal(metrics_hist_count(&h), 6);
	buf_open(&b);
	metrics_family(b.f, "x_seconds", "histogram", "x");
	metrics_hist_write(b.f, "x_seconds", NULL, 0, &h);
	t = buf_close(&b);
	check_format(t);
	assert_true(sample(t, "x_seconds_bucket{le=\"0.00005\"}") == 3);
	assert_true(sample(t, "x_seconds_bucket{le=\"0.0001\"}") == 4);
	assert_true(sample(t, "x_seconds_bucket{le=\"0.0005\"}") == 4);
	assert_true(sample(t, "x_seconds_bucket{le=\"0.001\"}") == 5);
	assert_true(sample(t, "x_seconds_bucket{le=\"0.0025\"}") == 5);
	assert_true(sample(t, "x_seconds_bucket{le=\"10\"}") == 5);
	assert_true(sample(t, "x_seconds_bucket{le=\"+Inf\"}") == 6);
	assert_true(sample(t, "x_seconds_count") == 6);
	assert_non_null(strstr(t, "\nx_seconds_sum 20.001100001\n"));
	free(t);
}

static void test_kubelet_buckets(void **state)
{
	static const char *const want[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					    "0.5", "1", "2.5", "5", "10", "+Inf" };
	struct metrics_hist h;
	struct buf b;
	char *t, *p;

	metrics_hist_init(&h, metrics_def_buckets, metrics_n_def_buckets);
	buf_open(&b);
	metrics_hist_write(b.f, "k", NULL, 0, &h);
	t = buf_close(&b);
	p = t;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "k_bucket{le=\"%s\"} 0\n", want[i]);
		assert_true(!strncmp(p, line, strlen(line)));
		p += strlen(line);
	}
	assert_string_equal(p, "k_sum 0\nk_count 0\n");
	free(t);
}

static void test_escaping(void **state)
{
	struct buf b;
	char *t;

	buf_open(&b);
	metrics_family(b.f, "esc", "gauge", "back\\slash \"quoted\"\nsecond line");
	metrics_u64(b.f, "esc", &(struct metrics_label){ "v", "a\"b\\c\nd" }, 1, 7);
	metrics_u64(b.f, "esc",
		    (struct metrics_label[]){ { "a", "" }, { "b", "x" } }, 2, 18446744073709551615ULL);
	metrics_seconds(b.f, "esc", &(struct metrics_label){ "s", "1" }, 1, 2500000000ULL);
	metrics_seconds(b.f, "esc", &(struct metrics_label){ "s", "2" }, 1, 1);
	t = buf_close(&b);
	check_format(t);
	assert_string_equal(t,
			    "# HELP esc back\\\\slash \"quoted\"\\nsecond line\n"
			    "# TYPE esc gauge\n"
			    "esc{v=\"a\\\"b\\\\c\\nd\"} 7\n"
			    "esc{a=\"\",b=\"x\"} 18446744073709551615\n"
			    "esc{s=\"1\"} 2.5\n"
			    "esc{s=\"2\"} 0.000000001\n");
	free(t);
}

#define THREADS 4
#define PER_THREAD 200000

static void *observer(void *arg)
{
	struct metrics_hist *h = arg;

	for (uint64_t i = 0; i < PER_THREAD; i++)
		metrics_hist_observe(h, (i % 1000) * 100000); /* 0 .. 99.9 ms */
	return NULL;
}

static void test_concurrent_observers(void **state)
{
	struct metrics_hist *h = calloc(1, sizeof(*h));
	uint64_t sum = 0;
	pthread_t th[THREADS];
	struct buf b;
	char *t;

	assert_non_null(h);
	metrics_hist_init(h, metrics_latency_buckets, metrics_n_latency_buckets);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, observer, h), 0);
	/* Renders while they write: always well-formed and consistent. */
	for (int k = 0; k < 20; k++) {
		buf_open(&b);
		metrics_family(b.f, "c", "histogram", "c");
		metrics_hist_write(b.f, "c", NULL, 0, h);
		t = buf_close(&b);
		check_format(t);
		free(t);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (uint64_t i = 0; i < PER_THREAD; i++)
		sum += (i % 1000) * 100000;
	assert_int_equal(metrics_hist_count(h), (uint64_t)THREADS * PER_THREAD);
	assert_int_equal(atomic_load(&h->sum_ns), sum * THREADS);
	free(h);
}

/* ---- the tracker's series ------------------------------------------------------------ */

static int setup_generic(void **state)
{
	*state = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_GENERIC, .relist_ms = 100 });
	return 0;
}

static int setup_evented(void **state)
{
	*state = tk_fx_new(&(struct tk_opts){ .mode = KPLEG_MODE_EVENTED,
					      .events = FAKECRI_EVENTS_ON });
	return 0;
}

static int teardown(void **state)
{
	tk_fx_free(*state);
	return 0;
}

static const char *const kubelet_series[][2] = {
	{ "kpleg_pleg_relist_duration_seconds", "histogram" },
	{ "kpleg_pleg_relist_interval_seconds", "histogram" },
	{ "kpleg_pleg_discard_events", "counter" },
	{ "kpleg_pleg_last_seen_seconds", "gauge" },
	{ "kpleg_evented_pleg_connection_error_count", "counter" },
	{ "kpleg_evented_pleg_connection_success_count", "counter" },
	{ "kpleg_evented_pleg_connection_latency_seconds", "histogram" },
	{ "kpleg_running_pods", "gauge" },
	{ "kpleg_running_containers", "gauge" },
};

static double metric_of(struct kpleg_tracker *t, const char *series)
{
	char *s = render_tracker(t);
	double v = sample(s, series);

	free(s);
	return v;
}

static void test_tracker_generic(void **state)
{
	struct tk_fx *fx = *state;
	struct kpleg_subscription *small;
	struct kpleg_event e;
	struct tk_pod *p;
	const char *c1;
	char *s;
	double last_seen;

	assert_int_equal(fakecri__populate(fx->f, 2, 2, true), 0);
	tk_start(fx);
	tk_wait_relists(fx, 2);
	s = render_tracker(fx->t);
	check_format(s);
	for (size_t i = 0; i < sizeof(kubelet_series) / sizeof(kubelet_series[0]); i++) {
		char line[128];

		snprintf(line, sizeof(line), "# TYPE %s %s\n", kubelet_series[i][0],
			 kubelet_series[i][1]);
		if (!strstr(s, line))
			fail_msg("missing: %s", line);
	}
	assert_true(sample(s, "kpleg_running_pods") == 2);
	assert_true(sample(s, "kpleg_running_containers{container_state=\"running\"}") == 4);
	assert_true(sample(s, "kpleg_running_containers{container_state=\"exited\"}") == 0);
	assert_true(sample(s, "kpleg_pleg_relist_duration_seconds_count") >= 2);
	assert_true(sample(s, "kpleg_pleg_relist_interval_seconds_count") >= 1);
	last_seen = sample(s, "kpleg_pleg_last_seen_seconds");
	assert_true(last_seen > (double)(tk_now_real_ns() / 1000000000 - 60));
	assert_true(sample(s, "kpleg_cri_call_duration_seconds_count{method=\"ListPodSandbox\","
			      "code=\"OK\"}") >= 2);
	assert_true(sample(s, "kpleg_cri_call_duration_seconds_count{method=\"ContainerStatus\","
			      "code=\"OK\"}") >= 4);
	assert_true(sample(s, "kpleg_synced") == 1);
	/* what the first sync found is not a detection */
	assert_true(sample(s, "kpleg_detection_latency_seconds_count{source=\"relist\"}") == 0);
	free(s);

	/* a queue of one: every event past it is discarded and counted */
	assert_int_equal(kpleg_tracker__subscribe_queue(fx->t, 1, &small), 0);
	p = tk_pod_new(fx, "m");
	c1 = tk_ctr_add(fx, p, "c1", true);
	tk_ctr_exit(fx, c1, 3);
	e = tk_wait_event(fx, c1, KPLEG_EVENT_CONTAINER_DIED);
	assert_int_equal(e.source, KPLEG_SOURCE_RELIST);
	s = render_tracker(fx->t);
	check_format(s);
	/* SandboxReady, ContainerCreated, ContainerStarted, ContainerDied at least,
	 * each measured from the runtime's own timestamp */
	assert_true(sample(s, "kpleg_detection_latency_seconds_count{source=\"relist\"}") >= 4);
	assert_true(sample(s, "kpleg_detection_latency_seconds_count{source=\"kernel\"}") == 0);
	assert_true(sample(s, "kpleg_pleg_discard_events") >= 2);
	assert_true(sample(s, "kpleg_running_containers{container_state=\"exited\"}") == 1);
	assert_true(sample(s, "kpleg_relist_in_flight_seconds") >= 0);
	free(s);
	kpleg_subscription__free(small);

	/* the runtime gone: failing relists are timed too, under their code */
	fakecri__set_fault(fx->f, "ListPodSandbox",
			   &(struct fakecri_fault){ .code = GRPC_STATUS_UNAVAILABLE });
	TK_WAIT(metric_of(fx->t, "kpleg_cri_call_duration_seconds_count{method=\"ListPodSandbox\","
				 "code=\"UNAVAILABLE\"}") >= 2,
		"failed ListPodSandbox calls not counted");
	fakecri__clear_faults(fx->f);
}

static void test_tracker_evented(void **state)
{
	struct tk_fx *fx = *state;
	struct tk_pod *p;
	const char *c1;
	char *s;

	tk_start(fx);
	p = tk_pod_new(fx, "ev");
	c1 = tk_ctr_add(fx, p, "c1", true);
	tk_wait_event(fx, c1, KPLEG_EVENT_CONTAINER_STARTED);
	s = render_tracker(fx->t);
	check_format(s);
	assert_true(sample(s, "kpleg_evented_pleg_connection_success_count") >= 1);
	assert_true(sample(s, "kpleg_evented_pleg_connection_latency_seconds_count") >= 4);
	assert_true(sample(s, "kpleg_detection_latency_seconds_count{source=\"cri-event\"}") >= 3);
	assert_true(sample(s, "kpleg_source_up{source=\"cri-event\"}") == 1);
	free(s);

	/* a broken stream is a connection error, as for the kubelet */
	fakecri__break_streams(fx->f, GRPC_STATUS_UNAVAILABLE);
	TK_WAIT(metric_of(fx->t, "kpleg_evented_pleg_connection_error_count") >= 1,
		"stream error not counted");
	TK_WAIT(metric_of(fx->t, "kpleg_evented_pleg_connection_success_count") >= 2,
		"reconnection not counted");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_cumulative),
		cmocka_unit_test(test_kubelet_buckets),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_concurrent_observers),
		cmocka_unit_test_setup_teardown(test_tracker_generic, setup_generic, teardown),
		cmocka_unit_test_setup_teardown(test_tracker_evented, setup_evented, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
