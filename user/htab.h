/* SPDX-License-Identifier: Apache-2.0 */
/* A small intrusive hash table keyed by NUL-terminated strings (ids). The
 * node is embedded in the object; the table never owns objects or keys. */
#pragma once

#include <stddef.h>

struct hnode {
	struct hnode *next;
	const char *key; /* must outlive the node's membership */
};

struct htab {
	struct hnode **b;
	size_t nb; /* power of two */
	size_t n;
};

int htab_init(struct htab *t);
void htab_fini(struct htab *t);
struct hnode *htab_find(const struct htab *t, const char *key);
/* Adds @n (its key must not be present). 0 or -ENOMEM (then not added). */
int htab_add(struct htab *t, struct hnode *n);
void htab_del(struct htab *t, struct hnode *n);
