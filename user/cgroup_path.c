// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup path -> pod/container resolver (REFERENCE.md §3 "Path shapes").
 *
 * A path is walked as segments (string views into the caller's buffer, never
 * copied or NUL-terminated). The kubepods root is found first; the layout after
 * it depends on the kubelet's cgroup driver:
 *
 *   cgroupfs: kubepods/[besteffort|burstable/]pod<uid-with-dashes>/<container>
 *   systemd:  <r>.slice/[<r>-<qos>.slice/]<parent>-pod<uid_with_underscores>.slice/<container>
 *   colon:    ...-pod<uid_>.slice:<prefix>:<id>   (runc "slice:prefix:name" form)
 *
 * The <container> segment is matched against shape_table below. Anything
 * below the container segment is the same container (sub = true).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cgroup_path.h"
#include "util.h"

/* ---- string views ---------------------------------------------------------- */

struct sv {
	const char *p;
	size_t n;
};

#define SV_LIT(s) ((struct sv){ (s), sizeof(s) - 1 })

static bool sv_eq(struct sv a, struct sv b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static bool sv_has_prefix(struct sv s, struct sv pre)
{
	return s.n >= pre.n && memcmp(s.p, pre.p, pre.n) == 0;
}

static bool sv_has_suffix(struct sv s, struct sv suf)
{
	return s.n >= suf.n && memcmp(s.p + s.n - suf.n, suf.p, suf.n) == 0;
}

/* Removes pre from the front of *s if it is there. */
static bool sv_eat(struct sv *s, struct sv pre)
{
	if (!sv_has_prefix(*s, pre))
		return false;
	s->p += pre.n;
	s->n -= pre.n;
	return true;
}

static bool sv_eat_suffix(struct sv *s, struct sv suf)
{
	if (!sv_has_suffix(*s, suf))
		return false;
	s->n -= suf.n;
	return true;
}

static struct sv sv_cstr(const char *s)
{
	return (struct sv){ s, strlen(s) };
}

/* ---- path segments --------------------------------------------------------- */

struct walk {
	const char *path;
	size_t len;
	size_t pos;
};

/* Next non-empty '/'-separated segment; false at the end of the path. */
static bool next_seg(struct walk *w, struct sv *seg)
{
	while (w->pos < w->len && w->path[w->pos] == '/')
		w->pos++;
	if (w->pos >= w->len)
		return false;
	size_t start = w->pos;
	while (w->pos < w->len && w->path[w->pos] != '/')
		w->pos++;
	*seg = (struct sv){ w->path + start, w->pos - start };
	return true;
}

static bool has_more(struct walk *w)
{
	struct walk copy = *w;
	struct sv seg;

	return next_seg(&copy, &seg);
}

/* ---- identifiers ----------------------------------------------------------- */

static bool is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_lhex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_lhex(p[i]))
			return false;
	return true;
}

/* Container id: exactly 64 lower-case hex. */
static bool parse_id(struct sv s, char out[65])
{
	if (s.n != 64 || !all_lhex(s.p, s.n))
		return false;
	memcpy(out, s.p, 64);
	out[64] = '\0';
	return true;
}

/* Pod UID: 8-4-4-4-12 hex with sep ('-' cgroupfs, '_' systemd), written with
 * dashes; or a static pod's 32-hex MD5 UID, written verbatim. */
static bool parse_uid(struct sv s, char sep, char out[37])
{
	if (s.n == 32 && all_lhex(s.p, 32)) {
		memcpy(out, s.p, 32);
		out[32] = '\0';
		return true;
	}
	if (s.n != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s.p[i] != sep : !is_lhex(s.p[i]))
			return false;
		out[i] = dash ? '-' : s.p[i];
	}
	out[36] = '\0';
	return true;
}

/* ---- the shape table ------------------------------------------------------- */

enum layout {
	L_CGROUPFS, /* segment below pod<uid> (kubelet cgroupfs driver) */
	L_SYSTEMD,  /* segment below ...-pod<uid_>.slice (kubelet systemd driver) */
	L_COLON,    /* text after the first ':' of a "slice:prefix:id" segment */
	L_PODMAN,   /* any segment, only when no kubepods root is in the path */
};

struct shape {
	enum layout layout;
	const char *prefix; /* before the 64-hex id */
	const char *suffix; /* after it */
	enum cg_runtime runtime;
	enum cg_kind kind;
};

/* One line per known container-cgroup naming; order does not matter because
 * the id must be exactly 64 hex (so "crio-" never swallows "crio-conmon-"). */
static const struct shape shape_table[] = {
	/* containerd CRI / cri-dockerd, cgroupfs: cgroupsPath = parent + "/" + id */
	{ L_CGROUPFS, "", "", CG_RT_CONTAINERD, CG_CONTAINER },
	/* CRI-O, cgroupfs manager: "crio-<id>"; conmon_cgroup = "pod" */
	{ L_CGROUPFS, "crio-", "", CG_RT_CRIO, CG_CONTAINER },
	{ L_CGROUPFS, "crio-conmon-", "", CG_RT_CRIO, CG_CONMON },
	/* containerd CRI, SystemdCgroup = true: runc scope "cri-containerd-<id>" */
	{ L_SYSTEMD, "cri-containerd-", ".scope", CG_RT_CONTAINERD, CG_CONTAINER },
	/* CRI-O, systemd manager: "crio-<id>.scope", conmon "crio-conmon-<id>.scope" */
	{ L_SYSTEMD, "crio-", ".scope", CG_RT_CRIO, CG_CONTAINER },
	{ L_SYSTEMD, "crio-conmon-", ".scope", CG_RT_CRIO, CG_CONMON },
	/* cri-dockerd, docker with native.cgroupdriver=systemd: "docker-<id>.scope" */
	{ L_SYSTEMD, "docker-", ".scope", CG_RT_DOCKER, CG_CONTAINER },
	/* containerd's runc systemd path used literally on a cgroupfs-style tree:
	 * /system.slice/containerd.service/kubepods-...-pod<uid_>.slice:cri-containerd:<id> */
	{ L_COLON, "cri-containerd:", "", CG_RT_CONTAINERD, CG_CONTAINER },
	/* podman, systemd manager: /machine.slice/libpod-<id>.scope (rootless:
	 * under user@<uid>.service), conmon in libpod-conmon-<id>.scope */
	{ L_PODMAN, "libpod-", ".scope", CG_RT_PODMAN, CG_CONTAINER },
	{ L_PODMAN, "libpod-conmon-", ".scope", CG_RT_PODMAN, CG_CONMON },
	/* podman, cgroupfs manager: /libpod_parent/libpod-<id> */
	{ L_PODMAN, "libpod-", "", CG_RT_PODMAN, CG_CONTAINER },
};

/* Matches seg against the table entries of one layout; fills kind/runtime/id. */
static bool match_shape(struct sv seg, enum layout layout, struct cgroup_ref *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(shape_table); i++) {
		const struct shape *sh = &shape_table[i];
		struct sv s = seg;

		if (sh->layout != layout || !sv_eat(&s, sv_cstr(sh->prefix)) ||
		    !sv_eat_suffix(&s, sv_cstr(sh->suffix)) || !parse_id(s, r->id))
			continue;
		r->kind = sh->kind;
		r->runtime = sh->runtime;
		return true;
	}
	return false;
}

/* ---- layouts --------------------------------------------------------------- */

static void set_qos(struct cgroup_ref *r, const char *qos)
{
	strncpy(r->qos, qos, sizeof(r->qos) - 1);
	r->qos[sizeof(r->qos) - 1] = '\0';
}

/* Under kubepods but nothing we know: CG_NONE, counted by the caller. */
static void set_unknown(struct cgroup_ref *r)
{
	enum cg_driver driver = r->driver;

	memset(r, 0, sizeof(*r));
	r->driver = driver;
	r->unknown_shape = true;
}

/* The container segment and anything below it. */
static void finish_container(struct walk *w, struct sv seg, enum layout layout,
			     struct cgroup_ref *r)
{
	if (!match_shape(seg, layout, r)) {
		set_unknown(r);
		return;
	}
	r->sub = has_more(w);
}

/* cgroupfs driver: kubepods/[besteffort|burstable/]pod<uid>/<container>[/...] */
static void walk_cgroupfs(struct walk *w, struct cgroup_ref *r)
{
	static const char *const qos[] = { "besteffort", "burstable" };
	struct sv seg;

	r->driver = CG_DRIVER_CGROUPFS;
	if (!next_seg(w, &seg))
		return; /* the kubepods root */
	for (size_t i = 0; i < ARRAY_SIZE(qos); i++) {
		if (!sv_eq(seg, sv_cstr(qos[i])))
			continue;
		set_qos(r, qos[i]);
		if (!next_seg(w, &seg))
			return; /* a QoS cgroup */
		break;
	}
	if (!sv_eat(&seg, SV_LIT("pod")) || !parse_uid(seg, '-', r->pod_uid)) {
		set_unknown(r);
		return;
	}
	r->kind = CG_POD;
	if (next_seg(w, &seg))
		finish_container(w, seg, L_CGROUPFS, r);
}

/* seg == <stem>-<qos>.slice for one QoS class: sets qos, returns true. */
static bool eat_qos_slice(struct sv seg, struct sv stem, struct cgroup_ref *r)
{
	static const char *const qos[] = { "besteffort", "burstable" };

	if (!sv_eat(&seg, stem) || !sv_eat(&seg, SV_LIT("-")) ||
	    !sv_eat_suffix(&seg, SV_LIT(".slice")))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(qos); i++) {
		if (sv_eq(seg, sv_cstr(qos[i]))) {
			set_qos(r, qos[i]);
			return true;
		}
	}
	return false;
}

/* seg == <parent>-pod<uid_>.slice: fills pod_uid. */
static bool eat_pod_slice(struct sv seg, struct sv parent, struct cgroup_ref *r)
{
	return sv_eat(&seg, parent) && sv_eat(&seg, SV_LIT("-pod")) &&
	       sv_eat_suffix(&seg, SV_LIT(".slice")) && parse_uid(seg, '_', r->pod_uid);
}

/* systemd driver: <root>.slice/[<root>-<qos>.slice/]<parent>-pod<uid_>.slice/<container>[/...]
 * where each slice repeats its parent's name (systemd slice naming). */
static void walk_systemd(struct walk *w, struct sv root, struct cgroup_ref *r)
{
	struct sv stem = root, seg;

	r->driver = CG_DRIVER_SYSTEMD;
	sv_eat_suffix(&stem, SV_LIT(".slice"));
	if (!next_seg(w, &seg))
		return; /* the kubepods root */
	if (eat_qos_slice(seg, stem, r)) {
		stem = seg;
		sv_eat_suffix(&stem, SV_LIT(".slice"));
		if (!next_seg(w, &seg))
			return; /* a QoS slice */
	}
	if (!eat_pod_slice(seg, stem, r)) {
		set_unknown(r);
		return;
	}
	r->kind = CG_POD;
	if (next_seg(w, &seg))
		finish_container(w, seg, L_SYSTEMD, r);
}

/* A colon segment's slice: [<x>-]kubepods[-<qos>]-pod<uid_>.slice. The uid is
 * fixed-length, so it is cut from the end and the stem checked afterwards. */
static bool parse_colon_slice(struct sv slice, struct cgroup_ref *r)
{
	static const size_t uid_lens[] = { 36, 32 };
	static const char *const qos[] = { "", "besteffort", "burstable" };

	if (!sv_eat_suffix(&slice, SV_LIT(".slice")))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(uid_lens); i++) {
		struct sv stem = slice, uid;

		if (stem.n < uid_lens[i])
			continue;
		uid = (struct sv){ stem.p + stem.n - uid_lens[i], uid_lens[i] };
		stem.n -= uid_lens[i];
		if (!sv_eat_suffix(&stem, SV_LIT("-pod")) || !parse_uid(uid, '_', r->pod_uid))
			continue;
		for (size_t q = 0; q < ARRAY_SIZE(qos); q++) {
			struct sv s = stem;

			if (*qos[q] && (!sv_eat_suffix(&s, sv_cstr(qos[q])) ||
					!sv_eat_suffix(&s, SV_LIT("-"))))
				continue;
			if (!sv_eat_suffix(&s, SV_LIT("kubepods")) ||
			    (s.n && s.p[s.n - 1] != '-'))
				continue;
			set_qos(r, qos[q]);
			return true;
		}
	}
	return false;
}

/* runc's "slice:prefix:id" systemd cgroupsPath, used as a literal path. */
static void resolve_colon(struct walk *w, struct sv seg, struct cgroup_ref *r)
{
	const char *colon = memchr(seg.p, ':', seg.n);
	struct sv slice = { seg.p, (size_t)(colon - seg.p) };
	struct sv rest = { colon + 1, seg.n - slice.n - 1 };

	r->driver = CG_DRIVER_SYSTEMD;
	if (!parse_colon_slice(slice, r)) {
		set_unknown(r);
		return;
	}
	finish_container(w, rest, L_COLON, r);
}

/* ---- root search ----------------------------------------------------------- */

static bool is_cgroupfs_root(struct sv seg)
{
	return sv_eq(seg, SV_LIT("kubepods"));
}

/* "kubepods.slice", or "<x>-kubepods.slice" for a kubelet --cgroup-root (kind). */
static bool is_systemd_root(struct sv seg)
{
	if (!sv_eat_suffix(&seg, SV_LIT("kubepods.slice")))
		return false;
	return seg.n == 0 || seg.p[seg.n - 1] == '-';
}

/* A "slice:prefix:id" segment whose slice mentions kubepods. */
static bool is_colon_root(struct sv seg)
{
	const char *colon = memchr(seg.p, ':', seg.n);
	struct sv slice;

	if (!colon)
		return false;
	slice = (struct sv){ seg.p, (size_t)(colon - seg.p) };
	return sv_has_suffix(slice, SV_LIT(".slice")) &&
	       memmem(slice.p, slice.n, "kubepods", 8) != NULL;
}

/* Finds the first kubepods root and resolves from there; false if none. */
static bool resolve_kubepods(const char *path, size_t len, struct cgroup_ref *r)
{
	struct walk w = { path, len, 0 };
	struct sv seg;

	while (next_seg(&w, &seg)) {
		if (is_cgroupfs_root(seg))
			walk_cgroupfs(&w, r);
		else if (is_systemd_root(seg))
			walk_systemd(&w, seg, r);
		else if (is_colon_root(seg))
			resolve_colon(&w, seg, r);
		else
			continue;
		return true;
	}
	return false;
}

/* Podman outside Kubernetes: the first libpod segment anywhere. */
static void resolve_podman(const char *path, size_t len, struct cgroup_ref *r)
{
	struct walk w = { path, len, 0 };
	struct sv seg;

	while (next_seg(&w, &seg)) {
		if (match_shape(seg, L_PODMAN, r)) {
			r->driver = sv_has_suffix(seg, SV_LIT(".scope")) ? CG_DRIVER_SYSTEMD
									 : CG_DRIVER_CGROUPFS;
			r->sub = has_more(&w);
			return;
		}
	}
}

int cgroup_path_resolve(const char *path, size_t len, struct cgroup_ref *ret)
{
	struct cgroup_ref r = { 0 };

	if (!path || !ret || len > CGROUP_PATH_MAX || memchr(path, '\0', len))
		return -EINVAL;
	if (!resolve_kubepods(path, len, &r))
		resolve_podman(path, len, &r);
	*ret = r;
	return 0;
}

/* ---- names ----------------------------------------------------------------- */

const char *cg_kind_name(enum cg_kind k)
{
	static const char *const names[] = { "none", "pod", "container", "conmon" };

	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "?";
}

const char *cg_runtime_name(enum cg_runtime rt)
{
	static const char *const names[] = { "unknown", "containerd", "crio", "docker",
					     "podman" };

	return (unsigned)rt < ARRAY_SIZE(names) ? names[rt] : "?";
}

const char *cg_driver_name(enum cg_driver d)
{
	static const char *const names[] = { "unknown", "cgroupfs", "systemd" };

	return (unsigned)d < ARRAY_SIZE(names) ? names[d] : "?";
}
