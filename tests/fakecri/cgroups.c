// SPDX-License-Identifier: Apache-2.0
/* Real cgroups for fake containers (fakecri_opts.cgroup_root): containerd's
 * cgroupfs layout, <root>/kubepods/besteffort/pod<uid>/<container id>, so that
 * kpleg's kernel hints see (and its BPF map holds) one cgroup per container
 * although no process runs. A pod's directory is made when it runs, a
 * container's when it starts; a container's goes when it exits (containerd
 * deletes the task then) or is removed, a pod's when it is removed. Errors are
 * counted and logged once, never fatal: the CRI side goes on. Called under
 * f->lock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static void cg_fail(struct fakecri *f, const char *what, const char *path, int err)
{
	if (f->cg_errors++ == 0)
		fprintf(stderr, "fakecri: cgroup %s %s: %s (further errors only counted)\n", what,
			path, strerror(err));
}

/* <root>/kubepods/besteffort/pod<uid>[/<id>]; false when it does not fit or the
 * pod has no UID. */
static bool cg_path(const struct fakecri *f, const struct fk_sandbox *sb, const char *id,
		    char *buf, size_t len)
{
	int n;

	if (!f->cgroup_root || !sb->uid || !*sb->uid)
		return false;
	n = snprintf(buf, len, "%s/kubepods/besteffort/pod%s%s%s", f->cgroup_root, sb->uid,
		     id ? "/" : "", id ? id : "");
	return n > 0 && (size_t)n < len;
}

static void cg_mkdir(struct fakecri *f, const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		cg_fail(f, "mkdir", path, errno);
}

static void cg_rmdir(struct fakecri *f, const char *path)
{
	if (rmdir(path) < 0 && errno != ENOENT)
		cg_fail(f, "rmdir", path, errno);
}

void fk_cgroups_sandbox_up(struct fakecri *f, struct fk_sandbox *sb)
{
	char path[512];

	if (!cg_path(f, sb, NULL, path, sizeof(path)))
		return;
	/* The parents every time: another fakecri may have removed them. */
	snprintf(path, sizeof(path), "%s/kubepods", f->cgroup_root);
	cg_mkdir(f, path);
	snprintf(path, sizeof(path), "%s/kubepods/besteffort", f->cgroup_root);
	cg_mkdir(f, path);
	cg_path(f, sb, NULL, path, sizeof(path));
	cg_mkdir(f, path);
}

void fk_cgroups_sandbox_down(struct fakecri *f, struct fk_sandbox *sb)
{
	char path[512];

	if (cg_path(f, sb, NULL, path, sizeof(path)))
		cg_rmdir(f, path);
}

void fk_cgroups_container_up(struct fakecri *f, struct fk_container *c)
{
	char path[512];

	if (cg_path(f, c->sb, c->id, path, sizeof(path)))
		cg_mkdir(f, path);
}

void fk_cgroups_container_down(struct fakecri *f, struct fk_container *c)
{
	char path[512];

	if (cg_path(f, c->sb, c->id, path, sizeof(path)))
		cg_rmdir(f, path);
}

/* At fakecri__free: every directory still there, then the shared parents
 * when empty (another fakecri or a runtime may still use them: EBUSY). */
void fk_cgroups_fini(struct fakecri *f)
{
	struct fk_container *c;
	struct fk_sandbox *sb;
	char path[512];

	if (!f->cgroup_root)
		return;
	TAILQ_FOREACH(c, &f->st.ctr_list, link)
		fk_cgroups_container_down(f, c);
	TAILQ_FOREACH(sb, &f->st.sb_list, link)
		fk_cgroups_sandbox_down(f, sb);
	snprintf(path, sizeof(path), "%s/kubepods/besteffort", f->cgroup_root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/kubepods", f->cgroup_root);
	rmdir(path);
	if (f->cg_errors)
		fprintf(stderr, "fakecri: %lu cgroup operations failed\n", f->cg_errors);
}
