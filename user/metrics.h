/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Instruments and the Prometheus text exposition format (0.0.4).
 *
 * Counters are atomic integers; a histogram has fixed bucket bounds in
 * nanoseconds and atomic per-bucket counts, so observing never takes a lock
 * and never allocates (the engine thread and the CRI workers observe on their
 * hot paths). Rendering reads each atomic once: the _count written is the sum
 * of the buckets read, so the +Inf bucket and _count always agree even while
 * other threads observe.
 *
 * The writer functions format one family at a time: metrics_family() writes
 * # HELP (escaped) and # TYPE once, then samples follow with their labels
 * (values escaped: backslash, double quote, newline).
 */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kpleg/kpleg.h"

#define METRICS_BOUNDS_MAX 24

/* A histogram of durations: @bounds_ns ascending, le inclusive. */
struct metrics_hist {
	const uint64_t *bounds_ns;
	unsigned n_bounds;
	_Atomic uint64_t bucket[METRICS_BOUNDS_MAX + 1]; /* per bucket, last = +Inf */
	_Atomic uint64_t sum_ns;
};

/* The kubelet's buckets (component-base metrics.DefBuckets: 5 ms .. 10 s). */
extern const uint64_t metrics_def_buckets[];
extern const unsigned metrics_n_def_buckets;
/* kpleg's latency buckets: 50 us .. 10 s, so that sub-millisecond kernel
 * detection shows. */
extern const uint64_t metrics_latency_buckets[];
extern const unsigned metrics_n_latency_buckets;

void metrics_hist_init(struct metrics_hist *h, const uint64_t *bounds_ns, unsigned n);
void metrics_hist_observe(struct metrics_hist *h, uint64_t ns);
/* Observes @later - @earlier, 0 when @later is earlier (clock skew). */
void metrics_hist_observe_span(struct metrics_hist *h, uint64_t earlier, uint64_t later);
/* Observations so far (a snapshot). */
uint64_t metrics_hist_count(const struct metrics_hist *h);

/* ---- writing ----------------------------------------------------------------- */

struct metrics_label {
	const char *name, *value;
};

/* # HELP and # TYPE lines; @type is "counter", "gauge" or "histogram". */
void metrics_family(FILE *f, const char *name, const char *type, const char *help);
void metrics_u64(FILE *f, const char *name, const struct metrics_label *l, size_t n_l,
		 uint64_t v);
/* A value in seconds from nanoseconds, exactly (no float rounding). */
void metrics_seconds(FILE *f, const char *name, const struct metrics_label *l, size_t n_l,
		     uint64_t ns);
/* name_bucket{...,le="..."} cumulative up to +Inf, name_sum, name_count. */
void metrics_hist_write(FILE *f, const char *name, const struct metrics_label *l, size_t n_l,
			const struct metrics_hist *h);

/* ---- the tracker's instruments (tracker_metrics.c fills and renders them) ------ */

/* CRI methods with their own series; anything else is "other". */
enum metrics_cri_method {
	MCRI_VERSION,
	MCRI_STATUS,
	MCRI_LIST_POD_SANDBOX,
	MCRI_POD_SANDBOX_STATUS,
	MCRI_LIST_CONTAINERS,
	MCRI_CONTAINER_STATUS,
	MCRI_RUN_POD_SANDBOX,
	MCRI_STOP_POD_SANDBOX,
	MCRI_REMOVE_POD_SANDBOX,
	MCRI_CREATE_CONTAINER,
	MCRI_START_CONTAINER,
	MCRI_STOP_CONTAINER,
	MCRI_REMOVE_CONTAINER,
	MCRI_OTHER,
	MCRI_N,
};
#define METRICS_GRPC_CODES 17 /* OK .. UNAUTHENTICATED */

struct kpleg_metrics {
	/* the kubelet's PLEG series */
	struct metrics_hist relist_duration, relist_interval, evented_latency;
	_Atomic uint64_t discard_events, evented_conn_errors, evented_conn_success;
	/* kpleg's own */
	struct metrics_hist detection[3];     /* by enum kpleg_source */
	struct metrics_hist hint_confirm[2];  /* confirmed, corrected */
	struct metrics_hist cri_call[MCRI_N][METRICS_GRPC_CODES];
	_Atomic uint64_t relist_begin_ns;     /* the relist in flight began, 0 = none */
};

struct kpleg_metrics *metrics__new(void);
void metrics__free(struct kpleg_metrics *m);

/* One unary CRI call of @method (a RuntimeService method name or a path)
 * that ended with gRPC status @code after @ns. NULL-safe. */
void metrics_cri_call(struct kpleg_metrics *m, const char *method, int code, uint64_t ns);
const char *metrics_cri_method_name(enum metrics_cri_method i);
