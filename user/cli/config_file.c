// SPDX-License-Identifier: Apache-2.0
/*
 * `kpleg daemon --config FILE`: one `key = value` per line, keys are the long
 * option names without the dashes, `#` starts a comment, blank lines are
 * fine, a boolean flag takes `true` or `false`:
 *
 *   # /etc/kpleg/kpleg.conf
 *   runtime-endpoint = unix:///run/containerd/containerd.sock
 *   socket = /run/kpleg/kpleg.sock
 *   allow-gid = 1001
 *   no-bpf = false
 *
 * Every key and value is checked as the option would be; the first error is
 * one line naming the file, the line, the key and the value. Options on the
 * command line win over the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "util.h"

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define CONFIG_MAX_BYTES (64 * 1024)
#define CONFIG_LINE_MAX 1024

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static const struct cli_config_key *find_key(const struct cli_config_key *keys, const char *name)
{
	for (; keys->name; keys++)
		if (!strcmp(keys->name, name))
			return keys;
	return NULL;
}

/* One line; 0, or -EINVAL after printing what is wrong. */
static int load_line(const char *cmd, const char *path, unsigned no, char *line,
		     const struct cli_config_key *keys, cli_config_apply apply, void *ctx)
{
	const struct cli_config_key *k;
	char *eq, *key, *val;

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		fprintf(stderr, "kpleg %s: %s:%u: expected \"key = value\", got \"%s\"\n", cmd, path,
			no, line);
		return -EINVAL;
	}
	*eq = 0;
	key = trim(line);
	val = trim(eq + 1);
	k = find_key(keys, key);
	if (!k) {
		fprintf(stderr, "kpleg %s: %s:%u: unknown key \"%s\" (value \"%s\")\n", cmd, path,
			no, key, val);
		return -EINVAL;
	}
	if (k->boolean && strcmp(val, "true") && strcmp(val, "false")) {
		fprintf(stderr, "kpleg %s: %s:%u: key \"%s\": invalid value \"%s\": expected true "
				"or false\n", cmd, path, no, key, val);
		return -EINVAL;
	}
	if (k->boolean && !strcmp(val, "false"))
		return 0;
	if (apply(k->opt, val, ctx) < 0) {
		fprintf(stderr, "kpleg %s: %s:%u: key \"%s\": the value \"%s\" is refused (above)\n",
			cmd, path, no, key, val);
		return -EINVAL;
	}
	return 0;
}

int cli_config_load(const char *cmd, const char *path, const struct cli_config_key *keys,
		    cli_config_apply apply, void *ctx)
{
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	unsigned no = 0;
	struct stat st;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "kpleg %s: cannot read the config file %s: %s\n", cmd, path,
			strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		fprintf(stderr, "kpleg %s: %s is not a regular file of at most %d bytes\n", cmd, path,
			CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		no++;
		if (n > CONFIG_LINE_MAX) {
			fprintf(stderr, "kpleg %s: %s:%u: line longer than %d bytes\n", cmd, path, no,
				CONFIG_LINE_MAX);
			return -EINVAL;
		}
		if ((size_t)n != strlen(line)) {
			fprintf(stderr, "kpleg %s: %s:%u: NUL byte in the line\n", cmd, path, no);
			return -EINVAL;
		}
		if (load_line(cmd, path, no, line, keys, apply, ctx) < 0)
			return -EINVAL;
	}
	return 0;
}
