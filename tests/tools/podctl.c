// SPDX-License-Identifier: Apache-2.0
/*
 * podctl: a tiny crictl for kpleg's tests, demo and benchmarks. It creates pods
 * and containers the way the kubelet does (tests/support/kube.h) through
 * kpleg's own CRI client.
 *
 *   podctl -r EP pod NAME [--namespace NS] [--qos Q] [--uid U]   -> "<sandbox-id> <uid>"
 *   podctl -r EP ctr POD-ID NAME [--qos Q] [--memory BYTES] -- ARGV... -> "<container-id>"
 *   podctl -r EP start|stop|rm ID
 *   podctl -r EP stopp|rmp POD-ID
 *   podctl -r EP status ID            -> "<state> <exit-code> <reason>"
 *   podctl -r EP cleanup              (stop and remove every pod)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri.h"
#include "kube.h"

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return def;
}

static int fail(const char *what, const struct cri_status *st)
{
	fprintf(stderr, "podctl: %s: %s\n", what, st->message);
	return 1;
}

static int do_pod(struct cri_client *c, int argc, char **argv)
{
	enum kube_qos qos = KUBE_QOS_BESTEFFORT;
	struct cri_status st;
	struct kube_pod p;
	char *id = NULL;

	if (argc < 1 || kube_qos_parse(opt(argc, argv, "--qos", "besteffort"), &qos) < 0 ||
	    kube_pod_init(&p, opt(argc, argv, "--uid", NULL), argv[0],
			  opt(argc, argv, "--namespace", "default"), qos) < 0) {
		fprintf(stderr, "podctl pod: bad arguments\n");
		return 2;
	}
	if (cri_run_pod_sandbox(c, &p.cfg, 60000, &id, &st) < 0)
		return fail("RunPodSandbox", &st);
	printf("%s %s\n", id, p.uid);
	free(id);
	return 0;
}

static int do_ctr(struct cri_client *c, int argc, char **argv)
{
	Runtime__V1__PodSandboxStatusResponse *ps = NULL;
	const Runtime__V1__PodSandboxMetadata *m;
	struct kube_container ct;
	struct cri_status st;
	enum kube_qos qos = KUBE_QOS_BESTEFFORT;
	struct kube_pod p;
	char **cmd = NULL, *id = NULL;
	int r = 1;

	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			cmd = argv + i + 1;
	if (argc < 2 || !cmd || !*cmd) {
		fprintf(stderr, "podctl ctr: usage: ctr POD-ID NAME [--qos Q] [--memory B] -- ARGV...\n");
		return 2;
	}
	/* The pod's QoS class names the cgroup parent, as the kubelet's does. */
	if (kube_qos_parse(opt(argc, argv, "--qos", "besteffort"), &qos) < 0) {
		fprintf(stderr, "podctl ctr: bad --qos\n");
		return 2;
	}
	if (cri_pod_sandbox_status(c, argv[0], 0, &ps, &st) < 0)
		return fail("PodSandboxStatus", &st);
	m = ps->status->metadata;
	if (kube_pod_init(&p, m->uid, m->name, m->namespace_, qos) < 0 ||
	    kube_container_init(&ct, &p, argv[1], cmd,
				atoll(opt(argc, argv, "--memory", "0"))) < 0) {
		fprintf(stderr, "podctl ctr: bad arguments\n");
		r = 2;
		goto out;
	}
	if (cri_create_container(c, argv[0], &ct.cfg, &p.cfg, 60000, &id, &st) < 0) {
		r = fail("CreateContainer", &st);
		goto out;
	}
	printf("%s\n", id);
	r = 0;
out:
	free(id);
	cri_msg_free(ps);
	return r;
}

static int do_status(struct cri_client *c, const char *id)
{
	Runtime__V1__ContainerStatusResponse *r = NULL;
	struct cri_status st;

	if (cri_container_status(c, id, 0, &r, &st) < 0)
		return fail("ContainerStatus", &st);
	printf("%s %d %s\n", cri_container_state_str(r->status->state), r->status->exit_code,
	       *r->status->reason ? r->status->reason : "-");
	cri_msg_free(r);
	return 0;
}

static int do_cleanup(struct cri_client *c)
{
	Runtime__V1__ListPodSandboxResponse *l = NULL;
	struct cri_status st;
	int r = 0;

	if (cri_list_pod_sandbox(c, NULL, 0, &l, &st) < 0)
		return fail("ListPodSandbox", &st);
	for (size_t i = 0; i < l->n_items; i++) {
		if (cri_stop_pod_sandbox(c, l->items[i]->id, 60000, &st) < 0 ||
		    cri_remove_pod_sandbox(c, l->items[i]->id, 60000, &st) < 0)
			r = fail("cleanup", &st);
	}
	cri_msg_free(l);
	return r;
}

static int run(struct cri_client *c, const char *cmd, int argc, char **argv)
{
	struct cri_status st;
	int r;

	if (!strcmp(cmd, "pod"))
		return do_pod(c, argc, argv);
	if (!strcmp(cmd, "ctr"))
		return do_ctr(c, argc, argv);
	if (!strcmp(cmd, "cleanup"))
		return do_cleanup(c);
	if (argc != 1) {
		fprintf(stderr, "podctl %s: expected one id\n", cmd);
		return 2;
	}
	if (!strcmp(cmd, "status"))
		return do_status(c, argv[0]);
	if (!strcmp(cmd, "start"))
		r = cri_start_container(c, argv[0], 60000, &st);
	else if (!strcmp(cmd, "stop"))
		r = cri_stop_container(c, argv[0], 10, 60000, &st);
	else if (!strcmp(cmd, "rm"))
		r = cri_remove_container(c, argv[0], 60000, &st);
	else if (!strcmp(cmd, "stopp"))
		r = cri_stop_pod_sandbox(c, argv[0], 60000, &st);
	else if (!strcmp(cmd, "rmp"))
		r = cri_remove_pod_sandbox(c, argv[0], 60000, &st);
	else {
		fprintf(stderr, "podctl: unknown command \"%s\"\n", cmd);
		return 2;
	}
	return r < 0 ? fail(cmd, &st) : 0;
}

int main(int argc, char **argv)
{
	struct cri_client *c;
	int r;

	if (argc < 4 || strcmp(argv[1], "-r")) {
		fprintf(stderr, "usage: podctl -r ENDPOINT COMMAND [ARGS]\n");
		return 2;
	}
	c = cri_client__new(argv[2]);
	if (!c) {
		fprintf(stderr, "podctl: bad endpoint \"%s\": %s\n", argv[2], strerror(errno));
		return 2;
	}
	r = run(c, argv[3], argc - 4, argv + 4);
	cri_client__free(c);
	return r;
}
