/*
 * token_int.h - the inside of struct token, shared by the pkcs11/ modules
 * only (token.c, p11_key.c, keygen.c, key_audit.c).  Nothing outside
 * pkcs11/ includes this.
 */
#ifndef P11DKIM_TOKEN_INT_H
#define P11DKIM_TOKEN_INT_H

#include <pthread.h>

#include "p11dkim/token.h"

struct p11_key {
	struct token *tok;
	char	 label[P11_KEY_LABEL_MAX + 1];
	unsigned char id[P11_KEY_ID_MAX];
	size_t	 id_len;
	enum p11_key_type type;
	int	 bits;
	EVP_PKEY *pub;
	CK_OBJECT_HANDLE priv;		/* valid for epoch */
	unsigned long epoch;
	struct p11_key *next;
};

struct token {
	struct p11_module *mod;
	CK_FUNCTION_LIST *fn;
	struct p11_token_info info;
	char	*want_serial;		/* as configured, may be NULL */
	struct pin_source *pin;
	pthread_mutex_t mu;		/* everything below */
	pthread_cond_t freed;		/* a session came back */
	unsigned long gen;		/* module generation of the state */
	unsigned long epoch;		/* bumps at each (re-)login */
	int	 up;			/* anchor open and logged in */
	CK_SESSION_HANDLE anchor;
	CK_SESSION_HANDLE *idle;
	size_t	 nidle;
	size_t	 busy;
	size_t	 max_sessions;
	unsigned wait_ms;
	struct p11_key *keys;
	struct token_stats stats;
};

/*
 * token_session_get - a logged-in session for one operation, waiting for
 * one at most wait_ms.  Call inside p11_module_enter/leave.  *epoch tells
 * which key handles are valid with it.
 */
int	token_session_get(struct token *, CK_SESSION_HANDLE *,
	    unsigned long *epoch, struct p11_err *);

/* token_session_put - give a session back; ok == 0 closes it */
void	token_session_put(struct token *, CK_SESSION_HANDLE, int ok);

/* token_mark_down - log in again (and find keys again) before next use */
void	token_mark_down(struct token *, unsigned long epoch);

/* token_check_anchor - after a session error: log in again if needed */
void	token_check_anchor(struct token *, unsigned long epoch);

/* p11_key_find_handle - the private key's handle for the session's epoch */
int	p11_key_find_handle(struct p11_key *, CK_SESSION_HANDLE,
	    unsigned long epoch, CK_OBJECT_HANDLE *, struct p11_err *);

/* p11_find_objects - handles of objects matching a template (max n) */
int	p11_find_objects(struct token *, CK_SESSION_HANDLE,
	    CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *out,
	    CK_ULONG max, CK_ULONG *found, struct p11_err *);

/* p11_public_key - the EVP_PKEY of a public key object */
EVP_PKEY *p11_public_key(struct token *, CK_SESSION_HANDLE,
	    CK_OBJECT_HANDLE, enum p11_key_type, struct p11_err *);

#endif
