// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the kernel-hint decoder (user/hint_decode.c), the code
 * between the BPF ring buffer and the engine. Input: one ring record, as the
 * kernel would hand it to hints.c's reader; for a record that is not
 * HINT_CGROUP_CREATED the bytes after the struct kpleg_hint stand for the path
 * the reader would take from its table (those come from CREATED records and
 * the seeding walk, so any bytes are fair).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hint_decode.h"

#define CHECK(x)                                                                          \
	do {                                                                              \
		if (!(x))                                                                 \
			abort();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes, as the ring hands out. */
	uint8_t *rec = malloc(size ? size : 1);
	struct kpleg_hint_created c;
	char path[KPLEG_PATH_MAX], uid[KPLEG_ID_MAX];
	struct hint_msg hm;
	bool unknown;
	int e;

	if (!rec)
		return 0;
	memcpy(rec, data, size);
	e = hint_record_decode(rec, size, &c);
	if (e < 0) {
		CHECK(e == -EBADMSG && size < KPLEG_HINT_CREATED_SIZE);
		goto out;
	}
	CHECK(size >= KPLEG_HINT_SIZE);
	/* As hint_source.c's on_hint: unknown types are dropped there. */
	if (c.hint.type < HINT_CGROUP_CREATED || c.hint.type > HINT_CGROUP_REMOVED)
		goto out;
	if (c.hint.type == HINT_CGROUP_CREATED) {
		CHECK(size >= KPLEG_HINT_CREATED_SIZE);
		CHECK(memchr(c.path, 0, sizeof(c.path)));
		memcpy(path, c.path, sizeof(path));
	} else {
		size_t n = size - KPLEG_HINT_SIZE;

		if (n > sizeof(path) - 1)
			n = sizeof(path) - 1;
		memcpy(path, rec + KPLEG_HINT_SIZE, n);
		path[n] = 0;
	}
	memset(&hm, 0x5a, sizeof(hm));
	e = hint_resolve(&c.hint, path, uid, &hm, &unknown);
	if (e < 0) {
		CHECK(e == -ENOENT || e == -EINVAL);
		CHECK(!unknown || e == -ENOENT);
		goto out;
	}
	CHECK(!unknown);
	CHECK(memchr(uid, 0, KPLEG_ID_MAX) && memchr(hm.id, 0, sizeof(hm.id)));
	CHECK(hm.kind == HINT_KIND_POD || hm.kind == HINT_KIND_SUB || hm.kind == HINT_KIND_OBJECT);
	CHECK(hm.kind == HINT_KIND_POD ? !*hm.id : strlen(hm.id) == 64);
	CHECK(hm.type == c.hint.type && hm.kernel_ns == c.hint.ts_ns &&
	      hm.exit_code == c.hint.exit_code);
out:
	free(rec);
	return 0;
}
