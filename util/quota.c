/*
 * quota.c - a token bucket and a daily cap (see include/p11dkim/quota.h).
 *
 * The bucket counts in micro-messages, so that a rate of one message a
 * second refills by a millionth every microsecond, in integers: no float
 * drifts, and a rate and burst of at most QUOTA_*_MAX never overflow.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "p11dkim/clock.h"
#include "p11dkim/quota.h"

#define UNIT		1000000ULL	/* micro-messages in a message */
#define DAY_S		86400

/* full - the bucket's size, in micro-messages */
static uint64_t
full(const struct quota *q)
{
	return (uint64_t)q->lim.burst * UNIT;
}

/* utc_day - the day number of a UTC time */
static int64_t
utc_day(int64_t utc)
{
	return utc >= 0 ? utc / DAY_S : -((-utc + DAY_S - 1) / DAY_S);
}

/*
 * refill - what the rate put in since the last fill.  Once the time
 * gone by is enough to fill the bucket, it is full, which bounds the
 * product below: dt * rate < (need / rate + 2) * 1000 * rate.
 */
static void
refill(struct quota *q, uint64_t now)
{
	uint64_t dt, need;

	if (now <= q->last_ns)
		return;
	dt = now - q->last_ns;
	q->last_ns = now;
	if (q->lim.rate == 0 || q->level >= full(q))
		return;
	need = full(q) - q->level;
	if (dt / 1000 >= need / q->lim.rate + 1)
		q->level = full(q);
	else if ((q->level += dt * q->lim.rate / 1000) > full(q))
		q->level = full(q);
}

/* new_day - a new UTC day starts its count at 0 */
static void
new_day(struct quota *q, int64_t utc)
{
	int64_t	 day = utc_day(utc);

	if (day != q->day) {
		q->day = day;
		q->today = 0;
	}
}

/* quota_limits_fix - burst 0 with a rate means burst = rate */
void
quota_limits_fix(struct quota_limits *l)
{
	if (l->rate > 0 && l->burst == 0)
		l->burst = l->rate;
	if (l->rate == 0)
		l->burst = 0;
}

/* quota_limits_ok - each value in its range, a burst only with a rate */
int
quota_limits_ok(const struct quota_limits *l)
{
	return l->rate <= QUOTA_RATE_MAX && l->burst <= QUOTA_BURST_MAX &&
	    l->daily_cap <= QUOTA_DAILY_MAX && (l->burst == 0 || l->rate > 0);
}

/* quota_unlimited - no limit at all? */
int
quota_unlimited(const struct quota_limits *l)
{
	return l->rate == 0 && l->daily_cap == 0;
}

/* quota_init - a full bucket with these limits, nothing counted today */
void
quota_init(struct quota *q, const struct quota_limits *l,
    const struct quota_now *now)
{
	memset(q, 0, sizeof(*q));
	q->lim = *l;
	quota_limits_fix(&q->lim);
	q->level = full(q);
	q->last_ns = now->mono_ns;
	q->day = utc_day(now->utc);
}

/* quota_set - new limits, keeping the level (clamped) and the day's count */
void
quota_set(struct quota *q, const struct quota_limits *l,
    const struct quota_now *now)
{
	int	 had_rate = q->lim.rate > 0;

	refill(q, now->mono_ns);
	q->lim = *l;
	quota_limits_fix(&q->lim);
	if (!had_rate || q->level > full(q))
		q->level = full(q);
	q->last_ns = now->mono_ns;
	if (q->lim.rate == 0 || quota_unlimited(&q->lim))
		q->credits = 0;
}

/* charge - a message's unit: the day's cap first, then the bucket */
static enum quota_result
charge(struct quota *q, const struct quota_now *now)
{
	new_day(q, now->utc);
	if (q->lim.daily_cap > 0 && q->today >= q->lim.daily_cap)
		return QUOTA_OVER_DAILY;
	refill(q, now->mono_ns);
	if (q->lim.rate > 0 && q->level < UNIT)
		return QUOTA_OVER_RATE;
	if (q->lim.rate > 0)
		q->level -= UNIT;
	if (q->lim.daily_cap > 0)
		q->today++;
	return QUOTA_TAKEN;
}

/* quota_take - may a request with this role go? */
enum quota_result
quota_take(struct quota *q, enum quota_role role, const struct quota_now *now)
{
	enum quota_result r;

	if (quota_unlimited(&q->lim))
		return QUOTA_TAKEN;
	if (role == QUOTA_SECOND && q->credits > 0) {
		q->credits--;
		return QUOTA_CREDIT;
	}
	r = charge(q, now);
	if (r == QUOTA_TAKEN && role == QUOTA_FIRST &&
	    q->credits < QUOTA_CREDITS_MAX)
		q->credits++;
	return r;
}

/* quota_give_back - what a request that made no signature took goes back */
void
quota_give_back(struct quota *q, enum quota_role role,
    enum quota_result taken, const struct quota_now *now)
{
	if (quota_unlimited(&q->lim))
		return;
	if (taken == QUOTA_CREDIT) {
		if (q->credits < QUOTA_CREDITS_MAX)
			q->credits++;
		return;
	}
	if (taken != QUOTA_TAKEN)
		return;
	refill(q, now->mono_ns);
	if (q->lim.rate > 0 && (q->level += UNIT) > full(q))
		q->level = full(q);
	new_day(q, now->utc);
	if (q->lim.daily_cap > 0 && q->today > 0)
		q->today--;
	if (role == QUOTA_FIRST && q->credits > 0)
		q->credits--;
}

/* quota_reason - why a request was refused, for the client */
void
quota_reason(const struct quota *q, enum quota_result r, const char *who,
    char *out, size_t len)
{
	if (r == QUOTA_OVER_DAILY)
		snprintf(out, len, "daily cap of %u reached for %s; resets at "
		    "00:00 UTC", q->lim.daily_cap, who);
	else if (r == QUOTA_OVER_RATE)
		snprintf(out, len, "rate limit: institution %s over %u "
		    "messages/s (burst %u); retry later", who, q->lim.rate,
		    q->lim.burst);
	else
		snprintf(out, len, "within quota");
}

/* quota_clock - the time now (CLOCK_MONOTONIC and the UTC clock) */
void
quota_clock(struct quota_now *now)
{
	now->mono_ns = clock_mono_ns();
	now->utc = (int64_t)time(NULL);
}
