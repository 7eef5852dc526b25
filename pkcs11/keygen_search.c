/*
 * keygen_search.c - find the template a token takes, dropping only what
 * it refuses, each with its reason (see include/p11dkim/keygen_search.h).
 *
 * Pure logic: the token is behind the caller's attempt function.
 */
#include <string.h>

#include "p11dkim/keygen_search.h"

#define ALL_REFUSED	(-1)	/* drop_until_taken: refused to the end */
#define ATTEMPT_FAILED	(-2)	/* drop_until_taken: an attempt failed */

/* The state of a search. */
struct search {
	keygen_attempt_fn attempt;
	void	*ctx;
	struct keygen_search_result *res;
	int	 have_key;		/* a key with res->kept exists */
};

/* ask - try one template; a template of the kept key is known to work */
static enum keygen_answer
ask(struct search *s, unsigned set, CK_RV *rv)
{
	enum keygen_answer a;

	if (s->have_key && set == s->res->kept) {
		*rv = CKR_OK;
		return KEYGEN_MADE;
	}
	s->res->attempts++;
	a = s->attempt(s->ctx, set, rv);
	if (a == KEYGEN_MADE) {
		s->res->made++;
		s->res->kept = set;
		s->have_key = 1;
	}
	return a;
}

/*
 * drop_until_taken - drop cand[0], cand[1], ... from want until the token
 * takes the template; the item whose removal did it is refused, with the
 * answer to the template before (*refused_rv on entry: the answer to want
 * itself).  Returns the index of that item, ALL_REFUSED or
 * ATTEMPT_FAILED (res->rv: the answer that ended it).
 */
static int
drop_until_taken(struct search *s, unsigned want, const unsigned *cand,
    size_t n, CK_RV *refused_rv)
{
	unsigned removed = 0;
	CK_RV	 rv;

	for (size_t k = 0; k < n; k++) {
		removed |= 1u << cand[k];
		switch (ask(s, want & ~removed, &rv)) {
		case KEYGEN_MADE:
			return (int)k;
		case KEYGEN_REFUSED:
			*refused_rv = rv;
			break;
		case KEYGEN_FAILED:
			s->res->rv = rv;
			return ATTEMPT_FAILED;
		}
	}
	s->res->rv = *refused_rv;
	return ALL_REFUSED;
}

/* keygen_search - the template the token takes, dropping only refusals */
int
keygen_search(unsigned all, const unsigned *order, size_t n,
    keygen_attempt_fn attempt, void *ctx, struct keygen_search_result *res)
{
	struct search s = { attempt, ctx, res, 0 };
	unsigned cand[KEYGEN_SEARCH_ITEMS], want = all;
	CK_RV	 rv, before;
	int	 k;

	memset(res, 0, sizeof(*res));
	if (n > KEYGEN_SEARCH_ITEMS)
		n = KEYGEN_SEARCH_ITEMS;
	memcpy(cand, order, n * sizeof(*cand));
	for (;;) {
		switch (ask(&s, want, &rv)) {
		case KEYGEN_MADE:
			return 0;
		case KEYGEN_FAILED:
			res->rv = rv;
			return -1;
		case KEYGEN_REFUSED:
			break;
		}
		before = rv;
		if ((k = drop_until_taken(&s, want, cand, n, &before)) < 0)
			return k == ALL_REFUSED ? 1 : -1;
		want &= ~(1u << cand[k]);
		res->dropped |= 1u << cand[k];
		res->why[cand[k]] = before;
		if ((n = (size_t)k) == 0)
			return 0;	/* the key made has exactly want */
	}
}
