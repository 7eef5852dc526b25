/*
 * signer_keys.c - the signer's keys and tokens (see signer_int.h): found
 * by their spec in a hash table, opened by a few opener threads in the
 * background (or at once by a request that needs one), tried again with
 * a back-off when they fail, and kept across reloads.
 *
 * An institution signs as soon as its own token is logged in and its key
 * checked; the others' tokens never delay it, and a token that is
 * missing, refuses its PIN or fails its self-test affects its own
 * institution only.
 *
 * Security: PINs are read from their source by the token layer at each
 * login and wiped there.  A PIN the token refused is never offered again
 * (a real HSM locks the PIN after a few tries) until its file changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "p11dkim/clock.h"
#include "p11dkim/log.h"
#include "p11dkim/token_caps.h"
#include "p11dkim/token_store.h"
#include "signer_int.h"

#define BUCKETS		65536
#define FAILS_DOWN	3		/* signatures failed in a row */
#define BACKOFF_MAX_S	60
#define THREAD_STACK	(1024 * 1024)	/* the module runs on it */
#define HANG_MS_MAX	2000		/* a call this long: not answering */
#define IDLE_CLOSE_MS	60000		/* pool sessions idle this long close */
#define REAP_EVERY_S	10

static const unsigned char self_test_digest[DKIM_DIGEST_LEN] = {
	'p', '1', '1', 'd', 'k', 'i', 'm', ' ', 's', 'e', 'l', 'f', '-', 't',
	'e', 's', 't'
};

/* hash - FNV-1a of the strings that name a token, or a key on it */
static size_t
hash(const struct keyspec *s, int with_key)
{
	const char *parts[3] = { s->token_label, s->token_serial,
	    with_key ? s->key_label : "" };
	uint64_t h = 14695981039346656037ULL;

	for (int i = 0; i < 3; i++)
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)(h % BUCKETS);
}

/* backoff - seconds before the next try after fails failures in a row */
static time_t
backoff(unsigned fails)
{
	if (fails <= 1)
		return 1;
	return fails >= 7 ? BACKOFF_MAX_S : (time_t)1 << (fails - 1);
}

/* enqueue - for an opener thread, with a reference (locked) */
static void
enqueue(struct registry *r, struct key_entry *ke)
{
	if (ke->queued)
		return;
	ke->queued = 1;
	ke->refs++;
	ke->qnext = NULL;
	if (r->queue_tail != NULL)
		r->queue_tail->qnext = ke;
	else
		r->queue = ke;
	r->queue_tail = ke;
	pthread_cond_signal(&r->work);
}

/* token_entry - the entry of the spec's token, made if need be (locked) */
static struct tok_entry *
token_entry(struct registry *r, const struct keyspec *spec)
{
	size_t	 b = hash(spec, 0);
	struct tok_entry *te;

	for (te = r->toks[b]; te != NULL; te = te->hnext)
		if (keyspec_same_token(&te->spec, spec)) {
			te->refs++;
			return te;
		}
	if ((te = calloc(1, sizeof(*te))) == NULL)
		return NULL;
	te->spec = *spec;
	te->refs = 1;
	te->fresh = 1;
	te->hnext = r->toks[b];
	r->toks[b] = te;
	return te;
}

/* token_drop - one key entry less on a token; the last closes it (locked) */
static void
token_drop(struct registry *r, struct tok_entry *te)
{
	struct tok_entry **pp;

	if (--te->refs > 0)
		return;
	for (pp = &r->toks[hash(&te->spec, 0)]; *pp != te; pp = &(*pp)->hnext)
		;
	*pp = te->hnext;
	if (r->stopping)
		token_forget(te->tok);	/* C_Finalize comes next */
	else
		token_close(te->tok);
	free(te);
}

/* registry_get - the entry of a spec, found or made (locked) */
struct key_entry *
registry_get(struct registry *r, const struct keyspec *spec)
{
	size_t	 b = hash(spec, 1);
	struct key_entry *ke;

	for (ke = r->keys[b]; ke != NULL; ke = ke->hnext)
		if (keyspec_same_key(&ke->spec, spec)) {
			ke->refs++;
			return ke;
		}
	if ((ke = calloc(1, sizeof(*ke))) == NULL)
		return NULL;
	ke->spec = *spec;
	ke->refs = 1;
	ke->fresh = 1;
	ke->state = KEY_NEW;
	if ((ke->te = token_entry(r, spec)) == NULL) {
		free(ke);
		return NULL;
	}
	ke->hnext = r->keys[b];
	r->keys[b] = ke;
	enqueue(r, ke);
	return ke;
}

/* shown - does the module show the token of a spec? */
static int
shown(struct registry *r, const struct keyspec *s)
{
	struct p11_token_info info;
	struct p11_err err;

	return p11_module_find_token(r->mod, s->token_label,
	    s->token_serial[0] ? s->token_serial : NULL, &info, &err) == 0 ||
	    err.rv != CKR_TOKEN_NOT_PRESENT;
}

/* unseen_tokens - how many of the specs' tokens the module does not show */
static unsigned
unseen_tokens(struct registry *r, const struct keyspec *v, size_t n)
{
	unsigned missing = 0;

	for (size_t i = 0; i < n && missing == 0; i++)
		missing += !shown(r, &v[i]);
	if (missing == 0)
		return 0;
	p11_module_rescan(r->mod);	/* made since the last scan? */
	missing = 0;
	for (size_t i = 0; i < n; i++)
		missing += !shown(r, &v[i]);
	return missing;
}

/*
 * unseen_keys - how many of the new keys on tokens already logged in
 * their token does not show, once the openers have tried them (v: the
 * entries, referenced).  Only the openers look for a key: two lookups at
 * once of an object another process made can make openCryptoki list it
 * twice.
 */
static unsigned
unseen_keys(struct registry *r, struct key_entry **v, size_t n)
{
	unsigned missing = 0;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n; i++) {
		while (v[i]->state == KEY_NEW || v[i]->state == KEY_OPENING)
			pthread_cond_wait(&r->changed, &r->mu);
		missing += v[i]->state == KEY_DOWN && v[i]->absent;
	}
	pthread_mutex_unlock(&r->mu);
	return missing;
}

/*
 * registry_unseen - the new tokens and new keys of the entries that the
 * module does not show.  Only what is new in this table counts: a token
 * or key missing for long is missing, not made since the module was
 * initialized.
 */
unsigned
registry_unseen(struct registry *r, struct key_entry **v, size_t n)
{
	struct keyspec *fresh = calloc(n + 1, sizeof(*fresh));
	struct key_entry **keys = calloc(n + 1, sizeof(*keys));
	unsigned missing = 0;
	size_t	 nfresh = 0, nkeys = 0;

	if (fresh == NULL || keys == NULL) {
		free(fresh);
		free(keys);
		return 0;
	}
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n; i++) {
		if (v[i]->fresh && !v[i]->te->fresh && v[i]->te->tok != NULL) {
			v[i]->refs++;
			keys[nkeys++] = v[i];
		}
		v[i]->fresh = 0;
		if (v[i]->te->fresh) {
			v[i]->te->fresh = 0;
			fresh[nfresh++] = v[i]->te->spec;
		}
	}
	pthread_mutex_unlock(&r->mu);
	missing = unseen_tokens(r, fresh, nfresh) + unseen_keys(r, keys, nkeys);
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < nkeys; i++)
		registry_put(r, keys[i]);
	pthread_mutex_unlock(&r->mu);
	free(fresh);
	free(keys);
	return missing;
}

/* registry_put - drop a reference; the last one frees (locked) */
void
registry_put(struct registry *r, struct key_entry *ke)
{
	struct key_entry **pp;

	if (--ke->refs > 0)
		return;
	for (pp = &r->keys[hash(&ke->spec, 1)]; *pp != ke; pp = &(*pp)->hnext)
		;
	*pp = ke->hnext;
	token_drop(r, ke->te);
	free(ke);
}

/*
 * pin_still_refused - the token refused this PIN and its source has not
 * changed since (locked)
 */
static int
pin_still_refused(struct tok_entry *te)
{
	char	 now[sizeof(te->pin_stamp)];

	if (!te->pin_refused)
		return 0;
	pin_spec_stamp(te->spec.pin, now, sizeof(now));
	if (strcmp(now, te->pin_stamp) == 0)
		return 1;
	te->pin_refused = 0;
	return 0;
}

/*
 * store_hint - after "no token" or "no key": what of the token store this
 * process cannot read, when the module's store can say (SoftHSM2)
 */
static void
store_hint(struct registry *r, const struct keyspec *s, char *why,
    size_t len)
{
	char	 hint[512];
	size_t	 n = strlen(why);

	if (token_store_hint(r->mod, s->token_serial[0] ? s->token_serial :
	    NULL, hint, sizeof(hint)) == 1 && n + 3 < len)
		snprintf(why + n, len - n, ": %.*s", (int)(len - n - 3), hint);
}

/* login - the token logged in, for an entry nobody logs in now */
static struct token *
login(struct registry *r, struct tok_entry *te, char *why, size_t len)
{
	const struct keyspec *s = &te->spec;
	struct pin_source *pin;
	struct token *tok = NULL;
	struct p11_err err;
	char	 what[128];

	snprintf(what, sizeof(what), "user PIN of %s", s->code);
	if ((pin = pin_source_parse(s->pin, what, &err)) != NULL)
		tok = token_open(r->mod, s->token_label, s->token_serial[0] ?
		    s->token_serial : NULL, pin, r->per_token, &err);
	if (tok != NULL)
		token_set_hang(tok, r->hang_ms);
	if (tok == NULL) {
		snprintf(why, len, "%s", err.msg);
		if (err.rv == CKR_TOKEN_NOT_PRESENT)
			store_hint(r, s, why, len);
		if (err.rv == CKR_PIN_INCORRECT || err.rv == CKR_PIN_LOCKED ||
		    err.rv == CKR_PIN_INVALID || err.rv == CKR_PIN_LEN_RANGE) {
			pthread_mutex_lock(&r->mu);
			te->pin_refused = 1;
			pin_spec_stamp(s->pin, te->pin_stamp,
			    sizeof(te->pin_stamp));
			pthread_mutex_unlock(&r->mu);
			log_err("institution %s: token '%s' refused the PIN: it "
			    "is not offered again until its source changes",
			    s->code, s->token_label);
		}
	}
	return tok;
}

/*
 * token_of - the entry's token logged in: the one there is, or a login in
 * this thread; another thread's login is waited for when wait is set (an
 * opener), else (a request) not; NULL with why
 */
static struct token *
token_of(struct registry *r, struct tok_entry *te, int wait, char *why,
    size_t len)
{
	struct token *tok;

	pthread_mutex_lock(&r->mu);
	while (te->opening && wait)
		pthread_cond_wait(&r->changed, &r->mu);
	if (te->opening) {		/* for another key of the token */
		snprintf(why, len, "its token is being logged in");
		pthread_mutex_unlock(&r->mu);
		return NULL;
	}
	if (te->tok != NULL || pin_still_refused(te) ||
	    time(NULL) < te->next_try) {
		if ((tok = te->tok) == NULL)
			snprintf(why, len, "%s", te->why);
		pthread_mutex_unlock(&r->mu);
		return tok;
	}
	te->opening = 1;
	pthread_mutex_unlock(&r->mu);
	tok = login(r, te, why, len);
	pthread_mutex_lock(&r->mu);
	te->opening = 0;
	te->tok = tok;
	if (tok == NULL) {
		te->fails++;
		te->next_try = time(NULL) + backoff(te->fails);
		snprintf(te->why, sizeof(te->why), "%s", why);
	} else
		te->fails = 0;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->mu);
	return tok;
}

/*
 * token_can_sign - can the token sign with the institution's algorithm
 * (and, bits not 0, a key of that size)?  0 with why when the token says
 * it cannot: a configuration error, which no retry mends.  A token that
 * cannot be asked is given the benefit of the doubt (the self-test
 * decides).
 */
static int
token_can_sign(struct token *tok, const struct keyspec *s, unsigned bits,
    char *why, size_t len)
{
	enum p11_key_type type = s->alg == DKIM_ALG_ED25519_SHA256 ?
	    P11_KEY_ED25519 : P11_KEY_RSA;
	struct p11_err err;

	if (p11_token_can(token_module(tok), token_info(tok)->slot, type, bits,
	    P11_CAN_SIGN, &err) != 0)
		return 1;
	snprintf(why, len, "token '%s' cannot sign with %s: %.*s (a "
	    "configuration error; see p11dkim-keys token-info %s)",
	    token_info(tok)->label, dkim_alg_name((enum dkim_alg)s->alg),
	    200, err.msg, s->code);
	return 0;
}

/* check_key - find the key, check its type, sign the self-test; NULL+why */
static struct p11_key *
check_key(struct registry *r, struct token *tok, const struct keyspec *s,
    int *absent, char *why, size_t len)
{
	unsigned char sig[P11_SIG_MAX];
	size_t	 siglen = sizeof(sig);
	struct p11_err err;
	struct p11_key *k;

	if ((k = token_key(tok, s->key_label, &err)) == NULL) {
		snprintf(why, len, "%s", err.msg);
		*absent = err.absent;
		if (!token_can_sign(tok, s, 0, why, len))
			return NULL;
		store_hint(r, s, why, len);
		return NULL;
	}
	if ((p11_key_type(k) == P11_KEY_ED25519) !=
	    (s->alg == DKIM_ALG_ED25519_SHA256)) {
		snprintf(why, len, "key '%s' does not fit %s", s->key_label,
		    dkim_alg_name((enum dkim_alg)s->alg));
		return NULL;
	}
	if (!token_can_sign(tok, s, (unsigned)p11_key_bits(k), why, len))
		return NULL;
	if (p11_key_sign(k, self_test_digest, sig, &siglen, &err) < 0) {
		snprintf(why, len, "self-test: %.300s", err.msg);
		return NULL;
	}
	return k;
}

/*
 * open_key - log in to the entry's token (if it is not), find and check
 * its key; the entry is OPENING, and referenced by the caller
 */
static void
open_key(struct registry *r, struct key_entry *ke, int wait)
{
	char	 why[SIGNER_WHY_MAX] = "";
	struct p11_key *k = NULL;
	struct token *tok;
	int	 absent = 0;

	if ((tok = token_of(r, ke->te, wait, why, sizeof(why))) != NULL)
		k = check_key(r, tok, &ke->spec, &absent, why, sizeof(why));
	pthread_mutex_lock(&r->mu);
	ke->key = k;
	ke->absent = absent;
	if (k != NULL) {
		ke->state = KEY_READY;
		ke->fails = 0;
	} else {
		ke->state = KEY_DOWN;
		ke->fails++;
		ke->next_try = ke->te->tok == NULL && ke->te->next_try >
		    time(NULL) ? ke->te->next_try : time(NULL) +
		    backoff(ke->fails);
		snprintf(ke->why, sizeof(ke->why), "%s", why);
	}
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->mu);
	if (k != NULL)
		log_info("institution %s: key '%s' (%s) ready, self-test "
		    "passed", ke->spec.code, ke->spec.key_label,
		    dkim_alg_name((enum dkim_alg)ke->spec.alg));
	else if (ke->fails == 1)
		log_err("institution %s: key '%s' unavailable, tried again "
		    "in the background: %s", ke->spec.code, ke->spec.key_label,
		    why);
}

/* due - may the entry be opened now? (locked) */
static int
due(const struct key_entry *ke, time_t now)
{
	return ke->state == KEY_NEW || (ke->state == KEY_DOWN &&
	    now >= ke->next_try);
}

/* registry_key - the entry's key, opened here if it must be */
struct p11_key *
registry_key(struct registry *r, struct key_entry *ke, unsigned wait_ms,
    char *why, size_t whylen)
{
	struct timespec until = clock_deadline(wait_ms);
	struct p11_key *k = NULL;
	int	 tried = 0;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		if (ke->state == KEY_READY) {
			k = ke->key;
			break;
		}
		if (ke->state == KEY_OPENING) {
			if (pthread_cond_timedwait(&r->changed, &r->mu,
			    &until) == ETIMEDOUT) {
				snprintf(why, whylen, "its token is being "
				    "logged in");
				break;
			}
			continue;
		}
		if (tried || !due(ke, time(NULL))) {
			snprintf(why, whylen, "%s", ke->why);
			break;
		}
		ke->state = KEY_OPENING;
		ke->refs++;
		pthread_mutex_unlock(&r->mu);
		open_key(r, ke, 0);
		pthread_mutex_lock(&r->mu);
		registry_put(r, ke);
		tried = 1;
	}
	pthread_mutex_unlock(&r->mu);
	return k;
}

/* registry_failed - a signature failed: a few in a row take the key DOWN */
void
registry_failed(struct registry *r, struct key_entry *ke, const char *why)
{
	pthread_mutex_lock(&r->mu);
	if (ke->state == KEY_READY && ++ke->fails >= FAILS_DOWN) {
		ke->state = KEY_DOWN;
		ke->next_try = time(NULL) + backoff(ke->fails - FAILS_DOWN + 1);
		snprintf(ke->why, sizeof(ke->why), "%s", why);
		log_err("institution %s: key '%s' down after %u failed "
		    "signatures in a row; tried again in the background: %s",
		    ke->spec.code, ke->spec.key_label, ke->fails, why);
	}
	pthread_mutex_unlock(&r->mu);
}

/* registry_signed - a signature worked (no lock unless it must) */
void
registry_signed(struct registry *r, struct key_entry *ke)
{
	if (__atomic_load_n(&ke->fails, __ATOMIC_RELAXED) == 0)
		return;
	pthread_mutex_lock(&r->mu);
	if (ke->state == KEY_READY)
		ke->fails = 0;
	pthread_mutex_unlock(&r->mu);
}

/* registry_settle - wait until none of the entries is NEW or OPENING */
int
registry_settle(struct registry *r, struct key_entry **v, size_t n,
    char *err, size_t errlen)
{
	int	 rc = 0;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n; i++) {
		while (v[i]->state == KEY_NEW || v[i]->state == KEY_OPENING)
			pthread_cond_wait(&r->changed, &r->mu);
		if (v[i]->state == KEY_DOWN && rc == 0 &&
		    !(v[i]->spec.flags & KEYSPEC_OPTIONAL)) {
			snprintf(err, errlen, "%s: %s", v[i]->spec.code,
			    v[i]->why);
			rc = -1;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* opener - an opener thread: take keys off the queue and open them */
static void *
opener(void *arg)
{
	struct registry *r = arg;
	struct key_entry *ke;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		if ((ke = r->queue) == NULL) {
			pthread_cond_wait(&r->work, &r->mu);
			continue;
		}
		if ((r->queue = ke->qnext) == NULL)
			r->queue_tail = NULL;
		ke->queued = 0;
		if (due(ke, time(NULL)) && ke->refs > 1) {
			ke->state = KEY_OPENING;
			pthread_mutex_unlock(&r->mu);
			open_key(r, ke, 1);
			pthread_mutex_lock(&r->mu);
		}
		registry_put(r, ke);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* reap_sessions - pool sessions idle for long, every token (locked) */
static void
reap_sessions(struct registry *r)
{
	for (size_t b = 0; b < r->nbuckets && !r->stopping; b++)
		for (struct tok_entry *te = r->toks[b]; te != NULL;
		    te = te->hnext)
			if (te->tok != NULL && !te->opening)
				token_reap_idle(te->tok, IDLE_CLOSE_MS);
}

/*
 * housekeeper - once a second: keys that are DOWN and due go back to the
 * openers, so that a token that comes back serves again by itself; now
 * and then, idle pool sessions are closed.  It sleeps on a condition of
 * its own: on the openers' one, the signal of an enqueue could wake it
 * instead of an opener, and a new key would wait in the queue unopened.
 */
static void *
housekeeper(void *arg)
{
	struct registry *r = arg;
	struct timespec until;
	unsigned ticks = 0;
	time_t	 now;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		until = clock_deadline(1000);
		(void)pthread_cond_timedwait(&r->tick, &r->mu, &until);
		now = time(NULL);
		for (size_t b = 0; b < r->nbuckets && !r->stopping; b++)
			for (struct key_entry *ke = r->keys[b]; ke != NULL;
			    ke = ke->hnext)
				if (ke->state == KEY_DOWN && now >= ke->next_try)
					enqueue(r, ke);
		if (++ticks % REAP_EVERY_S == 0)
			reap_sessions(r);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* start_threads - the openers and the housekeeper */
static int
start_threads(struct registry *r, char *err, size_t errlen)
{
	unsigned n = r->conf->daemon.open_threads + 1;
	pthread_attr_t attr;
	int	 rc = 0;

	if ((r->threads = calloc(n, sizeof(*r->threads))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		if ((rc = pthread_create(&r->threads[i], &attr, i == 0 ?
		    housekeeper : opener, r)) != 0)
			snprintf(err, errlen, "cannot start a thread: %s",
			    strerror(rc));
		else
			r->nthreads++;
	}
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

/* registry_init - load the module, start the threads */
int
registry_init(struct registry *r, const struct conf *c, char *err,
    size_t errlen)
{
	struct p11_err perr;

	memset(r, 0, sizeof(*r));
	r->conf = c;
	r->nbuckets = BUCKETS;
	/* One token never takes more than half the signer's threads. */
	r->per_token = c->daemon.signer_threads / 2 > 0 ?
	    c->daemon.signer_threads / 2 : 1;
	if (c->daemon.sessions < r->per_token)
		r->per_token = c->daemon.sessions;
	r->hang_ms = c->daemon.io_timeout * 500 < HANG_MS_MAX ?
	    c->daemon.io_timeout * 500 : HANG_MS_MAX;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->changed, NULL);
	pthread_cond_init(&r->work, NULL);
	pthread_cond_init(&r->tick, NULL);
	if ((r->keys = calloc(BUCKETS, sizeof(*r->keys))) == NULL ||
	    (r->toks = calloc(BUCKETS, sizeof(*r->toks))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((r->mod = p11_module_load_args(c->module, c->module_init_args,
	    &perr)) == NULL) {
		snprintf(err, errlen, "%s", perr.msg);
		return -1;
	}
	p11_module_set_session_bound(r->mod, c->daemon.max_sessions);
	return start_threads(r, err, errlen);
}

/* registry_halt - stop the threads: from now on no token is closed */
void
registry_halt(struct registry *r)
{
	pthread_mutex_lock(&r->mu);
	r->stopping = 1;
	pthread_cond_broadcast(&r->work);
	pthread_cond_broadcast(&r->tick);
	pthread_mutex_unlock(&r->mu);
	for (unsigned i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	r->nthreads = 0;
}

/*
 * registry_stop - stop the threads, free every token, finalize the
 * module: C_Finalize ends every session and login at once
 */
void
registry_stop(struct registry *r)
{
	registry_halt(r);
	for (size_t b = 0; r->toks != NULL && b < r->nbuckets; b++)
		for (struct tok_entry *te = r->toks[b], *next; te != NULL;
		    te = next) {
			next = te->hnext;
			token_forget(te->tok);
			free(te);
		}
	for (size_t b = 0; r->keys != NULL && b < r->nbuckets; b++)
		for (struct key_entry *ke = r->keys[b], *next; ke != NULL;
		    ke = next) {
			next = ke->hnext;
			free(ke);
		}
	free(r->keys);
	free(r->toks);
	free(r->threads);
	p11_module_free(r->mod);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->changed);
	pthread_cond_destroy(&r->work);
	pthread_cond_destroy(&r->tick);
}
