// SPDX-License-Identifier: Apache-2.0
/* Instruments (atomic counters, fixed-bucket histograms) and the Prometheus
 * text exposition format 0.0.4. See metrics.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri.h"
#include "metrics.h"
#include "util.h"

#define MS(x) ((uint64_t)(x) * 1000000ULL)
#define US(x) ((uint64_t)(x) * 1000ULL)

/* prometheus.DefBuckets, which the kubelet's PLEG histograms use
 * (pkg/kubelet/metrics/metrics.go: Buckets: metrics.DefBuckets). */
const uint64_t metrics_def_buckets[] = {
	MS(5), MS(10), MS(25), MS(50), MS(100), MS(250), MS(500),
	MS(1000), MS(2500), MS(5000), MS(10000),
};
const unsigned metrics_n_def_buckets = ARRAY_SIZE(metrics_def_buckets);

const uint64_t metrics_latency_buckets[] = {
	US(50), US(100), US(250), US(500), MS(1), US(2500), MS(5), MS(10), MS(25), MS(50),
	MS(100), MS(250), MS(500), MS(1000), MS(2500), MS(5000), MS(10000),
};
const unsigned metrics_n_latency_buckets = ARRAY_SIZE(metrics_latency_buckets);

void metrics_hist_init(struct metrics_hist *h, const uint64_t *bounds_ns, unsigned n)
{
	memset(h, 0, sizeof(*h));
	h->bounds_ns = bounds_ns;
	h->n_bounds = n < METRICS_BOUNDS_MAX ? n : METRICS_BOUNDS_MAX;
}

void metrics_hist_observe(struct metrics_hist *h, uint64_t ns)
{
	unsigned i = 0;

	while (i < h->n_bounds && ns > h->bounds_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void metrics_hist_observe_span(struct metrics_hist *h, uint64_t earlier, uint64_t later)
{
	metrics_hist_observe(h, later > earlier ? later - earlier : 0);
}

uint64_t metrics_hist_count(const struct metrics_hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= h->n_bounds; i++)
		n += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	return n;
}

/* ---- writing ----------------------------------------------------------------- */

/* Seconds from ns, exactly: "0.00005", "2.5", "10". */
static void put_seconds(FILE *f, uint64_t ns)
{
	char frac[10];
	int n;

	snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(ns % NSEC_PER_SEC));
	for (n = 9; n > 0 && frac[n - 1] == '0'; n--)
		;
	frac[n] = 0;
	fprintf(f, "%llu%s%s", (unsigned long long)(ns / NSEC_PER_SEC), n ? "." : "", frac);
}

/* @s with \ -> \\, newline -> \n, and (label values) " -> \". */
static void put_escaped(FILE *f, const char *s, bool quote)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	put_escaped(f, help, false);
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* name{a="x",b="y"[,le="..."]} with the value left to the caller. */
static void put_name(FILE *f, const char *name, const char *suffix, const struct metrics_label *l,
		     size_t n_l, const uint64_t *le_ns, bool le_inf)
{
	bool any = n_l || le_ns || le_inf;

	fprintf(f, "%s%s%s", name, suffix, any ? "{" : "");
	for (size_t i = 0; i < n_l; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", l[i].name);
		put_escaped(f, l[i].value, true);
		fputc('"', f);
	}
	if (le_ns || le_inf) {
		fprintf(f, "%sle=\"", n_l ? "," : "");
		if (le_ns)
			put_seconds(f, *le_ns);
		else
			fputs("+Inf", f);
		fputc('"', f);
	}
	fputs(any ? "} " : " ", f);
}

void metrics_u64(FILE *f, const char *name, const struct metrics_label *l, size_t n_l,
		 uint64_t v)
{
	put_name(f, name, "", l, n_l, NULL, false);
	fprintf(f, "%llu\n", (unsigned long long)v);
}

void metrics_seconds(FILE *f, const char *name, const struct metrics_label *l, size_t n_l,
		     uint64_t ns)
{
	put_name(f, name, "", l, n_l, NULL, false);
	put_seconds(f, ns);
	fputc('\n', f);
}

void metrics_hist_write(FILE *f, const char *name, const struct metrics_label *l, size_t n_l,
			const struct metrics_hist *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i <= h->n_bounds; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		put_name(f, name, "_bucket", l, n_l, i < h->n_bounds ? &h->bounds_ns[i] : NULL,
			 i == h->n_bounds);
		fprintf(f, "%llu\n", (unsigned long long)cum);
	}
	put_name(f, name, "_sum", l, n_l, NULL, false);
	put_seconds(f, atomic_load_explicit(&h->sum_ns, memory_order_relaxed));
	fputc('\n', f);
	put_name(f, name, "_count", l, n_l, NULL, false);
	fprintf(f, "%llu\n", (unsigned long long)cum);
}

/* ---- the tracker's instruments ----------------------------------------------- */

static const char *const cri_methods[MCRI_N] = {
	[MCRI_VERSION] = "Version",
	[MCRI_STATUS] = "Status",
	[MCRI_LIST_POD_SANDBOX] = "ListPodSandbox",
	[MCRI_POD_SANDBOX_STATUS] = "PodSandboxStatus",
	[MCRI_LIST_CONTAINERS] = "ListContainers",
	[MCRI_CONTAINER_STATUS] = "ContainerStatus",
	[MCRI_RUN_POD_SANDBOX] = "RunPodSandbox",
	[MCRI_STOP_POD_SANDBOX] = "StopPodSandbox",
	[MCRI_REMOVE_POD_SANDBOX] = "RemovePodSandbox",
	[MCRI_CREATE_CONTAINER] = "CreateContainer",
	[MCRI_START_CONTAINER] = "StartContainer",
	[MCRI_STOP_CONTAINER] = "StopContainer",
	[MCRI_REMOVE_CONTAINER] = "RemoveContainer",
	[MCRI_OTHER] = "other",
};

const char *metrics_cri_method_name(enum metrics_cri_method i)
{
	return (unsigned)i < MCRI_N ? cri_methods[i] : "other";
}

static enum metrics_cri_method cri_method_of(const char *method)
{
	static const char svc[] = "/runtime.v1.RuntimeService/";

	if (!strncmp(method, svc, sizeof(svc) - 1))
		method += sizeof(svc) - 1;
	for (unsigned i = 0; i < MCRI_OTHER; i++)
		if (!strcmp(method, cri_methods[i]))
			return (enum metrics_cri_method)i;
	return MCRI_OTHER;
}

void metrics_cri_call(struct kpleg_metrics *m, const char *method, int code, uint64_t ns)
{
	if (!m || !method)
		return;
	if (code < 0 || code >= METRICS_GRPC_CODES)
		code = GRPC_STATUS_UNKNOWN;
	metrics_hist_observe(&m->cri_call[cri_method_of(method)][code], ns);
}

struct kpleg_metrics *metrics__new(void)
{
	struct kpleg_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	metrics_hist_init(&m->relist_duration, metrics_def_buckets, metrics_n_def_buckets);
	metrics_hist_init(&m->relist_interval, metrics_def_buckets, metrics_n_def_buckets);
	metrics_hist_init(&m->evented_latency, metrics_def_buckets, metrics_n_def_buckets);
	for (size_t i = 0; i < ARRAY_SIZE(m->detection); i++)
		metrics_hist_init(&m->detection[i], metrics_latency_buckets,
				  metrics_n_latency_buckets);
	for (size_t i = 0; i < ARRAY_SIZE(m->hint_confirm); i++)
		metrics_hist_init(&m->hint_confirm[i], metrics_latency_buckets,
				  metrics_n_latency_buckets);
	for (size_t i = 0; i < MCRI_N; i++)
		for (size_t k = 0; k < METRICS_GRPC_CODES; k++)
			metrics_hist_init(&m->cri_call[i][k], metrics_latency_buckets,
					  metrics_n_latency_buckets);
	return m;
}

void metrics__free(struct kpleg_metrics *m)
{
	free(m);
}
