/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by kpleg's benchmark programs (header only, so every
 * bench/<name>.c links alone against the libraries): clocks, CPU accounting,
 * a fakecri server in its own process, and percentiles.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cri.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL

static inline uint64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static inline void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: error: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* User+system CPU of the whole calling process (every thread), in ns. */
static inline uint64_t bench_self_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * NS_PER_S +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
}

/* Minor page faults of the whole calling process so far. */
static inline uint64_t bench_self_minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt;
}

/* CPU of process @pid from /proc/PID/stat (clock-tick resolution): user+system,
 * plus that of its waited-for children when @children. */
static inline uint64_t bench_proc_cpu_ns2(pid_t pid, bool children)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0, cut = 0, cst = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime cutime cstime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
			 &ut, &st, &cut, &cst) != 4)
		return 0;
	if (children)
		ut += cut + cst;
	return (ut + st) * NS_PER_S / (unsigned long long)sysconf(_SC_CLK_TCK);
}

/* User+system CPU of process @pid from /proc/PID/stat (clock-tick resolution). */
static inline uint64_t bench_proc_cpu_ns(pid_t pid)
{
	return bench_proc_cpu_ns2(pid, false);
}

/* CPU of a containerd instance: the daemon @pid (user+system) plus every
 * containerd-shim* process started for its socket @sock (its cmdline names
 * it: "-address SOCK"), each with its reaped children (the runc calls it
 * made). A shim that exited meanwhile takes its CPU with it, so read this
 * around windows in which pods are not removed. */
static inline uint64_t bench_containerd_cpu_ns(pid_t pid, const char *sock, unsigned *nshims)
{
	uint64_t sum = bench_proc_cpu_ns(pid);
	struct dirent *e;
	DIR *d = opendir("/proc");

	if (nshims)
		*nshims = 0;
	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "", cmd[4096];
		size_t n;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "containerd-shim", 15))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n] = 0;
		if (!strstr(cmd, sock))
			continue;
		sum += bench_proc_cpu_ns2((pid_t)atoi(e->d_name), true);
		if (nshims)
			(*nshims)++;
	}
	if (d)
		closedir(d);
	return sum;
}

/* ---- a private containerd instance (scripts/containerd.sh start ... --name N) -- */

struct bench_cd {
	char name[64], endpoint[520], sock[520];
	pid_t pid;
};

/* Reads /run/kpleg-test/@name/env. */
static inline void bench_cd_load(struct bench_cd *cd, const char *name)
{
	char path[200], line[512];
	FILE *f;

	memset(cd, 0, sizeof(*cd));
	snprintf(cd->name, sizeof(cd->name), "%s", name);
	snprintf(path, sizeof(path), "/run/kpleg-test/%s/env", name);
	f = fopen(path, "r");
	if (!f)
		bench_die("containerd instance %s: %s: %s", name, path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "KPLEG_CRI_ENDPOINT=", 19))
			snprintf(cd->endpoint, sizeof(cd->endpoint), "%s", line + 19);
		else if (!strncmp(line, "KPLEG_CRI_SOCKET=", 17))
			snprintf(cd->sock, sizeof(cd->sock), "%s", line + 17);
		else if (!strncmp(line, "KPLEG_CONTAINERD_PID=", 21))
			cd->pid = (pid_t)atoi(line + 21);
	}
	fclose(f);
	if (!cd->endpoint[0] || !cd->sock[0] || cd->pid <= 0)
		bench_die("containerd instance %s: %s lacks the endpoint, socket or pid", name,
			  path);
}

/* Resident set size of this process in bytes. */
static inline uint64_t bench_rss_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Waits until the runtime behind @c answers Version (a loaded machine can
 * take a while to complete a connection); dies after @secs. */
static inline void bench_cri_wait_ready(struct cri_client *c, const char *what, unsigned secs)
{
	uint64_t deadline = bench_mono_ns() + secs * NS_PER_S;
	struct cri_status st = { 0 };
	int r;

	for (;;) {
		Runtime__V1__VersionResponse *v = NULL;

		r = cri_version(c, 5000, &v, &st);
		cri_msg_free(v);
		if (r == 0)
			return;
		if (bench_mono_ns() > deadline)
			bench_die("%s does not answer Version after %u s: %s", what, secs,
				  st.message);
		bench_sleep_ms(500);
	}
}

/* What the kubelet does after RemovePodSandbox: removes the pod's cgroup
 * (@cgroup_parent, e.g. "/kubepods/besteffort/pod<uid>") in every hierarchy,
 * which containerd's cgroupfs driver leaves behind. Only empty ones go. */
static inline void bench_rmdir_pod_cgroups(const char *cgroup_parent)
{
	static const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char path[600];
	struct dirent *e;
	DIR *d;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", roots[i], cgroup_parent);
		rmdir(path);
	}
	d = opendir("/sys/fs/cgroup"); /* v1: one hierarchy per directory */
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "unified"))
			continue;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s", e->d_name, cgroup_parent);
		rmdir(path);
	}
	if (d)
		closedir(d);
}

/* ---- fakecri in its own process ------------------------------------------------ */

struct bench_fakecri {
	pid_t pid;
	char socket[108];
	char endpoint[128];
};

/* Starts @bin --socket ... and waits until it answers Version. @events is
 * "on", "unimplemented" or "empty"; @cgroup_root (NULL: none) gives every pod
 * and container a real cgroup (fakecri --cgroup-root). */
static inline void bench_fakecri_start(struct bench_fakecri *f, const char *bin, const char *sock,
				       unsigned pods, unsigned per_pod, const char *events,
				       const char *cgroup_root)
{
	char spods[16], sper[16];
	struct cri_client *c;
	uint64_t deadline;
	pid_t parent;

	snprintf(f->socket, sizeof(f->socket), "%s", sock);
	snprintf(f->endpoint, sizeof(f->endpoint), "unix://%s", sock);
	snprintf(spods, sizeof(spods), "%u", pods);
	snprintf(sper, sizeof(sper), "%u", per_pod);
	unlink(sock);
	parent = getpid();
	f->pid = fork();
	if (f->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (f->pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		/* Never outlive the bench, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (fd >= 0 && !getenv("BENCH_VERBOSE"))
			dup2(fd, 2);
		if (cgroup_root)
			execl(bin, bin, "--socket", sock, "--pods", spods, "--containers-per-pod",
			      sper, "--events", events, "--cgroup-root", cgroup_root, (char *)NULL);
		else
			execl(bin, bin, "--socket", sock, "--pods", spods, "--containers-per-pod",
			      sper, "--events", events, (char *)NULL);
		_exit(127);
	}
	c = cri_client__new(f->endpoint);
	if (!c)
		bench_die("cri client for %s: %s", f->endpoint, strerror(errno));
	deadline = bench_mono_ns() + 120 * NS_PER_S;
	for (;;) {
		Runtime__V1__VersionResponse *v = NULL;
		int status;

		if (waitpid(f->pid, &status, WNOHANG) == f->pid)
			bench_die("%s exited during start-up (status %d)", bin, status);
		if (access(sock, F_OK) == 0 && cri_version(c, 500, &v, NULL) == 0) {
			cri_msg_free(v);
			break;
		}
		if (bench_mono_ns() > deadline)
			bench_die("%s does not answer on %s", bin, sock);
		bench_sleep_ms(20);
	}
	cri_client__free(c);
}

static inline void bench_fakecri_stop(struct bench_fakecri *f)
{
	int status;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	for (int i = 0; i < 600; i++) { /* removing 10,000 cgroups takes a while */
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			return;
		}
		bench_sleep_ms(50);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &status, 0);
	f->pid = 0;
}

/* ---- statistics ---------------------------------------------------------------- */

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (p in 0..100) of @n values; sorts a copy. */
static inline double bench_pct(const double *v, size_t n, double p)
{
	double *c, r;
	size_t k;

	if (!n)
		return 0;
	c = malloc(n * sizeof(*c));
	if (!c)
		bench_die("out of memory");
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), bench_cmp_double);
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	r = c[k - 1];
	free(c);
	return r;
}

/* Median (mean of the two middle values for even counts). */
static inline double bench_median(const double *v, size_t n)
{
	double *c, r;

	if (!n)
		return 0;
	c = malloc(n * sizeof(*c));
	if (!c)
		bench_die("out of memory");
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), bench_cmp_double);
	r = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return r;
}
