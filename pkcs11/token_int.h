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

/* A session of the pool that waits for its next operation. */
struct idle_session {
	CK_SESSION_HANDLE h;
	long long since;		/* ms, monotonic */
};

/* A session of the pool in use for a call. */
struct busy_session {
	CK_SESSION_HANDLE h;
	long long since;		/* ms, monotonic; 0: the place is free */
	unsigned long epoch;		/* the login it was handed out under */
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
	int	 pin_refused;		/* C_Login refused this PIN */
	char	 pin_stamp[PIN_STAMP_MAX];	/* ... from the source as it was */
	CK_SESSION_HANDLE anchor;
	struct idle_session *idle;
	size_t	 nidle;
	size_t	 busy;
	size_t	 max_sessions;		/* configured, or learned (SESSION_COUNT) */
	size_t	 cap;			/* as configured: the arrays' size */
	unsigned wait_ms;
	unsigned hang_ms;		/* a call running longer: not answering */
	struct busy_session *calls;	/* the sessions in use, [cap] */
	struct p11_key *keys;
	struct token_stats stats;
};

/*
 * token_session_get - a logged-in session for one operation, waiting for
 * one at most wait_ms.  Call inside p11_module_enter/leave.  *epoch tells
 * which key handles are valid with it.  Fails at once when a call on the
 * token has been running for longer than hang_ms.
 */
int	token_session_get(struct token *, CK_SESSION_HANDLE *,
	    unsigned long *epoch, struct p11_err *);

/* token_session_put - give a session back; ok == 0 closes it */
void	token_session_put(struct token *, CK_SESSION_HANDLE, int ok);

/* token_call_begin - a call on the token starts: its slot, for _end */
int	token_call_begin(struct token *);

/* token_call_end - the call in slot ended */
void	token_call_end(struct token *, int slot);

/* token_recover_module - after a device error: re-init a broken module */
void	token_recover_module(struct token *, const struct p11_err *);

/* token_mark_down - log in again before next use (call outside the module) */
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
