/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a relist needs from ListPodSandbox and ListContainers, read straight
 * off the wire: ids, pod identity and state. At 10,000 containers the full
 * replies are ~7 MB of mostly labels and annotations; unpacking them costs
 * more than the runtime spends producing them (bench/RESULTS.md). This reader
 * walks gRPC's slices without copying the payload, skips every field it does
 * not need, and keeps only short strings in one pool. It validates as the
 * full decode does (cri_validate.c): an empty id, a missing metadata or an
 * unknown state rejects the reply.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/byte_buffer.h>

#include "cri.h"

struct lv_sandbox {
	const char *id, *uid, *name, *namespace_;
	int state;			/* CRI PodSandboxState */
};

struct lv_container {
	const char *id, *sandbox_id, *name;
	const char *pod_uid_label;	/* io.kubernetes.pod.uid, or NULL */
	int state;			/* CRI ContainerState */
};

struct cri_list_view {
	size_t n_sandboxes, n_containers;
	struct lv_sandbox *sandboxes;
	struct lv_container *containers;
	struct lv_pool *pool;
	size_t cap;			/* of the array being parsed */
};

/* ListPodSandbox then ListContainers (no filters) into a new view. */
int cri_list_view(struct cri_client *c, int timeout_ms, struct cri_list_view **ret,
		  struct cri_status *st);
void cri_list_view_free(struct cri_list_view *v);

/* The parsers alone, for tests: @data is one whole encoded reply. */
int lv_parse_sandboxes(const uint8_t *data, size_t len, struct cri_list_view *v, char *why,
		       size_t n);
int lv_parse_containers(const uint8_t *data, size_t len, struct cri_list_view *v, char *why,
			size_t n);
/* The reply as gRPC hands it over (any number of slices; NULL: empty), as
 * cri_list_view reads it; -EMSGSIZE past KPLEG_MAX_MSG_SIZE. */
int lv_parse_bb(grpc_byte_buffer *bb, bool containers, struct cri_list_view *v, char *why,
		size_t n);
