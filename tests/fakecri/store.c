// SPDX-License-Identifier: Apache-2.0
/* Sandboxes and containers: lifecycle rules (see fakecri.h) and their events. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "util.h"

#define EXIT_KILLED 137 /* 128 + SIGKILL, what containerd reports */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int fk_store_init(struct store *s)
{
	int r;

	memset(s, 0, sizeof(*s));
	TAILQ_INIT(&s->sb_list);
	TAILQ_INIT(&s->ctr_list);
	s->rng = now_real_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)s;
	r = htab_init(&s->sandboxes);
	if (r < 0)
		return r;
	r = htab_init(&s->containers);
	if (r < 0)
		htab_fini(&s->sandboxes);
	return r;
}

static void container_free(struct fk_container *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->image);
	free(c->image_ref);
	free(c->log_path);
	free(c->reason);
	free(c->message);
	fk_kvs_free(&c->labels);
	fk_kvs_free(&c->annotations);
	free(c);
}

static void sandbox_free(struct fk_sandbox *sb)
{
	if (!sb)
		return;
	free(sb->name);
	free(sb->uid);
	free(sb->ns);
	free(sb->log_dir);
	free(sb->handler);
	fk_kvs_free(&sb->labels);
	fk_kvs_free(&sb->annotations);
	free(sb);
}

void fk_store_fini(struct store *s)
{
	struct fk_container *c;
	struct fk_sandbox *sb;

	while ((c = TAILQ_FIRST(&s->ctr_list))) {
		TAILQ_REMOVE(&s->ctr_list, c, link);
		container_free(c);
	}
	while ((sb = TAILQ_FIRST(&s->sb_list))) {
		TAILQ_REMOVE(&s->sb_list, sb, link);
		sandbox_free(sb);
	}
	htab_fini(&s->containers);
	htab_fini(&s->sandboxes);
}

int64_t fk_now(struct fakecri *f)
{
	int64_t ns = atomic_load(&f->clock_ns);

	return ns ? ns : (int64_t)now_real_ns();
}

void fk_store_new_id(struct store *s, char *buf)
{
	for (int i = 0; i < 4; i++)
		snprintf(buf + 16 * i, 17, "%016" PRIx64, splitmix64(&s->rng));
}

void fk_store_new_uuid(struct store *s, char *buf)
{
	uint64_t hi = splitmix64(&s->rng), lo = splitmix64(&s->rng);

	hi = (hi & ~0xf000ULL) | 0x4000ULL;                      /* version 4 */
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);                /* variant 1 */
	snprintf(buf, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
		 hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & UINT64_C(0xffffffffffff));
}

struct fk_sandbox *fk_store_sandbox(struct store *s, const char *id)
{
	struct hnode *n = htab_find(&s->sandboxes, id);

	return n ? (struct fk_sandbox *)n : NULL;
}

struct fk_container *fk_store_container(struct store *s, const char *id)
{
	struct hnode *n = htab_find(&s->containers, id);

	return n ? (struct fk_container *)n : NULL;
}

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

static int sandbox_fill(struct store *s, struct fk_sandbox *sb,
			const Runtime__V1__PodSandboxConfig *cfg, const char *handler)
{
	const Runtime__V1__PodSandboxMetadata *md = cfg->metadata;
	uint32_t n = ++s->ip_seq;
	int r;

	snprintf(sb->ip, sizeof(sb->ip), "10.%u.%u.%u", 88 + (n >> 16) % 100, (n >> 8) & 0xff,
		 n & 0xff);
	sb->attempt = md->attempt;
	sb->name = xstrdup(md->name);
	sb->uid = xstrdup(md->uid);
	sb->ns = xstrdup(md->namespace_);
	sb->log_dir = xstrdup(cfg->log_directory);
	sb->handler = xstrdup(handler);
	if (!sb->name || !sb->uid || !sb->ns || !sb->log_dir || !sb->handler)
		return -ENOMEM;
	r = fk_kvs_from_pb(&sb->labels, cfg->n_labels, (void *const *)cfg->labels);
	if (r < 0)
		return r;
	return fk_kvs_from_pb(&sb->annotations, cfg->n_annotations, (void *const *)cfg->annotations);
}

int fk_store_run_sandbox(struct fakecri *f, const Runtime__V1__PodSandboxConfig *cfg,
			 const char *handler, struct fk_sandbox **ret)
{
	struct fk_sandbox *sb = calloc(1, sizeof(*sb));
	int r = -ENOMEM;

	if (!sb)
		return -ENOMEM;
	TAILQ_INIT(&sb->ctrs);
	fk_store_new_id(&f->st, sb->id);
	sb->h.key = sb->id;
	sb->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
	sb->created_at = fk_now(f);
	r = sandbox_fill(&f->st, sb, cfg, handler);
	if (r < 0)
		goto cleanup;
	r = htab_add(&f->st.sandboxes, &sb->h);
	if (r < 0)
		goto cleanup;
	TAILQ_INSERT_TAIL(&f->st.sb_list, sb, link);
	fk_cgroups_sandbox_up(f, sb);
	fk_events_sandbox(f, sb, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
	fk_events_sandbox(f, sb, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	*ret = sb;
	return 0;
cleanup:
	sandbox_free(sb);
	return r;
}

void fk_store_stop_sandbox(struct fakecri *f, struct fk_sandbox *sb)
{
	struct fk_container *c;

	if (sb->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY)
		return;
	TAILQ_FOREACH(c, &sb->ctrs, sb_link)
		fk_store_exit_container(f, c, EXIT_KILLED, "Error");
	sb->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
	fk_events_sandbox(f, sb, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
}

/* Like containerd: a READY sandbox is stopped first, then its containers go. */
void fk_store_remove_sandbox(struct fakecri *f, struct fk_sandbox *sb)
{
	struct fk_container *c;

	fk_store_stop_sandbox(f, sb);
	while ((c = TAILQ_FIRST(&sb->ctrs)))
		fk_store_remove_container(f, c);
	fk_cgroups_sandbox_down(f, sb);
	htab_del(&f->st.sandboxes, &sb->h);
	TAILQ_REMOVE(&f->st.sb_list, sb, link);
	fk_events_sandbox(f, sb, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
	sandbox_free(sb);
}

/* A stable fake digest of the image name: "sha256:" + 64 hex. */
static char *fake_digest(const char *image)
{
	uint64_t x = 0;
	char *d = malloc(7 + FK_ID_LEN + 1);

	if (!d)
		return NULL;
	for (const char *p = image; *p; p++)
		x = (x ^ (unsigned char)*p) * 1099511628211ULL;
	memcpy(d, "sha256:", 7);
	for (int i = 0; i < 4; i++)
		snprintf(d + 7 + 16 * i, 17, "%016" PRIx64, splitmix64(&x));
	return d;
}

static char *join_log_path(const char *dir, const char *rel)
{
	char *p;

	if (!*dir || !*rel)
		return strdup("");
	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		return NULL;
	return p;
}

static int container_fill(struct fk_container *c, const struct fk_sandbox *sb,
			  const Runtime__V1__ContainerConfig *cfg)
{
	int r;

	c->attempt = cfg->metadata->attempt;
	c->name = xstrdup(cfg->metadata->name);
	c->image = xstrdup(cfg->image->image);
	c->image_ref = fake_digest(cfg->image->image ? cfg->image->image : "");
	c->log_path = join_log_path(sb->log_dir, cfg->log_path ? cfg->log_path : "");
	c->reason = strdup("");
	c->message = strdup("");
	if (!c->name || !c->image || !c->image_ref || !c->log_path || !c->reason || !c->message)
		return -ENOMEM;
	r = fk_kvs_from_pb(&c->labels, cfg->n_labels, (void *const *)cfg->labels);
	if (r < 0)
		return r;
	return fk_kvs_from_pb(&c->annotations, cfg->n_annotations, (void *const *)cfg->annotations);
}

int fk_store_create_container(struct fakecri *f, struct fk_sandbox *sb,
			      const Runtime__V1__ContainerConfig *cfg, struct fk_container **ret)
{
	struct fk_container *c = calloc(1, sizeof(*c));
	int r = -ENOMEM;

	if (!c)
		return -ENOMEM;
	fk_store_new_id(&f->st, c->id);
	c->h.key = c->id;
	c->sb = sb;
	c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
	c->created_at = fk_now(f);
	r = container_fill(c, sb, cfg);
	if (r < 0)
		goto cleanup;
	r = htab_add(&f->st.containers, &c->h);
	if (r < 0)
		goto cleanup;
	TAILQ_INSERT_TAIL(&f->st.ctr_list, c, link);
	TAILQ_INSERT_TAIL(&sb->ctrs, c, sb_link);
	fk_events_container(f, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
	*ret = c;
	return 0;
cleanup:
	container_free(c);
	return r;
}

int fk_store_start_container(struct fakecri *f, struct fk_container *c)
{
	if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
		return -EBUSY;
	c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	c->started_at = fk_now(f);
	fk_cgroups_container_up(f, c);
	fk_events_container(f, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	return 0;
}

/* containerd sets exit_code/finished_at before it sends STOPPED: so do we. */
int fk_store_exit_container(struct fakecri *f, struct fk_container *c, int32_t code,
			    const char *reason)
{
	char *r;

	if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
		return -EBUSY;
	r = strdup(reason ? reason : code == 0 ? "Completed" : "Error");
	if (!r)
		return -ENOMEM;
	free(c->reason);
	c->reason = r;
	c->exit_code = code;
	c->finished_at = fk_now(f);
	c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	fk_cgroups_container_down(f, c);
	fk_events_container(f, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
	return 0;
}

void fk_store_remove_container(struct fakecri *f, struct fk_container *c)
{
	fk_store_exit_container(f, c, EXIT_KILLED, "Error");
	fk_cgroups_container_down(f, c); /* CREATED, never started: nothing there */
	htab_del(&f->st.containers, &c->h);
	TAILQ_REMOVE(&f->st.ctr_list, c, link);
	TAILQ_REMOVE(&c->sb->ctrs, c, sb_link);
	fk_events_container(f, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
	container_free(c);
}
