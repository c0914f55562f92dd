/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers in the style of systemd/crun: cleanup attributes and ownership
 * transfer. Every free function used here accepts NULL. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Declares a cleanup function for a pointer type from its NULL-safe destructor. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                  \
	static inline void func##p(type *p)                                      \
	{                                                                        \
		if (*p)                                                          \
			func(*p);                                                \
	}

/* Hands ownership out of a cleanup variable: returns the value and leaves NULL. */
#define TAKE_PTR(p)                                                              \
	({                                                                       \
		__typeof__(p) _p = (p);                                          \
		(p) = NULL;                                                      \
		_p;                                                              \
	})
#define TAKE_FD(fd)                                                              \
	({                                                                       \
		int _fd = (fd);                                                  \
		(fd) = -1;                                                       \
		_fd;                                                             \
	})

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

/* CLOCK_MONOTONIC in nanoseconds: kpleg's one clock for observed times. */
static inline uint64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}
