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
 * Security: the PIN is fetched from its source for each login and wiped
 * right after C_Login.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11dkim/clock.h"
#include "token_int.h"

/* session_open - a new read-only session on the token */
static int
session_open(struct token *t, CK_SESSION_HANDLE *h, struct p11_err *err)
{
	CK_RV	 rv;

	rv = t->fn->C_OpenSession(t->info.slot, CKF_SERIAL_SESSION, NULL,
	    NULL, h);
	if (rv != CKR_OK)
		return p11_err_rv(err, rv, "C_OpenSession on token '%s' (slot "
		    "%lu)", t->info.label, (unsigned long)t->info.slot);
	return 0;
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

	if (pin_get(t->pin, &pin, err) < 0)
		return -1;
	rv = t->fn->C_Login(t->anchor, CKU_USER, (CK_UTF8CHAR *)pin.buf,
	    (CK_ULONG)pin.len);
	pin_wipe(&pin);
	if (rv == CKR_USER_ALREADY_LOGGED_IN && t->epoch == 0)
		return p11_err_set(err, 0, rv, "token '%s' is already open in "
		    "this process", t->info.label);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return p11_err_rv(err, rv, "C_Login on token '%s' (slot %lu)",
		    t->info.label, (unsigned long)t->info.slot);
	return 0;
}

/* down_locked - forget every session; close them unless the module did */
static void
down_locked(struct token *t, int close)
{
	if (close && t->up)
		(void)t->fn->C_CloseAllSessions(t->info.slot);
	t->nidle = 0;
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

	if (t->up && gen == t->gen)
		return 0;
	down_locked(t, gen == t->gen);
	if (gen != t->gen) {
		if (p11_module_find_token(t->mod, t->info.label,
		    t->info.serial, &info, err) < 0) {
			err->temporary = 1;	/* it was there a moment ago */
			return -1;
		}
		t->info = info;
		t->gen = gen;
	}
	if (session_open(t, &t->anchor, err) < 0)
		return -1;
	if (login(t, err) < 0) {
		(void)t->fn->C_CloseSession(t->anchor);
		return -1;
	}
	t->up = 1;
	t->epoch++;
	return 0;
}

/* token_session_get - a logged-in session for one operation */
int
token_session_get(struct token *t, CK_SESSION_HANDLE *h,
    unsigned long *epoch, struct p11_err *err)
{
	struct timespec until = clock_deadline(t->wait_ms);
	int	 rc = 0;

	pthread_mutex_lock(&t->mu);
	while (rc == 0) {
		if (up_locked(t, err) < 0) {
			rc = -1;
			break;
		}
		if (t->nidle > 0) {
			*h = t->idle[--t->nidle];
			break;
		}
		if (t->busy < t->max_sessions) {
			rc = session_open(t, h, err);
			break;
		}
		if (pthread_cond_timedwait(&t->freed, &t->mu, &until) ==
		    ETIMEDOUT)
			rc = p11_err_set(err, 1, CKR_SESSION_COUNT, "token "
			    "'%s': all %zu sessions busy for %u ms",
			    t->info.label, t->max_sessions, t->wait_ms);
	}
	if (rc == 0) {
		t->busy++;
		*epoch = t->epoch;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* token_session_put - give a session back; ok == 0 closes it */
void
token_session_put(struct token *t, CK_SESSION_HANDLE h, int ok)
{
	pthread_mutex_lock(&t->mu);
	t->busy--;
	if (ok && t->up && t->gen == p11_module_generation(t->mod))
		t->idle[t->nidle++] = h;
	else if (t->gen == p11_module_generation(t->mod))
		(void)t->fn->C_CloseSession(h);
	pthread_cond_signal(&t->freed);
	pthread_mutex_unlock(&t->mu);
}

/* token_mark_down - log in again (and find keys again) before next use */
void
token_mark_down(struct token *t, unsigned long epoch)
{
	pthread_mutex_lock(&t->mu);
	if (t->epoch == epoch && t->up) {
		down_locked(t, t->gen == p11_module_generation(t->mod));
		t->stats.recoveries++;
	}
	pthread_mutex_unlock(&t->mu);
}

/*
 * token_check_anchor - after a session error: is the login still there?
 * When the anchor session is gone or no longer logged in, every session
 * went with it (a token reset, C_CloseAllSessions): log in again.
 */
void
token_check_anchor(struct token *t, unsigned long epoch)
{
	CK_SESSION_INFO info;
	CK_RV	 rv;
	int	 dead;

	pthread_mutex_lock(&t->mu);
	if (!t->up || t->epoch != epoch ||
	    t->gen != p11_module_generation(t->mod)) {
		pthread_mutex_unlock(&t->mu);
		return;
	}
	rv = t->fn->C_GetSessionInfo(t->anchor, &info);
	dead = rv != CKR_OK || (info.state != CKS_RO_USER_FUNCTIONS &&
	    info.state != CKS_RW_USER_FUNCTIONS);
	pthread_mutex_unlock(&t->mu);
	if (dead)
		token_mark_down(t, epoch);
}

/* token_open - find the token and log in; pin is owned from now on */
struct token *
token_open(struct p11_module *mod, const char *label, const char *serial,
    struct pin_source *pin, unsigned sessions, struct p11_err *err)
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
	t->wait_ms = TOKEN_WAIT_MS_DEFAULT;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->freed, NULL);
	if ((t->idle = calloc(t->max_sessions, sizeof(*t->idle))) == NULL ||
	    (serial != NULL && (t->want_serial = strdup(serial)) == NULL)) {
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return token_close(t);
	}
	if (p11_module_find_token(mod, label, serial, &t->info, err) < 0)
		return token_close(t);
	if (t->info.user_pin_locked) {
		p11_err_set(err, 0, CKR_PIN_LOCKED, "token '%s': the user PIN "
		    "is locked", label);
		return token_close(t);
	}
	p11_module_enter(mod);
	pthread_mutex_lock(&t->mu);
	t->gen = p11_module_generation(mod);
	if (up_locked(t, err) < 0) {
		pthread_mutex_unlock(&t->mu);
		p11_module_leave(mod);
		return token_close(t);
	}
	pthread_mutex_unlock(&t->mu);
	p11_module_leave(mod);
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
	struct p11_key *k, *next;

	if (t == NULL)
		return NULL;
	if (t->up && t->gen == p11_module_generation(t->mod)) {
		p11_module_enter(t->mod);
		(void)t->fn->C_Logout(t->anchor);
		(void)t->fn->C_CloseAllSessions(t->info.slot);
		p11_module_leave(t->mod);
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
	free(t->want_serial);
	free(t);
	return NULL;
}
