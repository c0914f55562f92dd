// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon's HTTP endpoints (metrics_http.c) over its tracker: /metrics is
 * the library's series (kpleg_tracker__write_metrics) plus the daemon's own
 * (API watchers, CRI proxy subscribers); /healthz is the tracker's health,
 * /readyz its first sync.
 */
#include <errno.h>
#include <stdio.h>

#include "cri_proxy_events.h"
#include "daemon_metrics.h"
#include "metrics.h"

static int render(FILE *out, void *ctx)
{
	struct daemon *d = ctx;
	uint64_t built = 0, cut = 0;
	unsigned watchers, subscribers = 0;
	int r = kpleg_tracker__write_metrics(d->t, out);

	if (r < 0)
		return r;
	pthread_mutex_lock(&d->lock);
	watchers = d->watchers;
	pthread_mutex_unlock(&d->lock);
	if (d->pe)
		proxy_events_stats(d->pe, &built, &cut, &subscribers);
	metrics_family(out, "kpleg_api_watchers", "gauge",
		       "Watch streams open on kpleg's API socket.");
	metrics_u64(out, "kpleg_api_watchers", NULL, 0, watchers);
	metrics_family(out, "kpleg_cri_proxy_subscribers", "gauge",
		       "GetContainerEvents streams open on the CRI proxy (0 without "
		       "--cri-proxy-socket).");
	metrics_u64(out, "kpleg_cri_proxy_subscribers", NULL, 0, subscribers);
	metrics_family(out, "kpleg_cri_proxy_events_total", "counter",
		       "CRI events the proxy built for its subscribers.");
	metrics_u64(out, "kpleg_cri_proxy_events_total", NULL, 0, built);
	metrics_family(out, "kpleg_cri_proxy_subscribers_cut_total", "counter",
		       "CRI proxy subscribers cut off for falling behind the event buffer.");
	metrics_u64(out, "kpleg_cri_proxy_subscribers_cut_total", NULL, 0, cut);
	return ferror(out) ? -EIO : 0;
}

static bool healthy(char *reason, size_t n, void *ctx)
{
	struct daemon *d = ctx;
	struct kpleg_health h;

	kpleg_tracker__health(d->t, &h);
	if (!h.healthy)
		snprintf(reason, n, "%s", h.reason);
	return h.healthy;
}

static bool ready(void *ctx)
{
	struct daemon *d = ctx;
	struct kpleg_health h;

	kpleg_tracker__health(d->t, &h);
	return h.synced;
}

int daemon_metrics_start(struct daemon *d, int fd, struct metrics_http **ret)
{
	struct metrics_http_opts o = {
		.fd = fd, .render = render, .healthy = healthy, .ready = ready, .ctx = d,
	};

	return metrics_http__start(&o, ret);
}
