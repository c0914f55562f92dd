// SPDX-License-Identifier: Apache-2.0
/* Delivering lifecycle events to subscribers: callbacks on the engine thread,
 * or bounded queues with an eventfd for event loops. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tracker_internal.h"

#define DEFAULT_QUEUE_LEN 4096

static void queue_push(struct kpleg_subscription *s, const struct kpleg_event *ev)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	if (s->count == s->cap) {
		/* Dropping silently would be lost state: say so, once, and make the
		 * consumer resync. */
		s->overflowed = true;
		tracker_metrics_discarded(s->t, s->count + 1ULL); /* the queue and this one */
		s->count = 0;
		s->head = 0;
		pthread_mutex_lock(&s->t->stats_lock);
		s->t->stats.subscriber_drops++;
		pthread_mutex_unlock(&s->t->stats_lock);
	} else {
		s->ring[(s->head + s->count) % s->cap] = *ev;
		s->count++;
	}
	pthread_mutex_unlock(&s->lock);
	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the fd is readable anyway */
	}
}

void subs_deliver(struct kpleg_tracker *t, const struct kpleg_event *ev)
{
	pthread_mutex_lock(&t->subs_lock);
	for (struct kpleg_subscription *s = t->subs; s; s = s->next) {
		if (s->cb)
			s->cb(ev, s->userdata);
		else
			queue_push(s, ev);
	}
	pthread_mutex_unlock(&t->subs_lock);
}

static int add(struct kpleg_tracker *t, struct kpleg_subscription *s,
	       struct kpleg_subscription **ret)
{
	s->t = t;
	pthread_mutex_lock(&t->subs_lock);
	s->next = t->subs;
	t->subs = s;
	pthread_mutex_unlock(&t->subs_lock);
	*ret = s;
	return 0;
}

int kpleg_tracker__subscribe(struct kpleg_tracker *t, kpleg_event_cb cb, void *userdata,
			     struct kpleg_subscription **ret)
{
	struct kpleg_subscription *s;

	if (!t || !cb || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cb = cb;
	s->userdata = userdata;
	s->efd = -1;
	pthread_mutex_init(&s->lock, NULL);
	return add(t, s, ret);
}

int kpleg_tracker__subscribe_queue(struct kpleg_tracker *t, unsigned queue_len,
				   struct kpleg_subscription **ret)
{
	struct kpleg_subscription *s;

	if (!t || !ret || queue_len > (1u << 24))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cap = queue_len ? queue_len : DEFAULT_QUEUE_LEN;
	s->ring = calloc(s->cap, sizeof(*s->ring));
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->ring || s->efd < 0) {
		int err = s->ring ? -errno : -ENOMEM;

		if (s->efd >= 0)
			close(s->efd);
		free(s->ring);
		free(s);
		return err;
	}
	pthread_mutex_init(&s->lock, NULL);
	return add(t, s, ret);
}

int kpleg_subscription__fd(const struct kpleg_subscription *s)
{
	return s ? s->efd : -EINVAL;
}

int kpleg_subscription__next(struct kpleg_subscription *s, struct kpleg_event *ret)
{
	uint64_t v;
	int r = -EAGAIN;

	if (!s || !s->ring)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->overflowed) {
		s->overflowed = false;
		r = -ENOBUFS;
	} else if (s->count) {
		*ret = s->ring[s->head];
		s->head = (s->head + 1) % s->cap;
		s->count--;
		r = 0;
	}
	if (!s->count && !s->overflowed && read(s->efd, &v, sizeof(v)) < 0) {
		/* already drained */
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void kpleg_subscription__free(struct kpleg_subscription *s)
{
	struct kpleg_subscription **pp;

	if (!s)
		return;
	pthread_mutex_lock(&s->t->subs_lock);
	for (pp = &s->t->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&s->t->subs_lock);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->lock);
	free(s->ring);
	free(s);
}
