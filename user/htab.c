// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

#define HTAB_MIN_BUCKETS 64

/* FNV-1a: ids are random hex, any decent spread will do. */
static size_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

int htab_init(struct htab *t)
{
	t->b = calloc(HTAB_MIN_BUCKETS, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nb = HTAB_MIN_BUCKETS;
	t->n = 0;
	return 0;
}

void htab_fini(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

struct hnode *htab_find(const struct htab *t, const char *key)
{
	struct hnode *n;

	if (!t->b)
		return NULL; /* never initialised, or its init failed */
	for (n = t->b[hash_str(key) & (t->nb - 1)]; n; n = n->next)
		if (!strcmp(n->key, key))
			return n;
	return NULL;
}

static int htab_grow(struct htab *t)
{
	size_t nb = t->nb * 2, i;
	struct hnode **b = calloc(nb, sizeof(*b));
	struct hnode *n, *next;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nb; i++) {
		for (n = t->b[i]; n; n = next) {
			next = n->next;
			n->next = b[hash_str(n->key) & (nb - 1)];
			b[hash_str(n->key) & (nb - 1)] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

int htab_add(struct htab *t, struct hnode *n)
{
	struct hnode **slot;

	if (!t->b && htab_init(t) < 0)
		return -ENOMEM;
	if (t->n >= t->nb && htab_grow(t) < 0)
		return -ENOMEM;
	slot = &t->b[hash_str(n->key) & (t->nb - 1)];
	n->next = *slot;
	*slot = n;
	t->n++;
	return 0;
}

void htab_del(struct htab *t, struct hnode *n)
{
	struct hnode **p;

	for (p = &t->b[hash_str(n->key) & (t->nb - 1)]; *p; p = &(*p)->next) {
		if (*p == n) {
			*p = n->next;
			n->next = NULL;
			t->n--;
			return;
		}
	}
}
