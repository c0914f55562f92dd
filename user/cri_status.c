// SPDX-License-Identifier: Apache-2.0
/* The one place where gRPC status codes become errno values. */
#include <errno.h>

#include "cri.h"

int cri_status_to_errno(grpc_status_code code)
{
	switch (code) {
	case GRPC_STATUS_OK:			return 0;
	case GRPC_STATUS_CANCELLED:		return -ECANCELED;
	case GRPC_STATUS_INVALID_ARGUMENT:	return -EINVAL;
	case GRPC_STATUS_DEADLINE_EXCEEDED:	return -ETIMEDOUT;
	case GRPC_STATUS_NOT_FOUND:		return -ENOENT;
	case GRPC_STATUS_ALREADY_EXISTS:	return -EEXIST;
	case GRPC_STATUS_PERMISSION_DENIED:	return -EACCES;
	case GRPC_STATUS_UNAUTHENTICATED:	return -EACCES;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:	return -ENOBUFS;
	case GRPC_STATUS_FAILED_PRECONDITION:	return -EBUSY;
	case GRPC_STATUS_ABORTED:		return -ECONNABORTED;
	case GRPC_STATUS_OUT_OF_RANGE:		return -ERANGE;
	case GRPC_STATUS_UNIMPLEMENTED:		return -EOPNOTSUPP;
	case GRPC_STATUS_INTERNAL:		return -EREMOTEIO;
	case GRPC_STATUS_UNAVAILABLE:		return -ENOTCONN;
	case GRPC_STATUS_DATA_LOSS:		return -EBADMSG;
	case GRPC_STATUS_UNKNOWN:
	default:				return -EIO;
	}
}

const char *cri_status_code_name(grpc_status_code code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};

	if ((unsigned)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "UNKNOWN";
}
