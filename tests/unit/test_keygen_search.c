/*
 * test_keygen_search.c - pkcs11/keygen_search.c against fake tokens that
 * refuse some items, or pairs of items, or fail: only refused items are
 * dropped, each with the token's own reason; keys made while searching
 * are all replaced but the last; a failure stops the search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/keygen_search.h"

#define ITEMS	10
#define FIXED	(1u << 12)	/* an item that is never movable */
#define BIT(i)	(1u << (i))

/* A fake token: what it refuses, and what it holds. */
struct fake {
	unsigned refused;		/* items refused alone */
	CK_RV	 reason[ITEMS];		/* and why */
	unsigned pair;			/* refused only together (two bits) */
	int	 fail_at;		/* this attempt fails (1-based), or 0 */
	int	 calls;
	int	 keys;			/* keys on the token */
	unsigned seen[64];		/* templates tried, in order */
};

/* attempt - the fake token's answer to a template */
static enum keygen_answer
attempt(void *ctx, unsigned set, CK_RV *rv)
{
	struct fake *f = ctx;

	assert_true(set & FIXED);	/* fixed items are never dropped */
	f->seen[f->calls++] = set;
	if (f->calls == f->fail_at) {
		*rv = CKR_DEVICE_REMOVED;
		return KEYGEN_FAILED;
	}
	for (int i = 0; i < ITEMS; i++)
		if (set & f->refused & BIT(i)) {
			*rv = f->reason[i];
			return KEYGEN_REFUSED;
		}
	if (f->pair != 0 && (set & f->pair) == f->pair) {
		*rv = CKR_TEMPLATE_INCONSISTENT;
		return KEYGEN_REFUSED;
	}
	*rv = CKR_OK;
	f->keys = 1;			/* the new key replaces the kept one */
	return KEYGEN_MADE;
}

static const unsigned order[ITEMS] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
#define ALL	(FIXED | 0x3ffu)

/* run - search on f with every item movable */
static int
run(struct fake *f, struct keygen_search_result *res)
{
	return keygen_search(ALL, order, ITEMS, attempt, f, res);
}

/* test_all_taken - one attempt, nothing dropped */
static void
test_all_taken(void **state)
{
	struct fake f = { 0 };
	struct keygen_search_result res;

	(void)state;
	assert_int_equal(run(&f, &res), 0);
	assert_int_equal(res.kept, ALL);
	assert_int_equal(res.dropped, 0);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(res.made, 1);
}

/* test_refusals - refused items alone are dropped, each with its reason */
static void
test_refusals(void **state)
{
	static const struct {
		unsigned refused;
		unsigned max_made;
	} cases[] = {
		{ BIT(0), 1 }, { BIT(9), 2 }, { BIT(4), 2 },
		{ BIT(0) | BIT(1), 1 },		/* like openCryptoki */
		{ BIT(1) | BIT(3), 3 },
		{ BIT(0) | BIT(9), 2 },
		{ BIT(2) | BIT(5) | BIT(7), 4 },
		{ 0x3ff, 1 },			/* every movable item */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fake f = { 0 };
		struct keygen_search_result res;

		f.refused = cases[c].refused;
		for (int i = 0; i < ITEMS; i++)
			f.reason[i] = i % 2 ? CKR_ATTRIBUTE_TYPE_INVALID :
			    CKR_GENERAL_ERROR;
		assert_int_equal(run(&f, &res), 0);
		assert_int_equal(res.dropped, cases[c].refused);
		assert_int_equal(res.kept, ALL & ~cases[c].refused);
		for (int i = 0; i < ITEMS; i++)
			if (cases[c].refused & BIT(i))
				assert_int_equal(res.why[i], f.reason[i]);
		assert_true(res.made >= 1 && res.made <= cases[c].max_made);
		assert_int_equal(f.keys, 1);
		assert_int_equal(res.attempts, (unsigned)f.calls);
	}
}

/* test_pair - two items refused only together: the first in order goes */
static void
test_pair(void **state)
{
	struct fake f = { 0 };
	struct keygen_search_result res;

	(void)state;
	f.pair = BIT(2) | BIT(6);
	assert_int_equal(run(&f, &res), 0);
	assert_int_equal(res.dropped, BIT(2));	/* the first one in order */
	assert_int_equal(res.why[2], CKR_TEMPLATE_INCONSISTENT);
	assert_int_equal(res.kept, ALL & ~BIT(2));
}

/* test_fixed_refused - no template without the movable items works */
static void
test_fixed_refused(void **state)
{
	struct fake f = { 0 };
	struct keygen_search_result res;
	unsigned none[1] = { 0 };

	(void)state;
	f.refused = BIT(0);
	f.reason[0] = CKR_ATTRIBUTE_VALUE_INVALID;
	/* strict: nothing movable */
	assert_int_equal(keygen_search(ALL, none, 0, attempt, &f, &res), 1);
	assert_int_equal(res.rv, CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(res.made, 0);
	/* the refused item is not among the movable ones */
	memset(&f, 0, sizeof(f));
	f.refused = BIT(0);
	f.reason[0] = CKR_GENERAL_ERROR;
	assert_int_equal(keygen_search(ALL, order + 1, ITEMS - 1, attempt, &f,
	    &res), 1);
	assert_int_equal(res.rv, CKR_GENERAL_ERROR);
	assert_int_equal(res.made, 0);
	assert_int_equal(res.attempts, ITEMS);
}

/* test_failure - an error no template can help stops the search */
static void
test_failure(void **state)
{
	struct fake f = { 0 };
	struct keygen_search_result res;

	(void)state;
	f.fail_at = 1;
	assert_int_equal(run(&f, &res), -1);
	assert_int_equal(res.rv, CKR_DEVICE_REMOVED);
	assert_int_equal(res.attempts, 1);
	/* after a key was made: the caller still holds it, and is told */
	memset(&f, 0, sizeof(f));
	f.refused = BIT(1) | BIT(3);
	f.reason[1] = f.reason[3] = CKR_ATTRIBUTE_TYPE_INVALID;
	f.fail_at = 6;
	assert_int_equal(run(&f, &res), -1);
	assert_int_equal(res.rv, CKR_DEVICE_REMOVED);
	assert_int_equal(res.made, 1);
}

/* test_order - the first try is the whole set, then drops in order */
static void
test_order(void **state)
{
	struct fake f = { 0 };
	struct keygen_search_result res;

	(void)state;
	f.refused = BIT(1);
	f.reason[1] = CKR_ATTRIBUTE_TYPE_INVALID;
	assert_int_equal(run(&f, &res), 0);
	assert_int_equal(f.calls, 4);
	assert_int_equal(f.seen[0], ALL);
	assert_int_equal(f.seen[1], ALL & ~BIT(0));
	assert_int_equal(f.seen[2], ALL & ~(BIT(0) | BIT(1)));
	/* item 0 is put back: a second key replaces the first */
	assert_int_equal(f.seen[3], ALL & ~BIT(1));
	assert_int_equal(f.keys, 1);
	assert_int_equal(res.made, 2);
	assert_int_equal(res.kept, ALL & ~BIT(1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_taken),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_fixed_refused),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
