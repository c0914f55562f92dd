// SPDX-License-Identifier: Apache-2.0
/*
 * exit_latency: container exit -> ContainerDied delivered (issue measurement 1),
 * for several tracker modes side by side on one real runtime.
 *
 *   exit_latency --endpoint EP --modes generic,evented,auto [--n 30]
 *                [--title TEXT] [--seed S]
 *
 * One tracker per mode runs in this process against the same runtime, each
 * with a callback subscription that takes CLOCK_MONOTONIC first thing when a
 * ContainerDied for the container under test arrives. Per sample: create and
 * start a kubelet-like container running `sleep 3600` in one pod, wait until
 * every tracker has reported it started, wait a random 0-1000 ms (so the kill
 * falls at a uniformly random point of the 1 s relist cycle instead of locking
 * to it), read its pid from the container's cgroup.procs, take
 * CLOCK_MONOTONIC and kill(pid, SIGKILL); the latency is the callback's
 * timestamp minus that one. Then the container is removed.
 * containerd 1.7 hands each event to ONE subscriber (REFERENCE.md §2): never
 * pass two of evented/auto in one run against 1.7.
 * Markdown on stdout; progress on stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cri.h"
#include "kpleg/kpleg.h"
#include "kube.h"

#define MAX_MODES 3
#define MAX_N 1000
#define WAIT_MS 15000
#define POLL_MS 5

struct trk {
	enum kpleg_mode mode;
	struct kpleg_tracker *t;
	struct kpleg_subscription *sub;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char target[KPLEG_ID_MAX];
	bool started;
	uint64_t died_ns, died_obs_ns;
	enum kpleg_source died_src;
	/* results */
	double lat_ms[MAX_N], internal_ms[MAX_N];
	enum kpleg_source src[MAX_N];
	unsigned n, misses;
	struct kpleg_health h; /* at the end */
};

static void on_event(const struct kpleg_event *ev, void *arg)
{
	uint64_t now = kpleg_now_mono_ns();
	struct trk *k = arg;

	pthread_mutex_lock(&k->lock);
	if (*k->target && !strcmp(ev->container_id, k->target)) {
		if (ev->type == KPLEG_EVENT_CONTAINER_STARTED)
			k->started = true;
		if (ev->type == KPLEG_EVENT_CONTAINER_DIED && !k->died_ns) {
			k->died_ns = now;
			k->died_obs_ns = ev->observed_mono_ns;
			k->died_src = ev->source;
		}
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
}

static void set_target(struct trk *k, const char *id)
{
	pthread_mutex_lock(&k->lock);
	snprintf(k->target, sizeof(k->target), "%s", id ? id : "");
	k->started = false;
	k->died_ns = 0;
	pthread_mutex_unlock(&k->lock);
}

/* Waits for STARTED (@died false) or DIED; false on timeout. */
static bool wait_for(struct trk *k, bool died, unsigned ms)
{
	uint64_t end = bench_mono_ns() + (uint64_t)ms * NS_PER_MS;
	struct timespec ts = { .tv_sec = end / NS_PER_S, .tv_nsec = end % NS_PER_S };
	bool ok;

	pthread_mutex_lock(&k->lock);
	while (!(ok = died ? k->died_ns != 0 : k->started))
		if (pthread_cond_timedwait(&k->cond, &k->lock, &ts) == ETIMEDOUT)
			break;
	ok = died ? k->died_ns != 0 : k->started;
	pthread_mutex_unlock(&k->lock);
	return ok;
}

static void tracker_up(struct trk *k, const char *ep)
{
	struct kpleg_config cfg;
	pthread_condattr_t ca;
	int r;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, &ca);
	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = ep;
	cfg.mode = k->mode; /* every other setting: the defaults (kubelet's) */
	r = kpleg_tracker__new(&cfg, &k->t);
	if (r == 0)
		r = kpleg_tracker__subscribe(k->t, on_event, k, &k->sub);
	if (r == 0)
		r = kpleg_tracker__start(k->t);
	if (r == 0)
		r = kpleg_tracker__wait_synced(k->t, 60000);
	if (r < 0)
		bench_die("%s tracker: %s", kpleg_mode_str(k->mode), strerror(-r));
}

/* Evented and auto: wait until the event stream is up; a runtime without one
 * (containerd 1.6) never gets there: give up after 3 s and go on. */
static void wait_streams(struct trk *trks, unsigned nt)
{
	uint64_t end = bench_mono_ns() + 3 * NS_PER_S;

	for (unsigned k = 0; k < nt; k++) {
		struct kpleg_health h;

		if (trks[k].mode == KPLEG_MODE_GENERIC)
			continue;
		for (;;) {
			kpleg_tracker__health(trks[k].t, &h);
			if (h.events_connected || bench_mono_ns() > end)
				break;
			bench_sleep_ms(50);
		}
	}
}

/* The container's first process, from its cgroup in any hierarchy. */
static pid_t container_pid(const char *cgroup_parent, const char *id)
{
	static const char *const roots[] = { "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory",
					     "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified",
					     "/sys/fs/cgroup" };
	char path[512];

	for (size_t i = 0; i < sizeof(roots) / sizeof(*roots); i++) {
		FILE *f;
		int pid = 0;

		snprintf(path, sizeof(path), "%s%s/%s/cgroup.procs", roots[i], cgroup_parent, id);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid > 0)
			return pid;
	}
	return 0;
}

/* The runtime's own view: ContainerStatus polled every @every_ms until EXITED;
 * ms after @t0, or -1 after @max_ms. */
static double poll_exited(struct cri_client *c, const char *id, uint64_t t0, unsigned every_ms,
			  unsigned max_ms)
{
	for (;;) {
		Runtime__V1__ContainerStatusResponse *r = NULL;
		uint64_t now;
		bool exited;

		if (cri_container_status(c, id, 2000, &r, NULL) < 0)
			return -1;
		now = kpleg_now_mono_ns();
		exited = r->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
		cri_msg_free(r);
		if (exited)
			return (double)(now - t0) / NS_PER_MS;
		if (now - t0 > (uint64_t)max_ms * NS_PER_MS)
			return -1;
		bench_sleep_ms(every_ms);
	}
}

static const char *short_src(enum kpleg_source s)
{
	return kpleg_source_str(s);
}

int main(int argc, char **argv)
{
	const char *ep = NULL, *modes = "generic", *title = "";
	char *const cmd[] = { "sleep", "3600", NULL };
	struct trk trks[MAX_MODES] = { 0 };
	unsigned n = 30, nt = 0, gen = MAX_MODES;
	static double floor_ms[MAX_N];
	unsigned n_floor = 0;
	long seed = 1;
	struct cri_client *c;
	struct cri_status st;
	struct kube_pod pod;
	char *sb = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--endpoint"))
			ep = argv[i + 1];
		else if (!strcmp(argv[i], "--modes"))
			modes = argv[i + 1];
		else if (!strcmp(argv[i], "--n"))
			n = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--title"))
			title = argv[i + 1];
		else if (!strcmp(argv[i], "--seed"))
			seed = atol(argv[i + 1]);
		else
			bench_die("unknown option %s", argv[i]);
	}
	if (!ep || !n || n > MAX_N || argc % 2 == 0)
		bench_die("usage: exit_latency --endpoint EP --modes generic,evented,auto "
			  "[--n 30] [--title T] [--seed S]");
	{
		char *s = strdup(modes), *save = NULL;

		for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (nt == MAX_MODES || kpleg_mode_parse(tok, &trks[nt].mode) < 0)
				bench_die("bad --modes %s", modes);
			if (trks[nt].mode == KPLEG_MODE_GENERIC)
				gen = nt;
			nt++;
		}
		free(s);
	}
	srand48(seed);
	c = cri_client__new(ep);
	if (!c)
		bench_die("endpoint %s: %s", ep, strerror(errno));
	if (kube_pod_init(&pod, NULL, "bench-exit", "default", KUBE_QOS_BESTEFFORT) < 0 ||
	    cri_run_pod_sandbox(c, &pod.cfg, 60000, &sb, &st) < 0)
		bench_die("RunPodSandbox: %s", st.message);
	for (unsigned k = 0; k < nt; k++)
		tracker_up(&trks[k], ep);
	wait_streams(trks, nt);

	for (unsigned i = 0; i < n; i++) {
		struct kube_container ct;
		char name[32], *id = NULL;
		uint64_t t0;
		pid_t pid;

		snprintf(name, sizeof(name), "exit-%u", i);
		if (kube_container_init(&ct, &pod, name, cmd, 0) < 0 ||
		    cri_create_container(c, sb, &ct.cfg, &pod.cfg, 60000, &id, &st) < 0)
			bench_die("CreateContainer: %s", st.message);
		for (unsigned k = 0; k < nt; k++)
			set_target(&trks[k], id);
		if (cri_start_container(c, id, 60000, &st) < 0)
			bench_die("StartContainer: %s", st.message);
		for (unsigned k = 0; k < nt; k++)
			if (!wait_for(&trks[k], false, WAIT_MS))
				bench_die("%s tracker did not report %s started",
					  kpleg_mode_str(trks[k].mode), id);
		bench_sleep_ms((unsigned)(drand48() * 1000));
		pid = container_pid(pod.cgroup_parent, id);
		if (pid <= 0)
			bench_die("no pid in the cgroup of %s", id);
		t0 = kpleg_now_mono_ns();
		if (kill(pid, SIGKILL) < 0)
			bench_die("kill %d: %s", (int)pid, strerror(errno));
		floor_ms[n_floor] = poll_exited(c, id, t0, POLL_MS, WAIT_MS);
		if (floor_ms[n_floor] >= 0)
			n_floor++;
		for (unsigned k = 0; k < nt; k++) {
			struct trk *t = &trks[k];

			if (!wait_for(t, true, WAIT_MS)) {
				t->misses++;
				continue;
			}
			t->lat_ms[t->n] = (double)(t->died_ns - t0) / NS_PER_MS;
			t->internal_ms[t->n] = (double)(t->died_ns - t->died_obs_ns) / NS_PER_MS;
			t->src[t->n++] = t->died_src;
		}
		fprintf(stderr, "exit_latency: %s %u/%u:", title, i + 1, n);
		for (unsigned k = 0; k < nt; k++)
			fprintf(stderr, " %s=%.1fms", kpleg_mode_str(trks[k].mode),
				trks[k].n ? trks[k].lat_ms[trks[k].n - 1] : -1.0);
		fprintf(stderr, "\n");
		for (unsigned k = 0; k < nt; k++)
			set_target(&trks[k], NULL);
		if (cri_remove_container(c, id, 60000, &st) < 0)
			fprintf(stderr, "exit_latency: warning: RemoveContainer %s: %s\n", id,
				st.message);
		free(id);
	}

	for (unsigned k = 0; k < nt; k++) {
		kpleg_tracker__health(trks[k].t, &trks[k].h);
		kpleg_subscription__free(trks[k].sub);
		kpleg_tracker__free(trks[k].t);
	}
	if (cri_stop_pod_sandbox(c, sb, 60000, &st) < 0 ||
	    cri_remove_pod_sandbox(c, sb, 60000, &st) < 0)
		fprintf(stderr, "exit_latency: warning: pod cleanup: %s\n", st.message);
	free(sb);
	cri_client__free(c);

	printf("#### %s\n\n", title);
	printf("| mode | N | p50 ms | p90 ms | max ms | min ms | p50 ratio vs generic | "
	       "p90 ratio vs generic | ContainerDied first seen by | missed (> %u s) | "
	       "event stream at the end | relists | p50 ms inside kpleg (observed -> delivered) |\n",
	       WAIT_MS / 1000);
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|\n");
	printf("| (runtime floor: ContainerStatus polled every %d ms says EXITED) | %u | %.1f | "
	       "%.1f | %.1f | %.1f | | | | | | | |\n",
	       POLL_MS, n_floor, bench_median(floor_ms, n_floor), bench_pct(floor_ms, n_floor, 90),
	       bench_pct(floor_ms, n_floor, 100), bench_pct(floor_ms, n_floor, 0));
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];
		double p50 = bench_median(t->lat_ms, t->n), p90 = bench_pct(t->lat_ms, t->n, 90);
		unsigned by[3] = { 0 };
		char ratio50[32] = "-", ratio90[32] = "-", srcs[96] = "";

		for (unsigned i = 0; i < t->n; i++)
			by[t->src[i]]++;
		for (int s = 0; s < 3; s++)
			if (by[s])
				snprintf(srcs + strlen(srcs), sizeof(srcs) - strlen(srcs), "%s%s %u",
					 *srcs ? ", " : "", short_src((enum kpleg_source)s), by[s]);
		if (gen < nt && trks[gen].n && t->n) {
			snprintf(ratio50, sizeof(ratio50), "%.3f",
				 p50 / bench_median(trks[gen].lat_ms, trks[gen].n));
			snprintf(ratio90, sizeof(ratio90), "%.3f",
				 p90 / bench_pct(trks[gen].lat_ms, trks[gen].n, 90));
		}
		printf("| %s | %u | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %u | %s | %llu | %.2f |\n",
		       kpleg_mode_str(t->mode), t->n, p50, p90, bench_pct(t->lat_ms, t->n, 100),
		       bench_pct(t->lat_ms, t->n, 0), ratio50, ratio90, srcs, t->misses,
		       t->mode == KPLEG_MODE_GENERIC ? "not used"
		       : t->h.events_connected	     ? "connected"
		       : t->h.events_supported	     ? "down"
						     : "unsupported",
		       (unsigned long long)t->h.relists, bench_median(t->internal_ms, t->n));
	}
	printf("\nRaw latencies, ms, in sample order (%s):\n\n```\n", title);
	printf("runtime-floor:");
	for (unsigned i = 0; i < n_floor; i++)
		printf(" %.1f", floor_ms[i]);
	printf("\n");
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];

		printf("%s:", kpleg_mode_str(t->mode));
		for (unsigned i = 0; i < t->n; i++)
			printf(" %.1f", t->lat_ms[i]);
		printf("\n");
	}
	printf("```\n\n");
	return 0;
}
