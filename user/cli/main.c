// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cri.h"
#include "log.h"

static const struct cli_command commands[] = {
	{ "info", "show the container runtime, its conditions, events and BPF support", cmd_info },
	{ "pods", "list the node's pods and containers", cmd_pods },
	{ "get", "show one pod as a running kpleg daemon has it", cmd_get },
	{ "events", "print a running kpleg daemon's lifecycle events, or follow them", cmd_events },
	{ "watch", "print pod and container lifecycle events as they happen", cmd_watch },
	{ "daemon", "run the tracker as a service with kpleg's API on a unix socket", cmd_daemon },
	{ "status", "ask a running kpleg daemon how it is doing", cmd_status },
	{ "trace", "record when each source saw each transition, as CSV (latency studies)", cmd_trace },
	{ "report", "latency percentiles and a plot from a kpleg trace CSV", cmd_report },
	{ NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: kpleg COMMAND [OPTIONS]\n\n"
		     "kpleg tracks the state of every pod and container on a Kubernetes node.\n\n"
		     "Commands:\n");
	for (const struct cli_command *c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'kpleg COMMAND --help' for a command's options.\n");
}

int cli_runtime_endpoint(const char *flag, char *out, size_t out_size)
{
	const char *tried = NULL;
	int r;

	if (flag) {
		r = cri_endpoint_normalize(flag, out, out_size);
		if (r < 0) {
			fprintf(stderr, "kpleg: invalid --runtime-endpoint \"%s\": expected "
					"unix:///absolute/path or /absolute/path\n", flag);
			return EXIT_USAGE;
		}
		return 0;
	}
	r = cri_endpoint_discover(out, out_size, &tried);
	if (r < 0) {
		fprintf(stderr, "kpleg: no --runtime-endpoint given and no runtime socket found "
				"(tried %s)\n", tried);
		return EXIT_FAIL;
	}
	log_info("\"Using runtime endpoint found at its default location\" endpoint=\"%s\"", out);
	return 0;
}

int cli_parse_uint(const char *opt, const char *val, unsigned long max, unsigned long *ret)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || !*val || *end || val[0] == '-' || v == 0 || v > max) {
		fprintf(stderr, "kpleg: invalid %s \"%s\": expected a whole number from 1 to %lu\n",
			opt, val, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cli_parse_verbosity(const char *val)
{
	unsigned long v = 0;

	if (strcmp(val, "0") && cli_parse_uint("-v", val, 10, &v) < 0)
		return -EINVAL;
	log_set_verbosity((int)v);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	for (const struct cli_command *c = commands; c->name; c++)
		if (!strcmp(argv[1], c->name))
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "kpleg: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
