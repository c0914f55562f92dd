// SPDX-License-Identifier: Apache-2.0
/* The daemon's replay buffer (user/evlog.c): reads from a position, the
 * buffer wrapping (-ESTALE, never a silent gap), waiting for more, closing. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "evlog.h"
#include "util.h"

static void push(struct evlog *l, uint64_t seq)
{
	struct kpleg_event ev = { .seq = seq, .type = KPLEG_EVENT_CONTAINER_STARTED };

	snprintf(ev.container_id, sizeof(ev.container_id), "c%llu", (unsigned long long)seq);
	evlog_push(l, &ev);
}

static void test_read_and_wrap(void **state)
{
	struct kpleg_event out[8];
	struct evlog *l;

	assert_int_equal(evlog__new(4, &l), 0);
	assert_int_equal(evlog_next_seq(l), 1);
	assert_int_equal(evlog_read(l, 1, out, 8, 0), 0);
	for (uint64_t s = 1; s <= 3; s++)
		push(l, s);
	assert_int_equal(evlog_read(l, 2, out, 8, 0), 2);
	assert_int_equal(out[0].seq, 2);
	assert_string_equal(out[1].container_id, "c3");
	assert_int_equal(evlog_read(l, 1, out, 1, 0), 1); /* bounded by max */
	for (uint64_t s = 4; s <= 6; s++)
		push(l, s);
	/* 4 kept: 3..6. A reader at 2 has lost events and is told so. */
	assert_int_equal(evlog_oldest_seq(l), 3);
	assert_int_equal(evlog_read(l, 2, out, 8, 0), -ESTALE);
	assert_int_equal(evlog_read(l, 3, out, 8, 0), 4);
	assert_int_equal(out[3].seq, 6);
	assert_int_equal(evlog_read(l, 7, out, 8, 0), 0);
	assert_int_equal(evlog_next_seq(l), 7);
	evlog__free(l);
}

static void *later(void *arg)
{
	usleep(100 * 1000);
	push(arg, 1);
	return NULL;
}

static void test_wait_and_close(void **state)
{
	struct kpleg_event out[2];
	struct evlog *l;
	pthread_t th;
	uint64_t t0;

	assert_int_equal(evlog__new(8, &l), 0);
	t0 = now_mono_ns();
	assert_int_equal(evlog_read(l, 1, out, 2, 50), 0); /* times out */
	assert_true(now_mono_ns() - t0 >= 45 * NSEC_PER_MSEC);
	assert_int_equal(pthread_create(&th, NULL, later, l), 0);
	assert_int_equal(evlog_read(l, 1, out, 2, 5000), 1); /* woken by the push */
	pthread_join(th, NULL);
	evlog_close(l);
	assert_int_equal(evlog_read(l, 2, out, 2, 5000), -ECANCELED);
	evlog__free(l);
	assert_int_equal(evlog__new(0, &l), -EINVAL);
	evlog__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_and_wrap),
		cmocka_unit_test(test_wait_and_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
