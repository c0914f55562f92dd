// SPDX-License-Identifier: Apache-2.0
/*
 * Workers run the CRI calls: relists (first in line, as in the kubelet's 2026
 * priorities) and per-pod status fetches, a bounded number at once, each call
 * with its own deadline, so one slow pod cannot stall the others. Results go
 * back to the engine as messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracker_internal.h"
#include "util.h"

void job__free(struct job *j)
{
	if (!j)
		return;
	if (j->result) {
		j->result->job = NULL;
		msg__free(j->result);
	}
	free(j->ids);
	free(j);
}

void workers_submit(struct kpleg_tracker *t, struct job *j)
{
	pthread_mutex_lock(&t->jq_lock);
	if (j->list) { /* relists jump the queue */
		j->next = t->jq_head;
		t->jq_head = j;
		if (!t->jq_tail)
			t->jq_tail = j;
	} else {
		if (t->jq_tail)
			t->jq_tail->next = j;
		else
			t->jq_head = j;
		t->jq_tail = j;
	}
	pthread_cond_signal(&t->jq_cond);
	pthread_mutex_unlock(&t->jq_lock);
}

static struct job *take_job(struct kpleg_tracker *t)
{
	struct job *j;

	pthread_mutex_lock(&t->jq_lock);
	while (!t->jq_head && !t->stopping)
		pthread_cond_wait(&t->jq_cond, &t->jq_lock);
	j = t->stopping ? NULL : t->jq_head;
	if (j) {
		t->jq_head = j->next;
		if (!t->jq_head)
			t->jq_tail = NULL;
	}
	pthread_mutex_unlock(&t->jq_lock);
	return j;
}

static void run_list(struct kpleg_tracker *t)
{
	struct msg *m = msg__new(MSG_LIST_DONE);
	int to = (int)t->cfg.call_timeout_ms;
	struct cri_status st;

	if (!m)
		return;
	m->ns = now_mono_ns();
	m->err = cri_list_view(t->cri, to, &m->view, &st);
	if (m->err)
		log_v(1, "\"Relist failed\" endpoint=\"%s\" err=\"%s\"", t->endpoint, st.message);
	engine_post(t, m);
}

/* Finds the pod's sandboxes by the kubelet's uid label, and their containers. */
static int discover(struct kpleg_tracker *t, struct job *j)
{
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry e =
		RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry *ep = &e;
	Runtime__V1__PodSandboxFilter pf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__ListPodSandboxResponse *pl = NULL;
	int to = (int)t->cfg.call_timeout_ms, r;
	struct cri_status st;

	e.key = (char *)"io.kubernetes.pod.uid";
	e.value = j->uid;
	pf.label_selector = &ep;
	pf.n_label_selector = 1;
	r = cri_list_pod_sandbox(t->cri, &pf, to, &pl, &st);
	for (size_t i = 0; r == 0 && i < pl->n_items; i++) {
		Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
		Runtime__V1__ListContainersResponse *cl = NULL;

		r = fetch_ids_add(&j->ids, &j->n_ids, &j->cap_ids, pl->items[i]->id, NULL,
				  true);
		cf.pod_sandbox_id = pl->items[i]->id;
		if (r == 0)
			r = cri_list_containers(t->cri, &cf, to, &cl, &st);
		for (size_t k = 0; r == 0 && k < cl->n_containers; k++)
			r = fetch_ids_add(&j->ids, &j->n_ids, &j->cap_ids, cl->containers[k]->id,
					  pl->items[i]->id, false);
		cri_msg_free(cl);
	}
	cri_msg_free(pl);
	return r;
}

static int fetch_one(struct kpleg_tracker *t, struct snap *s, const struct fetch_id *f)
{
	int to = (int)t->cfg.call_timeout_ms, r;
	struct cri_status st;

	if (f->sandbox) {
		Runtime__V1__PodSandboxStatusResponse *ps = NULL;

		r = cri_pod_sandbox_status(t->cri, f->id, to, &ps, &st);
		if (r == 0 && strcmp(ps->status->metadata->uid, s->uid))
			r = -EPROTO; /* not this pod's: a runtime that reuses ids? */
		if (r == 0)
			r = snap_add_sandbox_status(s, ps->status);
		cri_msg_free(ps);
	} else {
		Runtime__V1__ContainerStatusResponse *cs = NULL;

		r = cri_container_status(t->cri, f->id, to, &cs, &st);
		if (r == 0)
			r = snap_add_container_status(s, f->sandbox_id, cs->status);
		cri_msg_free(cs);
	}
	if (r == -ENOENT)
		r = f->sandbox ? snap_add_sandbox_absent(s, f->id)
			       : snap_add_container_absent(s, f->id, f->sandbox_id);
	else if (r < 0)
		log_v(2, "\"Status call failed\" id=\"%s\" err=\"%s\"", f->id, st.message);
	return r;
}

static void run_fetch(struct kpleg_tracker *t, struct job *j)
{
	struct msg *m = j->result;
	int r = 0;

	atomic_store(&j->started_ns, now_mono_ns());
	m->ns = atomic_load(&j->started_ns);
	m->snap = snap__new(j->uid, j->source, m->ns);
	if (!m->snap)
		r = -ENOMEM;
	else
		m->snap->fetched = !j->narrow, m->snap->overrule = j->overrule;
	if (r == 0 && j->discover && (r = discover(t, j)) < 0) {
		snprintf(m->failed_call, sizeof(m->failed_call), "pod discovery");
		snprintf(m->failed_id, sizeof(m->failed_id), "%s", j->uid);
	}
	for (size_t i = 0; r == 0 && i < j->n_ids; i++)
		if ((r = fetch_one(t, m->snap, &j->ids[i])) < 0) {
			snprintf(m->failed_call, sizeof(m->failed_call), "%s",
				 j->ids[i].sandbox ? "PodSandboxStatus" : "ContainerStatus");
			snprintf(m->failed_id, sizeof(m->failed_id), "%s", j->ids[i].id);
		}
	m->err = r;
	/* The answer takes the job back to the engine. */
	j->result = NULL;
	m->job = j;
	engine_post(t, m);
}

static void *worker_main(void *arg)
{
	struct kpleg_tracker *t = arg;
	struct job *j;

	while ((j = take_job(t))) {
		if (j->list) {
			run_list(t);
			job__free(j);
		} else {
			run_fetch(t, j);
		}
	}
	return NULL;
}

int workers_start(struct kpleg_tracker *t)
{
	t->workers = calloc(t->cfg.fetch_concurrency, sizeof(*t->workers));
	if (!t->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < t->cfg.fetch_concurrency; i++) {
		int r = pthread_create(&t->workers[i], NULL, worker_main, t);

		if (r) {
			workers_stop(t);
			return -r;
		}
		t->n_workers++;
	}
	return 0;
}

/* Called with t->stopping set. Unstarted jobs are dropped. */
void workers_stop(struct kpleg_tracker *t)
{
	pthread_mutex_lock(&t->jq_lock);
	pthread_cond_broadcast(&t->jq_cond);
	pthread_mutex_unlock(&t->jq_lock);
	for (unsigned i = 0; i < t->n_workers; i++)
		pthread_join(t->workers[i], NULL);
	t->n_workers = 0;
	free(t->workers);
	t->workers = NULL;
	while (t->jq_head) {
		struct job *j = t->jq_head;

		t->jq_head = j->next;
		job__free(j);
	}
	t->jq_tail = NULL;
}
