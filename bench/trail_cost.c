/*
 * trail_cost.c - the CPU that the signing trail and a quota add to one
 * signature, measured alone, for bench/trail_bench.sh.
 *
 *   trail_cost [-n RECORDS] DIR
 *
 * In DIR (an empty folder), with daemon/trail.c's writer as the signer
 * runs it (trail-sync 1, 64 files open), one thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID, system calls included) per record:
 *   one     every record for one institution (its file stays open);
 *   spread  records for 1,000 institutions in turn: every record opens
 *           a file and closes another (the worst case of many
 *           institutions: no file is ever found open);
 *   quota   what the signer does per request for a quota: lock the
 *           institution's bucket, read the clocks, take, unlock.
 * The record is shaped like a real one (a Message-ID, a client, bh=).
 * Last line: "result: one_us=... spread_us=... quota_us=...".  Exit 1 on
 * a usage error or a record that cannot be written.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/quota.h"
#include "p11dkim/trail.h"
#include "bench_util.h"

#define SPREAD	1000

/* thread_cpu - this thread's CPU seconds */
static double
thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* record - a record like the signer's, for institution number i */
static void
record(struct trail_record *r, unsigned i)
{
	memset(r, 0, sizeof(*r));
	r->t = (int64_t)time(NULL);
	r->size = 4096;
	snprintf(r->inst, sizeof(r->inst), "inst%u", i);
	snprintf(r->front, sizeof(r->front), "native");
	snprintf(r->client, sizeof(r->client), "uid=1000");
	snprintf(r->d, sizeof(r->d), "institution%u.example.org", i);
	snprintf(r->s, sizeof(r->s), "stxsel1");
	snprintf(r->a, sizeof(r->a), "rsa-sha256");
	snprintf(r->bh, sizeof(r->bh), "QO0fB3ZyW/AQ0gChLynH0NCYBKUEBHOsBcyA3s2PLx8=");
	memset(r->bhash, 'a', TRAIL_BHASH_LEN);
	snprintf(r->msgid, sizeof(r->msgid), "20261203163720.4711@mailer.example.org");
}

/* writes - n records over `spread` institutions; CPU us per record */
static double
writes(const char *dir, unsigned long n, unsigned spread)
{
	struct trail_record r;
	struct trail *t;
	char	 err[256];
	double	 t0;

	if ((t = trail_new(dir, 1, 64, err, sizeof(err))) == NULL)
		bench_fatal("%s", err);
	t0 = thread_cpu();
	for (unsigned long i = 0; i < n; i++) {
		record(&r, (unsigned)(i % spread));
		if (trail_write(t, &r, err, sizeof(err)) < 0)
			bench_fatal("%s", err);
	}
	t0 = thread_cpu() - t0;
	trail_free(t);
	return t0 * 1e6 / (double)n;
}

/* quotas - n takes as the signer makes them; CPU us per take */
static double
quotas(unsigned long n)
{
	struct quota_limits l = { 1000000, 1000000, 1000000000 };
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct quota_now now;
	struct quota q;
	double	 t0;

	quota_clock(&now);
	quota_init(&q, &l, &now);
	t0 = thread_cpu();
	for (unsigned long i = 0; i < n; i++) {
		quota_clock(&now);
		pthread_mutex_lock(&mu);
		(void)quota_take(&q, QUOTA_ONLY, &now);
		pthread_mutex_unlock(&mu);
	}
	return (thread_cpu() - t0) * 1e6 / (double)n;
}

int
main(int argc, char **argv)
{
	unsigned long n = 200000;
	double	 one, spread, quota;
	int	 c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || (n = strtoul(optarg, NULL, 10)) == 0)
			bench_fatal("usage: trail_cost [-n RECORDS] DIR");
	}
	if (optind != argc - 1)
		bench_fatal("usage: trail_cost [-n RECORDS] DIR");
	one = writes(argv[optind], n, 1);
	spread = writes(argv[optind], n / 4 > SPREAD ? n / 4 : SPREAD, SPREAD);
	quota = quotas(n);
	printf("trail record, one institution:    %.2f us CPU\n", one);
	printf("trail record, %u institutions: %.2f us CPU\n", SPREAD, spread);
	printf("quota take:                        %.2f us CPU\n", quota);
	printf("result: one_us=%.2f spread_us=%.2f quota_us=%.2f\n", one, spread,
	    quota);
	return 0;
}
