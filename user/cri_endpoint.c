// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "cri.h"

/* The order crictl and the kubelet's docs use: containerd, CRI-O, cri-dockerd. */
const char *const cri_default_endpoints[] = {
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/var/run/cri-dockerd.sock",
	NULL,
};

int cri_endpoint_normalize(const char *endpoint, char *out, size_t out_size)
{
	const char *path = endpoint;
	struct sockaddr_un sun;
	int n;

	if (!endpoint || !*endpoint)
		return -EINVAL;
	if (!strncmp(endpoint, "unix://", 7))
		path = endpoint + 7;
	else if (strstr(endpoint, "://"))
		return -EINVAL; /* tcp://, npipe://: not for a node-local tracker */
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
		return -EINVAL;
	n = snprintf(out, out_size, "unix://%s", path);
	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

int cri_endpoint_discover(char *out, size_t out_size, const char **tried)
{
	struct stat st;

	for (size_t i = 0; cri_default_endpoints[i]; i++) {
		const char *p = cri_default_endpoints[i];

		if (stat(p, &st) == 0 && S_ISSOCK(st.st_mode))
			return cri_endpoint_normalize(p, out, out_size);
	}
	if (tried)
		*tried = "/run/containerd/containerd.sock, /run/crio/crio.sock, "
			 "/var/run/cri-dockerd.sock";
	return -ENOENT;
}
