/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by kpleg's benchmark programs (header only, so every
 * bench/<name>.c links alone against the libraries): clocks, CPU accounting,
 * a fakecri server in its own process, and percentiles.
 */
#pragma once

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

/* User+system CPU of process @pid from /proc/PID/stat (clock-tick resolution). */
static inline uint64_t bench_proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return 0;
	return (ut + st) * NS_PER_S / (unsigned long long)sysconf(_SC_CLK_TCK);
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

/* ---- fakecri in its own process ------------------------------------------------ */

struct bench_fakecri {
	pid_t pid;
	char socket[108];
	char endpoint[128];
};

/* Starts @bin --socket ... and waits until it answers Version. @events is
 * "on", "unimplemented" or "empty". */
static inline void bench_fakecri_start(struct bench_fakecri *f, const char *bin, const char *sock,
				       unsigned pods, unsigned per_pod, const char *events)
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
		execl(bin, bin, "--socket", sock, "--pods", spods, "--containers-per-pod", sper,
		      "--events", events, (char *)NULL);
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
	for (int i = 0; i < 100; i++) {
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
