// SPDX-License-Identifier: Apache-2.0
/* JSON output with json-c. The schema is documented (and promised stable) in
 * docs/EVENTS.md: keys that do not apply are left out, never null; new keys
 * may be added, existing ones keep their name, type and meaning. */
#include <errno.h>
#include <string.h>

#include "output.h"
#include "util.h"

#define JSON_FLAGS_LINE (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define JSON_FLAGS_PRETTY (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
			   JSON_C_TO_STRING_NOSLASHESCAPE)

static void add_str(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val ? val : ""));
}

/* Adds @val only when it is set: "where it applies". */
static void add_str_nonempty(json_object *o, const char *key, const char *val)
{
	if (val && *val)
		add_str(o, key, val);
}

static void add_u64(json_object *o, const char *key, uint64_t val)
{
	json_object_object_add(o, key, json_object_new_uint64(val));
}

static void add_time(json_object *o, const char *key, uint64_t real_ns)
{
	char buf[OUT_TIME_MAX];

	out_format_time(real_ns, 9, buf, sizeof(buf));
	add_str(o, key, buf);
}

/* Runtime timestamps (ns since the epoch); 0 means "not yet" and is left out. */
static void add_runtime_time(json_object *o, const char *key, int64_t ns)
{
	if (ns > 0)
		add_time(o, key, (uint64_t)ns);
}

json_object *out_event_json(const struct kpleg_event *ev)
{
	json_object *o = json_object_new_object();

	add_str(o, "type", kpleg_event_type_str(ev->type));
	add_u64(o, "seq", ev->seq);
	add_str(o, "pod_uid", ev->pod_uid);
	add_str(o, "pod_name", ev->pod_name);
	add_str(o, "namespace", ev->pod_namespace);
	add_str_nonempty(o, "sandbox_id", ev->sandbox_id);
	add_str_nonempty(o, "container_id", ev->container_id);
	add_str_nonempty(o, "container_name", ev->container_name);
	if (ev->has_exit_code)
		json_object_object_add(o, "exit_code", json_object_new_int(ev->exit_code));
	add_str_nonempty(o, "reason", ev->reason);
	if (ev->provisional)
		json_object_object_add(o, "provisional", json_object_new_boolean(true));
	if (ev->type == KPLEG_EVENT_CONTAINER_CONFIRMED) {
		json_object_object_add(o, "corrected", json_object_new_boolean(ev->corrected));
		json_object_object_add(o, "kernel_exit_code",
				       json_object_new_int(ev->kernel_exit_code));
	}
	if (ev->kernel_mono_ns)
		add_u64(o, "kernel_mono_ns", ev->kernel_mono_ns);
	add_str(o, "source", kpleg_source_str(ev->source));
	add_u64(o, "observed_mono_ns", ev->observed_mono_ns);
	add_time(o, "observed_time", ev->observed_real_ns);
	return o;
}

json_object *out_health_json(const struct kpleg_health *h)
{
	json_object *o = json_object_new_object();

	add_str(o, "type", "Health");
	json_object_object_add(o, "healthy", json_object_new_boolean(h->healthy));
	if (!h->healthy)
		add_str(o, "reason", *h->reason ? h->reason : "unhealthy");
	add_time(o, "observed_time", now_real_ns());
	return o;
}

json_object *out_events_lost_json(void)
{
	json_object *o = json_object_new_object();

	add_str(o, "type", OUT_EVENTS_LOST);
	add_str(o, "reason", "the event queue overflowed; run `kpleg pods` for current state");
	add_time(o, "observed_time", now_real_ns());
	return o;
}

static json_object *sandbox_json(const struct kpleg_sandbox_status *sb)
{
	json_object *o = json_object_new_object(), *labels = json_object_new_object();

	add_str(o, "id", sb->id);
	add_str(o, "state", out_sandbox_state_str(sb->state));
	json_object_object_add(o, "attempt", json_object_new_int64(sb->attempt));
	add_runtime_time(o, "created_at", sb->created_at);
	add_str_nonempty(o, "ip", sb->ip);
	for (size_t i = 0; i < sb->n_labels; i++)
		add_str(labels, sb->labels[i].key, sb->labels[i].value);
	json_object_object_add(o, "labels", labels);
	return o;
}

static json_object *container_json(const struct kpleg_container_status *c)
{
	json_object *o = json_object_new_object();

	add_str(o, "id", c->id);
	add_str(o, "sandbox_id", c->sandbox_id);
	add_str(o, "name", c->name);
	json_object_object_add(o, "attempt", json_object_new_int64(c->attempt));
	add_str(o, "state", out_container_state_str(c->state));
	if (c->state == KPLEG_CONTAINER_EXITED)
		json_object_object_add(o, "exit_code", json_object_new_int(c->exit_code));
	add_str_nonempty(o, "reason", c->reason);
	add_str_nonempty(o, "message", c->message);
	add_str_nonempty(o, "image", c->image);
	add_runtime_time(o, "created_at", c->created_at);
	add_runtime_time(o, "started_at", c->started_at);
	add_runtime_time(o, "finished_at", c->finished_at);
	return o;
}

json_object *out_pod_json(const struct kpleg_pod_status *p)
{
	json_object *o = json_object_new_object();
	json_object *sbs = json_object_new_array(), *cts = json_object_new_array();
	struct out_pod_summary sum;

	out_pod_summarize(p, &sum);
	add_str(o, "uid", p->uid);
	add_str(o, "name", p->name);
	add_str(o, "namespace", p->namespace_);
	if (sum.sandbox)
		add_str(o, "state", out_sandbox_state_str(sum.sandbox->state));
	json_object_object_add(o, "ready", json_object_new_int64(sum.ready));
	json_object_object_add(o, "containers_total", json_object_new_int64(sum.total));
	add_u64(o, "observed_mono_ns", p->observed_mono_ns);
	if (p->last_error)
		add_str(o, "last_error", strerror(-p->last_error));
	for (size_t i = 0; i < p->n_sandboxes; i++)
		json_object_array_add(sbs, sandbox_json(&p->sandboxes[i]));
	for (size_t i = 0; i < p->n_containers; i++)
		json_object_array_add(cts, container_json(&p->containers[i]));
	json_object_object_add(o, "sandboxes", sbs);
	json_object_object_add(o, "containers", cts);
	return o;
}

static int write_flush(FILE *f, const char *s)
{
	if (fputs(s, f) == EOF || fputc('\n', f) == EOF || fflush(f) == EOF)
		return errno ? -errno : -EIO;
	return 0;
}

int out_json_line(FILE *f, json_object *o)
{
	int r;

	errno = 0;
	r = write_flush(f, json_object_to_json_string_ext(o, JSON_FLAGS_LINE));
	json_object_put(o);
	return r;
}

int out_pods_json(FILE *f, struct kpleg_pod_status *const *pods, size_t n)
{
	json_object *arr = json_object_new_array_ext((int)n);
	int r;

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, out_pod_json(pods[i]));
	errno = 0;
	r = write_flush(f, json_object_to_json_string_ext(arr, JSON_FLAGS_PRETTY));
	json_object_put(arr);
	return r;
}

int out_pod_json_pretty(FILE *f, const struct kpleg_pod_status *p)
{
	json_object *o = out_pod_json(p);
	int r;

	errno = 0;
	r = write_flush(f, json_object_to_json_string_ext(o, JSON_FLAGS_PRETTY));
	json_object_put(o);
	return r;
}

json_object *out_resync_json(const struct out_resync *rs)
{
	json_object *o = json_object_new_object();
	json_object *pods = json_object_new_array_ext((int)rs->n_pods);

	add_str(o, "type", OUT_RESYNC);
	add_str_nonempty(o, "reason", rs->reason);
	add_u64(o, "seq", rs->seq);
	add_u64(o, "epoch", rs->epoch);
	add_u64(o, "observed_mono_ns", rs->observed_mono_ns);
	add_time(o, "observed_time", rs->observed_real_ns);
	for (size_t i = 0; i < rs->n_pods; i++)
		json_object_array_add(pods, out_pod_json(rs->pods[i]));
	json_object_object_add(o, "pods", pods);
	return o;
}
