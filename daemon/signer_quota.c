/*
 * signer_quota.c - the signer's quotas: one bucket per institution code
 * (see signer_int.h), shared by every table that names the institution,
 * so that a reload keeps what each institution has spent; a table that
 * is loaded brings its institutions' limits.
 *
 * A bucket no table names any more stays, dormant, until dormant ones
 * are the larger part of the book; then they are freed together (a
 * removed institution added back in between finds its bucket as it was).
 */
#include <stdlib.h>
#include <string.h>

#include "p11dkim/strmap.h"
#include "signer_int.h"

#define COMPACT_MIN	16	/* dormant buckets worth a compaction */

struct bucket {
	pthread_mutex_t mu;		/* q and refused */
	struct quota q;
	uint32_t refused[2];		/* over the rate, over the daily cap */
	unsigned refs;			/* tables' keys (the registry's lock) */
	char	 code[CONF_CODE_MAX + 1];
};

struct quota_book {
	struct strmap *map;		/* code -> index in all */
	struct bucket **all;
	size_t	 n, cap;
	size_t	 dormant;		/* refs 0 */
};

/* quota_book_new - an empty book; NULL: no memory */
struct quota_book *
quota_book_new(void)
{
	struct quota_book *b = calloc(1, sizeof(*b));

	if (b != NULL && (b->map = strmap_new(16)) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

/* bucket_free - one bucket */
static void
bucket_free(struct bucket *k)
{
	pthread_mutex_destroy(&k->mu);
	free(k);
}

/* quota_book_free - every bucket; NULL is fine */
void
quota_book_free(struct quota_book *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		bucket_free(b->all[i]);
	free(b->all);
	strmap_free(b->map);
	free(b);
}

/*
 * compact - free the dormant buckets and map the others anew (the map
 * borrows their codes); left as it is when out of memory
 */
static void
compact(struct quota_book *b)
{
	struct strmap *map = strmap_new(b->n - b->dormant + 1);
	size_t	 live = 0;

	if (map == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		if (b->all[i]->refs > 0 && strmap_put(map, b->all[i]->code,
		    (uint32_t)live++, NULL) < 0) {
			strmap_free(map);
			return;
		}
	live = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->all[i]->refs > 0)
			b->all[live++] = b->all[i];
		else
			bucket_free(b->all[i]);
	}
	strmap_free(b->map);
	b->map = map;
	b->n = live;
	b->dormant = 0;
}

/* add - a new bucket for a spec's institution, with its limits */
static struct bucket *
add(struct quota_book *b, const struct keyspec *s, const struct quota_now *now)
{
	struct bucket *k, **grown;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;

		if ((grown = realloc(b->all, cap * sizeof(*grown))) == NULL)
			return NULL;
		b->all = grown;
		b->cap = cap;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	memcpy(k->code, s->code, sizeof(k->code));
	quota_init(&k->q, &s->quota, now);
	pthread_mutex_init(&k->mu, NULL);
	if (strmap_put(b->map, k->code, (uint32_t)b->n, NULL) != 0) {
		bucket_free(k);
		return NULL;
	}
	b->all[b->n++] = k;
	return k;
}

/* quota_book_get - the bucket of a spec's institution, referenced */
struct bucket *
quota_book_get(struct quota_book *b, const struct keyspec *s,
    const struct quota_now *now)
{
	struct bucket *k;
	uint32_t i;

	if (strmap_get(b->map, s->code, &i)) {
		k = b->all[i];
		if (k->refs++ == 0)
			b->dormant--;
		return k;
	}
	if (b->dormant >= COMPACT_MIN && 2 * b->dormant > b->n)
		compact(b);
	if ((k = add(b, s, now)) != NULL)
		k->refs = 1;
	return k;
}

/* quota_book_put - a reference less; NULL is fine */
void
quota_book_put(struct quota_book *b, struct bucket *k)
{
	if (k != NULL && --k->refs == 0)
		b->dormant++;
}

/* bucket_apply - a loaded table's limits for the institution */
void
bucket_apply(struct bucket *k, const struct quota_limits *l,
    const struct quota_now *now)
{
	pthread_mutex_lock(&k->mu);
	if (memcmp(&k->q.lim, l, sizeof(*l)) != 0)
		quota_set(&k->q, l, now);
	pthread_mutex_unlock(&k->mu);
}

/* bucket_take - may a request go?  0, or -1 with why (counted) */
int
bucket_take(struct bucket *k, enum quota_role role, enum quota_result *taken,
    char *why, size_t len)
{
	struct quota_now now;

	quota_clock(&now);
	pthread_mutex_lock(&k->mu);
	*taken = quota_take(&k->q, role, &now);
	if (*taken == QUOTA_OVER_RATE || *taken == QUOTA_OVER_DAILY) {
		k->refused[*taken == QUOTA_OVER_DAILY]++;
		quota_reason(&k->q, *taken, k->code, why, len);
	}
	pthread_mutex_unlock(&k->mu);
	return *taken == QUOTA_TAKEN || *taken == QUOTA_CREDIT ? 0 : -1;
}

/* bucket_give_back - a request that bucket_take let go made no signature */
void
bucket_give_back(struct bucket *k, enum quota_role role,
    enum quota_result taken)
{
	struct quota_now now;

	quota_clock(&now);
	pthread_mutex_lock(&k->mu);
	quota_give_back(&k->q, role, taken, &now);
	pthread_mutex_unlock(&k->mu);
}

/* bucket_refusals - requests refused: [0] over the rate, [1] the cap */
void
bucket_refusals(struct bucket *k, uint32_t out[2])
{
	pthread_mutex_lock(&k->mu);
	out[0] = k->refused[0];
	out[1] = k->refused[1];
	pthread_mutex_unlock(&k->mu);
}
