/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `kpleg trace`'s join: the events of several trackers watching one runtime,
 * each from its own source, joined into one row per (object id, transition)
 * with the time each source delivered it. Trackers call join_event() from
 * their engine threads; the main thread takes completed rows out and fills
 * in the runtime's own timestamp. Thread-safe; the join never calls a
 * tracker (a callback runs under the tracker's cache lock).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kpleg/kpleg.h"
#include "trace_csv.h"

enum trace_src {
	TRACE_SRC_GENERIC, /* relist every 1 s */
	TRACE_SRC_EVENTED, /* the CRI event stream (only where the runtime has one) */
	TRACE_SRC_AUTO,	   /* kernel hints, events off */
	TRACE_SRC_N,
};

struct join;

/* @wake_fd: an eventfd written after every recorded event (-1: none). */
int join__new(int wake_fd, struct join **ret);
void join__free(struct join *j);

/* Starts recording: events before this are the trackers' first syncs (the
 * state they found, not transitions). A row is complete once every tracker
 * in @expected (a mask of 1 << enum trace_src) has reported it. */
void join_start(struct join *j, unsigned expected);
/* No new rows from now on; rows already open still take reports. */
void join_close(struct join *j);

/* From tracker @src's subscription callback, @now_ns when it was delivered. */
void join_event(struct join *j, enum trace_src src, const struct kpleg_event *ev,
		uint64_t now_ns);

/* A row whose runtime timestamp can be looked up in tracker @src's cache. */
struct join_lookup {
	enum trace_src src;
	enum kpleg_event_type transition;
	char pod_uid[KPLEG_ID_MAX];
	char id[KPLEG_ID_MAX]; /* container or sandbox */
};
/* Up to @max lookups not asked for yet; each is handed out once. */
size_t join_take_lookups(struct join *j, struct join_lookup *out, size_t max);
/* The runtime's timestamp (CLOCK_MONOTONIC ns) for a looked-up row. */
void join_set_runtime(struct join *j, const struct join_lookup *l, int64_t mono_ns);

/* Rows complete, or open for @linger_ns since their first report (all rows
 * when @all), oldest first: @fn gets each (stops at its first error, which
 * is returned; the rest stay). Written rows are dropped, and later reports
 * about them ignored. A row no source timed (only the evented tracker's
 * relist saw it) is dropped unwritten. */
int join_flush(struct join *j, uint64_t now_ns, uint64_t linger_ns, bool all,
	       int (*fn)(const struct trace_row *r, void *ctx), void *ctx);
size_t join_open_rows(struct join *j);
