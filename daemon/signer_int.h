/*
 * signer_int.h - the inside of the signer: its keys and tokens (the
 * registry, signer_keys.c) and the tables that number them for the
 * fronts (signer_local.c), and the institutions' quotas
 * (signer_quota.c).  Private to those files.
 *
 * A key entry is one spec (include/p11dkim/keyspec.h) with what it has
 * on its token: the token entry it shares with the other keys of that
 * token, and, once opened, the key found and self-tested.  Entries are
 * kept across reloads as long as a table names them: an institution that
 * a reload does not change keeps its logged-in token and checked key.
 *
 * States of a key: NEW (not tried yet), OPENING (a thread logs in and
 * checks it), READY (signs), DOWN (failed: why says it; tried again from
 * next_try, with a back-off).  A token whose PIN was refused is not
 * logged in again until its PIN source changes.
 */
#ifndef P11DKIM_SIGNER_INT_H
#define P11DKIM_SIGNER_INT_H

#include <pthread.h>
#include <time.h>

#include "p11dkim/keyspec.h"
#include "p11dkim/quota.h"
#include "p11dkim/signer_local.h"
#include "p11dkim/token.h"
#include "p11dkim/trail.h"

#define SIGNER_WHY_MAX	(P11_ERR_MSG_MAX + 64)

enum key_state { KEY_NEW, KEY_OPENING, KEY_READY, KEY_DOWN };

struct tok_entry {
	struct keyspec spec;		/* token label, serial, PIN */
	struct token *tok;		/* NULL: not logged in */
	int	 opening;		/* a thread logs in now */
	char	 why[SIGNER_WHY_MAX];	/* why tok is NULL, when tried */
	time_t	 next_try;
	unsigned fails;			/* in a row */
	int	 pin_refused;		/* not tried until the PIN changes */
	int	 fresh;			/* made by the last table loaded */
	char	 pin_stamp[PIN_STAMP_MAX];	/* the refused PIN's source */
	unsigned refs;			/* key entries */
	struct tok_entry *hnext;
};

struct key_entry {
	struct keyspec spec;
	struct tok_entry *te;
	struct p11_key *key;		/* when READY */
	enum key_state state;
	char	 why[SIGNER_WHY_MAX];	/* when DOWN */
	time_t	 next_try;
	unsigned fails;			/* openings, or signatures, in a row */
	unsigned long bad_signatures;	/* the token's, caught */
	int	 queued;		/* waits for an opener thread */
	int	 fresh;			/* new in the last table loaded */
	int	 absent;		/* DOWN: the token has no such key */
	unsigned refs;			/* tables, and threads at work on it */
	struct key_entry *hnext, *qnext;
};

struct registry {
	const struct conf *conf;
	struct p11_module *mod;
	unsigned per_token;		/* sessions, so calls in flight */
	unsigned hang_ms;		/* a call this long: not answering */
	pthread_mutex_t mu;		/* everything here and in the entries */
	pthread_cond_t changed;		/* a key or token left OPENING */
	pthread_cond_t work;		/* the queue has work, or stop */
	pthread_cond_t tick;		/* the housekeeper's: stop */
	struct key_entry **keys;	/* hash buckets */
	struct tok_entry **toks;
	size_t	 nbuckets;
	struct key_entry *queue, *queue_tail;
	pthread_t *threads;		/* openers, and one housekeeper */
	unsigned nthreads;
	int	 stopping;
};

/* registry_init - load the module, start the threads; -1 and why */
int	registry_init(struct registry *, const struct conf *, char *err,
	    size_t errlen);

/*
 * registry_halt - stop the threads; tokens dropped from then on are freed
 * without closing their sessions (registry_stop's C_Finalize does)
 */
void	registry_halt(struct registry *);

/* registry_stop - stop the threads, free every token, finalize the module */
void	registry_stop(struct registry *);

/*
 * registry_get - the entry of a spec (locked): the one there is, or a
 * new one (NEW, queued for an opener); a reference is taken.  NULL when
 * out of memory.
 */
struct key_entry *registry_get(struct registry *, const struct keyspec *);

/*
 * registry_unseen - how many tokens that the entries brought in new the
 * module does not show, after one more scan of its slots, and how many
 * keys they brought in new on tokens already logged in the token does
 * not show (a module may read its objects only when initialized, as
 * tpm2-pkcs11 does): both are made since the module was initialized, or
 * missing (never locked)
 */
unsigned registry_unseen(struct registry *, struct key_entry **, size_t n);

/* registry_put - drop a reference (locked); the last one frees */
void	registry_put(struct registry *, struct key_entry *);

/*
 * registry_key - the key of an entry, opening it in this thread if it
 * must (or waiting up to wait_ms for the thread that does); NULL with
 * why (never locked)
 */
struct p11_key *registry_key(struct registry *, struct key_entry *,
	    unsigned wait_ms, char *why, size_t whylen);

/*
 * registry_failed - a signature with the entry's key failed: after a few
 * in a row the key goes DOWN (and is tried again later), so that one
 * broken token costs its own requests only
 */
void	registry_failed(struct registry *, struct key_entry *,
	    const char *why);

/* registry_signed - a signature with the entry's key worked */
void	registry_signed(struct registry *, struct key_entry *);

/*
 * registry_settle - wait until none of the n entries is NEW or OPENING
 * (strict start); 0, or -1 with the first non-optional DOWN one's why
 */
int	registry_settle(struct registry *, struct key_entry **, size_t n,
	    char *err, size_t errlen);

/*
 * The quotas: a bucket per institution code, kept across reloads while a
 * table names it.  The book is under the registry's lock; a bucket's
 * quota under its own.
 */
struct bucket;
struct quota_book;

/* quota_book_new - an empty book; NULL: no memory */
struct quota_book *quota_book_new(void);

/* quota_book_free - every bucket; NULL is fine */
void	quota_book_free(struct quota_book *);

/*
 * quota_book_get - the bucket of a spec's institution (locked): the one
 * there is, or a new one with the spec's limits; a reference is taken.
 * NULL when out of memory.
 */
struct bucket *quota_book_get(struct quota_book *, const struct keyspec *,
	    const struct quota_now *);

/* quota_book_put - a reference less (locked); NULL is fine */
void	quota_book_put(struct quota_book *, struct bucket *);

/*
 * bucket_apply - a loaded table's limits for the institution (what is
 * spent stays spent; see quota_set)
 */
void	bucket_apply(struct bucket *, const struct quota_limits *,
	    const struct quota_now *);

/*
 * bucket_take - may a request with this role go now?  0 (what it took
 * in *taken), or -1 with why, the refusal counted
 */
int	bucket_take(struct bucket *, enum quota_role, enum quota_result *taken,
	    char *why, size_t len);

/* bucket_give_back - a request that bucket_take let go made no signature */
void	bucket_give_back(struct bucket *, enum quota_role, enum quota_result);

/* bucket_refusals - requests refused: [0] over the rate, [1] the cap */
void	bucket_refusals(struct bucket *, uint32_t out[2]);

/*
 * The signing trail (signer_trail.c): signer_trail_record writes the
 * record of signature r made with spec's key, with what the front's
 * note n says (NULL: nothing); 0, or -1 with why.  signer_trail_failed
 * logs why a record was not written, a line a second at most.
 */
int	signer_trail_record(struct trail *, const struct keyspec *spec,
	    const struct signer_note *n, const struct signer_reply *r,
	    char *why, size_t whylen);
void	signer_trail_failed(const char *why);

#endif
