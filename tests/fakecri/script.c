// SPDX-License-Identifier: Apache-2.0
/* Scripting from tests: exits, clocks, timestamps, call counts. */
#include <errno.h>

#include "internal.h"

int fakecri__container_exit(struct fakecri *f, const char *id, int32_t exit_code,
			    const char *reason)
{
	struct fk_container *c;
	int err = -ENOENT;

	if (!id)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	c = fk_store_container(&f->st, id);
	if (c)
		err = fk_store_exit_container(f, c, exit_code, reason);
	pthread_mutex_unlock(&f->lock);
	return err;
}

void fakecri__set_clock(struct fakecri *f, int64_t ns)
{
	atomic_store(&f->clock_ns, ns);
}

int fakecri__set_timestamps(struct fakecri *f, const char *id, int64_t created_at,
			    int64_t started_at, int64_t finished_at)
{
	struct fk_container *c;
	struct fk_sandbox *sb;
	int err = 0;

	if (!id)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	c = fk_store_container(&f->st, id);
	sb = c ? NULL : fk_store_sandbox(&f->st, id);
	if (c) {
		c->created_at = created_at >= 0 ? created_at : c->created_at;
		c->started_at = started_at >= 0 ? started_at : c->started_at;
		c->finished_at = finished_at >= 0 ? finished_at : c->finished_at;
	} else if (sb) {
		sb->created_at = created_at >= 0 ? created_at : sb->created_at;
	} else {
		err = -ENOENT;
	}
	pthread_mutex_unlock(&f->lock);
	return err;
}

long fakecri__count_calls(struct fakecri *f, const char *method)
{
	int m = fk_methods_by_name(method);

	return m < 0 ? -EINVAL : atomic_load(&f->counts[m]);
}

void fakecri__reset_counts(struct fakecri *f)
{
	for (int i = 0; i < FK_NMETHODS; i++)
		atomic_store(&f->counts[i], 0);
}
