// SPDX-License-Identifier: Apache-2.0
/* fakecri --socket PATH [--pods N] [--containers-per-pod M]
 *         [--events on|unimplemented|empty] [--delay METHOD:MS]
 *         [--flood RATE [--flood-seconds S] [--flood-kind churn|repeat]]
 *         [--cgroup-root MOUNT]
 * Serves a fake CRI runtime until SIGTERM or SIGINT, with N kubelet-like
 * running pods of M containers (default 0 pods, 1 container each); with
 * --cgroup-root, a real cgroup per pod and started container under MOUNT (see
 * fakecri_opts.cgroup_root), removed when it goes and on exit. --flood
 * sends RATE CRI events per second (fakecri__flood_start) from the first
 * subscriber on, for S seconds (default: until stopped). Exit 0 on a clean
 * stop, 1 when it cannot start, 2 on bad usage. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "fakecri.h"

#define EXIT_USAGE 2

struct args {
	struct fakecri_opts opts;
	unsigned pods, per_pod;
	struct fakecri_flood flood;
	unsigned flood_s;
	char delay_method[64];	/* "" = none */
	unsigned delay_ms;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: fakecri --socket PATH [--pods N] [--containers-per-pod M]\n"
		     "               [--events on|unimplemented|empty] [--delay METHOD:MS]\n"
		     "               [--flood RATE [--flood-seconds S] [--flood-kind churn|repeat]]\n"
		     "               [--cgroup-root MOUNT]\n"
		     "Serves a fake CRI runtime on PATH until SIGTERM/SIGINT; N running pods\n"
		     "(default 0) of M containers (default 1); events default to on.\n"
		     "--delay: every call of METHOD (e.g. ListContainers) answered MS ms late.\n"
		     "--flood: RATE events/s from the first subscriber on, for S seconds\n"
		     "(default: until stopped); churn (default) makes real state changes in\n"
		     "the pods, repeat sends their current state again.\n"
		     "--cgroup-root: a cgroup v2 mount; each pod and started container gets\n"
		     "MOUNT/kubepods/besteffort/pod<uid>[/<id>], removed when it goes.\n");
}

static int parse_uint(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > UINT_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_events(const char *s, enum fakecri_events_mode *ret)
{
	if (!strcmp(s, "on"))
		*ret = FAKECRI_EVENTS_ON;
	else if (!strcmp(s, "unimplemented"))
		*ret = FAKECRI_EVENTS_UNIMPLEMENTED;
	else if (!strcmp(s, "empty"))
		*ret = FAKECRI_EVENTS_EMPTY_OK;
	else
		return -EINVAL;
	return 0;
}

static int parse_kind(const char *s, enum fakecri_flood_kind *ret)
{
	if (!strcmp(s, "churn"))
		*ret = FAKECRI_FLOOD_CHURN;
	else if (!strcmp(s, "repeat"))
		*ret = FAKECRI_FLOOD_REPEAT;
	else
		return -EINVAL;
	return 0;
}

static int parse_rate(const char *s, unsigned *ret)
{
	int err = parse_uint(s, ret);

	return err || !*ret || *ret > FAKECRI_FLOOD_RATE_MAX ? -EINVAL : 0;
}

/* A directory on a cgroup2 file system. */
static int parse_cgroup_root(const char *s)
{
	struct statfs fs;

	if (!*s || statfs(s, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
		return -EINVAL;
	return 0;
}

/* "ListContainers:3000" */
static int parse_delay(const char *s, struct args *a)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(a->delay_method))
		return -EINVAL;
	snprintf(a->delay_method, sizeof(a->delay_method), "%.*s", (int)(colon - s), s);
	return parse_uint(colon + 1, &a->delay_ms);
}

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "pods", required_argument, NULL, 'p' },
	{ "containers-per-pod", required_argument, NULL, 'c' },
	{ "events", required_argument, NULL, 'e' },
	{ "flood", required_argument, NULL, 'f' },
	{ "flood-seconds", required_argument, NULL, 'S' },
	{ "flood-kind", required_argument, NULL, 'k' },
	{ "cgroup-root", required_argument, NULL, 'g' },
	{ "delay", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static const char *opt_name(int opt)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int opt, err = 0;

	while (!err && (opt = getopt_long(argc, argv, "s:p:c:e:f:S:k:g:d:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': a->opts.socket_path = optarg; break;
		case 'p': err = parse_uint(optarg, &a->pods); break;
		case 'c': err = parse_uint(optarg, &a->per_pod); break;
		case 'e': err = parse_events(optarg, &a->opts.events); break;
		case 'g':
			err = parse_cgroup_root(optarg);
			a->opts.cgroup_root = optarg;
			break;
		case 'f': err = parse_rate(optarg, &a->flood.rate); break;
		case 'S':
			err = parse_uint(optarg, &a->flood_s);
			err = err || a->flood_s > 86400 ? -EINVAL : 0;
			break;
		case 'k': err = parse_kind(optarg, &a->flood.kind); break;
		case 'd': err = parse_delay(optarg, a); break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL; /* getopt printed why */
		}
		if (err)
			fprintf(stderr, "fakecri: invalid value \"%s\" for --%s\n", optarg,
				opt_name(opt));
	}
	if (!err && optind < argc) {
		fprintf(stderr, "fakecri: unexpected argument \"%s\"\n", argv[optind]);
		err = -EINVAL;
	}
	if (!err && !a->flood.rate && (a->flood_s || a->flood.kind)) {
		fprintf(stderr, "fakecri: --flood-seconds and --flood-kind need --flood\n");
		err = -EINVAL;
	}
	if (!err && !a->opts.socket_path) {
		fprintf(stderr, "fakecri: --socket is required\n");
		err = -EINVAL;
	}
	return err;
}

int main(int argc, char **argv)
{
	struct args a = { .per_pod = 1 };
	struct fakecri *f;
	sigset_t set;
	int sig, err;

	if (parse_args(argc, argv, &a) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* Blocked before any thread starts, so only sigwait() sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	f = fakecri__new(&a.opts);
	if (!f) {
		fprintf(stderr, "fakecri: cannot serve on \"%s\": %s\n", a.opts.socket_path,
			strerror(errno));
		return 1;
	}
	err = fakecri__populate(f, a.pods, a.per_pod, true);
	if (!err && *a.delay_method)
		err = fakecri__set_fault(f, a.delay_method,
					 &(struct fakecri_fault){ .delay_ms = a.delay_ms });
	if (err == -EINVAL) {
		fprintf(stderr, "fakecri: --delay: no method \"%s\" in the service\n",
			a.delay_method);
		fakecri__free(f);
		return EXIT_USAGE;
	}
	if (err < 0) {
		fprintf(stderr, "fakecri: populate: %s\n", strerror(-err));
		fakecri__free(f);
		return 1;
	}
	if (a.flood.rate) {
		a.flood.duration_ms = a.flood_s * 1000;
		a.flood.wait_subscriber = true;
		err = fakecri__flood_start(f, &a.flood);
		if (err < 0) {
			fprintf(stderr, "fakecri: --flood: %s\n", err == -ENOENT
					? "nothing to flood with (use --pods)" : strerror(-err));
			fakecri__free(f);
			return 1;
		}
	}
	fprintf(stderr, "fakecri: serving on %s (%u pods x %u containers)\n",
		fakecri__endpoint(f), a.pods, a.per_pod);
	sigwait(&set, &sig);
	if (a.flood.rate) {
		struct fakecri_flood_stats fs;

		fakecri__flood_stats(f, &fs);
		fprintf(stderr, "fakecri: flood: %llu events, %llu dropped on full subscriber queues\n",
			(unsigned long long)fs.changes,
			(unsigned long long)fakecri__dropped_events(f));
	}
	fakecri__free(f);
	return 0;
}
