/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pods and containers the way the kubelet asks a runtime for them: cgroup
 * parents under /kubepods by QoS class, host network, and the kubelet's labels.
 * Used by tests, the demo and the benchmarks to drive real runtimes and fakecri.
 * Everything lives inside the structs: no allocation, nothing to free.
 */
#pragma once

#include "cri.h"

enum kube_qos { KUBE_QOS_BESTEFFORT, KUBE_QOS_BURSTABLE, KUBE_QOS_GUARANTEED };

#define KUBE_LABEL_POD_NAME "io.kubernetes.pod.name"
#define KUBE_LABEL_POD_NAMESPACE "io.kubernetes.pod.namespace"
#define KUBE_LABEL_POD_UID "io.kubernetes.pod.uid"
#define KUBE_LABEL_CONTAINER_NAME "io.kubernetes.container.name"

struct kube_pod {
	Runtime__V1__PodSandboxConfig cfg;
	Runtime__V1__PodSandboxMetadata meta;
	Runtime__V1__LinuxPodSandboxConfig linux_cfg;
	Runtime__V1__LinuxSandboxSecurityContext sec;
	Runtime__V1__NamespaceOption ns_opts;
	Runtime__V1__PodSandboxConfig__LabelsEntry label[3];
	Runtime__V1__PodSandboxConfig__LabelsEntry *labels[3];
	char uid[40], name[64], ns[64], cgroup_parent[128];
};

#define KUBE_ARGV_MAX 16

struct kube_container {
	Runtime__V1__ContainerConfig cfg;
	Runtime__V1__ContainerMetadata meta;
	Runtime__V1__ImageSpec image;
	Runtime__V1__LinuxContainerConfig linux_cfg;
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__LinuxContainerSecurityContext sec;
	Runtime__V1__NamespaceOption ns_opts;
	Runtime__V1__ContainerConfig__LabelsEntry label[4];
	Runtime__V1__ContainerConfig__LabelsEntry *labels[4];
	char *argv[KUBE_ARGV_MAX];
	char name[64];
};

/* The test image built by scripts/build-image.sh (busybox + pause). */
#define KUBE_TEST_IMAGE "localhost/kpleg/test:1"

/* Writes a random RFC 4122 version 4 UUID (36 characters + NUL). */
void kube_uuid(char out[37]);

/* Fills @p for a pod; @uid NULL means a fresh UUID. Returns -EINVAL on names
 * that do not fit. */
int kube_pod_init(struct kube_pod *p, const char *uid, const char *name, const char *ns,
		  enum kube_qos qos);

/* Fills @c for a container of pod @p running @argv (NULL-terminated, at most
 * KUBE_ARGV_MAX - 1 words; the strings must outlive @c). @memory_limit 0 = none. */
int kube_container_init(struct kube_container *c, const struct kube_pod *p, const char *name,
			char *const argv[], long long memory_limit);

const char *kube_qos_str(enum kube_qos qos);
int kube_qos_parse(const char *s, enum kube_qos *ret);
