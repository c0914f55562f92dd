// SPDX-License-Identifier: Apache-2.0
/*
 * kpleg report FILE.csv: reads a `kpleg trace` file strictly (the first bad
 * line is an error naming the file and line), prints each source's latency
 * percentiles per transition (latency.c says what is measured) and draws the
 * latency CDFs with gnuplot (report_plot.c), by default FILE.svg beside the
 * trace. Without gnuplot the table is still printed, then one clear line and
 * exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latency.h"
#include "report_plot.h"
#include "trace_csv.h"
#include "util.h"

struct report_opts {
	const char *csv, *plot;
	bool no_plot;
};

static void report_usage(FILE *out)
{
	fprintf(out,
		"Usage: kpleg report FILE.csv [OPTIONS]\n\n"
		"Reads a trace written by `kpleg trace` and prints, per transition, each\n"
		"source's latency percentiles (p50, p90, p99, max, nearest rank): its time minus\n"
		"the earliest time any source saw the same transition. Then draws the latency\n"
		"CDFs (log x axis) with gnuplot.\n\n"
		"  -o, --output PLOT   the picture, PLOT.svg or PLOT.png (default: the trace's\n"
		"                      name with .svg for .csv, beside it)\n"
		"      --no-plot       the table only\n"
		"  -h, --help          this text\n");
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int apply_opt(int opt, const char *arg, void *ctx)
{
	struct report_opts *o = ctx;

	switch (opt) {
	case 1: /* the file (optstring "-...": non-options come in order) */
		if (o->csv) {
			fprintf(stderr, "kpleg report: unexpected argument \"%s\"\n", arg);
			return -EINVAL;
		}
		o->csv = arg;
		return 0;
	case 'o':
		if (!ends_with(arg, ".svg") && !ends_with(arg, ".png")) {
			fprintf(stderr, "kpleg report: invalid --output \"%s\": expected a name "
					"ending in .svg or .png\n", arg);
			return -EINVAL;
		}
		o->plot = arg;
		return 0;
	case 'P': o->no_plot = true; return 0;
	default: return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct report_opts *o, int *ret_exit)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "no-plot", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const struct cli_getopt g = { .cmd = "report", .optstring = "-:o:h", .opts = opts,
				      .apply = apply_opt, .usage = report_usage };

	if (cli_getopt(&g, argc, argv, o, ret_exit) < 0)
		return -1;
	if (!o->csv) {
		fprintf(stderr, "kpleg report: FILE.csv is required (see kpleg report --help)\n");
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	if (o->plot && o->no_plot) {
		fprintf(stderr, "kpleg report: --output and --no-plot do not go together\n");
		*ret_exit = EXIT_USAGE;
		return -1;
	}
	return 0;
}

static int add_row(const struct trace_row *r, void *ctx)
{
	return latency_set_add(ctx, r);
}

static int read_trace(const char *path, struct latency_set *set)
{
	char err[512] = "";
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		fprintf(stderr, "kpleg report: cannot read \"%s\": %s\n", path, strerror(errno));
		return -errno;
	}
	r = trace_csv_read(f, path, add_row, set, err, sizeof(err));
	fclose(f);
	if (r == -EINVAL && *err)
		fprintf(stderr, "kpleg report: %s\n", err);
	else if (r < 0)
		fprintf(stderr, "kpleg report: cannot read \"%s\": %s\n", path, strerror(-r));
	return r;
}

/* The picture's path: -o, else the trace's name with .svg for .csv. */
static char *plot_path(const struct report_opts *o)
{
	size_t n = strlen(o->csv);
	char *p;

	if (o->plot)
		return strdup(o->plot);
	if (ends_with(o->csv, ".csv"))
		n -= 4;
	if (asprintf(&p, "%.*s.svg", (int)n, o->csv) < 0)
		return NULL;
	return p;
}

static int draw(const struct report_opts *o, const struct latency_set *set)
{
	_cleanup_free_ char *path = plot_path(o);
	const char *base = strrchr(o->csv, '/');
	int r;

	if (!path)
		return -ENOMEM;
	if (!plot_has_data(set)) {
		fprintf(stderr, "kpleg report: nothing to plot (no latency above 0); no plot "
				"written\n");
		return 0;
	}
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c < 0x20) {
			fprintf(stderr, "kpleg report: the plot's path has a control character\n");
			return -EINVAL;
		}
	r = plot_draw(set, base ? base + 1 : o->csv, path,
		      ends_with(path, ".png") ? PLOT_PNG : PLOT_SVG);
	if (r == 0)
		printf("\nplot: %s\n", path);
	return r;
}

int cmd_report(int argc, char **argv)
{
	struct report_opts o = { 0 };
	struct latency_set set;
	int code, r;

	if (parse_args(argc, argv, &o, &code) < 0)
		return code;
	latency_set_init(&set);
	r = read_trace(o.csv, &set);
	if (r < 0) {
		latency_set_fini(&set);
		return EXIT_FAIL;
	}
	latency_set_finish(&set);
	/* gnuplot may go away before reading all of its script. */
	signal(SIGPIPE, SIG_IGN);
	r = latency_print(stdout, &set, o.csv);
	if (r == 0 && fflush(stdout) != 0)
		r = -errno;
	if (r == 0 && !o.no_plot)
		r = draw(&o, &set);
	latency_set_fini(&set);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
