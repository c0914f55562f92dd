/* SPDX-License-Identifier: Apache-2.0 */
/* The unary CRI handlers. Each runs with f->lock held, reads x->req (already
 * decoded, of the method's request type), sets x->resp to an arena message
 * and returns GRPC_STATUS_OK, or returns a status with x->err filled. */
#pragma once

#include "internal.h"

grpc_status_code fk_h_version(struct fk_ctx *x);
grpc_status_code fk_h_status(struct fk_ctx *x);
grpc_status_code fk_h_run_pod_sandbox(struct fk_ctx *x);
grpc_status_code fk_h_stop_pod_sandbox(struct fk_ctx *x);
grpc_status_code fk_h_remove_pod_sandbox(struct fk_ctx *x);
grpc_status_code fk_h_pod_sandbox_status(struct fk_ctx *x);
grpc_status_code fk_h_list_pod_sandbox(struct fk_ctx *x);
grpc_status_code fk_h_create_container(struct fk_ctx *x);
grpc_status_code fk_h_start_container(struct fk_ctx *x);
grpc_status_code fk_h_stop_container(struct fk_ctx *x);
grpc_status_code fk_h_remove_container(struct fk_ctx *x);
grpc_status_code fk_h_list_containers(struct fk_ctx *x);
grpc_status_code fk_h_container_status(struct fk_ctx *x);

/* A response message of @d in the arena, stored in x->resp; NULL on ENOMEM. */
void *fk_resp_new(struct fk_ctx *x, const ProtobufCMessageDescriptor *d);
/* Maps -errno from the store to a status (RESOURCE_EXHAUSTED for -ENOMEM). */
grpc_status_code fk_errno(struct fk_ctx *x, int err);
#define FK_ENOMEM(x) fk_error((x), GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")
