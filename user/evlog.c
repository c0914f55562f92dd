// SPDX-License-Identifier: Apache-2.0
/* The replay buffer (evlog.h): a ring of events under one mutex, readers
 * waiting on one condition variable. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "evlog.h"
#include "util.h"

struct evlog {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct kpleg_event *ring;
	unsigned cap, count, head; /* head: index of the oldest */
	uint64_t next_seq;	   /* seq of the next event */
	bool closed;
};

int evlog__new(unsigned cap, struct evlog **ret)
{
	struct evlog *l;
	pthread_condattr_t ca;

	if (!cap || !ret)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ring = calloc(cap, sizeof(*l->ring));
	if (!l->ring) {
		free(l);
		return -ENOMEM;
	}
	l->cap = cap;
	l->next_seq = 1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->more, &ca);
	pthread_condattr_destroy(&ca);
	*ret = l;
	return 0;
}

void evlog__free(struct evlog *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->more);
	free(l->ring);
	free(l);
}

void evlog_push(struct evlog *l, const struct kpleg_event *ev)
{
	pthread_mutex_lock(&l->lock);
	if (l->count == l->cap) {
		l->head = (l->head + 1) % l->cap;
		l->count--;
	}
	l->ring[(l->head + l->count) % l->cap] = *ev;
	l->count++;
	l->next_seq = ev->seq + 1;
	pthread_cond_broadcast(&l->more);
	pthread_mutex_unlock(&l->lock);
}

void evlog_close(struct evlog *l)
{
	pthread_mutex_lock(&l->lock);
	l->closed = true;
	pthread_cond_broadcast(&l->more);
	pthread_mutex_unlock(&l->lock);
}

static uint64_t oldest_locked(const struct evlog *l)
{
	return l->count ? l->ring[l->head].seq : l->next_seq;
}

int evlog_read(struct evlog *l, uint64_t from, struct kpleg_event *out, size_t max,
	       int timeout_ms)
{
	uint64_t end = now_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * NSEC_PER_MSEC;
	struct timespec ts = { .tv_sec = end / NSEC_PER_SEC, .tv_nsec = end % NSEC_PER_SEC };
	int n = 0;

	pthread_mutex_lock(&l->lock);
	while (!l->closed && from >= l->next_seq && timeout_ms > 0 &&
	       pthread_cond_timedwait(&l->more, &l->lock, &ts) != ETIMEDOUT)
		;
	if (l->closed) {
		n = -ECANCELED;
	} else if (from < oldest_locked(l)) {
		n = -ESTALE;
	} else {
		for (unsigned i = 0; i < l->count && (size_t)n < max; i++) {
			const struct kpleg_event *ev = &l->ring[(l->head + i) % l->cap];

			if (ev->seq >= from)
				out[n++] = *ev;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

uint64_t evlog_next_seq(struct evlog *l)
{
	uint64_t s;

	pthread_mutex_lock(&l->lock);
	s = l->next_seq;
	pthread_mutex_unlock(&l->lock);
	return s;
}

uint64_t evlog_oldest_seq(struct evlog *l)
{
	uint64_t s;

	pthread_mutex_lock(&l->lock);
	s = oldest_locked(l);
	pthread_mutex_unlock(&l->lock);
	return s;
}
