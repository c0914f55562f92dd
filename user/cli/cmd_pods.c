// SPDX-License-Identifier: Apache-2.0
/* kpleg pods: a table of the node's pods and their containers, from one
 * ListPodSandbox + ListContainers. (The tracker's own cache takes this over
 * once the engine lands.) */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cri.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct cri_client *, cri_client__free)

static void pods_usage(FILE *out)
{
	fprintf(out, "Usage: kpleg pods [--runtime-endpoint E]\n\n"
		     "Lists every pod sandbox on the node with its containers.\n");
}

static void print_pod(const Runtime__V1__PodSandbox *sb, const Runtime__V1__ListContainersResponse *cl)
{
	const Runtime__V1__PodSandboxMetadata *m = sb->metadata;

	printf("%-16.16s %-24.24s %-36.36s %-13.13s %-8s\n", m->namespace_, m->name, m->uid,
	       sb->id, cri_sandbox_state_str(sb->state));
	for (size_t i = 0; i < cl->n_containers; i++) {
		Runtime__V1__Container *c = cl->containers[i];

		if (strcmp(c->pod_sandbox_id, sb->id))
			continue;
		printf("  └ %-20.20s %-13.13s %-8s attempt=%u\n", c->metadata->name, c->id,
		       cri_container_state_str(c->state), c->metadata->attempt);
	}
}

int cmd_pods(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_(cri_client__freep) struct cri_client *c = NULL;
	Runtime__V1__ListPodSandboxResponse *pl = NULL;
	Runtime__V1__ListContainersResponse *cl = NULL;
	const char *endpoint = NULL;
	struct cri_status st;
	char target[128];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': endpoint = optarg; break;
		case 'h': pods_usage(stdout); return EXIT_OK;
		default: pods_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kpleg pods: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	r = cli_runtime_endpoint(endpoint, target, sizeof(target));
	if (r)
		return r;
	c = cri_client__new(target);
	if (!c) {
		fprintf(stderr, "kpleg pods: cannot create a client for %s: %s\n", target,
			strerror(errno));
		return EXIT_FAIL;
	}
	if (cri_list_pod_sandbox(c, NULL, 0, &pl, &st) < 0 ||
	    cri_list_containers(c, NULL, 0, &cl, &st) < 0) {
		fprintf(stderr, "kpleg pods: %s: %s\n", target, st.message);
		r = EXIT_FAIL;
		goto out;
	}
	printf("%-16s %-24s %-36s %-13s %-8s\n", "NAMESPACE", "POD", "UID", "SANDBOX", "STATE");
	for (size_t i = 0; i < pl->n_items; i++)
		print_pod(pl->items[i], cl);
	r = EXIT_OK;
out:
	cri_msg_free(pl);
	cri_msg_free(cl);
	return r;
}
