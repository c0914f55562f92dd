// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg pods: the tracker's view of the node's pods. Starts a tracker, waits
 * for its first full relist, prints the cache sorted by namespace/name, stops.
 *
 * The tracker runs in generic mode (relist only) on purpose: containerd 1.7
 * hands each CRI event to ONE subscriber (REFERENCE §2), so a short-lived
 * `kpleg pods` that opened the event stream would steal events from the
 * kubelet or a running `kpleg watch`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kpleg/kpleg.h"
#include "log.h"
#include "output.h"
#include "util.h"

#define DEFAULT_SYNC_TIMEOUT_MS 10000
#define PREFLIGHT_TIMEOUT_MS 3000

enum pods_format { PODS_TABLE, PODS_WIDE, PODS_JSON };

struct pods_opts {
	const char *endpoint;
	enum pods_format format;
	unsigned long timeout_ms;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kpleg_tracker *, kpleg_tracker__free)

static void pods_usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg pods [OPTIONS]\n\n"
		"Lists every pod on the node as the tracker sees it after one full relist,\n"
		"sorted by namespace and name. READY counts running containers among the\n"
		"newest attempt of each container of the pod's newest sandbox; STATE and AGE\n"
		"are those of the newest sandbox.\n\n"
		"  -r, --runtime-endpoint E  CRI socket, unix:///path or /path (default: the first\n"
		"                            of containerd's and CRI-O's usual sockets that exists)\n"
		"  -o, --output F            wide (adds sandbox id, IP and one line per container)\n"
		"                            or json (an array of pods with their sandboxes and\n"
		"                            containers, schema in docs/EVENTS.md) (default: a table)\n"
		"      --timeout MS          how long to wait for the first relist (default %d)\n"
		"  -h, --help                this text\n",
		DEFAULT_SYNC_TIMEOUT_MS);
}

static int parse_format(const char *val, enum pods_format *ret)
{
	if (!strcmp(val, "wide"))
		*ret = PODS_WIDE;
	else if (!strcmp(val, "json"))
		*ret = PODS_JSON;
	else {
		fprintf(stderr, "kpleg pods: invalid --output \"%s\": expected wide or json\n", val);
		return -EINVAL;
	}
	return 0;
}

/* 0 to go on; otherwise *@ret_exit is the exit code. */
static int parse_args(int argc, char **argv, struct pods_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int opt, r = 0;

	*ret_exit = EXIT_USAGE;
	opterr = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, ":r:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': o->endpoint = optarg; break;
		case 'o': r = parse_format(optarg, &o->format); break;
		case 't': r = cli_parse_uint("--timeout", optarg, 600000, &o->timeout_ms); break;
		case 'h': pods_usage(stdout); *ret_exit = EXIT_OK; return -1;
		default: cli_bad_option("pods", argv, opt); return -1;
		}
	}
	if (r < 0)
		return -1;
	if (optind < argc) {
		fprintf(stderr, "kpleg pods: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

static int cmp_pods(const void *a, const void *b)
{
	const struct kpleg_pod_status *x = *(struct kpleg_pod_status *const *)a;
	const struct kpleg_pod_status *y = *(struct kpleg_pod_status *const *)b;
	int c = strcmp(x->namespace_, y->namespace_);

	if (!c)
		c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->uid, y->uid);
}

static int print_pods(const struct pods_opts *o, struct kpleg_pod_status **pods, size_t n)
{
	if (n)
		qsort(pods, n, sizeof(*pods), cmp_pods);
	if (o->format == PODS_JSON)
		return out_pods_json(stdout, pods, n);
	return out_pods_table(stdout, pods, n, o->format == PODS_WIDE, now_real_ns());
}

static int start_and_sync(struct kpleg_tracker *t, const char *target, unsigned long timeout_ms)
{
	int r = kpleg_tracker__start(t);

	if (r < 0) {
		fprintf(stderr, "kpleg pods: cannot start the tracker: %s\n", strerror(-r));
		return r;
	}
	r = kpleg_tracker__wait_synced(t, (int)timeout_ms);
	if (r == -ETIMEDOUT)
		fprintf(stderr, "kpleg pods: no complete relist from %s within %lu ms "
				"(raise --timeout?)\n", target, timeout_ms);
	else if (r < 0)
		fprintf(stderr, "kpleg pods: waiting for the first relist from %s: %s\n", target,
			strerror(-r));
	return r;
}

static int list_and_print(const struct pods_opts *o, struct kpleg_tracker *t)
{
	struct kpleg_pod_status **pods = NULL;
	size_t n = 0;
	int r;

	r = kpleg_tracker__list_pods(t, &pods, &n);
	if (r < 0) {
		fprintf(stderr, "kpleg pods: cannot list the cache: %s\n", strerror(-r));
		return r;
	}
	log_v(1, "\"Listed pods\" pods=%zu", n);
	r = print_pods(o, pods, n);
	kpleg_pod_list__free(pods, n);
	if (r < 0)
		fprintf(stderr, "kpleg pods: writing the output: %s\n", strerror(-r));
	return r;
}

int cmd_pods(int argc, char **argv)
{
	struct pods_opts o = { .format = PODS_TABLE, .timeout_ms = DEFAULT_SYNC_TIMEOUT_MS };
	_cleanup_(kpleg_tracker__freep) struct kpleg_tracker *t = NULL;
	struct kpleg_config cfg;
	char target[128];
	int r, code;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	r = cli_runtime_endpoint(o.endpoint, target, sizeof(target));
	if (r)
		return r;
	r = cli_check_runtime("pods", target, PREFLIGHT_TIMEOUT_MS);
	if (r)
		return r;
	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = target;
	cfg.mode = KPLEG_MODE_GENERIC;
	r = kpleg_tracker__new(&cfg, &t);
	if (r < 0) {
		fprintf(stderr, "kpleg pods: cannot create the tracker: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	if (start_and_sync(t, target, o.timeout_ms) < 0 || list_and_print(&o, t) < 0)
		return EXIT_FAIL;
	kpleg_tracker__stop(t);
	return EXIT_OK;
}
