// SPDX-License-Identifier: Apache-2.0
/*
 * user/rpc_server.c: the gRPC server kpleg's daemon serves its API on.
 * Unary and server-streaming calls, unknown methods, the socket's mode, a
 * live server on the path refused, a stale socket taken over, a file left
 * alone, peers admitted or refused by their credentials (a child process
 * that drops to uid 65534), the concurrency bound, a client that cancels a
 * stream, and a server freed while a stream is open.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "cri.h"
#include "cri_internal.h"
#include "pb_grpc.h"
#include "rpc_server.h"
#include "util.h"

struct env {
	char dir[48], path[96];
	struct rpc_server *s;
};

/* ---- handlers --------------------------------------------------------------- */

static void h_echo(struct rpc_call *c, void *ctx)
{
	size_t n;
	const void *req = rpc_call_request(c, &n);

	rpc_call_reply(c, req, n);
}

static void h_slow(struct rpc_call *c, void *ctx)
{
	size_t n;
	const void *req = rpc_call_request(c, &n);

	usleep(300 * 1000);
	rpc_call_reply(c, req, n);
}

static volatile int stream_ended; /* 1: cancelled seen, 2: ran out */

/* Sends the request back every 10 ms until the client goes away. */
static void h_stream(struct rpc_call *c, void *ctx)
{
	size_t n;
	const void *req = rpc_call_request(c, &n);

	for (int i = 0; i < 3000; i++) {
		if (rpc_call_send(c, req, n) < 0) {
			stream_ended = 1;
			return; /* the server answers nothing more: cancelled */
		}
		usleep(10 * 1000);
	}
	stream_ended = 2;
	rpc_call_fail(c, GRPC_STATUS_OK, "done");
}

static void h_silent(struct rpc_call *c, void *ctx)
{
	/* answers nothing: the server must say INTERNAL */
}

static const struct rpc_method methods[] = {
	{ "/t.T/Echo", h_echo },
	{ "/t.T/Slow", h_slow },
	{ "/t.T/Stream", h_stream },
	{ "/t.T/Silent", h_silent },
};

static int start(struct env *e, uid_t uid, unsigned max_calls)
{
	struct rpc_server_opts o = {
		.path = e->path, .allow_uid = uid, .allow_gid = (gid_t)-1,
		.max_calls = max_calls, .methods = methods, .n_methods = ARRAY_SIZE(methods),
	};

	return rpc_server__start(&o, &e->s);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/kpleg-rpc-%d", getpid());
	if (mkdir(e->dir, 0755) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", e->dir, strerror(errno));
	snprintf(e->path, sizeof(e->path), "%s/api.sock", e->dir);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	rpc_server__free(e->s);
	unlink(e->path);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* ---- a client --------------------------------------------------------------- */

/* One unary call with a VersionRequest carrying @text; the reply decoded the
 * same way. Returns the errno of the status, the status code in *code. */
static int call(const char *path, const char *method, const char *text, int timeout_ms,
		char *out, size_t n, grpc_status_code *code)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	Runtime__V1__VersionRequest *resp = NULL;
	char ep[160];
	struct cri_client *c;
	struct cri_status st = { 0 };
	grpc_byte_buffer *bb = NULL;
	int r;

	snprintf(ep, sizeof(ep), "unix://%s", path);
	c = cri_client__new(ep);
	assert_non_null(c);
	req.version = (char *)text;
	r = cri_call_raw(c, method, &req.base, timeout_ms, &bb, &st);
	*code = st.code;
	if (r == 0) {
		assert_int_equal(pb_unpack_arena(bb, &runtime__v1__version_request__descriptor,
						 1 << 20, (ProtobufCMessage **)&resp), 0);
		snprintf(out, n, "%s", resp->version);
		cri_msg_free(resp);
	}
	if (bb)
		grpc_byte_buffer_destroy(bb);
	cri_client__free(c);
	return r;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_unary_and_socket(void **state)
{
	struct env *e = *state;
	grpc_status_code code;
	struct stat st;
	char out[64];

	assert_int_equal(start(e, (uid_t)-1, 0), 0);
	assert_int_equal(stat(e->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(call(e->path, "/t.T/Echo", "hello", 2000, out, sizeof(out), &code), 0);
	assert_string_equal(out, "hello");
	call(e->path, "/t.T/Nope", "x", 2000, out, sizeof(out), &code);
	assert_int_equal(code, GRPC_STATUS_UNIMPLEMENTED);
	call(e->path, "/t.T/Silent", "x", 2000, out, sizeof(out), &code);
	assert_int_equal(code, GRPC_STATUS_INTERNAL);
}

static void test_path_claims(void **state)
{
	struct env *e = *state;
	struct rpc_server *second = NULL;
	struct rpc_server_opts o = { .path = e->path, .allow_uid = (uid_t)-1,
				     .allow_gid = (gid_t)-1 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	grpc_status_code code;
	char out[64];
	int fd;

	/* A live server: refused, and its socket stays. */
	assert_int_equal(start(e, (uid_t)-1, 0), 0);
	assert_int_equal(rpc_server__start(&o, &second), -EADDRINUSE);
	assert_int_equal(call(e->path, "/t.T/Echo", "still", 2000, out, sizeof(out), &code), 0);
	rpc_server__free(e->s);
	e->s = NULL;
	assert_int_equal(access(e->path, F_OK), -1); /* removed on free */

	/* A stale socket (bound, nobody listening): taken over. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", e->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_int_equal(start(e, (uid_t)-1, 0), 0);
	assert_int_equal(call(e->path, "/t.T/Echo", "new", 2000, out, sizeof(out), &code), 0);
	rpc_server__free(e->s);
	e->s = NULL;

	/* Not a socket: left alone. */
	fd = open(e->path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(start(e, (uid_t)-1, 0), -EEXIST);
	assert_int_equal(access(e->path, F_OK), 0);
	unlink(e->path);
}

/* A call from another process running as @uid (this binary run again with
 * --client: a forked copy of a process that runs gRPC must not use it); its
 * status code is the exit code. */
static int call_as(const char *path, uid_t uid)
{
	char self[4096], ids[32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;
	int st;

	assert_true(n > 0);
	self[n] = 0;
	snprintf(ids, sizeof(ids), "%u", (unsigned)uid);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/usr/bin/setpriv", "setpriv", "--reuid", ids, "--regid", ids, "--clear-groups",
		      self, "--client", path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* The --client mode: one Echo call, the status code as exit code. */
static int client_main(const char *path)
{
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	char out[64];

	grpc_init();
	call(path, "/t.T/Echo", "me", 3000, out, sizeof(out), &code);
	return (int)code;
}

static void test_peer_credentials(void **state)
{
	struct env *e = *state;
	struct rpc_server_stats st;

	/* The child must reach the socket: the directory is 0755, the socket
	 * 0660 root:root, so open it up for this one test. */
	assert_int_equal(start(e, (uid_t)-1, 0), 0);
	assert_int_equal(chmod(e->path, 0666), 0);
	assert_int_equal(call_as(e->path, 65534), GRPC_STATUS_PERMISSION_DENIED);
	rpc_server__stats(e->s, &st);
	assert_true(st.refused >= 1);
	rpc_server__free(e->s);
	e->s = NULL;

	assert_int_equal(start(e, 65534, 0), 0);
	assert_int_equal(chmod(e->path, 0666), 0);
	assert_int_equal(call_as(e->path, 65534), GRPC_STATUS_OK);
	assert_int_equal(call_as(e->path, 65533), GRPC_STATUS_PERMISSION_DENIED);
}

struct slow_arg {
	const char *path;
	int r;
};

static void *slow_call(void *arg)
{
	struct slow_arg *a = arg;
	grpc_status_code code;
	char out[64];

	a->r = call(a->path, "/t.T/Slow", "slow", 3000, out, sizeof(out), &code);
	return NULL;
}

static void test_max_calls(void **state)
{
	struct env *e = *state;
	struct slow_arg a = { .path = e->path };
	grpc_status_code code;
	pthread_t th;
	char out[64];

	assert_int_equal(start(e, (uid_t)-1, 1), 0);
	assert_int_equal(pthread_create(&th, NULL, slow_call, &a), 0);
	usleep(100 * 1000); /* the slow call holds the one slot */
	call(e->path, "/t.T/Echo", "x", 2000, out, sizeof(out), &code);
	assert_int_equal(code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	pthread_join(th, NULL);
	assert_int_equal(a.r, 0);
	assert_int_equal(call(e->path, "/t.T/Echo", "y", 2000, out, sizeof(out), &code), 0);
}

/* A raw server-streaming client: reads @n messages, then cancels. */
static int stream_read(const char *path, int n)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	char target[160];
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata_array md;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_call *call;
	grpc_op ops[3];
	int got = 0;

	snprintf(target, sizeof(target), "unix:%s", path);
	ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	req.version = "tick";
	send = pb_to_byte_buffer(&req.base);
	grpc_metadata_array_init(&md);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					grpc_slice_from_static_string("/t.T/Stream"), NULL,
					gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	assert_int_equal(grpc_call_start_batch(call, ops, 3, (void *)1, NULL), GRPC_CALL_OK);
	assert_true(grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME),
						NULL).success);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &md;
	assert_int_equal(grpc_call_start_batch(call, ops, 1, (void *)2, NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(cq, (void *)2, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	while (got < n) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		assert_int_equal(grpc_call_start_batch(call, ops, 1, (void *)3, NULL), GRPC_CALL_OK);
		grpc_completion_queue_pluck(cq, (void *)3, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (!recv)
			break;
		grpc_byte_buffer_destroy(recv);
		recv = NULL;
		got++;
	}
	grpc_call_cancel(call, NULL);
	grpc_call_unref(call);
	grpc_byte_buffer_destroy(send);
	grpc_metadata_array_destroy(&md);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	return got;
}

static void test_stream_cancelled(void **state)
{
	struct env *e = *state;
	struct rpc_server_stats st;

	assert_int_equal(start(e, (uid_t)-1, 0), 0);
	stream_ended = 0;
	assert_int_equal(stream_read(e->path, 5), 5);
	for (int i = 0; i < 200 && !stream_ended; i++)
		usleep(10 * 1000);
	assert_int_equal(stream_ended, 1); /* the handler saw the client go */
	for (int i = 0; i < 200; i++) { /* and its thread is on its way out */
		rpc_server__stats(e->s, &st);
		if (!st.active)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st.active, 0);
}

struct stream_arg {
	const char *path;
	int got;
};

static void *stream_forever(void *arg)
{
	struct stream_arg *a = arg;

	a->got = stream_read(a->path, 1000000);
	return NULL;
}

/* Freeing the server ends an open stream instead of waiting for it. */
static void test_free_with_open_stream(void **state)
{
	struct env *e = *state;
	struct stream_arg a = { .path = e->path };
	uint64_t t0;
	pthread_t th;

	assert_int_equal(start(e, (uid_t)-1, 0), 0);
	stream_ended = 0;
	assert_int_equal(pthread_create(&th, NULL, stream_forever, &a), 0);
	usleep(200 * 1000);
	t0 = now_mono_ns();
	rpc_server__free(e->s);
	e->s = NULL;
	assert_true(now_mono_ns() - t0 < 2 * NSEC_PER_SEC);
	pthread_join(th, NULL);
	assert_true(a.got > 0);
	assert_int_equal(stream_ended, 1);
	assert_int_equal(access(e->path, F_OK), -1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unary_and_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_open_stream, setup, teardown),
	};

	if (argc == 3 && !strcmp(argv[1], "--client"))
		return client_main(argv[2]);
	if (geteuid() != 0) {
		fprintf(stderr, "test_rpc_server needs root (it calls as another uid); not skipping\n");
		return 1;
	}
	grpc_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
