/*
 * quota.h - a signing quota: a token bucket (a rate in messages a second
 * and a bucket size, the burst) and a cap on the messages of a UTC day.
 * Pure code: the caller passes the time (struct quota_now), so tests
 * drive the clock; not thread-safe (the caller locks).
 *
 * A message is one unit.  A message signed twice (dual signing) asks
 * twice: its first request takes the unit and leaves a credit, its
 * second spends the credit; a second request without a credit is
 * charged like a message, so that asking for second signatures alone
 * gets no more than a message's worth each.
 *
 * Limits of 0 mean no limit.  A change of limits keeps what is in the
 * bucket (clamped to the new burst) and what the day has counted.
 */
#ifndef P11DKIM_QUOTA_H
#define P11DKIM_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#define QUOTA_RATE_MAX		1000000		/* messages a second */
#define QUOTA_BURST_MAX		1000000		/* messages in the bucket */
#define QUOTA_DAILY_MAX		1000000000	/* messages a day */
#define QUOTA_CREDITS_MAX	4096		/* second requests paid for */

struct quota_limits {
	uint32_t rate;			/* messages a second; 0: none */
	uint32_t burst;			/* the bucket's size; 0: the rate */
	uint32_t daily_cap;		/* messages a UTC day; 0: none */
};

/* The time, as the caller reads it (quota_clock) or a test sets it. */
struct quota_now {
	uint64_t mono_ns;		/* a monotonic clock */
	int64_t	 utc;			/* seconds since the epoch */
};

/* What a request asks for. */
enum quota_role {
	QUOTA_ONLY = 0,			/* the one signature of a message */
	QUOTA_FIRST,			/* the first of two */
	QUOTA_SECOND			/* the second of two */
};

enum quota_result {
	QUOTA_TAKEN = 0,		/* a unit taken (or no limit) */
	QUOTA_CREDIT,			/* a second request's credit spent */
	QUOTA_OVER_RATE,		/* refused: the bucket is empty */
	QUOTA_OVER_DAILY		/* refused: the day's cap is reached */
};

struct quota {
	struct quota_limits lim;	/* burst never 0 when rate is not */
	uint64_t level;			/* in the bucket, in micro-messages */
	uint64_t last_ns;		/* when it was last filled */
	int64_t	 day;			/* the UTC day that today counts */
	uint32_t today;			/* messages of that day */
	uint32_t credits;		/* second requests paid for */
};

/* quota_limits_fix - burst 0 with a rate means burst = rate */
void	quota_limits_fix(struct quota_limits *);

/* quota_limits_ok - each value in its range, a burst only with a rate */
int	quota_limits_ok(const struct quota_limits *);

/* quota_unlimited - no limit at all? */
int	quota_unlimited(const struct quota_limits *);

/* quota_init - a full bucket with these limits, nothing counted today */
void	quota_init(struct quota *, const struct quota_limits *,
	    const struct quota_now *);

/*
 * quota_set - new limits: the bucket keeps its level (clamped to the new
 * burst; full when there was no rate before), the day its count
 */
void	quota_set(struct quota *, const struct quota_limits *,
	    const struct quota_now *);

/* quota_take - may a request with this role go?  See enum quota_result */
enum quota_result quota_take(struct quota *, enum quota_role,
	    const struct quota_now *);

/*
 * quota_give_back - a request that quota_take let go made no signature:
 * what it took (result) goes back
 */
void	quota_give_back(struct quota *, enum quota_role, enum quota_result,
	    const struct quota_now *);

/*
 * quota_reason - why a request was refused, for the client: "rate limit:
 * institution mosa over 5 messages/s (burst 10); retry later"
 */
void	quota_reason(const struct quota *, enum quota_result, const char *who,
	    char *out, size_t len);

/* quota_clock - the time now (CLOCK_MONOTONIC and the UTC clock) */
void	quota_clock(struct quota_now *);

#endif
