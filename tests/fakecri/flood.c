// SPDX-License-Identifier: Apache-2.0
/* Event flood: a thread that changes the store (or repeats its state) at a
 * set rate, so that every subscriber gets that many real CRI events per
 * second. Each step takes f->lock like any call, so the events are in state
 * order and calls are still answered meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "util.h"

#define FLOOD_IMAGE "docker.io/library/busybox:1.36"
/* Steps per wake-up at most, and the backlog the pacing may catch up on
 * after the thread was starved (a second's worth at most). */
#define STEP_BATCH 64

struct slot {
	char sb[FK_ID_LEN + 1];
	char ct[FK_ID_LEN + 1]; /* "" between containers */
	unsigned n;		/* containers made in this slot */
};

struct fk_flood {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, done;
	struct fakecri_flood cfg;
	uint64_t changes, started_ns, ended_ns;
	struct slot *slots; /* churn: one per READY sandbox at the start */
	size_t nslots, next;
	char cursor[FK_ID_LEN + 1]; /* repeat: the last container repeated */
};

/* A kubelet-like container of @sb (the labels the kubelet sets). */
static int create_container(struct fakecri *f, struct fk_sandbox *sb, unsigned n,
			    struct fk_container **ret)
{
	char name[24];
	Runtime__V1__ContainerConfig__LabelsEntry l[4];
	Runtime__V1__ContainerConfig__LabelsEntry *lp[4] = { &l[0], &l[1], &l[2], &l[3] };
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;

	snprintf(name, sizeof(name), "flood%u", n);
	for (int k = 0; k < 4; k++)
		runtime__v1__container_config__labels_entry__init(&l[k]);
	l[0].key = "io.kubernetes.container.name", l[0].value = name;
	l[1].key = "io.kubernetes.pod.name", l[1].value = sb->name ? sb->name : "";
	l[2].key = "io.kubernetes.pod.namespace", l[2].value = sb->ns ? sb->ns : "";
	l[3].key = "io.kubernetes.pod.uid", l[3].value = sb->uid ? sb->uid : "";
	md.name = name;
	md.attempt = n;
	img.image = FLOOD_IMAGE;
	cfg.metadata = &md;
	cfg.image = &img;
	cfg.n_labels = 4, cfg.labels = lp;
	return fk_store_create_container(f, sb, &cfg, ret);
}

/* One lifecycle step of one slot: create, start, exit, remove, in turn.
 * f->lock held. Returns 1 when the store changed, 0 when the slot is dead. */
static int churn_step(struct fakecri *f, struct slot *s)
{
	struct fk_sandbox *sb = fk_store_sandbox(&f->st, s->sb);
	struct fk_container *c = *s->ct ? fk_store_container(&f->st, s->ct) : NULL;
	int err;

	if (!sb || sb->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
		return 0;
	if (!c) {
		err = create_container(f, sb, s->n++, &c);
		if (err < 0)
			return err;
		snprintf(s->ct, sizeof(s->ct), "%s", c->id);
	} else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED) {
		fk_store_start_container(f, c);
	} else if (c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
		fk_store_exit_container(f, c, (int32_t)(s->n % 3), NULL);
	} else {
		fk_store_remove_container(f, c);
		s->ct[0] = '\0';
	}
	return 1;
}

/* The next container after the cursor, its current state sent again. */
static int repeat_step(struct fakecri *f, struct fk_flood *fl)
{
	struct fk_container *c = *fl->cursor ? fk_store_container(&f->st, fl->cursor) : NULL;
	Runtime__V1__ContainerEventType type;

	c = c ? TAILQ_NEXT(c, link) : NULL;
	if (!c)
		c = TAILQ_FIRST(&f->st.ctr_list);
	if (!c)
		return 0;
	snprintf(fl->cursor, sizeof(fl->cursor), "%s", c->id);
	switch (c->state) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
		type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT;
		break;
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
		type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT;
		break;
	default:
		type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT;
		break;
	}
	fk_events_container(f, c, type);
	return 1;
}

/* Up to @n steps under one lock; returns how many changed something. */
static uint64_t steps(struct fakecri *f, struct fk_flood *fl, uint64_t n)
{
	uint64_t done = 0;

	pthread_mutex_lock(&f->lock);
	for (uint64_t i = 0; i < n; i++) {
		int r;

		if (fl->cfg.kind == FAKECRI_FLOOD_REPEAT) {
			r = repeat_step(f, fl);
		} else {
			size_t tries = 0;

			do {
				r = churn_step(f, &fl->slots[fl->next]);
				fl->next = (fl->next + 1) % fl->nslots;
			} while (r == 0 && ++tries < fl->nslots);
		}
		if (r <= 0)
			break;
		done++;
	}
	pthread_mutex_unlock(&f->lock);
	return done;
}

/* Sleeps until @ns unless stopped; true when stopped. */
static bool wait_until(struct fk_flood *fl, uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };
	bool stop;

	pthread_mutex_lock(&fl->lock);
	while (!fl->stop && pthread_cond_timedwait(&fl->cond, &fl->lock, &ts) != ETIMEDOUT)
		;
	stop = fl->stop;
	pthread_mutex_unlock(&fl->lock);
	return stop;
}

static void *flood_main(void *arg)
{
	struct fakecri *f = arg;
	struct fk_flood *fl = f->flood;
	uint64_t start, end, emitted = 0;

	while (fl->cfg.wait_subscriber && !fakecri__subscribers(f))
		if (wait_until(fl, now_mono_ns() + 10 * NSEC_PER_MSEC))
			goto out;
	start = now_mono_ns();
	end = fl->cfg.duration_ms ? start + (uint64_t)fl->cfg.duration_ms * NSEC_PER_MSEC : 0;
	pthread_mutex_lock(&fl->lock);
	fl->started_ns = start;
	pthread_mutex_unlock(&fl->lock);
	for (;;) {
		uint64_t now = now_mono_ns(), due, n;

		if (end && now >= end)
			break;
		due = (now - start) / 1000 * fl->cfg.rate / 1000000;
		if (due > emitted + fl->cfg.rate) /* starved: a second's backlog at most */
			emitted = due - fl->cfg.rate;
		if (due <= emitted) {
			if (wait_until(fl, now + NSEC_PER_MSEC))
				break;
			continue;
		}
		n = steps(f, fl, due - emitted < STEP_BATCH ? due - emitted : STEP_BATCH);
		emitted += n ? n : due - emitted; /* nothing to change: don't pile up */
		pthread_mutex_lock(&fl->lock);
		fl->changes += n;
		pthread_mutex_unlock(&fl->lock);
		if (wait_until(fl, 0))
			break;
	}
out:
	pthread_mutex_lock(&fl->lock);
	fl->ended_ns = now_mono_ns();
	fl->done = true;
	pthread_mutex_unlock(&fl->lock);
	return NULL;
}

/* The slots: every READY sandbox now. f->lock held. */
static int make_slots(struct fakecri *f, struct fk_flood *fl)
{
	struct fk_sandbox *sb;
	size_t n = 0;

	TAILQ_FOREACH(sb, &f->st.sb_list, link)
		n += sb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
	if (!n)
		return -ENOENT;
	fl->slots = calloc(n, sizeof(*fl->slots));
	if (!fl->slots)
		return -ENOMEM;
	TAILQ_FOREACH(sb, &f->st.sb_list, link)
		if (sb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
			snprintf(fl->slots[fl->nslots++].sb, FK_ID_LEN + 1, "%s", sb->id);
	return 0;
}

static void flood_free(struct fk_flood *fl)
{
	if (!fl)
		return;
	pthread_cond_destroy(&fl->cond);
	pthread_mutex_destroy(&fl->lock);
	free(fl->slots);
	free(fl);
}

int fakecri__flood_start(struct fakecri *f, const struct fakecri_flood *cfg)
{
	struct fk_flood *fl;
	pthread_condattr_t ca;
	int err = 0;

	if (!f || !cfg || !cfg->rate || cfg->rate > FAKECRI_FLOOD_RATE_MAX ||
	    (unsigned)cfg->kind > FAKECRI_FLOOD_REPEAT)
		return -EINVAL;
	if (f->flood)
		return -EBUSY;
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return -ENOMEM;
	fl->cfg = *cfg;
	pthread_mutex_init(&fl->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fl->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&f->lock);
	if (cfg->kind == FAKECRI_FLOOD_CHURN)
		err = make_slots(f, fl);
	else if (TAILQ_EMPTY(&f->st.ctr_list))
		err = -ENOENT;
	pthread_mutex_unlock(&f->lock);
	if (err == 0) {
		f->flood = fl;
		err = -pthread_create(&fl->thread, NULL, flood_main, f);
	}
	if (err < 0) {
		f->flood = NULL;
		flood_free(fl);
	}
	return err;
}

void fakecri__flood_stop(struct fakecri *f)
{
	struct fk_flood *fl = f ? f->flood : NULL;

	if (!fl)
		return;
	pthread_mutex_lock(&fl->lock);
	fl->stop = true;
	pthread_cond_broadcast(&fl->cond);
	pthread_mutex_unlock(&fl->lock);
	pthread_join(fl->thread, NULL);
	f->flood_changes_total += fl->changes;
	f->flood = NULL;
	flood_free(fl);
}

void fakecri__flood_stats(struct fakecri *f, struct fakecri_flood_stats *ret)
{
	struct fk_flood *fl = f->flood;

	memset(ret, 0, sizeof(*ret));
	ret->changes = f->flood_changes_total;
	if (!fl)
		return;
	pthread_mutex_lock(&fl->lock);
	ret->running = !fl->done;
	ret->changes += fl->changes;
	ret->started_ns = fl->started_ns;
	ret->ended_ns = fl->ended_ns;
	pthread_mutex_unlock(&fl->lock);
}
