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
