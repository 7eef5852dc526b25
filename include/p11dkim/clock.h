/*
 * clock.h - small time helpers shared by the layers.
 */
#ifndef P11DKIM_CLOCK_H
#define P11DKIM_CLOCK_H

#include <stdint.h>
#include <time.h>

/* clock_deadline - now + ms on CLOCK_REALTIME, for pthread_cond_timedwait */
struct timespec clock_deadline(unsigned ms);

/* clock_left_ms - milliseconds until a clock_deadline(), 0 once past */
unsigned clock_left_ms(const struct timespec *until);

/* clock_mono_ns - CLOCK_MONOTONIC in nanoseconds */
uint64_t clock_mono_ns(void);

#endif
