// SPDX-License-Identifier: Apache-2.0
/* Per-method fault table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void fault_clear(struct fk_fault *ft)
{
	free((char *)ft->f.message);
	free((char *)ft->f.match_id);
	memset(ft, 0, sizeof(*ft));
}

void fk_faults_init(struct fakecri *f)
{
	pthread_mutex_init(&f->faults_lock, NULL);
	memset(f->faults, 0, sizeof(f->faults));
}

void fk_faults_fini(struct fakecri *f)
{
	fakecri__clear_faults(f);
	pthread_mutex_destroy(&f->faults_lock);
}

int fakecri__set_fault(struct fakecri *f, const char *method, const struct fakecri_fault *fault)
{
	int m = fk_methods_by_name(method);
	struct fk_fault ft = { .active = true };

	if (m < 0 || (fault && (unsigned)fault->reply > FAKECRI_REPLY_NO_METADATA))
		return -EINVAL;
	if (fault) {
		ft.f = *fault;
		ft.f.message = strdup(fault->message ? fault->message : "");
		ft.f.match_id = fault->match_id ? strdup(fault->match_id) : NULL;
		if (!ft.f.message || (fault->match_id && !ft.f.match_id)) {
			fault_clear(&ft);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&f->faults_lock);
	fault_clear(&f->faults[m]);
	if (fault)
		f->faults[m] = ft;
	pthread_mutex_unlock(&f->faults_lock);
	return 0;
}

void fakecri__clear_faults(struct fakecri *f)
{
	pthread_mutex_lock(&f->faults_lock);
	for (int i = 0; i < FK_NMETHODS; i++)
		fault_clear(&f->faults[i]);
	pthread_mutex_unlock(&f->faults_lock);
}

bool fk_faults_take(struct fakecri *f, int method, const char *subject, struct fk_applied *ret)
{
	struct fk_fault *ft = &f->faults[method];
	bool hit;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&f->faults_lock);
	hit = ft->active && (!ft->f.match_id || (subject && !strcmp(subject, ft->f.match_id)));
	if (hit) {
		ret->delay_ms = ft->f.delay_ms;
		ret->code = ft->f.code;
		ret->reply = ft->f.reply;
		snprintf(ret->message, sizeof(ret->message), "%s", ft->f.message);
		if (ft->f.count > 0 && --ft->f.count == 0)
			fault_clear(ft);
	}
	pthread_mutex_unlock(&f->faults_lock);
	return hit;
}
