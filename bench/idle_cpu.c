// SPDX-License-Identifier: Apache-2.0
/*
 * idle_cpu: what a tracker and its runtime cost on a node where nothing
 * happens, and what a tracker's start-up and cache cost, every mode side by
 * side (bench sections 2 and 4).
 *
 *   idle_cpu --fakecri BIN --dir DIR [--pods 250] [--per-pod 4]
 *            [--cgroup-root MOUNT] [common options]
 *   idle_cpu --containerd generic=NAME,evented=NAME,auto=NAME [--pods 10]
 *            [--per-pod 5] [common options]
 *   common: [--modes generic,evented,auto] [--seconds 60] [--title T]
 *           [--startup-out FILE]
 *
 * One child process per mode, each with its OWN runtime so that the runtime's
 * CPU is that mode's: with --fakecri each child starts a fakecri (own process,
 * events on, pods x per-pod running containers; with --cgroup-root the AUTO
 * mode's fakecri also makes a real cgroup per pod and container, so that its
 * BPF programs and map carry them all: the other modes do not look at
 * cgroups); with --containerd each mode talks to the private containerd
 * instance named for it (scripts/containerd.sh), in which the child first
 * runs pods x per-pod kubelet-like `sleep 3600` containers (removed at the
 * end), and whose CPU is the daemon's plus its shims' (and the runc calls
 * they reaped).
 *
 * Start-up, one mode after the other so that they do not compete for the
 * CPUs: kpleg_tracker__new -> kpleg_tracker__wait_synced, wall time and the
 * child's CPU (getrusage: kpleg's threads only), the runtime's CPU meanwhile,
 * and the heap the tracker holds once synced (mallinfo2 uordblks, M_ARENA_MAX=1
 * so every thread's allocations are in the one arena it reports) and RSS.
 * Then, all modes at once: each waits until its tracker is synced, its event
 * stream is up (evented, auto) and no fetch has run for a second, and measures
 * over the window its own CPU, its runtime's, and what the tracker did.
 * Markdown on stdout (the start-up table to --startup-out when given);
 * progress on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kube.h"
#include "kpleg/kpleg.h"

#define MAX_MODES 3

struct opts {
	const char *fakecri, *dir, *cgroup_root, *title, *startup_out;
	const char *cd[MAX_MODES]; /* containerd instance per mode */
	unsigned secs, pods, per_pod;
};

struct out {
	int ok;
	enum kpleg_mode mode;
	/* start-up */
	double up_wall_ms, up_cpu_ms, up_rt_cpu_ms;
	long long heap_delta, rss_delta;
	/* idle window */
	double window_s, cpu_ms, rt_cpu_ms;
	uint64_t relists, fetches, events_received, events_emitted, hints;
	bool connected, supported, bpf_active;
	char bpf_state[96];
	size_t containers, cgroups;
	unsigned shims;
	uint64_t sw_own, sw_grpc; /* context switches in the window */
};

/* Context switches of this process's threads so far: threads named like the
 * program (kpleg's engine, workers, event reader, and our sleeping main
 * thread) in @own, gRPC core's own threads (named by gRPC) in @grpc. */
static void switches(uint64_t *own, uint64_t *grpc)
{
	char self[32] = "", path[300], line[256];
	struct dirent *e;
	DIR *d;
	FILE *f;

	*own = *grpc = 0;
	f = fopen("/proc/self/comm", "r");
	if (f) {
		if (fgets(self, sizeof(self), f))
			self[strcspn(self, "\n")] = 0;
		fclose(f);
	}
	d = opendir("/proc/self/task");
	while (d && (e = readdir(d))) {
		char comm[32] = "";
		unsigned long v = 0, nv = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if ((f = fopen(path, "r"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = 0;
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "voluntary_ctxt_switches: %lu", &v) != 1)
				sscanf(line, "nonvoluntary_ctxt_switches: %lu", &nv);
		fclose(f);
		*(strcmp(comm, self) ? grpc : own) += v + nv;
	}
	if (d)
		closedir(d);
}

static struct kpleg_health health(struct kpleg_tracker *t)
{
	struct kpleg_health h;

	kpleg_tracker__health(t, &h);
	return h;
}

static size_t n_dirs;

static int count_dir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path, (void)st, (void)ftw;
	if (type == FTW_D || type == FTW_DP)
		n_dirs++;
	return 0;
}

/* cgroups below <root>/kubepods, itself included (0 when there is none). */
static size_t count_cgroups(const char *root)
{
	char path[300];

	if (!root)
		return 0;
	n_dirs = 0;
	snprintf(path, sizeof(path), "%s/kubepods", root);
	if (nftw(path, count_dir, 16, FTW_PHYS) < 0)
		return 0;
	return n_dirs;
}

/* The runtime of one child: its own fakecri, or a containerd instance. */
struct runtime {
	struct bench_fakecri f;
	struct bench_cd cd;
	bool is_cd;
	char *sb[256]; /* containerd: the pods we ran */
	char cg[256][128]; /* and their cgroup parents */
	unsigned npods;
};

/* containerd: @pods kubelet-like pods of @per_pod `sleep 3600` containers,
 * created and started through the CRI like the kubelet does. */
static void cd_populate(struct runtime *rt, unsigned pods, unsigned per_pod)
{
	char *const cmd[] = { "sleep", "3600", NULL };
	struct cri_client *c = cri_client__new(rt->cd.endpoint);
	struct cri_status st;

	if (!c)
		bench_die("cri client for %s: %s", rt->cd.endpoint, strerror(errno));
	bench_cri_wait_ready(c, rt->cd.name, 120);
	for (unsigned p = 0; p < pods && p < 256; p++) {
		struct kube_pod pod;
		char name[32];
		int r, tries = 0;

		snprintf(name, sizeof(name), "idle-%u", p);
		if (kube_pod_init(&pod, NULL, name, "default", KUBE_QOS_BESTEFFORT) < 0)
			bench_die("kube_pod_init");
		/* UNAVAILABLE: the request never reached the runtime; try again. */
		while ((r = cri_run_pod_sandbox(c, &pod.cfg, 120000, &rt->sb[p], &st)) == -ENOTCONN &&
		       ++tries < 5)
			bench_sleep_ms(1000);
		if (r < 0)
			bench_die("%s: RunPodSandbox: %s", rt->cd.name, st.message);
		snprintf(rt->cg[p], sizeof(rt->cg[p]), "%s", pod.cgroup_parent);
		rt->npods++;
		for (unsigned i = 0; i < per_pod; i++) {
			struct kube_container ct;
			char *id = NULL;

			snprintf(name, sizeof(name), "c%u", i);
			if (kube_container_init(&ct, &pod, name, cmd, 0) < 0 ||
			    cri_create_container(c, rt->sb[p], &ct.cfg, &pod.cfg, 120000, &id,
						 &st) < 0 ||
			    cri_start_container(c, id, 120000, &st) < 0)
				bench_die("%s: CreateContainer/StartContainer: %s", rt->cd.name,
					  st.message);
			free(id);
		}
	}
	cri_client__free(c);
}

static void cd_unpopulate(struct runtime *rt)
{
	struct cri_client *c = cri_client__new(rt->cd.endpoint);
	struct cri_status st;

	for (unsigned p = 0; c && p < rt->npods; p++) {
		if (cri_stop_pod_sandbox(c, rt->sb[p], 120000, &st) < 0 ||
		    cri_remove_pod_sandbox(c, rt->sb[p], 120000, &st) < 0)
			fprintf(stderr, "idle_cpu: warning: %s: removing pod %s: %s\n",
				rt->cd.name, rt->sb[p], st.message);
		bench_rmdir_pod_cgroups(rt->cg[p]);
		free(rt->sb[p]);
	}
	cri_client__free(c);
}

static uint64_t rt_cpu_ns(const struct runtime *rt, unsigned *shims)
{
	if (rt->is_cd)
		return bench_containerd_cpu_ns(rt->cd.pid, rt->cd.sock, shims);
	if (shims)
		*shims = 0;
	return bench_proc_cpu_ns(rt->f.pid);
}

static void xread(int fd, void *buf, size_t n)
{
	if (read(fd, buf, n) != (ssize_t)n)
		_exit(1); /* the parent is gone */
}

static void xwrite(int fd, const void *buf, size_t n)
{
	if (write(fd, buf, n) != (ssize_t)n)
		_exit(1);
}

/* @in: the parent's tokens (start, then idle); @out: ready, synced, results. */
static void child(const struct opts *o, enum kpleg_mode mode, unsigned k, int in, int out)
{
	struct out r = { .mode = mode };
	struct kpleg_health h0, h1;
	struct runtime rt = { 0 };
	struct kpleg_config cfg;
	struct kpleg_tracker *t;
	struct mallinfo2 m0, m1;
	uint64_t c0, k0, t0, end, last, own0, grpc0, own1, grpc1, rss0;
	const char *ep;
	char sock[108], tok;
	int err, quiet = 0;

	mallopt(M_ARENA_MAX, 1); /* before any thread: mallinfo2 sees them all */
	if (o->cd[k]) {
		rt.is_cd = true;
		bench_cd_load(&rt.cd, o->cd[k]);
		cd_populate(&rt, o->pods, o->per_pod);
		ep = rt.cd.endpoint;
	} else {
		snprintf(sock, sizeof(sock), "%s/idle-%s.sock", o->dir, kpleg_mode_str(mode));
		bench_fakecri_start(&rt.f, o->fakecri, sock, o->pods, o->per_pod, "on",
				    mode == KPLEG_MODE_AUTO ? o->cgroup_root : NULL);
		ep = rt.f.endpoint;
	}
	xwrite(out, "r", 1);
	xread(in, &tok, 1);

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = ep;
	cfg.mode = mode; /* everything else: the defaults (the kubelet's periods) */
	cfg.call_timeout_ms = 30000; /* a 10,000-container list must not time out */
	m0 = mallinfo2();
	rss0 = bench_rss_bytes();
	k0 = rt_cpu_ns(&rt, NULL);
	c0 = bench_self_cpu_ns();
	t0 = bench_mono_ns();
	err = kpleg_tracker__new(&cfg, &t);
	if (err == 0)
		err = kpleg_tracker__start(t);
	if (err == 0)
		err = kpleg_tracker__wait_synced(t, 300000);
	if (err < 0)
		bench_die("%s tracker: %s", kpleg_mode_str(mode), strerror(-err));
	r.up_wall_ms = (double)(bench_mono_ns() - t0) / NS_PER_MS;
	r.up_cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS;
	r.up_rt_cpu_ms = (double)(rt_cpu_ns(&rt, NULL) - k0) / NS_PER_MS;
	m1 = mallinfo2();
	r.heap_delta = (long long)m1.uordblks - (long long)m0.uordblks;
	r.rss_delta = (long long)bench_rss_bytes() - (long long)rss0;
	xwrite(out, "s", 1);
	xread(in, &tok, 1);

	end = bench_mono_ns() + 120 * NS_PER_S;
	last = health(t).fetches;
	while (quiet < 5 || (mode != KPLEG_MODE_GENERIC && !health(t).events_connected &&
			     health(t).events_supported)) {
		uint64_t fe;

		if (bench_mono_ns() > end)
			bench_die("%s tracker not settled after 120 s", kpleg_mode_str(mode));
		bench_sleep_ms(200);
		fe = health(t).fetches;
		quiet = fe == last ? quiet + 1 : 0;
		last = fe;
	}
	r.cgroups = count_cgroups(o->cgroup_root);
	h0 = health(t);
	switches(&own0, &grpc0);
	c0 = bench_self_cpu_ns();
	k0 = rt_cpu_ns(&rt, NULL);
	t0 = bench_mono_ns();
	bench_sleep_ms(o->secs * 1000);
	h1 = health(t);
	switches(&own1, &grpc1);
	r.sw_own = own1 - own0;
	r.sw_grpc = grpc1 - grpc0;
	r.cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS;
	r.rt_cpu_ms = (double)(rt_cpu_ns(&rt, &r.shims) - k0) / NS_PER_MS;
	r.window_s = (double)(bench_mono_ns() - t0) / NS_PER_S;
	r.relists = h1.relists - h0.relists;
	r.fetches = h1.fetches - h0.fetches;
	r.events_received = h1.events_received - h0.events_received;
	r.events_emitted = h1.events_emitted - h0.events_emitted;
	r.hints = h1.hints_received - h0.hints_received;
	r.connected = h1.events_connected;
	r.supported = h1.events_supported;
	r.bpf_active = h1.bpf_active;
	snprintf(r.bpf_state, sizeof(r.bpf_state), "%s", h1.bpf_state);
	r.containers = h1.containers;
	r.ok = 1;
	kpleg_tracker__free(t);
	if (rt.is_cd)
		cd_unpopulate(&rt);
	else
		bench_fakecri_stop(&rt.f);
	xwrite(out, &r, sizeof(r));
	_exit(0);
}

static const char *rt_what(const struct opts *o)
{
	return o->cd[0] ? "containerd + shims" : "fakecri";
}

static void print_idle(const struct opts *o, const struct out *r, unsigned nm, unsigned gen)
{
	printf("### Idle cost: %s, %u s, modes side by side\n\n", o->title, o->secs);
	printf("| mode | containers | kpleg CPU ms in window | %% of one core | ratio vs generic | "
	       "runtime (%s) CPU ms | runtime %% of one core | runtime ratio vs generic | "
	       "relists | pod fetches | CRI events received | events emitted | event stream | "
	       "kernel hints | wakeups/s: kpleg threads / gRPC core threads | "
	       "target: auto < 0.1 %% |\n", rt_what(o));
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|\n");
	for (unsigned k = 0; k < nm; k++) {
		double pct = r[k].cpu_ms / (r[k].window_s * 1000) * 100;
		char ratio[32] = "-", rratio[32] = "-", hints[160] = "off";

		if (gen < nm && r[gen].cpu_ms > 0)
			snprintf(ratio, sizeof(ratio), "%.4f", r[k].cpu_ms / r[gen].cpu_ms);
		if (gen < nm && r[gen].rt_cpu_ms > 0)
			snprintf(rratio, sizeof(rratio), "%.3f", r[k].rt_cpu_ms / r[gen].rt_cpu_ms);
		if (r[k].bpf_active && o->cgroup_root)
			snprintf(hints, sizeof(hints), "%llu received; %zu cgroups under kubepods",
				 (unsigned long long)r[k].hints, r[k].cgroups);
		else if (r[k].bpf_active)
			snprintf(hints, sizeof(hints), "%llu received",
				 (unsigned long long)r[k].hints);
		printf("| %s | %zu | %.1f | %.4f | %s | %.1f | %.3f | %s | %llu | %llu | %llu | %llu | "
		       "%s | %s | %.2f / %.2f | %s |\n",
		       kpleg_mode_str(r[k].mode), r[k].containers, r[k].cpu_ms, pct, ratio,
		       r[k].rt_cpu_ms, r[k].rt_cpu_ms / (r[k].window_s * 1000) * 100, rratio,
		       (unsigned long long)r[k].relists, (unsigned long long)r[k].fetches,
		       (unsigned long long)r[k].events_received,
		       (unsigned long long)r[k].events_emitted,
		       r[k].mode == KPLEG_MODE_GENERIC ? "not used"
		       : r[k].connected		       ? "connected"
		       : r[k].supported		       ? "**not connected**"
						       : "unsupported",
		       hints, (double)r[k].sw_own / r[k].window_s,
		       (double)r[k].sw_grpc / r[k].window_s,
		       r[k].mode == KPLEG_MODE_AUTO ? (pct < 0.1 ? "met" : "**missed**") : "-");
	}
	printf("\n");
}

static void print_startup(FILE *f, const struct opts *o, const struct out *r, unsigned nm,
			  unsigned gen)
{
	fprintf(f, "### Start-up and cache memory: %s\n\n", o->title);
	fprintf(f, "| mode | containers | start -> synced: wall ms | kpleg CPU ms | wall ratio vs "
	       "generic | CPU ratio vs generic | runtime CPU ms meanwhile | heap held after sync "
	       "| per container | RSS delta | RSS per container | kernel hints |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (unsigned k = 0; k < nm; k++) {
		double n = r[k].containers ? (double)r[k].containers : 1;
		char wr[32] = "-", cr[32] = "-";

		if (gen < nm && r[gen].up_wall_ms > 0)
			snprintf(wr, sizeof(wr), "%.2f", r[k].up_wall_ms / r[gen].up_wall_ms);
		if (gen < nm && r[gen].up_cpu_ms > 0)
			snprintf(cr, sizeof(cr), "%.2f", r[k].up_cpu_ms / r[gen].up_cpu_ms);
		fprintf(f, "| %s | %zu | %.1f | %.1f | %s | %s | %.0f | %lld B | %.0f B | %lld B | %.0f B "
		       "| %s |\n",
		       kpleg_mode_str(r[k].mode), r[k].containers, r[k].up_wall_ms, r[k].up_cpu_ms,
		       wr, cr, r[k].up_rt_cpu_ms, r[k].heap_delta, (double)r[k].heap_delta / n,
		       r[k].rss_delta, (double)r[k].rss_delta / n, r[k].bpf_state);
	}
	fprintf(f, "\n");
}

static void parse_modes(const char *modes, enum kpleg_mode *mode, unsigned *nm, unsigned *gen)
{
	char *s = strdup(modes), *save = NULL;

	if (!s)
		bench_die("out of memory");
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*nm == MAX_MODES || kpleg_mode_parse(tok, &mode[*nm]) < 0)
			bench_die("bad --modes %s", modes);
		if (mode[*nm] == KPLEG_MODE_GENERIC)
			*gen = *nm;
		(*nm)++;
	}
	free(s);
}

/* "generic=NAME,evented=NAME,auto=NAME" into @name per mode (strings kept). */
static void parse_cd(char *spec, const char *names[MAX_MODES * 2], enum kpleg_mode *mode, unsigned *n)
{
	char *save = NULL;

	for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || *n == MAX_MODES)
			bench_die("bad --containerd (want MODE=NAME,...): %s", tok);
		*eq = 0;
		if (kpleg_mode_parse(tok, &mode[*n]) < 0 || !eq[1])
			bench_die("bad --containerd entry %s=%s", tok, eq + 1);
		names[(*n)++] = eq + 1;
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .secs = 60, .pods = 250, .per_pod = 4, .title = NULL };
	const char *modes = "generic,evented,auto", *cd_names[MAX_MODES * 2] = { 0 };
	enum kpleg_mode mode[MAX_MODES], cd_mode[MAX_MODES];
	unsigned nm = 0, gen = MAX_MODES, ncd = 0;
	struct out r[MAX_MODES] = { 0 };
	int up[MAX_MODES], down[MAX_MODES];
	pid_t pids[MAX_MODES];
	char title[200], *cdspec = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			bench_die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--fakecri"))
			o.fakecri = v;
		else if (!strcmp(a, "--dir"))
			o.dir = v;
		else if (!strcmp(a, "--modes"))
			modes = v;
		else if (!strcmp(a, "--seconds"))
			o.secs = (unsigned)atoi(v);
		else if (!strcmp(a, "--pods"))
			o.pods = (unsigned)atoi(v);
		else if (!strcmp(a, "--per-pod"))
			o.per_pod = (unsigned)atoi(v);
		else if (!strcmp(a, "--cgroup-root"))
			o.cgroup_root = v;
		else if (!strcmp(a, "--containerd"))
			cdspec = strdup(v);
		else if (!strcmp(a, "--title"))
			o.title = v;
		else if (!strcmp(a, "--startup-out"))
			o.startup_out = v;
		else
			bench_die("unknown option %s", a);
	}
	if ((!cdspec && (!o.fakecri || !o.dir)) || (cdspec && o.fakecri) || !o.secs ||
	    o.secs > 3600)
		bench_die("usage: idle_cpu (--fakecri BIN --dir DIR [--pods 250] [--per-pod 4] "
			  "[--cgroup-root MOUNT] | --containerd MODE=NAME,...) [--modes "
			  "generic,evented,auto] [--seconds 60] [--title T] [--startup-out FILE]");
	parse_modes(modes, mode, &nm, &gen);
	if (cdspec) {
		parse_cd(cdspec, cd_names, cd_mode, &ncd);
		for (unsigned k = 0; k < nm; k++) {
			for (unsigned j = 0; j < ncd; j++)
				if (cd_mode[j] == mode[k])
					o.cd[k] = cd_names[j];
			if (!o.cd[k])
				bench_die("--containerd names no instance for mode %s",
					  kpleg_mode_str(mode[k]));
		}
	}
	if (!o.title) {
		snprintf(title, sizeof(title), "%u containers (fakecri, events on%s)",
			 o.pods * o.per_pod, o.cgroup_root ? ", a real cgroup each for auto" : "");
		o.title = title;
	}
	fprintf(stderr, "idle_cpu: %s: %u modes, %u s window\n", o.title, nm, o.secs);
	for (unsigned k = 0; k < nm; k++) {
		int p[2], q[2];

		if (pipe(p) < 0 || pipe(q) < 0)
			bench_die("pipe: %s", strerror(errno));
		fflush(NULL);
		pids[k] = fork();
		if (pids[k] < 0)
			bench_die("fork: %s", strerror(errno));
		if (pids[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			close(p[0]);
			close(q[1]);
			child(&o, mode[k], k, q[0], p[1]);
		}
		close(p[1]);
		close(q[0]);
		up[k] = p[0];
		down[k] = q[1];
	}
	/* Runtimes up everywhere, then start-ups one at a time, then the window. */
	for (unsigned k = 0; k < nm; k++) {
		char c;

		if (read(up[k], &c, 1) != 1)
			bench_die("the %s child failed while setting up", kpleg_mode_str(mode[k]));
	}
	for (unsigned k = 0; k < nm; k++) {
		char c;

		if (write(down[k], "g", 1) != 1 || read(up[k], &c, 1) != 1)
			bench_die("the %s child failed while starting", kpleg_mode_str(mode[k]));
		fprintf(stderr, "idle_cpu: %s synced\n", kpleg_mode_str(mode[k]));
	}
	for (unsigned k = 0; k < nm; k++)
		if (write(down[k], "i", 1) != 1)
			bench_die("the %s child is gone", kpleg_mode_str(mode[k]));
	for (unsigned k = 0; k < nm; k++) {
		int st;

		if (read(up[k], &r[k], sizeof(r[k])) != sizeof(r[k]))
			r[k].ok = 0;
		close(up[k]);
		close(down[k]);
		waitpid(pids[k], &st, 0);
		if (!r[k].ok)
			bench_die("the %s child failed", kpleg_mode_str(mode[k]));
	}

	print_idle(&o, r, nm, gen);
	if (o.startup_out) {
		FILE *f = fopen(o.startup_out, "w");

		if (!f)
			bench_die("%s: %s", o.startup_out, strerror(errno));
		print_startup(f, &o, r, nm, gen);
		fclose(f);
	}
	printf("Raw (idle_cpu, %s):\n\n```\n", o.title);
	for (unsigned k = 0; k < nm; k++)
		printf("mode=%s containers=%zu window_s=%.3f kpleg_cpu_ms=%.3f runtime_cpu_ms=%.1f "
		       "shims=%u relists=%llu fetches=%llu events_received=%llu events_emitted=%llu "
		       "hints=%llu cgroups=%zu ctx_switches_kpleg_threads=%llu "
		       "ctx_switches_grpc_threads=%llu startup_wall_ms=%.1f startup_cpu_ms=%.1f "
		       "startup_runtime_cpu_ms=%.1f heap_delta=%lld rss_delta=%lld\n",
		       kpleg_mode_str(r[k].mode), r[k].containers, r[k].window_s, r[k].cpu_ms,
		       r[k].rt_cpu_ms, r[k].shims, (unsigned long long)r[k].relists,
		       (unsigned long long)r[k].fetches, (unsigned long long)r[k].events_received,
		       (unsigned long long)r[k].events_emitted, (unsigned long long)r[k].hints,
		       r[k].cgroups, (unsigned long long)r[k].sw_own,
		       (unsigned long long)r[k].sw_grpc, r[k].up_wall_ms, r[k].up_cpu_ms,
		       r[k].up_rt_cpu_ms, r[k].heap_delta, r[k].rss_delta);
	printf("```\n\n");
	free(cdspec);
	return 0;
}
