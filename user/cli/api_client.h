/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI as a client of `kpleg daemon` (kpleg.v1, proto/kpleg.proto), shared
 * by `kpleg pods`, `kpleg get` and `kpleg events`: the connection, unary
 * calls, the Watch stream, the one line a failed call prints, and the
 * daemon's Pod messages turned back into the library's struct so that the
 * output code (output*.c) prints the daemon's pods exactly like a local
 * tracker's.
 *
 * Failed calls print one line and the command exits 1:
 *   kpleg CMD: no kpleg daemon answers on SOCKET: UNAVAILABLE: ...
 * when nothing (or something that is not a kpleg daemon) answers, and
 *   kpleg CMD: the kpleg daemon on SOCKET says PERMISSION_DENIED: ...
 * when the daemon answered with an error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cri.h"
#include "kpleg.pb-c.h"
#include "kpleg/kpleg.h"
#include "util.h"

/* Default deadline of a unary call to the daemon. */
#define API_DEFAULT_TIMEOUT_MS 5000

struct api_client {
	const char *cmd;	/* "pods": lines start with "kpleg pods: " */
	const char *socket;	/* as the user gave it, for messages */
	char target[160];	/* "unix:///absolute/path" */
	struct cri_client *c;	/* unary calls */
};

/* Sets @a up for @socket (a relative path is taken from the current
 * directory). Does not connect: the first call does. EXIT_OK, or EXIT_FAIL
 * after one line. */
int api_client_open(struct api_client *a, const char *cmd, const char *socket);
void api_client_close(struct api_client *a);

/* One unary call of kpleg.v1.Kpleg/@method ("Status"). 0 with *@ret (free
 * with cri_msg_free), or -errno with @st filled. */
int api_call(struct api_client *a, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, void *ret,
	     struct cri_status *st);
/* Whether @st says that no kpleg daemon answered at all (nothing listens,
 * the daemon stops, something else answers, no answer in time) rather than
 * the daemon refusing the request. */
bool api_no_daemon(const struct cri_status *st);
/* Prints the one line for a failed call (see the top) and returns EXIT_FAIL. */
int api_fail(const struct api_client *a, const struct cri_status *st);

/* Status, printing the one line itself on failure: EXIT_OK or EXIT_FAIL. */
int api_status(struct api_client *a, int timeout_ms, Kpleg__V1__StatusResponse **ret);

/* POD as the user names it, a UID or NAMESPACE/NAME, into @req (uid, or
 * namespace and name; the namespace is copied to @ns, the rest points into
 * @pod). -EINVAL after one line "kpleg CMD: invalid WHAT ..." if it is
 * neither or breaks the API's bounds. */
int api_pod_ref(const char *cmd, const char *what, const char *pod,
		Kpleg__V1__GetPodRequest *req, char ns[KPLEG_NAME_MAX]);

/* Milliseconds left until @deadline_ns (CLOCK_MONOTONIC), at least 1. */
int api_ms_left(uint64_t deadline_ns);

/* ---- Watch ------------------------------------------------------------------
 * A server stream on its own channel. api_watch_read() waits up to @wait_ms
 * (< 0: forever) for the next response and returns:
 *   0          a response in *@ret (free with cri_msg_free)
 *   -EAGAIN    nothing within @wait_ms; the stream is still open
 *   -ENODATA   the daemon ended the stream with OK
 *   -EBADMSG   a response that does not decode; the stream goes on
 *   other      -errno of the final status (in @st): the stream has ended
 * A read that times out leaves its receive in flight: nothing is lost. Once
 * ended, every read returns the same code. @timeout_ms bounds the whole
 * call (< 0: no deadline). */
struct api_watch;
int api_watch_open(struct api_client *a, const Kpleg__V1__WatchRequest *req, int timeout_ms,
		   struct api_watch **ret, struct cri_status *st);
int api_watch_read(struct api_watch *w, int wait_ms, Kpleg__V1__WatchResponse **ret,
		   struct cri_status *st);
/* Cancels the call if it is still open; NULL-safe. */
void api_watch_free(struct api_watch *w);

/* ---- pods (api_pods.c) --------------------------------------------------------
 * The daemon's Pod messages as the library's struct kpleg_pod_status, each in
 * one allocation that owns its strings: free them with kpleg_pod_status__free()
 * and kpleg_pod_list__free(). An enum value this kpleg does not know (one a
 * later daemon may add) reads as Unknown for a container and NotReady for a
 * sandbox. 0 or -ENOMEM. */
int api_pod_view(const Kpleg__V1__Pod *m, struct kpleg_pod_status **ret);
int api_pods_view(Kpleg__V1__Pod *const *msgs, size_t n, struct kpleg_pod_status ***ret);
/* By namespace, name, UID: the order `kpleg pods` prints. */
void api_pods_sort(struct kpleg_pod_status **pods, size_t n);
/* Moves the pods @keep(pod, @arg) accepts to the front of @pods and returns
 * how many; the others stay behind them (free all @n as before). */
size_t api_pods_keep(struct kpleg_pod_status **pods, size_t n,
		     bool (*keep)(const struct kpleg_pod_status *, const void *), const void *arg);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct api_watch *, api_watch_free)
