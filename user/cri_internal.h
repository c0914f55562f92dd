/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the CRI client's source files only. */
#pragma once

#include <grpc/grpc.h>

#include "cri.h"

#define CRI_SERVICE "/runtime.v1.RuntimeService/"

struct cri_client {
	grpc_channel *channel;
	char target[128];
	struct kpleg_metrics *metrics;	/* NULL: calls are not measured */
};

/* Fills @st (NULL-safe) with @code and a printf-style message; returns @err. */
int cri_set_status(struct cri_status *st, grpc_status_code code, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Copies a gRPC status detail slice into @st and returns the mapped errno. */
int cri_status_from_grpc(struct cri_status *st, grpc_status_code code, grpc_slice details);

/* A unary call whose reply is left undecoded in *@ret_recv (may be NULL for
 * an empty message); the caller destroys it. @method is a RuntimeService
 * method's name, or a full path ("/kpleg.v1.Kpleg/Status"). */
int cri_call_raw(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		 int timeout_ms, grpc_byte_buffer **ret_recv, struct cri_status *st);

/* gRPC wants an absolute deadline. */
gpr_timespec cri_deadline_ms(int timeout_ms);
