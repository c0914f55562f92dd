/* SPDX-License-Identifier: Apache-2.0 */
/* kpleg's command line: one binary, one file per subcommand. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes shared by every subcommand. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int cmd_info(int argc, char **argv);
int cmd_pods(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Picks the runtime endpoint: @flag if given (validated), else the first
 * default socket that exists, saying which. Returns 0 or an EXIT_* code after
 * printing one clear line. */
int cli_runtime_endpoint(const char *flag, char *out, size_t out_size);

/* Parses a positive integer option; prints a clear error and returns -EINVAL. */
int cli_parse_uint(const char *opt, const char *val, unsigned long max, unsigned long *ret);
/* -v N (0-10): sets the log verbosity; prints a clear error and returns -EINVAL. */
int cli_parse_verbosity(const char *val);

/* Calls CRI Version on @target within @timeout_ms: 0 if it answers, else
 * EXIT_FAIL after printing one clear line prefixed "kpleg @cmd:". */
int cli_check_runtime(const char *cmd, const char *target, int timeout_ms);

/* For getopt_long() run with opterr = 0 and an optstring starting with ':':
 * prints one line about the bad option @opt ('?' or ':') and returns
 * EXIT_USAGE. */
int cli_bad_option(const char *cmd, char **argv, int opt);

/* --cgroup-controller: unified or a v1 controller name; one clear line and
 * -EINVAL otherwise. */
int cli_parse_controller(const char *cmd, const char *val, const char **ret);

/* Blocks SIGINT/SIGTERM in this thread (and so in every thread started
 * after) and returns a signalfd for them, or -errno; SIGPIPE is ignored. */
int cli_signals_open(void);
/* Lets a second signal end the process while it stops. */
void cli_signals_restore(void);
/* The signal number read from the signalfd, or 0. */
int cli_read_signal(int sfd);

/* Config files (config_file.c): a key is a long option's name; @opt is what
 * getopt_long returns for it; a boolean key takes true/false (true applies
 * the option with a NULL value). */
struct cli_config_key {
	const char *name;
	int opt;
	bool boolean;
};
typedef int (*cli_config_apply)(int opt, const char *val, void *ctx);
/* Applies every line of @path through @apply; 0, or -errno after one clear
 * line naming the file, line, key and value. */
int cli_config_load(const char *cmd, const char *path, const struct cli_config_key *keys,
		    cli_config_apply apply, void *ctx);
/* The same from @buf[0..len) (at most 64 KiB, lines of at most 1024 bytes
 * with the newline, no NUL), errors written to @err; @path names the source
 * in them. cli_config_load reads the file and calls this (the fuzz target
 * tests/fuzz/fuzz_config.c calls it directly). */
int cli_config_parse(const char *cmd, const char *path, const char *buf, size_t len,
		     const struct cli_config_key *keys, cli_config_apply apply, void *ctx,
		     FILE *err);

/* One getopt_long pass over a subcommand's arguments: -h prints usage (exit
 * 0), a bad option or a stray argument is one line (exit 2), every other
 * option goes to @apply (which prints its own error and returns < 0).
 * Returns 0 to go on, else -1 with *ret_exit set. */
struct cli_getopt {
	const char *cmd;
	const char *optstring;	 /* starting with ':' */
	const struct option *opts;
	int (*apply)(int opt, const char *arg, void *ctx);
	void (*usage)(FILE *out);
	int skip;		 /* an option already handled (0: none) */
};
int cli_getopt(const struct cli_getopt *g, int argc, char **argv, void *ctx, int *ret_exit);
