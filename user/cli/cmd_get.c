// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg get POD: one pod as a running `kpleg daemon` has it (GetPod), by UID
 * or NAMESPACE/NAME, printed like its line in `kpleg pods -o wide` or as the
 * JSON object `kpleg pods -o json` has for it.
 *
 * --fresh is the kubelet cache's GetNewerThan(now): the answer must hold data
 * about the pod observed after the command started. "Now" is the daemon's
 * own CLOCK_MONOTONIC, read from a Status call first (StatusResponse.
 * now_mono_ns), not this process's: the two share the clock on one node,
 * but not across time namespaces, and the daemon rejects a time later than
 * its now. The daemon then waits for a source to bring such data or asks
 * the runtime for that one pod, within what is left of --timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "api_client.h"
#include "api_convert.h"
#include "cli.h"
#include "daemon.h"
#include "output.h"
#include "util.h"

enum get_format { GET_TABLE, GET_WIDE, GET_JSON };

struct get_opts {
	const char *socket;
	const char *pod;		/* as given */
	enum get_format format;
	bool fresh;
	unsigned long timeout_ms;
	char ns[KPLEG_NAME_MAX];	/* NAMESPACE of NAMESPACE/NAME */
};

static void get_usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg get [OPTIONS] POD\n\n"
		"Shows one pod as the running kpleg daemon has it. POD is the pod's UID, or\n"
		"NAMESPACE/NAME (if several pods carry that name, the one whose newest sandbox\n"
		"was created last).\n\n"
		"  -s, --socket PATH   the daemon's API socket (default %s)\n"
		"      --fresh         answer only with data about the pod observed after this\n"
		"                      command started (the kubelet cache's GetNewerThan): the\n"
		"                      daemon waits for a source to bring it or asks the runtime\n"
		"                      for this one pod\n"
		"  -o, --output F      wide (the pod as in kpleg pods -o wide, with one line per\n"
		"                      container), table (the pod's line only) or json (the pod\n"
		"                      as in kpleg pods -o json) (default wide)\n"
		"      --timeout MS    how long to wait for the answer, --fresh included\n"
		"                      (default %d)\n"
		"  -h, --help          this text\n\n"
		"Exit status: 0 shown, 1 no such pod, no daemon answers, or no fresh enough data\n"
		"within --timeout, 2 bad usage.\n",
		KPLEG_DEFAULT_SOCKET, API_DEFAULT_TIMEOUT_MS);
}

static int parse_format(const char *val, enum get_format *ret)
{
	if (!strcmp(val, "table"))
		*ret = GET_TABLE;
	else if (!strcmp(val, "wide"))
		*ret = GET_WIDE;
	else if (!strcmp(val, "json"))
		*ret = GET_JSON;
	else {
		fprintf(stderr, "kpleg get: invalid --output \"%s\": expected wide, table or json\n",
			val);
		return -EINVAL;
	}
	return 0;
}

/* 0 to go on; otherwise *@ret_exit is the exit code. */
static int parse_args(int argc, char **argv, struct get_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "fresh", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int opt, r = 0;

	*ret_exit = EXIT_USAGE;
	opterr = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, ":s:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o->socket = optarg; break;
		case 'F': o->fresh = true; break;
		case 'o': r = parse_format(optarg, &o->format); break;
		case 't': r = cli_parse_uint("--timeout", optarg, 3600000, &o->timeout_ms); break;
		case 'h': get_usage(stdout); *ret_exit = EXIT_OK; return -1;
		default: cli_bad_option("get", argv, opt); return -1;
		}
	}
	if (r < 0)
		return -1;
	if (optind >= argc) {
		fprintf(stderr, "kpleg get: which pod? (kpleg get UID or NAMESPACE/NAME)\n");
		return -1;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "kpleg get: unexpected argument \"%s\"\n", argv[optind + 1]);
		return -1;
	}
	o->pod = argv[optind];
	return 0;
}

static int print_pod(const struct get_opts *o, const Kpleg__V1__Pod *m)
{
	struct kpleg_pod_status *p = NULL;
	int r;

	r = api_pod_view(m, &p);
	if (r == 0 && o->format == GET_JSON)
		r = out_pod_json_pretty(stdout, p);
	else if (r == 0)
		r = out_pods_table(stdout, &p, 1, o->format == GET_WIDE, now_real_ns());
	kpleg_pod_status__free(p);
	if (r < 0) {
		fprintf(stderr, "kpleg get: writing the output: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* GetPod, after Status for --fresh; prints the pod or one line. */
static int get(struct api_client *a, const struct get_opts *o, Kpleg__V1__GetPodRequest *req)
{
	uint64_t deadline = now_mono_ns() + o->timeout_ms * NSEC_PER_MSEC;
	Kpleg__V1__StatusResponse *s = NULL;
	Kpleg__V1__GetPodResponse *resp = NULL;
	struct cri_status st = { 0 };
	int r;

	if (o->fresh) {
		r = api_status(a, api_ms_left(deadline), &s);
		if (r)
			return r;
		req->min_observed_mono_ns = s->now_mono_ns;
		cri_msg_free(s);
	}
	r = api_call(a, "GetPod", &req->base, &kpleg__v1__get_pod_response__descriptor,
		     api_ms_left(deadline), &resp, &st);
	if (r == -ENOENT) {
		fprintf(stderr, "kpleg get: the kpleg daemon on %s has no pod %s\n", a->socket,
			o->pod);
		return EXIT_FAIL;
	}
	if (r == -ETIMEDOUT && o->fresh) {
		/* The daemon answered Status: the wait is what ran out. */
		fprintf(stderr, "kpleg get: no data about pod %s newer than this command within "
				"%lu ms\n", o->pod, o->timeout_ms);
		return EXIT_FAIL;
	}
	if (r < 0)
		return api_fail(a, &st);
	if (!resp->pod) {
		fprintf(stderr, "kpleg get: the kpleg daemon on %s answered without a pod\n",
			a->socket);
		cri_msg_free(resp);
		return EXIT_FAIL;
	}
	r = print_pod(o, resp->pod);
	cri_msg_free(resp);
	return r;
}

int cmd_get(int argc, char **argv)
{
	struct get_opts o = { .socket = KPLEG_DEFAULT_SOCKET, .format = GET_WIDE,
			      .timeout_ms = API_DEFAULT_TIMEOUT_MS };
	Kpleg__V1__GetPodRequest req = KPLEG__V1__GET_POD_REQUEST__INIT;
	struct api_client a;
	int r, code;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	if (api_pod_ref("get", "pod", o.pod, &req, o.ns) < 0)
		return EXIT_USAGE;
	r = api_client_open(&a, "get", o.socket);
	if (r)
		return r;
	r = get(&a, &o, &req);
	api_client_close(&a);
	return r;
}
