/*
 * bench_util.h - what the benchmark programs share: a fatal message, the
 * clocks, series of latencies with percentiles, number options.  Private
 * to bench/.
 */
#ifndef P11DKIM_BENCH_UTIL_H
#define P11DKIM_BENCH_UTIL_H

#include <stddef.h>

struct series {
	double	*v;		/* milliseconds */
	size_t	 n, cap;
};

/* bench_fatal - "program: message" on stderr, exit 1 */
void	bench_fatal(const char *, ...)
	    __attribute__((__noreturn__, __format__(__printf__, 1, 2)));

/* bench_now - seconds on the monotonic clock */
double	bench_now(void);

/* bench_sleep_until - until the monotonic clock (bench_now) reads t */
void	bench_sleep_until(double t);

/* bench_cpu_s - CPU seconds (user and system) of the process so far */
double	bench_cpu_s(void);

/* series_add - one more value */
void	series_add(struct series *, double);

/* series_merge - append every value of from to into */
void	series_merge(struct series *into, const struct series *from);

/* series_sort - sort, for percentile */
void	series_sort(struct series *);

/* series_percentile - nearest rank of a sorted series; 0 when empty */
double	series_percentile(const struct series *, double p);

/* series_release - free the values */
void	series_release(struct series *);

/* bench_arg_double - an option's number in [min, max]; usage() when not */
double	bench_arg_double(const char *, double min, double max,
	    void (*usage)(void));

#endif
