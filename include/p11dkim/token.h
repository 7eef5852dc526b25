/*
 * token.h - one logged-in token: sessions, login, recovery, keys, signing.
 *
 * A token is found by label (and serial) in the process's module and
 * logged in with the user PIN.  One anchor session stays open for the
 * login's lifetime (closing a token's last session logs it out); signing
 * runs on a pool of further sessions, one thread per session at a time,
 * so signatures on one token run in parallel and tokens never wait for
 * each other.  All functions are safe to call from many threads.
 *
 * Recovery escalates, never hangs a request (PKCS11-NOTES.md), within a
 * small budget of attempts: a session or device error drops that session
 * and retries on another; a login or handle error, or a second device
 * error, logs in again and finds the keys again; the module is
 * re-initialized (rate-limited) only when the module itself is broken:
 * not initialized, or other tokens of it fail too (p11_module_broken), so
 * that one token's trouble does not disturb the others.
 *
 * Every signature is verified with the key's public half before it is
 * returned: a faulty signature (which for RSA-CRT can leak the key)
 * never leaves this layer; it is counted and the signature is made again
 * on another session (within the attempts of the request; the third bad
 * one gives up), then answered as a temporary failure.
 *
 * A call that runs longer than the token's hang time (token_set_hang)
 * makes the token "not answering": further calls fail at once until it
 * returns, so a hung token holds no more threads than its sessions.
 */
#ifndef P11DKIM_TOKEN_H
#define P11DKIM_TOKEN_H

#include <stddef.h>

#include <openssl/evp.h>

#include "p11dkim/p11_err.h"
#include "p11dkim/p11_module.h"
#include "p11dkim/pin.h"

#define TOKEN_SESSIONS_DEFAULT	4
#define TOKEN_WAIT_MS_DEFAULT	2000	/* for a free session */
#define P11_KEY_ID_MAX		64
#define P11_KEY_LABEL_MAX	128
#define P11_SIG_MAX		1024

enum p11_key_type { P11_KEY_RSA = 1, P11_KEY_ED25519 };

struct token;
struct p11_key;

struct token_stats {
	unsigned long signs;		/* signatures returned */
	unsigned long errors;		/* sign calls that failed */
	unsigned long recoveries;	/* re-logins and re-initializations */
	unsigned long verify_failures;	/* faulty signatures caught */
	unsigned long retries;		/* attempts on another session */
	size_t	 session_limit;		/* learned from CKR_SESSION_COUNT; 0 */
	size_t	 sessions_open;		/* now, the anchor included */
};

/* What one p11_key_sign_report() call went through. */
struct p11_sign_report {
	unsigned attempts;		/* tries, on one session each */
	unsigned bad_signatures;	/* signatures that did not verify */
	int	 module_reinit;		/* it re-initialized the module */
};

/*
 * token_open - find the token and log in.  pin is owned by the token
 * from now on (also on failure).  sessions: the pool size (0: default).
 */
struct token *token_open(struct p11_module *, const char *label,
	    const char *serial, struct pin_source *pin, unsigned sessions,
	    struct p11_err *);

/* token_info - label, serial and slot of the token */
const struct p11_token_info *token_info(const struct token *);

/* token_module - the module the token belongs to */
struct p11_module *token_module(const struct token *);

/* token_stats - a copy of the counters */
void	token_stats(struct token *, struct token_stats *);

/*
 * token_key - the signing key whose private object has this CKA_LABEL,
 * with its public half read from the token.  Refused when there is none,
 * or more than one.  Owned by the token.
 */
struct p11_key *token_key(struct token *, const char *label,
	    struct p11_err *);

/* p11_key_type - RSA or Ed25519 */
enum p11_key_type p11_key_type(const struct p11_key *);

/* p11_key_bits - the key size in bits (255 for Ed25519) */
int	p11_key_bits(const struct p11_key *);

/* p11_key_public - the public key (owned by the key) */
EVP_PKEY *p11_key_public(const struct p11_key *);

/* p11_key_label - the CKA_LABEL */
const char *p11_key_label(const struct p11_key *);

/*
 * p11_key_sign - sign a SHA-256 digest: RSASSA-PKCS1-v1_5 (the digest in
 * its DigestInfo, CKM_RSA_PKCS) or PureEdDSA over the 32 bytes
 * (CKM_EDDSA, RFC 8463).  *siglen: room in sig on entry, length on
 * return.  The signature is verified before it is returned.
 */
int	p11_key_sign(struct p11_key *, const unsigned char digest[32],
	    unsigned char *sig, size_t *siglen, struct p11_err *);

/* p11_key_sign_report - the same, saying what it went through (rep) */
int	p11_key_sign_report(struct p11_key *, const unsigned char digest[32],
	    unsigned char *sig, size_t *siglen, struct p11_sign_report *rep,
	    struct p11_err *);

/* token_set_hang - a call running longer than ms: not answering (0: off) */
void	token_set_hang(struct token *, unsigned ms);

/* token_reap_idle - close the pool's sessions idle for longer than ms */
void	token_reap_idle(struct token *, unsigned ms);

/*
 * token_drop_sessions - close every session of the token underneath us
 * (C_CloseAllSessions), as a device hiccup would: for recovery tests.
 */
void	token_drop_sessions(struct token *);

/* token_close - close sessions, forget keys, free; NULL is fine */
struct token *token_close(struct token *);

/*
 * token_forget - free, without a call to the module: only when
 * C_Finalize follows, which ends every session and login at once (a
 * logout and C_CloseAllSessions per token cost SoftHSM2 a walk of every
 * object handle of every token each).  NULL is fine.
 */
struct token *token_forget(struct token *);

#endif
