// SPDX-License-Identifier: Apache-2.0
/* `kpleg trace`'s join of several trackers' events into rows (trace_join.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "htab.h"
#include "trace_join.h"
#include "util.h"

/* Keys of written rows, so that a slow tracker's late report does not open a
 * second row; the oldest are forgotten first. */
#define WRITTEN_KEYS 16384
#define KEY_MAX (KPLEG_ID_MAX + 4)

enum lookup_state { LOOKUP_NONE, LOOKUP_READY, LOOKUP_TAKEN };

struct jrow {
	struct hnode node;
	struct jrow *prev, *next; /* in order of first report */
	char key[KEY_MAX];
	uint64_t first_ns;
	unsigned reported;	  /* trackers done with this transition */
	bool exit_from_runtime;
	enum lookup_state lookup;
	enum trace_src lookup_src;
	struct trace_row row;
};

struct written {
	struct hnode node;
	char key[KEY_MAX];
};

struct join {
	pthread_mutex_t lock;
	int wake_fd;
	bool recording, closed;
	unsigned expected;
	struct htab rows, written;
	struct jrow *head, *tail;
	size_t n_open;
	struct written *ring; /* WRITTEN_KEYS */
	size_t ring_next;
};

int join__new(int wake_fd, struct join **ret)
{
	struct join *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	pthread_mutex_init(&j->lock, NULL);
	j->ring = calloc(WRITTEN_KEYS, sizeof(*j->ring));
	if (!j->ring || htab_init(&j->rows) < 0 || htab_init(&j->written) < 0) {
		join__free(j);
		return -ENOMEM;
	}
	j->wake_fd = wake_fd;
	*ret = j;
	return 0;
}

void join__free(struct join *j)
{
	struct jrow *r, *next;

	if (!j)
		return;
	for (r = j->head; r; r = next) {
		next = r->next;
		free(r);
	}
	htab_fini(&j->rows);
	htab_fini(&j->written);
	free(j->ring);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

void join_start(struct join *j, unsigned expected)
{
	pthread_mutex_lock(&j->lock);
	j->expected = expected;
	j->recording = true;
	pthread_mutex_unlock(&j->lock);
}

void join_close(struct join *j)
{
	pthread_mutex_lock(&j->lock);
	j->closed = true;
	pthread_mutex_unlock(&j->lock);
}

/* ---- recording (tracker engine threads) -------------------------------------- */

static void make_key(char *key, const char *id, enum kpleg_event_type type)
{
	snprintf(key, KEY_MAX, "%s:%d", id, (int)type);
}

static void fill(char *dst, size_t n, const char *src)
{
	if (!*dst)
		snprintf(dst, n, "%s", src);
}

static struct jrow *open_row(struct join *j, const char *key, enum kpleg_event_type type,
			     uint64_t now)
{
	struct jrow *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->node.key = r->key;
	r->first_ns = now;
	trace_row_init(&r->row);
	r->row.transition = type;
	if (htab_add(&j->rows, &r->node) < 0) {
		free(r);
		return NULL;
	}
	r->prev = j->tail;
	if (j->tail)
		j->tail->next = r;
	else
		j->head = r;
	j->tail = r;
	j->n_open++;
	return r;
}

static void set_time(struct jrow *r, enum trace_time i, uint64_t ns)
{
	if (r->row.t[i] == TRACE_NONE && ns <= INT64_MAX)
		r->row.t[i] = (int64_t)ns;
}

/* The runtime's exit code wins over the kernel's provisional one. */
static void set_exit(struct jrow *r, const struct kpleg_event *ev)
{
	bool runtime = !ev->provisional;

	if (!ev->has_exit_code || r->exit_from_runtime || (!runtime && r->row.has_exit_code))
		return;
	r->row.has_exit_code = true;
	r->row.exit_code = ev->exit_code;
	snprintf(r->row.reason, sizeof(r->row.reason), "%s", ev->reason);
	r->exit_from_runtime = runtime;
}

static bool has_runtime_ts(enum kpleg_event_type type)
{
	return type == KPLEG_EVENT_CONTAINER_CREATED || type == KPLEG_EVENT_CONTAINER_STARTED ||
	       type == KPLEG_EVENT_CONTAINER_DIED || type == KPLEG_EVENT_SANDBOX_READY;
}

static void record(struct jrow *r, enum trace_src src, const struct kpleg_event *ev, uint64_t now)
{
	switch (src) {
	case TRACE_SRC_GENERIC:
		set_time(r, TRACE_RELIST, now);
		break;
	case TRACE_SRC_EVENTED:
		/* Its relist (while the stream is down) is not the event stream. */
		if (ev->source == KPLEG_SOURCE_CRI_EVENT)
			set_time(r, TRACE_CRI_EVENT, now);
		break;
	case TRACE_SRC_AUTO:
		if (ev->kernel_mono_ns)
			set_time(r, TRACE_KERNEL, ev->kernel_mono_ns);
		if (ev->type == KPLEG_EVENT_CONTAINER_DIED && ev->provisional) {
			set_time(r, TRACE_HINT, now);
			return; /* the runtime's word is still to come */
		}
		set_time(r, TRACE_CONFIRMED, now);
		break;
	default:
		return;
	}
	r->reported |= 1u << src;
	if (src != TRACE_SRC_AUTO && r->lookup == LOOKUP_NONE && has_runtime_ts(r->row.transition)) {
		r->lookup = LOOKUP_READY;
		r->lookup_src = src;
	}
}

void join_event(struct join *j, enum trace_src src, const struct kpleg_event *ev,
		uint64_t now_ns)
{
	enum kpleg_event_type type = ev->type;
	const char *id = *ev->container_id ? ev->container_id : ev->sandbox_id;
	char key[KEY_MAX];
	struct jrow *r;
	uint64_t one = 1;

	if (type == KPLEG_EVENT_CONTAINER_CONFIRMED)
		type = KPLEG_EVENT_CONTAINER_DIED;
	if (!trace_transition_ok(type) || !*id || !*ev->pod_uid)
		return;
	make_key(key, id, type);
	pthread_mutex_lock(&j->lock);
	if (!j->recording) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	r = (struct jrow *)htab_find(&j->rows, key);
	if (!r && !j->closed && !htab_find(&j->written, key))
		r = open_row(j, key, type, now_ns);
	if (r) {
		fill(r->row.pod_namespace, sizeof(r->row.pod_namespace), ev->pod_namespace);
		fill(r->row.pod_name, sizeof(r->row.pod_name), ev->pod_name);
		fill(r->row.pod_uid, sizeof(r->row.pod_uid), ev->pod_uid);
		fill(r->row.sandbox_id, sizeof(r->row.sandbox_id), ev->sandbox_id);
		fill(r->row.container_id, sizeof(r->row.container_id), ev->container_id);
		fill(r->row.container_name, sizeof(r->row.container_name), ev->container_name);
		set_exit(r, ev);
		record(r, src, ev, now_ns);
	}
	pthread_mutex_unlock(&j->lock);
	if (r && j->wake_fd >= 0 && write(j->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the main thread is awake anyway. */
	}
}

/* ---- the main thread ----------------------------------------------------------- */

size_t join_take_lookups(struct join *j, struct join_lookup *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&j->lock);
	for (struct jrow *r = j->head; r && n < max; r = r->next) {
		if (r->lookup != LOOKUP_READY)
			continue;
		r->lookup = LOOKUP_TAKEN;
		out[n].src = r->lookup_src;
		out[n].transition = r->row.transition;
		snprintf(out[n].pod_uid, sizeof(out[n].pod_uid), "%s", r->row.pod_uid);
		snprintf(out[n].id, sizeof(out[n].id), "%s",
			 *r->row.container_id ? r->row.container_id : r->row.sandbox_id);
		n++;
	}
	pthread_mutex_unlock(&j->lock);
	return n;
}

void join_set_runtime(struct join *j, const struct join_lookup *l, int64_t mono_ns)
{
	char key[KEY_MAX];
	struct jrow *r;

	make_key(key, l->id, l->transition);
	pthread_mutex_lock(&j->lock);
	r = (struct jrow *)htab_find(&j->rows, key);
	if (r && mono_ns >= 0)
		r->row.t[TRACE_RUNTIME] = mono_ns;
	pthread_mutex_unlock(&j->lock);
}

static void remember_written(struct join *j, const char *key)
{
	struct written *w = &j->ring[j->ring_next];

	if (w->node.key)
		htab_del(&j->written, &w->node);
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->node.key = w->key;
	if (htab_add(&j->written, &w->node) < 0)
		w->node.key = NULL;
	j->ring_next = (j->ring_next + 1) % WRITTEN_KEYS;
}

static void unlink_row(struct join *j, struct jrow *r)
{
	htab_del(&j->rows, &r->node);
	if (r->prev)
		r->prev->next = r->next;
	else
		j->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		j->tail = r->prev;
	j->n_open--;
	remember_written(j, r->key);
}

static bool due(const struct join *j, const struct jrow *r, uint64_t now, uint64_t linger)
{
	/* A runtime timestamp ready to be looked up is waited for. */
	return ((r->reported & j->expected) == j->expected && r->lookup != LOOKUP_READY) ||
	       now - r->first_ns >= linger;
}

/* The evented tracker's relist opens a row without a time of its own. */
static bool has_time(const struct trace_row *r)
{
	for (int i = 0; i < TRACE_RUNTIME; i++)
		if (r->t[i] != TRACE_NONE)
			return true;
	return false;
}

int join_flush(struct join *j, uint64_t now_ns, uint64_t linger_ns, bool all,
	       int (*fn)(const struct trace_row *r, void *ctx), void *ctx)
{
	struct jrow *r, *next;
	int err = 0;

	/* Rows are written under the lock: the callbacks wait for a buffered
	 * write, never for a tracker. */
	pthread_mutex_lock(&j->lock);
	for (r = j->head; r; r = next) {
		next = r->next;
		if (!all && !due(j, r, now_ns, linger_ns))
			continue;
		if (has_time(&r->row) && (err = fn(&r->row, ctx)) < 0)
			break;
		unlink_row(j, r);
		free(r);
	}
	pthread_mutex_unlock(&j->lock);
	return err;
}

size_t join_open_rows(struct join *j)
{
	size_t n;

	pthread_mutex_lock(&j->lock);
	n = j->n_open;
	pthread_mutex_unlock(&j->lock);
	return n;
}
