/*
 * slot_index.h - the tokens of a module, indexed by label: one scan of
 * the slots (C_GetSlotList, C_GetTokenInfo each), then every lookup by
 * label (and serial) costs the same however many tokens there are.
 * Private to pkcs11/ (p11_module.c).
 *
 * Labels are not unique: a lookup says how many tokens matched, so that
 * the caller can refuse to guess.
 */
#ifndef P11DKIM_SLOT_INDEX_H
#define P11DKIM_SLOT_INDEX_H

#include <stddef.h>

#include "p11dkim/p11_module.h"

struct slot_index;

/*
 * slot_index_new - an index of the n tokens in list (owned from now on,
 * also on failure: freed); NULL when out of memory
 */
struct slot_index *slot_index_new(struct p11_token_info *list, size_t n);

/*
 * slot_index_find - the initialized token labelled label (with this
 * serial, unless serial is NULL); *matches says how many matched (the
 * first one is returned), NULL when none did
 */
const struct p11_token_info *slot_index_find(const struct slot_index *,
	    const char *label, const char *serial, size_t *matches);

/* slot_index_at - the i-th token scanned (i < slot_index_size) */
const struct p11_token_info *slot_index_at(const struct slot_index *,
	    size_t i);

/* slot_index_size - how many tokens it holds */
size_t	slot_index_size(const struct slot_index *);

/* slot_index_free - NULL is fine; returns NULL */
struct slot_index *slot_index_free(struct slot_index *);

#endif
