/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How the CLI prints the library's events, health and pod status: JSON (one
 * object per line for `watch`, an array for `pods`; the schema is documented
 * in docs/EVENTS.md and is stable) and readable text.
 *
 * Print functions return 0 or -errno from the stream (e.g. -EPIPE when the
 * reader went away); every line is flushed as soon as it is written.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "kpleg/kpleg.h"

/* Event type for a lost-events marker in `watch` output (queue overflow). */
#define OUT_EVENTS_LOST "EventsLost"
/* Event type for a Resync in `events` output (kpleg daemon's Watch). */
#define OUT_RESYNC "Resync"

/* A Resync from the daemon's Watch stream (`kpleg events`): what came before
 * is superseded; @pods are the matching pods as of @seq, and the events
 * after @seq follow. */
struct out_resync {
	const char *reason;		/* the daemon's words: "seq 12 no longer buffered" */
	uint64_t seq, epoch;
	uint64_t observed_mono_ns;	/* when the daemon took the snapshot */
	uint64_t observed_real_ns;	/* the same instant on the wall clock */
	struct kpleg_pod_status *const *pods;
	size_t n_pods;
};

/* RFC 3339 in UTC with @digits (0-9) fractional digits:
 * "2025-11-29T14:31:00.123456789Z". Needs 36 bytes for 9 digits. */
#define OUT_TIME_MAX 40
void out_format_time(uint64_t real_ns, int digits, char *buf, size_t n);
/* Short ages as kubectl prints them: 42s, 3m12s, 5h4m, 2d3h. */
void out_format_age(uint64_t age_ns, char *buf, size_t n);

const char *out_container_state_str(enum kpleg_container_state s); /* "Running" */
const char *out_sandbox_state_str(enum kpleg_sandbox_state s);	    /* "NotReady" */

/* Pod summary used by both the table and JSON. */
struct out_pod_summary {
	const struct kpleg_sandbox_status *sandbox; /* newest, NULL if none */
	unsigned ready, total;			     /* running / distinct containers */
};
void out_pod_summarize(const struct kpleg_pod_status *p, struct out_pod_summary *ret);
/* The newest attempt of each container name in the newest sandbox: true if
 * @c is one of them (the others are earlier, replaced attempts). */
bool out_container_is_current(const struct kpleg_pod_status *p,
			      const struct kpleg_sandbox_status *sb,
			      const struct kpleg_container_status *c);

/* ---- JSON (output_json.c) ------------------------------------------------- */
json_object *out_event_json(const struct kpleg_event *ev);
json_object *out_health_json(const struct kpleg_health *h);
json_object *out_events_lost_json(void);
json_object *out_pod_json(const struct kpleg_pod_status *p);
/* Writes @o on one line plus '\n', flushes, and drops the reference. */
int out_json_line(FILE *f, json_object *o);
/* `pods -o json`: one pretty-printed array. */
int out_pods_json(FILE *f, struct kpleg_pod_status *const *pods, size_t n);
/* `get -o json`: one pod, pretty-printed like an element of the array above. */
int out_pod_json_pretty(FILE *f, const struct kpleg_pod_status *p);
/* {"type":"Resync","reason":...,"seq":...,"epoch":...,"observed_mono_ns":...,
 * "observed_time":...,"pods":[...]}, pods as in `pods -o json`. */
json_object *out_resync_json(const struct out_resync *rs);

/* ---- text (output_text.c) ------------------------------------------------- */
int out_event_text_header(FILE *f);
int out_event_text(FILE *f, const struct kpleg_event *ev);
int out_health_text(FILE *f, const struct kpleg_health *h, uint64_t real_ns);
int out_events_lost_text(FILE *f, uint64_t real_ns);
/* One line: when, "Resync", the reason, how many pods as of which seq. */
int out_resync_text(FILE *f, const struct out_resync *rs);
/* `pods` table; @wide adds sandbox id, IP and one line per container. */
int out_pods_table(FILE *f, struct kpleg_pod_status *const *pods, size_t n, bool wide,
		   uint64_t now_real_ns);
