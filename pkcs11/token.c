/*
 * token.c - a logged-in token and its session pool (see
 * include/p11dkim/token.h).
 *
 * State changes (login, re-login after a module re-initialization) happen
 * under the token's mutex; PKCS#11 calls that sign happen outside it, on
 * sessions handed out one per thread.  The module's read lock is held
 * around every use of a session, so a re-initialization never pulls a
 * session from under a running call.
 *
 * Sessions beyond the anchor are opened when needed, up to the token's
 * limit (configured, or learned when the token answers
 * CKR_SESSION_COUNT), and closed when idle for a while; a token's first
 * one is always allowed, more only within the module's bound on sessions.
 * Each session in use remembers when its call started: a token with a
 * call running longer than hang_ms is not answering, and new calls on it
 * fail at once instead of waiting behind it.
 *
 * Security: the PIN is fetched from its source for each login and wiped
 * right after C_Login.  A PIN the token refused is not offered again
 * until its source changes: a real token locks the PIN after a few
 * wrong tries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11dkim/clock.h"
#include "token_int.h"

#define WAIT_SLICE_MS	100	/* a waiter looks for a hang this often */

/* now_ms - a monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pin_is_refused - the PIN was refused and its source is unchanged */
static int
pin_is_refused(struct token *t)
{
	char	 now[PIN_STAMP_MAX];

	if (!t->pin_refused)
		return 0;
	pin_source_stamp(t->pin, now, sizeof(now));
	if (strcmp(now, t->pin_stamp) != 0)
		t->pin_refused = 0;
	return t->pin_refused;
}

/*
 * login - C_Login with the PIN from its source, wiped right after.  Login
 * state belongs to the process: on a re-login "already logged in" is
 * success, but on the first one it means the token is open twice, where
 * a wrong PIN would go unnoticed, so it is refused.
 */
static int
login(struct token *t, struct p11_err *err)
{
	struct pin pin;
	CK_RV	 rv;

	if (pin_is_refused(t))
		return p11_err_set(err, 0, CKR_PIN_INCORRECT, "token '%s' "
		    "refused its PIN: not offered again until the PIN source "
		    "changes", t->info.label);
	if (pin_get(t->pin, &pin, err) < 0)
		return -1;
	rv = t->fn->C_Login(t->anchor, CKU_USER, (CK_UTF8CHAR *)pin.buf,
	    (CK_ULONG)pin.len);
	pin_wipe(&pin);
	if (rv == CKR_USER_ALREADY_LOGGED_IN && t->epoch == 0)
		return p11_err_set(err, 0, rv, "token '%s' is already open in "
		    "this process", t->info.label);
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
	    rv == CKR_PIN_EXPIRED || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE) {
		t->pin_refused = 1;
		pin_source_stamp(t->pin, t->pin_stamp, sizeof(t->pin_stamp));
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return p11_err_rv(err, rv, "C_Login on token '%s' (slot %lu)",
		    t->info.label, (unsigned long)t->info.slot);
	return 0;
}

/* forget_one - a session of the pool is gone: its place in the bound */
static void
forget_one(struct token *t)
{
	p11_module_session_give(t->mod);
}

/*
 * down_locked - before a new login: close the anchor and the idle
 * sessions, one by one, unless the module did already.  Sessions in use
 * are left to finish their call (C_CloseAllSessions would pull them
 * from under it, which not every module survives) and are closed when
 * they come back, being of an older login.
 */
static void
down_locked(struct token *t, int close)
{
	if (close && t->up)
		(void)t->fn->C_CloseSession(t->anchor);
	while (t->nidle > 0) {
		t->nidle--;
		if (close)
			(void)t->fn->C_CloseSession(t->idle[t->nidle].h);
		forget_one(t);
	}
	t->up = 0;
}

/*
 * up_locked - open the anchor session and log in, after a start, a
 * re-login or a module re-initialization.  A token can be in another
 * slot after the module restarts, so it is found again by label and
 * serial then.
 */
static int
up_locked(struct token *t, struct p11_err *err)
{
	unsigned long gen = p11_module_generation(t->mod);
	struct p11_token_info info;
	CK_RV	 rv;

	if (t->up && gen == t->gen)
		return 0;
	down_locked(t, gen == t->gen);
	if (gen != t->gen) {
		if (p11_module_find_token(t->mod, t->info.label,
		    t->want_serial, &info, err) < 0) {
			err->temporary = 1;	/* it was there a moment ago */
			return -1;
		}
		t->info = info;
		t->gen = gen;
	}
	if ((rv = t->fn->C_OpenSession(t->info.slot, CKF_SERIAL_SESSION, NULL,
	    NULL, &t->anchor)) != CKR_OK)
		return p11_err_rv(err, rv, "C_OpenSession on token '%s' (slot "
		    "%lu)", t->info.label, (unsigned long)t->info.slot);
	if (login(t, err) < 0) {
		(void)t->fn->C_CloseSession(t->anchor);
		return -1;
	}
	t->up = 1;
	t->epoch++;
	return 0;
}

/* hung_ms - how long the oldest call in flight has run, past hang_ms */
static long long
hung_ms(const struct token *t, long long now)
{
	long long worst = 0;

	for (size_t i = 0; t->hang_ms > 0 && i < t->cap; i++)
		if (t->calls[i].since != 0 && now - t->calls[i].since > worst)
			worst = now - t->calls[i].since;
	return worst > (long long)t->hang_ms ? worst : 0;
}

/* call_start - session h is in use from now on, under the current login */
static void
call_start(struct token *t, CK_SESSION_HANDLE h, long long now)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->calls[i].since == 0) {
			t->calls[i] = (struct busy_session){ h, now, t->epoch };
			return;
		}
}

/* call_stop - session h is back: the login it was handed out under */
static unsigned long
call_stop(struct token *t, CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->calls[i].since != 0 && t->calls[i].h == h) {
			t->calls[i].since = 0;
			return t->calls[i].epoch;
		}
	return 0;
}

/*
 * open_extra - a new session for the pool: 1, 0 when the module's bound
 * or the token's limit says wait, -1 on error
 */
static int
open_extra(struct token *t, CK_SESSION_HANDLE *h, struct p11_err *err)
{
	int	 first = t->busy + t->nidle == 0;
	CK_RV	 rv;

	if (!p11_module_session_take(t->mod, first))
		return 0;
	rv = t->fn->C_OpenSession(t->info.slot, CKF_SERIAL_SESSION, NULL, NULL,
	    h);
	if (rv == CKR_OK)
		return 1;
	p11_module_session_give(t->mod);
	if (rv == CKR_SESSION_COUNT && t->busy > 0) {
		t->max_sessions = t->busy;	/* learned: wait for one */
		t->stats.session_limit = t->busy;
		return 0;
	}
	return p11_err_rv(err, rv, "C_OpenSession on token '%s' (slot %lu)",
	    t->info.label, (unsigned long)t->info.slot);
}

/* token_session_get - a logged-in session for one operation */
int
token_session_get(struct token *t, CK_SESSION_HANDLE *h,
    unsigned long *epoch, struct p11_err *err)
{
	long long deadline = now_ms() + t->wait_ms, now, hung;
	struct timespec slice;
	int	 rc = 0, got = 0;

	pthread_mutex_lock(&t->mu);
	while (rc == 0 && !got) {
		now = now_ms();
		if ((hung = hung_ms(t, now)) > 0) {
			rc = p11_err_set(err, 1, CKR_FUNCTION_FAILED, "token "
			    "'%s' is not answering: a call has run for %lld ms",
			    t->info.label, hung);
			break;
		}
		if (up_locked(t, err) < 0) {
			rc = -1;
			break;
		}
		if (t->nidle > 0) {
			*h = t->idle[--t->nidle].h;
			got = 1;
		} else if (t->busy < t->max_sessions &&
		    (rc = open_extra(t, h, err)) != 0) {
			got = rc > 0;
			rc = rc > 0 ? 0 : -1;
		} else if (now >= deadline) {
			rc = p11_err_set(err, 1, CKR_SESSION_COUNT, "token "
			    "'%s': all %zu sessions busy for %u ms",
			    t->info.label, t->max_sessions, t->wait_ms);
		} else {
			slice = clock_deadline(deadline - now < WAIT_SLICE_MS ?
			    (unsigned)(deadline - now) : WAIT_SLICE_MS);
			(void)pthread_cond_timedwait(&t->freed, &t->mu, &slice);
		}
	}
	if (rc == 0) {
		t->busy++;
		call_start(t, *h, now_ms());
		*epoch = t->epoch;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* token_session_put - give a session back; ok == 0 closes it */
void
token_session_put(struct token *t, CK_SESSION_HANDLE h, int ok)
{
	unsigned long epoch;
	int	 same_gen;

	pthread_mutex_lock(&t->mu);
	same_gen = t->gen == p11_module_generation(t->mod);
	t->busy--;
	epoch = call_stop(t, h);
	if (ok && t->up && same_gen && epoch == t->epoch &&
	    t->nidle < t->cap) {
		t->idle[t->nidle].h = h;
		t->idle[t->nidle++].since = now_ms();
	} else {
		if (same_gen)
			(void)t->fn->C_CloseSession(h);
		forget_one(t);
	}
	pthread_cond_signal(&t->freed);
	pthread_mutex_unlock(&t->mu);
}

/* token_reap_idle - close the sessions idle for longer than idle_ms */
void
token_reap_idle(struct token *t, unsigned idle_ms)
{
	long long old = now_ms() - idle_ms;
	size_t	 keep = 0;

	p11_module_enter(t->mod);
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->nidle; i++) {
		if (t->idle[i].since > old) {
			t->idle[keep++] = t->idle[i];
			continue;
		}
		if (t->gen == p11_module_generation(t->mod))
			(void)t->fn->C_CloseSession(t->idle[i].h);
		forget_one(t);
	}
	t->nidle = keep;
	pthread_mutex_unlock(&t->mu);
	p11_module_leave(t->mod);
}

/* token_mark_down - log in again (and find keys again) before next use */
void
token_mark_down(struct token *t, unsigned long epoch)
{
	p11_module_enter(t->mod);
	pthread_mutex_lock(&t->mu);
	if (t->epoch == epoch && t->up) {
		down_locked(t, t->gen == p11_module_generation(t->mod));
		t->stats.recoveries++;
	}
	pthread_mutex_unlock(&t->mu);
	p11_module_leave(t->mod);
}

/*
 * token_check_anchor - after a session error: is the login still there?
 * When the anchor session is gone or no longer logged in, every session
 * went with it (a token reset, C_CloseAllSessions): log in again.
 * Call outside the module: it holds the module itself.
 */
void
token_check_anchor(struct token *t, unsigned long epoch)
{
	CK_SESSION_INFO info;
	CK_RV	 rv;
	int	 dead;

	p11_module_enter(t->mod);
	pthread_mutex_lock(&t->mu);
	if (!t->up || t->epoch != epoch ||
	    t->gen != p11_module_generation(t->mod)) {
		pthread_mutex_unlock(&t->mu);
		p11_module_leave(t->mod);
		return;
	}
	rv = t->fn->C_GetSessionInfo(t->anchor, &info);
	dead = rv != CKR_OK || (info.state != CKS_RO_USER_FUNCTIONS &&
	    info.state != CKS_RW_USER_FUNCTIONS);
	pthread_mutex_unlock(&t->mu);
	p11_module_leave(t->mod);
	if (dead)
		token_mark_down(t, epoch);
}

/* token_set_hang - calls longer than ms mean the token is not answering */
void
token_set_hang(struct token *t, unsigned ms)
{
	pthread_mutex_lock(&t->mu);
	t->hang_ms = ms;
	pthread_mutex_unlock(&t->mu);
}

/*
 * token_recover_module - a token failed with a device error: when the
 * module itself is broken (p11_module_broken), re-initialize it (rate-
 * limited), so that the next try can work.  Call outside the module.
 */
void
token_recover_module(struct token *t, const struct p11_err *err)
{
	struct p11_err ignored;
	unsigned long gen = p11_module_generation(t->mod);

	if (p11_rv_class(err->rv) == P11_CLASS_DEVICE &&
	    p11_module_broken(t->mod, t->info.slot))
		(void)p11_module_reinit(t->mod, gen, &ignored);
}

/* token_new - the struct, no token touched yet; pin owned */
static struct token *
token_new(struct p11_module *mod, const char *serial, struct pin_source *pin,
    unsigned sessions, struct p11_err *err)
{
	struct token *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		pin_source_free(pin);
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return NULL;
	}
	t->mod = mod;
	t->fn = p11_module_functions(mod);
	t->pin = pin;
	t->max_sessions = sessions ? sessions : TOKEN_SESSIONS_DEFAULT;
	t->cap = t->max_sessions;
	t->wait_ms = TOKEN_WAIT_MS_DEFAULT;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->freed, NULL);
	if ((t->idle = calloc(t->cap, sizeof(*t->idle))) == NULL ||
	    (t->calls = calloc(t->cap, sizeof(*t->calls))) == NULL ||
	    (serial != NULL && (t->want_serial = strdup(serial)) == NULL)) {
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return token_close(t);
	}
	return t;
}

/* token_open - find the token and log in; pin is owned from now on */
struct token *
token_open(struct p11_module *mod, const char *label, const char *serial,
    struct pin_source *pin, unsigned sessions, struct p11_err *err)
{
	struct token *t;
	int	 rc;

	if ((t = token_new(mod, serial, pin, sessions, err)) == NULL)
		return NULL;
	p11_module_enter(mod);
	rc = p11_module_find_token(mod, label, serial, &t->info, err);
	p11_module_leave(mod);
	if (rc < 0) {
		if (err->rv == CKR_CRYPTOKI_NOT_INITIALIZED)
			token_recover_module(t, err);
		return token_close(t);
	}
	if (t->info.user_pin_locked) {
		p11_err_set(err, 0, CKR_PIN_LOCKED, "token '%s': the user PIN "
		    "is locked", label);
		return token_close(t);
	}
	p11_module_enter(mod);
	pthread_mutex_lock(&t->mu);
	t->gen = p11_module_generation(mod);
	rc = up_locked(t, err);
	pthread_mutex_unlock(&t->mu);
	p11_module_leave(mod);
	if (rc < 0) {
		token_recover_module(t, err);
		return token_close(t);
	}
	return t;
}

/* token_info - label, serial and slot of the token */
const struct p11_token_info *
token_info(const struct token *t)
{
	return &t->info;
}

/* token_module - the module the token belongs to */
struct p11_module *
token_module(const struct token *t)
{
	return t->mod;
}

/* token_stats - a copy of the counters */
void
token_stats(struct token *t, struct token_stats *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->stats;
	out->sessions_open = t->busy + t->nidle + (t->up ? 1 : 0);
	pthread_mutex_unlock(&t->mu);
}

/* token_drop_sessions - close every session underneath us (tests) */
void
token_drop_sessions(struct token *t)
{
	p11_module_enter(t->mod);
	(void)t->fn->C_CloseAllSessions(t->info.slot);
	p11_module_leave(t->mod);
}

/* token_close - close sessions, forget keys, free; NULL is fine */
struct token *
token_close(struct token *t)
{
	if (t == NULL)
		return NULL;
	if (t->up && t->gen == p11_module_generation(t->mod)) {
		p11_module_enter(t->mod);
		(void)t->fn->C_Logout(t->anchor);
		(void)t->fn->C_CloseAllSessions(t->info.slot);
		p11_module_leave(t->mod);
	}
	return token_forget(t);
}

/* token_forget - free, without a word to the module; NULL is fine */
struct token *
token_forget(struct token *t)
{
	struct p11_key *k, *next;

	if (t == NULL)
		return NULL;
	while (t->nidle > 0) {
		t->nidle--;
		forget_one(t);
	}
	for (k = t->keys; k != NULL; k = next) {
		next = k->next;
		EVP_PKEY_free(k->pub);
		free(k);
	}
	pin_source_free(t->pin);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->freed);
	free(t->idle);
	free(t->calls);
	free(t->want_serial);
	free(t);
	return NULL;
}
