// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg pods: the tracker's view of the node's pods, sorted by namespace and
 * name, in two modes that print the same way:
 *
 *   - by default it asks a running `kpleg daemon` (ListPods on --socket);
 *   - with -r/--runtime-endpoint it runs its own tracker against the runtime,
 *     waits for the first full relist, prints the cache and stops.
 *
 * The daemon's Pod messages are turned back into struct kpleg_pod_status
 * (api_pods.c) and the namespace and label filters of the daemon's ListPods
 * are applied to a local tracker's cache with the daemon's own matcher
 * (api_pod_matches), so both modes select and print alike.
 *
 * A local tracker runs in generic mode (relist only) on purpose: containerd
 * 1.7 hands each CRI event to ONE subscriber (REFERENCE §2), so a short-lived
 * `kpleg pods` that opened the event stream would steal events from the
 * kubelet or a running `kpleg watch`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "api_convert.h"
#include "cli.h"
#include "daemon.h"
#include "kpleg/kpleg.h"
#include "log.h"
#include "output.h"
#include "util.h"

#define DEFAULT_SYNC_TIMEOUT_MS 10000
#define PREFLIGHT_TIMEOUT_MS 3000

enum pods_format { PODS_TABLE, PODS_WIDE, PODS_JSON };

struct pods_opts {
	const char *endpoint;	/* -r: a local tracker */
	const char *socket;	/* -s: the daemon (the default) */
	enum pods_format format;
	unsigned long timeout_ms; /* 0: the mode's default */
	/* -n and -l, as the daemon's request; the entries point into argv. */
	Kpleg__V1__ListPodsRequest filter;
	Kpleg__V1__ListPodsRequest__LabelSelectorEntry sel[API_SELECTOR_MAX];
	Kpleg__V1__ListPodsRequest__LabelSelectorEntry *selp[API_SELECTOR_MAX];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kpleg_tracker *, kpleg_tracker__free)

static void pods_usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg pods [OPTIONS]\n\n"
		"Lists every pod on the node as kpleg's tracker sees it, sorted by namespace\n"
		"and name. READY counts running containers among the newest attempt of each\n"
		"container of the pod's newest sandbox; STATE and AGE are those of the newest\n"
		"sandbox.\n\n"
		"By default it asks the running kpleg daemon (kpleg daemon) for its cache. With\n"
		"--runtime-endpoint it runs a tracker of its own against the runtime instead,\n"
		"waits for its first full relist and prints that (no daemon needed). Both\n"
		"print the same way.\n\n"
		"  -s, --socket PATH         the daemon's API socket\n"
		"                            (default %s)\n"
		"  -r, --runtime-endpoint E  no daemon: track the CRI runtime at E, unix:///path\n"
		"                            or /path, for one relist\n"
		"  -n, --namespace NS        only pods of namespace NS\n"
		"  -l, --selector K=V[,...]  only pods one of whose sandboxes carries every one of\n"
		"                            these labels (repeatable; K= matches an empty value)\n"
		"  -o, --output F            table, wide (adds sandbox id, IP and one line per\n"
		"                            container) or json (an array of pods with their\n"
		"                            sandboxes and containers, schema in docs/EVENTS.md)\n"
		"                            (default table)\n"
		"      --timeout MS          how long to wait for the daemon's answer (default\n"
		"                            %d), or with --runtime-endpoint for the first relist\n"
		"                            (default %d)\n"
		"  -h, --help                this text\n\n"
		"Exit status: 0 listed, 1 no daemon answers (or the runtime does not), 2 bad\n"
		"usage.\n",
		KPLEG_DEFAULT_SOCKET, API_DEFAULT_TIMEOUT_MS, DEFAULT_SYNC_TIMEOUT_MS);
}

static int parse_format(const char *val, enum pods_format *ret)
{
	if (!strcmp(val, "table"))
		*ret = PODS_TABLE;
	else if (!strcmp(val, "wide"))
		*ret = PODS_WIDE;
	else if (!strcmp(val, "json"))
		*ret = PODS_JSON;
	else {
		fprintf(stderr, "kpleg pods: invalid --output \"%s\": expected table, wide or "
				"json\n", val);
		return -EINVAL;
	}
	return 0;
}

/* -l K=V[,K=V...]: each pair into the filter, splitting @val in place (it is
 * argv's). */
static int parse_selector(struct pods_opts *o, char *val)
{
	Kpleg__V1__ListPodsRequest *f = &o->filter;
	char *pair, *save = NULL, *eq;

	if (!strchr(val, '=')) {
		fprintf(stderr, "kpleg pods: invalid --selector \"%s\": expected KEY=VALUE\n", val);
		return -EINVAL;
	}
	for (pair = strtok_r(val, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
		Kpleg__V1__ListPodsRequest__LabelSelectorEntry *e;

		eq = strchr(pair, '=');
		if (!eq || eq == pair) {
			fprintf(stderr, "kpleg pods: invalid --selector \"%s\": expected KEY=VALUE\n",
				pair);
			return -EINVAL;
		}
		if (f->n_label_selector == API_SELECTOR_MAX) {
			fprintf(stderr, "kpleg pods: more than %d --selector labels\n",
				API_SELECTOR_MAX);
			return -EINVAL;
		}
		*eq = '\0';
		e = &o->sel[f->n_label_selector];
		kpleg__v1__list_pods_request__label_selector_entry__init(e);
		e->key = pair;
		e->value = eq + 1;
		o->selp[f->n_label_selector++] = e;
	}
	f->label_selector = o->selp;
	return 0;
}

/* The filters as the daemon will judge them: bad ones are usage errors. */
static int check_filter(const struct pods_opts *o)
{
	char err[256];

	if (api_validate_list_pods(&o->filter, err, sizeof(err)) < 0) {
		fprintf(stderr, "kpleg pods: invalid filter: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

/* 0 to go on; otherwise *@ret_exit is the exit code. */
static int parse_args(int argc, char **argv, struct pods_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "selector", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int opt, r = 0;

	*ret_exit = EXIT_USAGE;
	opterr = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, ":s:r:n:l:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o->socket = optarg; break;
		case 'r': o->endpoint = optarg; break;
		case 'n': o->filter.namespace_ = optarg; break;
		case 'l': r = parse_selector(o, optarg); break;
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
	if (o->socket && o->endpoint) {
		fprintf(stderr, "kpleg pods: --socket (ask the daemon) and --runtime-endpoint (no "
				"daemon) exclude each other\n");
		return -1;
	}
	return check_filter(o);
}

static bool matches(const struct kpleg_pod_status *p, const void *filter)
{
	return api_pod_matches(p, filter);
}

/* Prints the pods that pass the filter (all of them when the daemon has
 * filtered already), sorted; the array is reordered, not shortened. */
static int print_pods(const struct pods_opts *o, struct kpleg_pod_status **pods, size_t n)
{
	n = api_pods_keep(pods, n, matches, &o->filter);
	api_pods_sort(pods, n);
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

/* ---- from the daemon ------------------------------------------------------- */

static int from_daemon(const struct pods_opts *o)
{
	Kpleg__V1__ListPodsResponse *resp = NULL;
	struct kpleg_pod_status **pods = NULL;
	struct api_client a;
	struct cri_status st = { 0 };
	size_t n;
	int r;

	r = api_client_open(&a, "pods", o->socket ? o->socket : KPLEG_DEFAULT_SOCKET);
	if (r)
		return r;
	r = api_call(&a, "ListPods", &o->filter.base, &kpleg__v1__list_pods_response__descriptor,
		     o->timeout_ms ? (int)o->timeout_ms : API_DEFAULT_TIMEOUT_MS, &resp, &st);
	if (r < 0 && api_no_daemon(&st)) {
		fprintf(stderr, "kpleg pods: no kpleg daemon answers on %s: %s (without one: kpleg "
				"pods --runtime-endpoint E)\n", a.socket, st.message);
		api_client_close(&a);
		return EXIT_FAIL;
	}
	if (r < 0) {
		r = api_fail(&a, &st);
		api_client_close(&a);
		return r;
	}
	api_client_close(&a);
	n = resp->n_pods;
	r = api_pods_view(resp->pods, n, &pods);
	cri_msg_free(resp);
	if (r < 0) {
		fprintf(stderr, "kpleg pods: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	log_v(1, "\"Listed pods\" pods=%zu", n);
	r = print_pods(o, pods, n);
	kpleg_pod_list__free(pods, n);
	if (r < 0) {
		fprintf(stderr, "kpleg pods: writing the output: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_pods(int argc, char **argv)
{
	struct pods_opts o = { .format = PODS_TABLE,
			       .filter = KPLEG__V1__LIST_PODS_REQUEST__INIT };
	_cleanup_(kpleg_tracker__freep) struct kpleg_tracker *t = NULL;
	struct kpleg_config cfg;
	char target[128];
	int r, code;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	if (!o.endpoint)
		return from_daemon(&o);
	if (!o.timeout_ms)
		o.timeout_ms = DEFAULT_SYNC_TIMEOUT_MS;
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
