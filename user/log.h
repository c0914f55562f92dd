/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging in the kubelet's (klog) format, which node operators already grep:
 *   I1129 14:31:00.123456   12345 file.c:42] "message" key=value
 * Library code returns errors; the daemon and CLI log them once, with context.
 */
#pragma once

#include <stdarg.h>

enum log_severity { LOG_SEV_INFO = 'I', LOG_SEV_WARN = 'W', LOG_SEV_ERROR = 'E' };

/* -v level: log_v(n, ...) prints when n <= verbosity. Default 0. */
void log_set_verbosity(int v);
int log_get_verbosity(void);

void log_write(enum log_severity sev, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_info(...) log_write(LOG_SEV_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_SEV_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_write(LOG_SEV_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_v(n, ...)                                                                    \
	do {                                                                             \
		if ((n) <= log_get_verbosity())                                          \
			log_write(LOG_SEV_INFO, __FILE__, __LINE__, __VA_ARGS__);        \
	} while (0)
