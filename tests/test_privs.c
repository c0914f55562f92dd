// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon's capability drop (user/cli/privs.c) in a process of many
 * threads. Each case runs in a forked child (the drop cannot be undone):
 * threads blocked in read(), poll() and a condition variable all end with
 * exactly the kept set, no_new_privs and the bounding set, and their
 * read() is restarted, not failed; threads born while the drop runs, and
 * after it, have the kept set; a thread that blocks every signal for a while
 * is waited for; one that blocks them for good makes the drop fail
 * (-ETIMEDOUT) rather than leave it holding more; a process holding no
 * capability just gets no_new_privs.
 */
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/privs.h"
#include "util.h"

#define N_WAITERS 12

static const struct privs_keep keep_drs[] = {
	{ CAP_DAC_READ_SEARCH, "test" },
};
#define KEEP_DRS (1ULL << CAP_DAC_READ_SEARCH)

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int v = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = CAP_LAST_CAP;
		fclose(f);
	}
	return v;
}

/* The calling thread: effective = permitted = @keep, nothing inheritable,
 * no_new_privs, and (@bset) the bounding set = @keep. */
static bool self_is(uint64_t keep, bool bset)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	uint64_t eff, prm, inh;

	if (syscall(SYS_capget, &hdr, d) < 0)
		return false;
	eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	if (eff != keep || prm != keep || inh || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return false;
	for (int c = 0; bset && c <= last_cap(); c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != (int)(keep >> c & 1))
			return false;
	return true;
}

/* Runs @fn in a child; its exit status (0: every check passed, else the
 * line of the first that failed). */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "test_privs: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			return __LINE__ % 250 + 1;                                       \
		}                                                                        \
	} while (0)

/* ---- threads blocked in system calls ---------------------------------------- */

enum wait_kind { WAIT_READ, WAIT_POLL, WAIT_COND };

struct waiter {
	pthread_t th;
	enum wait_kind kind;
	int pipe[2];
	bool block_a_while;  /* blocks every signal for 400 ms first */
	bool block_forever;
	ssize_t got;	       /* read()'s result */
	bool ok;
};

static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool cond_go;
static uint64_t want_keep;

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct pollfd p = { .fd = w->pipe[0], .events = POLLIN };
	sigset_t all;
	char c;

	if (w->block_a_while || w->block_forever) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	if (w->block_a_while) {
		const struct timespec ts = { .tv_nsec = 400 * 1000000L };

		nanosleep(&ts, NULL);
		pthread_sigmask(SIG_UNBLOCK, &all, NULL);
	}
	switch (w->kind) {
	case WAIT_READ:
		w->got = read(w->pipe[0], &c, 1); /* SA_RESTART: no EINTR */
		break;
	case WAIT_POLL:
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		w->got = read(w->pipe[0], &c, 1);
		break;
	case WAIT_COND:
		pthread_mutex_lock(&cond_lock);
		while (!cond_go)
			pthread_cond_wait(&cond, &cond_lock);
		pthread_mutex_unlock(&cond_lock);
		w->got = 1;
		break;
	}
	w->ok = self_is(want_keep, true);
	return NULL;
}

static int start_waiters(struct waiter *w, int n)
{
	for (int i = 0; i < n; i++) {
		w[i].kind = (enum wait_kind)(i % 3);
		if (pipe(w[i].pipe) < 0 || pthread_create(&w[i].th, NULL, waiter_main, &w[i]))
			return -1;
	}
	usleep(50000); /* let them block */
	return 0;
}

static void wake_waiters(struct waiter *w, int n)
{
	pthread_mutex_lock(&cond_lock);
	cond_go = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&cond_lock);
	for (int i = 0; i < n; i++)
		if (write(w[i].pipe[1], "x", 1) != 1)
			w[i].got = -2;
}

static int blocked_threads(void)
{
	struct waiter w[N_WAITERS] = { 0 };

	want_keep = KEEP_DRS;
	w[N_WAITERS - 1].block_a_while = true;
	CHECK(start_waiters(w, N_WAITERS) == 0);
	CHECK(privs_restrict(keep_drs, 1) == 0);
	CHECK(self_is(KEEP_DRS, true));
	wake_waiters(w, N_WAITERS);
	for (int i = 0; i < N_WAITERS; i++) {
		pthread_join(w[i].th, NULL);
		CHECK(w[i].got == 1);
		CHECK(w[i].ok);
	}
	return 0;
}

static void test_blocked_threads(void **state)
{
	assert_int_equal(in_child(blocked_threads), 0);
}

/* ---- threads being born -------------------------------------------------------- */

static atomic_bool spawning, dropped;
static atomic_int born_after, bad_after;

static void *newborn(void *arg)
{
	if (arg && !self_is(KEEP_DRS, true))
		atomic_fetch_add(&bad_after, 1);
	return NULL;
}

static void *spawner(void *arg)
{
	while (atomic_load(&spawning)) {
		bool after = atomic_load(&dropped);
		pthread_t t;

		if (pthread_create(&t, NULL, newborn, after ? (void *)1 : NULL) == 0) {
			pthread_join(t, NULL);
			if (after)
				atomic_fetch_add(&born_after, 1);
		}
	}
	return NULL;
}

static int threads_born_meanwhile(void)
{
	pthread_t sp[3];
	const struct timespec ms20 = { .tv_nsec = 20 * 1000000L };

	atomic_store(&spawning, true);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&sp[i], NULL, spawner, NULL) == 0);
	nanosleep(&ms20, NULL);
	CHECK(privs_restrict(keep_drs, 1) == 0);
	atomic_store(&dropped, true);
	while (atomic_load(&born_after) < 30)
		nanosleep(&ms20, NULL);
	atomic_store(&spawning, false);
	for (int i = 0; i < 3; i++)
		pthread_join(sp[i], NULL);
	CHECK(atomic_load(&bad_after) == 0);
	return 0;
}

static void test_threads_born_meanwhile(void **state)
{
	assert_int_equal(in_child(threads_born_meanwhile), 0);
}

/* ---- a thread that never takes the signal -------------------------------------- */

static int signals_blocked_for_good(void)
{
	struct waiter w = { .block_forever = true, .kind = WAIT_READ };
	uint64_t t0;

	want_keep = KEEP_DRS;
	CHECK(start_waiters(&w, 1) == 0);
	t0 = now_mono_ns();
	CHECK(privs_restrict(keep_drs, 1) == -ETIMEDOUT);
	CHECK(now_mono_ns() - t0 < 30 * NSEC_PER_SEC);
	return 0;
}

static void test_signals_blocked_for_good(void **state)
{
	assert_int_equal(in_child(signals_blocked_for_good), 0);
}

/* ---- the kept set, and a process with nothing to keep -------------------------------- */

static int keeps_what_is_asked(void)
{
	const struct privs_keep two[] = { { CAP_DAC_READ_SEARCH, "a" }, { CAP_BPF, "b" } };

	CHECK(privs_restrict(two, 2) == 0);
	CHECK(self_is(KEEP_DRS | 1ULL << CAP_BPF, true));
	return 0;
}

static int keeps_nothing(void)
{
	CHECK(privs_restrict(NULL, 0) == 0);
	CHECK(self_is(0, true));
	return 0;
}

static int without_capabilities(void)
{
	/* A uid change from 0 clears the permitted set (no SECBIT_KEEP_CAPS). */
	CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0);
	CHECK(privs_restrict(keep_drs, 1) == 0); /* "not held, going on without it" */
	CHECK(self_is(0, false));
	CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 1); /* no CAP_SETPCAP to drop it */
	return 0;
}

static void test_sets(void **state)
{
	assert_int_equal(getuid(), 0); /* the suite runs as root */
	assert_int_equal(in_child(keeps_what_is_asked), 0);
	assert_int_equal(in_child(keeps_nothing), 0);
	assert_int_equal(in_child(without_capabilities), 0);
}

static void test_names(void **state)
{
	char buf[16];

	assert_string_equal(privs_cap_name(CAP_DAC_READ_SEARCH, buf, sizeof(buf)),
			    "cap_dac_read_search");
	assert_string_equal(privs_cap_name(CAP_BPF, buf, sizeof(buf)), "cap_bpf");
	assert_string_equal(privs_cap_name(0, buf, sizeof(buf)), "cap_chown");
	assert_string_equal(privs_cap_name(63, buf, sizeof(buf)), "cap_63");
	assert_string_equal(privs_cap_name(-1, buf, sizeof(buf)), "cap_-1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_threads),
		cmocka_unit_test(test_threads_born_meanwhile),
		cmocka_unit_test(test_signals_blocked_for_good),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
