// SPDX-License-Identifier: Apache-2.0
/*
 * The CLI's client of `kpleg daemon`: unary calls through the CRI client's
 * generic cri_call_unary(), and the Watch server stream on gRPC C core the
 * way cri_events.c reads GetContainerEvents (one batch sends the request and
 * leaves RECV_STATUS_ON_CLIENT outstanding, then one RECV_MESSAGE at a time;
 * a NULL message always leads to the final status).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "api_client.h"
#include "api_convert.h"
#include "cli.h"
#include "daemon.h"
#include "pb_grpc.h"

int api_client_open(struct api_client *a, const char *cmd, const char *socket)
{
	char cwd[PATH_MAX];
	int n;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->socket = socket;
	if (!*socket) {
		fprintf(stderr, "kpleg %s: empty --socket\n", cmd);
		return EXIT_USAGE;
	}
	if (socket[0] == '/')
		n = snprintf(a->target, sizeof(a->target), "unix://%s", socket);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(a->target, sizeof(a->target), "unix://%s/%s", cwd, socket);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(a->target)) {
		fprintf(stderr, "kpleg %s: unusable --socket \"%s\": %s\n", cmd, socket,
			n < 0 ? strerror(errno) : "path too long");
		return EXIT_USAGE;
	}
	a->c = cri_client__new(a->target);
	if (!a->c) {
		fprintf(stderr, "kpleg %s: unusable --socket \"%s\": %s\n", cmd, socket,
			strerror(errno));
		return errno == EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	return EXIT_OK;
}

void api_client_close(struct api_client *a)
{
	cri_client__free(a->c);
	a->c = NULL;
}

int api_call(struct api_client *a, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, void *ret,
	     struct cri_status *st)
{
	char path[96];

	snprintf(path, sizeof(path), KPLEG_API_SERVICE "%s", method);
	return cri_call_unary(a->c, path, req, resp_desc, timeout_ms, (ProtobufCMessage **)ret, st);
}

bool api_no_daemon(const struct cri_status *st)
{
	switch (st->code) {
	case GRPC_STATUS_OK:		    /* a reply that does not decode: not kpleg's */
	case GRPC_STATUS_UNAVAILABLE:	    /* nothing listens, or the daemon stops */
	case GRPC_STATUS_DEADLINE_EXCEEDED: /* no answer in time */
	case GRPC_STATUS_UNIMPLEMENTED:	    /* another gRPC server */
	case GRPC_STATUS_UNKNOWN:
	case GRPC_STATUS_CANCELLED:
		return true;
	default:
		return false;
	}
}

int api_fail(const struct api_client *a, const struct cri_status *st)
{
	if (api_no_daemon(st))
		fprintf(stderr, "kpleg %s: no kpleg daemon answers on %s: %s\n", a->cmd, a->socket,
			st->message);
	else
		fprintf(stderr, "kpleg %s: the kpleg daemon on %s says %s\n", a->cmd, a->socket,
			st->message);
	return EXIT_FAIL;
}

int api_status(struct api_client *a, int timeout_ms, Kpleg__V1__StatusResponse **ret)
{
	Kpleg__V1__StatusRequest req = KPLEG__V1__STATUS_REQUEST__INIT;
	struct cri_status st = { 0 };

	if (api_call(a, "Status", &req.base, &kpleg__v1__status_response__descriptor, timeout_ms,
		     ret, &st) < 0)
		return api_fail(a, &st);
	return EXIT_OK;
}

int api_pod_ref(const char *cmd, const char *what, const char *pod,
		Kpleg__V1__GetPodRequest *req, char ns[KPLEG_NAME_MAX])
{
	const char *slash = strchr(pod, '/');
	char err[256];
	size_t n;

	if (!*pod || (slash && (slash == pod || !slash[1] || strchr(slash + 1, '/')))) {
		fprintf(stderr, "kpleg %s: invalid %s \"%s\": expected a UID or NAMESPACE/NAME\n",
			cmd, what, pod);
		return -EINVAL;
	}
	if (!slash) {
		req->uid = (char *)pod;
	} else {
		n = (size_t)(slash - pod);
		if (n >= KPLEG_NAME_MAX) {
			fprintf(stderr, "kpleg %s: invalid %s \"%s\": namespace longer than %d "
					"bytes\n", cmd, what, pod, KPLEG_NAME_MAX - 1);
			return -EINVAL;
		}
		memcpy(ns, pod, n);
		ns[n] = '\0';
		req->namespace_ = ns;
		req->name = (char *)slash + 1;
	}
	if (api_validate_get_pod(req, err, sizeof(err)) < 0) {
		fprintf(stderr, "kpleg %s: invalid %s \"%s\": %s\n", cmd, what, pod, err);
		return -EINVAL;
	}
	return 0;
}

int api_ms_left(uint64_t deadline_ns)
{
	uint64_t now = now_mono_ns();

	if (deadline_ns <= now + NSEC_PER_MSEC)
		return 1;
	return (int)((deadline_ns - now) / NSEC_PER_MSEC);
}

/* ---- Watch ------------------------------------------------------------------ */

enum { TAG_START = 1, TAG_STATUS, TAG_RECV };

struct api_watch {
	grpc_channel *channel;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array md_init, md_trail;
	grpc_status_code code;
	grpc_slice details;
	grpc_byte_buffer *send, *recv;
	int outstanding;	/* batches not yet completed */
	bool recv_pending;	/* a RECV_MESSAGE is in flight */
	bool status_done;
	bool ended;		/* no more messages will come */
	int end_err;		/* what every read returns once ended */
	char end_msg[256];
};

static gpr_timespec deadline_ms(int ms)
{
	if (ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static int set_status(struct cri_status *st, grpc_status_code code, int err, const char *msg)
{
	if (st) {
		st->code = code;
		snprintf(st->message, sizeof(st->message), "%s", msg);
	}
	return err;
}

/* Waits for one batch to complete; false on timeout. */
static bool wait_one(struct api_watch *w, gpr_timespec deadline)
{
	grpc_event ev = grpc_completion_queue_next(w->cq, deadline, NULL);

	if (ev.type != GRPC_OP_COMPLETE)
		return false;
	w->outstanding--;
	if ((intptr_t)ev.tag == TAG_STATUS) {
		w->status_done = true;
	} else if ((intptr_t)ev.tag == TAG_RECV) {
		w->recv_pending = false;
		if (!ev.success || !w->recv)
			w->ended = true;
	}
	return true;
}

static grpc_channel *new_channel(const char *target)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = KPLEG_MAX_MSG_SIZE },
	};
	grpc_channel_args chargs = { .num_args = ARRAY_SIZE(args), .args = args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, &chargs);

	grpc_channel_credentials_release(creds);
	return ch;
}

static int start_batches(struct api_watch *w)
{
	grpc_op ops[4];

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = w->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->md_init;
	if (grpc_call_start_batch(w->call, ops, 4, (void *)TAG_START, NULL) != GRPC_CALL_OK)
		return -EIO;
	w->outstanding++;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &w->md_trail;
	ops[0].data.recv_status_on_client.status = &w->code;
	ops[0].data.recv_status_on_client.status_details = &w->details;
	if (grpc_call_start_batch(w->call, ops, 1, (void *)TAG_STATUS, NULL) != GRPC_CALL_OK)
		return -EIO;
	w->outstanding++;
	return 0;
}

int api_watch_open(struct api_client *a, const Kpleg__V1__WatchRequest *req, int timeout_ms,
		   struct api_watch **ret, struct cri_status *st)
{
	_cleanup_(api_watch_freep) struct api_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return set_status(st, GRPC_STATUS_INTERNAL, -ENOMEM, "out of memory");
	grpc_init();
	w->details = grpc_empty_slice();
	grpc_metadata_array_init(&w->md_init);
	grpc_metadata_array_init(&w->md_trail);
	w->cq = grpc_completion_queue_create_for_next(NULL);
	w->channel = new_channel(a->target);
	w->send = pb_to_byte_buffer(&req->base);
	if (!w->channel || !w->send)
		return set_status(st, GRPC_STATUS_INTERNAL, -ENOMEM, "Watch: cannot set up the call");
	w->call = grpc_channel_create_call(w->channel, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
					   grpc_slice_from_static_string(KPLEG_API_SERVICE "Watch"),
					   NULL, deadline_ms(timeout_ms), NULL);
	if (!w->call || start_batches(w) < 0)
		return set_status(st, GRPC_STATUS_INTERNAL, -EIO, "Watch: cannot start the call");
	*ret = TAKE_PTR(w);
	return set_status(st, GRPC_STATUS_OK, 0, "OK");
}

static int start_recv(struct api_watch *w)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

	op.data.recv_message.recv_message = &w->recv;
	w->recv = NULL;
	if (grpc_call_start_batch(w->call, &op, 1, (void *)TAG_RECV, NULL) != GRPC_CALL_OK)
		return -EIO;
	w->recv_pending = true;
	w->outstanding++;
	return 0;
}

/* The stream has ended: wait for the final status and keep it. */
static int finish(struct api_watch *w, struct cri_status *st)
{
	int len;

	while (!w->status_done)
		wait_one(w, gpr_inf_future(GPR_CLOCK_MONOTONIC));
	len = (int)GRPC_SLICE_LENGTH(w->details);
	snprintf(w->end_msg, sizeof(w->end_msg), "%s: %.*s", cri_status_code_name(w->code), len,
		 (const char *)GRPC_SLICE_START_PTR(w->details));
	w->end_err = w->code == GRPC_STATUS_OK ? -ENODATA : cri_status_to_errno(w->code);
	if (!w->end_err) /* cannot happen: OK is -ENODATA above */
		w->end_err = -EIO;
	return set_status(st, w->code, w->end_err, w->end_msg);
}

int api_watch_read(struct api_watch *w, int wait_ms, Kpleg__V1__WatchResponse **ret,
		   struct cri_status *st)
{
	gpr_timespec deadline = deadline_ms(wait_ms);
	ProtobufCMessage *m = NULL;
	int r;

	if (w->end_err)
		return set_status(st, w->code, w->end_err, w->end_msg);
	if (!w->ended && !w->recv_pending && start_recv(w) < 0)
		w->ended = true;
	while (w->recv_pending)
		if (!wait_one(w, deadline))
			return set_status(st, GRPC_STATUS_OK, -EAGAIN, "nothing yet");
	if (w->ended)
		return finish(w, st);
	r = pb_unpack_arena(w->recv, &kpleg__v1__watch_response__descriptor, KPLEG_MAX_MSG_SIZE,
			    &m);
	grpc_byte_buffer_destroy(w->recv);
	w->recv = NULL;
	if (r < 0)
		return set_status(st, GRPC_STATUS_OK, -EBADMSG, "Watch: a response does not decode");
	*ret = (Kpleg__V1__WatchResponse *)m;
	return set_status(st, GRPC_STATUS_OK, 0, "OK");
}

void api_watch_free(struct api_watch *w)
{
	if (!w)
		return;
	if (w->call) {
		grpc_call_cancel(w->call, NULL);
		while (w->outstanding > 0)
			wait_one(w, gpr_inf_future(GPR_CLOCK_MONOTONIC));
		grpc_call_unref(w->call);
	}
	if (w->cq) {
		grpc_completion_queue_shutdown(w->cq);
		while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(w->cq);
	}
	if (w->channel)
		grpc_channel_destroy(w->channel);
	if (w->send)
		grpc_byte_buffer_destroy(w->send);
	if (w->recv)
		grpc_byte_buffer_destroy(w->recv);
	grpc_slice_unref(w->details);
	grpc_metadata_array_destroy(&w->md_init);
	grpc_metadata_array_destroy(&w->md_trail);
	free(w);
	grpc_shutdown();
}
