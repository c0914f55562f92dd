// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg trace: for every container and sandbox transition on the node during
 * a window, the time each source saw it, as CSV (columns in docs/TRACE.md).
 *
 * Three trackers watch the same runtime in this one process, each through one
 * source, and their events are joined by (object id, transition) in
 * trace_join.c: a generic tracker (relist every 1 s), an evented tracker
 * (the CRI event stream, only where the runtime has one) and an auto tracker
 * with the event stream off (kernel hints, the runtime's word after each
 * hint, a 10 s relist). Each time is when that tracker delivered the event
 * to its subscriber, read on CLOCK_MONOTONIC in the callback; the kernel's
 * own time comes with the auto tracker's events.
 *
 * A row is written once every tracker has reported its transition, or
 * LINGER_MS after the first report; when the window ends, open rows get
 * DRAIN_MS more, and SIGINT/SIGTERM write them at once: the file is a valid
 * CSV however the trace ends (short of SIGKILL).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli.h"
#include "kpleg/kpleg.h"
#include "log.h"
#include "trace_csv.h"
#include "trace_join.h"
#include "util.h"

#define PREFLIGHT_TIMEOUT_MS 3000
#define SYNC_TIMEOUT_MS 30000
/* containerd 1.7's stream counts as up after 200 ms quiet (event_source.c). */
#define STREAM_WAIT_MS 3000
/* The slowest source is the auto tracker's 10 s relist (a container created
 * but never started); past that a source is not coming. */
#define LINGER_MS 12000
/* After the window: the 1 s relist and a confirmation are in by then. */
#define DRAIN_MS 3000
#define TICK_MS 200
#define LOOKUPS_PER_TICK 64
#define MAX_DURATION_S (7UL * 86400)

struct trace_opts {
	const char *endpoint, *output, *controller;
	unsigned long duration_s; /* 0: until a signal */
};

struct source {
	struct join *j;
	enum trace_src src;
	struct kpleg_tracker *t;
	struct kpleg_subscription *sub;
};

struct trace {
	const struct trace_opts *o;
	struct source s[TRACE_SRC_N];
	struct join *j;
	FILE *out;
	int sfd, efd;
	int64_t real_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
	size_t rows_written;
};

static const char *const src_names[TRACE_SRC_N] = { "generic", "evented", "auto" };

static void trace_usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg trace -o FILE.csv [OPTIONS]\n\n"
		"Records, for every container and sandbox transition on the node, when each\n"
		"source saw it: the kernel (BPF), kpleg's kernel hint, the runtime's CRI event\n"
		"stream, a 1 s relist, and the runtime's confirmation after a hint; with the\n"
		"runtime's own timestamp. CLOCK_MONOTONIC ns, one row per transition, columns\n"
		"in docs/TRACE.md. Runs until the duration ends or SIGINT/SIGTERM; `kpleg\n"
		"report FILE.csv` turns the file into percentiles and a plot.\n\n"
		"  -o, --output FILE         the CSV to write (required; replaced)\n"
		"  -d, --duration S          seconds to record (default: until a signal)\n"
		"  -r, --runtime-endpoint E  CRI socket, unix:///path or /path (default: the first\n"
		"                            of containerd's and CRI-O's usual sockets that exists)\n"
		"      --cgroup-controller C cgroup hierarchy the hints watch: unified (v2) or a\n"
		"                            v1 controller such as memory (default: v2 if it\n"
		"                            holds kubepods, else memory)\n"
		"  -v, --v N                 log verbosity, 0-10 (default 0)\n"
		"  -h, --help                this text\n\n"
		"containerd 1.7 hands each event to one subscriber: another events client on\n"
		"the node (a kubelet with EventedPLEG, kpleg watch) takes events from the trace.\n");
}

static int apply_opt(int opt, const char *arg, void *ctx)
{
	struct trace_opts *o = ctx;

	switch (opt) {
	case 'o': o->output = arg; return 0;
	case 'd': return cli_parse_uint("--duration", arg, MAX_DURATION_S, &o->duration_s);
	case 'r': o->endpoint = arg; return 0;
	case 'C': return cli_parse_controller("trace", arg, &o->controller);
	case 'v': return cli_parse_verbosity(arg);
	default: return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct trace_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "cgroup-controller", required_argument, NULL, 'C' },
		{ "v", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const struct cli_getopt g = { .cmd = "trace", .optstring = ":o:d:r:v:h", .opts = opts,
				      .apply = apply_opt, .usage = trace_usage };

	if (cli_getopt(&g, argc, argv, o, ret_exit) < 0)
		return -1;
	if (!o->output || !*o->output) {
		fprintf(stderr, "kpleg trace: -o FILE is required (see kpleg trace --help)\n");
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	return 0;
}

/* ---- the trackers ---------------------------------------------------------------- */

static void on_event(const struct kpleg_event *ev, void *userdata)
{
	const struct source *s = userdata;

	join_event(s->j, s->src, ev, kpleg_now_mono_ns());
}

static int source_start(struct trace *tr, enum trace_src src, const char *target)
{
	struct source *s = &tr->s[src];
	struct kpleg_config cfg;
	int r;

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = target;
	cfg.mode = src == TRACE_SRC_GENERIC ? KPLEG_MODE_GENERIC
		   : src == TRACE_SRC_EVENTED ? KPLEG_MODE_EVENTED
					      : KPLEG_MODE_AUTO;
	cfg.disable_events = src == TRACE_SRC_AUTO;
	cfg.disable_bpf = src != TRACE_SRC_AUTO;
	cfg.cgroup_controller = tr->o->controller;
	s->j = tr->j;
	s->src = src;
	r = kpleg_tracker__new(&cfg, &s->t);
	if (r == 0)
		r = kpleg_tracker__subscribe(s->t, on_event, s, &s->sub);
	if (r == 0)
		r = kpleg_tracker__start(s->t);
	if (r < 0)
		fprintf(stderr, "kpleg trace: cannot start the %s tracker: %s\n", src_names[src],
			strerror(-r));
	return r;
}

static void source_stop(struct source *s)
{
	if (!s->t)
		return;
	kpleg_tracker__stop(s->t);
	kpleg_subscription__free(s->sub);
	kpleg_tracker__free(s->t);
	s->sub = NULL;
	s->t = NULL;
}

/* Whether the evented tracker's stream comes up: containerd 1.6 answers
 * UNIMPLEMENTED at once, 1.7 is up after 200 ms. */
static bool stream_up(struct kpleg_tracker *t)
{
	uint64_t end = kpleg_now_mono_ns() + STREAM_WAIT_MS * NSEC_PER_MSEC;
	struct kpleg_health h;

	do {
		kpleg_tracker__health(t, &h);
		if (h.events_connected)
			return true;
		usleep(20000);
	} while (kpleg_now_mono_ns() < end);
	return false;
}

/* Starts every tracker and waits for their first syncs; the evented one is
 * dropped when the runtime has no event stream. Returns the mask of trackers
 * running, or -1 after one clear line. */
static int sources_start(struct trace *tr, const char *target)
{
	unsigned mask = 0;
	struct kpleg_health h;

	for (int i = 0; i < TRACE_SRC_N; i++) {
		if (source_start(tr, i, target) < 0)
			return -1;
		mask |= 1u << i;
	}
	for (int i = 0; i < TRACE_SRC_N; i++)
		if (kpleg_tracker__wait_synced(tr->s[i].t, SYNC_TIMEOUT_MS) < 0) {
			fprintf(stderr, "kpleg trace: the %s tracker did not finish its first relist "
					"of %s within %d s\n", src_names[i], target,
				SYNC_TIMEOUT_MS / 1000);
			return -1;
		}
	if (!stream_up(tr->s[TRACE_SRC_EVENTED].t)) {
		log_info("\"The runtime has no CRI event stream (or it is not up); "
			 "cri_event_mono_ns stays empty\"");
		source_stop(&tr->s[TRACE_SRC_EVENTED]);
		mask &= ~(1u << TRACE_SRC_EVENTED);
	}
	kpleg_tracker__health(tr->s[TRACE_SRC_AUTO].t, &h);
	if (!h.bpf_active)
		log_warn("\"Kernel hints are not active; kernel_mono_ns and hint_mono_ns stay "
			 "empty\" bpf=\"%s\"", h.bpf_state);
	return (int)mask;
}

/* ---- rows ------------------------------------------------------------------------ */

static int64_t runtime_real_ns(const struct kpleg_pod_status *p, const struct join_lookup *l)
{
	if (l->transition == KPLEG_EVENT_SANDBOX_READY) {
		for (size_t i = 0; i < p->n_sandboxes; i++)
			if (!strcmp(p->sandboxes[i].id, l->id))
				return p->sandboxes[i].created_at;
		return 0;
	}
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct kpleg_container_status *c = &p->containers[i];

		if (strcmp(c->id, l->id))
			continue;
		return l->transition == KPLEG_EVENT_CONTAINER_CREATED ? c->created_at
		       : l->transition == KPLEG_EVENT_CONTAINER_STARTED ? c->started_at
									 : c->finished_at;
	}
	return 0;
}

/* The runtime's own timestamps, from the cache of the tracker that reported
 * the transition (a runtime-only one), moved to CLOCK_MONOTONIC. */
static void lookup_runtime_times(struct trace *tr)
{
	struct join_lookup l[LOOKUPS_PER_TICK];
	size_t n = join_take_lookups(tr->j, l, ARRAY_SIZE(l));

	for (size_t i = 0; i < n; i++) {
		struct kpleg_tracker *t = tr->s[l[i].src].t;
		struct kpleg_pod_status *p = NULL;
		int64_t real = 0, mono = TRACE_NONE;

		if (t && kpleg_tracker__get_pod(t, l[i].pod_uid, &p) == 0)
			real = runtime_real_ns(p, &l[i]);
		kpleg_pod_status__free(p);
		if (real > 0 && real - tr->real_offset_ns >= 0)
			mono = real - tr->real_offset_ns;
		join_set_runtime(tr->j, &l[i], mono);
	}
}

static int write_row(const struct trace_row *r, void *ctx)
{
	struct trace *tr = ctx;
	int err;

	errno = 0;
	err = trace_csv_write_row(tr->out, r);
	if (err < 0)
		return errno ? -errno : err;
	tr->rows_written++;
	return 0;
}

/* Writes the rows that are due (all of them with @all) and flushes the file. */
static int write_rows(struct trace *tr, bool all)
{
	int r;

	lookup_runtime_times(tr);
	r = join_flush(tr->j, kpleg_now_mono_ns(), LINGER_MS * NSEC_PER_MSEC, all, write_row, tr);
	if (r == 0 && fflush(tr->out) != 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "kpleg trace: cannot write \"%s\": %s\n", tr->o->output,
			strerror(-r));
	return r;
}

/* ---- the loop -------------------------------------------------------------------- */

/* Runs until the window and its drain end or a signal comes; 0 or -errno. */
static int trace_loop(struct trace *tr)
{
	struct pollfd pfd[2] = { { .fd = tr->sfd, .events = POLLIN },
				 { .fd = tr->efd, .events = POLLIN } };
	uint64_t end = tr->o->duration_s
			       ? kpleg_now_mono_ns() + tr->o->duration_s * NSEC_PER_SEC
			       : UINT64_MAX;
	bool closed = false;
	uint64_t v;
	int r, sig;

	for (;;) {
		r = poll(pfd, ARRAY_SIZE(pfd), TICK_MS);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && pfd[0].revents && (sig = cli_read_signal(tr->sfd))) {
			log_info("\"Stopping, writing the open rows\" signal=\"%s\"", strsignal(sig));
			return 0;
		}
		if (r > 0 && (pfd[1].revents & POLLIN) && read(tr->efd, &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			return -errno;
		if ((r = write_rows(tr, false)) < 0)
			return r;
		if (!closed && kpleg_now_mono_ns() >= end) {
			log_info("\"Window over, waiting up to %d ms for the slower sources\" "
				 "open=%zu", DRAIN_MS, join_open_rows(tr->j));
			join_close(tr->j);
			closed = true;
			end += DRAIN_MS * NSEC_PER_MSEC;
		} else if (closed && (!join_open_rows(tr->j) || kpleg_now_mono_ns() >= end)) {
			return 0;
		}
	}
}

static int open_output(struct trace *tr)
{
	tr->out = fopen(tr->o->output, "we");
	if (!tr->out || trace_csv_write_header(tr->out) < 0 || fflush(tr->out) != 0) {
		fprintf(stderr, "kpleg trace: cannot write \"%s\": %s\n", tr->o->output,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int run(struct trace *tr, const char *target)
{
	int mask, r;

	if ((r = join__new(tr->efd, &tr->j)) < 0) {
		fprintf(stderr, "kpleg trace: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	mask = sources_start(tr, target);
	if (mask < 0)
		return EXIT_FAIL;
	tr->real_offset_ns = (int64_t)(now_real_ns() - kpleg_now_mono_ns());
	join_start(tr->j, (unsigned)mask);
	log_info("\"Tracing\" endpoint=\"%s\" trackers=\"generic%s,auto\" duration=%lus "
		 "output=\"%s\"", target, mask & (1 << TRACE_SRC_EVENTED) ? ",evented" : "",
		 tr->o->duration_s, tr->o->output);
	r = trace_loop(tr);
	cli_signals_restore();
	if (r == 0)
		r = write_rows(tr, true);
	else
		fprintf(stderr, "kpleg trace: stopping: %s\n", strerror(-r));
	log_info("\"Trace written\" rows=%zu output=\"%s\"", tr->rows_written, tr->o->output);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}

int cmd_trace(int argc, char **argv)
{
	struct trace_opts o = { 0 };
	struct trace tr = { .o = &o, .sfd = -1, .efd = -1 };
	char target[128];
	int code;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	code = cli_runtime_endpoint(o.endpoint, target, sizeof(target));
	if (code)
		return code;
	/* Before anything starts a thread (gRPC does in the check below). */
	tr.sfd = cli_signals_open();
	tr.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (tr.sfd < 0 || tr.efd < 0) {
		fprintf(stderr, "kpleg trace: cannot set up signal handling: %s\n",
			strerror(tr.sfd < 0 ? -tr.sfd : errno));
		code = EXIT_FAIL;
		goto out;
	}
	/* The runtime first: a wrong endpoint leaves an existing file alone. */
	code = cli_check_runtime("trace", target, PREFLIGHT_TIMEOUT_MS);
	if (code == 0 && open_output(&tr) < 0)
		code = EXIT_FAIL;
	if (code == 0)
		code = run(&tr, target);
out:
	for (int i = 0; i < TRACE_SRC_N; i++)
		source_stop(&tr.s[i]);
	join__free(tr.j);
	if (tr.out && fclose(tr.out) != 0 && code == EXIT_OK) {
		fprintf(stderr, "kpleg trace: cannot write \"%s\": %s\n", o.output, strerror(errno));
		code = EXIT_FAIL;
	}
	if (tr.sfd >= 0)
		close(tr.sfd);
	if (tr.efd >= 0)
		close(tr.efd);
	return code;
}
