// SPDX-License-Identifier: Apache-2.0
/* `kpleg status`: asks a running kpleg daemon how it is doing (Status). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "api_client.h"
#include "cli.h"
#include "cri.h"
#include "daemon.h"
#include "kpleg.pb-c.h"
#include "log.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg status [OPTIONS]\n\n"
		"Asks a running kpleg daemon for its status: the runtime, each source and its\n"
		"health, the kernel hints, counters. Exit 0 when the daemon is healthy (also\n"
		"when degraded: stuck pods or falling behind, see its line), 1 when it is not\n"
		"or does not answer.\n\n"
		"  -s, --socket PATH   the daemon's API socket (default %s)\n"
		"  -o, --output F      text or json (default text)\n"
		"      --timeout MS    how long to wait for the answer (default 5000)\n"
		"  -h, --help          this text\n",
		KPLEG_DEFAULT_SOCKET);
}

static const char *mode_name(Kpleg__V1__Mode m)
{
	/* proto = C + 1 (proto/kpleg.proto) */
	return m ? kpleg_mode_str((enum kpleg_mode)(m - 1)) : "unknown";
}

static void print_text(const Kpleg__V1__StatusResponse *s)
{
	printf("runtime: %s %s (%s)\n", s->runtime_name, s->runtime_version, s->runtime_endpoint);
	printf("mode: %s\n", mode_name(s->mode));
	printf("healthy: %s%s%s\n", s->healthy ? "yes" : "no", s->healthy ? "" : ": ",
	       s->healthy ? "" : s->unhealthy_reason);
	if (s->degraded)
		printf("degraded: %s%s%s\n", s->degraded->degraded ? "yes" : "no",
		       s->degraded->degraded ? ": " : "", s->degraded->degraded ? s->degraded->reason : "");
	printf("synced: %s\n", s->synced ? "yes" : "no");
	if (s->relist)
		printf("relist: %llu done, %llu failed, every %u ms\n",
		       (unsigned long long)s->relist->relists,
		       (unsigned long long)s->relist->failures, s->relist->period_ms);
	if (s->cri_events)
		printf("cri events: %s, %llu received\n",
		       !s->cri_events->supported ? "not supported"
		       : s->cri_events->connected ? "connected" : "down",
		       (unsigned long long)s->cri_events->received);
	if (s->kernel_hints)
		printf("kernel hints: %s; %llu hints, %llu lost; %llu provisional exits, %llu "
		       "confirmed, %llu corrected\n", s->kernel_hints->bpf_state,
		       (unsigned long long)s->kernel_hints->hints_received,
		       (unsigned long long)s->kernel_hints->hints_lost,
		       (unsigned long long)s->kernel_hints->provisional,
		       (unsigned long long)s->kernel_hints->provisional_confirmed,
		       (unsigned long long)s->kernel_hints->provisional_corrected);
	printf("pods: %llu, containers: %llu\n", (unsigned long long)s->pods,
	       (unsigned long long)s->containers);
	printf("events: %llu emitted, %llu missed by every faster source\n",
	       (unsigned long long)s->events_emitted, (unsigned long long)s->missed_events);
	printf("watchers: %u\n", s->watchers);
	if (s->degraded)
		printf("faults: %llu stuck pods; %llu CRI events dropped in %llu overflows, %llu "
		       "queued\n", (unsigned long long)s->degraded->stuck_pods,
		       (unsigned long long)s->degraded->events_dropped,
		       (unsigned long long)s->degraded->event_overflows,
		       (unsigned long long)s->degraded->event_backlog);
}

static json_object *u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static void print_json(const Kpleg__V1__StatusResponse *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "runtime_endpoint", json_object_new_string(s->runtime_endpoint));
	json_object_object_add(o, "runtime_name", json_object_new_string(s->runtime_name));
	json_object_object_add(o, "runtime_version", json_object_new_string(s->runtime_version));
	json_object_object_add(o, "mode", json_object_new_string(mode_name(s->mode)));
	json_object_object_add(o, "healthy", json_object_new_boolean(s->healthy));
	if (!s->healthy)
		json_object_object_add(o, "unhealthy_reason",
				       json_object_new_string(s->unhealthy_reason));
	if (s->degraded) {
		const Kpleg__V1__DegradedStatus *d = s->degraded;

		json_object_object_add(o, "degraded", json_object_new_boolean(d->degraded));
		if (d->degraded)
			json_object_object_add(o, "degraded_reason", json_object_new_string(d->reason));
		json_object_object_add(o, "stuck_pods", u64(d->stuck_pods));
		if (d->stuck_pods) {
			json_object_object_add(o, "stuck_pod_uid",
					       json_object_new_string(d->stuck_pod_uid));
			json_object_object_add(o, "stuck_reason",
					       json_object_new_string(d->stuck_reason));
			json_object_object_add(o, "stuck_since_mono_ns", u64(d->stuck_since_mono_ns));
		}
		json_object_object_add(o, "falling_behind", json_object_new_boolean(d->falling_behind));
		json_object_object_add(o, "events_dropped", u64(d->events_dropped));
		json_object_object_add(o, "event_overflows", u64(d->event_overflows));
		json_object_object_add(o, "event_backlog", u64(d->event_backlog));
	}
	json_object_object_add(o, "synced", json_object_new_boolean(s->synced));
	if (s->relist) {
		json_object_object_add(o, "relists", u64(s->relist->relists));
		json_object_object_add(o, "relist_period_ms", u64(s->relist->period_ms));
	}
	if (s->cri_events) {
		json_object_object_add(o, "events_supported",
				       json_object_new_boolean(s->cri_events->supported));
		json_object_object_add(o, "events_connected",
				       json_object_new_boolean(s->cri_events->connected));
	}
	if (s->kernel_hints) {
		json_object_object_add(o, "bpf_active",
				       json_object_new_boolean(s->kernel_hints->bpf_active));
		json_object_object_add(o, "bpf_state",
				       json_object_new_string(s->kernel_hints->bpf_state));
		json_object_object_add(o, "provisional", u64(s->kernel_hints->provisional));
		json_object_object_add(o, "provisional_confirmed",
				       u64(s->kernel_hints->provisional_confirmed));
		json_object_object_add(o, "provisional_corrected",
				       u64(s->kernel_hints->provisional_corrected));
	}
	json_object_object_add(o, "pods", u64(s->pods));
	json_object_object_add(o, "containers", u64(s->containers));
	json_object_object_add(o, "events_emitted", u64(s->events_emitted));
	json_object_object_add(o, "missed_events", u64(s->missed_events));
	json_object_object_add(o, "watchers", u64(s->watchers));
	json_object_object_add(o, "epoch", u64(s->epoch));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	Kpleg__V1__StatusResponse *resp = NULL;
	const char *socket = KPLEG_DEFAULT_SOCKET;
	unsigned long timeout = 5000;
	struct api_client a;
	bool json = false;
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': socket = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "kpleg status: invalid --output \"%s\": expected json "
						"or text\n", optarg);
				return EXIT_USAGE;
			}
			json = !strcmp(optarg, "json");
			break;
		case 't':
			if (cli_parse_uint("--timeout", optarg, 3600000, &timeout) < 0)
				return EXIT_USAGE;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default: return cli_bad_option("status", argv, opt);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kpleg status: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	/* The same client as pods, get and events: relative paths, one line
	 * when no daemon answers. */
	r = api_client_open(&a, "status", socket);
	if (r)
		return r;
	r = api_status(&a, (int)timeout, &resp);
	api_client_close(&a);
	if (r)
		return r;
	if (json)
		print_json(resp);
	else
		print_text(resp);
	r = resp->healthy ? EXIT_OK : EXIT_FAIL;
	cri_msg_free(resp);
	return r;
}
