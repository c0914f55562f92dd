// SPDX-License-Identifier: Apache-2.0
/*
 * `kpleg daemon`: one tracker for the node, served to many consumers over
 * kpleg's own gRPC API (proto/kpleg.proto) on a unix socket that only root
 * and a configured uid/gid may use. SIGTERM/SIGINT stop it cleanly: watchers
 * are told, the socket is removed, the BPF programs are detached.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cri.h"
#include "cri_proxy.h"
#include "cri_proxy_events.h"
#include "daemon.h"
#include "daemon_metrics.h"
#include "log.h"
#include "privs.h"
#include "util.h"

#define MAX_PERIOD_MS 86400000UL
#define DEFAULT_MAX_WATCHERS 64
#define DEFAULT_REPLAY 4096
#define MAX_REPLAY 1000000

#define MAX_OWNED 32

struct daemon_opts {
	const char *endpoint, *socket, *controller, *config, *proxy_socket;
	char *owned[MAX_OWNED];	/* values copied out of the config file */
	unsigned n_owned;
	enum kpleg_mode mode;
	unsigned long relist_ms, max_watchers, replay;
	long allow_uid, allow_gid; /* -1: none */
	bool no_bpf;
	const char *metrics_address;	 /* NULL: no HTTP listener */
	struct sockaddr_storage metrics_addr;
	unsigned long health_ms;
};

static void usage(FILE *out)
{
	struct kpleg_config d;

	kpleg_config_init(&d);
	fprintf(out,
		"Usage: kpleg daemon [OPTIONS]\n\n"
		"Runs the tracker as a service and serves kpleg's API (proto/kpleg.proto:\n"
		"ListPods, GetPod, Watch, Status) on a unix socket, until SIGTERM or SIGINT.\n"
		"Logs go to stderr.\n\n"
		"  -r, --runtime-endpoint E  CRI socket, unix:///path or /path (default: the first\n"
		"                            of containerd's and CRI-O's usual sockets that exists)\n"
		"  -s, --socket PATH         the API socket, created 0660 (default %s)\n"
		"      --cri-proxy-socket P  also serve the CRI (RuntimeService, ImageService) on P,\n"
		"                            forwarding every call to the runtime except\n"
		"                            GetContainerEvents, answered from kpleg's state:\n"
		"                            events for runtimes that have none (default: off)\n"
		"      --allow-uid UID       besides root, this uid may use the socket (default: none)\n"
		"      --allow-gid GID       and this gid; also the socket's group (default: none)\n"
		"      --mode M              auto, generic or evented, as for kpleg watch (default auto)\n"
		"      --relist-period MS    relist period while no event stream is trusted\n"
		"                            (default %u)\n"
		"      --no-bpf              no kernel hints\n"
		"      --cgroup-controller C cgroup hierarchy the hints watch (default: v2 if it\n"
		"                            holds kubepods, else memory)\n"
		"      --max-watchers N      concurrent Watch streams (default %u)\n"
		"      --replay-buffer N     events kept for Watch to resume from (default %u)\n"
		"      --metrics-address A   serve /metrics (Prometheus), /healthz and /readyz\n"
		"                            over HTTP on A: IP:PORT, [IPv6]:PORT or :PORT\n"
		"                            (default: no HTTP listener)\n"
		"      --health-threshold MS unhealthy when no relist succeeded for MS\n"
		"                            (default %u)\n"
		"  -v, --v N                 log verbosity, 0-10 (default 0)\n"
		"  -c, --config FILE         options from FILE, one \"key = value\" per line, keys\n"
		"                            being the long option names (\"no-bpf = true\");\n"
		"                            options given here win over the file\n"
		"  -h, --help                this text\n",
		KPLEG_DEFAULT_SOCKET, d.relist_period_ms, DEFAULT_MAX_WATCHERS, DEFAULT_REPLAY,
		d.health_threshold_ms);
}

static int parse_id(const char *opt, const char *val, long *ret)
{
	unsigned long v;

	if (!strcmp(val, "0")) {
		*ret = 0;
		return 0;
	}
	if (cli_parse_uint(opt, val, UINT_MAX - 1, &v) < 0)
		return -EINVAL;
	*ret = (long)v;
	return 0;
}

static int parse_metrics_address(const char *arg, struct daemon_opts *o)
{
	char why[128];

	if (metrics_address_parse(arg, &o->metrics_addr, why, sizeof(why)) < 0) {
		fprintf(stderr, "kpleg daemon: invalid --metrics-address \"%s\": %s\n", arg, why);
		return -EINVAL;
	}
	o->metrics_address = arg;
	return 0;
}

static int parse_opt(int opt, const char *arg, struct daemon_opts *o)
{
	switch (opt) {
	case 'r': o->endpoint = arg; return 0;
	case 's': o->socket = arg; return 0;
	case 'P': o->proxy_socket = arg; return 0;
	case 'U': return parse_id("--allow-uid", arg, &o->allow_uid);
	case 'G': return parse_id("--allow-gid", arg, &o->allow_gid);
	case 'm':
		if (kpleg_mode_parse(arg, &o->mode) == 0)
			return 0;
		fprintf(stderr, "kpleg daemon: invalid --mode \"%s\": expected auto, generic or "
				"evented\n", arg);
		return -EINVAL;
	case 'p': return cli_parse_uint("--relist-period", arg, MAX_PERIOD_MS, &o->relist_ms);
	case 'B': o->no_bpf = true; return 0;
	case 'C': return cli_parse_controller("daemon", arg, &o->controller);
	case 'W': return cli_parse_uint("--max-watchers", arg, 4096, &o->max_watchers);
	case 'R': return cli_parse_uint("--replay-buffer", arg, MAX_REPLAY, &o->replay);
	case 'M': return parse_metrics_address(arg, o);
	case 'H': return cli_parse_uint("--health-threshold", arg, MAX_PERIOD_MS, &o->health_ms);
	case 'v': return cli_parse_verbosity(arg);
	default: return -EINVAL;
	}
}

static const struct cli_config_key config_keys[] = {
	{ .name = "runtime-endpoint", .opt = 'r' }, { .name = "socket", .opt = 's' },
	{ .name = "cri-proxy-socket", .opt = 'P' },
	{ .name = "allow-uid", .opt = 'U' }, { .name = "allow-gid", .opt = 'G' },
	{ .name = "mode", .opt = 'm' }, { .name = "relist-period", .opt = 'p' },
	{ .name = "no-bpf", .opt = 'B', .boolean = true },
	{ .name = "cgroup-controller", .opt = 'C' }, { .name = "max-watchers", .opt = 'W' },
	{ .name = "replay-buffer", .opt = 'R' }, { .name = "metrics-address", .opt = 'M' },
	{ .name = "health-threshold", .opt = 'H' }, { .name = "v", .opt = 'v' }, { .name = NULL },
};

/* A config file's value outlives the line it was read from. */
static int apply_config(int opt, const char *val, void *ctx)
{
	struct daemon_opts *o = ctx;
	char *copy;

	if (o->n_owned == MAX_OWNED) {
		fprintf(stderr, "kpleg daemon: more than %d values in the config file\n", MAX_OWNED);
		return -E2BIG;
	}
	if (!(copy = strdup(val)))
		return -ENOMEM;
	o->owned[o->n_owned++] = copy;
	return parse_opt(opt, copy, o);
}

static int apply_opt(int opt, const char *arg, void *ctx)
{
	return parse_opt(opt, arg, ctx);
}

static void opts_free(struct daemon_opts *o)
{
	for (unsigned i = 0; i < o->n_owned; i++)
		free(o->owned[i]);
}

static int parse_args(int argc, char **argv, struct daemon_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ "cri-proxy-socket", required_argument, NULL, 'P' },
		{ "allow-uid", required_argument, NULL, 'U' },
		{ "allow-gid", required_argument, NULL, 'G' },
		{ "mode", required_argument, NULL, 'm' },
		{ "relist-period", required_argument, NULL, 'p' },
		{ "no-bpf", no_argument, NULL, 'B' },
		{ "cgroup-controller", required_argument, NULL, 'C' },
		{ "max-watchers", required_argument, NULL, 'W' },
		{ "replay-buffer", required_argument, NULL, 'R' },
		{ "metrics-address", required_argument, NULL, 'M' },
		{ "health-threshold", required_argument, NULL, 'H' },
		{ "v", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const struct cli_getopt g = { .cmd = "daemon", .optstring = ":r:s:v:hc:", .opts = opts,
				      .apply = apply_opt, .usage = usage, .skip = 'c' };
	int opt;

	/* The file first, then the command line over it. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":r:s:v:hc:", opts, NULL)) != -1)
		if (opt == 'c')
			o->config = optarg;
	if (o->config && cli_config_load("daemon", o->config, config_keys, apply_config, o) < 0) {
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	return cli_getopt(&g, argc, argv, o, ret_exit);
}

/* The runtime's name and versions, for Status. */
static void runtime_version(struct daemon *d)
{
	Runtime__V1__VersionResponse *v = NULL;
	struct cri_client *c = cri_client__new(d->endpoint);
	struct cri_status st;

	if (c && cri_version(c, 5000, &v, &st) == 0) {
		snprintf(d->runtime_name, sizeof(d->runtime_name), "%s", v->runtime_name);
		snprintf(d->runtime_version, sizeof(d->runtime_version), "%s", v->runtime_version);
		snprintf(d->runtime_api_version, sizeof(d->runtime_api_version), "%s",
			 v->runtime_api_version);
	}
	cri_msg_free(v);
	cri_client__free(c);
}

/* mkdir -p of the socket's directory (0755), like /run/kpleg. */
static int make_parent(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *p;

	if (!dir)
		return -ENOMEM;
	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int tracker_up(struct daemon *d, const struct daemon_opts *o)
{
	struct kpleg_config cfg;
	int r;

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = d->endpoint;
	cfg.mode = o->mode;
	if (o->relist_ms)
		cfg.relist_period_ms = (unsigned)o->relist_ms;
	cfg.disable_bpf = o->no_bpf;
	cfg.cgroup_controller = o->controller;
	if (o->health_ms)
		cfg.health_threshold_ms = (unsigned)o->health_ms;
	r = kpleg_tracker__new(&cfg, &d->t);
	if (r == 0)
		r = kpleg_tracker__subscribe(d->t, daemon_on_event, d, &d->sub);
	if (r == 0)
		r = kpleg_tracker__start(d->t);
	if (r < 0)
		fprintf(stderr, "kpleg daemon: cannot start the tracker: %s\n", strerror(-r));
	return r;
}

static int api_up(struct daemon *d, const struct daemon_opts *o)
{
	struct rpc_server_opts so = {
		.path = o->socket,
		.allow_uid = o->allow_uid < 0 ? (uid_t)-1 : (uid_t)o->allow_uid,
		.allow_gid = o->allow_gid < 0 ? (gid_t)-1 : (gid_t)o->allow_gid,
		.max_calls = (unsigned)d->max_watchers + 32,
		.methods = daemon_api_methods,
		.n_methods = daemon_api_n_methods,
		.ctx = d,
	};
	int r = make_parent(o->socket);

	if (r == 0)
		r = rpc_server__start(&so, &d->api);
	if (r == -EADDRINUSE)
		fprintf(stderr, "kpleg daemon: another server answers on %s; not starting\n",
			o->socket);
	else if (r == -EEXIST)
		fprintf(stderr, "kpleg daemon: %s exists and is not a socket; not starting\n",
			o->socket);
	else if (r < 0)
		fprintf(stderr, "kpleg daemon: cannot serve on %s: %s\n", o->socket, strerror(-r));
	return r;
}

/* The CRI proxy, its events fed from the replay buffer. */
static int proxy_up(struct daemon *d, const struct daemon_opts *o)
{
	struct cri_proxy_opts po = {
		.socket_path = o->proxy_socket,
		.upstream = d->endpoint,
		.allow_uid = o->allow_uid < 0 ? (uid_t)-1 : (uid_t)o->allow_uid,
		.allow_gid = o->allow_gid < 0 ? (gid_t)-1 : (gid_t)o->allow_gid,
		.events_handler = proxy_events_serve,
		.on_forwarded = proxy_events_on_forwarded,
		.hook_ctx = d,
	};
	int r;

	if (!o->proxy_socket)
		return 0;
	r = make_parent(o->proxy_socket);
	if (r == 0)
		r = proxy_events__start(d, d->endpoint, 0, &d->pe);
	po.events_ctx = d->pe;
	if (r == 0)
		r = cri_proxy__start(&po, &d->proxy);
	if (r == -EADDRINUSE)
		fprintf(stderr, "kpleg daemon: another server answers on %s; not starting\n",
			o->proxy_socket);
	else if (r < 0)
		fprintf(stderr, "kpleg daemon: cannot serve the CRI proxy on %s: %s\n",
			o->proxy_socket, strerror(-r));
	else
		log_info("\"Serving the CRI proxy\" socket=\"%s\" upstream=\"%s\"",
			 o->proxy_socket, d->endpoint);
	return r;
}

/* Start-up is over (BPF loaded and attached, sockets bound and chowned):
 * from here on the daemon only reads cgroup handles, its maps and sockets
 * (docs/DEPLOY.md has the list and the reasons). */
static int privs_down(struct daemon *d)
{
	struct privs_keep keep[2];
	struct kpleg_health h;
	size_t n = 0;
	int r;

	kpleg_tracker__health(d->t, &h);
	if (h.bpf_active) {
		keep[n++] = (struct privs_keep){
			CAP_DAC_READ_SEARCH, "open_by_handle_at(2) names a cgroup whose "
			"creation hint the ring lost (kernel hints)" };
		if (privs_bpf_calls_need_cap())
			keep[n++] = (struct privs_keep){
				CAP_BPF, "this kernel (before 5.19, unprivileged_bpf_disabled "
				"set) checks it on every bpf() call: the exit-state and "
				"lost-counter reads and the map walk after a loss" };
	}
	r = privs_restrict(keep, n);
	if (r < 0)
		fprintf(stderr, "kpleg daemon: cannot drop privileges: %s\n", strerror(-r));
	return r;
}

/* --metrics-address: the port is taken before anything starts; served
 * after the tracker and the proxy, whose state it shows. */
static int http_bind(const struct daemon_opts *o, int *ret_fd)
{
	if (!o->metrics_address)
		return 0;
	*ret_fd = metrics_http_listen(&o->metrics_addr);
	if (*ret_fd >= 0)
		return 0;
	fprintf(stderr, "kpleg daemon: cannot serve metrics on %s: %s\n", o->metrics_address,
		strerror(-*ret_fd));
	return *ret_fd;
}

static int http_up(struct daemon *d, const struct daemon_opts *o, int *fd,
		   struct metrics_http **ret)
{
	int r;

	if (!o->metrics_address)
		return 0;
	r = daemon_metrics_start(d, TAKE_FD(*fd), ret);
	if (r < 0)
		fprintf(stderr, "kpleg daemon: cannot serve metrics on %s: %s\n",
			o->metrics_address, strerror(-r));
	else
		log_info("\"Serving metrics\" address=\"%s\" paths=\"/metrics /healthz /readyz\"",
			 o->metrics_address);
	return r;
}

static void daemon_down(struct daemon *d)
{
	proxy_events_close(d->pe);  /* event subscribers end with UNAVAILABLE */
	cri_proxy__free(d->proxy);  /* waits for its calls, removes its socket */
	proxy_events__free(d->pe);
	if (d->log)
		evlog_close(d->log); /* watchers end with UNAVAILABLE */
	rpc_server__free(d->api);
	kpleg_subscription__free(d->sub);
	kpleg_tracker__free(d->t); /* detaches the BPF programs */
	evlog__free(d->log);
	pthread_mutex_destroy(&d->lock);
}

static int serve(struct daemon *d, int sfd, const char *socket)
{
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };

	log_info("\"Serving\" socket=\"%s\" endpoint=\"%s\" mode=\"%s\"", socket, d->endpoint,
		 kpleg_mode_str(d->mode));
	for (;;) {
		int sig;

		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sig = cli_read_signal(sfd);
		if (sig) {
			log_info("\"Stopping\" signal=\"%s\"", strsignal(sig));
			return 0;
		}
	}
}

int cmd_daemon(int argc, char **argv)
{
	struct daemon_opts o = { .mode = KPLEG_MODE_AUTO, .socket = KPLEG_DEFAULT_SOCKET,
				 .allow_uid = -1, .allow_gid = -1 };
	struct daemon d = { 0 };
	struct metrics_http *http = NULL;
	_cleanup_close_ int sfd = -1, http_fd = -1;
	int r, code;

	r = parse_args(argc, argv, &o, &code);
	if (r == 0)
		r = cli_runtime_endpoint(o.endpoint, d.endpoint, sizeof(d.endpoint));
	if (r == 0)
		r = cli_check_runtime("daemon", d.endpoint, 5000);
	if (r) {
		opts_free(&o);
		return r < 0 ? code : r;
	}
	sfd = cli_signals_open();
	if (sfd < 0) {
		fprintf(stderr, "kpleg daemon: cannot set up signals: %s\n", strerror(-sfd));
		opts_free(&o);
		return EXIT_FAIL;
	}
	pthread_mutex_init(&d.lock, NULL);
	d.mode = o.mode;
	d.max_watchers = o.max_watchers ? (unsigned)o.max_watchers : DEFAULT_MAX_WATCHERS;
	d.start_mono_ns = kpleg_now_mono_ns();
	d.start_real_ns = now_real_ns();
	d.epoch = d.start_real_ns; /* a new number every run */
	runtime_version(&d);
	r = evlog__new(o.replay ? (unsigned)o.replay : DEFAULT_REPLAY, &d.log);
	if (r < 0) {
		fprintf(stderr, "kpleg daemon: cannot allocate the replay buffer: %s\n",
			strerror(-r));
		daemon_down(&d);
		opts_free(&o);
		return EXIT_FAIL;
	}
	/* The sockets first: a second daemon stops here before touching BPF. */
	r = http_bind(&o, &http_fd);
	if (r == 0)
		r = api_up(&d, &o);
	if (r == 0)
		r = tracker_up(&d, &o);
	if (r == 0)
		r = proxy_up(&d, &o);
	if (r == 0)
		r = http_up(&d, &o, &http_fd, &http);
	if (r == 0)
		r = privs_down(&d); /* the HTTP server's thread too */
	if (r == 0)
		r = serve(&d, sfd, o.socket);
	cli_signals_restore();
	metrics_http__free(http); /* first: it reads the tracker and the proxy */
	daemon_down(&d);
	if (r == 0)
		log_info("\"Stopped\" socket=\"%s\"", o.socket);
	opts_free(&o);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
