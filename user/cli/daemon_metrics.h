/* SPDX-License-Identifier: Apache-2.0 */
/* `kpleg daemon --metrics-address`: /metrics, /healthz, /readyz for @d. */
#pragma once

#include "daemon.h"
#include "metrics_http.h"

/* Serves on @fd (metrics_http_listen(); owned from now on) until
 * metrics_http__free(*ret); call after @d's tracker (and proxy, if any) is up
 * and free before they go. */
int daemon_metrics_start(struct daemon *d, int fd, struct metrics_http **ret);
