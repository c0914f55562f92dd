/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CSV that `kpleg trace` writes and `kpleg report` reads (columns in
 * docs/TRACE.md): one row per transition of one object, with the time each
 * source saw it on CLOCK_MONOTONIC (ns), empty where a source did not.
 * Writing quotes a field holding a comma or a quote (RFC 4180) and writes
 * control characters as '?'; reading is strict: the exact header, the exact
 * number of fields, known transitions, whole numbers in range, one record per
 * line. The first error names the line and what is wrong with it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kpleg/kpleg.h"

/* The time columns, in CSV order. */
enum trace_time {
	TRACE_KERNEL,	 /* the kernel's own time (BPF) */
	TRACE_HINT,	 /* the provisional ContainerDied from the kernel delivered */
	TRACE_CRI_EVENT, /* delivered from the runtime's event stream */
	TRACE_RELIST,	 /* delivered by the 1 s relist */
	TRACE_CONFIRMED, /* the runtime's word delivered after a hint (or its relist) */
	TRACE_RUNTIME,	 /* the runtime's own timestamp, moved to CLOCK_MONOTONIC */
	TRACE_TIME_N,
};

/* Times are 0..INT64_MAX (CLOCK_MONOTONIC ns); TRACE_NONE marks an empty cell. */
#define TRACE_NONE INT64_C(-1)

struct trace_row {
	char pod_namespace[KPLEG_NAME_MAX];
	char pod_name[KPLEG_NAME_MAX];
	char pod_uid[KPLEG_ID_MAX];
	char sandbox_id[KPLEG_ID_MAX];
	char container_id[KPLEG_ID_MAX]; /* "" for sandbox transitions */
	char container_name[KPLEG_NAME_MAX];
	enum kpleg_event_type transition; /* never POD_SYNC or CONTAINER_CONFIRMED */
	bool has_exit_code;
	int32_t exit_code;
	char reason[KPLEG_REASON_MAX];
	int64_t t[TRACE_TIME_N]; /* TRACE_NONE or 0..INT64_MAX */
};

/* The header line's column names, and the short name of each time column
 * ("kernel", "hint", "cri-event", "relist", "confirmed", "runtime-ts"). */
extern const char trace_csv_header[];
const char *trace_time_name(enum trace_time i);

/* A row with every time empty. */
void trace_row_init(struct trace_row *r);
/* Whether @type is a transition a trace records. */
bool trace_transition_ok(enum kpleg_event_type type);

/* One line with its '\n'. 0 or -errno (write error). */
int trace_csv_write_header(FILE *f);
int trace_csv_write_row(FILE *f, const struct trace_row *r);

/* Parses one line (without its line end) into @ret. 0, or -EINVAL with
 * what is wrong in @err. */
int trace_csv_parse_row(const char *line, struct trace_row *ret, char *err, size_t err_size);
/* 0 if @line is the header, else -EINVAL with the reason in @err. */
int trace_csv_check_header(const char *line, char *err, size_t err_size);

/* Reads a whole trace: @fn gets every row (and may stop the read with a
 * negative return, passed back). 0, or -errno; on a bad file -EINVAL with
 * "FILE:LINE: reason" (or "FILE: reason") in @err. */
int trace_csv_read(FILE *f, const char *name,
		   int (*fn)(const struct trace_row *r, void *ctx), void *ctx,
		   char *err, size_t err_size);
