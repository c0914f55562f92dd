// SPDX-License-Identifier: Apache-2.0
/* kpleg info: what runtime is there, is it healthy, does it have events, and
 * what can the kernel give us. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bpf_features.h"
#include "cli.h"
#include "cri.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct cri_client *, cri_client__free)

static void info_usage(FILE *out)
{
	fprintf(out, "Usage: kpleg info [--runtime-endpoint E] [--timeout MS]\n\n"
		     "  --runtime-endpoint E  CRI socket, unix:///path or /path (default: the first\n"
		     "                        of containerd's and CRI-O's usual sockets that exists)\n"
		     "  --timeout MS          deadline of each CRI call (default %d)\n",
		CRI_DEFAULT_TIMEOUT_MS);
}

static void print_conditions(const Runtime__V1__StatusResponse *s)
{
	printf("conditions:");
	for (size_t i = 0; i < s->status->n_conditions; i++) {
		const Runtime__V1__RuntimeCondition *c = s->status->conditions[i];

		printf("%s %s=%s", i ? "," : "", c->type, c->status ? "true" : "false");
		if (!c->status && *c->reason)
			printf(" (%s)", c->reason);
	}
	printf("%s\n", s->status->n_conditions ? "" : " none reported");
}

static void print_bpf(void)
{
	struct bpf_features f;
	int r = bpf_features_probe(&f), n_ok = 0;

	if (r < 0) {
		printf("bpf: unavailable (%s)\n", r == -ENOENT ? "no kernel BTF" : strerror(-r));
		return;
	}
	for (int i = 0; i < f.n; i++)
		n_ok += f.f[i].ok;
	printf("bpf: %s (", n_ok == f.n ? "available" : n_ok ? "partial" : "unavailable");
	for (int i = 0; i < f.n; i++)
		printf("%s%s %s", i ? ", " : "", f.f[i].name, f.f[i].ok ? "ok" : "no");
	printf(")\n");
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_(cri_client__freep) struct cri_client *c = NULL;
	Runtime__V1__VersionResponse *v = NULL;
	Runtime__V1__StatusResponse *s = NULL;
	enum cri_events_support ev;
	const char *endpoint = NULL;
	unsigned long timeout = CRI_DEFAULT_TIMEOUT_MS;
	struct cri_status st;
	char target[128];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "r:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': endpoint = optarg; break;
		case 't':
			if (cli_parse_uint("--timeout", optarg, 600000, &timeout) < 0)
				return EXIT_USAGE;
			break;
		case 'h': info_usage(stdout); return EXIT_OK;
		default: info_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kpleg info: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	r = cli_runtime_endpoint(endpoint, target, sizeof(target));
	if (r)
		return r;
	c = cri_client__new(target);
	if (!c) {
		fprintf(stderr, "kpleg info: cannot create a client for %s: %s\n", target,
			strerror(errno));
		return EXIT_FAIL;
	}
	r = cri_version(c, (int)timeout, &v, &st);
	if (r < 0) {
		fprintf(stderr, "kpleg info: runtime at %s does not answer CRI Version: %s\n",
			target, st.message);
		return EXIT_FAIL;
	}
	printf("endpoint: %s\nruntime: %s %s\napi version: %s\n", target, v->runtime_name,
	       v->runtime_version, v->runtime_api_version);
	cri_msg_free(v);
	r = cri_status(c, (int)timeout, &s, &st);
	if (r < 0)
		printf("conditions: unknown (%s)\n", st.message);
	else
		print_conditions(s);
	cri_msg_free(s);
	r = cri_events_probe(c, 1000, &ev, &st);
	if (r < 0)
		printf("events: unknown (%s)\n", st.message);
	else
		printf("events: %s\n", cri_events_support_str(ev));
	print_bpf();
	return EXIT_OK;
}
