/* SPDX-License-Identifier: Apache-2.0 */
/* `kpleg report`'s picture: per-source latency CDFs drawn by gnuplot. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "latency.h"

enum plot_format { PLOT_SVG, PLOT_PNG };

/* Writes the gnuplot script for @set (a finished set) to @out: one panel per
 * transition with a latency above 0, a CDF per source on a log-x axis. @title
 * names the trace; @output is where gnuplot writes. 0, -ENODATA when there is
 * nothing to draw, or -EIO. */
int plot_script(FILE *out, const struct latency_set *set, const char *title,
		const char *output, enum plot_format fmt);

/* Whether there is a latency above 0 to draw. */
bool plot_has_data(const struct latency_set *set);

/* Runs gnuplot (from PATH, no shell) on the script and renames its picture
 * to @path (written beside it first). 0, or -errno after one clear line
 * prefixed "kpleg report:"; -ENOENT: no gnuplot. */
int plot_draw(const struct latency_set *set, const char *title, const char *path,
	      enum plot_format fmt);
