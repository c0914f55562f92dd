// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel hints against the real kernel (root needed: without it these tests
 * FAIL, they do not skip). Each group makes its own root cgroup in one
 * hierarchy (v1 memory, then the v2 default hierarchy), tracks it, and every
 * test makes children under it, runs processes there, and checks the hints
 * and the map. Every cgroup is removed in teardown, also after a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "hints.h"

#define MAX_SEEN 4096
#define MAX_DIRS 512

struct env {
	const char *controller;
	char mount[PATH_MAX];
	char root[PATH_MAX];	 /* tracked */
	char sibling[PATH_MAX];	 /* not tracked */
	char rootname[64];
	char kpname[64];	 /* the root name (opts.root_names) of this run */
	struct hints *h;
	struct {
		uint64_t cgid;
		int rc;		 /* hints__path inside the callback */
		char path[KPLEG_PATH_MAX];
		char table[KPLEG_PATH_MAX];
	} created[64];		 /* CREATED paths, a ring */
	int n_created;
	struct kpleg_hint seen[MAX_SEEN];
	int n_seen;
	char *dirs[MAX_DIRS];	 /* made by the current test, removed in teardown */
	int n_dirs;
};

static struct env env_v1 = { .controller = "memory" };
static struct env env_v2 = { .controller = "unified" };

/* ---- cgroup helpers ------------------------------------------------------ */

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	int fd, n, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Kills what is left in @dir and removes it (children first). */
static void rm_cgroup(const char *dir)
{
	char path[PATH_MAX], line[32];
	FILE *f;

	for (int tries = 0; tries < 100; tries++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return;
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		f = fopen(path, "re");
		if (f) {
			while (fgets(line, sizeof(line), f))
				kill(atoi(line), SIGKILL);
			fclose(f);
		}
		usleep(10000);
	}
	fprintf(stderr, "test_hints_bpf: could not remove %s: %s\n", dir, strerror(errno));
}

static char *mk_cgroup(struct env *e, const char *parent, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", parent, name) > 0);
	if (mkdir(p, 0755) && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	assert_true(e->n_dirs < MAX_DIRS);
	e->dirs[e->n_dirs++] = p;
	return p;
}

static uint64_t cg_id(const char *path)
{
	uint64_t id = 0;
	int err = hints_cgroup_id(path, &id);

	if (err)
		fail_msg("cgroup id of %s: %s", path, strerror(-err));
	return id;
}

/* Forks a child that moves itself into @dir and runs `sh -c @script`. */
static pid_t run_in(const char *dir, const char *script)
{
	pid_t pid = fork();
	char buf[32];

	assert_true(pid >= 0);
	if (pid == 0) {
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (write_file(dir, "cgroup.procs", buf))
			_exit(99);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(98);
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* ---- hint collection ----------------------------------------------------- */

static int on_hint(void *ctx, const struct kpleg_hint *hint)
{
	struct env *e = ctx;

	if (e->n_seen < MAX_SEEN)
		e->seen[e->n_seen++] = *hint;
	if (hint->type == HINT_CGROUP_CREATED) {
		const struct kpleg_hint_created *c = (const void *)hint;
		int i = e->n_created++ % 64;

		e->created[i].cgid = hint->cgid;
		snprintf(e->created[i].path, KPLEG_PATH_MAX, "%s", c->path);
		assert_int_equal(c->path_len, strlen(c->path));
		e->created[i].rc = hints__path(e->h, hint->cgid, e->created[i].table, KPLEG_PATH_MAX);
	}
	return 0;
}

/* The CREATED path of @cgid as the ring and hints__path gave it in the callback. */
static const char *created_path(struct env *e, uint64_t cgid)
{
	for (int i = 0; i < 64 && i < e->n_created; i++)
		if (e->created[i].cgid == cgid) {
			assert_int_equal(e->created[i].rc, 0);
			assert_string_equal(e->created[i].table, e->created[i].path);
			return e->created[i].path;
		}
	fail_msg("no CREATED path for cgid %llu", (unsigned long long)cgid);
	return NULL;
}

static void assert_path(struct env *e, uint64_t cgid, const char *want)
{
	char buf[KPLEG_PATH_MAX];
	int err = hints__path(e->h, cgid, buf, sizeof(buf));

	if (err)
		fail_msg("hints__path(%s): %s", want, strerror(-err));
	assert_string_equal(buf, want);
}

static bool has(struct env *e, uint64_t cgid, uint32_t type)
{
	for (int i = 0; i < e->n_seen; i++)
		if (e->seen[i].cgid == cgid && e->seen[i].type == type)
			return true;
	return false;
}

/* Polls until @cgid got a hint of @type or @ms passed (type 0: just wait). */
static void collect(struct env *e, uint64_t cgid, uint32_t type, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (type && has(e, cgid, type))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			return;
		int n = hints__poll(e->h, 20, on_hint, e);

		if (n < 0 && n != -EINTR)
			fail_msg("hints__poll: %s", strerror(-n));
	}
}

/* The hints of @cgid in arrival order, into @ret (at most @max). */
static int hints_of(struct env *e, uint64_t cgid, struct kpleg_hint *ret, int max)
{
	int n = 0;

	for (int i = 0; i < e->n_seen && n < max; i++)
		if (e->seen[i].cgid == cgid)
			ret[n++] = e->seen[i];
	return n;
}

/* ---- fixtures -------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct env *e = *state;
	struct hints_opts o = { .controller = e->controller };
	const char *roots[1], *names[1];
	int err;

	if (geteuid() != 0)
		fail_msg("test_hints_bpf needs root (real BPF and cgroupfs); not skipping");
	snprintf(e->rootname, sizeof(e->rootname), "kpleg-test-%d", getpid());
	/* Not "kubepods": a real node's would collide. */
	snprintf(e->kpname, sizeof(e->kpname), "kpleg-kp-%d", getpid());
	roots[0] = e->rootname;
	names[0] = e->kpname;
	o.roots = roots;
	o.n_roots = 1;
	o.root_names = names;
	o.n_root_names = 1;
	e->h = hints__new(&o);
	if (!e->h)
		fail_msg("hints__new(%s): %s", e->controller, strerror(errno));
	snprintf(e->mount, sizeof(e->mount), "%s", hints__mount(e->h));
	if (snprintf(e->root, sizeof(e->root), "%s/%s", e->mount, e->rootname) >=
		    (int)sizeof(e->root) ||
	    snprintf(e->sibling, sizeof(e->sibling), "%s/kpleg-untracked-%d", e->mount,
		     getpid()) >= (int)sizeof(e->sibling))
		fail_msg("cgroup path too long under %s", e->mount);
	if (mkdir(e->root, 0755) || mkdir(e->sibling, 0755))
		fail_msg("mkdir under %s: %s", e->mount, strerror(errno));
	err = hints__start(e->h);
	if (err)
		fail_msg("hints__start(%s): %s (BPF must be usable here)", e->controller,
			 strerror(-err));
	fprintf(stderr, "# hierarchy %s id %u\n", e->mount, hints__hierarchy_id(e->h));
	return 0;
}

static int group_teardown(void **state)
{
	struct env *e = *state;

	hints__free(e->h);
	e->h = NULL;
	rm_cgroup(e->root);
	rm_cgroup(e->sibling);
	return 0;
}

static int test_setup(void **state)
{
	struct env *e = *state;

	e->n_seen = 0;
	e->n_dirs = 0;
	collect(e, 0, 0, 50); /* drain what earlier tests left */
	e->n_seen = 0;
	e->n_created = 0;
	return 0;
}

static int test_teardown(void **state)
{
	struct env *e = *state;

	for (int i = e->n_dirs - 1; i >= 0; i--) {
		rm_cgroup(e->dirs[i]);
		free(e->dirs[i]);
	}
	e->n_dirs = 0;
	return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_root_seeded(void **state)
{
	struct env *e = *state;
	struct kpleg_cg_state st;
	char want[128], buf[KPLEG_PATH_MAX];

	assert_int_equal(hints__lookup(e->h, cg_id(e->root), &st), 0);
	assert_true(st.flags & KPLEG_CG_SEEDED);
	assert_int_equal(st.level, 1);
	assert_int_equal(st.live_tasks, 0);
	assert_int_equal(hints__lookup(e->h, cg_id(e->sibling), &st), -ENOENT);
	/* The seeding walk's path, relative to the mount like the tracepoint's. */
	snprintf(want, sizeof(want), "/%s", e->rootname);
	assert_path(e, cg_id(e->root), want);
	assert_int_equal(hints__path(e->h, cg_id(e->root), buf, 3), -ENAMETOOLONG);
	assert_int_equal(hints__path(e->h, cg_id(e->sibling), buf, sizeof(buf)), -ENOENT);
	fprintf(stderr, "# seeded path %s\n", want);
}

static void check_run(struct env *e, const char *name, const char *script, int want_code,
		      int want_status)
{
	struct kpleg_hint got[16];
	struct kpleg_cg_state st;
	char *dir = mk_cgroup(e, e->root, name);
	uint64_t id = cg_id(dir), root_id = cg_id(e->root);
	char want[128], buf[KPLEG_PATH_MAX];
	int n, status;

	collect(e, id, HINT_CGROUP_CREATED, 2000);
	snprintf(want, sizeof(want), "/%s/%s", e->rootname, name);
	assert_string_equal(created_path(e, id), want);
	assert_path(e, id, want);
	status = wait_status(run_in(dir, script));
	assert_int_equal(status, want_status);
	collect(e, id, HINT_EXITED, 2000);
	n = hints_of(e, id, got, 16);
	assert_int_equal(n, 3);
	assert_int_equal(got[0].type, HINT_CGROUP_CREATED);
	assert_int_equal(got[0].parent_cgid, root_id);
	assert_int_equal(got[0].level, 2);
	assert_int_equal(got[1].type, HINT_STARTED);
	assert_int_equal(got[2].type, HINT_EXITED);
	assert_int_equal(got[2].exit_code, want_code);
	assert_int_equal(got[2].exit_status, (uint32_t)want_status);
	assert_true(got[0].ts_ns <= got[1].ts_ns && got[1].ts_ns <= got[2].ts_ns);
	fprintf(stderr, "# %s: CREATED STARTED EXITED exit_code=%d status=0x%x\n", name,
		got[2].exit_code, got[2].exit_status);

	assert_int_equal(hints__lookup(e->h, id, &st), 0);
	assert_int_equal(st.live_tasks, 0);
	assert_int_equal(st.last_exit_code, want_code);
	assert_int_not_equal(st.first_exec_ns, 0);
	assert_true(st.flags & KPLEG_CG_INHERITED);
	assert_true(st.flags & KPLEG_CG_EXITED);

	rm_cgroup(dir);
	collect(e, id, HINT_CGROUP_REMOVED, 2000);
	assert_true(has(e, id, HINT_CGROUP_REMOVED));
	assert_int_equal(hints__lookup(e->h, id, &st), -ENOENT);
	assert_int_equal(hints__path(e->h, id, buf, sizeof(buf)), -ENOENT);
	fprintf(stderr, "# %s: CREATED path %s, gone after rmdir\n", name, want);
}

static void test_exit_code(void **state)
{
	check_run(*state, "exit7", "exit 7", 7, 7 << 8);
}

static void test_sigkill(void **state)
{
	check_run(*state, "killed", "kill -KILL $$", 137, SIGKILL);
}

/* A pid namespace's init (a container's main process) exits 5: the kernel
 * SIGKILLs the rest of its namespace, and a host-side process exits 9 last.
 * The cgroup's exit is init's: what dies after it says nothing. */
static void test_ns_init(void **state)
{
	struct env *e = *state;
	struct kpleg_hint got[16];
	struct kpleg_cg_state st;
	char *dir = mk_cgroup(e, e->root, "nsinit");
	uint64_t id = cg_id(dir);
	int n, status;

	collect(e, id, HINT_CGROUP_CREATED, 2000);
	status = wait_status(run_in(dir, "unshare --pid --fork sh -c "
				    "'sleep 100 & sleep 100 & sleep 0.1; exit 5'; exit 9"));
	assert_int_equal(status, 9 << 8);
	collect(e, id, HINT_EXITED, 2000);
	n = hints_of(e, id, got, 16);
	assert_true(n >= 3);
	assert_int_equal(got[n - 1].type, HINT_EXITED);
	assert_int_equal(got[n - 1].exit_code, 5);
	assert_int_equal(got[n - 1].exit_status, 5 << 8);
	assert_int_equal(hints__lookup(e->h, id, &st), 0);
	assert_true(st.flags & KPLEG_CG_INIT_EXITED);
	assert_int_equal(st.last_exit_code, 5);
	assert_int_equal(st.live_tasks, 0);
	fprintf(stderr, "# nsinit: init exited 5, its children were killed, the outer shell "
			"exited 9 last: EXITED exit_code=%d\n", got[n - 1].exit_code);
}

/* A process and a cgroup outside the tracked root: nothing at all. */
static void test_untracked(void **state)
{
	struct env *e = *state;
	struct kpleg_cg_state st;
	char *dir = mk_cgroup(e, e->sibling, "quiet");
	uint64_t id = cg_id(dir);

	assert_int_equal(wait_status(run_in(dir, "exit 7")), 7 << 8);
	rm_cgroup(dir);
	collect(e, 0, 0, 300);
	for (int i = 0; i < e->n_seen; i++)
		fprintf(stderr, "# unexpected hint type %u cgid %llu\n", e->seen[i].type,
			(unsigned long long)e->seen[i].cgid);
	assert_int_equal(e->n_seen, 0);
	assert_int_equal(hints__lookup(e->h, id, &st), -ENOENT);
}

/* A grandchild made after start inherits, a process forked inside counts. */
static void test_nested_fork(void **state)
{
	struct env *e = *state;
	struct kpleg_cg_state st;
	char *pod = mk_cgroup(e, e->root, "pod");
	char *ctr = mk_cgroup(e, pod, "ctr");
	uint64_t id = cg_id(ctr);
	struct kpleg_hint got[16];
	int n;

	/* sh forks two children inside the cgroup: EXITED only when all are gone. */
	assert_int_equal(wait_status(run_in(ctr, "sleep 0.2 & sleep 0.1; wait; exit 3")), 3 << 8);
	collect(e, id, HINT_EXITED, 2000);
	n = hints_of(e, id, got, 16);
	assert_int_equal(n, 3);
	assert_int_equal(got[0].level, 3);
	assert_int_equal(got[2].type, HINT_EXITED);
	assert_int_equal(got[2].exit_code, 3);
	assert_int_equal(hints__lookup(e->h, id, &st), 0);
	assert_int_equal(st.live_tasks, 0);
}

/* A cgroup named like a root name, made after start at the top and below an
 * untracked cgroup, starts tracking; its child inherits; another name not. */
static void test_root_named(void **state)
{
	struct env *e = *state;
	struct kpleg_cg_state st;
	struct kpleg_hint got[16];
	char other[64], want[128];
	char *kp, *ctr, *deep, *oth;
	uint64_t kp_id, ctr_id, deep_id, oth_id;
	int n;

	snprintf(other, sizeof(other), "kpleg-other-%d", getpid());
	kp = mk_cgroup(e, e->mount, e->kpname);
	kp_id = cg_id(kp);
	collect(e, kp_id, HINT_CGROUP_CREATED, 2000);
	assert_true(has(e, kp_id, HINT_CGROUP_CREATED));
	snprintf(want, sizeof(want), "/%s", e->kpname);
	assert_string_equal(created_path(e, kp_id), want);
	assert_path(e, kp_id, want);
	assert_int_equal(hints__lookup(e->h, kp_id, &st), 0);
	assert_true(st.flags & KPLEG_CG_NAMED);
	assert_int_equal(st.level, 1);

	ctr = mk_cgroup(e, kp, "ctr");
	ctr_id = cg_id(ctr);
	assert_int_equal(wait_status(run_in(ctr, "exit 5")), 5 << 8);
	collect(e, ctr_id, HINT_EXITED, 2000);
	n = hints_of(e, ctr_id, got, 16);
	assert_int_equal(n, 3);
	assert_int_equal(got[0].type, HINT_CGROUP_CREATED);
	assert_int_equal(got[0].parent_cgid, kp_id);
	assert_int_equal(got[0].level, 2);
	assert_int_equal(got[0].flags, KPLEG_CG_INHERITED);
	assert_int_equal(got[2].type, HINT_EXITED);
	assert_int_equal(got[2].exit_code, 5);
	snprintf(want, sizeof(want), "/%s/ctr", e->kpname);
	assert_string_equal(created_path(e, ctr_id), want);

	/* Any level: below the untracked sibling. */
	deep = mk_cgroup(e, e->sibling, e->kpname);
	deep_id = cg_id(deep);
	collect(e, deep_id, HINT_CGROUP_CREATED, 2000);
	assert_int_equal(hints__lookup(e->h, deep_id, &st), 0);
	assert_true(st.flags & KPLEG_CG_NAMED);
	assert_int_equal(st.level, 2);
	snprintf(want, sizeof(want), "%s/%s", e->sibling + strlen(e->mount), e->kpname);
	assert_string_equal(created_path(e, deep_id), want);

	/* Another name at the top: nothing. */
	oth = mk_cgroup(e, e->mount, other);
	oth_id = cg_id(oth);
	collect(e, 0, 0, 200);
	assert_false(has(e, oth_id, HINT_CGROUP_CREATED));
	assert_int_equal(hints__lookup(e->h, oth_id, &st), -ENOENT);
	fprintf(stderr, "# root name %s: CREATED(named) child EXITED exit_code=%d, nested too, "
		"%s untracked\n", e->kpname, got[2].exit_code, other);
}

/* memory v1 only: a real OOM kill under memory.limit_in_bytes. */
static void test_oom(void **state)
{
	struct env *e = *state;
	struct kpleg_hint got[16];
	struct kpleg_cg_state st;
	char *dir;
	uint64_t id;
	int n, status;

	/* Registered only for the v1 memory group, which has the limit file. */
	assert_string_equal(e->controller, "memory");
	dir = mk_cgroup(e, e->root, "oom");
	id = cg_id(dir);
	assert_int_equal(write_file(dir, "memory.limit_in_bytes", "16M"), 0);
	write_file(dir, "memory.memsw.limit_in_bytes", "16M"); /* only with swap accounting */
	status = wait_status(run_in(dir, "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done"));
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	collect(e, id, HINT_EXITED, 2000);
	n = hints_of(e, id, got, 16);
	assert_int_equal(n, 4);
	assert_int_equal(got[1].type, HINT_STARTED);
	assert_int_equal(got[2].type, HINT_OOM);
	assert_int_equal(got[3].type, HINT_EXITED);
	assert_int_equal(got[3].exit_code, 137);
	assert_int_equal(hints__lookup(e->h, id, &st), 0);
	assert_int_equal(st.oom, 1);
	fprintf(stderr, "# oom: STARTED OOM EXITED exit_code=%d\n", got[3].exit_code);
}

/* A one-page ring and a burst of cgroups: losses are counted, the map is whole. */
static void test_lost(void **state)
{
	struct env *e = *state;
	char name[64], *root, sub[32];
	const char *roots[1] = { name };
	struct hints_opts o = { .controller = e->controller, .roots = roots, .n_roots = 1,
				.ring_size = 4096 };
	struct kpleg_cg_state st;
	struct hints *h;
	int err, found = 0;
	enum { N = 200 };
	uint64_t ids[N];

	snprintf(name, sizeof(name), "kpleg-lost-%d", getpid());
	root = mk_cgroup(e, e->mount, name);
	h = hints__new(&o);
	assert_non_null(h);
	err = hints__start(h);
	if (err) {
		hints__free(h);
		fail_msg("hints__start: %s", strerror(-err));
	}
	for (int i = 0; i < N; i++) {
		snprintf(sub, sizeof(sub), "c%d", i);
		ids[i] = cg_id(mk_cgroup(e, root, sub));
	}
	for (int i = 0; i < N; i++)
		found += hints__lookup(h, ids[i], &st) == 0;
	fprintf(stderr, "# lost: %llu of %d hints, %d in the map\n",
		(unsigned long long)hints__lost(h), N, found);
	err = hints__lost(h) > 0 && found == N ? 0 : -1;
	hints__free(h);
	assert_int_equal(err, 0);
}

static void test_null_safe(void **state)
{
	struct kpleg_cg_state st;

	hints__free(NULL);
	assert_int_equal(hints__fd(NULL), -EBADF);
	assert_int_equal(hints__lookup(NULL, 1, &st), -EBADF);
	assert_int_equal(hints__path(NULL, 1, NULL, 0), -EBADF);
	assert_int_equal(hints__lost(NULL), 0);
}

static int group_setup_v1(void **state)
{
	*state = &env_v1;
	return group_setup(state);
}

static int group_setup_v2(void **state)
{
	*state = &env_v2;
	return group_setup(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_root_seeded), T(test_exit_code), T(test_sigkill), T(test_untracked),
		T(test_nested_fork), T(test_ns_init), T(test_root_named), T(test_lost),	  T(test_oom),
	};
	/* The same minus the OOM kill, which needs v1's memory.limit_in_bytes. */
	const size_t n_v2 = sizeof(tests) / sizeof(tests[0]) - 1;
	const struct CMUnitTest misc[] = { cmocka_unit_test(test_null_safe) };
	int fails = 0;

	fails += _cmocka_run_group_tests("hints_v1_memory", tests, sizeof(tests) / sizeof(tests[0]),
					 group_setup_v1, group_teardown);
	fails += _cmocka_run_group_tests("hints_v2_unified", tests, n_v2, group_setup_v2,
					 group_teardown);
	fails += cmocka_run_group_tests(misc, NULL, NULL);
	return fails;
}
