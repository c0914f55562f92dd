// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg events: a running `kpleg daemon`'s lifecycle events (Watch), printed
 * like `kpleg watch` prints its own (output_text.c, output_json.c).
 *
 * Without --follow it prints the events still in the daemon's replay buffer
 * and exits once caught up. How it knows it is caught up, with the API as it
 * is: it calls Status first. Seq numbers are 1, 2, 3... per daemon run with
 * no gap, and the tracker counts an event as emitted only after the replay
 * buffer has it, so StatusResponse.events_emitted is the seq of the last
 * event the buffer had been given when Status answered: call it L. The Watch
 * then asks for every event from --from-seq (default 1) WITHOUT the
 * namespace/pod/type filters, which are applied here with the daemon's own
 * matchers (api_event_matches, api_pod_matches_watch): only an unfiltered
 * stream shows every seq go by, so the command stops at the first response
 * that reaches L (an event with seq >= L, or a Resync whose seq >= L). The
 * filters are sent to the daemon only with --follow.
 *
 * The replay buffer is a ring: once the daemon has emitted more events than
 * it keeps, event 1 is gone. Status says where the buffer starts
 * (oldest_seq), so without --from-seq the replay starts there and prints the
 * whole buffer; an older --from-seq gets a Resync first (the state as of
 * its seq), then the events after it.
 *
 * With --follow it prints the same, then every new event until SIGINT or
 * SIGTERM (exit 0). A Resync (this watcher fell behind the buffer) prints a
 * line and the stream goes on. The stream breaking (the daemon stops) is one
 * line naming the --from-seq/--epoch that resume it, and exit 1.
 *
 * Signals are blocked before gRPC starts its threads and read from a
 * signalfd between reads of the stream, which wait at most READ_SLICE_MS.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_client.h"
#include "api_convert.h"
#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "output.h"
#include "util.h"

#define READ_SLICE_MS 200	/* how long one read waits before signals are looked at */

struct events_opts {
	const char *socket;
	const char *pod;		/* --pod as given: a UID or NAMESPACE/NAME */
	bool follow, json;
	bool from_given;
	uint64_t from_seq, epoch;
	unsigned long timeout_ms;
	/* -n, --pod and --type as a Watch request: what the daemon filters
	 * with --follow, and what this command filters with otherwise. */
	Kpleg__V1__WatchRequest filter;
	Kpleg__V1__EventType types[API_TYPES_MAX];
	Kpleg__V1__GetPodRequest pod_ref;	/* --pod */
	char pod_ns[KPLEG_NAME_MAX], pod_uid[KPLEG_ID_MAX];
};

struct events {
	const struct events_opts *o;
	struct api_client a;
	int sfd;
	uint64_t epoch;		/* the daemon run that answered Status */
	uint64_t last;		/* without --follow: the seq to catch up with */
	uint64_t next;		/* the seq that resumes after what was printed */
	bool received;		/* a response came */
	bool warned_unknown;
};

static void events_usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg events [OPTIONS]\n\n"
		"Prints the running kpleg daemon's pod and container lifecycle events, one per\n"
		"line, like kpleg watch: first those still in its replay buffer (from the\n"
		"oldest), then, with --follow, every new one until SIGINT or SIGTERM (exit 0).\n"
		"Seq numbers are the daemon's: 1, 2, 3... per daemon run (its epoch).\n\n"
		"When the buffer no longer holds what was asked for (it has wrapped, or the\n"
		"daemon restarted), or a follower falls too far behind, a Resync line stands\n"
		"for what is gone: the state of the matching pods as of its seq (all of them\n"
		"with -o json, a count in text); the events after it follow.\n\n"
		"  -s, --socket PATH   the daemon's API socket (default %s)\n"
		"  -f, --follow        keep printing new events as they happen\n"
		"      --from-seq N    start at the daemon's event N (default 1: everything\n"
		"                      buffered; 0: only events after this command)\n"
		"      --epoch E       the daemon run N belongs to (the Resync line's epoch, or\n"
		"                      kpleg status -o json): another run starts with a Resync\n"
		"  -n, --namespace NS  only events of pods of namespace NS\n"
		"      --pod POD       only events of this pod: its UID, or NAMESPACE/NAME (the\n"
		"                      pod the daemon knows by that name now)\n"
		"  -t, --type T[,...]  only these event types (repeatable), e.g. ContainerDied;\n"
		"                      the types are listed in docs/EVENTS.md\n"
		"  -o, --output F      text (aligned columns) or json (one object per line,\n"
		"                      schema in docs/EVENTS.md) (default text)\n"
		"      --timeout MS    how long to wait for the daemon: without --follow for\n"
		"                      everything, with it for the first answer (default %d)\n"
		"  -h, --help          this text\n\n"
		"Exit status: 0 done (or stopped by a signal), 1 no daemon answers or the\n"
		"stream broke, 2 bad usage.\n",
		KPLEG_DEFAULT_SOCKET, API_DEFAULT_TIMEOUT_MS);
}

/* ---- options ------------------------------------------------------------------ */

static int parse_u64(const char *opt, const char *val, bool zero_ok, uint64_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || !*val || *end || val[0] == '-' || (!zero_ok && v == 0)) {
		fprintf(stderr, "kpleg events: invalid %s \"%s\": expected a whole number%s\n", opt,
			val, zero_ok ? "" : " from 1");
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int add_type(struct events_opts *o, const char *name)
{
	Kpleg__V1__WatchRequest *f = &o->filter;
	Kpleg__V1__EventType t = 0;

	for (int i = 0; i <= KPLEG_EVENT_CONTAINER_CONFIRMED; i++)
		if (!strcasecmp(name, kpleg_event_type_str((enum kpleg_event_type)i)))
			t = (Kpleg__V1__EventType)(i + 1); /* proto = C + 1 */
	if (!t) {
		fprintf(stderr, "kpleg events: invalid --type \"%s\": expected an event type such "
				"as ContainerDied (docs/EVENTS.md)\n", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < f->n_types; i++)
		if (f->types[i] == t)
			return 0;
	if (f->n_types == API_TYPES_MAX) /* cannot happen: fewer types exist */
		return -EINVAL;
	o->types[f->n_types++] = t;
	f->types = o->types;
	return 0;
}

/* -t T[,T...] */
static int parse_types(struct events_opts *o, const char *val)
{
	_cleanup_free_ char *copy = strdup(val);
	char *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save))
		r = add_type(o, t);
	if (r == 0 && !o->filter.n_types) {
		fprintf(stderr, "kpleg events: empty --type\n");
		r = -EINVAL;
	}
	return r;
}

static int parse_output(const char *val, bool *json)
{
	if (strcmp(val, "json") && strcmp(val, "text")) {
		fprintf(stderr, "kpleg events: invalid --output \"%s\": expected text or json\n",
			val);
		return -EINVAL;
	}
	*json = !strcmp(val, "json");
	return 0;
}

static int parse_opt(int opt, const char *arg, void *ctx)
{
	struct events_opts *o = ctx;

	switch (opt) {
	case 's': o->socket = arg; return 0;
	case 'f': o->follow = true; return 0;
	case 'S': o->from_given = true; return parse_u64("--from-seq", arg, true, &o->from_seq);
	case 'E': return parse_u64("--epoch", arg, false, &o->epoch);
	case 'n': o->filter.namespace_ = (char *)arg; return 0;
	case 'p': o->pod = arg; return 0;
	case 't': return parse_types(o, arg);
	case 'o': return parse_output(arg, &o->json);
	case 'T': return cli_parse_uint("--timeout", arg, 3600000, &o->timeout_ms);
	default: return -EINVAL;
	}
}

/* 0 to go on; otherwise *@ret_exit is the exit code. */
static int parse_args(int argc, char **argv, struct events_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "follow", no_argument, NULL, 'f' },
		{ "from-seq", required_argument, NULL, 'S' },
		{ "epoch", required_argument, NULL, 'E' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "pod", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const struct cli_getopt g = { .cmd = "events", .optstring = ":s:fn:t:o:h", .opts = opts,
				      .apply = parse_opt, .usage = events_usage };
	char err[256];

	if (cli_getopt(&g, argc, argv, o, ret_exit) < 0)
		return -1;
	*ret_exit = EXIT_USAGE;
	if (o->pod && api_pod_ref("events", "--pod", o->pod, &o->pod_ref, o->pod_ns) < 0)
		return -1;
	o->filter.pod_uid = o->pod_ref.uid; /* "" for NAMESPACE/NAME: resolved later */
	if (api_validate_watch(&o->filter, err, sizeof(err)) < 0) {
		fprintf(stderr, "kpleg events: invalid filter: %s\n", err);
		return -1;
	}
	return 0;
}

/* --pod NAMESPACE/NAME: the UID of the pod the daemon knows by that name. */
static int resolve_pod(struct events *e, struct events_opts *o, int timeout_ms)
{
	Kpleg__V1__GetPodResponse *resp = NULL;
	struct cri_status st = { 0 };
	int r;

	r = api_call(&e->a, "GetPod", &o->pod_ref.base, &kpleg__v1__get_pod_response__descriptor,
		     timeout_ms, &resp, &st);
	if (r == -ENOENT) {
		fprintf(stderr, "kpleg events: the kpleg daemon on %s has no pod %s\n", e->a.socket,
			o->pod);
		return EXIT_FAIL;
	}
	if (r < 0)
		return api_fail(&e->a, &st);
	r = resp->pod ? 0 : -EPROTO;
	if (r == 0)
		snprintf(o->pod_uid, sizeof(o->pod_uid), "%s", resp->pod->uid);
	cri_msg_free(resp);
	if (r < 0) {
		fprintf(stderr, "kpleg events: the kpleg daemon on %s answered without a pod\n",
			e->a.socket);
		return EXIT_FAIL;
	}
	o->filter.pod_uid = o->pod_uid;
	log_v(1, "\"Pod resolved\" pod=\"%s\" uid=\"%s\"", o->pod, o->pod_uid);
	return EXIT_OK;
}

/* ---- output ------------------------------------------------------------------- */

static int print_event(struct events *e, const Kpleg__V1__Event *m)
{
	struct kpleg_event ev;

	if (api_event_parse(m, &ev) < 0) {
		/* A type or source a later daemon added: skipped, said once. */
		if (!e->warned_unknown)
			log_warn("\"Skipping events this kpleg cannot read (a newer daemon?)\" "
				 "seq=%llu type=%d source=%d", (unsigned long long)m->seq,
				 (int)m->type, (int)m->source);
		e->warned_unknown = true;
		return 0;
	}
	if (!api_event_matches(&ev, &e->o->filter))
		return 0;
	if (e->o->json)
		return out_json_line(stdout, out_event_json(&ev));
	return out_event_text(stdout, &ev);
}

static bool pod_matches(const struct kpleg_pod_status *p, const void *filter)
{
	return api_pod_matches_watch(p, filter);
}

/* The snapshot's wall-clock time: the daemon and this process share the
 * node's clocks. */
static uint64_t real_of_mono(uint64_t mono)
{
	uint64_t now_m = now_mono_ns(), now_r = now_real_ns();

	return mono && mono <= now_m && now_m - mono <= now_r ? now_r - (now_m - mono) : now_r;
}

static int print_resync(struct events *e, const Kpleg__V1__Resync *m, uint64_t epoch)
{
	struct kpleg_pod_status **pods = NULL;
	struct out_resync rs = {
		.reason = m->reason, .seq = m->seq, .epoch = epoch,
		.observed_mono_ns = m->observed_mono_ns,
		.observed_real_ns = real_of_mono(m->observed_mono_ns),
	};
	int r;

	log_v(1, "\"Resync\" reason=\"%s\" seq=%llu pods=%zu", m->reason,
	      (unsigned long long)m->seq, m->n_pods);
	r = api_pods_view(m->pods, m->n_pods, &pods);
	if (r < 0)
		return r;
	rs.pods = pods;
	rs.n_pods = api_pods_keep(pods, m->n_pods, pod_matches, &e->o->filter);
	api_pods_sort(pods, rs.n_pods);
	r = e->o->json ? out_json_line(stdout, out_resync_json(&rs)) : out_resync_text(stdout, &rs);
	kpleg_pod_list__free(pods, m->n_pods);
	return r;
}

/* ---- the stream ----------------------------------------------------------------- */

/* Prints one response; *@done once caught up (without --follow). 0 or -errno
 * from the output. */
static int handle(struct events *e, const Kpleg__V1__WatchResponse *m, bool *done)
{
	bool other_run = m->epoch != e->epoch; /* the daemon restarted since Status */
	int r = 0;

	e->received = true;
	if (m->kind_case == KPLEG__V1__WATCH_RESPONSE__KIND_EVENT && m->event) {
		e->next = m->event->seq + 1;
		r = print_event(e, m->event);
		*done = !e->o->follow && (m->event->seq >= e->last || other_run);
	} else if (m->kind_case == KPLEG__V1__WATCH_RESPONSE__KIND_RESYNC && m->resync) {
		e->next = m->resync->seq + 1;
		e->epoch = m->epoch;
		r = print_resync(e, m->resync, m->epoch);
		*done = !e->o->follow && (m->resync->seq >= e->last || other_run);
	}
	return r;
}

/* The one line for a stream that ended before it was done. */
static int stream_failed(struct events *e, int err, const struct cri_status *st)
{
	if (err == -ETIMEDOUT && !e->o->follow) {
		fprintf(stderr, "kpleg events: the kpleg daemon on %s did not send its buffered "
				"events within %lu ms\n", e->a.socket, e->o->timeout_ms);
		return EXIT_FAIL;
	}
	if (!e->received)
		return api_fail(&e->a, st);
	fprintf(stderr, "kpleg events: the stream from the kpleg daemon on %s ended: %s (resume "
			"with --from-seq %llu --epoch %llu)\n", e->a.socket,
		err == -ENODATA ? "the daemon closed it" : st->message,
		(unsigned long long)e->next, (unsigned long long)e->epoch);
	return EXIT_FAIL;
}

/* Reads and prints until done, a signal (EXIT_OK) or an error. */
static int stream(struct events *e, const Kpleg__V1__WatchRequest *req, uint64_t deadline)
{
	_cleanup_(api_watch_freep) struct api_watch *w = NULL;
	struct cri_status st = { 0 };
	bool done = false;
	int r, sig;

	r = api_watch_open(&e->a, req, e->o->follow ? -1 : api_ms_left(deadline), &w, &st);
	if (r < 0)
		return api_fail(&e->a, &st);
	while (!done) {
		Kpleg__V1__WatchResponse *m = NULL;

		r = api_watch_read(w, READ_SLICE_MS, &m, &st);
		if ((sig = cli_read_signal(e->sfd))) {
			cri_msg_free(m);
			log_v(1, "\"Stopping\" signal=\"%s\"", strsignal(sig));
			return EXIT_OK;
		}
		if (r == -EAGAIN)
			continue;
		if (r == -EBADMSG) {
			log_warn("\"Skipping a response that does not decode\"");
			continue;
		}
		if (r < 0)
			return stream_failed(e, r, &st);
		r = handle(e, m, &done);
		cri_msg_free(m);
		if (r == -EPIPE)
			return EXIT_OK; /* the reader went away: a normal stop */
		if (r < 0) {
			fprintf(stderr, "kpleg events: writing the output: %s\n", strerror(-r));
			return EXIT_FAIL;
		}
	}
	return EXIT_OK;
}

/* Without --follow: whether the Watch has anything to send up to e->last. */
static bool anything_to_read(const struct events *e, const Kpleg__V1__WatchRequest *req)
{
	if (req->epoch != e->epoch)
		return true; /* a Resync ("epoch changed") */
	return req->from_seq && req->from_seq <= e->last;
}

static int run(struct events *e, struct events_opts *o)
{
	Kpleg__V1__WatchRequest req = KPLEG__V1__WATCH_REQUEST__INIT;
	Kpleg__V1__StatusResponse *s = NULL;
	uint64_t deadline = now_mono_ns() + o->timeout_ms * NSEC_PER_MSEC, oldest;
	int r;

	r = api_status(&e->a, api_ms_left(deadline), &s);
	if (r)
		return r;
	e->epoch = s->epoch;
	e->last = s->last_seq ? s->last_seq : s->events_emitted;
	oldest = s->oldest_seq ? s->oldest_seq : 1;
	cri_msg_free(s);
	if (*o->pod_ref.name && (r = resolve_pod(e, o, api_ms_left(deadline))))
		return r;
	if (!o->json && (r = out_event_text_header(stdout)) < 0)
		return r == -EPIPE ? EXIT_OK : EXIT_FAIL;
	req.from_seq = o->from_given ? o->from_seq : oldest;
	req.epoch = o->epoch ? o->epoch : e->epoch;
	e->next = req.from_seq ? req.from_seq : e->last + 1;
	log_v(1, "\"Watching\" socket=\"%s\" from=%llu epoch=%llu last=%llu follow=%d", o->socket,
	      (unsigned long long)req.from_seq, (unsigned long long)req.epoch,
	      (unsigned long long)e->last, o->follow);
	if (o->follow) {
		req.namespace_ = o->filter.namespace_;
		req.pod_uid = o->filter.pod_uid;
		req.n_types = o->filter.n_types;
		req.types = o->filter.types;
	} else if (!anything_to_read(e, &req)) {
		return EXIT_OK;
	}
	return stream(e, &req, deadline);
}

int cmd_events(int argc, char **argv)
{
	struct events_opts o = { .socket = KPLEG_DEFAULT_SOCKET,
				 .timeout_ms = API_DEFAULT_TIMEOUT_MS,
				 .filter = KPLEG__V1__WATCH_REQUEST__INIT,
				 .pod_ref = KPLEG__V1__GET_POD_REQUEST__INIT };
	struct events e = { .o = &o };
	_cleanup_close_ int sfd = -1;
	int r, code;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	/* Before gRPC starts any thread. */
	sfd = cli_signals_open();
	if (sfd < 0) {
		fprintf(stderr, "kpleg events: cannot set up signal handling: %s\n",
			strerror(-sfd));
		return EXIT_FAIL;
	}
	e.sfd = sfd;
	r = api_client_open(&e.a, "events", o.socket);
	if (r)
		return r;
	r = run(&e, &o);
	api_client_close(&e.a);
	cli_signals_restore();
	return r;
}
