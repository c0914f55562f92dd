// SPDX-License-Identifier: Apache-2.0
/* The delay thread: holds calls a fault delays and fires each when due, so
 * the completion-queue thread never sleeps. */
#include <errno.h>
#include <time.h>

#include "internal.h"
#include "util.h"

static void *delay_main(void *arg)
{
	struct fk_delayq *q = arg;
	struct fk_delayed *d;
	struct timespec ts;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		d = q->head;
		if (!d && q->stop)
			break;
		if (!d) {
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		if (!q->stop && now_mono_ns() < d->due_ns) {
			ts.tv_sec = d->due_ns / NSEC_PER_SEC;
			ts.tv_nsec = d->due_ns % NSEC_PER_SEC;
			pthread_cond_timedwait(&q->cond, &q->lock, &ts);
			continue;
		}
		q->head = d->next;
		pthread_mutex_unlock(&q->lock);
		d->fire(d);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

void fk_delayq_init(struct fk_delayq *q)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	q->head = NULL;
	q->stop = q->started = false;
}

void fk_delayq_fini(struct fk_delayq *q)
{
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

int fk_delayq_start(struct fk_delayq *q)
{
	int r = pthread_create(&q->thread, NULL, delay_main, q);

	if (r)
		return -r;
	pthread_mutex_lock(&q->lock);
	q->started = true;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* After fk_delayq_stop() (or without a thread) the call fires at once. */
void fk_delayq_push(struct fk_delayq *q, struct fk_delayed *d, unsigned delay_ms)
{
	struct fk_delayed **p;

	d->due_ns = now_mono_ns() + (uint64_t)delay_ms * NSEC_PER_MSEC;
	pthread_mutex_lock(&q->lock);
	if (q->stop || !q->started) {
		pthread_mutex_unlock(&q->lock);
		d->fire(d);
		return;
	}
	for (p = &q->head; *p && (*p)->due_ns <= d->due_ns; p = &(*p)->next)
		;
	d->next = *p;
	*p = d;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void fk_delayq_stop(struct fk_delayq *q)
{
	bool started;

	pthread_mutex_lock(&q->lock);
	started = q->started;
	q->stop = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (started)
		pthread_join(q->thread, NULL);
}
