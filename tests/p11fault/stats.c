/*
 * stats.c - the counters of the fault-injection module: per function,
 * calls and what was injected into them, and how often the control text
 * was read or refused.  Written as text to the file P11FAULT_STATS names
 * (see README.md beside this file), replaced by rename so a reader never
 * sees half a file.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "p11fault.h"

static const char *const stat_names[ST_COUNT] = {
	"calls", "errors", "corrupted", "delayed", "delay_ms", "hung",
	"hanging", "refused"
};

static atomic_long counts[FN_COUNT][ST_COUNT];
static atomic_ulong generation;		/* moves with every count */
static atomic_ulong written;		/* generation last written */
static atomic_long reads, rejections;
static char last_why[WHY_MAX];
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;

/* stats_add - count n events of a kind on a function */
void
stats_add(int fn, enum stat_kind kind, long n)
{
	atomic_fetch_add(&counts[fn][kind], n);
	atomic_fetch_add(&generation, 1);
}

/* stats_control - count a control text read or rejected, and why */
void
stats_control(int rejected, const char *why)
{
	atomic_fetch_add(rejected ? &rejections : &reads, 1);
	if (rejected) {
		pthread_mutex_lock(&stats_mu);
		snprintf(last_why, sizeof(last_why), "%s", why);
		pthread_mutex_unlock(&stats_mu);
	}
	atomic_fetch_add(&generation, 1);
}

/* stats_changed - whether a count moved since the last stats_write */
int
stats_changed(void)
{
	return atomic_load(&generation) != atomic_load(&written);
}

/* print_function - one function's line, when it was called */
static void
print_function(FILE *f, int fn)
{
	if (atomic_load(&counts[fn][ST_CALLS]) == 0)
		return;
	fputs(fn_name(fn), f);
	for (int k = 0; k < ST_COUNT; k++)
		fprintf(f, " %s=%ld", stat_names[k],
		    atomic_load(&counts[fn][k]));
	fputc('\n', f);
}

/* print_all - every line of the counters */
static void
print_all(FILE *f)
{
	fputs("# p11fault counters\n", f);
	for (int fn = 0; fn < FN_COUNT; fn++)
		print_function(f, fn);
	fprintf(f, "control reads=%ld rejected=%ld\n", atomic_load(&reads),
	    atomic_load(&rejections));
	if (last_why[0] != '\0')
		fprintf(f, "rejected: %s\n", last_why);
}

/* write_file - the counters to path, through a temporary and rename */
static int
write_file(const char *path)
{
	char	 tmp[PATH_MAX];
	FILE	*f;
	int	 n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp) || (f = fopen(tmp, "w")) == NULL)
		return -1;
	print_all(f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}

/* stats_write - the counters to path ("-": stderr) */
int
stats_write(const char *path)
{
	unsigned long gen;
	int	 rc = 0;

	pthread_mutex_lock(&stats_mu);
	gen = atomic_load(&generation);
	if (strcmp(path, "-") == 0)
		print_all(stderr);
	else if ((rc = write_file(path)) == -1)
		fprintf(stderr, "p11fault: %s: cannot write the counters\n",
		    path);
	atomic_store(&written, gen);
	pthread_mutex_unlock(&stats_mu);
	return rc;
}
