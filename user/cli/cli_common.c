// SPDX-License-Identifier: Apache-2.0
/* Helpers shared by the tracker commands (watch, pods). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cri.h"
#include "log.h"

/* Commands that start a tracker first check that the endpoint answers CRI at
 * all, so that a wrong socket is one clear line within seconds instead of a
 * tracker retrying relists in the background. */
int cli_check_runtime(const char *cmd, const char *target, int timeout_ms)
{
	Runtime__V1__VersionResponse *v = NULL;
	struct cri_client *c = cri_client__new(target);
	struct cri_status st;
	int r;

	if (!c) {
		fprintf(stderr, "kpleg %s: cannot create a client for %s: %s\n", cmd, target,
			strerror(errno));
		return EXIT_FAIL;
	}
	r = cri_version(c, timeout_ms, &v, &st);
	if (r < 0) {
		fprintf(stderr, "kpleg %s: runtime at %s does not answer CRI Version: %s\n", cmd,
			target, st.message);
		cri_client__free(c);
		return EXIT_FAIL;
	}
	log_v(1, "\"Runtime answers\" endpoint=\"%s\" runtime=\"%s %s\"", target, v->runtime_name,
	      v->runtime_version);
	cri_msg_free(v);
	cri_client__free(c);
	return 0;
}

int cli_bad_option(const char *cmd, char **argv, int opt)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		fprintf(stderr, "kpleg %s: option \"%s\" needs a value (see kpleg %s --help)\n",
			cmd, arg, cmd);
	else
		fprintf(stderr, "kpleg %s: unknown option \"%s\" (see kpleg %s --help)\n", cmd,
			arg, cmd);
	return EXIT_USAGE;
}
