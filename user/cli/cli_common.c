// SPDX-License-Identifier: Apache-2.0
/* Helpers shared by the tracker commands (watch, pods). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

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

int cli_parse_controller(const char *cmd, const char *val, const char **ret)
{
	static const char *const ok[] = { "unified", "cpuset", "cpu",	  "cpuacct", "blkio",
					  "memory",  "devices", "freezer", "pids" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(val, ok[i])) {
			*ret = ok[i];
			return 0;
		}
	fprintf(stderr, "kpleg %s: invalid --cgroup-controller \"%s\": expected unified, "
			"cpuset, cpu, cpuacct, blkio, memory, devices, freezer or pids\n", cmd, val);
	return -EINVAL;
}

/* Blocks SIGINT/SIGTERM in this thread (and so in every thread started
 * after) and returns a signalfd for them, or -errno. */
int cli_signals_open(void)
{
	sigset_t mask;
	int fd, r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (r)
		return -r;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* A reader that goes away is an EPIPE from the write: a normal stop. */
	signal(SIGPIPE, SIG_IGN);
	return fd;
}

/* Lets a second signal end the process while the tracker stops. */
void cli_signals_restore(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
}

/* The signal number read from the signalfd, or 0. */
int cli_read_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

int cli_getopt(const struct cli_getopt *g, int argc, char **argv, void *ctx, int *ret_exit)
{
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, g->optstring, g->opts, NULL)) != -1) {
		if (opt == g->skip)
			continue;
		if (opt == 'h') {
			g->usage(stdout);
			*ret_exit = EXIT_OK;
			return -1;
		}
		if (opt == '?' || opt == ':') {
			*ret_exit = cli_bad_option(g->cmd, argv, opt);
			return -1;
		}
		if (g->apply(opt, optarg, ctx) < 0) {
			*ret_exit = EXIT_USAGE;
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kpleg %s: unexpected argument \"%s\"\n", g->cmd, argv[optind]);
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	return 0;
}
