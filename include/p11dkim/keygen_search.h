/*
 * keygen_search.h - which of the attributes we ask for in a key template
 * a token will take: the search behind keygen_generate(), apart from any
 * token so that it can be tested on its own.
 *
 * A template is a set of items (bit i: item i requested).  Some items
 * may be dropped ("movable"); the others must stay.  The token is asked
 * by generating a key with a set; it either makes the key, refuses the
 * template, or fails in a way no template change can help (then the
 * search stops).  Assumed, as tokens behave: a token that takes a set
 * takes every subset of its movable items with the fixed ones.
 *
 * The search (one item at a time, with the token's reason for each):
 *   1. the whole set; done if the token takes it;
 *   2. drop movable items one after the other, in the given order, until
 *      the token takes the template: the last item dropped is refused,
 *      for the reason the token gave for the template just before (which
 *      differed from the one it took by that item alone); the items
 *      after it in the order are kept;
 *   3. put back every item dropped before it and ask again; done if the
 *      token takes that; else go on with 2. over those items only.
 * So only refused items are dropped (each with its reason), and every
 * key made while searching is a better one than the key before it: the
 * caller keeps the newest and destroys the one it replaces.  Templates
 * the token refuses cost no key.
 */
#ifndef P11DKIM_KEYGEN_SEARCH_H
#define P11DKIM_KEYGEN_SEARCH_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#define KEYGEN_SEARCH_ITEMS	16	/* at most, bits of an unsigned */

/* What an attempt answered. */
enum keygen_answer {
	KEYGEN_MADE = 0,	/* the key was made: it replaces the kept one */
	KEYGEN_REFUSED,		/* the token refused the template */
	KEYGEN_FAILED		/* an error no template change can help */
};

/*
 * The caller's attempt: generate a key with the items of set; *rv: the
 * token's answer.  On KEYGEN_MADE the caller keeps the new key and
 * destroys the one kept before (a failure to destroy it is KEYGEN_FAILED).
 */
typedef enum keygen_answer (*keygen_attempt_fn)(void *ctx, unsigned set,
	    CK_RV *rv);

struct keygen_search_result {
	unsigned kept;			/* the items of the key made */
	unsigned dropped;		/* movable items refused */
	CK_RV	 why[KEYGEN_SEARCH_ITEMS];	/* the reason for each */
	unsigned attempts;		/* templates tried */
	unsigned made;			/* keys made (all but the last destroyed) */
	CK_RV	 rv;			/* the answer that ended a failed search */
};

/*
 * keygen_search - search as above: all is the whole set, order the
 * movable items (bit numbers), first dropped first.  Returns 0 when a
 * key was made (with res->kept); 1 when the token refused even the
 * template without any movable item; -1 when an attempt failed (res->rv
 * says how).  On 1 and -1 a key may still be kept from an earlier
 * attempt: the caller destroys it.
 */
int	keygen_search(unsigned all, const unsigned *order, size_t n,
	    keygen_attempt_fn attempt, void *ctx,
	    struct keygen_search_result *res);

#endif
