// SPDX-License-Identifier: Apache-2.0
/*
 * gRPC server with peer-credential admission (see rpc_server.h). Threads:
 *   accept      our own accept(2) loop: SO_PEERCRED, then the connection goes
 *               to the allowed or the denying gRPC server
 *   dispatch    one per gRPC server: takes new calls off its completion queue
 *               and starts a handler thread for each
 *   handlers    one per call, blocking on the call's own completion queue
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "log.h"
#include "rpc_server.h"
#include "util.h"

#define DEFAULT_MAX_CALLS 64
#define DEFAULT_MAX_MESSAGE (16u << 20)
#define PENDING 4 /* calls requested ahead from each gRPC server */

struct srv {
	struct rpc_server *s;
	grpc_server *gs;
	grpc_completion_queue *cq; /* new calls (and the shutdown tag) */
	pthread_t thread;
	bool deny, thread_started, stopped;
	char shutdown_tag;
};

struct rpc_server {
	struct rpc_server_opts o;
	char *path;
	int lfd, efd;
	pthread_t accept_thread;
	bool accept_started;
	struct srv allow, deny;

	pthread_mutex_t lock;
	pthread_cond_t idle;
	bool stopping, grpc_inited;
	struct rpc_server_stats st;
};

/* A requested call slot, then the call itself. */
struct rpc_call {
	struct srv *srv;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_completion_queue *cq; /* this call's own */
	grpc_byte_buffer *recv_bb;
	void *req;
	size_t req_len;
	char method[256];
	int cancelled;		   /* from RECV_CLOSE_ON_SERVER */
	bool closed, sent_initial, finished;
	char t_new, t_close, t_recv, t_send; /* tags */
};

/* ---- one call ------------------------------------------------------------- */

static void call_free(struct rpc_call *c)
{
	if (!c)
		return;
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->recv_bb)
		grpc_byte_buffer_destroy(c->recv_bb);
	if (c->cq) {
		grpc_completion_queue_shutdown(c->cq);
		while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(c->cq);
	}
	free(c->req);
	free(c);
}

/* Waits for @tag on the call's queue; the close tag is noted on the way.
 * 0, -ECANCELED (the op failed), -ETIMEDOUT (@deadline passed). */
static int wait_tag(struct rpc_call *c, void *tag, gpr_timespec deadline)
{
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(c->cq, deadline, NULL);

		if (ev.type == GRPC_QUEUE_TIMEOUT)
			return -ETIMEDOUT;
		if (ev.type != GRPC_OP_COMPLETE)
			return -ECANCELED;
		if (ev.tag == &c->t_close) {
			c->closed = true;
			if (tag == &c->t_close)
				return 0;
			continue;
		}
		if (ev.tag == tag)
			return ev.success ? 0 : -ECANCELED;
	}
}

static int batch(struct rpc_call *c, const grpc_op *ops, size_t n, void *tag)
{
	if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return -EIO;
	return wait_tag(c, tag, gpr_inf_future(GPR_CLOCK_REALTIME));
}

static grpc_byte_buffer *buffer_of(const void *buf, size_t len)
{
	grpc_slice sl = grpc_slice_from_copied_buffer(buf, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);

	grpc_slice_unref(sl);
	return bb;
}

static int finish(struct rpc_call *c, const void *buf, size_t len, bool with_msg,
		  grpc_status_code code, const char *msg)
{
	grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
	grpc_byte_buffer *bb = with_msg ? buffer_of(buf, len) : NULL;
	grpc_op ops[3];
	size_t n = 0;
	int r;

	if (c->finished) {
		grpc_slice_unref(details);
		return -EALREADY;
	}
	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n++].data.send_status_from_server.status_details = msg ? &details : NULL;
	c->sent_initial = c->finished = true;
	r = batch(c, ops, n, &c->t_send);
	if (bb)
		grpc_byte_buffer_destroy(bb);
	grpc_slice_unref(details);
	return r;
}

int rpc_call_reply(struct rpc_call *c, const void *buf, size_t len)
{
	return finish(c, buf, len, true, GRPC_STATUS_OK, NULL);
}

int rpc_call_fail(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return finish(c, NULL, 0, false, code, msg);
}

int rpc_call_send_buffer(struct rpc_call *c, grpc_byte_buffer *bb)
{
	grpc_op ops[2];
	size_t n = 0;
	int r;

	if (c->finished || rpc_call_cancelled(c))
		return -ECANCELED;
	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = bb;
	c->sent_initial = true;
	r = batch(c, ops, n, &c->t_send);
	return r < 0 ? -ECANCELED : 0;
}

int rpc_call_send(struct rpc_call *c, const void *buf, size_t len)
{
	grpc_byte_buffer *bb;
	int r;

	if (c->finished || rpc_call_cancelled(c))
		return -ECANCELED;
	bb = buffer_of(buf, len);
	r = rpc_call_send_buffer(c, bb);
	grpc_byte_buffer_destroy(bb);
	return r;
}

/* ---- raw forms, for a proxy ------------------------------------------------ */

/* Whether gRPC would take every entry of @md in a batch: it refuses the whole
 * batch (GRPC_CALL_ERROR_INVALID_METADATA) for one bad key or value. */
static bool md_valid(const grpc_metadata_array *md)
{
	for (size_t i = 0; md && i < md->count; i++) {
		const grpc_metadata *m = &md->metadata[i];

		if (!grpc_header_key_is_legal(m->key))
			return false;
		if (!grpc_is_binary_header(m->key) && !grpc_header_nonbin_value_is_legal(m->value))
			return false;
	}
	return true;
}

grpc_byte_buffer *rpc_call_request_buffer(const struct rpc_call *c)
{
	grpc_slice sl;
	grpc_byte_buffer *bb;

	if (c->recv_bb)
		return grpc_byte_buffer_copy(c->recv_bb); /* shares the slices */
	sl = grpc_empty_slice();
	bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

grpc_call *rpc_call_child(struct rpc_call *c, grpc_channel *ch, const char *method,
			  grpc_completion_queue *cq, gpr_timespec deadline)
{
	grpc_slice m = grpc_slice_from_copied_string(method);
	grpc_call *call = grpc_channel_create_call(ch, c->call,
						   GRPC_PROPAGATE_DEADLINE |
							   GRPC_PROPAGATE_CANCELLATION,
						   cq, m, NULL, deadline, NULL);

	grpc_slice_unref(m);
	return call;
}

int rpc_call_send_initial_md(struct rpc_call *c, const grpc_metadata_array *md)
{
	grpc_op op = { .op = GRPC_OP_SEND_INITIAL_METADATA };

	if (c->sent_initial || c->finished)
		return -EALREADY;
	if (!md_valid(md))
		return -EINVAL;
	if (md) {
		op.data.send_initial_metadata.count = md->count;
		op.data.send_initial_metadata.metadata = md->metadata;
	}
	c->sent_initial = true;
	return batch(c, &op, 1, &c->t_send) < 0 ? -ECANCELED : 0;
}

int rpc_call_reply_md(struct rpc_call *c, grpc_byte_buffer *bb, grpc_status_code code,
		      const grpc_slice *details, const grpc_metadata_array *initial,
		      const grpc_metadata_array *trailing)
{
	grpc_op ops[3];
	size_t n = 0;
	int r;

	if (c->finished)
		return -EALREADY;
	if (!md_valid(initial))
		initial = NULL;
	if (!md_valid(trailing))
		trailing = NULL;
	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial) {
		ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
		if (initial) {
			ops[n].data.send_initial_metadata.count = initial->count;
			ops[n].data.send_initial_metadata.metadata = initial->metadata;
		}
		n++;
	}
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = (grpc_slice *)details;
	if (trailing) {
		ops[n].data.send_status_from_server.trailing_metadata_count = trailing->count;
		ops[n].data.send_status_from_server.trailing_metadata = trailing->metadata;
	}
	n++;
	c->sent_initial = c->finished = true;
	r = batch(c, ops, n, &c->t_send);
	return r < 0 ? -ECANCELED : 0;
}

bool rpc_call_cancelled(struct rpc_call *c)
{
	/* Before our status, the close op completes only on cancellation
	 * (client gone, deadline, server shutdown). */
	while (!c->closed && !c->finished) {
		grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_past(GPR_CLOCK_REALTIME),
							   NULL);

		if (ev.type != GRPC_OP_COMPLETE)
			break;
		if (ev.tag == &c->t_close)
			c->closed = true;
	}
	return c->closed && !c->finished;
}

const char *rpc_call_method(const struct rpc_call *c)
{
	return c->method;
}

const void *rpc_call_request(const struct rpc_call *c, size_t *ret_len)
{
	*ret_len = c->req_len;
	return c->req ? c->req : "";
}

const grpc_metadata_array *rpc_call_metadata(const struct rpc_call *c)
{
	return &c->md;
}

uint64_t rpc_call_deadline_ns(const struct rpc_call *c)
{
	gpr_timespec d = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
	gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
	int64_t left;

	if (gpr_time_cmp(c->details.deadline, gpr_inf_future(c->details.deadline.clock_type)) == 0)
		return UINT64_MAX;
	left = (d.tv_sec - now.tv_sec) * (int64_t)NSEC_PER_SEC + (d.tv_nsec - now.tv_nsec);
	return now_mono_ns() + (uint64_t)(left > 0 ? left : 0);
}

/* The one request message, copied out of gRPC's slices. */
static int read_request(struct rpc_call *c)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };
	grpc_byte_buffer_reader rd;
	grpc_slice sl;
	size_t off = 0;
	int r;

	op.data.recv_message.recv_message = &c->recv_bb;
	r = batch(c, &op, 1, &c->t_recv);
	if (r < 0 || !c->recv_bb)
		return r < 0 ? r : -ENODATA;
	c->req_len = grpc_byte_buffer_length(c->recv_bb);
	c->req = malloc(c->req_len ? c->req_len : 1);
	if (!c->req || !grpc_byte_buffer_reader_init(&rd, c->recv_bb))
		return -ENOMEM;
	while (grpc_byte_buffer_reader_next(&rd, &sl)) {
		memcpy((char *)c->req + off, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl));
		off += GRPC_SLICE_LENGTH(sl);
		grpc_slice_unref(sl);
	}
	grpc_byte_buffer_reader_destroy(&rd);
	return 0;
}

static void dispatch(struct rpc_call *c)
{
	const struct rpc_server_opts *o = &c->srv->s->o;

	if (c->srv->deny) {
		rpc_call_fail(c, GRPC_STATUS_PERMISSION_DENIED,
			      "kpleg: this user may not use this socket (allowed: root%s)",
			      o->allow_uid != (uid_t)-1 || o->allow_gid != (gid_t)-1
				      ? " and the configured uid/gid" : "");
		return;
	}
	for (size_t i = 0; i < o->n_methods; i++)
		if (!strcmp(o->methods[i].path, c->method)) {
			o->methods[i].handler(c, o->ctx);
			return;
		}
	if (o->fallback)
		o->fallback(c, o->ctx);
	else
		rpc_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "kpleg: unknown method %s", c->method);
}

static void call_done(struct rpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->st.active--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void *call_main(void *arg)
{
	struct rpc_call *c = arg;
	struct rpc_server *s = c->srv->s;
	grpc_op close_op = { .op = GRPC_OP_RECV_CLOSE_ON_SERVER };
	int r;

	close_op.data.recv_close_on_server.cancelled = &c->cancelled;
	if (grpc_call_start_batch(c->call, &close_op, 1, &c->t_close, NULL) != GRPC_CALL_OK)
		c->closed = true; /* nothing to wait for */
	r = read_request(c);
	if (r == -ENODATA)
		rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "kpleg: no request message");
	else if (r == -ENOMEM)
		rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "kpleg: out of memory");
	else if (r == 0)
		dispatch(c);
	if (!c->finished && r == 0)
		rpc_call_fail(c, GRPC_STATUS_INTERNAL, "kpleg: the handler gave no answer");
	if (!c->closed)
		wait_tag(c, &c->t_close, gpr_inf_future(GPR_CLOCK_REALTIME));
	call_free(c);
	call_done(s);
	return NULL;
}

/* ---- calls arriving ---------------------------------------------------------- */

static int request_call(struct srv *v)
{
	struct rpc_call *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->srv = v;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	c->cq = grpc_completion_queue_create_for_next(NULL);
	if (grpc_server_request_call(v->gs, &c->call, &c->details, &c->md, c->cq, v->cq,
				     &c->t_new) != GRPC_CALL_OK) {
		call_free(c);
		return -EIO;
	}
	return 0;
}

static void start_call(struct srv *v, struct rpc_call *c)
{
	struct rpc_server *s = v->s;
	pthread_attr_t a;
	pthread_t th;
	bool busy;

	snprintf(c->method, sizeof(c->method), "%.*s", (int)GRPC_SLICE_LENGTH(c->details.method),
		 (const char *)GRPC_SLICE_START_PTR(c->details.method));
	pthread_mutex_lock(&s->lock);
	busy = s->st.active >= s->o.max_calls;
	if (busy) {
		s->st.busy++;
	} else {
		s->st.active++;
		s->st.calls++;
	}
	pthread_mutex_unlock(&s->lock);
	if (busy) {
		/* Answered here: quick, and bounded by the call's own queue. */
		grpc_op close_op = { .op = GRPC_OP_RECV_CLOSE_ON_SERVER };

		close_op.data.recv_close_on_server.cancelled = &c->cancelled;
		if (grpc_call_start_batch(c->call, &close_op, 1, &c->t_close, NULL) != GRPC_CALL_OK)
			c->closed = true;
		rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
			      "kpleg: too many calls at once (max %u)", s->o.max_calls);
		if (!c->closed)
			wait_tag(c, &c->t_close, gpr_inf_future(GPR_CLOCK_REALTIME));
		call_free(c);
		return;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, call_main, c)) {
		pthread_attr_destroy(&a);
		call_main(c); /* no thread: serve it here rather than drop it */
		return;
	}
	pthread_attr_destroy(&a);
}

/* Until gRPC says the server has shut down: new calls get a handler, slots
 * that fail (shutdown) are freed. */
static void serve_queue(struct srv *v, bool dispatch_calls)
{
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(v->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
							   NULL);
		struct rpc_call *c;
		bool stopping;

		if (ev.type != GRPC_OP_COMPLETE || ev.tag == &v->shutdown_tag)
			return;
		c = (struct rpc_call *)((char *)ev.tag - offsetof(struct rpc_call, t_new));
		if (!dispatch_calls) {
			call_free(c);
			continue;
		}
		pthread_mutex_lock(&v->s->lock);
		stopping = v->s->stopping;
		pthread_mutex_unlock(&v->s->lock);
		if (!ev.success || stopping) {
			call_free(c);
			continue;
		}
		if (request_call(v) < 0)
			log_error("\"Cannot ask gRPC for the next call\" socket=\"%s\"", v->s->path);
		start_call(v, c);
	}
}

static void *dispatch_main(void *arg)
{
	serve_queue(arg, true);
	return NULL;
}

static grpc_server *server_create(size_t max_message)
{
	grpc_arg args[2] = {
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = (int)max_message },
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = (int)max_message },
	};
	grpc_channel_args ca = { .num_args = 2, .args = args };

	return grpc_server_create(&ca, NULL);
}

static int srv_start(struct rpc_server *s, struct srv *v, bool deny)
{
	v->s = s;
	v->deny = deny;
	v->cq = grpc_completion_queue_create_for_next(NULL);
	v->gs = server_create(s->o.max_message);
	if (!v->cq || !v->gs)
		return -ENOMEM;
	grpc_server_register_completion_queue(v->gs, v->cq, NULL);
	grpc_server_start(v->gs);
	for (int i = 0; i < PENDING; i++)
		if (request_call(v) < 0)
			return -EIO;
	if (pthread_create(&v->thread, NULL, dispatch_main, v))
		return -EAGAIN;
	v->thread_started = true;
	return 0;
}

static void srv_stop(struct srv *v)
{
	if (!v->gs)
		return;
	grpc_server_shutdown_and_notify(v->gs, v->cq, &v->shutdown_tag);
	grpc_server_cancel_all_calls(v->gs);
	v->stopped = true;
}

/* After srv_stop and after every handler is out: the shutdown tag comes
 * once gRPC has let go of every call. */
static void srv_free(struct srv *v)
{
	if (v->thread_started)
		pthread_join(v->thread, NULL); /* it returns at the shutdown tag */
	else if (v->stopped)
		serve_queue(v, false);
	if (v->gs)
		grpc_server_destroy(v->gs);
	if (v->cq) {
		grpc_completion_queue_shutdown(v->cq);
		while (grpc_completion_queue_next(v->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(v->cq);
	}
}

/* ---- the socket and admission ------------------------------------------------- */

static bool peer_allowed(const struct rpc_server_opts *o, const struct ucred *cr)
{
	return cr->uid == 0 || (o->allow_uid != (uid_t)-1 && cr->uid == o->allow_uid) ||
	       (o->allow_gid != (gid_t)-1 && cr->gid == o->allow_gid);
}

static void admit(struct rpc_server *s, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	grpc_server_credentials *creds;
	bool ok;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		close(fd);
		return;
	}
	ok = peer_allowed(&s->o, &cr);
	pthread_mutex_lock(&s->lock);
	if (ok)
		s->st.accepted++;
	else
		s->st.refused++;
	pthread_mutex_unlock(&s->lock);
	if (!ok)
		log_v(1, "\"Refusing a peer\" socket=\"%s\" pid=%d uid=%u gid=%u", s->path,
		      (int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid);
	creds = grpc_insecure_server_credentials_create();
	grpc_server_add_channel_from_fd(ok ? s->allow.gs : s->deny.gs, fd, creds);
	grpc_server_credentials_release(creds);
}

static void *accept_main(void *arg)
{
	struct rpc_server *s = arg;
	struct pollfd pfd[2] = { { .fd = s->lfd, .events = POLLIN },
				 { .fd = s->efd, .events = POLLIN } };

	for (;;) {
		int fd;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("\"poll on the API socket failed\" err=%d", -errno);
			break;
		}
		if (pfd[1].revents)
			break;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("\"accept failed\" socket=\"%s\" err=%d", s->path, -errno);
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000); /* let fds come back */
			continue;
		}
		admit(s, fd);
	}
	return NULL;
}

/* -EADDRINUSE if something answers on @path; removes a stale socket. */
static int claim_path(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? -EADDRINUSE : 0;
	close(fd);
	if (r == 0 && unlink(path) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

static int listen_on(struct rpc_server *s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int r;

	if (strlen(s->path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	r = claim_path(s->path);
	if (r < 0)
		return r;
	strcpy(a.sun_path, s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0)
		return -errno;
	/* Nobody can connect before listen(): mode and group are set first. */
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	/* Owner and group are the allowed uid and gid, so that 0660 lets them
	 * (and root) connect; the peer check then decides per connection. */
	if (chmod(s->path, 0660) < 0 ||
	    ((s->o.allow_uid != (uid_t)-1 || s->o.allow_gid != (gid_t)-1) &&
	     chown(s->path, s->o.allow_uid, s->o.allow_gid) < 0) ||
	    listen(s->lfd, 128) < 0) {
		r = -errno;
		unlink(s->path);
		return r;
	}
	return 0;
}

int rpc_server__start(const struct rpc_server_opts *o, struct rpc_server **ret)
{
	struct rpc_server *s;
	int r;

	if (!o || !o->path || !*o->path || !ret || (o->n_methods && !o->methods))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	if (!s->o.max_calls)
		s->o.max_calls = DEFAULT_MAX_CALLS;
	if (!s->o.max_message)
		s->o.max_message = DEFAULT_MAX_MESSAGE;
	s->lfd = s->efd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->path = strdup(o->path);
	if (!s->path) {
		r = -ENOMEM;
		goto fail;
	}
	r = listen_on(s);
	if (r < 0) {
		/* Someone else's socket or file, or nothing of ours: leave it. */
		free(s->path);
		s->path = NULL;
		goto fail;
	}
	grpc_init();
	s->grpc_inited = true;
	s->efd = eventfd(0, EFD_CLOEXEC);
	if (s->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = srv_start(s, &s->allow, false);
	if (r == 0)
		r = srv_start(s, &s->deny, true);
	if (r == 0 && pthread_create(&s->accept_thread, NULL, accept_main, s))
		r = -EAGAIN;
	if (r < 0)
		goto fail;
	s->accept_started = true;
	*ret = s;
	return 0;
fail:
	rpc_server__free(s);
	return r;
}

void rpc_server__free(struct rpc_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->accept_started) {
		if (write(s->efd, &one, sizeof(one)) < 0)
			log_error("\"Cannot wake the accept thread\" err=%d", -errno);
		pthread_join(s->accept_thread, NULL);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->path)
		unlink(s->path);
	srv_stop(&s->allow);
	srv_stop(&s->deny);
	/* Handlers see their calls cancelled; wait until the last one is out. */
	pthread_mutex_lock(&s->lock);
	while (s->st.active)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	srv_free(&s->allow);
	srv_free(&s->deny);
	if (s->efd >= 0)
		close(s->efd);
	if (s->grpc_inited)
		grpc_shutdown();
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s->path);
	free(s);
}

void rpc_server__stats(struct rpc_server *s, struct rpc_server_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->st;
	pthread_mutex_unlock(&s->lock);
}
