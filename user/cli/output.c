// SPDX-License-Identifier: Apache-2.0
/* Helpers shared by the JSON and text output: times, ages, state names and
 * the per-pod summary (READY n/m, newest sandbox). */
#include <string.h>
#include <time.h>

#include "output.h"
#include "util.h"

void out_format_time(uint64_t real_ns, int digits, char *buf, size_t n)
{
	time_t sec = (time_t)(real_ns / NSEC_PER_SEC);
	unsigned long frac = (unsigned long)(real_ns % NSEC_PER_SEC);
	struct tm tm;
	size_t len;

	if (digits < 0)
		digits = 0;
	if (digits > 9)
		digits = 9;
	if (!gmtime_r(&sec, &tm) || !(len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(buf, n, "?");
		return;
	}
	for (int i = digits; i < 9; i++)
		frac /= 10;
	if (digits)
		snprintf(buf + len, n - len, ".%0*luZ", digits, frac);
	else
		snprintf(buf + len, n - len, "Z");
}

void out_format_age(uint64_t age_ns, char *buf, size_t n)
{
	uint64_t s = age_ns / NSEC_PER_SEC;

	if (s < 60)
		snprintf(buf, n, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%llum%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lluh%llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%llud%lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}

const char *out_container_state_str(enum kpleg_container_state s)
{
	switch (s) {
	case KPLEG_CONTAINER_CREATED: return "Created";
	case KPLEG_CONTAINER_RUNNING: return "Running";
	case KPLEG_CONTAINER_EXITED: return "Exited";
	case KPLEG_CONTAINER_UNKNOWN: return "Unknown";
	}
	return "Unknown";
}

const char *out_sandbox_state_str(enum kpleg_sandbox_state s)
{
	return s == KPLEG_SANDBOX_READY ? "Ready" : "NotReady";
}

static const struct kpleg_sandbox_status *newest_sandbox(const struct kpleg_pod_status *p)
{
	const struct kpleg_sandbox_status *best = NULL;

	for (size_t i = 0; i < p->n_sandboxes; i++) {
		const struct kpleg_sandbox_status *sb = &p->sandboxes[i];

		if (!best || sb->created_at > best->created_at ||
		    (sb->created_at == best->created_at && sb->attempt > best->attempt))
			best = sb;
	}
	return best;
}

static bool in_sandbox(const struct kpleg_sandbox_status *sb, const struct kpleg_container_status *c)
{
	return !sb || !strcmp(c->sandbox_id, sb->id);
}

/* @a replaces @b: a later attempt, or the same attempt created later. */
static bool newer_attempt(const struct kpleg_container_status *a,
			  const struct kpleg_container_status *b)
{
	return a->attempt > b->attempt ||
	       (a->attempt == b->attempt && a->created_at > b->created_at);
}

bool out_container_is_current(const struct kpleg_pod_status *p,
			      const struct kpleg_sandbox_status *sb,
			      const struct kpleg_container_status *c)
{
	if (!in_sandbox(sb, c))
		return false;
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct kpleg_container_status *o = &p->containers[i];

		if (o != c && in_sandbox(sb, o) && !strcmp(o->name, c->name) && newer_attempt(o, c))
			return false;
	}
	return true;
}

void out_pod_summarize(const struct kpleg_pod_status *p, struct out_pod_summary *ret)
{
	struct out_pod_summary s = { .sandbox = newest_sandbox(p) };

	for (size_t i = 0; i < p->n_containers; i++) {
		const struct kpleg_container_status *c = &p->containers[i];

		if (!out_container_is_current(p, s.sandbox, c))
			continue;
		s.total++;
		s.ready += c->state == KPLEG_CONTAINER_RUNNING;
	}
	*ret = s;
}
