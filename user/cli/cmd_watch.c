// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg watch: runs the tracker in the foreground and prints one lifecycle
 * event per line (JSON schema in docs/EVENTS.md), plus a Health line each
 * time the tracker's health flips. SIGINT/SIGTERM stop it cleanly (exit 0);
 * they are blocked before any thread exists and read from a signalfd, so the
 * one poll() below sees events and signals alike. A second signal while
 * stopping kills the process the default way.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "kpleg/kpleg.h"
#include "log.h"
#include "output.h"
#include "util.h"

#define HEALTH_CHECK_MS 1000	/* how often health is looked at */
#define SYNC_CHECK_MS 100	/* ... until the first relist is done, to say so soon */
#define DRAIN_BATCH 256		/* events per wake-up before signals are looked at again */
#define PREFLIGHT_TIMEOUT_MS 3000
#define MAX_PERIOD_MS 86400000UL

struct watch_opts {
	const char *endpoint;
	enum kpleg_mode mode;
	bool json;
	unsigned long relist_ms, health_ms; /* 0: the library's default */
	bool no_bpf;
	const char *controller;		    /* NULL: the library picks */
};

/* What was last seen of the tracker's health, to report changes only. */
struct health_seen {
	bool healthy, synced, events_connected, relists_failing;
	uint64_t relists, relist_failures;
};

struct watch {
	const struct watch_opts *o;
	struct kpleg_tracker *t;
	struct kpleg_subscription *sub;
	int sfd;
	struct health_seen seen;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kpleg_tracker *, kpleg_tracker__free)

static void watch_usage(FILE *out)
{
	struct kpleg_config d;

	kpleg_config_init(&d);
	fprintf(out,
		"Usage: kpleg watch [OPTIONS]\n\n"
		"Runs the tracker in the foreground and prints one pod/container lifecycle\n"
		"event per line until SIGINT or SIGTERM (exit 0). Logs go to stderr.\n\n"
		"  -r, --runtime-endpoint E  CRI socket, unix:///path or /path (default: the first\n"
		"                            of containerd's and CRI-O's usual sockets that exists)\n"
		"      --mode M              auto (every source the node has), generic (relist\n"
		"                            only, like the kubelet's generic PLEG) or evented\n"
		"                            (CRI events + slow relist) (default auto)\n"
		"  -o, --output F            text (aligned columns) or json (one object per line,\n"
		"                            schema in docs/EVENTS.md) (default text)\n"
		"      --relist-period MS    relist period while no event stream is trusted\n"
		"                            (default %u)\n"
		"      --health-threshold MS unhealthy when no relist succeeded for this long\n"
		"                            (default %u)\n"
		"      --no-bpf              no kernel hints (auto mode loads BPF programs that\n"
		"                            see container processes start, exit and get\n"
		"                            OOM-killed, when the kernel and privileges allow)\n"
		"      --cgroup-controller C cgroup hierarchy the hints watch: unified (v2) or a\n"
		"                            v1 controller such as memory (default: v2 if it\n"
		"                            holds kubepods, else memory)\n"
		"  -v, --v N                 log verbosity, 0-10 (default 0)\n"
		"  -h, --help                this text\n",
		d.relist_period_ms, d.health_threshold_ms);
}

static int parse_output(const char *val, bool *json)
{
	if (strcmp(val, "json") && strcmp(val, "text")) {
		fprintf(stderr, "kpleg watch: invalid --output \"%s\": expected json or text\n", val);
		return -EINVAL;
	}
	*json = !strcmp(val, "json");
	return 0;
}

static int parse_mode(const char *val, enum kpleg_mode *mode)
{
	if (kpleg_mode_parse(val, mode) < 0) {
		fprintf(stderr, "kpleg watch: invalid --mode \"%s\": expected auto, generic or "
				"evented\n", val);
		return -EINVAL;
	}
	return 0;
}

static int parse_opt(int opt, const char *arg, struct watch_opts *o)
{
	switch (opt) {
	case 'r': o->endpoint = arg; return 0;
	case 'm': return parse_mode(arg, &o->mode);
	case 'o': return parse_output(arg, &o->json);
	case 'p': return cli_parse_uint("--relist-period", arg, MAX_PERIOD_MS, &o->relist_ms);
	case 't': return cli_parse_uint("--health-threshold", arg, MAX_PERIOD_MS, &o->health_ms);
	case 'v': return cli_parse_verbosity(arg);
	case 'B': o->no_bpf = true; return 0;
	case 'C': return cli_parse_controller("watch", arg, &o->controller);
	default: return -EINVAL;
	}
}

static int apply_opt(int opt, const char *arg, void *ctx)
{
	return parse_opt(opt, arg, ctx);
}

/* 0 to go on; otherwise *@ret_exit is the exit code. */
static int parse_args(int argc, char **argv, struct watch_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "runtime-endpoint", required_argument, NULL, 'r' },
		{ "mode", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "relist-period", required_argument, NULL, 'p' },
		{ "health-threshold", required_argument, NULL, 't' },
		{ "v", required_argument, NULL, 'v' },
		{ "no-bpf", no_argument, NULL, 'B' },
		{ "cgroup-controller", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const struct cli_getopt g = { .cmd = "watch", .optstring = ":r:o:v:h", .opts = opts,
				      .apply = apply_opt, .usage = watch_usage };

	return cli_getopt(&g, argc, argv, o, ret_exit);
}

/* ---- output ------------------------------------------------------------------ */

static int emit_event(const struct watch *w, const struct kpleg_event *ev)
{
	if (w->o->json)
		return out_json_line(stdout, out_event_json(ev));
	return out_event_text(stdout, ev);
}

static int emit_events_lost(const struct watch *w)
{
	log_warn("\"Event queue overflowed, events were lost\"");
	if (w->o->json)
		return out_json_line(stdout, out_events_lost_json());
	return out_events_lost_text(stdout, now_real_ns());
}

static int emit_health(const struct watch *w, const struct kpleg_health *h)
{
	if (h->healthy)
		log_info("\"Tracker is healthy again\"");
	else
		log_warn("\"Tracker is not healthy\" reason=\"%s\"", h->reason);
	if (w->o->json)
		return out_json_line(stdout, out_health_json(h));
	return out_health_text(stdout, h, now_real_ns());
}

/* ---- health: one log line per decision, one output line per flip ---------- */

static void note_synced(struct health_seen *s, const struct kpleg_health *h)
{
	if (!h->synced || s->synced)
		return;
	s->synced = true;
	log_info("\"Tracker synced\" pods=%zu containers=%zu", h->pods, h->containers);
}

static void note_stream(struct health_seen *s, const struct kpleg_health *h)
{
	if (h->events_connected == s->events_connected)
		return;
	s->events_connected = h->events_connected;
	/* The library logs these at info level; here only for -v 1. */
	log_v(1, "\"CRI event stream %s\" connects=%llu errors=%llu",
	      h->events_connected ? "connected" : "disconnected",
	      (unsigned long long)h->stream_connects, (unsigned long long)h->stream_errors);
}

static void note_relists(struct health_seen *s, const struct kpleg_health *h)
{
	if (!s->relists_failing && h->relist_failures > s->relist_failures) {
		s->relists_failing = true;
		/* The library logs these at the default level; here only for -v 1. */
		log_v(1, "\"Relist failed, runtime not answering; retrying\" failures=%llu",
			 (unsigned long long)h->relist_failures);
	} else if (s->relists_failing && h->relists > s->relists) {
		s->relists_failing = false;
		log_v(1, "\"Relist succeeds again\" failures=%llu",
			 (unsigned long long)h->relist_failures);
	}
	s->relists = h->relists;
	s->relist_failures = h->relist_failures;
}

static int check_health(struct watch *w)
{
	struct kpleg_health h;

	kpleg_tracker__health(w->t, &h);
	note_synced(&w->seen, &h);
	note_stream(&w->seen, &h);
	note_relists(&w->seen, &h);
	if (h.healthy == w->seen.healthy)
		return 0;
	w->seen.healthy = h.healthy;
	return emit_health(w, &h);
}

/* ---- the loop ------------------------------------------------------------------ */

/* Prints up to DRAIN_BATCH queued events: 0, or -errno from output. */
static int drain_events(struct watch *w)
{
	struct kpleg_event ev;
	int r;

	for (int i = 0; i < DRAIN_BATCH; i++) {
		r = kpleg_subscription__next(w->sub, &ev);
		if (r == -EAGAIN)
			return 0;
		if (r == -ENOBUFS)
			r = emit_events_lost(w);
		else if (r == 0)
			r = emit_event(w, &ev);
		if (r < 0)
			return r;
	}
	return 0;
}

static int poll_timeout(uint64_t next_health_ns)
{
	uint64_t now = now_mono_ns();

	return now >= next_health_ns ? 0 : (int)((next_health_ns - now) / NSEC_PER_MSEC) + 1;
}

/* One line with what the run saw, for the operator's log. */
static void log_summary(struct kpleg_tracker *t)
{
	struct kpleg_health h;

	kpleg_tracker__health(t, &h);
	log_info("\"Summary\" events=%llu relists=%llu fetches=%llu criEvents=%llu "
		 "bpf=\"%s\" hints=%llu hintsLost=%llu provisional=%llu confirmed=%llu "
		 "corrected=%llu missedEvents=%llu",
		 (unsigned long long)h.events_emitted, (unsigned long long)h.relists,
		 (unsigned long long)h.fetches, (unsigned long long)h.events_received, h.bpf_state,
		 (unsigned long long)h.hints_received, (unsigned long long)h.hints_lost,
		 (unsigned long long)h.provisional, (unsigned long long)h.provisional_confirmed,
		 (unsigned long long)h.provisional_corrected, (unsigned long long)h.missed_events);
}

/* Runs until a signal (0) or an output/queue error (-errno). */
static int watch_loop(struct watch *w)
{
	struct pollfd pfd[2] = {
		{ .fd = w->sfd, .events = POLLIN },
		{ .fd = kpleg_subscription__fd(w->sub), .events = POLLIN },
	};
	uint64_t next_health = now_mono_ns() + SYNC_CHECK_MS * NSEC_PER_MSEC;
	int r, sig;

	for (;;) {
		r = poll(pfd, ARRAY_SIZE(pfd), poll_timeout(next_health));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && pfd[0].revents && (sig = cli_read_signal(w->sfd))) {
			log_info("\"Stopping\" signal=\"%s\"", strsignal(sig));
			log_summary(w->t);
			return 0;
		}
		if (r > 0 && (pfd[1].revents & (POLLERR | POLLNVAL)))
			return -EIO;
		if (r > 0 && (pfd[1].revents & POLLIN) && (r = drain_events(w)) < 0)
			return r;
		if (now_mono_ns() >= next_health) {
			if ((r = check_health(w)) < 0)
				return r;
			next_health = now_mono_ns() +
				      (w->seen.synced ? HEALTH_CHECK_MS : SYNC_CHECK_MS) * NSEC_PER_MSEC;
		}
	}
}

/* ---- set-up ------------------------------------------------------------------ */

static int tracker_create(const struct watch_opts *o, const char *target,
			  struct kpleg_tracker **ret)
{
	struct kpleg_config cfg;
	int r;

	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = target;
	cfg.mode = o->mode;
	if (o->relist_ms)
		cfg.relist_period_ms = (unsigned)o->relist_ms;
	if (o->health_ms)
		cfg.health_threshold_ms = (unsigned)o->health_ms;
	cfg.disable_bpf = o->no_bpf;
	cfg.cgroup_controller = o->controller;
	r = kpleg_tracker__new(&cfg, ret);
	if (r < 0)
		fprintf(stderr, "kpleg watch: cannot create the tracker: %s\n", strerror(-r));
	return r;
}

static int run(struct watch *w, const char *target)
{
	int r;

	r = kpleg_tracker__subscribe_queue(w->t, 0, &w->sub);
	if (r < 0) {
		fprintf(stderr, "kpleg watch: cannot subscribe to events: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	r = kpleg_tracker__start(w->t);
	if (r < 0) {
		fprintf(stderr, "kpleg watch: cannot start the tracker: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	log_info("\"Watching\" endpoint=\"%s\" mode=\"%s\" output=\"%s\"", target,
		 kpleg_mode_str(w->o->mode), w->o->json ? "json" : "text");
	r = w->o->json ? 0 : out_event_text_header(stdout);
	if (r == 0)
		r = watch_loop(w);
	cli_signals_restore();
	if (r == -EPIPE) {
		log_info("\"Output closed by the reader, stopping\"");
		return EXIT_OK;
	}
	if (r < 0) {
		fprintf(stderr, "kpleg watch: stopping: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_watch(int argc, char **argv)
{
	struct watch_opts o = { .mode = KPLEG_MODE_AUTO };
	_cleanup_(kpleg_tracker__freep) struct kpleg_tracker *t = NULL;
	_cleanup_close_ int sfd = -1;
	struct watch w = { .o = &o, .seen = { .healthy = true } };
	char target[128];
	int r, code;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	r = cli_runtime_endpoint(o.endpoint, target, sizeof(target));
	if (r)
		return r;
	/* Before anything starts a thread (gRPC does in the check below). */
	sfd = cli_signals_open();
	if (sfd < 0) {
		fprintf(stderr, "kpleg watch: cannot set up signal handling: %s\n", strerror(-sfd));
		return EXIT_FAIL;
	}
	r = cli_check_runtime("watch", target, PREFLIGHT_TIMEOUT_MS);
	if (r)
		return r;
	if (tracker_create(&o, target, &t) < 0)
		return EXIT_FAIL;
	w.t = t;
	w.sfd = sfd;
	code = run(&w, target);
	kpleg_tracker__stop(t);
	kpleg_subscription__free(w.sub);
	return code;
}
