/*
 * signer_local.c - the signer in this process (see
 * include/p11dkim/signer_local.h).
 *
 * Security: this is the only code of the daemon that loads the PKCS#11
 * module and reads PINs.  It signs only 32-byte digests with keys of the
 * keytab, refuses a key number it does not know or an algorithm the key
 * does not have, and returns only signatures the token layer verified.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11dkim/log.h"
#include "p11dkim/signer_local.h"
#include "p11dkim/token.h"

struct slot {
	const struct keytab_entry *e;
	struct token *tok;		/* shared by entries of one token */
	struct p11_key *key;		/* NULL: not available now */
	time_t	 next_try;
	char	 why[P11_ERR_MSG_MAX + 64];
};

struct signer_local {
	struct signer base;
	const struct conf *conf;
	struct p11_module *mod;
	pthread_mutex_t mu;		/* key and tok of unavailable slots */
	struct slot *slots;
	size_t	 n;
};

static const unsigned char self_test_digest[DKIM_DIGEST_LEN] = {
	'p', '1', '1', 'd', 'k', 'i', 'm', ' ', 's', 'e', 'l', 'f', '-', 't',
	'e', 's', 't'
};

/* shared_token - an already open token of the same label and serial */
static struct token *
shared_token(struct signer_local *s, size_t upto, const struct conf_institution *i)
{
	for (size_t k = 0; k < upto; k++) {
		const struct conf_institution *o = s->slots[k].e->inst;

		if (s->slots[k].tok != NULL &&
		    strcmp(o->token_label, i->token_label) == 0 &&
		    (o->token_serial == NULL) == (i->token_serial == NULL) &&
		    (i->token_serial == NULL ||
		    strcmp(o->token_serial, i->token_serial) == 0))
			return s->slots[k].tok;
	}
	return NULL;
}

/* open_slot - log in to the slot's token, find and self-test its key */
static int
open_slot(struct signer_local *s, size_t k)
{
	struct slot *sl = &s->slots[k];
	const struct conf_institution *i = sl->e->inst;
	unsigned char sig[P11_SIG_MAX];
	size_t	 len = sizeof(sig);
	struct pin_source *pin;
	struct p11_err err;
	char	 what[128];
	int	 ed;

	if (sl->tok == NULL && (sl->tok = shared_token(s, k, i)) == NULL) {
		snprintf(what, sizeof(what), "user PIN of %s", i->code);
		if ((pin = pin_source_parse(i->pin, what, &err)) == NULL ||
		    (sl->tok = token_open(s->mod, i->token_label,
		    i->token_serial, pin, s->conf->daemon.sessions, &err)) ==
		    NULL)
			goto fail;
	}
	if ((sl->key = token_key(sl->tok, sl->e->key_label, &err)) == NULL)
		goto fail;
	ed = p11_key_type(sl->key) == P11_KEY_ED25519;
	if (ed != (sl->e->alg == DKIM_ALG_ED25519_SHA256)) {
		snprintf(sl->why, sizeof(sl->why), "%s: key '%s' does not fit "
		    "%s", i->code, sl->e->key_label, dkim_alg_name(sl->e->alg));
		sl->key = NULL;
		return -1;
	}
	if (p11_key_sign(sl->key, self_test_digest, sig, &len, &err) < 0) {
		sl->key = NULL;
		goto fail;
	}
	return 0;
fail:
	snprintf(sl->why, sizeof(sl->why), "%s: %s", i->code, err.msg);
	return -1;
}

/* retry_slot - an unavailable slot, tried again when it is time */
static struct p11_key *
retry_slot(struct signer_local *s, size_t k)
{
	struct slot *sl = &s->slots[k];
	struct p11_key *key;
	time_t	 now = time(NULL);

	pthread_mutex_lock(&s->mu);
	if (sl->key == NULL && now >= sl->next_try) {
		sl->next_try = now + SIGNER_LOCAL_RETRY;
		if (open_slot(s, k) == 0)
			log_info("institution %s: token available again",
			    sl->e->inst->code);
	}
	key = sl->key;
	pthread_mutex_unlock(&s->mu);
	return key;
}

/* local_sign - sign with key number key */
static void
local_sign(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	struct signer_local *s = (struct signer_local *)base;
	struct p11_key *k;
	struct p11_err err;

	if (key >= s->n) {
		signer_reply_set(r, SIGNER_PERM, "no key number %u", key);
		return;
	}
	if (alg != s->slots[key].e->alg) {
		signer_reply_set(r, SIGNER_PERM, "key %u is not for %s", key,
		    dkim_alg_name(alg));
		return;
	}
	pthread_mutex_lock(&s->mu);
	k = s->slots[key].key;
	pthread_mutex_unlock(&s->mu);
	if (k == NULL && (k = retry_slot(s, key)) == NULL) {
		signer_reply_set(r, SIGNER_TEMP, "token unavailable: %.160s",
		    s->slots[key].why);
		return;
	}
	r->len = sizeof(r->sig);
	if (p11_key_sign(k, digest, r->sig, &r->len, &err) < 0) {
		/*
		 * Whatever the token says (even a PIN refused at a re-login),
		 * the message is fine: mail must be queued and retried,
		 * never bounced, for our own trouble.
		 */
		signer_reply_set(r, SIGNER_TEMP, "%s: %.160s",
		    s->slots[key].e->inst->code, err.msg);
		return;
	}
	r->status = SIGNER_OK;
}

/* local_free - close tokens (each once), then the module */
static void
local_free(struct signer *base)
{
	struct signer_local *s = (struct signer_local *)base;

	for (size_t k = 0; k < s->n; k++) {
		if (s->slots[k].tok == NULL)
			continue;
		for (size_t j = k + 1; j < s->n; j++)
			if (s->slots[j].tok == s->slots[k].tok)
				s->slots[j].tok = NULL;
		token_close(s->slots[k].tok);
	}
	p11_module_free(s->mod);
	pthread_mutex_destroy(&s->mu);
	free(s->slots);
	free(s);
}

static const struct signer_ops local_ops = { local_sign, local_free };

/* signer_local_new - load the module, open tokens, self-test the keys */
struct signer *
signer_local_new(const struct conf *c, const struct keytab *t, char *err,
    size_t errlen)
{
	struct signer_local *s = calloc(1, sizeof(*s));
	struct p11_err perr;

	if (s == NULL || (s->slots = calloc(t->n + 1, sizeof(*s->slots))) ==
	    NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base.ops = &local_ops;
	s->conf = c;
	s->n = t->n;
	pthread_mutex_init(&s->mu, NULL);
	if ((s->mod = p11_module_load_args(c->module, c->module_init_args,
	    &perr)) == NULL) {
		snprintf(err, errlen, "%s", perr.msg);
		local_free(&s->base);
		return NULL;
	}
	for (size_t k = 0; k < t->n; k++) {
		s->slots[k].e = &t->e[k];
		if (open_slot(s, k) == 0) {
			log_info("institution %s: key '%s' (%s) ready, "
			    "self-test passed", t->e[k].inst->code,
			    t->e[k].key_label, dkim_alg_name(t->e[k].alg));
			continue;
		}
		if (!t->e[k].inst->optional) {
			snprintf(err, errlen, "%s", s->slots[k].why);
			local_free(&s->base);
			return NULL;
		}
		log_warn("institution %s is optional and starts without its "
		    "key: %s", t->e[k].inst->code, s->slots[k].why);
		s->slots[k].next_try = time(NULL) + SIGNER_LOCAL_RETRY;
	}
	return &s->base;
}
