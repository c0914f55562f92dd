// SPDX-License-Identifier: Apache-2.0
/*
 * `kpleg report`'s picture. gnuplot (gnuplot-nox) draws it: kpleg writes the
 * script, with the data inline as datablocks, to gnuplot's stdin through a
 * pipe; gnuplot is started with posix_spawnp (no shell) and writes a
 * temporary file beside the picture, renamed once gnuplot has succeeded.
 *
 * One panel per transition; in each, one CDF per source: y = the fraction of
 * the transitions that source saw whose latency is at most x. The x axis is
 * logarithmic, so latencies of 0 (the reference source itself) cannot be
 * drawn: a curve starts at the share of its values at or below 0, and a source
 * with nothing above 0 is a legend entry only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report_plot.h"
#include "util.h"

extern char **environ;

/* One colour per source, the same in every panel (colour-blind safe set). */
static const char *const colours[TRACE_TIME_N] = {
	[TRACE_KERNEL] = "#000000",    [TRACE_HINT] = "#d55e00",
	[TRACE_CRI_EVENT] = "#0072b2", [TRACE_RELIST] = "#009e73",
	[TRACE_CONFIRMED] = "#cc79a7", [TRACE_RUNTIME] = "#e69f00",
};

/* The inside of a double-quoted gnuplot string: backslash and quote
 * escaped, control characters dropped. */
static void put_qraw(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fputc('\\', out);
		if (c >= 0x20 && c != 0x7f)
			fputc(c, out);
	}
}

static void put_qstr(FILE *out, const char *s)
{
	fputc('"', out);
	put_qraw(out, s);
	fputc('"', out);
}

static size_t positives(const struct latency_series *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->v[i] > 0;
	return n;
}

static bool panel_has_curve(const struct latency_set *set, int ti)
{
	for (int j = 0; j < TRACE_TIME_N; j++)
		if (positives(&set->s[ti][j]))
			return true;
	return false;
}

/* $dT_S: (latency ms, fraction <= it) with a first point at the share <= 0. */
static void put_block(FILE *out, int ti, int j, const struct latency_series *s)
{
	size_t below = s->n - positives(s);

	fprintf(out, "$d%d_%d << EOD\n", ti, j);
	for (size_t i = below; i < s->n; i++) {
		if (i == below)
			fprintf(out, "%.6f %.6f\n", (double)s->v[i] / 1e6, (double)below / (double)s->n);
		fprintf(out, "%.6f %.6f\n", (double)s->v[i] / 1e6, (double)(i + 1) / (double)s->n);
	}
	fputs("EOD\n", out);
}

static void put_entry(FILE *out, int ti, int j, const struct latency_series *s, bool *first)
{
	size_t pos = positives(s);
	char title[96];

	if (pos == s->n)
		snprintf(title, sizeof(title), "%s (n=%zu)", trace_time_name(j), s->n);
	else if (pos)
		snprintf(title, sizeof(title), "%s (n=%zu; %zu at <= 0 ms)", trace_time_name(j), s->n,
			 s->n - pos);
	else if (j == TRACE_RUNTIME)
		snprintf(title, sizeof(title), "%s (n=%zu, all <= 0 ms)", trace_time_name(j), s->n);
	else
		snprintf(title, sizeof(title), "%s (n=%zu, the reference: 0 ms)",
			 trace_time_name(j), s->n);
	fputs(*first ? "plot " : ", \\\n     ", out);
	*first = false;
	if (pos)
		fprintf(out, "$d%d_%d using 1:2 with steps", ti, j);
	else
		fputs("keyentry with lines", out);
	fprintf(out, " lw 2 dt %d lc rgb '%s' title ", j == TRACE_RUNTIME ? 2 : 1, colours[j]);
	put_qstr(out, title);
}

static void put_panel(FILE *out, const struct latency_set *set, int ti)
{
	char title[96];
	bool first = true;

	snprintf(title, sizeof(title), "%s (%zu transition%s)",
		 kpleg_event_type_str(latency_transition(ti)), set->rows_of[ti],
		 set->rows_of[ti] == 1 ? "" : "s");
	fputs("set title ", out);
	put_qstr(out, title);
	fputc('\n', out);
	for (int j = 0; j < TRACE_TIME_N; j++)
		if (set->s[ti][j].n)
			put_entry(out, ti, j, &set->s[ti][j], &first);
	fputc('\n', out);
}

static void put_setup(FILE *out, const char *title, const char *output, enum plot_format fmt,
		      int panels)
{
	int cols = panels > 1 ? 2 : 1, rows = (panels + cols - 1) / cols;

	fprintf(out, "set terminal %s size %d,%d noenhanced font 'Sans,%d' background rgb 'white'\n",
		fmt == PLOT_PNG ? "pngcairo" : "svg", cols == 2 ? 1500 : 800, 90 + 430 * rows,
		fmt == PLOT_PNG ? 10 : 12);
	fputs("set output ", out);
	put_qstr(out, output);
	fprintf(out, "\nset multiplot layout %d,%d title \"kpleg trace ", rows, cols);
	put_qraw(out, title);
	fputs(": latency of each source after the first one saw the transition\\n"
	      "(CDF over the transitions each source saw; log x axis, so 0 ms is off the "
	      "left edge)\" font 'Sans,13'\n", out);
	fputs("set logscale x 10\n"
	      "set format x '%g'\n"
	      "set xlabel 'latency after the first source (ms, log scale)'\n"
	      "set ylabel 'fraction of transitions (CDF)'\n"
	      "set yrange [0:1.02]\n"
	      "set ytics 0.1\n"
	      "set grid xtics mxtics ytics lc rgb '#dddddd'\n"
	      /* Legends right of each panel, in a fixed margin: the panels
	       * keep one size and no curve is hidden. */
	      "set lmargin 9\n"
	      "set rmargin 36\n"
	      "set key at graph 1.03, graph 1 left top vertical Left reverse samplen 2\n",
	      out);
}

/* One x range for every panel, whole decades around all latencies above 0,
 * so that panels compare at a glance. */
static void put_xrange(FILE *out, const struct latency_set *set)
{
	int64_t lo = INT64_MAX, hi = 0;
	double a = 1e-3, b;

	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		for (int j = 0; j < TRACE_TIME_N; j++) {
			const struct latency_series *s = &set->s[i][j];

			for (size_t k = 0; k < s->n; k++)
				if (s->v[k] > 0) {
					lo = s->v[k] < lo ? s->v[k] : lo;
					hi = s->v[k] > hi ? s->v[k] : hi;
				}
		}
	while (a * 10 <= (double)lo / 1e6)
		a *= 10;
	for (b = a * 10; b < (double)hi / 1e6; b *= 10)
		;
	fprintf(out, "set xrange [%g:%g]\n", a, b);
}

int plot_script(FILE *out, const struct latency_set *set, const char *title, const char *output,
		enum plot_format fmt)
{
	int panels = 0;

	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		panels += panel_has_curve(set, i);
	if (!panels)
		return -ENODATA;
	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		for (int j = 0; j < TRACE_TIME_N; j++)
			if (panel_has_curve(set, i) && positives(&set->s[i][j]))
				put_block(out, i, j, &set->s[i][j]);
	put_setup(out, title, output, fmt, panels);
	put_xrange(out, set);
	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		if (panel_has_curve(set, i))
			put_panel(out, set, i);
	fputs("unset multiplot\nset output\n", out);
	return ferror(out) ? -EIO : 0;
}

/* ---- running gnuplot ----------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int spawn_gnuplot(int in_fd, pid_t *ret)
{
	char *argv[] = { (char *)"gnuplot", NULL };
	posix_spawn_file_actions_t fa;
	int r;

	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	r = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
	if (r == 0)
		r = posix_spawnp(ret, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* Feeds @script to gnuplot; 0 when it exits 0. */
static int run_gnuplot(const char *script, size_t len)
{
	int p[2], r, status = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = spawn_gnuplot(p[0], &pid);
	close(p[0]);
	if (r < 0) {
		close(p[1]);
		if (r == -ENOENT)
			fprintf(stderr, "kpleg report: gnuplot not found in PATH (Debian package "
					"gnuplot-nox); the table above is complete, no plot written\n");
		else
			fprintf(stderr, "kpleg report: cannot run gnuplot: %s\n", strerror(-r));
		return r;
	}
	r = write_all(p[1], script, len);
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "kpleg report: gnuplot failed (%s %d); no plot written\n",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -EIO;
	}
	if (r < 0)
		fprintf(stderr, "kpleg report: cannot send gnuplot its script: %s\n", strerror(-r));
	return r;
}

bool plot_has_data(const struct latency_set *set)
{
	for (int i = 0; i < LATENCY_TRANSITIONS; i++)
		if (panel_has_curve(set, i))
			return true;
	return false;
}

int plot_draw(const struct latency_set *set, const char *title, const char *path,
	      enum plot_format fmt)
{
	_cleanup_free_ char *tmp = NULL, *script = NULL;
	size_t len = 0;
	mode_t mask;
	FILE *f;
	int fd, r;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "kpleg report: cannot write the plot \"%s\": %s\n", path,
			strerror(-r));
		return r;
	}
	/* mkstemp makes it 0600; the picture is an ordinary file. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0) {
		/* Not worth failing over: the picture is still written. */
	}
	close(fd);
	f = open_memstream(&script, &len);
	r = f ? plot_script(f, set, title, tmp, fmt) : -ENOMEM;
	if (f && fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r == 0)
		r = run_gnuplot(script, len);
	else if (r != -ENODATA)
		fprintf(stderr, "kpleg report: cannot build the gnuplot script: %s\n", strerror(-r));
	if (r == 0 && rename(tmp, path) < 0) {
		r = -errno;
		fprintf(stderr, "kpleg report: cannot write the plot \"%s\": %s\n", path,
			strerror(-r));
	}
	if (r < 0)
		unlink(tmp);
	return r;
}
