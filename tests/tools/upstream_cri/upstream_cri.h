/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upstream-cri: a CRI client built only from the upstream cri-api api.proto
 * (protoc-c output in build/gen/upstream-c/), gRPC C core, protobuf-c, json-c
 * and libc. It shares no code with kpleg on purpose: it is the independent
 * witness that kpleg's CRI proxy speaks CRI as the kubelet would hear it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <grpc/grpc.h>

#include "api.pb-c.h"

#define UC_SERVICE "/runtime.v1.RuntimeService/"
#define UC_MAX_MSG (16 << 20) /* the kubelet's receive limit */

struct uc_conn {
	grpc_channel *channel;
	char target[512];
};

/* Why a call failed, for the one stderr line. */
struct uc_err {
	grpc_status_code code; /* GRPC_STATUS_OK when the failure is not the server's */
	char msg[512];
};

/* @endpoint: unix:///path or /path. Returns -errno. */
int uc_conn_open(struct uc_conn *c, const char *endpoint);
void uc_conn_close(struct uc_conn *c);

gpr_timespec uc_deadline(int timeout_ms);
const char *uc_code_name(grpc_status_code code);
int uc_fail(struct uc_err *e, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

grpc_byte_buffer *uc_pack(const ProtobufCMessage *msg);
/* Decodes @bb (NULL = empty message); the result is freed with
 * protobuf_c_message_free_unpacked(). */
ProtobufCMessage *uc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc);

/* One unary RuntimeService call. On success *@ret holds the decoded reply. */
int uc_unary(struct uc_conn *c, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **ret,
	     struct uc_err *e);

/* The enum value's name as written in api.proto, or "UNKNOWN(n)" in @buf. */
const char *uc_enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t n);

/* ---- GetContainerEvents (events.c) ---------------------------------------- */

struct uc_events;

/* Opens the stream and starts its reader thread. Returns once the request has
 * been written to the transport (or the stream has already ended); -errno if
 * the call could not be started at all. */
int uc_events_open(struct uc_conn *c, struct uc_events **ret, struct uc_err *e);
/* True (with the reason in @e) if the stream has ended on its own. */
bool uc_events_ended(struct uc_events *s, struct uc_err *e);
/* Waits until a CONTAINER_DELETED_EVENT for @id arrived or the stream ended;
 * false after @timeout_ms. */
bool uc_events_wait_deleted(struct uc_events *s, const char *id, int timeout_ms);
/* Waits until any event about sandbox @sandbox_id (its own, or one carrying
 * its status) arrived or the stream ended; false after @timeout_ms. */
bool uc_events_wait_about(struct uc_events *s, const char *sandbox_id, int timeout_ms);
/* Cancels the call (unless it has ended) and joins the reader. */
void uc_events_stop(struct uc_events *s);
/* One JSON line per event received, in order. An event is the sandbox's own
 * ("is_sandbox") when its container_id is its sandbox status's id or one of
 * @sandbox_ids (NULL-terminated, may be NULL: the sandboxes this tool made,
 * for DELETED events, which carry no sandbox status). Returns the lines. */
size_t uc_events_write(struct uc_events *s, FILE *out, const char *const *sandbox_ids);
void uc_events_free(struct uc_events *s);
