// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel hints source: loads bpf/hints.bpf.c (user/hints.c), then one
 * thread reads its ring buffer, resolves each hint's cgroup to a pod and an
 * object (user/cgroup_path.c) and posts it to the engine. Hints about cgroups
 * that are not a pod's are dropped here; unknown shapes under kubepods are
 * counted. When the kernel reports lost hints, the map (the authority) is
 * walked and every cgroup's state re-posted, and the engine relists.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hint_decode.h"
#include "hints.h"
#include "log.h"
#include "tracker_internal.h"
#include "util.h"

static void set_state(struct kpleg_tracker *t, bool active, const char *what, const char *detail)
{
	pthread_mutex_lock(&t->stats_lock);
	t->stats.bpf_active = active;
	snprintf(t->stats.bpf_state, sizeof(t->stats.bpf_state), "%s%s%s", what,
		 *detail ? ": " : "", detail);
	pthread_mutex_unlock(&t->stats_lock);
}

static void count_unresolved(struct kpleg_tracker *t)
{
	pthread_mutex_lock(&t->stats_lock);
	t->stats.hints_unresolved++;
	pthread_mutex_unlock(&t->stats_lock);
}

/* Resolves @path and posts the hint; 0 (a hint that is not ours is no error). */
static int post_hint(struct kpleg_tracker *t, const struct kpleg_hint *hint, const char *path)
{
	struct kpleg_cg_state st;
	struct hint_msg hm;
	char uid[KPLEG_ID_MAX];
	bool unknown;
	struct msg *m;

	if (hint_resolve(hint, path, uid, &hm, &unknown) < 0) {
		if (unknown)
			count_unresolved(t);
		return 0;
	}
	m = msg__new(MSG_HINT);
	if (!m)
		return 0; /* the relist covers it */
	m->ns = now_mono_ns();
	snprintf(m->uid, sizeof(m->uid), "%s", uid);
	m->hint = hm;
	/* An exit needs the map for the OOM count and the start (its ring
	 * record has neither). */
	if (hint->type == HINT_EXITED && hints__lookup(t->hints, hint->cgid, &st) == 0) {
		m->hint.oom |= st.oom > 0;
		m->hint.first_exec_ns = st.first_exec_ns;
	}
	pthread_mutex_lock(&t->stats_lock);
	t->stats.hints_received++;
	pthread_mutex_unlock(&t->stats_lock);
	engine_post(t, m);
	return 0;
}

static int on_hint(void *ctx, const struct kpleg_hint *hint)
{
	struct kpleg_tracker *t = ctx;
	char path[KPLEG_PATH_MAX];

	if (hint->type < HINT_CGROUP_CREATED || hint->type > HINT_CGROUP_REMOVED) {
		log_v(1, "\"Ignoring a kernel hint of unknown type\" type=%u", hint->type);
		return 0;
	}
	if (hint->type == HINT_CGROUP_CREATED)
		return post_hint(t, hint, ((const struct kpleg_hint_created *)hint)->path);
	if (hints__path(t->hints, hint->cgid, path, sizeof(path)) < 0)
		return 0; /* a root or QoS cgroup seeded without a path, or gone */
	return post_hint(t, hint, path);
}

/* After a loss: what the map says about every tracked cgroup, as hints. */
static int reconcile_one(void *ctx, uint64_t cgid, const struct kpleg_cg_state *st)
{
	struct kpleg_tracker *t = ctx;
	struct kpleg_hint h = { .cgid = cgid, .parent_cgid = st->parent_cgid, .level = st->level };
	char path[KPLEG_PATH_MAX];

	if (hints__path(t->hints, cgid, path, sizeof(path)) < 0)
		return 0;
	if ((st->flags & KPLEG_CG_EXITED) && st->live_tasks == 0) {
		h.type = HINT_EXITED;
		h.ts_ns = st->last_exit_ns;
		h.exit_code = st->last_exit_code;
	} else if (st->first_exec_ns) {
		h.type = HINT_STARTED;
		h.ts_ns = st->first_exec_ns;
	} else {
		h.type = HINT_CGROUP_CREATED;
	}
	return post_hint(t, &h, path);
}

static void on_loss(struct kpleg_tracker *t, uint64_t lost)
{
	struct msg *m = msg__new(MSG_HINTS_LOST);
	int r;

	pthread_mutex_lock(&t->stats_lock);
	t->stats.hints_lost = lost;
	pthread_mutex_unlock(&t->stats_lock);
	r = hints__for_each(t->hints, reconcile_one, t);
	if (r < 0)
		log_warn("\"Cannot walk the BPF map after lost hints; the relist reconciles\" err=%d", r);
	if (m) {
		m->ns = now_mono_ns();
		engine_post(t, m);
	}
}

static void post_failure(struct kpleg_tracker *t, int err)
{
	struct msg *m = msg__new(MSG_HINTS_LOST);

	set_state(t, false, "failed", "reading the ring buffer");
	if (m) {
		m->err = err;
		m->ns = now_mono_ns();
		engine_post(t, m);
	}
}

static void *hint_main(void *arg)
{
	struct kpleg_tracker *t = arg;
	struct pollfd pfd[2] = { { .fd = hints__fd(t->hints), .events = POLLIN },
				 { .fd = t->hints_efd, .events = POLLIN } };
	uint64_t lost_seen = 0;

	while (!t->stopping) {
		uint64_t lost;
		int r;

		/* No timeout: a loss only happens with data in the ring, which wakes us. */
		r = poll(pfd, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || pfd[1].revents)
			break;
		r = hints__poll(t->hints, 0, on_hint, t);
		if (r < 0 && r != -EINTR) {
			log_error("\"Reading kernel hints failed\" err=%d", r);
			post_failure(t, r);
			break;
		}
		lost = hints__lost(t->hints);
		if (lost != lost_seen) {
			lost_seen = lost;
			on_loss(t, lost);
		}
	}
	return NULL;
}

static const char *why_off(int err)
{
	switch (err) {
	case -EPERM:
		return "no privilege for BPF (needs root or CAP_BPF+CAP_PERFMON)";
	case -ENOTSUP:
		return "this kernel cannot run the programs (BTF, tp_btf or the ring buffer missing)";
	case -ENOENT:
		return "no cgroup hierarchy to watch";
	default:
		return strerror(-err);
	}
}

int hint_source_start(struct kpleg_tracker *t)
{
	struct hints_opts o = { .controller = t->cfg.cgroup_controller,
				.ring_size = t->cfg.hint_ring_bytes };
	unsigned period = t->cfg.relist_period_ms;
	struct hints *h;
	int r;

	t->hints_efd = -1;
	if (t->cfg.mode != KPLEG_MODE_AUTO) {
		set_state(t, false, "off", kpleg_mode_str(t->cfg.mode));
		return 0;
	}
	if (t->cfg.disable_bpf) {
		log_info("\"Kernel hints off (--no-bpf); tracking with the CRI sources only, "
			 "relisting every %u ms without an event stream\"", period);
		set_state(t, false, "off", "--no-bpf");
		return 0;
	}
	h = hints__new(&o);
	r = h ? hints__start(h) : -errno;
	if (r < 0) {
		log_warn("\"Kernel hints unavailable: %s; tracking with the CRI sources only, "
			 "relisting every %u ms without an event stream\" err=%d",
			 why_off(r), period, r);
		set_state(t, false, "unavailable", why_off(r));
		hints__free(h);
		return 0;
	}
	t->hints_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->hints_efd < 0) {
		r = -errno;
		hints__free(h);
		return r;
	}
	t->hints = h;
	t->hints_active = true;
	r = -pthread_create(&t->hints_thread, NULL, hint_main, t);
	if (r < 0) {
		t->hints_active = false;
		hint_source_stop(t);
		return r;
	}
	log_info("\"Kernel hints active\" hierarchy=\"%s\" relistPeriod=%ums "
		 "reason=\"hints announce container starts, exits, OOM kills and cgroup "
		 "removals; the relist only catches what no process shows\"",
		 hints__mount(h), t->cfg.relist_period_hinted_ms);
	set_state(t, true, "active", hints__mount(h));
	return 0;
}

void hint_source_stop(struct kpleg_tracker *t)
{
	uint64_t one = 1;

	if (t->hints_thread) {
		if (write(t->hints_efd, &one, sizeof(one)) < 0)
			log_error("\"Cannot wake the hints reader\" err=%d", -errno);
		pthread_join(t->hints_thread, NULL);
		t->hints_thread = 0;
	}
	hints__free(t->hints);
	t->hints = NULL;
	t->hints_active = false;
	if (t->hints_efd >= 0)
		close(t->hints_efd);
	t->hints_efd = -1;
}
