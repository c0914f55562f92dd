// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgroup_path.h"
#include "hint_decode.h"

int hint_record_decode(const void *data, size_t size, struct kpleg_hint_created *ret)
{
	struct kpleg_hint_created c;

	if (!data || size < sizeof(c.hint))
		return -EBADMSG;
	memcpy(&c.hint, data, sizeof(c.hint));
	if (c.hint.type == HINT_CGROUP_CREATED) {
		if (size < sizeof(c))
			return -EBADMSG;
		memcpy(&c, data, sizeof(c));
		c.path[sizeof(c.path) - 1] = '\0';
	}
	*ret = c;
	return 0;
}

int hint_resolve(const struct kpleg_hint *hint, const char *path, char *ret_uid,
		 struct hint_msg *ret, bool *ret_unknown)
{
	struct cgroup_ref ref = { 0 };
	struct hint_msg h = { 0 };

	*ret_unknown = false;
	if (cgroup_path_resolve(path, strnlen(path, CGROUP_PATH_MAX + 1), &ref) < 0)
		return -EINVAL;
	if (ref.kind == CG_NONE || ref.kind == CG_CONMON) {
		*ret_unknown = ref.unknown_shape;
		return -ENOENT;
	}
	snprintf(ret_uid, KPLEG_ID_MAX, "%s", ref.pod_uid);
	snprintf(h.id, sizeof(h.id), "%s", ref.id);
	h.kind = ref.kind == CG_POD ? HINT_KIND_POD : ref.sub ? HINT_KIND_SUB : HINT_KIND_OBJECT;
	h.type = hint->type;
	h.kernel_ns = hint->ts_ns;
	h.exit_code = hint->exit_code;
	h.oom = hint->type == HINT_OOM;
	/* A STARTED hint's time is the first exec. */
	if (hint->type == HINT_STARTED)
		h.first_exec_ns = hint->ts_ns;
	*ret = h;
	return 0;
}
