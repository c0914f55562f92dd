// SPDX-License-Identifier: Apache-2.0
/* Names of the public enums, as they appear in logs, JSON and flags. */
#include <errno.h>
#include <string.h>

#include "kpleg/kpleg.h"

static const char *const modes[] = { "auto", "generic", "evented" };

const char *kpleg_mode_str(enum kpleg_mode mode)
{
	return (unsigned)mode < 3 ? modes[mode] : "invalid";
}

int kpleg_mode_parse(const char *s, enum kpleg_mode *ret)
{
	for (unsigned i = 0; s && i < 3; i++)
		if (!strcmp(s, modes[i])) {
			*ret = (enum kpleg_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *kpleg_event_type_str(enum kpleg_event_type t)
{
	static const char *const names[] = {
		"ContainerCreated", "ContainerStarted", "ContainerDied",   "ContainerRemoved",
		"SandboxReady",	    "SandboxNotReady",	"SandboxRemoved",  "PodSync",
		"ContainerConfirmed",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "Invalid";
}

const char *kpleg_source_str(enum kpleg_source s)
{
	static const char *const names[] = { "relist", "cri-event", "kernel" };

	return (unsigned)s < 3 ? names[s] : "invalid";
}
