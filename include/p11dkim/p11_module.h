/*
 * p11_module.h - the PKCS#11 module of a process: loaded once, its slots
 * and tokens found by label and serial.
 *
 * libp11 loads the module (dlopen + C_Initialize) and enumerates slots
 * and tokens; sessions, login, signing and key management then go through
 * the module's own function list (PKCS11-NOTES.md explains why).
 *
 * Recovery: when a token's store or device fails, the module may have to
 * be finalized and initialized again, which invalidates every session of
 * every token.  p11_module_reinit() does that under the module's write
 * lock; users of the function list hold the read lock
 * (p11_module_enter/leave) and notice a re-initialization by the change of
 * p11_module_generation().
 *
 * Do not fork after loading: a child must not touch the module.
 */
#ifndef P11DKIM_P11_MODULE_H
#define P11DKIM_P11_MODULE_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "p11dkim/p11_err.h"

#define P11_LABEL_MAX	32	/* CK_TOKEN_INFO.label */
#define P11_SERIAL_MAX	16	/* CK_TOKEN_INFO.serialNumber */

struct p11_module;

struct p11_token_info {
	CK_SLOT_ID slot;
	char	 label[P11_LABEL_MAX + 1];	/* trailing blanks removed */
	char	 serial[P11_SERIAL_MAX + 1];
	char	 manufacturer[33];
	char	 model[17];
	int	 initialized;		/* CKF_TOKEN_INITIALIZED */
	int	 user_pin_set;		/* CKF_USER_PIN_INITIALIZED */
	int	 user_pin_locked;	/* CKF_USER_PIN_LOCKED */
};

/* p11_module_load - load the module at path; NULL and why on failure */
struct p11_module *p11_module_load(const char *path, struct p11_err *);

/*
 * p11_module_load_args - the same, handing init_args (NULL: none) to
 * every C_Initialize of the module as CK_C_INITIALIZE_ARGS.pReserved,
 * with CKF_OS_LOCKING_OK.  Some modules need it: NSS softoken wants its
 * database there ("configdir='sql:/DIR' certPrefix='' keyPrefix=''
 * secmod='secmod.db'").  The string is copied.
 */
struct p11_module *p11_module_load_args(const char *path,
	    const char *init_args, struct p11_err *);

/* p11_module_path - the path it was loaded from */
const char *p11_module_path(const struct p11_module *);

/* p11_module_functions - the module's PKCS#11 function list */
CK_FUNCTION_LIST *p11_module_functions(const struct p11_module *);

/*
 * p11_module_libp11_slot - libp11's PKCS11_SLOT for a slot id; NULL when
 * not there.  Refreshing libp11's slot list closes every session of the
 * module: for token set-up only, before any token is opened (libp11 is
 * not thread-safe either).
 */
void	*p11_module_libp11_slot(struct p11_module *, CK_SLOT_ID);

/* p11_module_tokens - every slot with a token; the caller frees *list */
int	p11_module_tokens(struct p11_module *, struct p11_token_info **list,
	    size_t *n, struct p11_err *);

/*
 * p11_module_find_token - the one token with this label (and serial, if
 * not NULL).  Refuses when none matches, and when two do (labels are not
 * unique: configure the serial).  Uninitialized tokens are never matched.
 * The slots are scanned once into an index (and again after a
 * re-initialization, after p11_module_rescan(), or when a token is not
 * found and the last scan is a few seconds old): a lookup costs the same
 * however many tokens the module has.
 */
int	p11_module_find_token(struct p11_module *, const char *label,
	    const char *serial, struct p11_token_info *, struct p11_err *);

/* p11_module_rescan - scan the slots again before the next lookup */
void	p11_module_rescan(struct p11_module *);

/* p11_module_enter - hold the module while using the function list */
void	p11_module_enter(struct p11_module *);

/* p11_module_leave - end of p11_module_enter */
void	p11_module_leave(struct p11_module *);

/* p11_module_generation - changes each time the module is re-initialized */
unsigned long p11_module_generation(struct p11_module *);

/*
 * p11_module_reinit - C_Finalize and C_Initialize again, unless a re-init
 * happened since generation seen (then it only returns 0), and not more
 * often than the back-off allows.  Call without holding the module.
 */
int	p11_module_reinit(struct p11_module *, unsigned long seen,
	    struct p11_err *);

/*
 * p11_module_broken - is the module itself broken, not just the token in
 * slot?  Yes when it is not initialized, when C_GetSlotList fails, or
 * when the other tokens it has (up to three are asked) answer no better;
 * a module with one token is broken when its token is.
 */
int	p11_module_broken(struct p11_module *, CK_SLOT_ID slot);

/*
 * p11_module_set_session_bound - at most n sessions of the pools (anchors
 * not counted) for all tokens together; 0: no bound
 */
void	p11_module_set_session_bound(struct p11_module *, unsigned n);

/*
 * p11_module_session_take - room for one more pool session?  1 and
 * counted, or 0; force counts it whatever the bound (a token's first)
 */
int	p11_module_session_take(struct p11_module *, int force);

/* p11_module_session_give - a pool session closed */
void	p11_module_session_give(struct p11_module *);

/* p11_module_sessions - pool sessions open now, all tokens together */
unsigned p11_module_sessions(struct p11_module *);

/* p11_module_free - finalize and unload; NULL is fine; returns NULL */
struct p11_module *p11_module_free(struct p11_module *);

#endif
