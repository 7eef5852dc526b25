/*
 * inject.c - the faults applied around one call, in this order: a hang
 * (the call blocks while a hang rule matches it), the delays of all
 * matching delay rules added up, then an error (every error rule is
 * drawn, so each every= counter sees every call; the first that fires is
 * returned).  After the call, fault_corrupt flips a byte of a signature.
 *
 * Randomness: a xorshift64* generator per thread, seeded from
 * P11FAULT_SEED (or the clock) and the thread's order of first use;
 * statistical quality is all that is needed, not secrecy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11fault.h"

static _Thread_local uint64_t rng_state;
static atomic_ulong rng_streams;

/* rng_seed - a seed for this thread's generator */
static uint64_t
rng_seed(void)
{
	const char *s = getenv("P11FAULT_SEED");
	uint64_t x;
	struct timespec ts;

	if (s != NULL)
		x = strtoull(s, NULL, 10);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	/* splitmix64 over seed and stream: distinct, well-mixed states */
	x += (atomic_fetch_add(&rng_streams, 1) + 1) * 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	x ^= x >> 31;
	return x != 0 ? x : 1;
}

/* rng_next - 64 random bits */
static uint64_t
rng_next(void)
{
	uint64_t x = rng_state != 0 ? rng_state : rng_seed();

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1du;
}

/* rng_unit - uniform in [0, 1) */
static double
rng_unit(void)
{
	return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* applies - whether a rule of this kind is for this call */
static int
applies(struct fault_call *c, const struct rule *r, enum fault_kind kind)
{
	return r->kind == kind && (r->fn == c->fn || r->fn == FN_ANY) &&
	    target_matches(c, r);
}

/* fires - whether an applying rule acts on this call: its every= count,
 * its probability, or always */
static int
fires(struct rule *r)
{
	if (r->every != 0)
		return (atomic_fetch_add(&r->seen, 1) + 1) % r->every == 0;
	return r->p >= 1 || rng_unit() < r->p;
}

/* hang_matches - whether a hang rule holds the call now */
static int
hang_matches(struct fault_call *c)
{
	for (size_t i = 0; i < c->rs->n; i++)
		if (applies(c, &c->rs->rule[i], FAULT_HANG))
			return 1;
	return 0;
}

/* hang - block while a hang rule matches; -1 when C_Finalize released it */
static int
hang(struct fault_call *c)
{
	int	 hung = 0, rc = 0;

	while (c->rs != NULL && hang_matches(c)) {
		if (!hung) {
			hung = 1;
			stats_add(c->fn, ST_HUNG, 1);
			stats_add(c->fn, ST_HANGING, 1);
		}
		ruleset_put(c->rs);
		c->rs = NULL;
		if (control_wait() == -1) {
			rc = -1;
			break;
		}
		c->rs = control_rules();
	}
	if (hung)
		stats_add(c->fn, ST_HANGING, -1);
	return rc;
}

/* sleep_us - sleep for a while, whatever signals arrive */
static void
sleep_us(long long us)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += us / 1000000;
	until.tv_nsec += (us % 1000000) * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) ==
	    EINTR)
		;
}

/* delay_us - one delay rule's time: delay +- jitter, not below zero */
static long long
delay_us(const struct rule *r)
{
	long long us = (long long)r->delay_ms * 1000;

	if (r->jitter_ms != 0)
		us += (long long)((rng_unit() * 2 - 1) * (double)r->jitter_ms *
		    1000);
	return us > 0 ? us : 0;
}

/* delay - sleep for the sum of the delay rules that fire */
static void
delay(struct fault_call *c)
{
	long long us = 0;
	int	 any = 0;

	for (size_t i = 0; i < c->rs->n; i++) {
		struct rule *r = &c->rs->rule[i];

		if (applies(c, r, FAULT_DELAY) && fires(r)) {
			us += delay_us(r);
			any = 1;
		}
	}
	if (!any)
		return;
	stats_add(c->fn, ST_DELAYED, 1);
	stats_add(c->fn, ST_DELAY_MS, (long)((us + 500) / 1000));
	sleep_us(us);
}

/* draw_error - the error of the first error rule that fires, or CKR_OK */
static CK_RV
draw_error(struct fault_call *c)
{
	CK_RV	 rv = CKR_OK;

	for (size_t i = 0; i < c->rs->n; i++) {
		struct rule *r = &c->rs->rule[i];

		if (applies(c, r, FAULT_ERROR) && fires(r) && rv == CKR_OK)
			rv = r->error;
	}
	return rv;
}

/* fault_begin - count the call, hang and delay it, decide an error */
int
fault_begin(struct fault_call *c, int fn, CK_ULONG key, CK_RV *rv)
{
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->key = key;
	stats_add(fn, ST_CALLS, 1);
	if (p11fault_real == NULL) {
		*rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		return 1;
	}
	control_tick();
	if ((c->rs = control_rules()) == NULL || !c->rs->concerns[fn])
		return 0;
	if (hang(c) == -1) {
		*rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		return 1;
	}
	if (c->rs == NULL)
		return 0;
	delay(c);
	if ((*rv = draw_error(c)) == CKR_OK)
		return 0;
	c->injected = 1;
	stats_add(fn, ST_ERRORS, 1);
	return 1;
}

/* fault_end - release what fault_begin held */
CK_RV
fault_end(struct fault_call *c, CK_RV rv)
{
	ruleset_put(c->rs);
	c->rs = NULL;
	return rv;
}

/* fault_corrupt - flip a byte of a signature when a corrupt rule fires */
void
fault_corrupt(struct fault_call *c, CK_BYTE_PTR sig, CK_ULONG len)
{
	int	 flip = 0;

	if (c->rs == NULL || !c->rs->concerns[c->fn] || sig == NULL ||
	    len == 0)
		return;
	for (size_t i = 0; i < c->rs->n; i++) {
		struct rule *r = &c->rs->rule[i];

		if (applies(c, r, FAULT_CORRUPT) && fires(r))
			flip = 1;
	}
	if (!flip)
		return;
	sig[rng_next() % len] ^= (CK_BYTE)(1 + rng_next() % 255);
	stats_add(c->fn, ST_CORRUPTED, 1);
}
