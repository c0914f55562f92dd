/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency of each source per transition, from trace rows (`kpleg report`).
 * A source's latency for one transition is its time minus the earliest time
 * any source (kernel, hint, cri-event, relist, confirmed) saw that same
 * transition; the runtime's own timestamp is measured against the same
 * reference but never is one (it comes from another clock, and can be
 * negative). Percentiles are nearest-rank: the value at rank ceil(p/100 * n)
 * of the n sorted latencies.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_csv.h"

/* Transitions, in the order a report lists them. */
#define LATENCY_TRANSITIONS 7

struct latency_series {
	int64_t *v; /* ns, sorted by latency_set_finish() */
	size_t n, cap;
};

struct latency_set {
	size_t rows;
	size_t rows_of[LATENCY_TRANSITIONS];
	struct latency_series s[LATENCY_TRANSITIONS][TRACE_TIME_N];
};

/* The transition at report position @i, and back (-1 if not recorded). */
enum kpleg_event_type latency_transition(int i);
int latency_transition_index(enum kpleg_event_type type);

void latency_set_init(struct latency_set *set);
void latency_set_fini(struct latency_set *set);
/* 0 or -ENOMEM. */
int latency_set_add(struct latency_set *set, const struct trace_row *r);
/* Sorts every series; call once after the last add. */
void latency_set_finish(struct latency_set *set);

/* Nearest-rank percentile 0 < @p <= 100 of a sorted series with n > 0. */
int64_t latency_percentile(const struct latency_series *s, unsigned p);

/* The table: a header saying what is measured, then per transition present a
 * line per source (count, p50, p90, p99, max in ms). @name is the trace's
 * file name. 0 or -EIO. */
int latency_print(FILE *out, const struct latency_set *set, const char *name);
/* "12.345" ms from ns, exact to the microsecond, into @buf. */
const char *latency_ms_str(int64_t ns, char *buf, size_t size);
