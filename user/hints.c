// SPDX-License-Identifier: Apache-2.0
/* Kernel hints loader: hierarchy choice, seeding, attach, ring buffer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_features.h"
#include "hint_decode.h"
#include "hints.h"
#include "hints.skel.h"
#include "log.h"
#include "util.h"

_Static_assert(sizeof(struct kpleg_hint) == KPLEG_HINT_SIZE, "kpleg_hint ABI");
_Static_assert(sizeof(struct kpleg_cg_state) == KPLEG_CG_STATE_SIZE, "kpleg_cg_state ABI");
_Static_assert(sizeof(struct kpleg_hint_created) == KPLEG_HINT_CREATED_SIZE,
	       "kpleg_hint_created ABI");
_Static_assert(offsetof(struct kpleg_hint_created, hint) == 0, "hint first");

#define CGROUP_SUPER_MAGIC_V1 0x27e0eb
#define CGROUP2_SUPER_MAGIC_V2 0x63677270
#define HINTS_MAX_PROGS 8

/* cgid -> path, chained hash; at most max_cgroups entries. */
struct path_ent {
	struct path_ent *next;
	uint64_t cgid;
	char path[];
};

struct hints {
	struct path_ent **ptab;
	size_t ptab_mask;
	size_t n_paths;
	uint64_t paths_dropped; /* table full */
	char root_names[KPLEG_MAX_ROOT_NAMES][KPLEG_ROOT_NAME_MAX];
	bool root_names_set;
	char *mount;
	uint32_t hier_id;
	enum kpleg_ctrl ctrl;
	char **roots;
	size_t n_roots;
	uint32_t ring_size;
	uint32_t max_cgroups;
	struct hints_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[HINTS_MAX_PROGS];
	int n_links;
	hints_cb cb;
	void *cb_ctx;
	int cb_ret;
};

static const struct {
	const char *name;
	enum kpleg_ctrl ctrl;
} ctrls[] = {
	{ "cpuset", KPLEG_CTRL_CPUSET }, { "cpu", KPLEG_CTRL_CPU },
	{ "cpuacct", KPLEG_CTRL_CPUACCT }, { "blkio", KPLEG_CTRL_BLKIO },
	{ "memory", KPLEG_CTRL_MEMORY }, { "devices", KPLEG_CTRL_DEVICES },
	{ "freezer", KPLEG_CTRL_FREEZER }, { "pids", KPLEG_CTRL_PIDS },
};

/* ---- path table ------------------------------------------------------------ */

static size_t path_slot(const struct hints *h, uint64_t cgid)
{
	uint64_t x = cgid * 0x9e3779b97f4a7c15ull;

	return (size_t)(x ^ (x >> 29)) & h->ptab_mask;
}

static int path_init(struct hints *h)
{
	size_t n = 64;

	while (n < h->max_cgroups / 4 && n < (1u << 20))
		n <<= 1;
	h->ptab = calloc(n, sizeof(*h->ptab));
	if (!h->ptab)
		return -ENOMEM;
	h->ptab_mask = n - 1;
	return 0;
}

static struct path_ent **path_find(struct hints *h, uint64_t cgid)
{
	struct path_ent **pp = &h->ptab[path_slot(h, cgid)];

	while (*pp && (*pp)->cgid != cgid)
		pp = &(*pp)->next;
	return pp;
}

/* @replace: a CREATED hint (the kernel's word) wins over a seeded entry. */
static int path_put(struct hints *h, uint64_t cgid, const char *path, bool replace)
{
	struct path_ent **pp, *e;
	size_t len = strlen(path);

	if (!h->ptab || len >= KPLEG_PATH_MAX)
		return -ENAMETOOLONG;
	pp = path_find(h, cgid);
	if (*pp && !replace)
		return 0;
	if (!*pp && h->n_paths >= h->max_cgroups) {
		h->paths_dropped++;
		return -ENOSPC;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->cgid = cgid;
	memcpy(e->path, path, len + 1);
	if (*pp) {
		e->next = (*pp)->next;
		free(*pp);
	} else {
		e->next = NULL;
		h->n_paths++;
	}
	*pp = e;
	return 0;
}

static void path_del(struct hints *h, uint64_t cgid)
{
	struct path_ent **pp, *e;

	if (!h->ptab)
		return;
	pp = path_find(h, cgid);
	e = *pp;
	if (!e)
		return;
	*pp = e->next;
	free(e);
	h->n_paths--;
}

static void path_free_all(struct hints *h)
{
	if (!h->ptab)
		return;
	for (size_t i = 0; i <= h->ptab_mask; i++)
		while (h->ptab[i]) {
			struct path_ent *e = h->ptab[i];

			h->ptab[i] = e->next;
			free(e);
		}
	free(h->ptab);
	h->ptab = NULL;
	h->n_paths = 0;
}

int hints_cgroup_id(const char *path, uint64_t *ret_id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[8];
	} h = { .fh.handle_bytes = 8 };
	int mount_id;
	uint64_t id;

	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return -errno;
	if (h.fh.handle_bytes != 8)
		return -EPROTO;
	memcpy(&id, h.fh.f_handle, sizeof(id));
	*ret_id = id;
	return 0;
}

static bool is_fs(const char *path, long magic)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && (long)sfs.f_type == magic;
}

/* The v1 hierarchy id of @name from /proc/cgroups ("name hier num enabled"). */
static int v1_hierarchy_id(const char *name, uint32_t *ret_id)
{
	FILE *f = fopen("/proc/cgroups", "re");
	char line[256], sub[64];
	unsigned hier, num, enabled;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %u %u %u", sub, &hier, &num, &enabled) != 4)
			continue;
		if (strcmp(sub, name))
			continue;
		/* hierarchy 0: bound to v2 (or not mounted), not a v1 tree. */
		err = enabled && hier ? 0 : -ENOENT;
		if (!err)
			*ret_id = hier;
		break;
	}
	fclose(f);
	return err;
}

static int pick_v2(struct hints *h, const char *mnt)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/unified", mnt);
	if (is_fs(path, CGROUP2_SUPER_MAGIC_V2))
		h->mount = strdup(path);
	else if (is_fs(mnt, CGROUP2_SUPER_MAGIC_V2))
		h->mount = strdup(mnt);
	else
		return -ENOENT;
	if (!h->mount)
		return -ENOMEM;
	h->ctrl = KPLEG_CTRL_NONE;
	h->hier_id = 0; /* the default hierarchy is always id 0 ("0::/path") */
	return 0;
}

static int pick_v1(struct hints *h, const char *mnt, const char *name)
{
	char path[PATH_MAX];
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(ctrls); i++)
		if (!strcmp(ctrls[i].name, name))
			break;
	if (i == ARRAY_SIZE(ctrls))
		return -EINVAL;
	err = v1_hierarchy_id(name, &h->hier_id);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s", mnt, name);
	if (!is_fs(path, CGROUP_SUPER_MAGIC_V1))
		return -ENOENT;
	h->mount = strdup(path);
	if (!h->mount)
		return -ENOMEM;
	h->ctrl = ctrls[i].ctrl;
	return 0;
}

static int pick_hierarchy(struct hints *h, const struct hints_opts *o)
{
	const char *mnt = o->cgroup_mount ? o->cgroup_mount : "/sys/fs/cgroup";
	char path[PATH_MAX];
	int err;

	if (o->controller && (!*o->controller || !strcmp(o->controller, "unified")))
		return pick_v2(h, mnt);
	if (o->controller)
		return pick_v1(h, mnt, o->controller);
	err = pick_v2(h, mnt);
	if (!err) {
		snprintf(path, sizeof(path), "%s/%s", h->mount, h->roots[0]);
		if (access(path, F_OK) == 0)
			return 0;
		free(h->mount);
		h->mount = NULL;
	}
	return pick_v1(h, mnt, "memory");
}

struct hints *hints__new(const struct hints_opts *opts)
{
	static const char *const def_roots[] = { "kubepods" };
	struct hints_opts o = opts ? *opts : (struct hints_opts){ 0 };
	struct hints *h = calloc(1, sizeof(*h));
	int err = -ENOMEM;

	if (!h)
		return NULL;
	if (!o.roots || !o.n_roots) {
		o.roots = def_roots;
		o.n_roots = 1;
	}
	h->ring_size = o.ring_size ? o.ring_size : 256 * 1024;
	h->max_cgroups = o.max_cgroups ? o.max_cgroups : 65536;
	if (o.root_names) {
		err = -EINVAL;
		if (o.n_root_names > KPLEG_MAX_ROOT_NAMES)
			goto cleanup;
		for (size_t i = 0; i < o.n_root_names; i++) {
			if (!o.root_names[i] || !*o.root_names[i] ||
			    strlen(o.root_names[i]) >= KPLEG_ROOT_NAME_MAX || strchr(o.root_names[i], '/'))
				goto cleanup;
			snprintf(h->root_names[i], KPLEG_ROOT_NAME_MAX, "%s", o.root_names[i]);
		}
		h->root_names_set = true;
		err = -ENOMEM;
	}
	h->roots = calloc(o.n_roots, sizeof(*h->roots));
	if (!h->roots)
		goto cleanup;
	for (h->n_roots = 0; h->n_roots < o.n_roots; h->n_roots++) {
		h->roots[h->n_roots] = strdup(o.roots[h->n_roots]);
		if (!h->roots[h->n_roots])
			goto cleanup;
	}
	err = pick_hierarchy(h, &o);
	if (err)
		goto cleanup;
	return h;
cleanup:
	hints__free(h);
	errno = -err;
	return NULL;
}

/* Live processes of a cgroup directory: lines of cgroup.procs. */
static uint64_t count_procs(const char *dir)
{
	char path[PATH_MAX], line[32];
	uint64_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static int seed_one(struct hints *h, const char *path, uint64_t pid, uint32_t level)
{
	struct kpleg_cg_state st = { .parent_cgid = pid, .level = level, .flags = KPLEG_CG_SEEDED };
	uint64_t id;
	int err = hints_cgroup_id(path, &id);

	if (err)
		return err;
	st.live_tasks = count_procs(path);
	if (st.live_tasks)
		st.first_exec_ns = now_mono_ns(); /* already running: no STARTED */
	/* NOEXIST: the second pass must not reset what BPF counted since. */
	if (bpf_map_update_elem(bpf_map__fd(h->skel->maps.cgroups), &id, &st, BPF_NOEXIST) &&
	    errno != EEXIST)
		return -errno;
	/* Relative to the hierarchy's mount, like the tracepoints' paths. */
	const char *rel = path + strlen(h->mount);

	err = path_put(h, id, *rel ? rel : "/", false);
	if (err == -ENOMEM)
		return err;
	err = 0;
	/* Below a path too long to keep, no path can be kept either: stop here,
	 * which also bounds the recursion (PATH_MAX-sized frames) to
	 * KPLEG_PATH_MAX / 2 levels, however deep a hostile tree goes. */
	if (strlen(rel) >= KPLEG_PATH_MAX)
		return 0;
	/* Children inherit from here. */
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[PATH_MAX];

	if (!d)
		return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
			continue;
		err = seed_one(h, sub, id, level + 1);
		if (err && err != -ENOENT)
			break;
		err = 0;
	}
	closedir(d);
	return err;
}

static int seed(struct hints *h)
{
	char path[PATH_MAX], parent[PATH_MAX];
	uint64_t pid = 0;
	uint32_t level;
	int err;

	for (size_t i = 0; i < h->n_roots; i++) {
		snprintf(path, sizeof(path), "%s/%s", h->mount, h->roots[i]);
		if (access(path, F_OK)) {
			log_v(1, "\"hints: root not there yet, ignoring\" root=\"%s\"", path);
			continue;
		}
		level = 1;
		for (const char *c = h->roots[i]; *c; c++)
			level += *c == '/' && c[1] && c[1] != '/';
		snprintf(parent, sizeof(parent), "%s", path);
		*strrchr(parent, '/') = '\0';
		if (hints_cgroup_id(parent, &pid))
			pid = 0;
		err = seed_one(h, path, pid, level);
		if (err)
			return err;
	}
	return 0;
}

static const struct {
	const char *prog;
	const char *feature;
} prog_features[] = {
	{ "hints_mkdir", "cgroup_mkdir" },	 { "hints_rmdir", "cgroup_rmdir" },
	{ "hints_attach", "cgroup_attach_task" }, { "hints_fork", "sched_process_fork" },
	{ "hints_exec", "sched_process_exec" },	 { "hints_exit", "sched_process_exit" },
	{ "hints_oom", "mark_victim" },
};

/* Switches off what this kernel cannot attach. */
static int apply_features(struct hints *h)
{
	struct bpf_features f;
	int err = bpf_features_probe(&f);

	if (err == -ENOENT)
		return -ENOTSUP; /* no BTF */
	if (err)
		return err;
	if (!bpf_features_has(&f, "ringbuf")) {
		log_warn("\"hints: BPF ring buffer unusable, kernel hints off\"");
		return -ENOTSUP;
	}
	for (size_t i = 0; i < ARRAY_SIZE(prog_features); i++) {
		struct bpf_program *p;

		if (bpf_features_has(&f, prog_features[i].feature))
			continue;
		p = bpf_object__find_program_by_name(h->skel->obj, prog_features[i].prog);
		log_warn("\"hints: tracepoint not attachable here, program off\" tracepoint=%s",
			 prog_features[i].feature);
		if (p)
			bpf_program__set_autoload(p, false);
	}
	return 0;
}

static int attach_all(struct hints *h)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, h->skel->obj) {
		struct bpf_link *l;

		if (!bpf_program__autoload(p) || h->n_links >= HINTS_MAX_PROGS)
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			log_warn("\"hints: attach failed, program off\" program=%s err=%d",
				 bpf_program__name(p), -errno);
			continue;
		}
		h->links[h->n_links++] = l;
	}
	return h->n_links ? 0 : -ENOTSUP;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct hints *h = ctx;
	struct kpleg_hint_created c;

	if (hint_record_decode(data, size, &c) < 0)
		return 0; /* short record: not from our programs */
	if (c.hint.type == HINT_CGROUP_CREATED) {
		if (c.path_flags & KPLEG_PATH_TRUNCATED) {
			log_v(1, "\"hints: cgroup path too long, not kept\" cgid=%llu",
			      (unsigned long long)c.hint.cgid);
			path_del(h, c.hint.cgid);
		} else if (path_put(h, c.hint.cgid, c.path, true) == -ENOSPC &&
			   h->paths_dropped == 1) {
			log_warn("\"hints: path table full, paths dropped\" max=%u", h->max_cgroups);
		}
	}
	h->cb_ret = h->cb ? h->cb(h->cb_ctx, &c.hint) : 0;
	if (c.hint.type == HINT_CGROUP_REMOVED)
		path_del(h, c.hint.cgid);
	return h->cb_ret ? -ECANCELED : 0;
}

int hints__start(struct hints *h)
{
	int err;

	if (!h || h->skel)
		return -EINVAL;
	h->skel = hints_bpf__open();
	if (!h->skel)
		return errno == EPERM ? -EPERM : -ENOTSUP;
	h->skel->rodata->targ_hierarchy_id = h->hier_id;
	h->skel->rodata->targ_ctrl = h->ctrl;
	if (h->root_names_set)
		for (int i = 0; i < KPLEG_MAX_ROOT_NAMES; i++)
			for (int j = 0; j < KPLEG_ROOT_NAME_MAX; j++)
				h->skel->rodata->targ_root_names[i][j] = h->root_names[i][j];
	err = path_init(h);
	if (err)
		goto cleanup;
	err = bpf_map__set_max_entries(h->skel->maps.hints, h->ring_size);
	if (!err)
		err = bpf_map__set_max_entries(h->skel->maps.cgroups, h->max_cgroups);
	if (!err)
		err = apply_features(h);
	if (err)
		goto cleanup;
	err = hints_bpf__load(h->skel);
	if (err) {
		err = err == -EPERM ? -EPERM : -ENOTSUP;
		goto cleanup;
	}
	err = seed(h);
	if (err)
		goto cleanup;
	err = attach_all(h);
	if (err)
		goto cleanup;
	/* Cgroups made between the walk and the attach: NOEXIST keeps the rest. */
	err = seed(h);
	if (err)
		goto cleanup;
	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.hints), on_sample, h, NULL);
	if (!h->rb) {
		err = -errno;
		goto cleanup;
	}
	return 0;
cleanup:
	for (int i = 0; i < h->n_links; i++)
		bpf_link__destroy(h->links[i]);
	h->n_links = 0;
	hints_bpf__destroy(h->skel);
	h->skel = NULL;
	path_free_all(h);
	return err;
}

int hints__fd(const struct hints *h)
{
	return h && h->rb ? ring_buffer__epoll_fd(h->rb) : -EBADF;
}

int hints__poll(struct hints *h, int timeout_ms, hints_cb cb, void *ctx)
{
	int n;

	if (!h || !h->rb)
		return -EBADF;
	h->cb = cb;
	h->cb_ctx = ctx;
	h->cb_ret = 0;
	n = ring_buffer__poll(h->rb, timeout_ms);
	if (n == -ECANCELED && h->cb_ret)
		return h->cb_ret;
	return n;
}

uint64_t hints__lost(const struct hints *h)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t sum = 0;
	uint32_t zero = 0;

	if (!h || !h->skel || ncpu <= 0)
		return 0;
	uint64_t *v = calloc(ncpu, sizeof(*v));

	if (!v)
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.lost), &zero, v) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

int hints__lookup(const struct hints *h, uint64_t cgid, struct kpleg_cg_state *ret_state)
{
	struct kpleg_cg_state st;

	if (!h || !h->skel)
		return -EBADF;
	if (bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.cgroups), &cgid, &st))
		return -errno;
	*ret_state = st;
	return 0;
}

#define FILEID_KERNFS 0xfe

/* A tracked cgroup whose CREATED hint was lost: ask the kernel for its path
 * (open_by_handle_at on the hierarchy's mount, the inverse of the seeding's
 * name_to_handle_at) and remember it. */
static int path_recover(struct hints *h, uint64_t cgid)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[8];
	} fh = { .fh.handle_bytes = 8, .fh.handle_type = FILEID_KERNFS };
	char proc[64], full[PATH_MAX];
	size_t mlen = strlen(h->mount);
	int mfd, fd = -1, r;
	ssize_t len;

	memcpy(fh.fh.f_handle, &cgid, sizeof(cgid));
	mfd = open(h->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	fd = open_by_handle_at(mfd, &fh.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(mfd);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = readlink(proc, full, sizeof(full) - 1);
	r = len < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	full[len] = '\0';
	if (strncmp(full, h->mount, mlen) || (full[mlen] && full[mlen] != '/') ||
	    (size_t)len - mlen >= KPLEG_PATH_MAX)
		return -ENOENT;
	return path_put(h, cgid, full[mlen] ? full + mlen : "/", false);
}

int hints__path(struct hints *h, uint64_t cgid, char *buf, size_t n)
{
	struct kpleg_cg_state st;
	struct path_ent **pp;
	size_t len;

	if (!h || !h->skel || !h->ptab)
		return -EBADF;
	pp = path_find(h, cgid);
	if (!*pp && path_recover(h, cgid) == 0)
		pp = path_find(h, cgid);
	if (!*pp)
		return -ENOENT;
	/* A lost REMOVED hint: the map is the authority. */
	if (bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.cgroups), &cgid, &st) && errno == ENOENT) {
		path_del(h, cgid);
		return -ENOENT;
	}
	len = strlen((*pp)->path);
	if (!buf || len >= n)
		return -ENAMETOOLONG;
	memcpy(buf, (*pp)->path, len + 1);
	return 0;
}

int hints__for_each(const struct hints *h,
		    int (*fn)(void *ctx, uint64_t cgid, const struct kpleg_cg_state *st), void *ctx)
{
	uint64_t key, next;
	void *prev = NULL;
	int fd, r;

	if (!h || !h->skel)
		return -EBADF;
	fd = bpf_map__fd(h->skel->maps.cgroups);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kpleg_cg_state st;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue; /* removed meanwhile */
		r = fn(ctx, key, &st);
		if (r)
			return r;
	}
	return errno == ENOENT ? 0 : -errno;
}

const char *hints__mount(const struct hints *h)
{
	return h->mount;
}

uint32_t hints__hierarchy_id(const struct hints *h)
{
	return h->hier_id;
}

void hints__free(struct hints *h)
{
	if (!h)
		return;
	ring_buffer__free(h->rb);
	for (int i = 0; i < h->n_links; i++)
		bpf_link__destroy(h->links[i]);
	hints_bpf__destroy(h->skel);
	path_free_all(h);
	for (size_t i = 0; i < h->n_roots; i++)
		free(h->roots[i]);
	free(h->roots);
	free(h->mount);
	free(h);
}
