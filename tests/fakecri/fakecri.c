// SPDX-License-Identifier: Apache-2.0
/* Server lifecycle and the completion-queue thread. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "internal.h"
#include "pb_grpc.h"
#include "util.h"

#define PENDING_REQUESTS 16 /* calls that can arrive at once before re-arming */

static void on_shutdown(void *ctx, bool ok)
{
	struct fakecri *f = ctx;

	(void)ok;
	f->server_down = true;
}

/* Short waits while stopping: the last call may be released off this thread. */
static gpr_timespec next_deadline(struct fakecri *f)
{
	int ms = atomic_load(&f->stopping) ? 10 : 1000;

	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Serves until the queue is shut down: once the server has stopped and every
 * call is gone, destroys the server and shuts the queue down, then drains. */
static void *cq_main(void *arg)
{
	struct fakecri *f = arg;
	grpc_event ev;

	for (;;) {
		ev = grpc_completion_queue_next(f->cq, next_deadline(f), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE) {
			struct fk_tag *t = ev.tag;

			t->done(t->ctx, ev.success);
		}
		if (f->server_down && atomic_load(&f->all_cancelled) && !f->cq_down &&
		    atomic_load(&f->ncalls) == 0) {
			grpc_server_destroy(f->server);
			f->server = NULL;
			grpc_completion_queue_shutdown(f->cq);
			f->cq_down = true;
		}
	}
	return NULL;
}

/* Checks the directory (gRPC's own bind errors all read EADDRINUSE here) and
 * removes a socket a dead server left behind. */
static int unlink_stale(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	struct stat st;

	if (!dir)
		return -ENOMEM;
	if (stat(dirname(dir), &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	return unlink(path) < 0 ? -errno : 0;
}

static grpc_server *server_create(void)
{
	grpc_arg args[2] = {
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = KPLEG_MAX_MSG_SIZE },
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = KPLEG_MAX_MSG_SIZE },
	};
	grpc_channel_args ca = { .num_args = 2, .args = args };

	return grpc_server_create(&ca, NULL);
}

static int server_start(struct fakecri *f)
{
	grpc_server_credentials *creds;
	char *addr;
	int err, port;

	err = unlink_stale(f->socket_path);
	if (err < 0)
		return err;
	if (asprintf(&addr, "unix:%s", f->socket_path) < 0)
		return -ENOMEM;
	f->cq = grpc_completion_queue_create_for_next(NULL);
	f->server = server_create();
	grpc_server_register_completion_queue(f->server, f->cq, NULL);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(f->server, addr, creds);
	grpc_server_credentials_release(creds);
	free(addr);
	if (port != 1)
		return -EADDRINUSE;
	grpc_server_start(f->server);
	f->serving = true;
	return 0;
}

static int fakecri_start(struct fakecri *f)
{
	int err = server_start(f);

	if (err < 0)
		return err;
	for (int i = 0; i < PENDING_REQUESTS; i++) {
		err = fk_call_request(f);
		if (err < 0)
			return err;
	}
	err = fk_delayq_start(&f->delayq);
	if (err < 0)
		return err;
	err = -pthread_create(&f->cq_thread, NULL, cq_main, f);
	if (err < 0)
		return err;
	f->cq_started = true;
	return 0;
}

struct fakecri *fakecri__new(const struct fakecri_opts *opts)
{
	struct fakecri *f;
	const char *p;
	int err;

	if (!opts || !opts->socket_path || !*opts->socket_path ||
	    (unsigned)opts->events > FAKECRI_EVENTS_EMPTY_OK) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	grpc_init();
	pthread_mutex_init(&f->lock, NULL);
	f->shutdown_tag.done = on_shutdown;
	f->shutdown_tag.ctx = f;
	fk_faults_init(f);
	fk_delayq_init(&f->delayq);
	fk_events_init(f, opts->event_queue_len);
	atomic_store(&f->events_mode, opts->events);
	p = opts->socket_path;
	err = fk_store_init(&f->st);
	if (err == 0 && opts->cgroup_root && !(f->cgroup_root = strdup(opts->cgroup_root)))
		err = -ENOMEM;
	if (err < 0 || !(f->socket_path = strdup(p)) ||
	    asprintf(&f->endpoint, "unix:%s%s", p[0] == '/' ? "//" : "", p) < 0) {
		f->endpoint = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	err = fakecri_start(f);
	if (err < 0)
		goto cleanup;
	return f;
cleanup:
	fakecri__free(f);
	errno = -err;
	return NULL;
}

/* Stops the server, cancels every call, and lets the queue thread (or this
 * thread, if it never started) drain it. */
static void fakecri_stop(struct fakecri *f)
{
	fakecri__flood_stop(f);
	atomic_store(&f->stopping, true);
	if (f->serving) {
		grpc_server_shutdown_and_notify(f->server, f->cq, &f->shutdown_tag);
		grpc_server_cancel_all_calls(f->server);
		atomic_store(&f->all_cancelled, true); /* now the server may go */
	}
	fk_delayq_stop(&f->delayq);
	if (f->cq_started) {
		pthread_join(f->cq_thread, NULL);
	} else if (f->serving) {
		cq_main(f);
	} else if (f->cq) { /* never started: no calls, no listener */
		if (f->server)
			grpc_server_destroy(f->server);
		grpc_completion_queue_shutdown(f->cq);
		while (grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
	}
	if (f->cq)
		grpc_completion_queue_destroy(f->cq);
}

void fakecri__free(struct fakecri *f)
{
	if (!f)
		return;
	fakecri_stop(f);
	if (f->serving)
		unlink(f->socket_path);
	fk_delayq_fini(&f->delayq);
	fk_faults_fini(f);
	fk_cgroups_fini(f);
	fk_store_fini(&f->st);
	free(f->cgroup_root);
	pthread_mutex_destroy(&f->lock);
	free(f->socket_path);
	free(f->endpoint);
	free(f);
	grpc_shutdown();
}

const char *fakecri__endpoint(const struct fakecri *f)
{
	return f ? f->endpoint : NULL;
}
