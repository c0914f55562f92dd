// SPDX-License-Identifier: Apache-2.0
/*
 * upstream-cri -r ENDPOINT lifecycle [--exit-code N] [--image REF]
 *              [--events-out FILE] [--timeout S] [--settle-ms MS]
 *              [--linger-ms MS] [--pod-name NAME] [--namespace NS] [--drain]
 *
 * A CRI client built only from the upstream cri-api api.proto. It opens
 * GetContainerEvents first, then runs one pod the way the kubelet would:
 * RunPodSandbox (host network, cgroup parent /kubepods/besteffort/pod<uid>,
 * the kubelet's labels), CreateContainer running `sleep 0.3; exit N`,
 * StartContainer, ContainerStatus until EXITED, RemoveContainer,
 * StopPodSandbox, RemovePodSandbox. It then reads events until the sandbox's
 * CONTAINER_DELETED_EVENT (plus --linger-ms for late ones) or --timeout, and
 * writes every event received as one JSON line, then
 * {"type":"lifecycle-done",...}. Exit 0 when every lifecycle call succeeded
 * (the events are for the caller to judge), 1 otherwise, 2 on bad usage.
 *
 * --drain is for containerd 1.7, whose GetContainerEvents hands each event to
 * ONE subscriber (one channel, no broadcast; containerd issue 7318) and whose
 * handler for a stream the client has closed stays parked on that channel
 * until it takes one more event, fails to send it and returns. Every stream
 * closed earlier on that containerd therefore swallows one future event. With
 * --drain the tool first runs a throwaway pod "<pod-name>-drain" (creating and
 * removing a container in it, never started) until one of its events reaches
 * this stream: Go channel receivers are served in order, so every stale
 * handler queued before ours has then taken its event and gone.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "upstream_cri.h"

#define CALL_TIMEOUT_MS 60000
#define STATUS_TIMEOUT_MS 10000
#define EXIT_WAIT_MS 30000
#define DRAIN_MAX_ROUNDS 500

struct opts {
	const char *endpoint, *image, *events_out, *pod_name, *ns;
	int exit_code, timeout_s, settle_ms, linger_ms;
	bool drain;
};

/* The kubelet's shapes of a pod and its one container (all storage inline). */
struct pod {
	Runtime__V1__PodSandboxConfig cfg;
	Runtime__V1__PodSandboxMetadata meta;
	Runtime__V1__LinuxPodSandboxConfig linux_cfg;
	Runtime__V1__LinuxSandboxSecurityContext sec;
	Runtime__V1__NamespaceOption nsopt;
	Runtime__V1__PodSandboxConfig__LabelsEntry label[3], *labels[3];
	char uid[37], name[64], ns[64], cgroup_parent[128];
};

struct ctr {
	Runtime__V1__ContainerConfig cfg;
	Runtime__V1__ContainerMetadata meta;
	Runtime__V1__ImageSpec image;
	Runtime__V1__LinuxContainerConfig linux_cfg;
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__LinuxContainerSecurityContext sec;
	Runtime__V1__NamespaceOption nsopt;
	Runtime__V1__ContainerConfig__LabelsEntry label[4], *labels[4];
	char *argv[4];
	char script[64];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: upstream-cri -r ENDPOINT lifecycle [--exit-code N] [--image REF]\n"
		"                    [--events-out FILE] [--timeout S] [--settle-ms MS]\n"
		"                    [--linger-ms MS] [--pod-name NAME] [--namespace NS]\n"
		"                    [--drain]\n"
		"Opens GetContainerEvents on ENDPOINT (unix:///path or /path), runs one pod's\n"
		"lifecycle with a container exiting N (default 3), then writes every event\n"
		"received as a JSON line to FILE (default stdout), ending with a\n"
		"\"lifecycle-done\" line. Events are read until the sandbox's DELETED event\n"
		"(then --linger-ms more, default 500) or --timeout (default 20 s);\n"
		"--settle-ms (default 300) is the pause between opening the stream and the\n"
		"first call. Image default localhost/kpleg/test:1. --drain: first run a\n"
		"throwaway pod until one of its events arrives (containerd 1.7 hands each\n"
		"event to one subscriber, and a closed stream's handler still takes one);\n"
		"its events are written too, with a \"drain-done\" line.\n");
}

static int parse_int(const char *s, int min, int max, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static void uuid4(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		srandom((unsigned)(t.tv_nsec ^ getpid()));
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)random();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* Host network, a pid namespace per container, the pod's IPC: the kubelet's
 * defaults for a hostNetwork pod without shareProcessNamespace. */
static void kubelet_namespaces(Runtime__V1__NamespaceOption *o)
{
	runtime__v1__namespace_option__init(o);
	o->network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	o->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	o->ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
}

static int pod_init(struct pod *p, const char *name, const char *ns)
{
	static const char *const keys[] = { "io.kubernetes.pod.name",
					    "io.kubernetes.pod.namespace",
					    "io.kubernetes.pod.uid" };

	memset(p, 0, sizeof(*p));
	if (strlen(name) >= sizeof(p->name) || strlen(ns) >= sizeof(p->ns))
		return -EINVAL;
	uuid4(p->uid);
	strcpy(p->name, name);
	strcpy(p->ns, ns);
	snprintf(p->cgroup_parent, sizeof(p->cgroup_parent), "/kubepods/besteffort/pod%s",
		 p->uid);
	runtime__v1__pod_sandbox_config__init(&p->cfg);
	runtime__v1__pod_sandbox_metadata__init(&p->meta);
	runtime__v1__linux_pod_sandbox_config__init(&p->linux_cfg);
	runtime__v1__linux_sandbox_security_context__init(&p->sec);
	p->meta.name = p->name;
	p->meta.uid = p->uid;
	p->meta.namespace_ = p->ns;
	p->meta.attempt = 0;
	p->cfg.metadata = &p->meta;
	for (int i = 0; i < 3; i++) {
		runtime__v1__pod_sandbox_config__labels_entry__init(&p->label[i]);
		p->label[i].key = (char *)keys[i];
		p->labels[i] = &p->label[i];
	}
	p->label[0].value = p->name;
	p->label[1].value = p->ns;
	p->label[2].value = p->uid;
	p->cfg.labels = p->labels;
	p->cfg.n_labels = 3;
	kubelet_namespaces(&p->nsopt);
	p->sec.namespace_options = &p->nsopt;
	p->linux_cfg.security_context = &p->sec;
	p->linux_cfg.cgroup_parent = p->cgroup_parent;
	p->cfg.linux = &p->linux_cfg;
	return 0;
}

static void ctr_init(struct ctr *c, struct pod *p, const char *image, int exit_code)
{
	static const char *const keys[] = { "io.kubernetes.pod.name",
					    "io.kubernetes.pod.namespace",
					    "io.kubernetes.pod.uid",
					    "io.kubernetes.container.name" };

	memset(c, 0, sizeof(*c));
	snprintf(c->script, sizeof(c->script), "sleep 0.3; exit %d", exit_code);
	c->argv[0] = (char *)"/bin/sh";
	c->argv[1] = (char *)"-c";
	c->argv[2] = c->script;
	runtime__v1__container_config__init(&c->cfg);
	runtime__v1__container_metadata__init(&c->meta);
	runtime__v1__image_spec__init(&c->image);
	runtime__v1__linux_container_config__init(&c->linux_cfg);
	runtime__v1__linux_container_resources__init(&c->res);
	runtime__v1__linux_container_security_context__init(&c->sec);
	c->meta.name = (char *)"app";
	c->image.image = (char *)image;
	c->cfg.metadata = &c->meta;
	c->cfg.image = &c->image;
	c->cfg.command = c->argv;
	c->cfg.n_command = 3;
	for (int i = 0; i < 4; i++) {
		runtime__v1__container_config__labels_entry__init(&c->label[i]);
		c->label[i].key = (char *)keys[i];
		c->labels[i] = &c->label[i];
	}
	c->label[0].value = p->name;
	c->label[1].value = p->ns;
	c->label[2].value = p->uid;
	c->label[3].value = (char *)"app";
	c->cfg.labels = c->labels;
	c->cfg.n_labels = 4;
	c->linux_cfg.resources = &c->res;
	kubelet_namespaces(&c->nsopt);
	c->sec.namespace_options = &c->nsopt;
	c->linux_cfg.security_context = &c->sec;
	c->cfg.linux = &c->linux_cfg;
}

/* ---- the calls ------------------------------------------------------------ */

static int run_pod_sandbox(struct uc_conn *c, struct pod *p, char **ret_id, struct uc_err *e)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RunPodSandboxResponse *resp = NULL;
	int r;

	req.config = &p->cfg;
	r = uc_unary(c, "RunPodSandbox", &req.base,
		     &runtime__v1__run_pod_sandbox_response__descriptor, CALL_TIMEOUT_MS,
		     (ProtobufCMessage **)&resp, e);
	if (r < 0)
		return r;
	if (!*resp->pod_sandbox_id)
		r = uc_fail(e, GRPC_STATUS_OK, "RunPodSandbox: the reply has no id");
	else if (!(*ret_id = strdup(resp->pod_sandbox_id)))
		r = uc_fail(e, GRPC_STATUS_OK, "out of memory");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static int create_container(struct uc_conn *c, const char *sandbox_id, struct pod *p,
			    struct ctr *ct, char **ret_id, struct uc_err *e)
{
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__CreateContainerResponse *resp = NULL;
	int r;

	req.pod_sandbox_id = (char *)sandbox_id;
	req.config = &ct->cfg;
	req.sandbox_config = &p->cfg;
	r = uc_unary(c, "CreateContainer", &req.base,
		     &runtime__v1__create_container_response__descriptor, CALL_TIMEOUT_MS,
		     (ProtobufCMessage **)&resp, e);
	if (r < 0)
		return r;
	if (!*resp->container_id)
		r = uc_fail(e, GRPC_STATUS_OK, "CreateContainer: the reply has no id");
	else if (!(*ret_id = strdup(resp->container_id)))
		r = uc_fail(e, GRPC_STATUS_OK, "out of memory");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

/* The calls that take one id and answer an empty message. */
static int call_by_id(struct uc_conn *c, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, struct uc_err *e)
{
	ProtobufCMessage *resp = NULL;
	int r = uc_unary(c, method, req, resp_desc, CALL_TIMEOUT_MS, &resp, e);

	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return r;
}

static int start_container(struct uc_conn *c, const char *id, struct uc_err *e)
{
	Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;

	req.container_id = (char *)id;
	return call_by_id(c, "StartContainer", &req.base,
			  &runtime__v1__start_container_response__descriptor, e);
}

static int remove_container(struct uc_conn *c, const char *id, struct uc_err *e)
{
	Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;

	req.container_id = (char *)id;
	return call_by_id(c, "RemoveContainer", &req.base,
			  &runtime__v1__remove_container_response__descriptor, e);
}

static int stop_pod_sandbox(struct uc_conn *c, const char *id, struct uc_err *e)
{
	Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;

	req.pod_sandbox_id = (char *)id;
	return call_by_id(c, "StopPodSandbox", &req.base,
			  &runtime__v1__stop_pod_sandbox_response__descriptor, e);
}

static int remove_pod_sandbox(struct uc_conn *c, const char *id, struct uc_err *e)
{
	Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;

	req.pod_sandbox_id = (char *)id;
	return call_by_id(c, "RemovePodSandbox", &req.base,
			  &runtime__v1__remove_pod_sandbox_response__descriptor, e);
}

/* Polls ContainerStatus every 50 ms until the container has exited. */
static int wait_exited(struct uc_conn *c, const char *id, int *ret_code, struct uc_err *e)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	struct timespec pause = { .tv_nsec = 50 * 1000000 };
	char buf[32];
	int waited = 0;

	req.container_id = (char *)id;
	for (;;) {
		Runtime__V1__ContainerStatusResponse *resp = NULL;
		int r = uc_unary(c, "ContainerStatus", &req.base,
				 &runtime__v1__container_status_response__descriptor,
				 STATUS_TIMEOUT_MS, (ProtobufCMessage **)&resp, e);
		int state;

		if (r < 0)
			return r;
		if (!resp->status) {
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			return uc_fail(e, GRPC_STATUS_OK, "ContainerStatus: the reply has no status");
		}
		state = resp->status->state;
		*ret_code = resp->status->exit_code;
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)
			return 0;
		if (interrupted)
			return uc_fail(e, GRPC_STATUS_OK, "interrupted by signal %d",
				       (int)interrupted);
		if (waited >= EXIT_WAIT_MS)
			return uc_fail(e, GRPC_STATUS_OK,
				       "ContainerStatus: still %s after %d s",
				       uc_enum_name(&runtime__v1__container_state__descriptor,
						    state, buf, sizeof(buf)),
				       EXIT_WAIT_MS / 1000);
		nanosleep(&pause, NULL);
		waited += 50;
	}
}

struct result {
	char *sandbox_id, *container_id;
	int exit_code;
};

#define STEP(call)                                                                  \
	do {                                                                        \
		if (interrupted)                                                    \
			return uc_fail(e, GRPC_STATUS_OK, "interrupted by signal %d", \
				       (int)interrupted);                           \
		if ((call) < 0)                                                     \
			return -EIO;                                                \
	} while (0)

static int lifecycle(struct uc_conn *c, struct pod *p, struct ctr *ct, struct result *res,
		     struct uc_err *e)
{
	STEP(run_pod_sandbox(c, p, &res->sandbox_id, e));
	STEP(create_container(c, res->sandbox_id, p, ct, &res->container_id, e));
	STEP(start_container(c, res->container_id, e));
	STEP(wait_exited(c, res->container_id, &res->exit_code, e));
	STEP(remove_container(c, res->container_id, e));
	STEP(stop_pod_sandbox(c, res->sandbox_id, e));
	STEP(remove_pod_sandbox(c, res->sandbox_id, e));
	return 0;
}

/* After a failure: leave nothing behind on the runtime. */
static void cleanup_pod(struct uc_conn *c, const struct result *res)
{
	struct uc_err ignored;

	if (res->container_id)
		remove_container(c, res->container_id, &ignored);
	if (res->sandbox_id) {
		stop_pod_sandbox(c, res->sandbox_id, &ignored);
		remove_pod_sandbox(c, res->sandbox_id, &ignored);
	}
}

struct drain {
	char *sandbox_id;
	int rounds;    /* containers created and removed in the drain pod */
	int generated; /* its events by the time one had reached us (at most) */
};

/* See --drain at the top. */
static int drain(struct uc_conn *c, struct uc_events *ev, const struct opts *o, struct drain *d,
		 struct uc_err *e)
{
	struct uc_err ignored;
	struct pod p;
	struct ctr ct;
	char name[64];
	int r;

	snprintf(name, sizeof(name), "%.50s-drain", o->pod_name);
	if (pod_init(&p, name, o->ns) < 0)
		return uc_fail(e, GRPC_STATUS_OK, "drain: --namespace too long");
	ctr_init(&ct, &p, o->image, 0);
	STEP(run_pod_sandbox(c, &p, &d->sandbox_id, e));
	d->generated = 2; /* CREATED, STARTED */
	for (r = 0; !uc_events_wait_about(ev, d->sandbox_id, 100) && r == 0;) {
		char *cid = NULL;

		if (uc_events_ended(ev, e))
			r = -EIO;
		else if (interrupted)
			r = uc_fail(e, GRPC_STATUS_OK, "interrupted by signal %d", (int)interrupted);
		else if (d->rounds >= DRAIN_MAX_ROUNDS)
			r = uc_fail(e, GRPC_STATUS_OK,
				    "drain: none of %d events of the drain pod reached the stream",
				    d->generated);
		else if ((r = create_container(c, d->sandbox_id, &p, &ct, &cid, e)) == 0) {
			r = remove_container(c, cid, e);
			free(cid);
			d->rounds++;
			d->generated += 2; /* CREATED, DELETED */
		}
	}
	/* Removed whatever happened; a failure here only counts without an earlier one. */
	if (stop_pod_sandbox(c, d->sandbox_id, r < 0 ? &ignored : e) < 0 && r == 0)
		r = -EIO;
	if (remove_pod_sandbox(c, d->sandbox_id, r < 0 ? &ignored : e) < 0 && r == 0)
		r = -EIO;
	/* Its last events come before the real pod's first. */
	if (r == 0)
		uc_events_wait_deleted(ev, d->sandbox_id, 5000);
	return r;
}

static void write_json(FILE *out, json_object *o)
{
	fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void write_drain(FILE *out, const struct drain *d)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("drain-done"));
	json_object_object_add(o, "sandbox_id", json_object_new_string(d->sandbox_id));
	json_object_object_add(o, "rounds", json_object_new_int(d->rounds));
	json_object_object_add(o, "events_generated", json_object_new_int(d->generated));
	write_json(out, o);
}

static void write_done(FILE *out, const struct pod *p, const struct result *res)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("lifecycle-done"));
	json_object_object_add(o, "sandbox_id", json_object_new_string(res->sandbox_id));
	json_object_object_add(o, "container_id", json_object_new_string(res->container_id));
	json_object_object_add(o, "pod_uid", json_object_new_string(p->uid));
	json_object_object_add(o, "pod_name", json_object_new_string(p->name));
	json_object_object_add(o, "namespace", json_object_new_string(p->ns));
	json_object_object_add(o, "exit_code", json_object_new_int(res->exit_code));
	write_json(out, o);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "exit-code", required_argument, NULL, 'x' },
		{ "image", required_argument, NULL, 'i' },
		{ "events-out", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "settle-ms", required_argument, NULL, 's' },
		{ "linger-ms", required_argument, NULL, 'l' },
		{ "pod-name", required_argument, NULL, 'p' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "drain", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static char default_name[64];
	int ch, idx = -1, bad = 0;

	snprintf(default_name, sizeof(default_name), "upstream-cri-%d", (int)getpid());
	*o = (struct opts){ .image = "localhost/kpleg/test:1", .pod_name = default_name,
			    .ns = "kpleg-upstream-cri", .exit_code = 3, .timeout_s = 20,
			    .settle_ms = 300, .linger_ms = 500 };
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":r:h", longopts, &idx)) != -1) {
		switch (ch) {
		case 'r': o->endpoint = optarg; break;
		case 'x': bad |= parse_int(optarg, 0, 255, &o->exit_code); break;
		case 'i': o->image = optarg; break;
		case 'o': o->events_out = optarg; break;
		case 't': bad |= parse_int(optarg, 1, 3600, &o->timeout_s); break;
		case 's': bad |= parse_int(optarg, 0, 60000, &o->settle_ms); break;
		case 'l': bad |= parse_int(optarg, 0, 60000, &o->linger_ms); break;
		case 'p': o->pod_name = optarg; break;
		case 'n': o->ns = optarg; break;
		case 'd': o->drain = true; break;
		case 'h': usage(stdout); exit(0);
		case ':':
			fprintf(stderr, "upstream-cri: %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "upstream-cri: unknown option %s\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "upstream-cri: bad value \"%s\" for --%s\n", optarg,
				longopts[idx].name);
			return -EINVAL;
		}
		idx = -1;
	}
	if (!o->endpoint) {
		fprintf(stderr, "upstream-cri: -r ENDPOINT is required\n");
		return -EINVAL;
	}
	if (optind + 1 != argc || strcmp(argv[optind], "lifecycle")) {
		fprintf(stderr, "upstream-cri: expected the one command \"lifecycle\"\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct uc_events *events = NULL;
	struct result res = { 0 };
	struct drain dr = { 0 };
	struct uc_conn conn;
	struct uc_err e = { 0 };
	struct opts o;
	struct pod pod;
	struct ctr ct;
	FILE *out = stdout;
	bool deleted = false, told_end = false;
	int r, rc = 1;

	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: upstream-cri -r ENDPOINT lifecycle [OPTIONS] (--help)\n");
		return 2;
	}
	if (pod_init(&pod, o.pod_name, o.ns) < 0) {
		fprintf(stderr, "upstream-cri: --pod-name or --namespace too long\n");
		return 2;
	}
	ctr_init(&ct, &pod, o.image, o.exit_code);
	if (o.events_out && !(out = fopen(o.events_out, "we"))) {
		fprintf(stderr, "upstream-cri: %s: %s\n", o.events_out, strerror(errno));
		return 1;
	}
	r = uc_conn_open(&conn, o.endpoint);
	if (r < 0) {
		fprintf(stderr, "upstream-cri: bad endpoint \"%s\": %s\n", o.endpoint,
			strerror(-r));
		if (out != stdout)
			fclose(out);
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (uc_events_open(&conn, &events, &e) < 0) {
		fprintf(stderr, "upstream-cri: %s\n", e.msg);
		goto out;
	}
	/* Give the server time to subscribe: a Go gRPC server sends no headers
	 * before the first event, so nothing on the wire says it has. (--drain
	 * proves it instead.) */
	if (o.settle_ms > 0 && !o.drain)
		nanosleep(&(struct timespec){ .tv_sec = o.settle_ms / 1000,
					      .tv_nsec = (o.settle_ms % 1000) * 1000000L },
			  NULL);
	/* A stream refused at once (containerd 1.6: UNIMPLEMENTED) is worth a
	 * line; the lifecycle still runs and the caller judges the events. */
	if ((told_end = uc_events_ended(events, &e)))
		fprintf(stderr, "upstream-cri: %s\n", e.msg);
	else if (o.drain && drain(&conn, events, &o, &dr, &e) < 0) {
		fprintf(stderr, "upstream-cri: %s\n", e.msg);
		goto out;
	}

	if (lifecycle(&conn, &pod, &ct, &res, &e) < 0) {
		fprintf(stderr, "upstream-cri: %s\n", e.msg);
		cleanup_pod(&conn, &res);
		if (res.sandbox_id)
			uc_events_wait_deleted(events, res.sandbox_id, 2000);
		goto out;
	}
	deleted = uc_events_wait_deleted(events, res.sandbox_id, o.timeout_s * 1000);
	if (deleted && o.linger_ms > 0)
		nanosleep(&(struct timespec){ .tv_sec = o.linger_ms / 1000,
					      .tv_nsec = (o.linger_ms % 1000) * 1000000L },
			  NULL);
	else if (!deleted && !uc_events_ended(events, &e))
		fprintf(stderr,
			"upstream-cri: no CONTAINER_DELETED_EVENT for the sandbox within %d s\n",
			o.timeout_s);
	else if (!deleted && !told_end)
		fprintf(stderr, "upstream-cri: %s\n", e.msg);
	rc = 0;
out:
	if (events) {
		const char *ours[3] = { res.sandbox_id ? res.sandbox_id : dr.sandbox_id,
					res.sandbox_id ? dr.sandbox_id : NULL, NULL };

		uc_events_stop(events);
		uc_events_write(events, out, ours);
	}
	if (dr.sandbox_id)
		write_drain(out, &dr);
	if (rc == 0)
		write_done(out, &pod, &res);
	r = fflush(out);
	if (out != stdout && fclose(out) != 0)
		r = EOF;
	if (r == EOF) {
		fprintf(stderr, "upstream-cri: writing the events: %s\n", strerror(errno));
		rc = 1;
	}
	uc_events_free(events);
	uc_conn_close(&conn);
	free(res.sandbox_id);
	free(res.container_id);
	free(dr.sandbox_id);
	return rc;
}
