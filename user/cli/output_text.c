// SPDX-License-Identifier: Apache-2.0
/* Readable output: aligned event lines for `watch` and the `pods` table.
 * Columns pad but never truncate names (a cut name is worse than a ragged
 * line); ids are shortened to 13 characters like crictl's. */
#include <errno.h>
#include <string.h>

#include "output.h"
#include "util.h"

#define EVENT_FMT "%-24s %-18s %-36s %-16s %-13.13s %-30s %s\n"

static int flush_result(FILE *f)
{
	if (ferror(f) || fflush(f) == EOF)
		return errno ? -errno : -EIO;
	return 0;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

int out_event_text_header(FILE *f)
{
	errno = 0;
	fprintf(f, EVENT_FMT, "TIME", "EVENT", "POD", "CONTAINER", "ID", "RESULT", "SOURCE");
	return flush_result(f);
}

static void event_result(const struct kpleg_event *ev, char *buf, size_t n)
{
	const char *mark = ev->provisional ? ", provisional"
			   : ev->type != KPLEG_EVENT_CONTAINER_CONFIRMED ? ""
			   : ev->corrected ? ", corrected" : ", confirmed";

	if (ev->has_exit_code && *ev->reason)
		snprintf(buf, n, "exit %d (%s%s)", ev->exit_code, ev->reason, mark);
	else if (*mark)
		snprintf(buf, n, "%s%s", ev->has_exit_code ? "exit" : "running", mark);
	else if (ev->has_exit_code && *ev->reason)
		snprintf(buf, n, "exit %d (%s)", ev->exit_code, ev->reason);
	else if (ev->has_exit_code)
		snprintf(buf, n, "exit %d", ev->exit_code);
	else
		snprintf(buf, n, "%s", or_dash(ev->reason));
}

int out_event_text(FILE *f, const struct kpleg_event *ev)
{
	char when[OUT_TIME_MAX], pod[2 * KPLEG_NAME_MAX], result[KPLEG_REASON_MAX + 24];
	const char *id = *ev->container_id ? ev->container_id : ev->sandbox_id;

	out_format_time(ev->observed_real_ns, 3, when, sizeof(when));
	snprintf(pod, sizeof(pod), "%s/%s", or_dash(ev->pod_namespace), or_dash(ev->pod_name));
	event_result(ev, result, sizeof(result));
	errno = 0;
	fprintf(f, EVENT_FMT, when, kpleg_event_type_str(ev->type), pod, or_dash(ev->container_name),
		or_dash(id), result, kpleg_source_str(ev->source));
	return flush_result(f);
}

int out_health_text(FILE *f, const struct kpleg_health *h, uint64_t real_ns)
{
	char when[OUT_TIME_MAX];

	out_format_time(real_ns, 3, when, sizeof(when));
	errno = 0;
	if (h->healthy)
		fprintf(f, "%-24s %-17s healthy again\n", when, "Health");
	else
		fprintf(f, "%-24s %-17s NOT HEALTHY: %s\n", when, "Health", or_dash(h->reason));
	return flush_result(f);
}

int out_events_lost_text(FILE *f, uint64_t real_ns)
{
	char when[OUT_TIME_MAX];

	out_format_time(real_ns, 3, when, sizeof(when));
	errno = 0;
	fprintf(f, "%-24s %-17s the event queue overflowed: events were lost "
		   "(run `kpleg pods` for current state)\n", when, OUT_EVENTS_LOST);
	return flush_result(f);
}

int out_resync_text(FILE *f, const struct out_resync *rs)
{
	char when[OUT_TIME_MAX];

	out_format_time(rs->observed_real_ns, 3, when, sizeof(when));
	errno = 0;
	fprintf(f, "%-24s %-18s %s; the state as of seq %llu: %zu pod%s (kpleg pods shows "
		   "them)\n", when, OUT_RESYNC, or_dash(rs->reason), (unsigned long long)rs->seq,
		rs->n_pods, rs->n_pods == 1 ? "" : "s");
	return flush_result(f);
}

/* ---- pods table ----------------------------------------------------------- */

#define POD_FMT "%-16s %-32s %-36s %-5s %-8s %*s"

static void pod_age(const struct kpleg_sandbox_status *sb, uint64_t now_real_ns, char *buf, size_t n)
{
	if (!sb || sb->created_at <= 0 || (uint64_t)sb->created_at > now_real_ns)
		snprintf(buf, n, "-");
	else
		out_format_age(now_real_ns - (uint64_t)sb->created_at, buf, n);
}

static void print_pod_header(FILE *f, bool wide)
{
	fprintf(f, POD_FMT, "NAMESPACE", "POD", "UID", "READY", "STATE", wide ? -6 : 0, "AGE");
	if (wide)
		fprintf(f, " %-13s %s", "SANDBOX", "IP");
	fputc('\n', f);
}

static void print_container_line(FILE *f, const struct kpleg_container_status *c, bool current)
{
	fprintf(f, "  └ %-24s %-13.13s %-8s attempt=%u", c->name, c->id,
		out_container_state_str(c->state), c->attempt);
	if (c->state == KPLEG_CONTAINER_EXITED)
		fprintf(f, " exit=%d", c->exit_code);
	if (c->reason && *c->reason)
		fprintf(f, " reason=%s", c->reason);
	if (!current)
		fputs(" (old)", f);
	fputc('\n', f);
}

static void print_pod(FILE *f, const struct kpleg_pod_status *p, bool wide, uint64_t now_real_ns)
{
	struct out_pod_summary s;
	char ready[32], age[32];

	out_pod_summarize(p, &s);
	snprintf(ready, sizeof(ready), "%u/%u", s.ready, s.total);
	pod_age(s.sandbox, now_real_ns, age, sizeof(age));
	fprintf(f, POD_FMT, or_dash(p->namespace_), or_dash(p->name), p->uid, ready,
		s.sandbox ? out_sandbox_state_str(s.sandbox->state) : "-", wide ? -6 : 0, age);
	if (wide)
		fprintf(f, " %-13.13s %s", s.sandbox ? s.sandbox->id : "-",
			or_dash(s.sandbox ? s.sandbox->ip : NULL));
	fputc('\n', f);
	if (!wide)
		return;
	for (size_t i = 0; i < p->n_containers; i++)
		print_container_line(f, &p->containers[i],
				     out_container_is_current(p, s.sandbox, &p->containers[i]));
}

int out_pods_table(FILE *f, struct kpleg_pod_status *const *pods, size_t n, bool wide,
		   uint64_t now_real_ns)
{
	errno = 0;
	print_pod_header(f, wide);
	for (size_t i = 0; i < n; i++)
		print_pod(f, pods[i], wide, now_real_ns);
	return flush_result(f);
}
