// SPDX-License-Identifier: Apache-2.0
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int verbosity;

void log_set_verbosity(int v)
{
	atomic_store(&verbosity, v);
}

int log_get_verbosity(void)
{
	return atomic_load(&verbosity);
}

void log_write(enum log_severity sev, const char *file, int line, const char *fmt, ...)
{
	const char *base = strrchr(file, '/');
	char msg[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One fprintf per line so that lines from threads do not interleave. */
	fprintf(stderr, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] %s\n", (char)sev,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec,
		(int)getpid(), base ? base + 1 : file, line, msg);
}
