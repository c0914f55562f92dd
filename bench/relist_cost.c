// SPDX-License-Identifier: Apache-2.0
/*
 * relist_cost: what a relist and the cache cost at scale (issue measurements 2
 * and 3), against fakecri running in its OWN process so that this process's
 * getrusage(RUSAGE_SELF) is kpleg's CPU only.
 *
 *   relist_cost --fakecri BIN --dir DIR [--sizes 1000,10000] [--per-pod 4]
 *               [--steady-relists K] [--busy-seconds S] [--title T] [--cpu-only]
 *
 * For every size (containers = pods x per-pod, all RUNNING, kubelet labels and
 * annotations from fakecri__populate):
 *  A. first sync: a generic tracker (relist period 1 h, so only its first
 *     relist runs) from kpleg_tracker__new to kpleg_tracker__wait_synced: wall
 *     time, kpleg CPU, the runtime's CPU; then the heap held by the tracker
 *     (mallinfo2().uordblks, and RSS) divided by the container count.
 *  B. steady state: a generic tracker at the kubelet's 1 s period, synced; CPU
 *     over K periods divided by the relists kpleg_tracker__health counted
 *     (nothing changes, so each relist must fetch nothing: checked).
 *  C. back to back: a generic tracker with a 1 ms period, so each relist starts
 *     as the previous one ends: wall time per relist (the kubelet's
 *     pleg_relist_duration_seconds) and CPU per relist.
 * mallinfo2() only counts the main arena, so M_ARENA_MAX is set to 1 before any
 * thread starts: every thread's allocations are then counted.
 * --cpu-only leaves the memory tables out (run.sh repeats the CPU part with
 * glibc tunables that keep freed memory mapped, to show what page faults cost).
 * Markdown on stdout; progress on stderr.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kpleg/kpleg.h"

struct opts {
	const char *fakecri, *dir, *title;
	bool cpu_only;
	unsigned sizes[8], n_sizes, per_pod, steady_relists, busy_s;
};

struct res {
	unsigned containers, pods;
	double sync_wall_ms, sync_cpu_ms, sync_rt_cpu_ms;
	size_t synced_containers;
	long long heap_delta, rss_delta, heap_retained;
	double steady_cpu_ms, steady_rt_cpu_ms;
	uint64_t steady_relists, steady_fetches, steady_events, steady_sync_fetches;
	double busy_wall_ms, busy_cpu_ms, steady_flt, busy_flt;
	uint64_t busy_relists, busy_fetches;
};

static struct kpleg_tracker *tracker(const char *ep, unsigned period_ms)
{
	struct kpleg_config cfg;
	struct kpleg_tracker *t;
	int r;

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = ep;
	cfg.mode = KPLEG_MODE_GENERIC;
	cfg.relist_period_ms = period_ms;
	cfg.call_timeout_ms = 30000; /* a 10,000-container list must not time out */
	r = kpleg_tracker__new(&cfg, &t);
	if (r < 0)
		bench_die("kpleg_tracker__new: %s", strerror(-r));
	return t;
}

static void start_synced(struct kpleg_tracker *t)
{
	int r = kpleg_tracker__start(t);

	if (r == 0)
		r = kpleg_tracker__wait_synced(t, 300000);
	if (r < 0)
		bench_die("tracker start/sync: %s", strerror(-r));
}

static struct kpleg_health health(struct kpleg_tracker *t)
{
	struct kpleg_health h;

	kpleg_tracker__health(t, &h);
	return h;
}

static void wait_relists(struct kpleg_tracker *t, uint64_t n)
{
	uint64_t end = bench_mono_ns() + 60 * NS_PER_S;

	while (health(t).relists < n)
		if (bench_mono_ns() > end)
			bench_die("no relist within 60 s");
		else
			bench_sleep_ms(5);
}

/* Waits until no fetch has run for 600 ms: a relist that starts while the first
 * sync's fetches are still queued asks for those pods again (coalesced into one
 * more fetch each), so fetches can go on for a while after wait_synced. */
static uint64_t settle(struct kpleg_tracker *t)
{
	uint64_t end = bench_mono_ns() + 120 * NS_PER_S, last = health(t).fetches;
	unsigned quiet = 0;

	while (quiet < 3) {
		uint64_t f;

		if (bench_mono_ns() > end)
			bench_die("fetches still running 120 s after sync");
		bench_sleep_ms(200);
		f = health(t).fetches;
		quiet = f == last ? quiet + 1 : 0;
		last = f;
	}
	return last;
}

/* Waits for relist number @n; sleeps most of @approx_ms first so that polling
 * (a few microseconds each) adds nothing measurable to the CPU measured. */
static void wait_relists_after(struct kpleg_tracker *t, uint64_t n, unsigned approx_ms)
{
	if (approx_ms > 300)
		bench_sleep_ms(approx_ms - 300);
	wait_relists(t, n);
}

static void phase_sync(struct res *r, const char *ep, pid_t rt)
{
	struct mallinfo2 m0, m1, m2;
	uint64_t rss0, rss1, t0, c0, k0;
	struct kpleg_tracker *t;
	struct kpleg_health h;

	malloc_trim(0);
	m0 = mallinfo2();
	rss0 = bench_rss_bytes();
	k0 = bench_proc_cpu_ns(rt);
	c0 = bench_self_cpu_ns();
	t0 = bench_mono_ns();
	t = tracker(ep, 3600 * 1000);
	start_synced(t);
	r->sync_wall_ms = (double)(bench_mono_ns() - t0) / NS_PER_MS;
	r->sync_cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS;
	r->sync_rt_cpu_ms = (double)(bench_proc_cpu_ns(rt) - k0) / NS_PER_MS;
	h = health(t);
	r->synced_containers = h.containers;
	/* Let the engine free the last fetch's message. No relist runs (1 h). */
	bench_sleep_ms(300);
	m1 = mallinfo2();
	rss1 = bench_rss_bytes();
	r->heap_delta = (long long)m1.uordblks - (long long)m0.uordblks;
	r->rss_delta = (long long)rss1 - (long long)rss0;
	kpleg_tracker__free(t);
	malloc_trim(0);
	m2 = mallinfo2();
	r->heap_retained = (long long)m2.uordblks - (long long)m0.uordblks;
}

static void phase_steady(struct res *r, const char *ep, pid_t rt, unsigned k)
{
	struct kpleg_tracker *t = tracker(ep, 1000);
	struct kpleg_health h0, h1;
	uint64_t c0, k0, f0;

	start_synced(t);
	r->steady_sync_fetches = settle(t);
	/* Measure from just after a relist to just after the K-th next one. */
	wait_relists(t, health(t).relists + 1);
	h0 = health(t);
	f0 = bench_self_minflt();
	c0 = bench_self_cpu_ns();
	k0 = bench_proc_cpu_ns(rt);
	wait_relists_after(t, h0.relists + k, k * 1000);
	h1 = health(t);
	r->steady_flt = (double)(bench_self_minflt() - f0);
	r->steady_relists = h1.relists - h0.relists;
	r->steady_fetches = h1.fetches - h0.fetches;
	r->steady_events = h1.events_emitted - h0.events_emitted;
	r->steady_cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS /
			   (double)(r->steady_relists ? r->steady_relists : 1);
	r->steady_rt_cpu_ms = (double)(bench_proc_cpu_ns(rt) - k0) / NS_PER_MS /
			      (double)(r->steady_relists ? r->steady_relists : 1);
	r->steady_flt /= (double)(r->steady_relists ? r->steady_relists : 1);
	if (h1.relist_failures != h0.relist_failures)
		fprintf(stderr, "relist_cost: warning: %llu relist failures in steady state\n",
			(unsigned long long)(h1.relist_failures - h0.relist_failures));
	kpleg_tracker__free(t);
}

static void phase_busy(struct res *r, const char *ep, unsigned s)
{
	struct kpleg_tracker *t = tracker(ep, 1);
	struct kpleg_health h0, h1;
	uint64_t c0, t0, f0;

	start_synced(t);
	settle(t);
	wait_relists(t, health(t).relists + 2);
	h0 = health(t);
	f0 = bench_self_minflt();
	c0 = bench_self_cpu_ns();
	t0 = bench_mono_ns();
	bench_sleep_ms(s * 1000);
	h1 = health(t);
	r->busy_flt = (double)(bench_self_minflt() - f0);
	r->busy_relists = h1.relists - h0.relists;
	r->busy_fetches = h1.fetches - h0.fetches;
	r->busy_wall_ms = (double)(bench_mono_ns() - t0) / NS_PER_MS /
			  (double)(r->busy_relists ? r->busy_relists : 1);
	r->busy_cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS /
			 (double)(r->busy_relists ? r->busy_relists : 1);
	r->busy_flt /= (double)(r->busy_relists ? r->busy_relists : 1);
	kpleg_tracker__free(t);
}

static void parse(int argc, char **argv, struct opts *o)
{
	o->per_pod = 4;
	o->steady_relists = 10;
	o->busy_s = 5;
	o->title = "fakecri in its own process, generic mode";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--cpu-only")) {
			o->cpu_only = true;
			continue;
		}
		if (!v)
			bench_die("missing value for %s", a);
		i++;
		if (!strcmp(a, "--fakecri"))
			o->fakecri = v;
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--per-pod"))
			o->per_pod = (unsigned)atoi(v);
		else if (!strcmp(a, "--steady-relists"))
			o->steady_relists = (unsigned)atoi(v);
		else if (!strcmp(a, "--title"))
			o->title = v;
		else if (!strcmp(a, "--busy-seconds"))
			o->busy_s = (unsigned)atoi(v);
		else if (!strcmp(a, "--sizes")) {
			char *s = strdup(v), *save = NULL;

			for (char *tok = strtok_r(s, ",", &save); tok && o->n_sizes < 8;
			     tok = strtok_r(NULL, ",", &save))
				o->sizes[o->n_sizes++] = (unsigned)atoi(tok);
			free(s);
		} else
			bench_die("unknown option %s", a);
	}
	if (!o->fakecri || !o->dir)
		bench_die("usage: relist_cost --fakecri BIN --dir DIR [--sizes 1000,10000] "
			  "[--per-pod 4] [--steady-relists K] [--busy-seconds S] [--title T] [--cpu-only]");
	if (!o->n_sizes) {
		o->sizes[o->n_sizes++] = 1000;
		o->sizes[o->n_sizes++] = 10000;
	}
	if (!o->per_pod || !o->steady_relists || !o->busy_s)
		bench_die("--per-pod, --steady-relists and --busy-seconds must be > 0");
}

int main(int argc, char **argv)
{
	struct res res[8] = { 0 };
	struct opts o = { 0 };

	/* Before any thread: one arena, so mallinfo2() sees every allocation. */
	mallopt(M_ARENA_MAX, 1);
	parse(argc, argv, &o);
	for (unsigned i = 0; i < o.n_sizes; i++) {
		struct res *r = &res[i];
		struct bench_fakecri f;
		char sock[108];

		r->pods = o.sizes[i] / o.per_pod;
		r->containers = r->pods * o.per_pod;
		snprintf(sock, sizeof(sock), "%s/relist-%u.sock", o.dir, r->containers);
		fprintf(stderr, "relist_cost: %u containers (%u pods x %u)\n", r->containers,
			r->pods, o.per_pod);
		bench_fakecri_start(&f, o.fakecri, sock, r->pods, o.per_pod, "unimplemented", NULL);
		phase_sync(r, f.endpoint, f.pid);
		fprintf(stderr, "relist_cost:   first sync %.1f ms wall, %.1f ms CPU\n",
			r->sync_wall_ms, r->sync_cpu_ms);
		phase_steady(r, f.endpoint, f.pid, o.steady_relists);
		fprintf(stderr, "relist_cost:   steady %.2f ms CPU/relist over %llu relists\n",
			r->steady_cpu_ms, (unsigned long long)r->steady_relists);
		phase_busy(r, f.endpoint, o.busy_s);
		fprintf(stderr, "relist_cost:   back-to-back %.2f ms wall/relist\n", r->busy_wall_ms);
		bench_fakecri_stop(&f);
		if (r->synced_containers != r->containers)
			bench_die("synced %zu containers, expected %u", r->synced_containers,
				  r->containers);
	}

	printf("### Relist cost (%s)\n\n", o.title);
	printf("| containers (pods x %u) | first sync: wall ms | first sync: kpleg CPU ms | "
	       "first sync: runtime CPU ms | pod fetches until quiet at 1 s period (pods) | steady relist: kpleg CPU ms/relist | "
	       "steady relist: minor page faults/relist | steady relist: runtime CPU ms/relist | relists measured | fetches / events in "
	       "steady state | back-to-back relist: wall ms | back-to-back: kpleg CPU ms/relist | "
	       "target: < 50 ms CPU at 10,000 |\n",
	       o.per_pod);
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (unsigned i = 0; i < o.n_sizes; i++) {
		const struct res *r = &res[i];

		printf("| %u (%u) | %.1f | %.1f | %.1f | %llu (%u) | %.2f | %.0f | %.2f | %llu | "
		       "%llu / %llu | %.2f | %.2f | %.0f | %s |\n",
		       r->containers, r->pods, r->sync_wall_ms, r->sync_cpu_ms, r->sync_rt_cpu_ms,
		       (unsigned long long)r->steady_sync_fetches, r->pods,
		       r->steady_cpu_ms, r->steady_flt, r->steady_rt_cpu_ms,
		       (unsigned long long)r->steady_relists, (unsigned long long)r->steady_fetches,
		       (unsigned long long)r->steady_events, r->busy_wall_ms, r->busy_cpu_ms,
		       r->busy_flt, r->containers >= 10000 ? (r->steady_cpu_ms < 50 ? "met" : "**missed**")
					      : "-");
	}
	printf("\nSteady state: %u relist periods of 1 s; CPU is getrusage(RUSAGE_SELF) of the "
	       "tracker's process divided by the relists counted by kpleg_tracker__health. "
	       "Back-to-back: relist period 1 ms for %u s (each relist starts when the previous "
	       "diff ends; relist counts in the raw block). Runtime CPU is fakecri's /proc/PID/stat "
	       "(10 ms ticks).\n\n",
	       o.steady_relists, o.busy_s);
	if (o.cpu_only)
		goto raw;
	printf("### Cache memory per container\n\n");
	printf("| containers | heap held after sync (mallinfo2 uordblks delta) | per container | "
	       "RSS delta | RSS per container | heap still held after kpleg_tracker__free | "
	       "target: < 2 KiB per container |\n");
	printf("|---:|---:|---:|---:|---:|---:|---|\n");
	for (unsigned i = 0; i < o.n_sizes; i++) {
		const struct res *r = &res[i];
		double per = (double)r->heap_delta / r->containers;

		printf("| %u | %lld B | %.0f B | %lld B | %.0f B | %lld B | %s |\n", r->containers,
		       r->heap_delta, per, r->rss_delta, (double)r->rss_delta / r->containers,
		       r->heap_retained, per < 2048 ? "met" : "**missed**");
	}
	if (o.n_sizes >= 2 && res[o.n_sizes - 1].containers > res[0].containers) {
		const struct res *a = &res[0], *b = &res[o.n_sizes - 1];

		printf("\nMarginal heap per container between %u and %u containers "
		       "((delta_%u - delta_%u) / %u): %.0f B. The whole delta (the table) "
		       "includes the tracker's fixed cost (gRPC channel, threads' buffers, "
		       "tombstone ring) and is divided by the container count as is.\n",
		       a->containers, b->containers, b->containers, a->containers,
		       b->containers - a->containers,
		       (double)(b->heap_delta - a->heap_delta) / (b->containers - a->containers));
	}
raw:
	printf("\nRaw (relist_cost, %s):\n\n```\n", o.title);
	for (unsigned i = 0; i < o.n_sizes; i++) {
		const struct res *r = &res[i];

		printf("containers=%u pods=%u sync_wall_ms=%.3f sync_cpu_ms=%.3f sync_rt_cpu_ms=%.1f "
		       "synced=%zu heap_delta=%lld rss_delta=%lld heap_retained=%lld "
		       "steady_relists=%llu steady_cpu_ms_per_relist=%.3f "
		       "steady_rt_cpu_ms_per_relist=%.2f steady_fetches=%llu steady_events=%llu "
		       "busy_relists=%llu busy_fetches=%llu busy_wall_ms_per_relist=%.3f "
		       "busy_cpu_ms_per_relist=%.3f fetches_to_settle_at_1s_period=%llu "
		       "steady_minflt_per_relist=%.0f busy_minflt_per_relist=%.0f\n",
		       r->containers, r->pods, r->sync_wall_ms, r->sync_cpu_ms, r->sync_rt_cpu_ms,
		       r->synced_containers, r->heap_delta, r->rss_delta, r->heap_retained,
		       (unsigned long long)r->steady_relists, r->steady_cpu_ms, r->steady_rt_cpu_ms,
		       (unsigned long long)r->steady_fetches, (unsigned long long)r->steady_events,
		       (unsigned long long)r->busy_relists, (unsigned long long)r->busy_fetches,
		       r->busy_wall_ms, r->busy_cpu_ms, (unsigned long long)r->steady_sync_fetches,
		       r->steady_flt, r->busy_flt);
	}
	printf("```\n\n");
	return 0;
}
