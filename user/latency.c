// SPDX-License-Identifier: Apache-2.0
/* Per-source latency percentiles from a trace (see latency.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "latency.h"

static const enum kpleg_event_type order[LATENCY_TRANSITIONS] = {
	KPLEG_EVENT_CONTAINER_DIED,	 KPLEG_EVENT_CONTAINER_STARTED,
	KPLEG_EVENT_CONTAINER_CREATED,	 KPLEG_EVENT_CONTAINER_REMOVED,
	KPLEG_EVENT_SANDBOX_READY,	 KPLEG_EVENT_SANDBOX_NOTREADY,
	KPLEG_EVENT_SANDBOX_REMOVED,
};

enum kpleg_event_type latency_transition(int i)
{
	return order[i];
}

int latency_transition_index(enum kpleg_event_type type)
{
	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		if (order[i] == type)
			return i;
	return -1;
}

void latency_set_init(struct latency_set *set)
{
	memset(set, 0, sizeof(*set));
}

void latency_set_fini(struct latency_set *set)
{
	if (!set)
		return;
	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		for (int j = 0; j < TRACE_TIME_N; j++)
			free(set->s[i][j].v);
	memset(set, 0, sizeof(*set));
}

static int push(struct latency_series *s, int64_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	return 0;
}

int latency_set_add(struct latency_set *set, const struct trace_row *r)
{
	int ti = latency_transition_index(r->transition);
	int64_t ref = INT64_MAX;
	bool any = false;
	int err;

	if (ti < 0)
		return -EINVAL;
	for (int i = 0; i < TRACE_RUNTIME; i++)
		if (r->t[i] != TRACE_NONE && r->t[i] <= ref) {
			ref = r->t[i];
			any = true;
		}
	if (!any)
		return -EINVAL;
	/* Times are 0..INT64_MAX, so every difference fits. */
	for (int i = 0; i < TRACE_TIME_N; i++)
		if (r->t[i] != TRACE_NONE && (err = push(&set->s[ti][i], r->t[i] - ref)) < 0)
			return err;
	set->rows++;
	set->rows_of[ti]++;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

void latency_set_finish(struct latency_set *set)
{
	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		for (int j = 0; j < TRACE_TIME_N; j++)
			if (set->s[i][j].n)
				qsort(set->s[i][j].v, set->s[i][j].n, sizeof(int64_t), cmp_i64);
}

int64_t latency_percentile(const struct latency_series *s, unsigned p)
{
	/* rank = ceil(p * n / 100), at least 1 */
	size_t rank = (p * s->n + 99) / 100;

	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

const char *latency_ms_str(int64_t ns, char *buf, size_t size)
{
	uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

	snprintf(buf, size, "%s%" PRIu64 ".%03" PRIu64, ns < 0 ? "-" : "", a / 1000000,
		 a / 1000 % 1000);
	return buf;
}

static void print_header(FILE *out, const struct latency_set *set, const char *name)
{
	fprintf(out,
		"kpleg report: %s, %zu transitions\n"
		"Latency = a source's time minus the earliest time any source saw the same\n"
		"transition (the kernel's, when it saw it), CLOCK_MONOTONIC; per source over\n"
		"the transitions it saw; nearest-rank percentiles; milliseconds.\n"
		"Sources: kernel = the kernel's own time (BPF); hint = kpleg delivered the\n"
		"kernel's provisional ContainerDied; cri-event = delivered from the runtime's\n"
		"event stream; relist = delivered by a 1 s relist (the kubelet's generic PLEG);\n"
		"confirmed = the runtime's word delivered after a kernel hint (or a relist);\n"
		"runtime-ts = the runtime's own timestamp (created/started/finished_at).\n",
		name, set->rows);
}

static void print_series(FILE *out, const char *src, const struct latency_series *s)
{
	static const unsigned ps[] = { 50, 90, 99, 100 };
	char buf[32];

	fprintf(out, "  %-11s %7zu", src, s->n);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		fprintf(out, " %13s", s->n ? latency_ms_str(latency_percentile(s, ps[i]), buf,
							      sizeof(buf))
					  : "-");
	fputc('\n', out);
}

int latency_print(FILE *out, const struct latency_set *set, const char *name)
{
	print_header(out, set, name);
	for (int i = 0; i < LATENCY_TRANSITIONS; i++) {
		if (!set->rows_of[i])
			continue;
		fprintf(out, "\n%s (%zu)\n  %-11s %7s %13s %13s %13s %13s\n",
			kpleg_event_type_str(order[i]), set->rows_of[i], "source", "count",
			"p50 ms", "p90 ms", "p99 ms", "max ms");
		for (int j = 0; j < TRACE_TIME_N; j++)
			print_series(out, trace_time_name(j), &set->s[i][j]);
	}
	if (!set->rows)
		fprintf(out, "\n(no transitions in this trace)\n");
	return ferror(out) ? -EIO : 0;
}
