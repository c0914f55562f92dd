// SPDX-License-Identifier: Apache-2.0
/*
 * churn: containers created and removed at a steady rate while trackers of
 * every mode watch the same runtime (bench section 3): is every transition
 * reported exactly once per mode, and what does that cost?
 *
 *   churn (--fakecri BIN --dir DIR [--cgroup-root MOUNT] | --containerd NAME)
 *         [--modes generic,evented,auto] [--seconds 60] [--rate 100]
 *         [--lifetime-ms 2000] [--pods 10] [--title T]
 *
 * One child process per mode (its getrusage is kpleg's CPU only), forked
 * before anything else, each with one tracker in its mode on the same
 * runtime: one fakecri (own process, events on; every subscriber gets every
 * event; with --cgroup-root a real cgroup per pod and started container, so
 * that auto mode's kernel hints see each one come and go) or the private
 * containerd instance NAME (scripts/containerd.sh). The driver (this process,
 * its own CRI client, like the kubelet) first runs --pods kubelet-like pods,
 * then, once every tracker is synced and settled, for --seconds creates and
 * starts a container (`sleep 3600`) in the pods in turn every 1/rate s
 * (--rate 0: as fast as the runtime takes it), and stops (timeout 0, a kill)
 * and removes each one --lifetime-ms after its start. At the end it removes
 * what is left and gives each child the list of every container it made;
 * each child waits until its tracker has reported all of them removed (at
 * most 30 s), 2 s more for late duplicates, and counts per container how
 * often it reported each transition: ContainerCreated, ContainerStarted,
 * ContainerDied, ContainerRemoved must each come exactly once (kpleg_event's
 * contract for objects born after the first sync); ContainerConfirmed at most
 * once, and only after a provisional ContainerDied. CPU: each child's over
 * the churn window; the runtime's (fakecri's process; containerd's daemon
 * and its shims with the runc calls they reaped) over the same window.
 * Markdown on stdout; progress on stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kube.h"
#include "kpleg/kpleg.h"

#define MAX_MODES 3
#define MAX_CTRS 65536 /* containers per run (power of two: the hash) */
#define MAX_PODS 100
#define DRAIN_S 30
#define LATE_S 2

enum { T_CREATED, T_STARTED, T_DIED, T_REMOVED, T_CONFIRMED, NT };

struct opts {
	const char *fakecri, *dir, *cgroup_root, *cd_name, *title;
	unsigned secs, rate, lifetime_ms, pods;
};

/* ---- a child's tally ----------------------------------------------------- */

struct rec {
	char id[KPLEG_ID_MAX];
	uint16_t n[NT];
	bool provisional; /* its first ContainerDied was provisional */
};

static struct tally {
	pthread_mutex_t lock;
	struct rec *slot; /* MAX_CTRS * 2, open addressing */
	unsigned used;
	uint64_t overflow;
} tl = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The record of @id, made when @make; NULL when absent or the table is full. */
static struct rec *lookup(const char *id, bool make)
{
	uint32_t mask = MAX_CTRS * 2 - 1;

	for (uint32_t i = hash(id) & mask, k = 0; k <= mask; i = (i + 1) & mask, k++) {
		struct rec *r = &tl.slot[i];

		if (!r->id[0]) {
			if (!make || tl.used >= MAX_CTRS)
				return NULL;
			snprintf(r->id, sizeof(r->id), "%s", id);
			tl.used++;
			return r;
		}
		if (!strcmp(r->id, id))
			return r;
	}
	return NULL;
}

static void on_event(const struct kpleg_event *ev, void *arg)
{
	int t;
	struct rec *r;

	(void)arg;
	switch (ev->type) {
	case KPLEG_EVENT_CONTAINER_CREATED: t = T_CREATED; break;
	case KPLEG_EVENT_CONTAINER_STARTED: t = T_STARTED; break;
	case KPLEG_EVENT_CONTAINER_DIED: t = T_DIED; break;
	case KPLEG_EVENT_CONTAINER_REMOVED: t = T_REMOVED; break;
	case KPLEG_EVENT_CONTAINER_CONFIRMED: t = T_CONFIRMED; break;
	default: return;
	}
	pthread_mutex_lock(&tl.lock);
	r = lookup(ev->container_id, true);
	if (!r) {
		tl.overflow++;
	} else {
		if (t == T_DIED && !r->n[T_DIED])
			r->provisional = ev->provisional;
		if (r->n[t] < UINT16_MAX)
			r->n[t]++;
	}
	pthread_mutex_unlock(&tl.lock);
}

struct out {
	int ok;
	enum kpleg_mode mode;
	unsigned expected;
	unsigned missing[NT], dup[NT]; /* containers with 0 / more than 1 */
	unsigned unknown;	       /* containers reported that the driver never made */
	unsigned conf_unasked;	       /* ContainerConfirmed without a provisional Died */
	unsigned provisional, drained_ms;
	bool drained;
	double cpu_ms, window_s;
	uint64_t relists, fetches, events_received, hints, missed_events;
	char bpf_state[96];
};

static struct kpleg_health health(struct kpleg_tracker *t)
{
	struct kpleg_health h;

	kpleg_tracker__health(t, &h);
	return h;
}

static void xread(int fd, void *buf, size_t n)
{
	if (read(fd, buf, n) != (ssize_t)n)
		_exit(1); /* the parent is gone */
}

static void xwrite(int fd, const void *buf, size_t n)
{
	if (write(fd, buf, n) != (ssize_t)n)
		_exit(1);
}

/* The driver's ids, one a line. */
static char **read_ids(const char *path, unsigned *n)
{
	char line[256], **ids = calloc(MAX_CTRS, sizeof(*ids));
	FILE *f = fopen(path, "r");

	*n = 0;
	if (!ids || !f)
		bench_die("%s: %s", path, strerror(errno));
	while (*n < MAX_CTRS && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (*line && !(ids[(*n)++] = strdup(line)))
			bench_die("out of memory");
	}
	fclose(f);
	return ids;
}

static unsigned n_removed(char **ids, unsigned n)
{
	unsigned k = 0;

	pthread_mutex_lock(&tl.lock);
	for (unsigned i = 0; i < n; i++) {
		struct rec *r = lookup(ids[i], false);

		k += r && r->n[T_REMOVED];
	}
	pthread_mutex_unlock(&tl.lock);
	return k;
}

/* Tokens from the parent on @in: start, window start, window end, drain. */
static void child(const struct opts *o, enum kpleg_mode mode, const char *ep, const char *ids_path,
		  int in, int out)
{
	struct out r = { .mode = mode };
	struct kpleg_health h0, h1;
	struct kpleg_subscription *sub;
	struct kpleg_config cfg;
	struct kpleg_tracker *t;
	uint64_t c0, t0, end, last;
	unsigned nids, quiet = 0;
	char **ids, tok;
	int err;

	tl.slot = calloc(MAX_CTRS * 2, sizeof(*tl.slot));
	if (!tl.slot)
		bench_die("out of memory");
	xread(in, &tok, 1); /* the runtime and its pods are there */
	kpleg_config_init(&cfg);
	cfg.runtime_endpoint = ep;
	cfg.mode = mode; /* everything else: the defaults (the kubelet's periods) */
	err = kpleg_tracker__new(&cfg, &t);
	if (err == 0)
		err = kpleg_tracker__subscribe(t, on_event, NULL, &sub);
	if (err == 0)
		err = kpleg_tracker__start(t);
	if (err == 0)
		err = kpleg_tracker__wait_synced(t, 120000);
	if (err < 0)
		bench_die("%s tracker: %s", kpleg_mode_str(mode), strerror(-err));
	end = bench_mono_ns() + 60 * NS_PER_S;
	last = health(t).fetches;
	while (quiet < 5 || (mode != KPLEG_MODE_GENERIC && health(t).events_supported &&
			     !health(t).events_connected)) {
		uint64_t fe;

		if (bench_mono_ns() > end)
			bench_die("%s tracker not settled after 60 s", kpleg_mode_str(mode));
		bench_sleep_ms(200);
		fe = health(t).fetches;
		quiet = fe == last ? quiet + 1 : 0;
		last = fe;
	}
	xwrite(out, "s", 1);

	xread(in, &tok, 1); /* window start */
	h0 = health(t);
	c0 = bench_self_cpu_ns();
	t0 = bench_mono_ns();
	xread(in, &tok, 1); /* window end */
	r.cpu_ms = (double)(bench_self_cpu_ns() - c0) / NS_PER_MS;
	r.window_s = (double)(bench_mono_ns() - t0) / NS_PER_S;
	h1 = health(t);

	xread(in, &tok, 1); /* every container is gone: drain */
	ids = read_ids(ids_path, &nids);
	t0 = bench_mono_ns();
	while (n_removed(ids, nids) < nids && bench_mono_ns() - t0 < DRAIN_S * NS_PER_S)
		bench_sleep_ms(100);
	r.drained = n_removed(ids, nids) == nids;
	r.drained_ms = (unsigned)((bench_mono_ns() - t0) / NS_PER_MS);
	bench_sleep_ms(LATE_S * 1000);
	kpleg_subscription__free(sub);

	r.expected = nids;
	pthread_mutex_lock(&tl.lock);
	for (unsigned i = 0; i < nids; i++) {
		struct rec *x = lookup(ids[i], false);

		for (int k = 0; k < NT; k++) {
			unsigned n = x ? x->n[k] : 0;

			if (k == T_CONFIRMED) {
				r.dup[k] += n > 1;
				r.conf_unasked += n && !x->provisional;
				continue;
			}
			r.missing[k] += n == 0;
			r.dup[k] += n > 1;
		}
		r.provisional += x && x->provisional;
		if (x)
			x->id[0] = '\x01'; /* seen: what is left was never made */
	}
	for (unsigned i = 0; i < MAX_CTRS * 2; i++)
		r.unknown += tl.slot[i].id[0] && tl.slot[i].id[0] != '\x01';
	r.unknown += (unsigned)tl.overflow;
	pthread_mutex_unlock(&tl.lock);
	r.relists = h1.relists - h0.relists;
	r.fetches = h1.fetches - h0.fetches;
	r.events_received = h1.events_received - h0.events_received;
	r.hints = h1.hints_received - h0.hints_received;
	r.missed_events = h1.missed_events - h0.missed_events;
	snprintf(r.bpf_state, sizeof(r.bpf_state), "%s", h1.bpf_state);
	r.ok = 1;
	kpleg_tracker__free(t);
	for (unsigned i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	free(tl.slot);
	xwrite(out, &r, sizeof(r));
	_exit(0);
}

/* ---- the driver ----------------------------------------------------------- */

struct live {
	char *id;
	uint64_t due_ns; /* when to stop and remove it */
};

struct driver {
	struct cri_client *c;
	struct kube_pod pod[MAX_PODS];
	char *sb[MAX_PODS];
	unsigned npods, next_pod, seq;
	struct live *q; /* FIFO of live containers (they all live as long) */
	unsigned head, tail, cap;
	FILE *ids;
	unsigned created, removed, failures;
	double create_ms, remove_ms; /* summed call times */
};

static void pods_up(struct driver *d)
{
	struct cri_status st;

	for (unsigned i = 0; i < d->npods; i++) {
		char name[32];

		snprintf(name, sizeof(name), "churn-%u", i);
		if (kube_pod_init(&d->pod[i], NULL, name, "default", KUBE_QOS_BESTEFFORT) < 0 ||
		    cri_run_pod_sandbox(d->c, &d->pod[i].cfg, 120000, &d->sb[i], &st) < 0)
			bench_die("RunPodSandbox %s: %s", name, st.message);
	}
}

static void pods_down(struct driver *d)
{
	struct cri_status st;

	for (unsigned i = 0; i < d->npods; i++) {
		if (!d->sb[i])
			continue;
		if (cri_stop_pod_sandbox(d->c, d->sb[i], 120000, &st) < 0 ||
		    cri_remove_pod_sandbox(d->c, d->sb[i], 120000, &st) < 0)
			fprintf(stderr, "churn: warning: removing pod %s: %s\n", d->sb[i],
				st.message);
		bench_rmdir_pod_cgroups(d->pod[i].cgroup_parent);
		free(d->sb[i]);
		d->sb[i] = NULL;
	}
}

static void create_one(struct driver *d, unsigned lifetime_ms)
{
	char *const cmd[] = { "sleep", "3600", NULL };
	struct kube_container ct;
	struct cri_status st;
	unsigned p = d->next_pod++ % d->npods;
	uint64_t t0 = bench_mono_ns();
	char name[32];
	char *id = NULL;

	snprintf(name, sizeof(name), "c%u", d->seq++);
	if (kube_container_init(&ct, &d->pod[p], name, cmd, 0) < 0 ||
	    cri_create_container(d->c, d->sb[p], &ct.cfg, &d->pod[p].cfg, 60000, &id, &st) < 0) {
		if (++d->failures > 10)
			bench_die("CreateContainer: %s", st.message);
		return;
	}
	fprintf(d->ids, "%s\n", id);
	d->created++;
	if (cri_start_container(d->c, id, 60000, &st) < 0 && ++d->failures > 10)
		bench_die("StartContainer: %s", st.message);
	d->create_ms += (double)(bench_mono_ns() - t0) / NS_PER_MS;
	if (d->tail - d->head == d->cap)
		bench_die("too many live containers (%u)", d->cap);
	d->q[d->tail % d->cap] = (struct live){ id, bench_mono_ns() + lifetime_ms * NS_PER_MS };
	d->tail++;
}

static void remove_oldest(struct driver *d)
{
	struct live *l = &d->q[d->head % d->cap];
	uint64_t t0 = bench_mono_ns();
	struct cri_status st;

	if (cri_stop_container(d->c, l->id, 0, 60000, &st) < 0 ||
	    cri_remove_container(d->c, l->id, 60000, &st) < 0) {
		if (++d->failures > 10)
			bench_die("StopContainer/RemoveContainer %s: %s", l->id, st.message);
	}
	d->remove_ms += (double)(bench_mono_ns() - t0) / NS_PER_MS;
	d->removed++;
	free(l->id);
	d->head++;
}

/* Creates on schedule (every 1/rate s; rate 0: back to back) for @secs and
 * removes each container when its time is up, the last ones too (every
 * container lives its full lifetime). Returns the creation phase's length. */
static double churn(struct driver *d, const struct opts *o)
{
	uint64_t t0 = bench_mono_ns(), end = t0 + o->secs * NS_PER_S;
	uint64_t period = o->rate ? NS_PER_S / o->rate : 0, next = t0;

	for (;;) {
		uint64_t now = bench_mono_ns(), due_rm;

		due_rm = d->tail > d->head ? d->q[d->head % d->cap].due_ns : UINT64_MAX;
		if (now >= end && due_rm == UINT64_MAX)
			break;
		if (now >= end)
			next = UINT64_MAX; /* no more creations */
		if (due_rm <= now && due_rm <= next) {
			remove_oldest(d);
		} else if (next <= now) {
			create_one(d, o->lifetime_ms);
			next += period;
			if (!period)
				next = bench_mono_ns();
		} else {
			uint64_t until = next < due_rm ? next : due_rm;

			if (until > end && now < end)
				until = end;
			bench_sleep_ms((unsigned)((until - now + NS_PER_MS - 1) / NS_PER_MS));
		}
	}
	return (double)(end - t0) / NS_PER_S;
}

/* ---- main ------------------------------------------------------------------ */

static void print(const struct opts *o, const struct driver *d, const struct out *r, unsigned nm,
		  unsigned gen, double create_s, double window_s, double rt_ms, const char *rt_what)
{
	char target[64] = "as fast as the runtime takes them";

	if (o->rate)
		snprintf(target, sizeof(target), "%u/s", o->rate);
	printf("### Churn: %s\n\n", o->title);
	printf("%u containers created and started in %.1f s: **%.1f containers/s** (target: %s), "
	       "each killed (StopContainer, timeout 0) and removed %u ms after its start, in %u "
	       "pods; the window, until the last removal, lasted %.1f s. The driver's "
	       "CreateContainer+StartContainer took %.1f ms and StopContainer+RemoveContainer "
	       "%.1f ms on average. Runtime (%s) CPU in the window: %.0f ms (%.2f %% of one "
	       "core), all modes together; kpleg CPU below is over the same window.\n\n",
	       d->created, create_s, d->created / create_s,
	       target, o->lifetime_ms, d->npods, window_s,
	       d->created ? d->create_ms / d->created : 0, d->removed ? d->remove_ms / d->removed : 0,
	       rt_what, rt_ms, rt_ms / (window_s * 10));
	printf("| mode | containers | missing: Created / Started / Died / Removed | duplicated: "
	       "Created / Started / Died / Removed / Confirmed | reported but never made | "
	       "provisional Died | kpleg CPU ms in window | %% of one core | CPU ratio vs generic "
	       "| relists | pod fetches | CRI events | kernel hints | all removed after | "
	       "verdict |\n");
	printf("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (unsigned k = 0; k < nm; k++) {
		unsigned miss = 0, dup = 0;
		char ratio[32] = "-", verdict[96], drained[48];

		for (int t = 0; t < NT; t++)
			miss += r[k].missing[t], dup += r[k].dup[t];
		if (gen < nm && r[gen].cpu_ms > 0)
			snprintf(ratio, sizeof(ratio), "%.3f", r[k].cpu_ms / r[gen].cpu_ms);
		if (!miss && !dup && !r[k].unknown && !r[k].conf_unasked)
			snprintf(verdict, sizeof(verdict), "exactly once");
		else
			snprintf(verdict, sizeof(verdict),
				 "**%u missing, %u duplicated, %u unknown, %u odd confirmations**",
				 miss, dup, r[k].unknown, r[k].conf_unasked);
		if (r[k].drained)
			snprintf(drained, sizeof(drained), "%.1f s", r[k].drained_ms / 1000.0);
		else
			snprintf(drained, sizeof(drained), "**not within %d s**", DRAIN_S);
		printf("| %s | %u | %u / %u / %u / %u | %u / %u / %u / %u / %u | %u | %u | %.1f | %.3f "
		       "| %s | %llu | %llu | %llu | %llu | %s | %s |\n",
		       kpleg_mode_str(r[k].mode), r[k].expected, r[k].missing[T_CREATED],
		       r[k].missing[T_STARTED], r[k].missing[T_DIED], r[k].missing[T_REMOVED],
		       r[k].dup[T_CREATED], r[k].dup[T_STARTED], r[k].dup[T_DIED],
		       r[k].dup[T_REMOVED], r[k].dup[T_CONFIRMED], r[k].unknown, r[k].provisional,
		       r[k].cpu_ms, r[k].cpu_ms / (r[k].window_s * 10), ratio,
		       (unsigned long long)r[k].relists, (unsigned long long)r[k].fetches,
		       (unsigned long long)r[k].events_received, (unsigned long long)r[k].hints,
		       drained, verdict);
	}
	printf("\nRaw (churn, %s):\n\n```\n", o->title);
	printf("driver created=%u removed=%u failures=%u create_s=%.3f window_s=%.3f rate=%.2f "
	       "runtime_cpu_ms=%.1f\n",
	       d->created, d->removed, d->failures, create_s, window_s, d->created / create_s,
	       rt_ms);
	for (unsigned k = 0; k < nm; k++) {
		unsigned miss = 0, dup = 0;

		for (int t = 0; t < NT; t++)
			miss += r[k].missing[t], dup += r[k].dup[t];
		printf("mode=%s expected=%u missing=%u duplicated=%u unknown=%u conf_unasked=%u "
		       "provisional=%u cpu_ms=%.3f window_s=%.3f relists=%llu fetches=%llu "
		       "events_received=%llu hints=%llu missed_events=%llu drained=%d "
		       "drained_ms=%u bpf=\"%s\"\n",
		       kpleg_mode_str(r[k].mode), r[k].expected, miss, dup, r[k].unknown,
		       r[k].conf_unasked, r[k].provisional, r[k].cpu_ms, r[k].window_s,
		       (unsigned long long)r[k].relists, (unsigned long long)r[k].fetches,
		       (unsigned long long)r[k].events_received, (unsigned long long)r[k].hints,
		       (unsigned long long)r[k].missed_events, r[k].drained, r[k].drained_ms,
		       r[k].bpf_state);
	}
	printf("```\n\n");
}

int main(int argc, char **argv)
{
	struct opts o = { .secs = 60, .rate = 100, .lifetime_ms = 2000, .pods = 10 };
	const char *modes = "generic,evented,auto";
	enum kpleg_mode mode[MAX_MODES];
	unsigned nm = 0, gen = MAX_MODES;
	struct out r[MAX_MODES] = { 0 };
	int up[MAX_MODES], down[MAX_MODES];
	pid_t pids[MAX_MODES];
	struct bench_fakecri f = { 0 };
	struct bench_cd cd = { 0 };
	struct driver d = { 0 };
	char ep[600], ids_path[300], sock[108];
	uint64_t rt0, rt1, w0;
	double window_s, create_s;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			bench_die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--fakecri"))
			o.fakecri = v;
		else if (!strcmp(a, "--dir"))
			o.dir = v;
		else if (!strcmp(a, "--cgroup-root"))
			o.cgroup_root = v;
		else if (!strcmp(a, "--containerd"))
			o.cd_name = v;
		else if (!strcmp(a, "--modes"))
			modes = v;
		else if (!strcmp(a, "--seconds"))
			o.secs = (unsigned)atoi(v);
		else if (!strcmp(a, "--rate"))
			o.rate = (unsigned)atoi(v);
		else if (!strcmp(a, "--lifetime-ms"))
			o.lifetime_ms = (unsigned)atoi(v);
		else if (!strcmp(a, "--pods"))
			o.pods = (unsigned)atoi(v);
		else if (!strcmp(a, "--title"))
			o.title = v;
		else
			bench_die("unknown option %s", a);
	}
	if (!o.dir || !o.fakecri == !o.cd_name || !o.secs || o.secs > 3600 || o.rate > 1000 ||
	    (uint64_t)o.rate * o.secs > MAX_CTRS / 2 || !o.pods || o.pods > MAX_PODS ||
	    o.lifetime_ms > 600000)
		bench_die("usage: churn (--fakecri BIN | --containerd NAME) --dir DIR "
			  "[--cgroup-root MOUNT] [--modes generic,evented,auto] [--seconds 60 "
			  "(1-3600)] [--rate 100 (0-1000, rate x seconds <= %d; 0: as fast as the "
			  "runtime takes)] [--lifetime-ms 2000] [--pods 10 (1-%d)] [--title T]",
			  MAX_CTRS / 2, MAX_PODS);
	{
		char *s = strdup(modes), *save = NULL;

		for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (nm == MAX_MODES || kpleg_mode_parse(tok, &mode[nm]) < 0)
				bench_die("bad --modes %s", modes);
			if (mode[nm] == KPLEG_MODE_GENERIC)
				gen = nm;
			nm++;
		}
		free(s);
	}
	if (o.cd_name) {
		bench_cd_load(&cd, o.cd_name);
		snprintf(ep, sizeof(ep), "%s", cd.endpoint);
	} else {
		snprintf(sock, sizeof(sock), "%s/churn.sock", o.dir);
		snprintf(ep, sizeof(ep), "unix://%s", sock);
	}
	if (!o.title)
		o.title = o.cd_name ? o.cd_name : "fakecri";
	snprintf(ids_path, sizeof(ids_path), "%s/churn-ids", o.dir);
	d.ids = fopen(ids_path, "w");
	d.cap = MAX_CTRS;
	d.q = calloc(d.cap, sizeof(*d.q));
	d.npods = o.pods;
	if (!d.ids || !d.q)
		bench_die("%s: %s", ids_path, strerror(errno));
	fprintf(stderr, "churn: %s: %u modes, %u s, rate %u/s\n", o.title, nm, o.secs, o.rate);

	/* Children first: no gRPC in this process before fork(). */
	for (unsigned k = 0; k < nm; k++) {
		int p[2], q[2];

		if (pipe(p) < 0 || pipe(q) < 0)
			bench_die("pipe: %s", strerror(errno));
		fflush(NULL);
		pids[k] = fork();
		if (pids[k] < 0)
			bench_die("fork: %s", strerror(errno));
		if (pids[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			close(p[0]);
			close(q[1]);
			fclose(d.ids);
			child(&o, mode[k], ep, ids_path, q[0], p[1]);
		}
		close(p[1]);
		close(q[0]);
		up[k] = p[0];
		down[k] = q[1];
	}
	if (o.fakecri)
		bench_fakecri_start(&f, o.fakecri, sock, 0, 1, "on", o.cgroup_root);
	d.c = cri_client__new(ep);
	if (!d.c)
		bench_die("cri client for %s: %s", ep, strerror(errno));
	bench_cri_wait_ready(d.c, o.title, 120);
	pods_up(&d);
	for (unsigned k = 0; k < nm; k++)
		if (write(down[k], "g", 1) != 1)
			bench_die("the %s child is gone", kpleg_mode_str(mode[k]));
	for (unsigned k = 0; k < nm; k++) {
		char c;

		if (read(up[k], &c, 1) != 1)
			bench_die("the %s child failed while starting", kpleg_mode_str(mode[k]));
	}
	fprintf(stderr, "churn: trackers synced; churning\n");

	for (unsigned k = 0; k < nm; k++)
		if (write(down[k], "w", 1) != 1)
			bench_die("the %s child is gone", kpleg_mode_str(mode[k]));
	rt0 = o.fakecri ? bench_proc_cpu_ns(f.pid) : bench_containerd_cpu_ns(cd.pid, cd.sock, NULL);
	w0 = bench_mono_ns();
	create_s = churn(&d, &o);
	window_s = (double)(bench_mono_ns() - w0) / NS_PER_S;
	rt1 = o.fakecri ? bench_proc_cpu_ns(f.pid) : bench_containerd_cpu_ns(cd.pid, cd.sock, NULL);
	for (unsigned k = 0; k < nm; k++)
		if (write(down[k], "e", 1) != 1)
			bench_die("the %s child is gone", kpleg_mode_str(mode[k]));
	fclose(d.ids);
	d.ids = NULL;
	fprintf(stderr, "churn: %u containers in %.1f s; waiting for the trackers\n", d.created,
		window_s);
	for (unsigned k = 0; k < nm; k++)
		if (write(down[k], "d", 1) != 1)
			bench_die("the %s child is gone", kpleg_mode_str(mode[k]));
	for (unsigned k = 0; k < nm; k++) {
		int st;

		if (read(up[k], &r[k], sizeof(r[k])) != sizeof(r[k]))
			r[k].ok = 0;
		close(up[k]);
		close(down[k]);
		waitpid(pids[k], &st, 0);
		if (!r[k].ok)
			bench_die("the %s child failed", kpleg_mode_str(mode[k]));
	}
	pods_down(&d);
	cri_client__free(d.c);
	if (o.fakecri)
		bench_fakecri_stop(&f);
	print(&o, &d, r, nm, gen, create_s, window_s, (double)(rt1 - rt0) / NS_PER_MS,
	      o.fakecri ? "fakecri" : "containerd + shims");
	free(d.q);
	return 0;
}
