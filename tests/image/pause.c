// SPDX-License-Identifier: Apache-2.0
/*
 * pause: the kpleg test image's sandbox ("pause") process.
 *
 * Blocks until SIGINT or SIGTERM, then exits 0. As PID 1 of a pod it reaps
 * every zombie re-parented to it (SIGCHLD). Built static: gcc -static -O2.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
	stop_sig = sig;
}

static void on_child(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int handle(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = sig == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : 0;
	if (sigaction(sig, &sa, NULL) < 0) {
		fprintf(stderr, "pause: sigaction(%d): %s\n", sig, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t block, wait_mask;

	if (argc > 1 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
		puts("pause (kpleg test image) 1");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "pause: warning: not running as PID 1\n");

	/* Block the stop signals outside sigsuspend() so none is lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask) < 0)
		return 1;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGCHLD);

	if (handle(SIGINT, on_stop) || handle(SIGTERM, on_stop) ||
	    handle(SIGCHLD, on_child))
		return 1;

	while (!stop_sig)
		sigsuspend(&wait_mask);

	fprintf(stderr, "pause: got signal %d, exiting\n", (int)stop_sig);
	on_child(SIGCHLD);
	return 0;
}
