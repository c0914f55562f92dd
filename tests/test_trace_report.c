// SPDX-License-Identifier: Apache-2.0
/* The trace CSV (user/trace_csv.c) and the report's latency percentiles
 * (user/latency.c): rows written and read back unchanged; a good file's
 * percentiles and table; every kind of malformed line rejected with its
 * file and line; empty and header-only files; values at the int64 limit. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "latency.h"
#include "trace_csv.h"
#include "util.h"

#define HDR "pod_namespace,pod_name,pod_uid,sandbox_id,container_id,container_name,transition," \
	    "exit_code,reason,kernel_mono_ns,hint_mono_ns,cri_event_mono_ns,relist_mono_ns,"      \
	    "confirmed_mono_ns,runtime_mono_ns\n"
/* A ContainerDied row up to its times. */
#define DIED "ns,web-0,uid-1,sb1,c1,app,ContainerDied,3,Error,"

struct collected {
	struct trace_row rows[8];
	size_t n;
	struct latency_set set;
};

static int collect(const struct trace_row *r, void *ctx)
{
	struct collected *c = ctx;

	if (c->n < ARRAY_SIZE(c->rows))
		c->rows[c->n++] = *r;
	return latency_set_add(&c->set, r);
}

/* Reads @text as file "t.csv"; the error text goes to @err. */
static int read_text(const char *text, struct collected *c, char *err, size_t n)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	assert_non_null(f);
	memset(c, 0, sizeof(*c));
	latency_set_init(&c->set);
	*err = '\0';
	r = trace_csv_read(f, "t.csv", collect, c, err, n);
	fclose(f);
	latency_set_finish(&c->set);
	return r;
}

static char *print_table(const struct latency_set *set)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(latency_print(f, set, "t.csv"), 0);
	fclose(f);
	return buf;
}

static void test_roundtrip(void **state)
{
	struct trace_row a, b;
	struct collected c;
	char *text = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	trace_row_init(&a);
	strcpy(a.pod_namespace, "shop");
	strcpy(a.pod_name, "web,\"0\"");	     /* quoted on the way out */
	strcpy(a.pod_uid, "uid-1");
	strcpy(a.sandbox_id, "sb1");
	strcpy(a.container_id, "c1");
	strcpy(a.container_name, "app\tx"); /* control characters become '?' */
	a.transition = KPLEG_EVENT_CONTAINER_DIED;
	a.has_exit_code = true;
	a.exit_code = -2147483647 - 1;
	strcpy(a.reason, "OOMKilled");
	a.t[TRACE_KERNEL] = 0;
	a.t[TRACE_RELIST] = INT64_MAX;
	trace_row_init(&b);
	strcpy(b.pod_uid, "uid-1");
	strcpy(b.sandbox_id, "sb1");
	b.transition = KPLEG_EVENT_SANDBOX_READY;
	b.t[TRACE_CRI_EVENT] = 42;
	assert_non_null(f);
	assert_int_equal(trace_csv_write_header(f), 0);
	assert_int_equal(trace_csv_write_row(f, &a), 0);
	assert_int_equal(trace_csv_write_row(f, &b), 0);
	fclose(f);
	assert_int_equal(read_text(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 2);
	strcpy(a.container_name, "app?x");
	assert_memory_equal(&c.rows[0], &a, sizeof(a));
	assert_memory_equal(&c.rows[1], &b, sizeof(b));
	latency_set_fini(&c.set);
	free(text);
}

/* Ten ContainerDied rows: the kernel at 1 s, the relist 1..10 ms after it,
 * the hint 0.25 ms after it in half of them; CRLF line ends. */
static void test_good_file(void **state)
{
	char text[4096], err[256], *table;
	size_t off = 0;
	struct collected c;
	const struct latency_series *relist, *hint, *kernel;
	int ti = latency_transition_index(KPLEG_EVENT_CONTAINER_DIED);

	off += (size_t)snprintf(text + off, sizeof(text) - off, "%s", HDR);
	for (int i = 1; i <= 10; i++) {
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"ns,web-0,uid-1,sb1,c%d,app,ContainerDied,137,Error,"
					"1000000000,%s,,%d,,\r\n",
					i, i % 2 ? "1000250000" : "", 1000000000 + i * 1000000);
	}
	assert_int_equal(read_text(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.set.rows, 10);
	assert_int_equal(c.set.rows_of[ti], 10);
	relist = &c.set.s[ti][TRACE_RELIST];
	hint = &c.set.s[ti][TRACE_HINT];
	kernel = &c.set.s[ti][TRACE_KERNEL];
	assert_int_equal(relist->n, 10);
	assert_int_equal(latency_percentile(relist, 50), 5000000);  /* rank 5 */
	assert_int_equal(latency_percentile(relist, 90), 9000000);  /* rank 9 */
	assert_int_equal(latency_percentile(relist, 99), 10000000); /* rank ceil(9.9) = 10 */
	assert_int_equal(latency_percentile(relist, 100), 10000000);
	assert_int_equal(hint->n, 5);
	assert_int_equal(latency_percentile(hint, 50), 250000);
	assert_int_equal(kernel->n, 10);
	assert_int_equal(latency_percentile(kernel, 100), 0);
	assert_int_equal(c.set.s[ti][TRACE_CRI_EVENT].n, 0);
	table = print_table(&c.set);
	assert_non_null(strstr(table, "kpleg report: t.csv, 10 transitions\n"));
	assert_non_null(strstr(table, "earliest time any source saw the same"));
	assert_non_null(strstr(table, "ContainerDied (10)\n"));
	assert_non_null(strstr(table, "  relist           10         5.000         9.000        10.000"
				      "        10.000\n"));
	assert_non_null(strstr(table, "  hint              5         0.250         0.250"));
	assert_non_null(strstr(table, "  cri-event         0             -             -"));
	assert_null(strstr(table, "ContainerStarted"));
	free(table);
	latency_set_fini(&c.set);
}

static void test_nearest_rank(void **state)
{
	int64_t v3[] = { 10, 20, 30 }, v100[100];
	struct latency_series s3 = { .v = v3, .n = 3 }, s1 = { .v = v3, .n = 1 };
	struct latency_series s100 = { .v = v100, .n = 100 };

	for (int i = 0; i < 100; i++)
		v100[i] = i + 1;
	assert_int_equal(latency_percentile(&s1, 50), 10);
	assert_int_equal(latency_percentile(&s1, 99), 10);
	assert_int_equal(latency_percentile(&s3, 50), 20); /* ceil(1.5) = 2 */
	assert_int_equal(latency_percentile(&s3, 90), 30);
	assert_int_equal(latency_percentile(&s3, 33), 10); /* ceil(0.99) = 1 */
	assert_int_equal(latency_percentile(&s3, 34), 20);
	assert_int_equal(latency_percentile(&s100, 50), 50);
	assert_int_equal(latency_percentile(&s100, 90), 90);
	assert_int_equal(latency_percentile(&s100, 99), 99);
	assert_int_equal(latency_percentile(&s100, 100), 100);
}

struct bad {
	const char *line; /* after the header, at line 2 (or the header itself) */
	const char *why;
};

static void test_malformed(void **state)
{
	static const struct bad bad[] = {
		{ "pod,name\n", "t.csv:1: not a kpleg trace header" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,ContainerDied,3,Error,1,2,3,4,5\n",
		  "t.csv:2: 14 fields, expected 15" },
		{ HDR DIED "1,2,3,4,5,6,7\n", "t.csv:2: more than 15 fields" },
		{ HDR "ns,\"web-0,uid-1,sb1,c1,app,ContainerDied,3,Error,1,,,,,\n",
		  "t.csv:2: field 2: quote not closed" },
		{ HDR "ns,\"web\"0,uid-1,sb1,c1,app,ContainerDied,3,Error,1,,,,,\n",
		  "t.csv:2: field 2: text after the closing quote" },
		{ HDR "ns,we\"b,uid-1,sb1,c1,app,ContainerDied,3,Error,1,,,,,\n",
		  "t.csv:2: field 2: quote inside an unquoted field" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,ContainerConfirmed,3,Error,1,,,,,\n",
		  "t.csv:2: transition: \"ContainerConfirmed\" is not one a trace records" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,PodSync,,,1,,,,,\n",
		  "t.csv:2: transition: \"PodSync\"" },
		{ HDR DIED "12a,,,,,\n",
		  "t.csv:2: kernel_mono_ns: \"12a\" is not a whole number of nanoseconds" },
		{ HDR DIED ",-5,,,,\n", "t.csv:2: hint_mono_ns: \"-5\" is not a whole number" },
		{ HDR DIED ",,+5,,,\n", "t.csv:2: cri_event_mono_ns: \"+5\" is not a whole" },
		{ HDR DIED ",,,9223372036854775808,,\n",
		  "t.csv:2: relist_mono_ns: \"9223372036854775808\" is out of range" },
		{ HDR DIED ",,,,99999999999999999999999999,\n",
		  "t.csv:2: confirmed_mono_ns: \"99999999999999999999999999\" is out of range" },
		{ HDR DIED "1,,,,,1.5\n", "t.csv:2: runtime_mono_ns: \"1.5\" is not a whole" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,ContainerStarted,0,,1,,,,,\n",
		  "t.csv:2: exit_code: only a ContainerDied has one" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,ContainerDied,2147483648,,1,,,,,\n",
		  "t.csv:2: exit_code: \"2147483648\" is not a 32-bit integer" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,ContainerDied,x,,1,,,,,\n",
		  "t.csv:2: exit_code: \"x\" is not a 32-bit integer" },
		{ HDR "ns,web-0,uid-1,sb1,c1,app,SandboxReady,,,1,,,,,\n",
		  "t.csv:2: container_id must be empty for a SandboxReady" },
		{ HDR "ns,web-0,uid-1,sb1,,app,ContainerStarted,,,1,,,,,\n",
		  "t.csv:2: container_id must be set for a ContainerStarted" },
		{ HDR "ns,web-0,,sb1,c1,app,ContainerStarted,,,1,,,,,\n",
		  "t.csv:2: pod_uid must not be empty" },
		{ HDR "ns,web-0,uid-1,,,,SandboxRemoved,,,1,,,,,\n",
		  "t.csv:2: sandbox_id must be set for a SandboxRemoved" },
		{ HDR DIED ",,,,,5\n", "t.csv:2: no source's time" },
		{ HDR DIED "1,,,,,\n\n" DIED "1,,,,,\n", "t.csv:3: empty line" },
		{ HDR DIED "1,,,,,\n" DIED "1,\r,,,,\n", "t.csv:3: carriage return inside" },
		{ HDR "ns,web-0,uid-1,sb1,c1,"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aa,ContainerStarted,,,1,,,,,\n",
		  "t.csv:2: container_name: longer than 253 bytes" },
	};
	struct collected c;
	char err[512];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (read_text(bad[i].line, &c, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu: accepted or failed otherwise (\"%s\")", i, err);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err, bad[i].why);
		latency_set_fini(&c.set);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = HDR DIED "1,,,\0,,\n";
	struct collected c;
	char err[256];
	FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");

	assert_non_null(f);
	memset(&c, 0, sizeof(c));
	assert_int_equal(trace_csv_read(f, "t.csv", collect, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.csv:2: NUL byte in the line");
	fclose(f);
	latency_set_fini(&c.set);
}

static void test_empty(void **state)
{
	struct collected c;
	char err[256], *table;

	assert_int_equal(read_text("", &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.csv: empty file, expected the header line");
	latency_set_fini(&c.set);
	/* The header alone is a trace with no transitions. */
	assert_int_equal(read_text(HDR, &c, err, sizeof(err)), 0);
	assert_int_equal(c.set.rows, 0);
	table = print_table(&c.set);
	assert_non_null(strstr(table, "kpleg report: t.csv, 0 transitions\n"));
	assert_non_null(strstr(table, "(no transitions in this trace)"));
	free(table);
	latency_set_fini(&c.set);
	/* A container row whose sandbox the runtime did not name is fine. */
	assert_int_equal(read_text(HDR "ns,web-0,uid-1,,c1,app,ContainerCreated,,,,,,5,,\n", &c, err,
				   sizeof(err)),
			 0);
	assert_int_equal(c.set.rows, 1);
	latency_set_fini(&c.set);
	/* No final newline is fine. */
	assert_int_equal(read_text(HDR DIED "1,,,,,", &c, err, sizeof(err)), 0);
	assert_int_equal(c.set.rows, 1);
	latency_set_fini(&c.set);
}

/* Times at the ends of the range: differences up to INT64_MAX either way. */
static void test_huge_values(void **state)
{
	struct collected c;
	char err[256], *table, buf[32];
	int ti = latency_transition_index(KPLEG_EVENT_CONTAINER_DIED);

	assert_int_equal(read_text(HDR DIED "0,,,9223372036854775807,,\n" DIED
					    ",,,9223372036854775807,,0\n",
				   &c, err, sizeof(err)),
			 0);
	assert_int_equal(latency_percentile(&c.set.s[ti][TRACE_RELIST], 100), INT64_MAX);
	assert_int_equal(latency_percentile(&c.set.s[ti][TRACE_RELIST], 50), 0);
	assert_int_equal(latency_percentile(&c.set.s[ti][TRACE_RUNTIME], 100), -INT64_MAX);
	table = print_table(&c.set);
	assert_non_null(strstr(table, "9223372036854.775"));
	assert_non_null(strstr(table, "-9223372036854.775"));
	free(table);
	assert_string_equal(latency_ms_str(INT64_MIN, buf, sizeof(buf)), "-9223372036854.775");
	assert_string_equal(latency_ms_str(1999, buf, sizeof(buf)), "0.001");
	assert_string_equal(latency_ms_str(-1500000, buf, sizeof(buf)), "-1.500");
	latency_set_fini(&c.set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),    cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_nearest_rank), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul_byte),     cmocka_unit_test(test_empty),
		cmocka_unit_test(test_huge_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
