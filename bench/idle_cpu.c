// SPDX-License-Identifier: Apache-2.0
/*
 * idle_cpu: CPU a tracker burns on a node where nothing happens (issue
 * measurement 4), every mode side by side.
 *
 *   idle_cpu --fakecri BIN --dir DIR [--modes generic,evented,auto]
 *            [--seconds 60] [--pods 250] [--per-pod 4]
 *
 * One child process per mode, all at once; each starts its own fakecri (its
 * own process, events on, pods x per-pod running containers), runs one tracker
 * in its mode, waits until it is synced, its event stream is up (evented,
 * auto) and no fetch has run for a second, then measures over the window:
 * getrusage(RUSAGE_SELF) of the child (kpleg's threads only: the runtime is
 * another process), the runtime's CPU (/proc/PID/stat), and what the tracker
 * did (relists, fetches, events). Markdown on stdout.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kpleg/kpleg.h"

#define MAX_MODES 3

struct out {
	int ok;
	enum kpleg_mode mode;
	double window_s, cpu_ms, rt_cpu_ms;
	uint64_t relists, fetches, events_received, events_emitted;
	bool connected;
	size_t containers;
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

static void child(enum kpleg_mode mode, const char *bin, const char *dir, unsigned secs,
		  unsigned pods, unsigned per_pod, int fd)
{
	struct out o = { .mode = mode };
	struct kpleg_health h0, h1;
	struct bench_fakecri f;
	struct kpleg_config cfg;
	struct kpleg_tracker *t;
	uint64_t c0, k0, t0, end, last, own0, grpc0, own1, grpc1;
	char sock[108];
	int r, quiet = 0;

	snprintf(sock, sizeof(sock), "%s/idle-%s.sock", dir, kpleg_mode_str(mode));
	bench_fakecri_start(&f, bin, sock, pods, per_pod, "on");
	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = f.endpoint;
	cfg.mode = mode; /* everything else: the defaults (the kubelet's periods) */
	r = kpleg_tracker__new(&cfg, &t);
	if (r == 0)
		r = kpleg_tracker__start(t);
	if (r == 0)
		r = kpleg_tracker__wait_synced(t, 120000);
	if (r < 0)
		bench_die("%s tracker: %s", kpleg_mode_str(mode), strerror(-r));
	end = bench_mono_ns() + 60 * NS_PER_S;
	last = health(t).fetches;
	while (quiet < 5 || (mode != KPLEG_MODE_GENERIC && !health(t).events_connected)) {
		uint64_t fe;

		if (bench_mono_ns() > end)
			bench_die("%s tracker not settled after 60 s", kpleg_mode_str(mode));
		bench_sleep_ms(200);
		fe = health(t).fetches;
		quiet = fe == last ? quiet + 1 : 0;
		last = fe;
	}
	h0 = health(t);
	switches(&own0, &grpc0);
	c0 = bench_self_cpu_ns();
	k0 = bench_proc_cpu_ns(f.pid);
	t0 = bench_mono_ns();
	bench_sleep_ms(secs * 1000);
	h1 = health(t);
	switches(&own1, &grpc1);
	o.sw_own = own1 - own0;
	o.sw_grpc = grpc1 - grpc0;
	o.cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS;
	o.rt_cpu_ms = (double)(bench_proc_cpu_ns(f.pid) - k0) / NS_PER_MS;
	o.window_s = (double)(bench_mono_ns() - t0) / NS_PER_S;
	o.relists = h1.relists - h0.relists;
	o.fetches = h1.fetches - h0.fetches;
	o.events_received = h1.events_received - h0.events_received;
	o.events_emitted = h1.events_emitted - h0.events_emitted;
	o.connected = h1.events_connected;
	o.containers = h1.containers;
	o.ok = 1;
	kpleg_tracker__free(t);
	bench_fakecri_stop(&f);
	if (write(fd, &o, sizeof(o)) != sizeof(o))
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *bin = NULL, *dir = NULL, *modes = "generic,evented,auto";
	unsigned secs = 60, pods = 250, per_pod = 4, nm = 0, gen = MAX_MODES;
	enum kpleg_mode mode[MAX_MODES];
	struct out o[MAX_MODES] = { 0 };
	int fds[MAX_MODES];
	pid_t pids[MAX_MODES];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--fakecri"))
			bin = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--modes"))
			modes = argv[i + 1];
		else if (!strcmp(argv[i], "--seconds"))
			secs = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--pods"))
			pods = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--per-pod"))
			per_pod = (unsigned)atoi(argv[i + 1]);
		else
			bench_die("unknown option %s", argv[i]);
	}
	if (!bin || !dir || !secs || argc % 2 == 0)
		bench_die("usage: idle_cpu --fakecri BIN --dir DIR [--modes generic,evented,auto] "
			  "[--seconds 60] [--pods 250] [--per-pod 4]");
	{
		char *s = strdup(modes), *save = NULL;

		for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (nm == MAX_MODES || kpleg_mode_parse(tok, &mode[nm]) < 0)
				bench_die("bad --modes %s", modes);
			if (mode[nm] == KPLEG_MODE_GENERIC)
				gen = nm;
			nm++;
		}
		free(s);
	}
	fprintf(stderr, "idle_cpu: %u modes side by side, %u containers each, %u s window\n", nm,
		pods * per_pod, secs);
	for (unsigned k = 0; k < nm; k++) {
		int p[2];

		if (pipe(p) < 0)
			bench_die("pipe: %s", strerror(errno));
		fflush(NULL);
		pids[k] = fork();
		if (pids[k] < 0)
			bench_die("fork: %s", strerror(errno));
		if (pids[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			close(p[0]);
			child(mode[k], bin, dir, secs, pods, per_pod, p[1]);
		}
		close(p[1]);
		fds[k] = p[0];
	}
	for (unsigned k = 0; k < nm; k++) {
		int st;

		if (read(fds[k], &o[k], sizeof(o[k])) != sizeof(o[k]))
			o[k].ok = 0;
		close(fds[k]);
		waitpid(pids[k], &st, 0);
		if (!o[k].ok)
			bench_die("the %s child failed", kpleg_mode_str(mode[k]));
	}

	printf("### Idle CPU, %u containers (fakecri, events on), %u s, modes side by side\n\n",
	       pods * per_pod, secs);
	printf("| mode | kpleg CPU ms in window | %% of one core | ratio vs generic | relists | "
	       "pod fetches | CRI events received | events emitted | event stream | runtime "
	       "CPU %% of one core | wakeups/s: kpleg threads / gRPC core threads | "
	       "target: auto < 0.1 %% |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n");
	for (unsigned k = 0; k < nm; k++) {
		double pct = o[k].cpu_ms / (o[k].window_s * 1000) * 100;
		char ratio[32] = "-";

		if (gen < nm && o[gen].cpu_ms > 0)
			snprintf(ratio, sizeof(ratio), "%.4f", o[k].cpu_ms / o[gen].cpu_ms);
		printf("| %s | %.1f | %.4f | %s | %llu | %llu | %llu | %llu | %s | %.3f | %.2f / %.2f | "
		       "%s |\n",
		       kpleg_mode_str(o[k].mode), o[k].cpu_ms, pct, ratio,
		       (unsigned long long)o[k].relists, (unsigned long long)o[k].fetches,
		       (unsigned long long)o[k].events_received,
		       (unsigned long long)o[k].events_emitted,
		       o[k].mode == KPLEG_MODE_GENERIC ? "not used"
		       : o[k].connected		       ? "connected"
						       : "**not connected**",
		       o[k].rt_cpu_ms / (o[k].window_s * 1000) * 100,
		       (double)o[k].sw_own / o[k].window_s, (double)o[k].sw_grpc / o[k].window_s,
		       o[k].mode == KPLEG_MODE_AUTO ? (pct < 0.1 ? "met" : "**missed**") : "-");
	}
	printf("\nRaw (idle_cpu):\n\n```\n");
	for (unsigned k = 0; k < nm; k++)
		printf("mode=%s window_s=%.3f kpleg_cpu_ms=%.3f runtime_cpu_ms=%.1f relists=%llu "
		       "fetches=%llu events_received=%llu events_emitted=%llu containers=%zu "
		       "ctx_switches_kpleg_threads=%llu ctx_switches_grpc_threads=%llu\n",
		       kpleg_mode_str(o[k].mode), o[k].window_s, o[k].cpu_ms, o[k].rt_cpu_ms,
		       (unsigned long long)o[k].relists, (unsigned long long)o[k].fetches,
		       (unsigned long long)o[k].events_received,
		       (unsigned long long)o[k].events_emitted, o[k].containers,
		       (unsigned long long)o[k].sw_own, (unsigned long long)o[k].sw_grpc);
	printf("```\n\n");
	return 0;
}
