/* SPDX-License-Identifier: Apache-2.0 */
/* fakecri's in-memory sandboxes and containers. Every function here expects
 * the caller to hold f->lock; state changes emit their events (events.c)
 * under that same lock, so subscribers see them in state order. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "arena.h"
#include "htab.h"
#include "cri.pb-c.h"

#define FK_ID_LEN 64 /* hex, like containerd's ids */

struct fakecri;

struct kv {
	char *key, *value;
};

/* The layout protobuf-c gives every map entry (checked in convert.c). */
struct pb_map_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

struct kvs {
	size_t n;
	struct kv *v;
};

struct fk_container;

struct fk_sandbox {
	struct hnode h; /* key = id */
	TAILQ_ENTRY(fk_sandbox) link;
	TAILQ_HEAD(, fk_container) ctrs;
	char id[FK_ID_LEN + 1];
	char ip[16];
	char *name, *uid, *ns, *log_dir, *handler;
	uint32_t attempt;
	Runtime__V1__PodSandboxState state;
	int64_t created_at;
	struct kvs labels, annotations;
};

struct fk_container {
	struct hnode h; /* key = id */
	TAILQ_ENTRY(fk_container) link, sb_link;
	struct fk_sandbox *sb;
	char id[FK_ID_LEN + 1];
	char *name, *image, *image_ref, *log_path, *reason, *message;
	uint32_t attempt;
	Runtime__V1__ContainerState state;
	int64_t created_at, started_at, finished_at;
	int32_t exit_code;
	struct kvs labels, annotations;
};

struct store {
	struct htab sandboxes, containers;
	TAILQ_HEAD(, fk_sandbox) sb_list;
	TAILQ_HEAD(, fk_container) ctr_list;
	uint64_t rng;
	uint32_t ip_seq;
	unsigned pop_seq; /* pod names of fakecri__populate() */
};

int fk_store_init(struct store *s);
void fk_store_fini(struct store *s);

/* Now in ns: the clock set by fakecri__set_clock(), else CLOCK_REALTIME. */
int64_t fk_now(struct fakecri *f);
/* Fills @buf (FK_ID_LEN + 1) with a fresh random hex id. */
void fk_store_new_id(struct store *s, char *buf);
/* Fills @buf (37) with a random version-4 UUID. */
void fk_store_new_uuid(struct store *s, char *buf);

struct fk_sandbox *fk_store_sandbox(struct store *s, const char *id);
struct fk_container *fk_store_container(struct store *s, const char *id);

/* @cfg must have metadata. -ENOMEM. */
int fk_store_run_sandbox(struct fakecri *f, const Runtime__V1__PodSandboxConfig *cfg,
			 const char *handler, struct fk_sandbox **ret);
void fk_store_stop_sandbox(struct fakecri *f, struct fk_sandbox *sb);
void fk_store_remove_sandbox(struct fakecri *f, struct fk_sandbox *sb);
/* @cfg must have metadata and image. -ENOMEM. */
int fk_store_create_container(struct fakecri *f, struct fk_sandbox *sb,
			      const Runtime__V1__ContainerConfig *cfg, struct fk_container **ret);
/* -EBUSY unless CREATED. */
int fk_store_start_container(struct fakecri *f, struct fk_container *c);
/* RUNNING -> EXITED (code, reason, finished_at) + STOPPED; -EBUSY otherwise. */
int fk_store_exit_container(struct fakecri *f, struct fk_container *c, int32_t code,
			    const char *reason);
void fk_store_remove_container(struct fakecri *f, struct fk_container *c);

/* Reply building (convert.c): messages allocated in @a, strings borrowed from
 * the store, so pack them before dropping f->lock. NULL on ENOMEM. */
Runtime__V1__ContainerStatus *fk_cv_container_status(struct arena *a, const struct fk_container *c);
Runtime__V1__Container *fk_cv_container(struct arena *a, const struct fk_container *c);
Runtime__V1__PodSandboxStatus *fk_cv_sandbox_status(struct arena *a, const struct fk_sandbox *sb);
Runtime__V1__PodSandbox *fk_cv_sandbox(struct arena *a, const struct fk_sandbox *sb);
/* Copies protobuf-c map entries (any *__LabelsEntry type) into @ret. */
int fk_kvs_from_pb(struct kvs *ret, size_t n, void *const *entries);
void fk_kvs_free(struct kvs *k);
/* True when every entry of the selector (map entries) is in @k. */
bool fk_kvs_match(const struct kvs *k, size_t n, void *const *selector);
