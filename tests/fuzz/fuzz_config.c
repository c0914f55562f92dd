// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the daemon's config file parser (user/cli/config_file.c,
 * cli_config_parse) on any bytes. The keys are kpleg daemon's (kept in step
 * with cmd_daemon.c's config_keys by hand); the apply
 * callback checks each value the way the options do (a number, a mode, a
 * controller) without the daemon's side effects, and refuses some, so that
 * every error path runs. Error lines go to /dev/null.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kpleg/kpleg.h"

#define CHECK(x)                                                                          \
	do {                                                                              \
		if (!(x))                                                                 \
			abort();                                                          \
	} while (0)

static const struct cli_config_key keys[] = {
	{ .name = "runtime-endpoint", .opt = 'r' }, { .name = "socket", .opt = 's' },
	{ .name = "cri-proxy-socket", .opt = 'P' },
	{ .name = "allow-uid", .opt = 'U' }, { .name = "allow-gid", .opt = 'G' },
	{ .name = "mode", .opt = 'm' }, { .name = "relist-period", .opt = 'p' },
	{ .name = "no-bpf", .opt = 'B', .boolean = true },
	{ .name = "cgroup-controller", .opt = 'C' }, { .name = "max-watchers", .opt = 'W' },
	{ .name = "replay-buffer", .opt = 'R' }, { .name = "metrics-address", .opt = 'M' },
	{ .name = "health-threshold", .opt = 'H' }, { .name = "v", .opt = 'v' }, { .name = NULL },
};

struct seen {
	unsigned applied;
	size_t bytes;
};

static int number(const char *val)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	return *val && !*end && !errno && v <= 86400000UL ? 0 : -EINVAL;
}

static int apply(int opt, const char *val, void *ctx)
{
	struct seen *s = ctx;
	size_t n = strlen(val); /* NUL-terminated, within one line */
	enum kpleg_mode mode;

	CHECK(n < 1024);
	CHECK(!n || (val[0] != ' ' && val[0] != '\t' && val[n - 1] != ' ' && val[n - 1] != '\n'));
	s->applied++;
	s->bytes += n;
	switch (opt) {
	case 'U': case 'G': case 'p': case 'W': case 'R': case 'H': case 'v':
		return number(val);
	case 'm':
		return kpleg_mode_parse(val, &mode);
	case 'C':
		return strchr(val, '/') ? -EINVAL : 0;
	case 'B':
		return 0;
	default:
		return n ? 0 : -EINVAL;
	}
}

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly @size bytes and no NUL after them: the parser must not need one. */
	char *buf = malloc(size ? size : 1);
	struct seen s = { 0 };
	int e;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	e = cli_config_parse("daemon", "fuzz.conf", buf, size, keys, apply, &s, devnull);
	CHECK(e == 0 || e == -EINVAL);
	CHECK(s.bytes <= size);
	free(buf);
	return 0;
}
