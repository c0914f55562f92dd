/* SPDX-License-Identifier: Apache-2.0 */
/* `kpleg daemon`: the tracker behind kpleg's own gRPC API (daemon_api.c). */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "evlog.h"
#include "kpleg/kpleg.h"
#include "rpc_server.h"

#define KPLEG_DEFAULT_SOCKET "/run/kpleg/kpleg.sock"
#define KPLEG_API_SERVICE "/kpleg.v1.Kpleg/"

struct proxy_events;
struct cri_proxy;

struct daemon {
	struct kpleg_tracker *t;
	struct proxy_events *pe;	/* GetContainerEvents for the CRI proxy */
	struct cri_proxy *proxy;	/* --cri-proxy-socket */
	struct kpleg_subscription *sub;
	struct evlog *log;
	struct rpc_server *api;
	enum kpleg_mode mode;
	char endpoint[128];
	char runtime_name[64], runtime_version[64], runtime_api_version[32];
	uint64_t start_mono_ns, start_real_ns, epoch;
	unsigned max_watchers;
	pthread_mutex_t lock;
	unsigned watchers;
};

/* The API's methods, for rpc_server_opts. */
extern const struct rpc_method daemon_api_methods[];
extern const size_t daemon_api_n_methods;

/* The tracker's callback subscription: every event into the replay buffer. */
void daemon_on_event(const struct kpleg_event *ev, void *userdata);
