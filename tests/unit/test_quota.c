/*
 * test_quota.c - util/quota.c: the token bucket and the daily cap on an
 * injected clock: a burst, the refill at the rate, the cap and the new
 * UTC day, one unit for a message signed twice, new limits that keep the
 * bucket's level, what a failed request gives back, the reasons.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/quota.h"

#define SEC	1000000000ULL
#define NOON	(int64_t)(20000 * 86400 + 43200)	/* a day at 12:00 UTC */

/* taken - how many of n requests with a role quota_take lets go */
static unsigned
taken(struct quota *q, unsigned n, enum quota_role role,
    const struct quota_now *now)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		enum quota_result r = quota_take(q, role, now);

		ok += r == QUOTA_TAKEN || r == QUOTA_CREDIT;
	}
	return ok;
}

/* test_burst_then_rate - burst 5 at once, then one a second */
static void
test_burst_then_rate(void **state)
{
	struct quota_limits l = { 1, 5, 0 };
	struct quota_now now = { 7 * SEC, NOON };
	struct quota q;

	(void)state;
	quota_init(&q, &l, &now);
	assert_int_equal(taken(&q, 8, QUOTA_ONLY, &now), 5);
	assert_int_equal(quota_take(&q, QUOTA_ONLY, &now), QUOTA_OVER_RATE);
	now.mono_ns += SEC / 2;
	assert_int_equal(taken(&q, 1, QUOTA_ONLY, &now), 0);
	now.mono_ns += SEC / 2;
	assert_int_equal(taken(&q, 3, QUOTA_ONLY, &now), 1);
	now.mono_ns += 3 * SEC;
	assert_int_equal(taken(&q, 5, QUOTA_ONLY, &now), 3);
	/* Idle for long: the bucket holds its burst, no more. */
	now.mono_ns += 100000 * SEC;
	assert_int_equal(taken(&q, 9, QUOTA_ONLY, &now), 5);
}

/* test_fast_rate - a high rate refills by fractions of a second */
static void
test_fast_rate(void **state)
{
	struct quota_limits l = { 1000, 10, 0 };
	struct quota_now now = { 0, NOON };
	struct quota q;

	(void)state;
	quota_init(&q, &l, &now);
	assert_int_equal(taken(&q, 20, QUOTA_ONLY, &now), 10);
	now.mono_ns += SEC / 1000 * 3;		/* 3 ms: 3 messages */
	assert_int_equal(taken(&q, 20, QUOTA_ONLY, &now), 3);
	/* The largest limits, after a very long idle time: no overflow. */
	l.rate = QUOTA_RATE_MAX;
	l.burst = QUOTA_BURST_MAX;
	quota_set(&q, &l, &now);
	now.mono_ns = UINT64_MAX / 2;
	assert_int_equal(taken(&q, QUOTA_BURST_MAX + 5, QUOTA_ONLY, &now),
	    QUOTA_BURST_MAX);
}

/* test_daily_cap - the cap, and a new UTC day starting from 0 */
static void
test_daily_cap(void **state)
{
	struct quota_limits l = { 0, 0, 3 };
	struct quota_now now = { 0, NOON };
	struct quota q;

	(void)state;
	quota_init(&q, &l, &now);
	assert_int_equal(taken(&q, 3, QUOTA_ONLY, &now), 3);
	assert_int_equal(quota_take(&q, QUOTA_ONLY, &now), QUOTA_OVER_DAILY);
	now.utc += 43199;			/* 23:59:59 */
	assert_int_equal(taken(&q, 1, QUOTA_ONLY, &now), 0);
	now.utc += 1;				/* 00:00:00 the next day */
	assert_int_equal(taken(&q, 5, QUOTA_ONLY, &now), 3);
}

/* test_cap_and_rate - a refusal by the rate does not count for the day */
static void
test_cap_and_rate(void **state)
{
	struct quota_limits l = { 1, 2, 3 };
	struct quota_now now = { 0, NOON };
	struct quota q;

	(void)state;
	quota_init(&q, &l, &now);
	assert_int_equal(taken(&q, 6, QUOTA_ONLY, &now), 2);
	now.mono_ns += 10 * SEC;
	assert_int_equal(taken(&q, 1, QUOTA_ONLY, &now), 1);
	assert_int_equal(quota_take(&q, QUOTA_ONLY, &now), QUOTA_OVER_DAILY);
}

/* test_dual_one_unit - a message signed twice takes one unit */
static void
test_dual_one_unit(void **state)
{
	struct quota_limits l = { 1, 3, 0 };
	struct quota_now now = { 0, NOON };
	struct quota q;

	(void)state;
	quota_init(&q, &l, &now);
	for (int m = 0; m < 3; m++) {
		assert_int_equal(quota_take(&q, QUOTA_FIRST, &now), QUOTA_TAKEN);
		assert_int_equal(quota_take(&q, QUOTA_SECOND, &now),
		    QUOTA_CREDIT);
	}
	assert_int_equal(quota_take(&q, QUOTA_FIRST, &now), QUOTA_OVER_RATE);
	/* Second requests alone are charged like messages. */
	now.mono_ns += 2 * SEC;
	assert_int_equal(taken(&q, 5, QUOTA_SECOND, &now), 2);
}

/* test_new_limits_keep_level - a changed quota keeps what was spent */
static void
test_new_limits_keep_level(void **state)
{
	struct quota_limits l = { 1, 10, 0 };
	struct quota_now now = { 0, NOON };
	struct quota q;

	(void)state;
	quota_init(&q, &l, &now);
	assert_int_equal(taken(&q, 8, QUOTA_ONLY, &now), 8);
	l.burst = 5;				/* 2 left: kept */
	quota_set(&q, &l, &now);
	assert_int_equal(taken(&q, 5, QUOTA_ONLY, &now), 2);
	now.mono_ns += 100 * SEC;		/* full: the new burst */
	assert_int_equal(taken(&q, 9, QUOTA_ONLY, &now), 5);
	l.burst = 50;				/* a larger one: not filled */
	quota_set(&q, &l, &now);
	assert_int_equal(taken(&q, 1, QUOTA_ONLY, &now), 0);
	/* From no rate to a rate: a full bucket. */
	l = (struct quota_limits){ 0, 0, 0 };
	quota_set(&q, &l, &now);
	assert_int_equal(taken(&q, 100, QUOTA_ONLY, &now), 100);
	l = (struct quota_limits){ 2, 4, 0 };
	quota_set(&q, &l, &now);
	assert_int_equal(taken(&q, 9, QUOTA_ONLY, &now), 4);
}

/* test_give_back - a request that made no signature costs nothing */
static void
test_give_back(void **state)
{
	struct quota_limits l = { 1, 2, 2 };
	struct quota_now now = { 0, NOON };
	struct quota q;
	enum quota_result r;

	(void)state;
	quota_init(&q, &l, &now);
	for (int i = 0; i < 5; i++) {
		r = quota_take(&q, QUOTA_ONLY, &now);
		assert_int_equal(r, QUOTA_TAKEN);
		quota_give_back(&q, QUOTA_ONLY, r, &now);
	}
	r = quota_take(&q, QUOTA_FIRST, &now);
	quota_give_back(&q, QUOTA_FIRST, r, &now);
	assert_int_equal(q.credits, 0);
	assert_int_equal(taken(&q, 5, QUOTA_ONLY, &now), 2);
	/* A refusal gives nothing back. */
	r = quota_take(&q, QUOTA_ONLY, &now);
	quota_give_back(&q, QUOTA_ONLY, r, &now);
	assert_int_equal(quota_take(&q, QUOTA_ONLY, &now), QUOTA_OVER_DAILY);
}

/* test_limits - ranges, a burst without a rate, the default burst */
static void
test_limits(void **state)
{
	struct quota_limits l = { 5, 0, 0 };

	(void)state;
	assert_true(quota_limits_ok(&l));
	quota_limits_fix(&l);
	assert_int_equal(l.burst, 5);
	l = (struct quota_limits){ 0, 3, 0 };
	assert_false(quota_limits_ok(&l));
	l = (struct quota_limits){ QUOTA_RATE_MAX + 1, 1, 0 };
	assert_false(quota_limits_ok(&l));
	l = (struct quota_limits){ 1, QUOTA_BURST_MAX + 1, 0 };
	assert_false(quota_limits_ok(&l));
	l = (struct quota_limits){ 0, 0, QUOTA_DAILY_MAX + 1 };
	assert_false(quota_limits_ok(&l));
	l = (struct quota_limits){ 0, 0, 0 };
	assert_true(quota_limits_ok(&l));
	assert_true(quota_unlimited(&l));
}

/* test_reasons - what the client reads */
static void
test_reasons(void **state)
{
	struct quota_limits l = { 5, 10, 1000 };
	struct quota_now now = { 0, NOON };
	struct quota q;
	char	 why[192];

	(void)state;
	quota_init(&q, &l, &now);
	quota_reason(&q, QUOTA_OVER_RATE, "mosa", why, sizeof(why));
	assert_string_equal(why, "rate limit: institution mosa over 5 "
	    "messages/s (burst 10); retry later");
	quota_reason(&q, QUOTA_OVER_DAILY, "mosa", why, sizeof(why));
	assert_string_equal(why, "daily cap of 1000 reached for mosa; "
	    "resets at 00:00 UTC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_fast_rate),
		cmocka_unit_test(test_daily_cap),
		cmocka_unit_test(test_cap_and_rate),
		cmocka_unit_test(test_dual_one_unit),
		cmocka_unit_test(test_new_limits_keep_level),
		cmocka_unit_test(test_give_back),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
