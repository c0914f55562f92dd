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

/* One line; 0, or -EINVAL after printing what is wrong to @err. */
static int load_line(const char *cmd, const char *path, unsigned no, char *line,
		     const struct cli_config_key *keys, cli_config_apply apply, void *ctx,
		     FILE *err)
{
	const struct cli_config_key *k;
	char *eq, *key, *val;

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		fprintf(err, "kpleg %s: %s:%u: expected \"key = value\", got \"%s\"\n", cmd, path,
			no, line);
		return -EINVAL;
	}
	*eq = 0;
	key = trim(line);
	val = trim(eq + 1);
	k = find_key(keys, key);
	if (!k) {
		fprintf(err, "kpleg %s: %s:%u: unknown key \"%s\" (value \"%s\")\n", cmd, path,
			no, key, val);
		return -EINVAL;
	}
	if (k->boolean && strcmp(val, "true") && strcmp(val, "false")) {
		fprintf(err, "kpleg %s: %s:%u: key \"%s\": invalid value \"%s\": expected true "
			     "or false\n", cmd, path, no, key, val);
		return -EINVAL;
	}
	if (k->boolean && !strcmp(val, "false"))
		return 0;
	if (apply(k->opt, val, ctx) < 0) {
		fprintf(err, "kpleg %s: %s:%u: key \"%s\": the value \"%s\" is refused (above)\n",
			cmd, path, no, key, val);
		return -EINVAL;
	}
	return 0;
}

int cli_config_parse(const char *cmd, const char *path, const char *buf, size_t len,
		     const struct cli_config_key *keys, cli_config_apply apply, void *ctx,
		     FILE *err)
{
	char line[CONFIG_LINE_MAX + 1];
	unsigned no = 0;

	if (len > CONFIG_MAX_BYTES) {
		fprintf(err, "kpleg %s: %s is not a regular file of at most %d bytes\n", cmd, path,
			CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) + 1 : len - pos;

		no++;
		if (n > CONFIG_LINE_MAX) {
			fprintf(err, "kpleg %s: %s:%u: line longer than %d bytes\n", cmd, path, no,
				CONFIG_LINE_MAX);
			return -EINVAL;
		}
		if (memchr(buf + pos, '\0', n)) {
			fprintf(err, "kpleg %s: %s:%u: NUL byte in the line\n", cmd, path, no);
			return -EINVAL;
		}
		memcpy(line, buf + pos, n);
		line[n] = 0;
		pos += n;
		if (load_line(cmd, path, no, line, keys, apply, ctx, err) < 0)
			return -EINVAL;
	}
	return 0;
}

int cli_config_load(const char *cmd, const char *path, const struct cli_config_key *keys,
		    cli_config_apply apply, void *ctx)
{
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n;

	if (!f) {
		fprintf(stderr, "kpleg %s: cannot read the config file %s: %s\n", cmd, path,
			strerror(errno));
		return -errno;
	}
	/* One byte more than allowed, so that a file that grew is caught too. */
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf)
		return -ENOMEM;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		fprintf(stderr, "kpleg %s: %s is not a regular file of at most %d bytes\n", cmd, path,
			CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "kpleg %s: cannot read the config file %s: %s\n", cmd, path,
			strerror(EIO));
		return -EIO;
	}
	return cli_config_parse(cmd, path, buf, n, keys, apply, ctx, stderr);
}
