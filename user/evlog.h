/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's replay buffer: the last N lifecycle events, by sequence
 * number, for any number of readers. The tracker's engine appends (a callback
 * subscription); each Watch call reads from its own position and blocks for
 * more. A reader whose position has left the buffer is told so (-ESTALE):
 * it must resync from a snapshot; nothing is lost silently.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kpleg/kpleg.h"

struct evlog;

/* @cap events kept (at least 1). */
int evlog__new(unsigned cap, struct evlog **ret);
void evlog__free(struct evlog *l); /* NULL-safe; no reader may be waiting */

/* Appends @ev (its seq must be the last one + 1; a gap is kept as such). */
void evlog_push(struct evlog *l, const struct kpleg_event *ev);
/* Wakes every waiting reader (they return -ECANCELED from then on). */
void evlog_close(struct evlog *l);

/* Copies the events with seq >= @from into @out (at most @max), waiting up to
 * @timeout_ms for the first one (0: no wait). Returns how many (0 on
 * timeout), -ESTALE when @from is older than the oldest event kept,
 * -ECANCELED after evlog_close. */
int evlog_read(struct evlog *l, uint64_t from, struct kpleg_event *out, size_t max,
	       int timeout_ms);
/* The seq the next event will carry (1 before any). */
uint64_t evlog_next_seq(struct evlog *l);
/* The oldest seq still kept (next_seq when empty). */
uint64_t evlog_oldest_seq(struct evlog *l);
