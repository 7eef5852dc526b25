/*
 * strmap.c - strings to numbers, open addressing with linear probing
 * (see include/p11dkim/strmap.h).  The table doubles when it is half full.
 */
#include <stdlib.h>
#include <string.h>

#include "p11dkim/strmap.h"

struct slot {
	const char *key;		/* NULL: empty */
	uint32_t value;
};

struct strmap {
	struct slot *slots;
	size_t	 cap;			/* a power of two */
	size_t	 len;
};

/* hash - FNV-1a */
static uint64_t
hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* find - the slot of key, or the empty one where it would go */
static struct slot *
find(const struct strmap *m, const char *key)
{
	size_t	 i = (size_t)hash(key) & (m->cap - 1);

	while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

/* strmap_new - an empty map sized for about n entries */
struct strmap *
strmap_new(size_t n)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	for (m->cap = 16; m->cap < 2 * n; m->cap *= 2)
		;
	if ((m->slots = calloc(m->cap, sizeof(*m->slots))) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

/* grow - twice the room, every entry moved; -1 when out of memory */
static int
grow(struct strmap *m)
{
	struct strmap bigger = { NULL, m->cap * 2, 0 };

	if ((bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots))) == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			*find(&bigger, m->slots[i].key) = m->slots[i];
	free(m->slots);
	m->slots = bigger.slots;
	m->cap = bigger.cap;
	return 0;
}

/* strmap_put - key -> value, unless key is there already */
int
strmap_put(struct strmap *m, const char *key, uint32_t value, uint32_t *old)
{
	struct slot *s;

	if (2 * (m->len + 1) > m->cap && grow(m) < 0)
		return -1;
	s = find(m, key);
	if (s->key != NULL) {
		if (old != NULL)
			*old = s->value;
		return 1;
	}
	s->key = key;
	s->value = value;
	m->len++;
	return 0;
}

/* strmap_get - 1 and *value when key is there, else 0 */
int
strmap_get(const struct strmap *m, const char *key, uint32_t *value)
{
	const struct slot *s = find(m, key);

	if (s->key == NULL)
		return 0;
	*value = s->value;
	return 1;
}

/* strmap_len - how many entries */
size_t
strmap_len(const struct strmap *m)
{
	return m->len;
}

/* strmap_free - NULL is fine; returns NULL */
struct strmap *
strmap_free(struct strmap *m)
{
	if (m != NULL) {
		free(m->slots);
		free(m);
	}
	return NULL;
}
