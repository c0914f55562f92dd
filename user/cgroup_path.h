/* SPDX-License-Identifier: Apache-2.0 */
/* Resolves a cgroup path (relative to the hierarchy root, as cgroupfs or the
 * cgroup tracepoints show it) to the pod and container it belongs to.
 *
 * Recognition is table-driven (see the shape table in cgroup_path.c): a new
 * runtime naming is one line there. The resolver allocates nothing, does not
 * need a NUL-terminated input and reads at most len bytes.
 *
 * Decisions:
 * - The kubepods root is the FIRST segment named "kubepods" (cgroupfs driver),
 *   "kubepods.slice" or "<x>-kubepods.slice" (systemd driver; kind uses
 *   "kubelet-kubepods.slice"), at any depth, so node-in-container prefixes
 *   (/system.slice/docker-<node>.scope/kubelet/kubepods/...) resolve. First,
 *   not last: a kubelet nested inside a pod is below that pod's container
 *   cgroup and belongs to it (sub = true).
 * - Pod UIDs: 8-4-4-4-12 lower-case hex, dashes for cgroupfs, underscores for
 *   systemd; reported with dashes. Static pods (kubelet file/http sources) get
 *   a 32-hex MD5 UID without dashes (kubelet config/common.go): accepted and
 *   reported verbatim, because that is the UID the CRI reports for them.
 * - Upper-case hex is rejected (CG_NONE, unknown_shape): kubelet and runtimes
 *   only write lower case, and folding would map two cgroups to one key.
 * - A bare 64-hex container cgroup under the cgroupfs driver is containerd's or
 *   cri-dockerd's; reported as containerd (the CRI the caller talks to decides).
 * - Podman outside kubepods (libpod-<id>.scope anywhere, libpod-<id> for the
 *   cgroupfs manager) is CG_CONTAINER, runtime podman, empty pod_uid; its
 *   conmon (libpod-conmon-<id>.scope) is CG_CONMON. A kubepods root anywhere in
 *   the path wins over a libpod segment (kind on podman).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CGROUP_PATH_MAX 4096

enum cg_kind {
	CG_NONE = 0,  /* not a pod cgroup (incl. kubepods root and QoS cgroups) */
	CG_POD,       /* the pod-level cgroup */
	CG_CONTAINER, /* a container's or a sandbox's cgroup (told apart via CRI) */
	CG_CONMON,    /* CRI-O's / podman's conmon: to be ignored */
};

enum cg_runtime {
	CG_RT_UNKNOWN = 0,
	CG_RT_CONTAINERD,
	CG_RT_CRIO,
	CG_RT_DOCKER, /* cri-dockerd */
	CG_RT_PODMAN,
};

enum cg_driver {
	CG_DRIVER_UNKNOWN = 0,
	CG_DRIVER_CGROUPFS,
	CG_DRIVER_SYSTEMD,
};

struct cgroup_ref {
	enum cg_kind kind;
	enum cg_runtime runtime; /* CG_RT_UNKNOWN unless kind is CONTAINER/CONMON */
	enum cg_driver driver;   /* also set for the kubepods root/QoS cgroups */
	char pod_uid[37];        /* dashed lower-case ("" for podman and CG_NONE) */
	char id[65];             /* 64 lower-case hex; "" for CG_POD and CG_NONE */
	bool sub;                /* path is below the container's cgroup */
	bool unknown_shape;      /* under kubepods but no known shape: CG_NONE */
	char qos[16];            /* "besteffort", "burstable", "" (guaranteed) */
};

/* Resolves path[0..len) (leading '/', trailing '/' and repeated '/' are all
 * accepted). Returns 0 with *ret filled (kind CG_NONE for paths outside any
 * known shape), or -EINVAL for NULL arguments, len > CGROUP_PATH_MAX or a NUL
 * byte within len; *ret is untouched on error. */
int cgroup_path_resolve(const char *path, size_t len, struct cgroup_ref *ret);

/* Stable names for logs and tests ("none", "pod", ...; "?" if out of range). */
const char *cg_kind_name(enum cg_kind k);
const char *cg_runtime_name(enum cg_runtime r);
const char *cg_driver_name(enum cg_driver d);
