/*
 * strmap.h - a map from strings to 32-bit numbers, for lookups that must
 * cost the same however many entries there are (an institution by code,
 * by domain).  The strings are borrowed: they must outlive the map.
 * Not thread-safe for writers; any number of readers once built.
 */
#ifndef P11DKIM_STRMAP_H
#define P11DKIM_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap;

/* strmap_new - an empty map sized for about n entries; NULL: no memory */
struct strmap *strmap_new(size_t n);

/*
 * strmap_put - key -> value, unless key is there already (then *old, if
 * not NULL, says what it maps to).  0 added, 1 there already, -1 no memory.
 */
int	strmap_put(struct strmap *, const char *key, uint32_t value,
	    uint32_t *old);

/* strmap_get - 1 and *value when key is there, else 0 */
int	strmap_get(const struct strmap *, const char *key, uint32_t *value);

/* strmap_len - how many entries */
size_t	strmap_len(const struct strmap *);

/* strmap_free - NULL is fine; returns NULL */
struct strmap *strmap_free(struct strmap *);

#endif
