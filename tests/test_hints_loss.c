// SPDX-License-Identifier: Apache-2.0
/*
 * Ring buffer loss forced at the tracker level: real BPF programs, real
 * cgroups, fakecri as the runtime (no event stream, like containerd 1.6).
 *
 * One pod of NCTRS RUNNING containers lives in fakecri; their cgroups are made
 * in the v2 hierarchy the way containerd's cgroupfs driver lays them out
 * (kubepods/besteffort/pod<uid>/<id>) before the tracker starts, so the
 * seeding walk tracks them. The tracker runs with a one-page hint ring (73
 * exit hints) and its threads pinned to one CPU. A child process per
 * container moves itself into the container's cgroup and waits; all are
 * released at once, as SCHED_FIFO on that CPU so that the hint reader cannot
 * drain the ring meanwhile, and exit with a code of their own. Most EXITED
 * hints cannot be reserved: the loss must be counted, the BPF map walked
 * (every exit re-posted from it) and a relist run, and every container must
 * get exactly one provisional ContainerDied from the kernel with its child's
 * exit code. fakecri is then told each container exited with that code: one
 * ContainerConfirmed per container, none corrected, and no transition left
 * for a relist to find (missed_events).
 *
 * The same with NCTRS_BURST (1,000) containers whose cgroups do not exist
 * yet: each child makes its container's cgroup, moves into it and exits, all
 * in one burst, so the CREATED records that carry the paths are lost as well
 * and the re-posted exits are resolved by handle.
 *
 * Second test: a container whose process exits while the runtime keeps saying
 * RUNNING is settled after hint_retry_max_ms: ContainerConfirmed, corrected,
 * the container RUNNING again in the cache.
 *
 * Third: that settled exit stays settled when a later loss makes the tracker
 * re-read the whole map (which still says the cgroup exited).
 *
 * Root is needed (BPF, cgroupfs); without it, or without BPF, the tests FAIL.
 * Only the pod<uid> cgroup and what is below it are ours to remove, plus
 * kubepods and kubepods/besteffort when this test made them (and they are
 * empty again): real runtimes on this machine may use them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <kpleg/kpleg.h>

#include "cri.h"
#include "fakecri.h"
#include "kube.h"
#include "testenv.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define NCTRS 300	  /* containers in the loss test: ~4x what a one-page ring holds */
#define NCTRS_BURST 1000  /* ... and in the burst of new cgroups */
#define RING_BYTES 4096	  /* one page: the smallest ring */
#define WAIT_MS 15000	  /* far above what a healthy run needs */
#define QUIET_MS 1000	  /* nothing more may come in this long at the end */

/* A child's exit code: distinct per container, never 0. */
static int exit_code_of(unsigned i)
{
	return (int)(i % 200) + 1;
}

#define CHILD_STACK (32 * 1024)

struct child_arg {
	const char *procs;    /* the container cgroup's cgroup.procs */
	const char *mkdir;    /* the container cgroup, made by the child after go; NULL: it exists */
	const cpu_set_t *cpu; /* pinned there and SCHED_FIFO; NULL: neither */
	int ready_wr, go_rd, go_wr;
	int code;
};

struct rec {
	struct kpleg_event ev;
	uint64_t at; /* CLOCK_MONOTONIC ns when the callback ran */
};

struct fx {
	/* parameters */
	unsigned n;	   /* containers */
	unsigned retry_ms; /* hint_retry_max_ms */
	unsigned ring;	   /* hint_ring_bytes */
	bool pin;	   /* tracker threads and the burst on one CPU */
	bool burst_mkdir;  /* container cgroups made by the children in the burst */
	cpu_set_t one;	   /* that CPU */
	int cpu;

	struct fakecri *f;
	struct cri_client *c;
	struct kpleg_tracker *t;
	struct kpleg_subscription *sub;
	char sock[108];
	struct kube_pod pod;
	char *sb;
	char **ct; /* container ids */

	/* cgroups */
	char mount[PATH_MAX];
	char kp[PATH_MAX], qos[PATH_MAX], podcg[PATH_MAX];
	bool made_kp, made_qos, made_pod;
	char **cg;    /* container cgroup directories */
	char **procs; /* and their cgroup.procs */
	bool *made_cg;

	/* children */
	pid_t *pids;
	struct child_arg *args;
	char *stacks; /* CHILD_STACK per container */
	int go[2];

	struct kpleg_pod_status *status; /* a copy being checked, freed by teardown */

	/* events */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rec *ev;
	size_t nev, cap;
	bool oom;
	uint64_t seq_errors;
	unsigned by_type[KPLEG_EVENT_CONTAINER_CONFIRMED + 1];
};

/* ---- events ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	return kpleg_now_mono_ns();
}

static void on_event(const struct kpleg_event *ev, void *arg)
{
	struct fx *fx = arg;

	pthread_mutex_lock(&fx->lock);
	if (fx->nev == fx->cap) {
		size_t cap = fx->cap ? 2 * fx->cap : 1024;
		struct rec *v = realloc(fx->ev, cap * sizeof(*v));

		if (!v) {
			fx->oom = true;
			goto out;
		}
		fx->ev = v;
		fx->cap = cap;
	}
	if (ev->seq != (fx->nev ? fx->ev[fx->nev - 1].ev.seq + 1 : 1))
		fx->seq_errors++;
	fx->ev[fx->nev++] = (struct rec){ .ev = *ev, .at = now_ns() };
	if ((unsigned)ev->type <= KPLEG_EVENT_CONTAINER_CONFIRMED)
		fx->by_type[ev->type]++;
	pthread_cond_broadcast(&fx->cond);
out:
	pthread_mutex_unlock(&fx->lock);
}

static const char *ev_key(const struct kpleg_event *e)
{
	return e->container_id[0] ? e->container_id : e->sandbox_id;
}

static void dump(struct fx *fx, size_t max)
{
	pthread_mutex_lock(&fx->lock);
	print_message("---- %zu events (first %zu)\n", fx->nev, max);
	for (size_t i = 0; i < fx->nev && i < max; i++) {
		const struct kpleg_event *e = &fx->ev[i].ev;

		print_message("  #%-4" PRIu64 " %-18s %-8s %.12s exit=%s%d %s%s%s\n", e->seq,
			      kpleg_event_type_str(e->type), kpleg_source_str(e->source),
			      ev_key(e), e->has_exit_code ? "" : "none/", e->exit_code, e->reason,
			      e->provisional ? " provisional" : "",
			      e->corrected ? " corrected" : "");
	}
	pthread_mutex_unlock(&fx->lock);
}

/* Waits until @want events of @type have come; false on timeout. */
static bool wait_type(struct fx *fx, enum kpleg_event_type type, unsigned want, unsigned ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;
	struct timespec ts = { .tv_sec = end / 1000000000, .tv_nsec = end % 1000000000 };
	bool ok;

	pthread_mutex_lock(&fx->lock);
	while (fx->by_type[type] < want &&
	       pthread_cond_timedwait(&fx->cond, &fx->lock, &ts) != ETIMEDOUT)
		;
	ok = fx->by_type[type] >= want;
	pthread_mutex_unlock(&fx->lock);
	return ok;
}

static unsigned n_type(struct fx *fx, enum kpleg_event_type type)
{
	unsigned n;

	pthread_mutex_lock(&fx->lock);
	n = fx->by_type[type];
	pthread_mutex_unlock(&fx->lock);
	return n;
}

static size_t n_events(struct fx *fx)
{
	size_t n;

	pthread_mutex_lock(&fx->lock);
	n = fx->nev;
	pthread_mutex_unlock(&fx->lock);
	return n;
}

/* The events about @key, in order, copied into @ret (at most @max); returns
 * how many there are. */
static size_t events_of(struct fx *fx, const char *key, struct rec *ret, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&fx->lock);
	for (size_t i = 0; i < fx->nev; i++) {
		if (strcmp(ev_key(&fx->ev[i].ev), key))
			continue;
		if (n < max)
			ret[n] = fx->ev[i];
		n++;
	}
	pthread_mutex_unlock(&fx->lock);
	return n;
}

static void health(struct fx *fx, struct kpleg_health *h)
{
	memset(h, 0, sizeof(*h));
	kpleg_tracker__health(fx->t, h);
}

/* Waits in the loss tests scale with the burst. */
static unsigned wait_ms(const struct fx *fx)
{
	return fx->n > NCTRS ? 3 * WAIT_MS : WAIT_MS;
}

/* ---- cgroups ------------------------------------------------------------------- */

static bool is_cgroup2(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

/* mkdir that remembers whether it made the directory. */
static void mk(const char *path, bool *made)
{
	if (mkdir(path, 0755) == 0) {
		*made = true;
		return;
	}
	if (errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* Removes cgroup @dir of ours: kills what is left in it (only ever our own
 * children) and retries while the kernel finishes their exits. */
static void rm_ours(const char *dir)
{
	char path[PATH_MAX + 16], line[32];
	FILE *f;

	for (int tries = 0; tries < 200; tries++) {
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
	fprintf(stderr, "test_hints_loss: could not remove %s: %s\n", dir, strerror(errno));
}

/* kubepods and besteffort, when we made them: only if they are empty again
 * (a real runtime may have started using them meanwhile; then they stay). */
static void rm_shared(const char *dir)
{
	if (rmdir(dir) && errno != ENOENT)
		fprintf(stderr, "# left %s in place: %s (in use by someone else)\n", dir,
			strerror(errno));
}

/* ---- children ------------------------------------------------------------------ */

/* A clone(CLONE_VM) child: it shares the test's memory (and, through the
 * thread pointer, the spawning thread's errno), so it makes raw system calls
 * only, touches nothing but its own stack and @p, and is not instrumented.
 * Sharing the memory is the point: its exit does not tear down a copy of the
 * test's address space (1-2 ms per process here, ~5 ms under ASan), so a
 * burst of exits is over in milliseconds. It moves itself into the cgroup of
 * a->procs, reports ready ('f': not pinned/SCHED_FIFO, 'E': not moved),
 * waits for the go pipe to close, then exits with a->code. With a->mkdir it
 * reports ready first and, once released, makes the cgroup, moves into it
 * and exits (250 when it cannot). */
__attribute__((no_sanitize_address)) static int child_main(void *p)
{
	const struct child_arg *a = p;
	struct sched_param sp = { .sched_priority = 1 };
	char c = 'k';
	long fd;

	syscall(SYS_close, a->go_wr);
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (a->cpu && (syscall(SYS_sched_setaffinity, 0, sizeof(*a->cpu), a->cpu) ||
		       syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &sp)))
		c = 'f';
	if (a->mkdir) {
		syscall(SYS_write, a->ready_wr, &c, 1);
		syscall(SYS_read, a->go_rd, &c, 1);
		fd = syscall(SYS_mkdirat, AT_FDCWD, a->mkdir, 0755) ? -1
		     : syscall(SYS_openat, AT_FDCWD, a->procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_write, fd, "0", 1) != 1)
			syscall(SYS_exit_group, 250);
		syscall(SYS_exit_group, a->code);
	}
	fd = syscall(SYS_openat, AT_FDCWD, a->procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_write, fd, "0", 1) != 1) {
		c = 'E';
		syscall(SYS_write, a->ready_wr, &c, 1);
		syscall(SYS_exit_group, 250);
	}
	syscall(SYS_close, fd);
	syscall(SYS_write, a->ready_wr, &c, 1);
	syscall(SYS_read, a->go_rd, &c, 1); /* returns at EOF: every writer closed */
	syscall(SYS_exit_group, a->code);
	return 0;
}

/* Starts one child per container in @idx (n of them), each in its cgroup and
 * waiting; with @fifo, as SCHED_FIFO on the tracker's CPU (fx->pin), so that
 * once released they all exit before the hint reader can run. Returns how
 * many could not be made so. */
static unsigned spawn(struct fx *fx, const unsigned *idx, unsigned n, bool fifo)
{
	unsigned got = 0, nofifo = 0;
	int ready[2];

	if (!fx->stacks) {
		fx->stacks = mmap(NULL, (size_t)fx->n * CHILD_STACK, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (fx->stacks == MAP_FAILED) {
			fx->stacks = NULL;
			fail_msg("mmap child stacks: %s", strerror(errno));
		}
	}
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(fx->go, O_CLOEXEC), 0);
	for (unsigned k = 0; k < n; k++) {
		unsigned i = idx[k];
		struct child_arg *a = &fx->args[i];
		pid_t pid;

		*a = (struct child_arg){ .procs = fx->procs[i],
					 .mkdir = fx->burst_mkdir ? fx->cg[i] : NULL,
					 .cpu = fifo && fx->pin ? &fx->one : NULL,
					 .ready_wr = ready[1],
					 .go_rd = fx->go[0],
					 .go_wr = fx->go[1],
					 .code = exit_code_of(i) };
		pid = clone(child_main, fx->stacks + (size_t)(i + 1) * CHILD_STACK,
			    CLONE_VM | SIGCHLD, a);
		if (pid < 0)
			fail_msg("clone: %s", strerror(errno));
		fx->pids[i] = pid;
	}
	close(ready[1]);
	close(fx->go[0]);
	fx->go[0] = -1;
	while (got < n) {
		struct pollfd pf = { .fd = ready[0], .events = POLLIN };
		char buf[64];
		ssize_t r;

		if (poll(&pf, 1, WAIT_MS) <= 0) {
			close(ready[0]);
			fail_msg("%u of %u children ready within %d ms", got, n, WAIT_MS);
		}
		r = read(ready[0], buf, sizeof(buf));
		if (r <= 0) {
			close(ready[0]);
			fail_msg("children ready pipe: %s", r ? strerror(errno) : "EOF");
		}
		for (ssize_t j = 0; j < r; j++) {
			if (buf[j] == 'E') {
				close(ready[0]);
				fail_msg("a child could not move into its cgroup");
			}
			nofifo += buf[j] == 'f';
		}
		got += (unsigned)r;
	}
	close(ready[0]);
	return nofifo;
}

/* Lets every waiting child exit at once. */
static void release(struct fx *fx)
{
	close(fx->go[1]);
	fx->go[1] = -1;
}

/* Reaps the child of container @i and checks its exit code. */
static void reap(struct fx *fx, unsigned i)
{
	int st;

	assert_int_equal(waitpid(fx->pids[i], &st, 0), fx->pids[i]);
	fx->pids[i] = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != exit_code_of(i))
		fail_msg("child of container %u: status 0x%x, want exit %d", i, st,
			 exit_code_of(i));
}

/* ---- fixture ------------------------------------------------------------------ */

static struct fx *fx_alloc(unsigned n, unsigned retry_ms, unsigned ring)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	pthread_condattr_t ca;

	assert_non_null(fx);
	fx->n = n;
	fx->retry_ms = retry_ms;
	fx->ring = ring;
	fx->go[0] = fx->go[1] = -1;
	fx->ct = calloc(n, sizeof(*fx->ct));
	fx->cg = calloc(n, sizeof(*fx->cg));
	fx->procs = calloc(n, sizeof(*fx->procs));
	fx->made_cg = calloc(n, sizeof(*fx->made_cg));
	fx->pids = calloc(n, sizeof(*fx->pids));
	fx->args = calloc(n, sizeof(*fx->args));
	assert_true(fx->ct && fx->cg && fx->procs && fx->made_cg && fx->pids && fx->args);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&fx->lock, NULL);
	pthread_cond_init(&fx->cond, &ca);
	pthread_condattr_destroy(&ca);
	return fx;
}

static int setup_loss(void **state)
{
	struct fx *fx = fx_alloc(NCTRS, 5000, RING_BYTES);

	fx->pin = true;
	*state = fx;
	return 0;
}

/* 1,000 container cgroups made, entered and left in one burst: their
 * CREATED records (with the paths) are lost too, so most exits come from the
 * map walk with paths resolved by handle. */
static int setup_burst(void **state)
{
	struct fx *fx = fx_alloc(NCTRS_BURST, 5000, RING_BYTES);

	fx->pin = true;
	fx->burst_mkdir = true;
	*state = fx;
	return 0;
}

static int setup_settle(void **state)
{
	*state = fx_alloc(2, 1000, RING_BYTES);
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (!fx)
		return 0;
	if (fx->go[0] >= 0)
		close(fx->go[0]);
	if (fx->go[1] >= 0)
		close(fx->go[1]);
	for (unsigned i = 0; i < fx->n; i++) {
		if (fx->pids[i] > 0) {
			kill(fx->pids[i], SIGKILL);
			waitpid(fx->pids[i], NULL, 0);
		}
	}
	if (fx->stacks)
		munmap(fx->stacks, (size_t)fx->n * CHILD_STACK);
	kpleg_pod_status__free(fx->status);
	if (fx->t)
		kpleg_tracker__stop(fx->t);
	kpleg_subscription__free(fx->sub);
	kpleg_tracker__free(fx->t);
	for (unsigned i = 0; i < fx->n; i++) {
		if (fx->made_cg[i])
			rm_ours(fx->cg[i]);
		free(fx->cg[i]);
		free(fx->procs[i]);
		free(fx->ct[i]);
	}
	if (fx->made_pod)
		rm_ours(fx->podcg);
	if (fx->made_qos)
		rm_shared(fx->qos);
	if (fx->made_kp)
		rm_shared(fx->kp);
	cri_client__free(fx->c);
	fakecri__free(fx->f);
	free(fx->sb);
	free(fx->ct);
	free(fx->cg);
	free(fx->procs);
	free(fx->made_cg);
	free(fx->pids);
	free(fx->args);
	free(fx->ev);
	pthread_cond_destroy(&fx->cond);
	pthread_mutex_destroy(&fx->lock);
	free(fx);
	return 0;
}

static bool is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* Starts the tracker. With fx->pin, its threads (made by the start) inherit
 * an affinity to one CPU: the burst's SCHED_FIFO children run there and
 * starve the hint reader (a slow consumer, deterministically) while the other
 * CPUs stay free for the rest of the machine. */
static int start_tracker(struct fx *fx)
{
	cpu_set_t all;
	int r;

	if (!fx->pin)
		return kpleg_tracker__start(fx->t);
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	fx->cpu = -1;
	for (int c = CPU_SETSIZE - 1; c >= 0 && fx->cpu < 0; c--)
		if (CPU_ISSET(c, &all))
			fx->cpu = c;
	assert_true(fx->cpu >= 0);
	CPU_ZERO(&fx->one);
	CPU_SET(fx->cpu, &fx->one);
	assert_int_equal(sched_setaffinity(0, sizeof(fx->one), &fx->one), 0);
	r = kpleg_tracker__start(fx->t);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	return r;
}

/* The pod in fakecri, its cgroups, the tracker synced and every container's
 * ContainerStarted seen. Done in the test body so that teardown always runs. */
static void fx_up(struct fx *fx)
{
	static unsigned counter;
	char *argv[] = { (char *)"/bin/sleep", (char *)"3600", NULL };
	struct fakecri_opts fo = { .events = FAKECRI_EVENTS_UNIMPLEMENTED };
	struct kpleg_config cfg;
	struct kpleg_health h;
	struct cri_status st;
	uint64_t t0;
	int r;

	if (geteuid() != 0)
		fail_msg("test_hints_loss needs root (real BPF and cgroupfs); not skipping");
	if (is_cgroup2("/sys/fs/cgroup"))
		snprintf(fx->mount, sizeof(fx->mount), "/sys/fs/cgroup");
	else if (is_cgroup2("/sys/fs/cgroup/unified"))
		snprintf(fx->mount, sizeof(fx->mount), "/sys/fs/cgroup/unified");
	else
		fail_msg("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");

	snprintf(fx->sock, sizeof(fx->sock), "/tmp/kpleg-loss-%d-%u.sock", (int)getpid(),
		 counter++);
	fo.socket_path = fx->sock;
	fx->f = fakecri__new(&fo);
	if (!fx->f)
		fail_msg("fakecri__new(%s): %s", fx->sock, strerror(errno));
	fx->c = cri_client__new(fakecri__endpoint(fx->f));
	assert_non_null(fx->c);

	/* The pod and its containers, through the CRI like the kubelet. */
	t0 = testenv_now_ms();
	assert_int_equal(kube_pod_init(&fx->pod, NULL, "loss", "kpleg-test", KUBE_QOS_BESTEFFORT),
			 0);
	r = cri_run_pod_sandbox(fx->c, &fx->pod.cfg, 0, &fx->sb, &st);
	if (r < 0)
		fail_msg("RunPodSandbox: %d %s", r, st.message);
	for (unsigned i = 0; i < fx->n; i++) {
		struct kube_container k;
		char name[32];

		snprintf(name, sizeof(name), "c%03u", i);
		assert_int_equal(kube_container_init(&k, &fx->pod, name, argv, 0), 0);
		r = cri_create_container(fx->c, fx->sb, &k.cfg, &fx->pod.cfg, 0, &fx->ct[i], &st);
		if (r < 0)
			fail_msg("CreateContainer %s: %d %s", name, r, st.message);
		if (!is_hex64(fx->ct[i]))
			fail_msg("fakecri container id %s is not 64 lower-case hex like "
				 "containerd's", fx->ct[i]);
		r = cri_start_container(fx->c, fx->ct[i], 0, &st);
		if (r < 0)
			fail_msg("StartContainer %s: %d %s", name, r, st.message);
	}

	/* containerd's cgroupfs layout: <mount>/kubepods/besteffort/pod<uid>/<id>. */
	if (snprintf(fx->kp, sizeof(fx->kp), "%s/kubepods", fx->mount) >= (int)sizeof(fx->kp) ||
	    snprintf(fx->qos, sizeof(fx->qos), "%s/besteffort", fx->kp) >= (int)sizeof(fx->qos) ||
	    snprintf(fx->podcg, sizeof(fx->podcg), "%s/pod%s", fx->qos, fx->pod.uid) >=
		    (int)sizeof(fx->podcg))
		fail_msg("cgroup path too long under %s", fx->mount);
	mk(fx->kp, &fx->made_kp);
	mk(fx->qos, &fx->made_qos);
	mk(fx->podcg, &fx->made_pod);
	if (!fx->made_pod)
		fail_msg("%s existed already", fx->podcg);
	for (unsigned i = 0; i < fx->n; i++) {
		assert_true(asprintf(&fx->cg[i], "%s/%s", fx->podcg, fx->ct[i]) > 0);
		assert_true(asprintf(&fx->procs[i], "%s/cgroup.procs", fx->cg[i]) > 0);
		if (fx->burst_mkdir)
			fx->made_cg[i] = true; /* the child makes it; teardown removes it */
		else
			mk(fx->cg[i], &fx->made_cg[i]);
	}
	printf("    %u containers in fakecri and %s/kubepods/besteffort/pod%s/<id> "
	       "in %" PRIu64 " ms\n", fx->n, fx->mount, fx->pod.uid, testenv_now_ms() - t0);

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = fakecri__endpoint(fx->f);
	cfg.mode = KPLEG_MODE_AUTO;
	cfg.cgroup_controller = "unified";
	cfg.hint_ring_bytes = fx->ring;
	cfg.hint_retry_max_ms = fx->retry_ms;
	cfg.relist_period_ms = 200;
	cfg.relist_period_hinted_ms = 600000;
	assert_int_equal(kpleg_tracker__new(&cfg, &fx->t), 0);
	assert_int_equal(kpleg_tracker__subscribe(fx->t, on_event, fx, &fx->sub), 0);
	r = start_tracker(fx);
	if (r < 0)
		fail_msg("kpleg_tracker__start: %s", strerror(-r));
	r = kpleg_tracker__wait_synced(fx->t, WAIT_MS);
	if (r < 0)
		fail_msg("kpleg_tracker__wait_synced: %s", strerror(-r));
	health(fx, &h);
	if (!h.bpf_active)
		fail_msg("kernel hints are not active (%s): this test needs root and BTF",
			 h.bpf_state);
	if (!strstr(h.bpf_state, fx->mount))
		fail_msg("hints watch the wrong hierarchy: %s (want %s)", h.bpf_state, fx->mount);
	assert_false(h.events_supported);
	if (!wait_type(fx, KPLEG_EVENT_CONTAINER_STARTED, fx->n, wait_ms(fx)) ||
	    !wait_type(fx, KPLEG_EVENT_SANDBOX_READY, 1, WAIT_MS)) {
		dump(fx, 20);
		fail_msg("first sync: %u ContainerStarted, want %u",
			 n_type(fx, KPLEG_EVENT_CONTAINER_STARTED), fx->n);
	}
}

/* Checks the one provisional ContainerDied of container @i (its events so
 * far are exactly Started, Died) and returns it. */
static struct rec check_died(struct fx *fx, unsigned i, uint64_t burst_ns)
{
	struct rec r[8];
	size_t n = events_of(fx, fx->ct[i], r, 8);

	if (n != 2 || r[0].ev.type != KPLEG_EVENT_CONTAINER_STARTED ||
	    r[1].ev.type != KPLEG_EVENT_CONTAINER_DIED) {
		dump(fx, 40);
		fail_msg("container %u (%.12s): %zu events, want exactly Started, Died", i,
			 fx->ct[i], n);
	}
	if (!r[1].ev.provisional || r[1].ev.source != KPLEG_SOURCE_KERNEL ||
	    !r[1].ev.has_exit_code || r[1].ev.exit_code != exit_code_of(i))
		fail_msg("container %u: ContainerDied provisional=%d source=%s exit=%s%d, want "
			 "provisional kernel exit %d", i, r[1].ev.provisional,
			 kpleg_source_str(r[1].ev.source), r[1].ev.has_exit_code ? "" : "none/",
			 r[1].ev.exit_code, exit_code_of(i));
	assert_string_equal(r[1].ev.reason, "Error");
	assert_string_equal(r[1].ev.pod_uid, fx->pod.uid);
	assert_true(r[1].ev.kernel_mono_ns >= burst_ns);
	assert_int_equal(r[1].ev.observed_mono_ns, r[1].ev.kernel_mono_ns);
	return r[1];
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_loss_reconciled(void **state)
{
	struct fx *fx = *state;
	struct kpleg_health h0, h1, h2;
	struct kpleg_pod_status *p;
	uint64_t burst, last_died = 0, first_died = UINT64_MAX, marked, last_conf = 0;
	uint64_t last_kernel = 0;
	unsigned *idx, nofifo;
	size_t total;
	int r;

	fx_up(fx);
	health(fx, &h0);
	idx = calloc(fx->n, sizeof(*idx));
	assert_non_null(idx);
	for (unsigned i = 0; i < fx->n; i++)
		idx[i] = i;
	nofifo = spawn(fx, idx, fx->n, true);
	free(idx);
	/* Nothing has exited yet: no exit may have been reported. */
	assert_int_equal(n_type(fx, KPLEG_EVENT_CONTAINER_DIED), 0);

	burst = now_ns();
	release(fx);
	for (unsigned i = 0; i < fx->n; i++)
		reap(fx, i);
	printf("    burst: %u children exited in %.1f ms (SCHED_FIFO on CPU %d with the "
	       "tracker's threads; %u could not be)\n", fx->n, (double)(now_ns() - burst) / 1e6,
	       fx->cpu, nofifo);

	if (!wait_type(fx, KPLEG_EVENT_CONTAINER_DIED, fx->n, wait_ms(fx))) {
		health(fx, &h1);
		dump(fx, 20);
		fail_msg("%u ContainerDied of %u within %u ms after the burst (hints lost %" PRIu64
			 ", received %" PRIu64 ")", n_type(fx, KPLEG_EVENT_CONTAINER_DIED), fx->n,
			 wait_ms(fx), h1.hints_lost, h1.hints_received - h0.hints_received);
	}
	health(fx, &h1);
	for (unsigned i = 0; i < fx->n; i++) {
		struct rec d = check_died(fx, i, burst);

		last_died = d.at > last_died ? d.at : last_died;
		first_died = d.at < first_died ? d.at : first_died;
		last_kernel = d.ev.kernel_mono_ns > last_kernel ? d.ev.kernel_mono_ns : last_kernel;
	}
	/* The loss was counted, and every exit came from the kernel anyway. */
	if (h1.hints_lost <= h0.hints_lost)
		fail_msg("no hint lost with a %u-byte ring and %u exits at once", fx->ring, fx->n);
	assert_true(h1.bpf_active);
	assert_int_equal(h1.provisional - h0.provisional, fx->n);
	/* A 48-byte hint takes 56 bytes of ring: 73 fit in a page. */
	printf("    hints lost %" PRIu64 " for %u exits (ring of %u bytes holds %u): about %" PRIu64
	       " exits came through the ring, the rest only from the map walk; hints handed to "
	       "the engine %" PRIu64 " (ring + re-posted)\n",
	       h1.hints_lost - h0.hints_lost, fx->n, fx->ring, fx->ring / 56,
	       fx->n > h1.hints_lost - h0.hints_lost ? fx->n - (h1.hints_lost - h0.hints_lost) : 0,
	       h1.hints_received - h0.hints_received);
	printf("    burst -> first provisional ContainerDied %.1f ms, -> all %u %.1f ms "
	       "(last kernel exit at +%.1f ms)\n", (double)(first_died - burst) / 1e6, fx->n,
	       (double)(last_died - burst) / 1e6, (double)(last_kernel - burst) / 1e6);
	printf("    relists meanwhile %" PRIu64 ", fetches %" PRIu64 "\n", h1.relists - h0.relists,
	       h1.fetches - h0.fetches);

	/* The runtime agrees: each container exited with its child's code. */
	marked = now_ns();
	for (unsigned i = 0; i < fx->n; i++)
		assert_int_equal(fakecri__container_exit(fx->f, fx->ct[i], exit_code_of(i), NULL),
				 0);
	if (!wait_type(fx, KPLEG_EVENT_CONTAINER_CONFIRMED, fx->n, wait_ms(fx))) {
		dump(fx, 20);
		fail_msg("%u ContainerConfirmed of %u within %u ms",
			 n_type(fx, KPLEG_EVENT_CONTAINER_CONFIRMED), fx->n, wait_ms(fx));
	}
	usleep(QUIET_MS * 1000);

	/* Each transition exactly once: Started, Died (kernel), Confirmed. */
	for (unsigned i = 0; i < fx->n; i++) {
		struct rec e[8];
		size_t n = events_of(fx, fx->ct[i], e, 8);

		if (n != 3 || e[0].ev.type != KPLEG_EVENT_CONTAINER_STARTED ||
		    e[1].ev.type != KPLEG_EVENT_CONTAINER_DIED ||
		    e[2].ev.type != KPLEG_EVENT_CONTAINER_CONFIRMED) {
			dump(fx, 40);
			fail_msg("container %u (%.12s): %zu events, want Started, Died, Confirmed",
				 i, fx->ct[i], n);
		}
		if (e[2].ev.corrected || !e[2].ev.has_exit_code ||
		    e[2].ev.exit_code != exit_code_of(i) ||
		    e[2].ev.kernel_exit_code != exit_code_of(i))
			fail_msg("container %u: ContainerConfirmed corrected=%d exit=%s%d "
				 "kernel=%d, want %d agreed", i, e[2].ev.corrected,
				 e[2].ev.has_exit_code ? "" : "none/", e[2].ev.exit_code,
				 e[2].ev.kernel_exit_code, exit_code_of(i));
		assert_string_equal(e[2].ev.reason, "Error");
		assert_int_equal(e[2].ev.kernel_mono_ns, e[1].ev.kernel_mono_ns);
		assert_true(e[2].ev.seq > e[1].ev.seq);
		last_conf = e[2].at > last_conf ? e[2].at : last_conf;
	}
	total = n_events(fx);
	pthread_mutex_lock(&fx->lock);
	assert_false(fx->oom);
	assert_int_equal(fx->seq_errors, 0);
	pthread_mutex_unlock(&fx->lock);
	if (total != 1 + 3 * (size_t)fx->n) {
		dump(fx, 2000);
		fail_msg("%zu events, want %u (SandboxReady + 3 per container)", total,
			 1 + 3 * fx->n);
	}
	health(fx, &h2);
	assert_int_equal(h2.provisional_confirmed - h0.provisional_confirmed, fx->n);
	assert_int_equal(h2.provisional_corrected - h0.provisional_corrected, 0);
	/* No transition was left for a relist to find. */
	assert_int_equal(h2.missed_events - h0.missed_events, 0);
	assert_true(h2.healthy);
	/* Reconciled by a relist: one ran after the loss, and the hinted
	 * period is back in force. */
	assert_true(h2.relists > h0.relists);
	assert_int_equal(h2.relist_period_ms, 600000);
	r = kpleg_tracker__get_pod(fx->t, fx->pod.uid, &fx->status);
	assert_int_equal(r, 0);
	p = fx->status;
	assert_int_equal(p->n_containers, fx->n);
	for (size_t i = 0; i < p->n_containers; i++) {
		assert_int_equal(p->containers[i].state, KPLEG_CONTAINER_EXITED);
		assert_false(p->containers[i].provisional);
	}
	printf("    runtime told -> all %u ContainerConfirmed %.1f ms (none corrected); "
	       "%zu events in all, missed_events %" PRIu64 ", relists %" PRIu64
	       ", fetches %" PRIu64 ", health relist period %u ms\n",
	       fx->n, (double)(last_conf - marked) / 1e6, total,
	       h2.missed_events - h0.missed_events, h2.relists - h0.relists,
	       h2.fetches - h0.fetches, h2.relist_period_ms);
}

static void test_unconfirmed_settled(void **state)
{
	struct fx *fx = *state;
	struct kpleg_health h0, h1;
	const struct kpleg_container_status *cs = NULL;
	struct kpleg_pod_status *p;
	unsigned idx[1] = { 0 };
	struct rec e[8];
	uint64_t burst;
	size_t n;

	fx_up(fx);
	health(fx, &h0);
	spawn(fx, idx, 1, false);
	burst = now_ns();
	release(fx);
	reap(fx, 0);

	/* The kernel's exit at once; the runtime keeps saying RUNNING. */
	if (!wait_type(fx, KPLEG_EVENT_CONTAINER_DIED, 1, WAIT_MS)) {
		dump(fx, 20);
		fail_msg("no ContainerDied for the exited container");
	}
	check_died(fx, 0, burst);
	if (!wait_type(fx, KPLEG_EVENT_CONTAINER_CONFIRMED, 1, fx->retry_ms + WAIT_MS)) {
		dump(fx, 20);
		fail_msg("the provisional exit was never settled");
	}
	usleep(QUIET_MS * 1000);
	n = events_of(fx, fx->ct[0], e, 8);
	if (n != 3 || e[2].ev.type != KPLEG_EVENT_CONTAINER_CONFIRMED) {
		dump(fx, 20);
		fail_msg("%zu events about the container, want Started, Died, Confirmed", n);
	}
	assert_true(e[2].ev.corrected);
	assert_false(e[2].ev.has_exit_code); /* the runtime says it runs */
	assert_int_equal(e[2].ev.kernel_exit_code, exit_code_of(0));
	assert_int_equal(e[2].ev.kernel_mono_ns, e[1].ev.kernel_mono_ns);
	/* Not before the retries ran out. */
	assert_true(e[2].ev.observed_mono_ns - e[1].ev.kernel_mono_ns >=
		    (uint64_t)fx->retry_ms * 1000000);
	/* The other container: nothing after its Started. */
	assert_int_equal(events_of(fx, fx->ct[1], e + 3, 4), 1);
	assert_int_equal(n_events(fx), 1 + 3 + 1);

	assert_int_equal(kpleg_tracker__get_pod(fx->t, fx->pod.uid, &fx->status), 0);
	p = fx->status;
	for (size_t i = 0; i < p->n_containers; i++)
		if (!strcmp(p->containers[i].id, fx->ct[0]))
			cs = &p->containers[i];
	assert_non_null(cs);
	assert_int_equal(cs->state, KPLEG_CONTAINER_RUNNING);
	assert_false(cs->provisional);
	health(fx, &h1);
	assert_int_equal(h1.provisional_corrected - h0.provisional_corrected, 1);
	assert_int_equal(h1.provisional_confirmed - h0.provisional_confirmed, 0);
	printf("    unconfirmed exit %d: provisional ContainerDied %.1f ms after the kernel "
	       "exit, settled (corrected, RUNNING again) after %.1f ms (hint_retry_max_ms %u)\n",
	       exit_code_of(0), (double)(e[1].at - e[1].ev.kernel_mono_ns) / 1e6,
	       (double)(e[2].ev.observed_mono_ns - e[1].ev.kernel_mono_ns) / 1e6, fx->retry_ms);
}

/* After a loss, a kernel exit already settled (corrected: the runtime says
 * the container runs) must not be reported again. */
static int setup_repost(void **state)
{
	struct fx *fx = fx_alloc(120, 1000, RING_BYTES);

	fx->pin = true;
	*state = fx;
	return 0;
}

static void test_settled_exit_not_reposted(void **state)
{
	struct fx *fx = *state;
	struct kpleg_health h0, h1;
	unsigned idx[200];
	struct rec e[8];
	size_t n;

	fx_up(fx);
	/* Container 0's process exits, the runtime keeps it RUNNING: settled. */
	idx[0] = 0;
	spawn(fx, idx, 1, false);
	release(fx);
	reap(fx, 0);
	assert_true(wait_type(fx, KPLEG_EVENT_CONTAINER_CONFIRMED, 1, fx->retry_ms + WAIT_MS));
	health(fx, &h0);
	/* Then a burst in the others: hints lost, the map walked. */
	for (unsigned i = 1; i < fx->n; i++)
		idx[i - 1] = i;
	spawn(fx, idx, fx->n - 1, true);
	release(fx);
	for (unsigned i = 1; i < fx->n; i++)
		reap(fx, i);
	for (unsigned i = 1; i < fx->n; i++)
		assert_int_equal(fakecri__container_exit(fx->f, fx->ct[i], exit_code_of(i), NULL),
				 0);
	assert_true(wait_type(fx, KPLEG_EVENT_CONTAINER_CONFIRMED, fx->n, WAIT_MS));
	usleep((fx->retry_ms + QUIET_MS) * 1000);
	health(fx, &h1);
	assert_true(h1.hints_lost > h0.hints_lost);
	n = events_of(fx, fx->ct[0], e, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		printf("    container 0: #%" PRIu64 " %s source=%s provisional=%d corrected=%d "
		       "kernel_mono_ns=%" PRIu64 "\n", e[i].ev.seq,
		       kpleg_event_type_str(e[i].ev.type), kpleg_source_str(e[i].ev.source),
		       e[i].ev.provisional, e[i].ev.corrected, e[i].ev.kernel_mono_ns);
	printf("    hints lost %" PRIu64 "; provisional_corrected %" PRIu64 " -> %" PRIu64 "\n",
	       h1.hints_lost - h0.hints_lost, h0.provisional_corrected, h1.provisional_corrected);
	assert_int_equal(n, 3); /* Started, Died, Confirmed: nothing after */
	assert_int_equal(h1.provisional_corrected, h0.provisional_corrected);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_loss_reconciled, setup_loss, teardown),
		cmocka_unit_test_setup_teardown(test_loss_reconciled, setup_burst, teardown),
		cmocka_unit_test_setup_teardown(test_unconfirmed_settled, setup_settle, teardown),
		cmocka_unit_test_setup_teardown(test_settled_exit_not_reposted, setup_repost, teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
