// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "kube.h"

void kube_uuid(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		memset(b, 0x5a, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

const char *kube_qos_str(enum kube_qos qos)
{
	switch (qos) {
	case KUBE_QOS_BESTEFFORT: return "besteffort";
	case KUBE_QOS_BURSTABLE:  return "burstable";
	case KUBE_QOS_GUARANTEED: return "guaranteed";
	}
	return "?";
}

int kube_qos_parse(const char *s, enum kube_qos *ret)
{
	for (int q = KUBE_QOS_BESTEFFORT; q <= KUBE_QOS_GUARANTEED; q++)
		if (!strcmp(s, kube_qos_str(q))) {
			*ret = q;
			return 0;
		}
	return -EINVAL;
}

static void set_label(Runtime__V1__PodSandboxConfig__LabelsEntry *e, const char *k, char *v)
{
	runtime__v1__pod_sandbox_config__labels_entry__init(e);
	e->key = (char *)k;
	e->value = v;
}

int kube_pod_init(struct kube_pod *p, const char *uid, const char *name, const char *ns,
		  enum kube_qos qos)
{
	int n;

	memset(p, 0, sizeof(*p));
	if (uid && strlen(uid) >= sizeof(p->uid))
		return -EINVAL;
	if (strlen(name) >= sizeof(p->name) || strlen(ns) >= sizeof(p->ns))
		return -EINVAL;
	if (uid)
		strcpy(p->uid, uid);
	else
		kube_uuid(p->uid);
	strcpy(p->name, name);
	strcpy(p->ns, ns);
	/* The kubelet's cgroupfs layout: Guaranteed pods sit right under kubepods. */
	if (qos == KUBE_QOS_GUARANTEED)
		n = snprintf(p->cgroup_parent, sizeof(p->cgroup_parent), "/kubepods/pod%s", p->uid);
	else
		n = snprintf(p->cgroup_parent, sizeof(p->cgroup_parent), "/kubepods/%s/pod%s",
			     kube_qos_str(qos), p->uid);
	if (n < 0 || (size_t)n >= sizeof(p->cgroup_parent))
		return -EINVAL;

	runtime__v1__pod_sandbox_config__init(&p->cfg);
	runtime__v1__pod_sandbox_metadata__init(&p->meta);
	runtime__v1__linux_pod_sandbox_config__init(&p->linux_cfg);
	runtime__v1__linux_sandbox_security_context__init(&p->sec);
	runtime__v1__namespace_option__init(&p->ns_opts);
	p->meta.name = p->name;
	p->meta.uid = p->uid;
	p->meta.namespace_ = p->ns;
	p->cfg.metadata = &p->meta;
	set_label(&p->label[0], KUBE_LABEL_POD_NAME, p->name);
	set_label(&p->label[1], KUBE_LABEL_POD_NAMESPACE, p->ns);
	set_label(&p->label[2], KUBE_LABEL_POD_UID, p->uid);
	for (int i = 0; i < 3; i++)
		p->labels[i] = &p->label[i];
	p->cfg.n_labels = 3;
	p->cfg.labels = p->labels;
	/* hostNetwork pods: no CNI on the test machines. */
	p->ns_opts.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	p->ns_opts.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	p->ns_opts.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	p->sec.namespace_options = &p->ns_opts;
	p->linux_cfg.security_context = &p->sec;
	p->linux_cfg.cgroup_parent = p->cgroup_parent;
	p->cfg.linux = &p->linux_cfg;
	return 0;
}

static void set_clabel(Runtime__V1__ContainerConfig__LabelsEntry *e, const char *k, char *v)
{
	runtime__v1__container_config__labels_entry__init(e);
	e->key = (char *)k;
	e->value = v;
}

int kube_container_init(struct kube_container *c, const struct kube_pod *p, const char *name,
			char *const argv[], long long memory_limit)
{
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	if (strlen(name) >= sizeof(c->name))
		return -EINVAL;
	while (argv && argv[n]) {
		if (n + 1 >= KUBE_ARGV_MAX)
			return -E2BIG;
		c->argv[n] = argv[n];
		n++;
	}
	strcpy(c->name, name);
	runtime__v1__container_config__init(&c->cfg);
	runtime__v1__container_metadata__init(&c->meta);
	runtime__v1__image_spec__init(&c->image);
	runtime__v1__linux_container_config__init(&c->linux_cfg);
	runtime__v1__linux_container_resources__init(&c->res);
	c->meta.name = c->name;
	c->image.image = (char *)KUBE_TEST_IMAGE;
	c->cfg.metadata = &c->meta;
	c->cfg.image = &c->image;
	c->cfg.command = c->argv;
	c->cfg.n_command = n;
	set_clabel(&c->label[0], KUBE_LABEL_POD_NAME, (char *)p->name);
	set_clabel(&c->label[1], KUBE_LABEL_POD_NAMESPACE, (char *)p->ns);
	set_clabel(&c->label[2], KUBE_LABEL_POD_UID, (char *)p->uid);
	set_clabel(&c->label[3], KUBE_LABEL_CONTAINER_NAME, c->name);
	for (int i = 0; i < 4; i++)
		c->labels[i] = &c->label[i];
	c->cfg.n_labels = 4;
	c->cfg.labels = c->labels;
	c->res.memory_limit_in_bytes = memory_limit;
	c->linux_cfg.resources = &c->res;
	/* The kubelet's defaults for a hostNetwork pod without
	 * shareProcessNamespace: its own pid namespace, the pod's IPC. */
	runtime__v1__linux_container_security_context__init(&c->sec);
	runtime__v1__namespace_option__init(&c->ns_opts);
	c->ns_opts.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	c->ns_opts.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	c->ns_opts.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	c->sec.namespace_options = &c->ns_opts;
	c->linux_cfg.security_context = &c->sec;
	c->cfg.linux = &c->linux_cfg;
	return 0;
}
