/*
 * slot_index.c - tokens by label (see slot_index.h): a hash table of
 * chains over the scanned list, sized to it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slot_index.h"

struct slot_index {
	struct p11_token_info *list;
	size_t	 n;
	size_t	*head;			/* [nbuckets]: first entry + 1, or 0 */
	size_t	*next;			/* [n]: next entry of the chain + 1 */
	size_t	 nbuckets;
};

/* label_hash - FNV-1a of a label */
static uint64_t
label_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* slot_index_new - an index of the n tokens in list (owned from now on) */
struct slot_index *
slot_index_new(struct p11_token_info *list, size_t n)
{
	struct slot_index *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		free(list);
		return NULL;
	}
	x->list = list;
	x->n = n;
	x->nbuckets = n * 2 + 1;
	if ((x->head = calloc(x->nbuckets, sizeof(size_t))) == NULL ||
	    (x->next = calloc(n + 1, sizeof(size_t))) == NULL)
		return slot_index_free(x);
	for (size_t i = n; i-- > 0;) {	/* chains keep the scan's order */
		size_t b = label_hash(list[i].label) % x->nbuckets;

		x->next[i] = x->head[b];
		x->head[b] = i + 1;
	}
	return x;
}

/* slot_index_find - the initialized token with this label (and serial) */
const struct p11_token_info *
slot_index_find(const struct slot_index *x, const char *label,
    const char *serial, size_t *matches)
{
	const struct p11_token_info *first = NULL;
	size_t	 b = label_hash(label) % x->nbuckets;

	*matches = 0;
	for (size_t i = x->head[b]; i != 0; i = x->next[i - 1]) {
		const struct p11_token_info *t = &x->list[i - 1];

		if (!t->initialized || strcmp(t->label, label) != 0 ||
		    (serial != NULL && strcmp(t->serial, serial) != 0))
			continue;
		if ((*matches)++ == 0)
			first = t;
	}
	return first;
}

/* slot_index_at - the i-th token scanned */
const struct p11_token_info *
slot_index_at(const struct slot_index *x, size_t i)
{
	return &x->list[i];
}

/* slot_index_size - how many tokens it holds */
size_t
slot_index_size(const struct slot_index *x)
{
	return x->n;
}

/* slot_index_free - NULL is fine; returns NULL */
struct slot_index *
slot_index_free(struct slot_index *x)
{
	if (x == NULL)
		return NULL;
	free(x->list);
	free(x->head);
	free(x->next);
	free(x);
	return NULL;
}
