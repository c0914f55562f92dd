/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GetContainerEvents served by kpleg's CRI proxy from its merged state, so
 * that a kubelet with the EventedPLEG gate gets events from a runtime that
 * has none (containerd 1.6), with containerd 1.7's content:
 *   sandbox ready      -> CREATED, STARTED   (container_id = the sandbox id)
 *   container created  -> CREATED
 *   container started  -> STARTED
 *   container exited   -> STOPPED, once the runtime reports the exit (a
 *                         provisional exit from the kernel is not sent: the
 *                         kubelet takes the statuses as the runtime's word)
 *   container removed  -> DELETED
 *   sandbox stopped    -> STOPPED; removed -> DELETED (no sandbox status)
 * Each message carries created_at (ns) and the runtime's own statuses of the
 * sandbox and of every container it still has, read when the event is built.
 *
 * Unlike containerd 1.7 (one channel: each event reaches one subscriber),
 * every subscriber gets every event. Messages are built once, kept in a ring,
 * and each subscriber reads at its own pace; one that falls behind the ring
 * is cut off with RESOURCE_EXHAUSTED instead of stalling the others.
 */
#pragma once

#include "daemon.h"
#include "rpc_server.h"

struct proxy_events;

/* Starts the builder thread, reading @d's replay buffer from now on and the
 * runtime at @upstream for the statuses. @cap messages kept (0: 1024). */
int proxy_events__start(struct daemon *d, const char *upstream, unsigned cap,
			struct proxy_events **ret);
/* Ends every subscription (UNAVAILABLE) and frees; NULL-safe. Call before
 * the rpc_server that serves it is freed only if no call may still use it:
 * rpc_server__free() waits for the handlers, so free the server first. */
void proxy_events__free(struct proxy_events *pe);
/* Stops new messages and wakes subscribers (they end): call before freeing
 * the server that serves them. */
void proxy_events_close(struct proxy_events *pe);

/* The rpc_handler for /runtime.v1.RuntimeService/GetContainerEvents
 * (ctx: the struct proxy_events). */
void proxy_events_serve(struct rpc_call *c, void *ctx);

/* cri_proxy_opts.on_forwarded (ctx: the struct daemon): after a call that
 * changed a pod (RunPodSandbox, Create/Start/Stop/RemoveContainer,
 * Stop/RemovePodSandbox) the tracker fetches that pod at once. */
void proxy_events_on_forwarded(const char *method, const void *req, size_t len, void *ctx);

/* Events built and subscribers cut off for being slow, for Status. */
void proxy_events_stats(struct proxy_events *pe, uint64_t *ret_built, uint64_t *ret_cut,
			unsigned *ret_subscribers);
