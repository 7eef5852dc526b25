/*
 * p11_err.h - errors of the token layer: CKR_* names, and whether a
 * failure is permanent (retrying cannot help: no such key, PIN locked)
 * or temporary (token absent, session lost, device error).
 *
 * Library code records a message with context ("C_Login on token 'mosa'
 * (slot 3): CKR_PIN_INCORRECT") and returns -1; programs decide.
 */
#ifndef P11DKIM_P11_ERR_H
#define P11DKIM_P11_ERR_H

#include <p11-kit/pkcs11.h>

/* What a CK_RV calls for in a long-running signer (PKCS11-NOTES.md). */
enum p11_class {
	P11_CLASS_OK = 0,
	P11_CLASS_SESSION,	/* drop that session, retry on another */
	P11_CLASS_LOGIN,	/* log in again, find the keys again, retry */
	P11_CLASS_DEVICE,	/* token or module down: re-initialize, back off */
	P11_CLASS_PERMANENT	/* retrying cannot help */
};

#define P11_ERR_MSG_MAX	320

struct p11_err {
	int	 temporary;	/* 1: retrying later may help */
	int	 absent;	/* 1: the object asked for is not there */
	CK_RV	 rv;		/* the PKCS#11 code, CKR_OK when none */
	char	 msg[P11_ERR_MSG_MAX];
};

/* p11_err_set - record an error; returns -1 for tail calls */
int	p11_err_set(struct p11_err *, int temporary, CK_RV rv, const char *, ...)
	    __attribute__((format(printf, 4, 5)));

/* p11_err_rv - record a failed call "what: CKR_NAME", classed by rv */
int	p11_err_rv(struct p11_err *, CK_RV rv, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* p11_rv_name - "CKR_PIN_INCORRECT", or "CKR_0x..." when unknown */
const char *p11_rv_name(CK_RV rv, char *buf, size_t len);

/* p11_rv_class - what a return value calls for */
enum p11_class p11_rv_class(CK_RV rv);

#endif
