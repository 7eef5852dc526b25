/*
 * preflight.h - will the daemon's signer be able to sign?  The checks
 * that need no DNS, shared by `p11dkimd -n` and `p11dkim-keys preflight`:
 * for one institution, the module loads, its PIN source is readable and
 * safe, its token is found and logged in to, the token's folder is
 * usable by this user (SoftHSM2), each signing key is there with the
 * right type, and a self-test signature verifies with the key's public
 * half.  A failure to find the token or a key carries the token store's
 * hint (token_store.h), which names the usual cause: a token folder or
 * object files that another user created.
 *
 * The checks run as the calling process: become the signer's user first
 * (preflight_become), as the daemon's signer does before it loads the
 * module, and keep the daemon's environment (SOFTHSM2_CONF).
 *
 * Each result goes to a report callback, one call per check (and per key
 * for the key checks); nothing is printed here.  Ownership: struct
 * preflight owns the module and the last target's token until
 * preflight_release().
 */
#ifndef P11DKIM_PREFLIGHT_H
#define P11DKIM_PREFLIGHT_H

#include <stddef.h>

#include <openssl/evp.h>

#include "p11dkim/token.h"

#define PREFLIGHT_KEYS_MAX	2	/* a key and its dual Ed25519 key */
#define PREFLIGHT_DETAIL_MAX	1024

enum preflight_status {
	PREFLIGHT_OK = 0,
	PREFLIGHT_WARN,		/* works now, but see the detail */
	PREFLIGHT_SKIP,		/* not checked: something before it failed */
	PREFLIGHT_FAIL,
	PREFLIGHT_UNREACHABLE	/* DNS could not be asked (p11dkim-keys) */
};

/* What to check for one institution. */
struct preflight_target {
	const char *name;		/* the institution code, for reports */
	const char *token_label;
	const char *token_serial;	/* NULL: by label */
	const char *pin;		/* the PIN source spec */
	size_t	 nkeys;
	const char *key_label[PREFLIGHT_KEYS_MAX];
	enum p11_key_type key_type[PREFLIGHT_KEYS_MAX];
};

struct preflight {
	/* Set by the caller. */
	void	(*report)(void *ctx, const char *name, const char *check,
		    enum preflight_status, const char *detail);
	void	*ctx;
	/* Kept between calls. */
	struct p11_module *mod;		/* NULL until loaded */
	char	 mod_error[P11_ERR_MSG_MAX];	/* why it did not load */
	struct token *tok;		/* the last target's; NULL: not open */
	struct p11_key *key[PREFLIGHT_KEYS_MAX];	/* NULL: not found */
	unsigned failed;		/* FAIL results so far */
};

/*
 * preflight_check - every check for target t; the module is loaded on
 * the first call.  Returns the number of checks of t that failed.  The
 * token and keys stay in pf (tok, key[]) until the next call.
 */
int	preflight_check(struct preflight *, const char *module_path,
	    const struct preflight_target *t);

/*
 * preflight_become - the user the daemon's signer runs as: its groups,
 * then its gid and uid.  Done only when the process is root and user is
 * not NULL (as the daemon).  -1 with why in err.
 */
int	preflight_become(const char *user, char *err, size_t errlen);

/*
 * preflight_verify - does sig verify over a SHA-256 digest with pub?
 * RSASSA-PKCS1-v1_5 for RSA, PureEdDSA over the 32 bytes for Ed25519
 * (RFC 8463), as the token signs.  1 yes, 0 no.
 */
int	preflight_verify(EVP_PKEY *pub, const unsigned char digest[32],
	    const unsigned char *sig, size_t siglen);

/*
 * preflight_say - report one result of a caller's own check (DNS, in
 * p11dkim-keys) through pf's callback, counted as the others are
 */
void	preflight_say(struct preflight *, const char *name, const char *check,
	    enum preflight_status, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/* preflight_status_name - "ok", "warn", "skip", "fail", "unreachable" */
const char *preflight_status_name(enum preflight_status);

/* preflight_digest - the fixed digest the checks sign */
const unsigned char *preflight_digest(void);

/* preflight_release - close the token, unload the module */
void	preflight_release(struct preflight *);

#endif
