// SPDX-License-Identifier: Apache-2.0
/*
 * test_proto_compat: proves proto/cri.proto is a wire-compatible subset of the
 * upstream CRI api.proto (k8s.io/cri-api runtime.v1).
 *
 * Usage: test_proto_compat OURS.desc UPSTREAM.desc BAD.desc
 *   Each argument is a FileDescriptorSet written by
 *   `protoc --include_imports --descriptor_set_out=...`.
 *
 * compare() walks every message (nested and map entry types included), field,
 * enum, enum value, service and method of OURS and looks each one up by its
 * fully-qualified name in UPSTREAM. Anything only upstream is fine (subset).
 * Each mismatch is reported as one line, e.g.
 *   runtime.v1.ContainerStatus.exit_code: number 7 upstream, 8 ours
 *
 * Tests:
 *   ours_matches_upstream:  0 mismatches, and every element of OURS was
 *                           actually compared (non-trivial counts).
 *   bad_proto_is_caught:    tests/data/bad_cri.proto yields exactly the
 *                           planted mismatch lines, no more, no fewer.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__FileDescriptorSet FdSet;
typedef Google__Protobuf__FileDescriptorProto FileDesc;
typedef Google__Protobuf__DescriptorProto MsgDesc;
typedef Google__Protobuf__FieldDescriptorProto FieldDesc;
typedef Google__Protobuf__EnumDescriptorProto EnumDesc;
typedef Google__Protobuf__EnumValueDescriptorProto EnumValDesc;
typedef Google__Protobuf__ServiceDescriptorProto SvcDesc;
typedef Google__Protobuf__MethodDescriptorProto MethodDesc;

enum { NAME_MAX_LEN = 512, LINE_MAX_LEN = 640 };

/* ------------------------------------------------------------------------ */
/* comparer                                                                  */
/* ------------------------------------------------------------------------ */

typedef void (*report_fn)(void *arg, const char *line);

struct compare_stats {
	unsigned files, messages, fields, enums, enum_values, services, methods;
};

/* Where mismatch lines go, plus what was compared (filled by compare()). */
struct compare_report {
	report_fn fn;
	void *arg;
	struct compare_stats stats;
};

__attribute__((format(printf, 2, 3)))
static int mismatch(struct compare_report *rep, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rep->fn(rep->arg, line);
	return 1;
}

/* out = scope "." name (or just name at the root). 0 or -ENAMETOOLONG. */
static int join_name(char *out, size_t size, const char *scope, const char *name)
{
	int n;

	if (scope && scope[0])
		n = snprintf(out, size, "%s.%s", scope, name);
	else
		n = snprintf(out, size, "%s", name);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

static const char *or_none(const char *s)
{
	return s ? s : "(none)";
}

static int str_eq(const char *a, const char *b)
{
	return strcmp(or_none(a), or_none(b)) == 0;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	return ev ? ev->name : "(invalid)";
}

static const char *bool_name(protobuf_c_boolean b)
{
	return b ? "true" : "false";
}

/* --- upstream lookups by fully-qualified name (no leading dot) ---------- */

/* Is fqn == prefix or does fqn start with prefix "."? */
static int name_under(const char *fqn, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(fqn, prefix, n) == 0 && (fqn[n] == '\0' || fqn[n] == '.');
}

static const MsgDesc *find_msg_in(MsgDesc *const *msgs, size_t n,
				  const char *scope, const char *fqn)
{
	char name[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		if (join_name(name, sizeof(name), scope, msgs[i]->name) < 0 ||
		    !name_under(fqn, name))
			continue;
		if (strcmp(fqn, name) == 0)
			return msgs[i];
		const MsgDesc *m = find_msg_in(msgs[i]->nested_type,
					       msgs[i]->n_nested_type, name, fqn);
		if (m)
			return m;
	}
	return NULL;
}

static const MsgDesc *find_message(const FdSet *set, const char *fqn)
{
	for (size_t i = 0; i < set->n_file; i++) {
		const FileDesc *f = set->file[i];
		const MsgDesc *m = find_msg_in(f->message_type, f->n_message_type,
					       f->package, fqn);
		if (m)
			return m;
	}
	return NULL;
}

static const EnumDesc *find_enum_here(EnumDesc *const *enums, size_t n,
				      const char *scope, const char *fqn)
{
	char name[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++)
		if (join_name(name, sizeof(name), scope, enums[i]->name) == 0 &&
		    strcmp(name, fqn) == 0)
			return enums[i];
	return NULL;
}

static const EnumDesc *find_enum_in_msgs(MsgDesc *const *msgs, size_t n,
					 const char *scope, const char *fqn)
{
	char name[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		const MsgDesc *m = msgs[i];
		const EnumDesc *e;

		if (join_name(name, sizeof(name), scope, m->name) < 0 ||
		    !name_under(fqn, name))
			continue;
		e = find_enum_here(m->enum_type, m->n_enum_type, name, fqn);
		if (!e)
			e = find_enum_in_msgs(m->nested_type, m->n_nested_type,
					      name, fqn);
		if (e)
			return e;
	}
	return NULL;
}

static const EnumDesc *find_enum(const FdSet *set, const char *fqn)
{
	for (size_t i = 0; i < set->n_file; i++) {
		const FileDesc *f = set->file[i];
		const EnumDesc *e = find_enum_here(f->enum_type, f->n_enum_type,
						   f->package, fqn);
		if (!e)
			e = find_enum_in_msgs(f->message_type, f->n_message_type,
					      f->package, fqn);
		if (e)
			return e;
	}
	return NULL;
}

static const SvcDesc *find_service(const FdSet *set, const char *fqn)
{
	char name[NAME_MAX_LEN];

	for (size_t i = 0; i < set->n_file; i++) {
		const FileDesc *f = set->file[i];

		for (size_t j = 0; j < f->n_service; j++)
			if (join_name(name, sizeof(name), f->package,
				      f->service[j]->name) == 0 &&
			    strcmp(name, fqn) == 0)
				return f->service[j];
	}
	return NULL;
}

static const FileDesc *find_package(const FdSet *set, const char *package)
{
	for (size_t i = 0; i < set->n_file; i++)
		if (str_eq(set->file[i]->package, package))
			return set->file[i];
	return NULL;
}

/* --- element comparisons; each returns its number of mismatches -------- */

static int compare_field(struct compare_report *rep, const MsgDesc *up_msg,
			 const char *msg_fqn, const FieldDesc *f)
{
	char fqn[NAME_MAX_LEN];
	const FieldDesc *u = NULL;
	int bad = 0;

	if (join_name(fqn, sizeof(fqn), msg_fqn, f->name) < 0)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < up_msg->n_field && !u; i++)
		if (strcmp(up_msg->field[i]->name, f->name) == 0)
			u = up_msg->field[i];
	if (!u)
		return mismatch(rep, "%s: field not upstream", fqn);
	rep->stats.fields++;
	if (u->number != f->number)
		bad += mismatch(rep, "%s: number %d upstream, %d ours", fqn,
				u->number, f->number);
	if (u->type != f->type)
		bad += mismatch(rep, "%s: type %s upstream, %s ours", fqn,
				enum_name(&google__protobuf__field_descriptor_proto__type__descriptor, u->type),
				enum_name(&google__protobuf__field_descriptor_proto__type__descriptor, f->type));
	if (u->label != f->label)
		bad += mismatch(rep, "%s: label %s upstream, %s ours", fqn,
				enum_name(&google__protobuf__field_descriptor_proto__label__descriptor, u->label),
				enum_name(&google__protobuf__field_descriptor_proto__label__descriptor, f->label));
	if (!str_eq(u->type_name, f->type_name))
		bad += mismatch(rep, "%s: type_name %s upstream, %s ours", fqn,
				or_none(u->type_name), or_none(f->type_name));
	return bad;
}

static int compare_enum(struct compare_report *rep, const FdSet *up,
			const char *scope, const EnumDesc *e)
{
	char fqn[NAME_MAX_LEN], vname[NAME_MAX_LEN];
	const EnumDesc *u;
	int bad = 0;

	if (join_name(fqn, sizeof(fqn), scope, e->name) < 0)
		return -ENAMETOOLONG;
	u = find_enum(up, fqn);
	if (!u)
		return mismatch(rep, "%s: enum not upstream", fqn);
	rep->stats.enums++;
	for (size_t i = 0; i < e->n_value; i++) {
		const EnumValDesc *v = e->value[i], *uv = NULL;

		if (join_name(vname, sizeof(vname), fqn, v->name) < 0)
			return -ENAMETOOLONG;
		for (size_t j = 0; j < u->n_value && !uv; j++)
			if (strcmp(u->value[j]->name, v->name) == 0)
				uv = u->value[j];
		if (!uv) {
			bad += mismatch(rep, "%s: enum value not upstream", vname);
			continue;
		}
		rep->stats.enum_values++;
		if (uv->number != v->number)
			bad += mismatch(rep, "%s: value %d upstream, %d ours", vname,
					uv->number, v->number);
	}
	return bad;
}

static int compare_enums(struct compare_report *rep, const FdSet *up,
			 const char *scope, EnumDesc *const *enums, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		int r = compare_enum(rep, up, scope, enums[i]);

		if (r < 0)
			return r;
		bad += r;
	}
	return bad;
}

static int compare_messages(struct compare_report *rep, const FdSet *up,
			    const char *scope, MsgDesc *const *msgs, size_t n);

static int compare_message(struct compare_report *rep, const FdSet *up,
			   const char *scope, const MsgDesc *m)
{
	char fqn[NAME_MAX_LEN];
	const MsgDesc *u;
	int bad = 0, r;

	if (join_name(fqn, sizeof(fqn), scope, m->name) < 0)
		return -ENAMETOOLONG;
	u = find_message(up, fqn);
	if (!u)
		return mismatch(rep, "%s: message not upstream", fqn);
	rep->stats.messages++;
	for (size_t i = 0; i < m->n_field; i++) {
		r = compare_field(rep, u, fqn, m->field[i]);
		if (r < 0)
			return r;
		bad += r;
	}
	r = compare_enums(rep, up, fqn, m->enum_type, m->n_enum_type);
	if (r < 0)
		return r;
	bad += r;
	r = compare_messages(rep, up, fqn, m->nested_type, m->n_nested_type);
	return r < 0 ? r : bad + r;
}

static int compare_messages(struct compare_report *rep, const FdSet *up,
			    const char *scope, MsgDesc *const *msgs, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		int r = compare_message(rep, up, scope, msgs[i]);

		if (r < 0)
			return r;
		bad += r;
	}
	return bad;
}

static int compare_method(struct compare_report *rep, const SvcDesc *u,
			  const char *svc_fqn, const MethodDesc *m)
{
	char fqn[NAME_MAX_LEN];
	const MethodDesc *um = NULL;
	int bad = 0;

	if (join_name(fqn, sizeof(fqn), svc_fqn, m->name) < 0)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < u->n_method && !um; i++)
		if (strcmp(u->method[i]->name, m->name) == 0)
			um = u->method[i];
	if (!um)
		return mismatch(rep, "%s: method not upstream", fqn);
	rep->stats.methods++;
	if (!str_eq(um->input_type, m->input_type))
		bad += mismatch(rep, "%s: input_type %s upstream, %s ours", fqn,
				or_none(um->input_type), or_none(m->input_type));
	if (!str_eq(um->output_type, m->output_type))
		bad += mismatch(rep, "%s: output_type %s upstream, %s ours", fqn,
				or_none(um->output_type), or_none(m->output_type));
	if (!um->client_streaming != !m->client_streaming)
		bad += mismatch(rep, "%s: client_streaming %s upstream, %s ours", fqn,
				bool_name(um->client_streaming),
				bool_name(m->client_streaming));
	if (!um->server_streaming != !m->server_streaming)
		bad += mismatch(rep, "%s: server_streaming %s upstream, %s ours", fqn,
				bool_name(um->server_streaming),
				bool_name(m->server_streaming));
	return bad;
}

static int compare_service(struct compare_report *rep, const FdSet *up,
			   const char *package, const SvcDesc *s)
{
	char fqn[NAME_MAX_LEN];
	const SvcDesc *u;
	int bad = 0;

	if (join_name(fqn, sizeof(fqn), package, s->name) < 0)
		return -ENAMETOOLONG;
	u = find_service(up, fqn);
	if (!u)
		return mismatch(rep, "%s: service not upstream", fqn);
	rep->stats.services++;
	for (size_t i = 0; i < s->n_method; i++) {
		int r = compare_method(rep, u, fqn, s->method[i]);

		if (r < 0)
			return r;
		bad += r;
	}
	return bad;
}

static const char *syntax_of(const FileDesc *f)
{
	return (f->syntax && f->syntax[0]) ? f->syntax : "proto2";
}

static int compare_file_header(struct compare_report *rep, const FdSet *up,
			       const FileDesc *f)
{
	const FileDesc *u = find_package(up, f->package);

	if (!u)
		return mismatch(rep, "%s: package %s not upstream", or_none(f->name),
				or_none(f->package));
	rep->stats.files++;
	if (strcmp(syntax_of(u), syntax_of(f)) != 0)
		return mismatch(rep, "%s: syntax %s upstream, %s ours",
				or_none(f->name), syntax_of(u), syntax_of(f));
	return 0;
}

static int compare_file(struct compare_report *rep, const FdSet *up,
			const FileDesc *f)
{
	int bad, r;

	bad = compare_file_header(rep, up, f);
	r = compare_messages(rep, up, f->package, f->message_type, f->n_message_type);
	if (r < 0)
		return r;
	bad += r;
	r = compare_enums(rep, up, f->package, f->enum_type, f->n_enum_type);
	if (r < 0)
		return r;
	bad += r;
	for (size_t i = 0; i < f->n_service; i++) {
		r = compare_service(rep, up, f->package, f->service[i]);
		if (r < 0)
			return r;
		bad += r;
	}
	return bad;
}

/*
 * Checks that every element of `ours` exists identically in `upstream`.
 * Returns the number of mismatches (each one passed to rep->fn as one line),
 * or -errno. rep->stats counts what was found upstream and compared.
 */
static int compare(const FdSet *ours, const FdSet *upstream,
		   struct compare_report *rep)
{
	int bad = 0;

	memset(&rep->stats, 0, sizeof(rep->stats));
	for (size_t i = 0; i < ours->n_file; i++) {
		int r = compare_file(rep, upstream, ours->file[i]);

		if (r < 0)
			return r;
		bad += r;
	}
	return bad;
}

/* ------------------------------------------------------------------------ */
/* independent census of a descriptor set (to rule out vacuous passes)       */
/* ------------------------------------------------------------------------ */

static void census_messages(MsgDesc *const *msgs, size_t n,
			    struct compare_stats *c)
{
	for (size_t i = 0; i < n; i++) {
		const MsgDesc *m = msgs[i];

		c->messages++;
		c->fields += m->n_field;
		c->enums += m->n_enum_type;
		for (size_t j = 0; j < m->n_enum_type; j++)
			c->enum_values += m->enum_type[j]->n_value;
		census_messages(m->nested_type, m->n_nested_type, c);
	}
}

static void census(const FdSet *set, struct compare_stats *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < set->n_file; i++) {
		const FileDesc *f = set->file[i];

		c->files++;
		census_messages(f->message_type, f->n_message_type, c);
		c->enums += f->n_enum_type;
		for (size_t j = 0; j < f->n_enum_type; j++)
			c->enum_values += f->enum_type[j]->n_value;
		c->services += f->n_service;
		for (size_t j = 0; j < f->n_service; j++)
			c->methods += f->service[j]->n_method;
	}
}

/* ------------------------------------------------------------------------ */
/* loading                                                                   */
/* ------------------------------------------------------------------------ */

static int read_fd_all(int fd, uint8_t **buf, size_t *len)
{
	struct stat st;
	size_t off = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0)
		return -ENODATA;
	*buf = malloc((size_t)st.st_size);
	if (!*buf)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			free(*buf);
			*buf = NULL;
			return err;
		}
		off += (size_t)n;
	}
	*len = off;
	return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = read_fd_all(fd, buf, len);
	close(fd);
	return r;
}

static int load_set(const char *path, FdSet **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = read_file(path, &buf, &len);

	if (r < 0) {
		fprintf(stderr, "test_proto_compat: cannot read descriptor set %s: %s\n",
			path, strerror(-r));
		return r;
	}
	*out = google__protobuf__file_descriptor_set__unpack(NULL, len, buf);
	free(buf);
	if (!*out) {
		fprintf(stderr, "test_proto_compat: %s is not a FileDescriptorSet\n",
			path);
		return -EBADMSG;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* report collector                                                          */
/* ------------------------------------------------------------------------ */

enum { MAX_LINES = 64 };

struct collector {
	char lines[MAX_LINES][LINE_MAX_LEN];
	size_t n;       /* lines reported (may exceed MAX_LINES) */
	int echo;       /* also print each line to stderr */
};

static void collect(void *arg, const char *line)
{
	struct collector *c = arg;

	if (c->echo)
		fprintf(stderr, "  mismatch: %s\n", line);
	if (c->n < MAX_LINES)
		snprintf(c->lines[c->n], LINE_MAX_LEN, "%s", line);
	c->n++;
}

static int collector_has(const struct collector *c, const char *line)
{
	size_t n = c->n < MAX_LINES ? c->n : MAX_LINES;

	for (size_t i = 0; i < n; i++)
		if (strcmp(c->lines[i], line) == 0)
			return 1;
	return 0;
}

static void collector_dump(const struct collector *c)
{
	size_t n = c->n < MAX_LINES ? c->n : MAX_LINES;

	fprintf(stderr, "  %zu mismatch line(s) reported:\n", c->n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "    %s\n", c->lines[i]);
}

/* ------------------------------------------------------------------------ */
/* tests                                                                     */
/* ------------------------------------------------------------------------ */

static const char *g_paths[3]; /* ours, upstream, bad (from argv) */

struct fixture {
	FdSet *ours, *upstream, *bad;
};

static int group_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	*state = fx;
	if (load_set(g_paths[0], &fx->ours) < 0 ||
	    load_set(g_paths[1], &fx->upstream) < 0 ||
	    load_set(g_paths[2], &fx->bad) < 0)
		return -1;
	return 0;
}

static void free_set(FdSet *set)
{
	if (set)
		google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx) {
		free_set(fx->ours);
		free_set(fx->upstream);
		free_set(fx->bad);
		free(fx);
	}
	return 0;
}

static void test_ours_matches_upstream(void **state)
{
	const struct fixture *fx = *state;
	struct collector col = { .echo = 1 };
	struct compare_report rep = { .fn = collect, .arg = &col };
	struct compare_stats all;
	int r;

	r = compare(fx->ours, fx->upstream, &rep);
	assert_int_equal(r, 0);
	assert_int_equal(col.n, 0);

	/* Everything in our descriptor was found upstream and compared ... */
	census(fx->ours, &all);
	assert_int_equal(rep.stats.files, all.files);
	assert_int_equal(rep.stats.messages, all.messages);
	assert_int_equal(rep.stats.fields, all.fields);
	assert_int_equal(rep.stats.enums, all.enums);
	assert_int_equal(rep.stats.enum_values, all.enum_values);
	assert_int_equal(rep.stats.services, all.services);
	assert_int_equal(rep.stats.methods, all.methods);
	/* ... and that is a lot: this cannot pass on an empty/wrong file. */
	assert_int_equal(rep.stats.files, 1);
	assert_true(rep.stats.messages >= 70);
	assert_true(rep.stats.fields >= 200);
	assert_true(rep.stats.enums >= 7);
	assert_true(rep.stats.enum_values >= 20);
	assert_int_equal(rep.stats.services, 1);
	assert_int_equal(rep.stats.methods, 14);
	fprintf(stderr, "  compared %u messages, %u fields, %u enums, %u enum values, "
		"%u methods: 0 mismatches\n", rep.stats.messages, rep.stats.fields,
		rep.stats.enums, rep.stats.enum_values, rep.stats.methods);
}

/* Every mismatch planted in tests/data/bad_cri.proto, one line each. */
static const char *const planted[] = {
	"runtime.v1.ContainerStatus.exit_code: number 7 upstream, 8 ours",
	"runtime.v1.ContainerStatus.created_at: type TYPE_INT64 upstream, TYPE_INT32 ours",
	"runtime.v1.ContainerStatus.state: type_name .runtime.v1.ContainerState upstream, .runtime.v1.PodSandboxState ours",
	"runtime.v1.ContainerStatus.pid: field not upstream",
	"runtime.v1.ContainerStatus.LabelsEntry.value: type TYPE_STRING upstream, TYPE_INT64 ours",
	"runtime.v1.ListContainersResponse.containers: label LABEL_REPEATED upstream, LABEL_OPTIONAL ours",
	"runtime.v1.ContainerCheckpoint: message not upstream",
	"runtime.v1.ContainerState.CONTAINER_PAUSED: enum value not upstream",
	"runtime.v1.ContainerEventType.CONTAINER_DELETED_EVENT: value 3 upstream, 4 ours",
	"runtime.v1.SecurityProfile.ProfileType.Localhost: value 2 upstream, 3 ours",
	"runtime.v1.ContainerHealth: enum not upstream",
	"runtime.v1.RuntimeService.GetContainerEvents: server_streaming true upstream, false ours",
	"runtime.v1.RuntimeService.StopContainer: client_streaming false upstream, true ours",
	"runtime.v1.RuntimeService.ContainerStatus: output_type .runtime.v1.ContainerStatusResponse upstream, .runtime.v1.ContainerStatus ours",
	"runtime.v1.RuntimeService.PauseContainer: method not upstream",
	"runtime.v1.PodService: service not upstream",
};

static int is_planted(const char *line)
{
	for (size_t i = 0; i < sizeof(planted) / sizeof(planted[0]); i++)
		if (strcmp(planted[i], line) == 0)
			return 1;
	return 0;
}

static void test_bad_proto_is_caught(void **state)
{
	const struct fixture *fx = *state;
	const size_t n_planted = sizeof(planted) / sizeof(planted[0]);
	struct collector col = { .echo = 0 };
	struct compare_report rep = { .fn = collect, .arg = &col };
	int r, ok = 1;

	r = compare(fx->bad, fx->upstream, &rep);
	for (size_t i = 0; i < n_planted; i++)
		if (!collector_has(&col, planted[i])) {
			fprintf(stderr, "  NOT DETECTED: %s\n", planted[i]);
			ok = 0;
		}
	for (size_t i = 0; i < col.n && i < MAX_LINES; i++)
		if (!is_planted(col.lines[i])) {
			fprintf(stderr, "  UNEXPECTED: %s\n", col.lines[i]);
			ok = 0;
		}
	if (!ok || r != (int)n_planted)
		collector_dump(&col);
	assert_true(ok);
	assert_int_equal(r, n_planted);
	assert_int_equal(col.n, n_planted);
	/* the correct parts of the bad file were compared too */
	assert_true(rep.stats.messages >= 8);
	assert_true(rep.stats.methods >= 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ours_matches_upstream),
		cmocka_unit_test(test_bad_proto_is_caught),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s OURS.desc UPSTREAM.desc BAD.desc\n"
			"  (FileDescriptorSets from protoc --include_imports "
			"--descriptor_set_out)\n", argv[0]);
		return 2;
	}
	g_paths[0] = argv[1];
	g_paths[1] = argv[2];
	g_paths[2] = argv[3];
	return cmocka_run_group_tests_name("proto_compat", tests, group_setup,
					   group_teardown);
}
