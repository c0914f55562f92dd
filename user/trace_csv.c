// SPDX-License-Identifier: Apache-2.0
/* The trace CSV: writing rows as `kpleg trace` completes them, and a strict
 * reader for `kpleg report` (format in trace_csv.h, columns in docs/TRACE.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "trace_csv.h"
#include "util.h"

#define N_STR_FIELDS 6
#define N_FIELDS (N_STR_FIELDS + 3 + TRACE_TIME_N)
/* No real row comes near this (six bounded strings and eight numbers). */
#define LINE_MAX_BYTES 4096

const char trace_csv_header[] =
	"pod_namespace,pod_name,pod_uid,sandbox_id,container_id,container_name,transition,"
	"exit_code,reason,kernel_mono_ns,hint_mono_ns,cri_event_mono_ns,relist_mono_ns,"
	"confirmed_mono_ns,runtime_mono_ns";

static const char *const time_names[TRACE_TIME_N] = {
	[TRACE_KERNEL] = "kernel",	  [TRACE_HINT] = "hint",
	[TRACE_CRI_EVENT] = "cri-event", [TRACE_RELIST] = "relist",
	[TRACE_CONFIRMED] = "confirmed", [TRACE_RUNTIME] = "runtime-ts",
};

const char *trace_time_name(enum trace_time i)
{
	return (unsigned)i < TRACE_TIME_N ? time_names[i] : "?";
}

void trace_row_init(struct trace_row *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < TRACE_TIME_N; i++)
		r->t[i] = TRACE_NONE;
}

bool trace_transition_ok(enum kpleg_event_type type)
{
	switch (type) {
	case KPLEG_EVENT_CONTAINER_CREATED:
	case KPLEG_EVENT_CONTAINER_STARTED:
	case KPLEG_EVENT_CONTAINER_DIED:
	case KPLEG_EVENT_CONTAINER_REMOVED:
	case KPLEG_EVENT_SANDBOX_READY:
	case KPLEG_EVENT_SANDBOX_NOTREADY:
	case KPLEG_EVENT_SANDBOX_REMOVED:
		return true;
	default:
		return false;
	}
}

static bool is_sandbox_transition(enum kpleg_event_type type)
{
	return type == KPLEG_EVENT_SANDBOX_READY || type == KPLEG_EVENT_SANDBOX_NOTREADY ||
	       type == KPLEG_EVENT_SANDBOX_REMOVED;
}

/* ---- writing ------------------------------------------------------------------ */

static void put_str(FILE *f, const char *s)
{
	bool quote = strpbrk(s, ",\"") != NULL;

	if (quote)
		fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"')
			fputs("\"\"", f);
		else
			fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
	if (quote)
		fputc('"', f);
	fputc(',', f);
}

int trace_csv_write_header(FILE *f)
{
	fprintf(f, "%s\n", trace_csv_header);
	return ferror(f) ? -EIO : 0;
}

int trace_csv_write_row(FILE *f, const struct trace_row *r)
{
	const char *strs[] = { r->pod_namespace, r->pod_name,	  r->pod_uid,
			       r->sandbox_id,	 r->container_id, r->container_name,
			       kpleg_event_type_str(r->transition) };

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		put_str(f, strs[i]);
	if (r->has_exit_code)
		fprintf(f, "%" PRId32, r->exit_code);
	fputc(',', f);
	put_str(f, r->reason);
	for (int i = 0; i < TRACE_TIME_N; i++) {
		if (r->t[i] >= 0)
			fprintf(f, "%" PRId64, r->t[i]);
		fputc(i + 1 < TRACE_TIME_N ? ',' : '\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

/* ---- reading ------------------------------------------------------------------ */

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Splits @line into at most @max fields, unquoting in place into @buf
 * (strlen(line) + 1 bytes). Returns the number of fields or -EINVAL. */
static int split(const char *line, char *buf, char **fields, int max, char *err, size_t n)
{
	const char *p = line;
	char *o = buf;
	int nf = 0;

	for (;;) {
		if (nf == max)
			return fail(err, n, "more than %d fields", max);
		fields[nf++] = o;
		if (*p == '"') {
			for (p++;; p++) {
				if (!*p)
					return fail(err, n, "field %d: quote not closed", nf);
				if (*p == '"' && p[1] != '"')
					break;
				if (*p == '"')
					p++;
				*o++ = *p;
			}
			p++;
			if (*p && *p != ',')
				return fail(err, n, "field %d: text after the closing quote", nf);
		} else {
			for (; *p && *p != ','; p++) {
				if (*p == '"')
					return fail(err, n, "field %d: quote inside an unquoted field", nf);
				*o++ = *p;
			}
		}
		*o++ = '\0';
		if (!*p)
			return nf;
		p++; /* the comma */
	}
}

static int copy_field(char *dst, size_t size, const char *src, const char *col, char *err,
		      size_t n)
{
	size_t len = strlen(src);

	if (len >= size)
		return fail(err, n, "%s: longer than %zu bytes", col, size - 1);
	memcpy(dst, src, len + 1);
	return 0;
}

/* Decimal digits only, 0..@max. */
static int parse_digits(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

static int parse_time(const char *s, const char *col, int64_t *ret, char *err, size_t n)
{
	uint64_t v;
	int r;

	if (!*s) {
		*ret = TRACE_NONE;
		return 0;
	}
	r = parse_digits(s, INT64_MAX, &v);
	if (r == -ERANGE)
		return fail(err, n, "%s: \"%s\" is out of range (0 to %" PRId64 " ns)", col, s,
			    INT64_MAX);
	if (r < 0)
		return fail(err, n, "%s: \"%s\" is not a whole number of nanoseconds", col, s);
	*ret = (int64_t)v;
	return 0;
}

static int parse_exit_code(const char *s, struct trace_row *row, char *err, size_t n)
{
	bool neg = *s == '-';
	uint64_t v;

	row->has_exit_code = *s != '\0';
	if (!*s)
		return 0;
	if (row->transition != KPLEG_EVENT_CONTAINER_DIED)
		return fail(err, n, "exit_code: only a ContainerDied has one");
	if (parse_digits(s + neg, neg ? (uint64_t)INT32_MAX + 1 : INT32_MAX, &v) < 0)
		return fail(err, n, "exit_code: \"%s\" is not a 32-bit integer", s);
	row->exit_code = neg ? (int32_t)(-(int64_t)v) : (int32_t)v;
	return 0;
}

static int parse_transition(const char *s, enum kpleg_event_type *ret, char *err, size_t n)
{
	for (int t = KPLEG_EVENT_CONTAINER_CREATED; t <= KPLEG_EVENT_CONTAINER_CONFIRMED; t++)
		if (trace_transition_ok(t) && !strcmp(s, kpleg_event_type_str(t))) {
			*ret = t;
			return 0;
		}
	return fail(err, n, "transition: \"%s\" is not one a trace records", s);
}

/* The object's ids fit its transition, and some source saw it. */
static int check_row(const struct trace_row *r, char *err, size_t n)
{
	if (!*r->pod_uid)
		return fail(err, n, "pod_uid must not be empty");
	if (is_sandbox_transition(r->transition) && !*r->sandbox_id)
		return fail(err, n, "sandbox_id must be set for a %s",
			    kpleg_event_type_str(r->transition));
	if (is_sandbox_transition(r->transition) != !*r->container_id)
		return fail(err, n, "container_id must be %s for a %s",
			    *r->container_id ? "empty" : "set",
			    kpleg_event_type_str(r->transition));
	for (int i = 0; i < TRACE_RUNTIME; i++)
		if (r->t[i] != TRACE_NONE)
			return 0;
	return fail(err, n, "no source's time: every column from kernel_mono_ns to "
			    "confirmed_mono_ns is empty");
}

int trace_csv_parse_row(const char *line, struct trace_row *ret, char *err, size_t n)
{
	static const char *const cols[N_STR_FIELDS] = { "pod_namespace", "pod_name",
							"pod_uid",	 "sandbox_id",
							"container_id",	 "container_name" };
	static const char *const tcols[TRACE_TIME_N] = {
		"kernel_mono_ns", "hint_mono_ns",      "cri_event_mono_ns",
		"relist_mono_ns", "confirmed_mono_ns", "runtime_mono_ns",
	};
	_cleanup_free_ char *buf = malloc(strlen(line) + 1);
	struct trace_row row;
	char *f[N_FIELDS];
	char *dst[N_STR_FIELDS] = { row.pod_namespace, row.pod_name,	 row.pod_uid,
				    row.sandbox_id,    row.container_id, row.container_name };
	size_t sizes[N_STR_FIELDS] = { sizeof(row.pod_namespace), sizeof(row.pod_name),
				       sizeof(row.pod_uid),	  sizeof(row.sandbox_id),
				       sizeof(row.container_id),  sizeof(row.container_name) };
	int nf, r;

	if (!buf)
		return -ENOMEM;
	trace_row_init(&row);
	nf = split(line, buf, f, N_FIELDS, err, n);
	if (nf < 0)
		return nf;
	if (nf != N_FIELDS)
		return fail(err, n, "%d fields, expected %d", nf, N_FIELDS);
	for (int i = 0; i < N_STR_FIELDS; i++)
		if ((r = copy_field(dst[i], sizes[i], f[i], cols[i], err, n)) < 0)
			return r;
	if ((r = parse_transition(f[6], &row.transition, err, n)) < 0 ||
	    (r = parse_exit_code(f[7], &row, err, n)) < 0 ||
	    (r = copy_field(row.reason, sizeof(row.reason), f[8], "reason", err, n)) < 0)
		return r;
	for (int i = 0; i < TRACE_TIME_N; i++)
		if ((r = parse_time(f[9 + i], tcols[i], &row.t[i], err, n)) < 0)
			return r;
	if ((r = check_row(&row, err, n)) < 0)
		return r;
	*ret = row;
	return 0;
}

int trace_csv_check_header(const char *line, char *err, size_t n)
{
	if (strcmp(line, trace_csv_header))
		return fail(err, n, "not a kpleg trace header: expected \"%s\"", trace_csv_header);
	return 0;
}

/* Strips the line end ("\n" or "\r\n"); -EINVAL for a NUL or a stray CR. */
static int trim_line(char *line, ssize_t len, char *err, size_t n)
{
	if ((size_t)len != strlen(line))
		return fail(err, n, "NUL byte in the line");
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strchr(line, '\r') || strchr(line, '\n'))
		return fail(err, n, "carriage return inside the line");
	if (len > LINE_MAX_BYTES)
		return fail(err, n, "longer than %d bytes", LINE_MAX_BYTES);
	if (len == 0)
		return fail(err, n, "empty line");
	return 0;
}

int trace_csv_read(FILE *f, const char *name, int (*fn)(const struct trace_row *r, void *ctx),
		   void *ctx, char *err, size_t n)
{
	_cleanup_free_ char *line = NULL;
	char why[256];
	size_t cap = 0;
	unsigned long no = 0;
	ssize_t len;
	struct trace_row row;
	int r;

	while ((len = getline(&line, &cap, f)) >= 0) {
		no++;
		r = trim_line(line, len, why, sizeof(why));
		if (r == 0)
			r = no == 1 ? trace_csv_check_header(line, why, sizeof(why))
				    : trace_csv_parse_row(line, &row, why, sizeof(why));
		if (r == -EINVAL) {
			snprintf(err, n, "%s:%lu: %s", name, no, why);
			return r;
		}
		if (r < 0)
			return r;
		if (no > 1 && (r = fn(&row, ctx)) < 0)
			return r;
	}
	if (ferror(f))
		return -EIO;
	if (no == 0) {
		snprintf(err, n, "%s: empty file, expected the header line", name);
		return -EINVAL;
	}
	return 0;
}
