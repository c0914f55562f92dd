// SPDX-License-Identifier: Apache-2.0
/*
 * exit_latency: container exit -> ContainerDied delivered, and -> the runtime's
 * confirmation of it delivered (issue measurement 1, and what the kernel hints
 * bring), for several tracker modes side by side on one real runtime.
 *
 *   exit_latency --endpoint EP --modes generic,evented,auto [--n 30]
 *                [--title TEXT] [--seed S] [--label RUNTIME]
 *                [--hints-out FILE] [--targets FILE] [--target-c]
 *                [--poll-from kill|died]
 *   exit_latency --endpoint EP --target-a [--n 200] [--title TEXT]
 *                [--label RUNTIME] [--targets FILE]
 *
 * One tracker per mode runs in this process against the same runtime, each
 * with a callback subscription that takes CLOCK_MONOTONIC first thing when an
 * event about the container under test arrives. Per sample: create and start
 * a kubelet-like container running `sleep 3600` in one pod, wait until every
 * tracker has reported it started, wait a random 0-1000 ms (so the kill falls
 * at a uniformly random point of the 1 s relist cycle instead of locking to
 * it), read its pid from the container's cgroup.procs, start a poller thread
 * (ContainerStatus every 1 ms on its own CRI client until the runtime says
 * EXITED: the moment the runtime first reports the exit), take
 * CLOCK_MONOTONIC and kill(pid, SIGKILL). With an auto tracker the poller
 * starts instead when that tracker has delivered its first ContainerDied
 * (waiting at most 20 ms for it; --poll-from kill restores the order above),
 * so that its calls do not compete for the CPUs with the kernel hint. Per
 * tracker:
 *  - first: the first ContainerDied delivered (in auto mode normally the
 *    kernel's provisional one);
 *  - confirmed: the runtime-confirmed state delivered: the ContainerDied
 *    itself when it is not provisional (always so in generic and evented),
 *    else the ContainerConfirmed that follows it;
 *  - for a provisional ContainerDied, delivered minus ev->kernel_mono_ns
 *    (target A), and for every mode confirmed minus the poller's first EXITED
 *    (target B).
 * Then the container is removed. With an auto tracker, the kernel's run
 * counters of its BPF programs are switched on (BPF_STATS_RUN_TIME) and read
 * before and after the samples.
 * containerd 1.7 hands each event to ONE subscriber (REFERENCE.md §2): never
 * pass two of evented/auto in one run against 1.7.
 * Markdown on stdout (the exit tables), in --hints-out (the kernel hints
 * tables) and appended to --targets (one row per target B/C verdict, and
 * target A's figures on these exits as supporting data without a verdict);
 * progress on stderr.
 *
 * --target-a runs target A's own round instead (target_a_round() below): one
 * auto tracker alone, no poller, no random wait, --n exits one after the
 * other; its tables on stdout and target A's verdict (nearest-rank p99 over
 * the --n exits, given from --n 100) appended to --targets.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bpf_stats.h"
#include "cri.h"
#include "kpleg/kpleg.h"
#include "kube.h"

#define MAX_MODES 3
#define MAX_N 1000
#define WAIT_MS 15000
#define POLL_MS 1		/* the runtime poller's period */
#define POLL_LATE_MAX_MS 20	/* --poll-from died: start polling at most this late */
#define STR_(x) #x
#define STR(x) STR_(x)
#define BPF_BASELINE_MS 5000	/* BPF runs with no container activity, before the samples */
/* The targets (the issue's). */
#define TARGET_A_MS 1.0		/* provisional within 1 ms of the kernel's exit, p99 */
#define TARGET_B_MS 10.0	/* confirmed within 10 ms of the runtime's report, p50 */
#define TARGET_C_RATIO 10.0	/* auto's confirmed p50 10x sooner than generic's (1.6) */

/* One exit as one tracker saw it; CLOCK_MONOTONIC ns, 0 = not (yet). */
struct seen {
	bool started;
	uint64_t died_ns, died_obs_ns, died_kernel_ns;
	enum kpleg_source died_src;
	bool died_prov;
	uint64_t conf_ns, conf_obs_ns;
	enum kpleg_source conf_src;
	bool conf_is_died; /* the runtime was first: a ContainerDied that is not provisional */
	bool corrected;
	int32_t conf_exit, kernel_exit;
	unsigned n_died, n_conf;
};

struct trk {
	enum kpleg_mode mode;
	struct kpleg_tracker *t;
	struct kpleg_subscription *sub;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char target[KPLEG_ID_MAX];
	struct seen s;
	/* results, in sample order */
	double first_ms[MAX_N], internal_ms[MAX_N];
	enum kpleg_source first_src[MAX_N];
	unsigned n_first, miss_first, first_prov;
	double conf_ms[MAX_N];
	enum kpleg_source conf_src[MAX_N];
	unsigned n_conf, miss_conf, conf_events, conf_by_died, corrected;
	double a_ms[MAX_N], kexit_ms[MAX_N], lag_ms[MAX_N]; /* provisional exits only */
	unsigned n_a, n_lag;
	double b_ms[MAX_N], b_recv_ms[MAX_N];
	unsigned n_b;
	unsigned anomalies; /* extra ContainerDied/Confirmed, Confirmed without a provisional */
	char anomaly[160];
	struct kpleg_health h; /* at the end */
};

/* The runtime's own view of one exit: ContainerStatus every POLL_MS. */
struct poller {
	pthread_t th;
	struct cri_client *c;
	const char *id;
	atomic_bool stop;
	uint64_t sent_ns, recv_ns;	/* the first EXITED reply: request sent, reply received */
	uint64_t last_running_ns;	/* the last request answered RUNNING: sent */
	uint64_t first_sent_ns;		/* the first request: sent */
	unsigned calls, errors;
	double call_ms[4096];		/* durations of the first calls */
};

static void on_event(const struct kpleg_event *ev, void *arg)
{
	uint64_t now = kpleg_now_mono_ns();
	struct trk *k = arg;
	struct seen *s = &k->s;

	pthread_mutex_lock(&k->lock);
	if (!*k->target || strcmp(ev->container_id, k->target))
		goto out;
	switch (ev->type) {
	case KPLEG_EVENT_CONTAINER_STARTED:
		s->started = true;
		break;
	case KPLEG_EVENT_CONTAINER_DIED:
		s->n_died++;
		if (s->died_ns)
			break;
		s->died_ns = now;
		s->died_obs_ns = ev->observed_mono_ns;
		s->died_src = ev->source;
		s->died_prov = ev->provisional;
		s->died_kernel_ns = ev->kernel_mono_ns;
		s->kernel_exit = ev->exit_code;
		if (!ev->provisional && !s->conf_ns) {
			s->conf_ns = now;
			s->conf_obs_ns = ev->observed_mono_ns;
			s->conf_src = ev->source;
			s->conf_is_died = true;
			s->conf_exit = ev->exit_code;
		}
		break;
	case KPLEG_EVENT_CONTAINER_CONFIRMED:
		s->n_conf++;
		if (s->conf_ns)
			break;
		s->conf_ns = now;
		s->conf_obs_ns = ev->observed_mono_ns;
		s->conf_src = ev->source;
		s->corrected = ev->corrected;
		s->conf_exit = ev->exit_code;
		s->kernel_exit = ev->kernel_exit_code;
		break;
	default:
		break;
	}
	pthread_cond_broadcast(&k->cond);
out:
	pthread_mutex_unlock(&k->lock);
}

static void set_target(struct trk *k, const char *id)
{
	pthread_mutex_lock(&k->lock);
	snprintf(k->target, sizeof(k->target), "%s", id ? id : "");
	memset(&k->s, 0, sizeof(k->s));
	pthread_mutex_unlock(&k->lock);
}

enum want { WANT_STARTED, WANT_DIED, WANT_CONFIRMED };

static bool have(const struct seen *s, enum want w)
{
	return w == WANT_STARTED ? s->started : w == WANT_DIED ? s->died_ns != 0 : s->conf_ns != 0;
}

/* Waits for @w; false on timeout. */
static bool wait_for(struct trk *k, enum want w, unsigned ms)
{
	uint64_t end = bench_mono_ns() + (uint64_t)ms * NS_PER_MS;
	struct timespec ts = { .tv_sec = end / NS_PER_S, .tv_nsec = end % NS_PER_S };
	bool ok;

	pthread_mutex_lock(&k->lock);
	while (!have(&k->s, w))
		if (pthread_cond_timedwait(&k->cond, &k->lock, &ts) == ETIMEDOUT)
			break;
	ok = have(&k->s, w);
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

static void *poll_main(void *arg)
{
	struct poller *p = arg;
	uint64_t end = kpleg_now_mono_ns() + (uint64_t)WAIT_MS * NS_PER_MS;

	while (!atomic_load(&p->stop)) {
		Runtime__V1__ContainerStatusResponse *r = NULL;
		uint64_t sent = kpleg_now_mono_ns(), recv;
		bool exited;

		if (sent > end)
			break;
		if (cri_container_status(p->c, p->id, 2000, &r, NULL) < 0) {
			p->errors++;
			bench_sleep_ms(POLL_MS);
			continue;
		}
		recv = kpleg_now_mono_ns();
		exited = r->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
		if (!p->first_sent_ns)
			p->first_sent_ns = sent;
		cri_msg_free(r);
		if (p->calls < sizeof(p->call_ms) / sizeof(*p->call_ms))
			p->call_ms[p->calls] = (double)(recv - sent) / NS_PER_MS;
		p->calls++;
		if (exited) {
			p->sent_ns = sent;
			p->recv_ns = recv;
			break;
		}
		p->last_running_ns = sent;
		bench_sleep_ms(POLL_MS);
	}
	return NULL;
}

static double ms_between(uint64_t from, uint64_t to)
{
	return ((double)to - (double)from) / NS_PER_MS;
}

/* Files what tracker @t saw of exit @i (killed at @t0; the runtime's view in @p). */
static void record(struct trk *t, unsigned i, uint64_t t0, const struct poller *p)
{
	struct seen s;

	pthread_mutex_lock(&t->lock);
	s = t->s;
	pthread_mutex_unlock(&t->lock);
	if (!s.died_ns) {
		t->miss_first++;
	} else {
		t->first_ms[t->n_first] = ms_between(t0, s.died_ns);
		t->internal_ms[t->n_first] = ms_between(s.died_obs_ns, s.died_ns);
		t->first_src[t->n_first++] = s.died_src;
	}
	if (s.died_prov) {
		t->first_prov++;
		t->a_ms[t->n_a] = ms_between(s.died_kernel_ns, s.died_ns);
		t->kexit_ms[t->n_a++] = ms_between(t0, s.died_kernel_ns);
	}
	if (!s.conf_ns) {
		t->miss_conf++;
	} else {
		t->conf_ms[t->n_conf] = ms_between(t0, s.conf_ns);
		t->conf_src[t->n_conf++] = s.conf_src;
		t->conf_by_died += s.conf_is_died;
		t->conf_events += !s.conf_is_died;
		t->corrected += s.corrected;
		if (!s.conf_is_died && s.died_prov)
			t->lag_ms[t->n_lag++] = ms_between(s.died_kernel_ns, s.conf_obs_ns);
		if (p->sent_ns) {
			t->b_ms[t->n_b] = ms_between(p->sent_ns, s.conf_ns);
			t->b_recv_ms[t->n_b++] = ms_between(p->recv_ns, s.conf_ns);
		}
	}
	/* Each transition once: one ContainerDied, and one ContainerConfirmed
	 * exactly when that ContainerDied was provisional. */
	if (s.n_died > 1 || s.n_conf > 1 || (s.n_conf && !s.died_prov) ||
	    (s.died_prov && !s.n_conf)) {
		t->anomalies++;
		snprintf(t->anomaly, sizeof(t->anomaly),
			 "exit %u: %u ContainerDied (first provisional: %s), %u ContainerConfirmed",
			 i + 1, s.n_died, s.died_prov ? "yes" : "no", s.n_conf);
	}
}

static const char *short_src(enum kpleg_source s)
{
	return kpleg_source_str(s);
}

/* "relist 30, kernel 2" from per-source counts of @n sources. */
static void src_counts(const enum kpleg_source *src, unsigned n, char *buf, size_t len)
{
	unsigned by[3] = { 0 };

	*buf = 0;
	for (unsigned i = 0; i < n; i++)
		if ((unsigned)src[i] < 3)
			by[src[i]]++;
	for (int s = 0; s < 3; s++)
		if (by[s])
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s %u", *buf ? ", " : "",
				 short_src((enum kpleg_source)s), by[s]);
	if (!*buf)
		snprintf(buf, len, "-");
}

/* "%.*f" of @v, or "-" without samples. */
static const char *num(char *buf, size_t len, unsigned n, double v, int prec)
{
	if (!n)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", prec, v);
	return buf;
}

/* "| p50 | p90 | p99 | max | min " of @v. */
static void print_pcts(FILE *f, const double *v, unsigned n, int prec)
{
	char b[5][32];

	fprintf(f, "| %s | %s | %s | %s | %s ", num(b[0], 32, n, bench_median(v, n), prec),
		num(b[1], 32, n, bench_pct(v, n, 90), prec),
		num(b[2], 32, n, bench_pct(v, n, 99), prec),
		num(b[3], 32, n, bench_pct(v, n, 100), prec),
		num(b[4], 32, n, bench_pct(v, n, 0), prec));
}

static void print_raw(FILE *f, const char *what, const double *v, unsigned n, int prec)
{
	fprintf(f, "%s:", what);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, " %.*f", prec, v[i]);
	if (!n)
		fprintf(f, " (none)");
	fprintf(f, "\n");
}

/* "| p50 ratio | p90 ratio | generic p50 / this p50 " against the generic tracker. */
static void print_ratios(const double *v, unsigned n, const double *g, unsigned ng)
{
	if (!n || !ng) {
		printf("| - | - | - ");
		return;
	}
	printf("| %.3f | %.3f | %.1fx ", bench_median(v, n) / bench_median(g, ng),
	       bench_pct(v, n, 90) / bench_pct(g, ng, 90),
	       bench_median(g, ng) / bench_median(v, n));
}

static const char *stream_state(const struct trk *t)
{
	return t->mode == KPLEG_MODE_GENERIC ? "not used"
	       : t->h.events_connected	     ? "connected"
	       : t->h.events_supported	     ? "down"
					     : "unsupported";
}

static void target_row(FILE *f, const char *label, const char *what, const char *measured,
		       const char *bound, bool measurable, bool met)
{
	if (!f)
		return;
	fprintf(f, "| %s | %s | %s | %s | %s |\n", what, label, measured, bound,
		!measurable ? "**not measured**" : met ? "met" : "**not met**");
}

/* The auto tracker's BPF programs over the samples (@s0 -> @s1), and with no
 * container activity just before (@base -> @s0). */
static void print_bpf(FILE *f, unsigned n, const struct bench_bpf_snap *base,
		      const struct bench_bpf_snap *s0, const struct bench_bpf_snap *s1)
{
	double win_s = (double)(s1->mono_ns - s0->mono_ns) / NS_PER_S;
	double base_s = (double)(s0->mono_ns - base->mono_ns) / NS_PER_S;
	uint64_t runs = 0, ns = 0, bruns = 0, bns = 0;

	fprintf(f, " over the %u exits (%.1f s, from before the first container was created to "
		"after the last exit was confirmed; every container's create, start, kill and "
		"removal, and everything else the machine did meanwhile):\n\n",
		n, win_s);
	fprintf(f, "| program | attached to | runs | total ns | ns per run | runs per container "
		"exit | ns per container exit | baseline: runs/s with no container activity "
		"(%.1f s) |\n",
		base_s);
	fprintf(f, "|---|---|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < s1->n; i++) {
		const struct bench_bpf_prog *p = &s1->p[i];
		uint64_t r = p->run_cnt - s0->p[i].run_cnt;
		uint64_t d = p->run_time_ns - s0->p[i].run_time_ns;
		uint64_t br = s0->p[i].run_cnt - base->p[i].run_cnt;

		if (!p->id || !s0->p[i].id || !base->p[i].id) {
			fprintf(f, "| %s | %s | not loaded throughout | | | | | |\n", p->name,
				p->section);
			continue;
		}
		runs += r;
		ns += d;
		bruns += br;
		bns += s0->p[i].run_time_ns - base->p[i].run_time_ns;
		fprintf(f, "| %s | %s | %llu | %llu | %.0f | %.1f | %.0f | %.1f |\n", p->name,
			p->section, (unsigned long long)r, (unsigned long long)d,
			r ? (double)d / (double)r : 0.0, (double)r / n, (double)d / n,
			(double)br / base_s);
	}
	fprintf(f, "| all | | %llu | %llu | %.0f | %.1f | %.0f | %.1f |\n\n",
		(unsigned long long)runs, (unsigned long long)ns,
		runs ? (double)ns / (double)runs : 0.0, (double)runs / n, (double)ns / n,
		(double)bruns / base_s);
	fprintf(f, "In CPU terms: %.1f us of BPF per container exit measured (create to "
		"removal), %.4f %% of one CPU over the window, %.4f %% in the baseline (%.0f ns "
		"over %.1f s). %u programs of the same names belonged to other processes and "
		"were left out.\n\n",
		(double)ns / n / 1000.0, (double)ns / (win_s * NS_PER_S) * 100.0,
		(double)bns / (base_s * NS_PER_S) * 100.0, (double)bns, base_s, s1->foreign);
}

/* Nearest-rank percentile of @n values sorted ascending: the ceil(pm/1000 * n)-th
 * smallest (pm in per mille: 990 = p99), computed in integers; @rank gets it. */
static double rank_pct(const double *sorted, unsigned n, unsigned pm, unsigned *rank)
{
	unsigned k = (unsigned)(((unsigned long long)pm * n + 999) / 1000);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	if (rank)
		*rank = k;
	return n ? sorted[k - 1] : 0;
}

/* "st", "nd", "rd" or "th" after @k. */
static const char *ordinal(unsigned k)
{
	if (k % 100 >= 11 && k % 100 <= 13)
		return "th";
	return k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
}

/* A percentile is shown only when N lets at least one sample fall above it
 * (nearest rank below N): p99 from N >= 100, p99.9 from N >= 1000. */
static bool pct_meaningful(unsigned n, unsigned pm)
{
	return n && (unsigned)(((unsigned long long)pm * n + 999) / 1000) < n;
}

static const char *ms_str(char *buf, size_t len, double v, int prec)
{
	if (isinf(v))
		snprintf(buf, len, "missed");
	else
		snprintf(buf, len, "%.*f", prec, v);
	return buf;
}

/* "| p50 | p90 | p99 | p99.9 | max | min " of @v, every one nearest-rank. */
static void print_rank_pcts(FILE *f, const double *v, unsigned n, int prec)
{
	static const unsigned pms[] = { 500, 900, 990, 999, 1000 };
	double *s = malloc((n ? n : 1) * sizeof(*s));
	char b[32];

	if (!s)
		bench_die("out of memory");
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), bench_cmp_double);
	for (size_t i = 0; i < sizeof(pms) / sizeof(*pms); i++) {
		double x = rank_pct(s, n, pms[i], NULL);

		if (!n || (pms[i] == 999 && !pct_meaningful(n, 999)))
			fprintf(f, "| - ");
		else
			fprintf(f, "| %s ", ms_str(b, sizeof(b), x, prec));
	}
	fprintf(f, "| %s ", n ? ms_str(b, sizeof(b), s[0], prec) : "-");
	free(s);
}

/* How many of @v are over @bound. */
static unsigned count_over(const double *v, unsigned n, double bound)
{
	unsigned c = 0;

	for (unsigned i = 0; i < n; i++)
		c += !(v[i] <= bound);
	return c;
}

/* One markdown row per target for the auto tracker @a (C against the generic
 * tracker @g when given), then the BPF cost (no target) when @s0 is given. */
static void verdicts(FILE *f, const char *label, unsigned n, const struct trk *a,
		     const struct trk *g, unsigned poller_late, const struct bench_bpf_snap *s0,
		     const struct bench_bpf_snap *s1)
{
	double amax = bench_pct(a->a_ms, a->n_a, 100), b50 = bench_median(a->b_ms, a->n_b);
	char m[200];

	if (!f)
		return;
	/* Supporting only: A's verdict is the target-A round's (--target-a), whose
	 * N makes a p99 mean something; here it is the maximum of a few exits. */
	snprintf(m, sizeof(m), "max %.3f ms (p50 %.3f; N=%u provisional of %u exits; %u over "
		 "1 ms)", amax, bench_median(a->a_ms, a->n_a), a->n_a, n,
		 count_over(a->a_ms, a->n_a, TARGET_A_MS) + (n - a->n_a));
	fprintf(f, "| A, supporting data, not the verdict: the %u exits of section 1 | %s | %s | "
		"<= 1 ms | - |\n", n, label, m);
	snprintf(m, sizeof(m), "p50 %.1f ms (p90 %.1f; N=%u%s)", b50,
		 bench_pct(a->b_ms, a->n_b, 90), a->n_b,
		 poller_late ? "; the poller started late in some exits" : "");
	target_row(f, label, "B: runtime-confirmed delivered within 10 ms of the runtime's first "
		   "report of the exit (p50, auto)", m, "<= 10 ms", a->n_b > 0,
		   a->n_b == n && b50 <= TARGET_B_MS);
	if (g) {
		double gc = bench_median(g->conf_ms, g->n_conf);
		double ac = bench_median(a->conf_ms, a->n_conf);
		double gf = bench_median(g->first_ms, g->n_first);
		double af = bench_median(a->first_ms, a->n_first);

		snprintf(m, sizeof(m), "confirmed: generic p50 %.1f ms / auto p50 %.1f ms = "
			 "**%.1fx**; first ContainerDied: %.1f / %.3f ms = %.0fx", gc, ac,
			 gc / ac, gf, af, gf / af);
		target_row(f, label, "C: auto's runtime-confirmed ContainerDied at least 10x "
			   "sooner than generic's (p50)", m, ">= 10x",
			   g->n_conf > 0 && a->n_conf > 0,
			   g->n_conf == n && a->n_conf == n && gc / ac >= TARGET_C_RATIO);
	}
	if (s0) {
		uint64_t runs = 0, ns = 0;

		for (unsigned i = 0; i < s1->n; i++) {
			runs += s1->p[i].run_cnt - s0->p[i].run_cnt;
			ns += s1->p[i].run_time_ns - s0->p[i].run_time_ns;
		}
		fprintf(f, "| BPF programs' own run time per container exit (create to removal) | "
			"%s | %.1f us: %.0f runs of %.0f ns on average | (no target) | - |\n",
			label, (double)ns / n / 1000.0, (double)runs / n,
			runs ? (double)ns / (double)runs : 0.0);
	}
}

/* ---- the target-A round (--target-a) ------------------------------------------ */

/* All CPUs' busy and total time so far, in clock ticks, from /proc/stat. */
static void machine_cpu(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	*busy = *total = 0;
	if (!f)
		return;
	/* cpu user nice system idle iowait irq softirq steal */
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += v[i];
		*busy = *total - v[3] - v[4];
	}
	fclose(f);
}

static void loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l1 = 0;

	if (f && fscanf(f, "%lf", &l1) == 1)
		snprintf(buf, len, "%.2f", l1);
	else
		snprintf(buf, len, "?");
	if (f)
		fclose(f);
}

/*
 * Target A alone: one auto tracker, nothing else in the process (no generic or
 * evented tracker, no runtime poller, no random wait, no BPF stats). Per exit:
 * create and start a `sleep 3600` container in one pod, wait for the tracker's
 * ContainerStarted, read the pid from cgroup.procs, SIGKILL it; record the
 * provisional ContainerDied's delivery minus its kernel_mono_ns (an exit
 * without a provisional first ContainerDied is missed: an infinite sample) and
 * kill -> kernel exit; wait for the ContainerConfirmed, remove the container.
 * The verdict is the nearest-rank p99 over all @n exits, given for n >= 100.
 */
static int target_a_round(const char *ep, unsigned n, const char *title, const char *label,
			  FILE *tf)
{
	char *const cmd[] = { "sleep", "3600", NULL };
	static struct trk a = { .mode = KPLEG_MODE_AUTO };
	static double all_ms[MAX_N], kexit_all[MAX_N], sorted[MAX_N];
	static double ph_create[MAX_N], ph_started[MAX_N], ph_conf[MAX_N], ph_remove[MAX_N],
		ph_total[MAX_N];
	unsigned over = 0, rank = 0, missed = 0;
	uint64_t setup0 = bench_mono_ns(), setup1, setup2, r0, r1;
	struct cri_client *c;
	struct cri_status st;
	struct kube_pod pod;
	enum cri_events_support events;
	unsigned long long busy0, total0, busy1, total1;
	uint64_t cpu0, cpu1;
	char *sb = NULL, m[320], b[3][32], load0[16], load1[16];
	double p99;
	bool judged = n >= 100, met;

	c = cri_client__new(ep);
	if (!c)
		bench_die("endpoint %s: %s", ep, strerror(errno));
	/* Does the runtime have an event stream (then wait for the tracker's to be
	 * up)? Asked before the tracker exists: on containerd 1.7 a second
	 * subscriber would take events from it. */
	if (cri_events_probe(c, 200, &events, &st) < 0)
		events = CRI_EVENTS_SUPPORTED; /* unknown: wait for it, at most 3 s */
	if (kube_pod_init(&pod, NULL, "bench-target-a", "default", KUBE_QOS_BESTEFFORT) < 0 ||
	    cri_run_pod_sandbox(c, &pod.cfg, 60000, &sb, &st) < 0)
		bench_die("RunPodSandbox: %s", st.message);
	setup1 = bench_mono_ns();
	tracker_up(&a, ep);
	setup2 = bench_mono_ns();
	for (uint64_t end = bench_mono_ns() + 3 * NS_PER_S;
	     events == CRI_EVENTS_SUPPORTED && bench_mono_ns() < end;) {
		struct kpleg_health h;

		kpleg_tracker__health(a.t, &h);
		if (h.events_connected)
			break;
		bench_sleep_ms(10);
	}
	loadavg(load0, sizeof(load0));
	machine_cpu(&busy0, &total0);
	cpu0 = bench_self_cpu_ns();
	r0 = bench_mono_ns();
	fprintf(stderr, "exit_latency: %s: set-up %.2f s (pod %.2f, tracker synced %.2f, event "
		"stream %.2f)\n", title, (double)(r0 - setup0) / NS_PER_S,
		(double)(setup1 - setup0) / NS_PER_S, (double)(setup2 - setup1) / NS_PER_S,
		(double)(r0 - setup2) / NS_PER_S);
	for (unsigned i = 0; i < n; i++) {
		struct poller p = { .c = NULL }; /* none in this round: record() skips B */
		struct kube_container ct;
		char name[32], *id = NULL;
		uint64_t s0 = bench_mono_ns(), s1, s2, t0, s3, s4;
		pid_t pid;
		struct seen s;

		snprintf(name, sizeof(name), "a-%u", i);
		if (kube_container_init(&ct, &pod, name, cmd, 0) < 0 ||
		    cri_create_container(c, sb, &ct.cfg, &pod.cfg, 60000, &id, &st) < 0)
			bench_die("CreateContainer: %s", st.message);
		set_target(&a, id);
		s1 = bench_mono_ns();
		if (cri_start_container(c, id, 60000, &st) < 0)
			bench_die("StartContainer: %s", st.message);
		if (!wait_for(&a, WANT_STARTED, WAIT_MS))
			bench_die("auto tracker did not report %s started", id);
		s2 = bench_mono_ns();
		pid = container_pid(pod.cgroup_parent, id);
		if (pid <= 0)
			bench_die("no pid in the cgroup of %s", id);
		t0 = kpleg_now_mono_ns();
		if (kill(pid, SIGKILL) < 0)
			bench_die("kill %d: %s", (int)pid, strerror(errno));
		wait_for(&a, WANT_DIED, WAIT_MS);
		wait_for(&a, WANT_CONFIRMED, WAIT_MS);
		s3 = bench_mono_ns();
		pthread_mutex_lock(&a.lock);
		s = a.s;
		pthread_mutex_unlock(&a.lock);
		record(&a, i, t0, &p);
		if (s.died_prov) {
			all_ms[i] = ms_between(s.died_kernel_ns, s.died_ns);
			kexit_all[i] = ms_between(t0, s.died_kernel_ns);
		} else {
			all_ms[i] = INFINITY;
			kexit_all[i] = NAN;
			missed++;
		}
		set_target(&a, NULL);
		if (cri_remove_container(c, id, 60000, &st) < 0)
			fprintf(stderr, "exit_latency: warning: RemoveContainer %s: %s\n", id,
				st.message);
		s4 = bench_mono_ns();
		ph_create[i] = ms_between(s0, s1);
		ph_started[i] = ms_between(s1, s2);
		ph_conf[i] = ms_between(t0, s3);
		ph_remove[i] = ms_between(s3, s4);
		ph_total[i] = ms_between(s0, s4);
		fprintf(stderr, "exit_latency: %s %u/%u: kernel exit -> provisional %s ms, "
			"kill -> kernel exit %.3f ms, sample %.0f ms\n",
			title, i + 1, n, ms_str(b[0], sizeof(b[0]), all_ms[i], 3), kexit_all[i],
			ph_total[i]);
		free(id);
	}
	r1 = bench_mono_ns();
	cpu1 = bench_self_cpu_ns();
	machine_cpu(&busy1, &total1);
	loadavg(load1, sizeof(load1));
	kpleg_tracker__health(a.t, &a.h);
	kpleg_subscription__free(a.sub);
	kpleg_tracker__free(a.t);
	if (cri_stop_pod_sandbox(c, sb, 60000, &st) < 0 ||
	    cri_remove_pod_sandbox(c, sb, 60000, &st) < 0)
		fprintf(stderr, "exit_latency: warning: pod cleanup: %s\n", st.message);
	bench_rmdir_pod_cgroups(pod.cgroup_parent); /* the kubelet's job, not containerd's */
	free(sb);
	cri_client__free(c);

	memcpy(sorted, all_ms, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), bench_cmp_double);
	p99 = rank_pct(sorted, n, 990, &rank);
	for (unsigned i = 0; i < n; i++)
		over += !(all_ms[i] <= TARGET_A_MS);
	met = judged && p99 <= TARGET_A_MS;

	printf("#### %s\n\n", title);
	printf("| | N | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | min ms | over 1 ms |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	printf("| kernel exit -> provisional ContainerDied delivered | %u ", n);
	print_rank_pcts(stdout, all_ms, n, 3);
	printf("| %u |\n| kill -> kernel exit (`kernel_mono_ns`) | %u ", over, a.n_a);
	print_rank_pcts(stdout, a.kexit_ms, a.n_a, 3);
	printf("| - |\n\n");
	printf("p99 = the %u%s smallest of the %u values (nearest rank, ceil(0.99 x %u)); "
	       "p99.9 %s. %u of %u exits had a provisional first ContainerDied (the others "
	       "count as missed: above any bound).\n\n",
	       rank, ordinal(rank), n, n,
	       pct_meaningful(n, 999) ? "likewise (ceil(0.999 x N))"
				      : "not given: it needs N >= 1000",
	       a.first_prov, n);
	printf("Exits over 1 ms: **%u of %u**", over, n);
	for (unsigned i = 0, k = 0; i < n; i++) {
		if (all_ms[i] <= TARGET_A_MS)
			continue;
		printf("%s exit %u: %s ms", k++ ? ";" : ":", i + 1,
		       ms_str(b[0], sizeof(b[0]), all_ms[i], 3));
		if (!isnan(kexit_all[i]))
			printf(" (kill -> kernel exit %.3f ms)", kexit_all[i]);
	}
	printf("%s\n\n", over ? "." : " (none).");
	printf("The round: %.1f s for %u exits (%.0f ms per exit at the median: create %.0f, "
	       "start -> ContainerStarted %.0f, kill -> ContainerConfirmed %.0f, remove %.0f), "
	       "plus %.1f s to set up the pod and the tracker. Tracker at the end: BPF %s, "
	       "provisional %llu, confirmed %llu, corrected %llu, hints lost %llu, missed events "
	       "%llu, relists %llu, event stream %s, anomalies %u%s%s%s.\n\n",
	       (double)(r1 - r0) / NS_PER_S, n, bench_median(ph_total, n),
	       bench_median(ph_create, n), bench_median(ph_started, n), bench_median(ph_conf, n),
	       bench_median(ph_remove, n), (double)(r0 - setup0) / NS_PER_S,
	       *a.h.bpf_state ? a.h.bpf_state : "-", (unsigned long long)a.h.provisional,
	       (unsigned long long)a.h.provisional_confirmed,
	       (unsigned long long)a.h.provisional_corrected,
	       (unsigned long long)a.h.hints_lost, (unsigned long long)a.h.missed_events,
	       (unsigned long long)a.h.relists, stream_state(&a), a.anomalies,
	       a.anomalies ? " (last: " : "", a.anomalies ? a.anomaly : "",
	       a.anomalies ? ")" : "");
	/* What else ran: a busy machine delays the wake-ups target A measures. */
	printf("The machine during the round: its %ld CPUs %.0f %% busy (/proc/stat), of which "
	       "this bench process (tracker included) %.1f %% and the rest the runtime, the "
	       "containers and any other work; 1-minute load average %s at the start, %s at "
	       "the end.\n\n",
	       sysconf(_SC_NPROCESSORS_ONLN),
	       total1 > total0 ? 100.0 * (double)(busy1 - busy0) / (double)(total1 - total0) : 0.0,
	       100.0 * (double)(cpu1 - cpu0) /
		       ((double)(r1 - r0) * (double)sysconf(_SC_NPROCESSORS_ONLN)),
	       load0, load1);
	printf("Raw, ms, in sample order (%s):\n\n```\n", title);
	printf("kernel-exit->provisional-delivered:");
	for (unsigned i = 0; i < n; i++)
		printf(" %s", ms_str(b[0], sizeof(b[0]), all_ms[i], 3));
	printf("\n");
	print_raw(stdout, "kill->kernel-exit (provisional exits only)", a.kexit_ms, a.n_a, 3);
	printf("```\n\n");

	if (tf) {
		if (judged)
			snprintf(m, sizeof(m), "p99 **%s ms** (%u%s of %u, nearest rank; p50 %s, "
				 "max %s; %u of %u over 1 ms, %u missed)",
				 ms_str(b[0], sizeof(b[0]), p99, 3), rank, ordinal(rank), n,
				 ms_str(b[1], sizeof(b[1]), rank_pct(sorted, n, 500, NULL), 3),
				 ms_str(b[2], sizeof(b[2]), sorted[n - 1], 3), over, n, missed);
		else
			snprintf(m, sizeof(m), "N=%u exits: fewer than 100, no p99 (max %s ms; "
				 "%u over 1 ms)", n, ms_str(b[2], sizeof(b[2]), sorted[n - 1], 3),
				 over);
		target_row(tf, label, "A: provisional ContainerDied within 1 ms of the kernel's "
			   "exit (p99; the target-A round: one auto tracker alone)", m, "<= 1 ms",
			   judged, met);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *ep = NULL, *modes = "generic", *title = "", *label = "", *hints_out = NULL,
		   *targets = NULL;
	char *const cmd[] = { "sleep", "3600", NULL };
	static struct trk trks[MAX_MODES];
	unsigned n = 0, nt = 0, gen = MAX_MODES, au = MAX_MODES;
	/* the runtime's view (the poller), in ms after the kill */
	static double rt_ms[MAX_N], rt_recv_ms[MAX_N], rt_gap_ms[MAX_N], rt_calls[MAX_N];
	static double rt_start_ms[MAX_N], rt_call_ms[MAX_N * 64];
	unsigned n_rt = 0, n_call = 0, n_start = 0, rt_errors = 0, rt_late = 0;
	struct bench_bpf_snap bpf_names, bpf_base, bpf0, bpf1;
	int stats_fd = -1, stats_err = 0;
	const char *poll_from = NULL;
	bool target_c = false, target_a = false, n_set = false, poll_late;
	long seed = 1;
	struct cri_client *c, *pc;
	struct cri_status st;
	struct kube_pod pod;
	char *sb = NULL;
	FILE *hf = NULL, *tf = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--target-c")) {
			target_c = true;
			continue;
		}
		if (!strcmp(argv[i], "--target-a")) {
			target_a = true;
			continue;
		}
		if (i + 1 == argc)
			bench_die("option %s needs a value", argv[i]);
		if (!strcmp(argv[i], "--endpoint"))
			ep = argv[++i];
		else if (!strcmp(argv[i], "--modes"))
			modes = argv[++i];
		else if (!strcmp(argv[i], "--n"))
			n = (unsigned)atoi(argv[++i]), n_set = true;
		else if (!strcmp(argv[i], "--title"))
			title = argv[++i];
		else if (!strcmp(argv[i], "--seed"))
			seed = atol(argv[++i]);
		else if (!strcmp(argv[i], "--label"))
			label = argv[++i];
		else if (!strcmp(argv[i], "--hints-out"))
			hints_out = argv[++i];
		else if (!strcmp(argv[i], "--targets"))
			targets = argv[++i];
		else if (!strcmp(argv[i], "--poll-from"))
			poll_from = argv[++i];
		else
			bench_die("unknown option %s", argv[i]);
	}
	if (!n_set)
		n = target_a ? 200 : 30;
	if (!ep || !n || n > MAX_N ||
	    (poll_from && strcmp(poll_from, "kill") && strcmp(poll_from, "died")))
		bench_die("usage: exit_latency --endpoint EP --modes generic,evented,auto "
			  "[--n 30] [--title T] [--seed S] [--label RUNTIME] [--hints-out FILE] "
			  "[--targets FILE] [--target-c] [--poll-from kill|died]\n"
			  "       exit_latency --endpoint EP --target-a [--n 200] [--title T] "
			  "[--label RUNTIME] [--targets FILE]");
	if (target_a) {
		if (targets && !(tf = fopen(targets, "a")))
			bench_die("%s: %s", targets, strerror(errno));
		target_a_round(ep, n, title, label, tf);
		if (tf)
			fclose(tf);
		return 0;
	}
	{
		char *s = strdup(modes), *save = NULL;

		for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (nt == MAX_MODES || kpleg_mode_parse(tok, &trks[nt].mode) < 0)
				bench_die("bad --modes %s", modes);
			if (trks[nt].mode == KPLEG_MODE_GENERIC)
				gen = nt;
			if (trks[nt].mode == KPLEG_MODE_AUTO)
				au = nt;
			nt++;
		}
		free(s);
	}
	/* The poller's 1 ms calls keep both CPUs of a small machine busy just when
	 * the kernel's hint travels to the tracker: with an auto tracker, start it
	 * once that tracker has delivered its first ContainerDied (the runtime
	 * takes 100+ ms to report the exit; every sample checks that the poller's
	 * first answer was still RUNNING). */
	poll_late = au < MAX_MODES && (!poll_from || !strcmp(poll_from, "died"));
	if (hints_out && !(hf = fopen(hints_out, "w")))
		bench_die("%s: %s", hints_out, strerror(errno));
	if (targets && !(tf = fopen(targets, "a")))
		bench_die("%s: %s", targets, strerror(errno));
	srand48(seed);
	c = cri_client__new(ep);
	pc = cri_client__new(ep); /* the poller's own */
	if (!c || !pc)
		bench_die("endpoint %s: %s", ep, strerror(errno));
	if (kube_pod_init(&pod, NULL, "bench-exit", "default", KUBE_QOS_BESTEFFORT) < 0 ||
	    cri_run_pod_sandbox(c, &pod.cfg, 60000, &sb, &st) < 0)
		bench_die("RunPodSandbox: %s", st.message);
	for (unsigned k = 0; k < nt; k++)
		tracker_up(&trks[k], ep);
	wait_streams(trks, nt);

	/* The kernel's BPF run counters, on while this process holds the fd. */
	memset(&bpf_base, 0, sizeof(bpf_base));
	memset(&bpf0, 0, sizeof(bpf0));
	memset(&bpf1, 0, sizeof(bpf1));
	if (au < nt) {
		stats_err = bench_bpf_names(&bpf_names);
		if (stats_err == 0) {
			stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
			if (stats_fd < 0)
				stats_err = stats_fd;
		}
		if (stats_fd >= 0) {
			bpf_base = bpf_names;
			bench_bpf_snapshot(&bpf_base);
			fprintf(stderr, "exit_latency: %s: BPF run counters on; %u s with no "
				"container activity first\n", title, BPF_BASELINE_MS / 1000);
			bench_sleep_ms(BPF_BASELINE_MS);
			bpf0 = bpf_names;
			bench_bpf_snapshot(&bpf0);
		}
	}

	for (unsigned i = 0; i < n; i++) {
		struct poller p = { .c = pc };
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
			if (!wait_for(&trks[k], WANT_STARTED, WAIT_MS))
				bench_die("%s tracker did not report %s started",
					  kpleg_mode_str(trks[k].mode), id);
		bench_sleep_ms((unsigned)(drand48() * 1000));
		pid = container_pid(pod.cgroup_parent, id);
		if (pid <= 0)
			bench_die("no pid in the cgroup of %s", id);
		p.id = id;
		atomic_init(&p.stop, false);
		if (!poll_late && pthread_create(&p.th, NULL, poll_main, &p) != 0)
			bench_die("pthread_create: %s", strerror(errno));
		t0 = kpleg_now_mono_ns();
		if (kill(pid, SIGKILL) < 0)
			bench_die("kill %d: %s", (int)pid, strerror(errno));
		if (poll_late) {
			wait_for(&trks[au], WANT_DIED, POLL_LATE_MAX_MS);
			if (pthread_create(&p.th, NULL, poll_main, &p) != 0)
				bench_die("pthread_create: %s", strerror(errno));
		}
		for (unsigned k = 0; k < nt; k++) {
			wait_for(&trks[k], WANT_DIED, WAIT_MS);
			wait_for(&trks[k], WANT_CONFIRMED, WAIT_MS);
		}
		pthread_join(p.th, NULL);
		rt_errors += p.errors;
		for (unsigned j = 0; j < p.calls && j < sizeof(p.call_ms) / sizeof(*p.call_ms) &&
				     n_call < sizeof(rt_call_ms) / sizeof(*rt_call_ms);
		     j++)
			rt_call_ms[n_call++] = p.call_ms[j];
		if (p.first_sent_ns)
			rt_start_ms[n_start++] = ms_between(t0, p.first_sent_ns);
		if (p.sent_ns && p.sent_ns == p.first_sent_ns)
			rt_late++; /* its first answer was EXITED: it started too late */
		if (p.sent_ns) {
			rt_ms[n_rt] = ms_between(t0, p.sent_ns);
			rt_recv_ms[n_rt] = ms_between(t0, p.recv_ns);
			rt_gap_ms[n_rt] =
				p.last_running_ns ? ms_between(p.last_running_ns, p.sent_ns) : 0;
			rt_calls[n_rt++] = p.calls;
		}
		for (unsigned k = 0; k < nt; k++)
			record(&trks[k], i, t0, &p);
		fprintf(stderr, "exit_latency: %s %u/%u: runtime=%.1fms", title, i + 1, n,
			p.sent_ns ? ms_between(t0, p.sent_ns) : -1.0);
		for (unsigned k = 0; k < nt; k++) {
			const struct trk *t = &trks[k];

			fprintf(stderr, " %s=%.1f/%.1fms", kpleg_mode_str(t->mode),
				t->n_first ? t->first_ms[t->n_first - 1] : -1.0,
				t->n_conf ? t->conf_ms[t->n_conf - 1] : -1.0);
		}
		fprintf(stderr, "\n");
		for (unsigned k = 0; k < nt; k++)
			set_target(&trks[k], NULL);
		if (cri_remove_container(c, id, 60000, &st) < 0)
			fprintf(stderr, "exit_latency: warning: RemoveContainer %s: %s\n", id,
				st.message);
		free(id);
	}
	if (stats_fd >= 0) {
		bpf1 = bpf_names;
		bench_bpf_snapshot(&bpf1);
		close(stats_fd);
	}

	for (unsigned k = 0; k < nt; k++) {
		kpleg_tracker__health(trks[k].t, &trks[k].h);
		kpleg_subscription__free(trks[k].sub);
		kpleg_tracker__free(trks[k].t);
	}
	if (cri_stop_pod_sandbox(c, sb, 60000, &st) < 0 ||
	    cri_remove_pod_sandbox(c, sb, 60000, &st) < 0)
		fprintf(stderr, "exit_latency: warning: pod cleanup: %s\n", st.message);
	bench_rmdir_pod_cgroups(pod.cgroup_parent); /* the kubelet's job, not containerd's */
	free(sb);
	cri_client__free(pc);
	cri_client__free(c);

	/* ---- the exit tables (stdout) ---- */
	printf("#### %s\n\n", title);
	printf("Kill -> first ContainerDied delivered (in auto mode normally the kernel's "
	       "provisional one):\n\n");
	printf("| mode | N | p50 ms | p90 ms | p99 ms | max ms | min ms | p50 ratio vs generic | "
	       "p90 ratio vs generic | generic p50 / this p50 | ContainerDied first seen by | "
	       "provisional | missed (> %u s) | event stream at the end | relists | "
	       "p50 ms inside kpleg (observed -> delivered) |\n",
	       WAIT_MS / 1000);
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|\n");
	printf("| (runtime: first ContainerStatus request, polled every %d ms, answered EXITED) "
	       "| %u ",
	       POLL_MS, n_rt);
	print_pcts(stdout, rt_ms, n_rt, 1);
	printf("| | | | | | | | | |\n");
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];
		char srcs[96];

		src_counts(t->first_src, t->n_first, srcs, sizeof(srcs));
		printf("| %s | %u ", kpleg_mode_str(t->mode), t->n_first);
		print_pcts(stdout, t->first_ms, t->n_first, 1);
		print_ratios(t->first_ms, t->n_first, gen < nt ? trks[gen].first_ms : NULL,
			     gen < nt ? trks[gen].n_first : 0);
		printf("| %s | %u | %u | %s | %llu | %.2f |\n", srcs, t->first_prov, t->miss_first,
		       stream_state(t), (unsigned long long)t->h.relists,
		       bench_median(t->internal_ms, t->n_first));
	}
	printf("\nKill -> runtime-confirmed state delivered (generic, evented: the ContainerDied "
	       "above; auto: the ContainerConfirmed that follows a provisional ContainerDied, or "
	       "the ContainerDied itself when the runtime reported the exit first):\n\n");
	printf("| mode | N | p50 ms | p90 ms | p99 ms | max ms | min ms | p50 ratio vs generic | "
	       "p90 ratio vs generic | generic p50 / this p50 | confirmed by | "
	       "ContainerConfirmed / plain ContainerDied | corrected | missed (> %u s) |\n",
	       WAIT_MS / 1000);
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|\n");
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];
		char srcs[96];

		src_counts(t->conf_src, t->n_conf, srcs, sizeof(srcs));
		printf("| %s | %u ", kpleg_mode_str(t->mode), t->n_conf);
		print_pcts(stdout, t->conf_ms, t->n_conf, 1);
		print_ratios(t->conf_ms, t->n_conf, gen < nt ? trks[gen].conf_ms : NULL,
			     gen < nt ? trks[gen].n_conf : 0);
		printf("| %s | %u / %u | %u | %u |\n", srcs, t->conf_events, t->conf_by_died,
		       t->corrected, t->miss_conf);
	}
	printf("\nRaw latencies, ms after the kill, in sample order (%s):\n\n```\n", title);
	print_raw(stdout, "runtime-first-exited (request sent)", rt_ms, n_rt, 1);
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];
		char what[64];

		snprintf(what, sizeof(what), "%s first-died", kpleg_mode_str(t->mode));
		print_raw(stdout, what, t->first_ms, t->n_first, 1);
		snprintf(what, sizeof(what), "%s confirmed", kpleg_mode_str(t->mode));
		print_raw(stdout, what, t->conf_ms, t->n_conf, 1);
	}
	printf("```\n\n");

	/* ---- the kernel hints tables (--hints-out) and target verdicts (--targets) ---- */
	if (!hf && !tf)
		return 0;
	if (!hf)
		hf = fopen("/dev/null", "w");
	fprintf(hf, "#### %s\n\n", title);
	if (au < nt) {
		const struct trk *a = &trks[au];

		fprintf(hf, "Target A, supporting data (the verdict is the target-A round's): "
			"provisional ContainerDied delivered (CLOCK_MONOTONIC first thing in the "
			"callback) minus the kernel's exit time it carries (`kernel_mono_ns`), "
			"auto tracker; and the kill -> kernel exit time for the same exits:\n\n");
		fprintf(hf, "| | N | p50 ms | p90 ms | p99 ms | max ms | min ms |\n");
		fprintf(hf, "|---|---:|---:|---:|---:|---:|---:|\n");
		fprintf(hf, "| kernel exit -> provisional ContainerDied delivered | %u ", a->n_a);
		print_pcts(hf, a->a_ms, a->n_a, 3);
		fprintf(hf, "|\n| kill -> kernel exit (`kernel_mono_ns`) | %u ", a->n_a);
		print_pcts(hf, a->kexit_ms, a->n_a, 3);
		fprintf(hf, "|\n| kernel exit -> the runtime's confirmation observed "
			"(`observed_mono_ns` of ContainerConfirmed) | %u ", a->n_lag);
		print_pcts(hf, a->lag_ms, a->n_lag, 1);
		fprintf(hf, "|\n\nExits whose first ContainerDied was provisional: %u of %u "
			"(the others: the runtime reported first, or no ContainerDied).\n\n",
			a->first_prov, n);
	}
	fprintf(hf, "Target B: runtime-confirmed state delivered minus the moment the runtime "
		"first reported the exit: the bench's own ContainerStatus poller, every %d ms "
		"on its own CRI client, %s; the moment is when the request that first got "
		"EXITED was sent. Negative: delivered before that request.\n\n",
		POLL_MS,
		poll_late ? "started as soon as the auto tracker had delivered its first "
			    "ContainerDied (the bench waits at most " STR(POLL_LATE_MAX_MS)
			    " ms for it)"
			  : "started right before the kill");
	fprintf(hf, "| mode | N | p50 ms | p90 ms | p99 ms | max ms | min ms | p50 ms "
		"against the reply's arrival instead |\n");
	fprintf(hf, "|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];
		char b[32];

		fprintf(hf, "| %s | %u ", kpleg_mode_str(t->mode), t->n_b);
		print_pcts(hf, t->b_ms, t->n_b, 1);
		fprintf(hf, "| %s |\n",
			num(b, sizeof(b), t->n_b, bench_median(t->b_recv_ms, t->n_b), 1));
	}
	{
		char b[7][32];

		fprintf(hf, "\nThe poller: first request %s ms after the kill (median; max %s "
			"ms); its first answer was already EXITED in %u of %u exits (then the "
			"runtime's first report is dated too late); %u ContainerStatus calls in "
			"all (%s per exit at the median, %u failed), each %s ms at the median "
			"(p90 %s ms); the request that first got EXITED was sent %s ms (median) "
			"after the last one answered RUNNING, which bounds how precisely it dates "
			"the runtime's change. It costs CPU on this machine's %ld CPUs, in the "
			"bench and in the runtime, while it polls (~%s ms per exit).\n\n",
			num(b[5], 32, n_start, bench_median(rt_start_ms, n_start), 2),
			num(b[0], 32, n_start, bench_pct(rt_start_ms, n_start, 100), 2), rt_late,
			n, n_call, num(b[1], 32, n_rt, bench_median(rt_calls, n_rt), 0), rt_errors,
			num(b[2], 32, n_call, bench_median(rt_call_ms, n_call), 2),
			num(b[3], 32, n_call, bench_pct(rt_call_ms, n_call, 90), 2),
			num(b[4], 32, n_rt, bench_median(rt_gap_ms, n_rt), 2),
			sysconf(_SC_NPROCESSORS_ONLN),
			num(b[6], 32, n_rt, bench_median(rt_ms, n_rt), 0));
	}
	fprintf(hf, "Tracker health at the end:\n\n");
	fprintf(hf, "| mode | BPF | hints received | hints lost | hints unresolved | provisional "
		"| confirmed | corrected | missed events | relist period now ms | relists | "
		"fetches | anomalies |\n");
	fprintf(hf, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (unsigned k = 0; k < nt; k++) {
		const struct trk *t = &trks[k];

		fprintf(hf, "| %s | %s | %llu | %llu | %llu | %llu | %llu | %llu | %llu | %u | "
			"%llu | %llu | %u%s%s%s |\n",
			kpleg_mode_str(t->mode), *t->h.bpf_state ? t->h.bpf_state : "-",
			(unsigned long long)t->h.hints_received,
			(unsigned long long)t->h.hints_lost,
			(unsigned long long)t->h.hints_unresolved,
			(unsigned long long)t->h.provisional,
			(unsigned long long)t->h.provisional_confirmed,
			(unsigned long long)t->h.provisional_corrected,
			(unsigned long long)t->h.missed_events, t->h.relist_period_ms,
			(unsigned long long)t->h.relists, (unsigned long long)t->h.fetches,
			t->anomalies, t->anomalies ? " (last: " : "",
			t->anomalies ? t->anomaly : "", t->anomalies ? ")" : "");
	}
	if (au < nt) {
		fprintf(hf, "\nBPF programs' own run time (kernel BPF stats, BPF_STATS_RUN_TIME on "
			"for the whole run; the auto tracker's programs only, told from other "
			"kpleg trackers' by the fds this process holds):");
		if (stats_fd < 0)
			fprintf(hf, " not available (%s).\n\n", strerror(-stats_err));
		else
			print_bpf(hf, n, &bpf_base, &bpf0, &bpf1);
	}
	fprintf(hf, "\nRaw (%s):\n\n```\n", title);
	print_raw(hf, "runtime-first-exited (request sent), ms after the kill", rt_ms, n_rt, 1);
	print_raw(hf, "runtime-first-exited (reply received), ms after the kill", rt_recv_ms, n_rt,
		  1);
	if (au < nt) {
		print_raw(hf, "auto kernel-exit->provisional-delivered ms", trks[au].a_ms,
			  trks[au].n_a, 3);
		print_raw(hf, "auto kill->kernel-exit ms", trks[au].kexit_ms, trks[au].n_a, 3);
	}
	for (unsigned k = 0; k < nt; k++) {
		char what[80];

		snprintf(what, sizeof(what), "%s confirmed-minus-runtime-first ms",
			 kpleg_mode_str(trks[k].mode));
		print_raw(hf, what, trks[k].b_ms, trks[k].n_b, 1);
	}
	fprintf(hf, "```\n\n");

	if (au < nt)
		verdicts(tf, label, n, &trks[au], target_c && gen < nt ? &trks[gen] : NULL, rt_late,
			 stats_fd >= 0 ? &bpf0 : NULL, &bpf1);
	if (hf)
		fclose(hf);
	if (tf)
		fclose(tf);
	return 0;
}
