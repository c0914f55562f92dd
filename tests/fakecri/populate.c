// SPDX-License-Identifier: Apache-2.0
/* fakecri__populate(): kubelet-like pods in bulk, built from the same
 * protobuf configs the kubelet would send. */
#include <errno.h>
#include <stdio.h>

#include "internal.h"

#define POP_NAMESPACE "default"
#define POP_IMAGE "docker.io/library/busybox:1.36"

/* What the kubelet's labels (REFERENCE.md §2) name a pod by. */
struct pod_ids {
	char uid[37];
	char name[32];
};

static int populate_container(struct fakecri *f, struct fk_sandbox *sb, const struct pod_ids *p,
			      unsigned i, bool running)
{
	char name[16], log[32];
	Runtime__V1__ContainerConfig__LabelsEntry l[4];
	Runtime__V1__ContainerConfig__AnnotationsEntry an[4];
	Runtime__V1__ContainerConfig__LabelsEntry *lp[4] = { &l[0], &l[1], &l[2], &l[3] };
	Runtime__V1__ContainerConfig__AnnotationsEntry *ap[4] = { &an[0], &an[1], &an[2], &an[3] };
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	struct fk_container *c;
	int err;

	snprintf(name, sizeof(name), "c%u", i);
	snprintf(log, sizeof(log), "c%u/0.log", i);
	for (int k = 0; k < 4; k++) {
		runtime__v1__container_config__labels_entry__init(&l[k]);
		runtime__v1__container_config__annotations_entry__init(&an[k]);
	}
	l[0].key = "io.kubernetes.container.name", l[0].value = name;
	l[1].key = "io.kubernetes.pod.name", l[1].value = (char *)p->name;
	l[2].key = "io.kubernetes.pod.namespace", l[2].value = POP_NAMESPACE;
	l[3].key = "io.kubernetes.pod.uid", l[3].value = (char *)p->uid;
	an[0].key = "io.kubernetes.container.hash", an[0].value = "5a3f9c1e";
	an[1].key = "io.kubernetes.container.restartCount", an[1].value = "0";
	an[2].key = "io.kubernetes.container.terminationMessagePath",
	an[2].value = "/dev/termination-log";
	an[3].key = "io.kubernetes.container.terminationMessagePolicy", an[3].value = "File";
	md.name = name;
	img.image = POP_IMAGE;
	cfg.metadata = &md;
	cfg.image = &img;
	cfg.log_path = log;
	cfg.n_labels = 4, cfg.labels = lp;
	cfg.n_annotations = 4, cfg.annotations = ap;
	err = fk_store_create_container(f, sb, &cfg, &c);
	if (err < 0 || !running)
		return err;
	return fk_store_start_container(f, c);
}

static int populate_pod(struct fakecri *f, unsigned seq, unsigned ncontainers, bool running)
{
	struct pod_ids p;
	char logdir[128];
	Runtime__V1__PodSandboxConfig__LabelsEntry l[3];
	Runtime__V1__PodSandboxConfig__LabelsEntry *lp[3] = { &l[0], &l[1], &l[2] };
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	struct fk_sandbox *sb;
	int err;

	fk_store_new_uuid(&f->st, p.uid);
	snprintf(p.name, sizeof(p.name), "pod-%u", seq);
	snprintf(logdir, sizeof(logdir), "/var/log/pods/%s_%s_%s", POP_NAMESPACE, p.name, p.uid);
	for (int k = 0; k < 3; k++)
		runtime__v1__pod_sandbox_config__labels_entry__init(&l[k]);
	l[0].key = "io.kubernetes.pod.name", l[0].value = p.name;
	l[1].key = "io.kubernetes.pod.namespace", l[1].value = POP_NAMESPACE;
	l[2].key = "io.kubernetes.pod.uid", l[2].value = p.uid;
	md.name = p.name;
	md.uid = p.uid;
	md.namespace_ = POP_NAMESPACE;
	cfg.metadata = &md;
	cfg.hostname = p.name;
	cfg.log_directory = logdir;
	cfg.n_labels = 3, cfg.labels = lp;
	err = fk_store_run_sandbox(f, &cfg, "", &sb);
	for (unsigned i = 0; !err && i < ncontainers; i++)
		err = populate_container(f, sb, &p, i, running);
	return err;
}

int fakecri__populate(struct fakecri *f, unsigned npods, unsigned containers_per_pod,
		      bool running)
{
	int err = 0;

	pthread_mutex_lock(&f->lock);
	f->quiet = true;
	for (unsigned i = 0; !err && i < npods; i++)
		err = populate_pod(f, f->st.pop_seq++, containers_per_pod, running);
	f->quiet = false;
	pthread_mutex_unlock(&f->lock);
	return err;
}
