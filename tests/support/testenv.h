/* SPDX-License-Identifier: Apache-2.0 */
/* What scripts/run-tests.sh hands the tests: the sockets of the private
 * runtimes it started. A test that needs one and does not get it fails loudly. */
#pragma once

#include <stdint.h>

/* Returns the value of @var or fails the calling cmocka test with a message
 * saying that the test must run under scripts/run-tests.sh (make test). */
const char *testenv_require(const char *var);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t testenv_now_ms(void);
