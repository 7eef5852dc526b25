/*
 * clock.c - small time helpers (see include/p11dkim/clock.h).
 */
#include "p11dkim/clock.h"

/* clock_deadline - now + ms on CLOCK_REALTIME, for pthread_cond_timedwait */
struct timespec
clock_deadline(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* clock_left_ms - milliseconds until a clock_deadline(), 0 once past */
unsigned
clock_left_ms(const struct timespec *until)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_REALTIME, &now);
	ms = (long long)(until->tv_sec - now.tv_sec) * 1000 +
	    (until->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (unsigned)ms : 0;
}

/* clock_mono_ns - CLOCK_MONOTONIC in nanoseconds */
uint64_t
clock_mono_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}
