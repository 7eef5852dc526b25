/*
 * bench_util.c - what the benchmark programs share (see bench_util.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"

/* bench_fatal - "program: message" on stderr, exit 1 */
void
bench_fatal(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* bench_now - seconds on the monotonic clock */
double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bench_cpu_s - CPU seconds (user and system) of the process so far */
double
bench_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* series_add - one more value */
void
series_add(struct series *s, double v)
{
	double	*nv;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		if ((nv = realloc(s->v, s->cap * sizeof(*nv))) == NULL)
			bench_fatal("out of memory for %zu latencies", s->cap);
		s->v = nv;
	}
	s->v[s->n++] = v;
}

/* series_merge - append every value of from to into */
void
series_merge(struct series *into, const struct series *from)
{
	for (size_t i = 0; i < from->n; i++)
		series_add(into, from->v[i]);
}

/* cmp_double - for qsort */
static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* series_sort - sort, for series_percentile */
void
series_sort(struct series *s)
{
	if (s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), cmp_double);
}

/* series_percentile - nearest rank of a sorted series; 0 when empty */
double
series_percentile(const struct series *s, double p)
{
	double	 want = p / 100 * (double)s->n;
	size_t	 rank = (size_t)want;

	if (s->n == 0)
		return 0;
	if ((double)rank < want)
		rank++;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank > 0 ? rank - 1 : 0];
}

/* series_release - free the values */
void
series_release(struct series *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* bench_arg_double - an option's number in [min, max]; usage() when not */
double
bench_arg_double(const char *s, double min, double max, void (*usage)(void))
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= min && v <= max))
		usage();
	return v;
}

/* bench_sleep_until - until the monotonic clock (bench_now) reads t */
void
bench_sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}
