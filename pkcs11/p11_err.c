/*
 * p11_err.c - CKR_* names and classes (see include/p11dkim/p11_err.h).
 *
 * The classes follow what SoftHSM2 and hardware tokens are seen to do
 * (PKCS11-NOTES.md): a logged-out key shows up as an invalid object
 * handle, a vanished token store as a general error.
 */
#include <stdarg.h>
#include <stdio.h>

#include "p11dkim/p11_err.h"

struct rv_name {
	CK_RV	 rv;
	const char *name;
	enum p11_class class;
};

#define RV(x, c)	{ x, #x, c }

static const struct rv_name rv_names[] = {
	RV(CKR_OK, P11_CLASS_OK),
	RV(CKR_CANCEL, P11_CLASS_PERMANENT),
	RV(CKR_HOST_MEMORY, P11_CLASS_DEVICE),
	RV(CKR_SLOT_ID_INVALID, P11_CLASS_DEVICE),
	RV(CKR_GENERAL_ERROR, P11_CLASS_DEVICE),
	RV(CKR_FUNCTION_FAILED, P11_CLASS_DEVICE),
	RV(CKR_ARGUMENTS_BAD, P11_CLASS_PERMANENT),
	RV(CKR_ATTRIBUTE_READ_ONLY, P11_CLASS_PERMANENT),
	RV(CKR_ATTRIBUTE_SENSITIVE, P11_CLASS_PERMANENT),
	RV(CKR_ATTRIBUTE_TYPE_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_ATTRIBUTE_VALUE_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_DATA_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_DATA_LEN_RANGE, P11_CLASS_PERMANENT),
	RV(CKR_DEVICE_ERROR, P11_CLASS_DEVICE),
	RV(CKR_DEVICE_MEMORY, P11_CLASS_DEVICE),
	RV(CKR_DEVICE_REMOVED, P11_CLASS_DEVICE),
	RV(CKR_FUNCTION_CANCELED, P11_CLASS_SESSION),
	RV(CKR_FUNCTION_NOT_SUPPORTED, P11_CLASS_PERMANENT),
	RV(CKR_KEY_HANDLE_INVALID, P11_CLASS_LOGIN),
	RV(CKR_KEY_SIZE_RANGE, P11_CLASS_PERMANENT),
	RV(CKR_KEY_TYPE_INCONSISTENT, P11_CLASS_PERMANENT),
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED, P11_CLASS_PERMANENT),
	RV(CKR_MECHANISM_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_MECHANISM_PARAM_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_OBJECT_HANDLE_INVALID, P11_CLASS_LOGIN),
	RV(CKR_OPERATION_ACTIVE, P11_CLASS_SESSION),
	RV(CKR_OPERATION_NOT_INITIALIZED, P11_CLASS_SESSION),
	RV(CKR_PIN_INCORRECT, P11_CLASS_PERMANENT),
	RV(CKR_PIN_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_PIN_LEN_RANGE, P11_CLASS_PERMANENT),
	RV(CKR_PIN_EXPIRED, P11_CLASS_PERMANENT),
	RV(CKR_PIN_LOCKED, P11_CLASS_PERMANENT),
	RV(CKR_SESSION_CLOSED, P11_CLASS_SESSION),
	RV(CKR_SESSION_COUNT, P11_CLASS_SESSION),
	RV(CKR_SESSION_HANDLE_INVALID, P11_CLASS_SESSION),
	RV(CKR_SESSION_READ_ONLY, P11_CLASS_PERMANENT),
	RV(CKR_SESSION_EXISTS, P11_CLASS_PERMANENT),
	RV(CKR_SESSION_READ_ONLY_EXISTS, P11_CLASS_PERMANENT),
	RV(CKR_SESSION_READ_WRITE_SO_EXISTS, P11_CLASS_PERMANENT),
	RV(CKR_SIGNATURE_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_SIGNATURE_LEN_RANGE, P11_CLASS_PERMANENT),
	RV(CKR_TEMPLATE_INCOMPLETE, P11_CLASS_PERMANENT),
	RV(CKR_TEMPLATE_INCONSISTENT, P11_CLASS_PERMANENT),
	RV(CKR_TOKEN_NOT_PRESENT, P11_CLASS_DEVICE),
	RV(CKR_TOKEN_NOT_RECOGNIZED, P11_CLASS_DEVICE),
	RV(CKR_TOKEN_WRITE_PROTECTED, P11_CLASS_PERMANENT),
	RV(CKR_USER_ALREADY_LOGGED_IN, P11_CLASS_OK),
	RV(CKR_USER_NOT_LOGGED_IN, P11_CLASS_LOGIN),
	RV(CKR_USER_PIN_NOT_INITIALIZED, P11_CLASS_PERMANENT),
	RV(CKR_USER_TYPE_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, P11_CLASS_PERMANENT),
	RV(CKR_USER_TOO_MANY_TYPES, P11_CLASS_PERMANENT),
	RV(CKR_BUFFER_TOO_SMALL, P11_CLASS_PERMANENT),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, P11_CLASS_DEVICE),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, P11_CLASS_OK),
	RV(CKR_RANDOM_NO_RNG, P11_CLASS_PERMANENT),
	RV(CKR_DOMAIN_PARAMS_INVALID, P11_CLASS_PERMANENT),
	RV(CKR_CURVE_NOT_SUPPORTED, P11_CLASS_PERMANENT),
	RV(CKR_ACTION_PROHIBITED, P11_CLASS_PERMANENT),
};

/* find - the table entry of rv, or NULL */
static const struct rv_name *
find(CK_RV rv)
{
	for (size_t i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (rv_names[i].rv == rv)
			return &rv_names[i];
	return NULL;
}

/* p11_rv_name - "CKR_PIN_INCORRECT", or "CKR_0x..." when unknown */
const char *
p11_rv_name(CK_RV rv, char *buf, size_t len)
{
	const struct rv_name *n = find(rv);

	if (n != NULL)
		return n->name;
	snprintf(buf, len, "CKR_0x%08lx", (unsigned long)rv);
	return buf;
}

/*
 * p11_rv_class - what a return value calls for.  An unknown code is taken
 * as a device fault: temporary, so a vendor's odd code never turns into a
 * permanent refusal of mail.
 */
enum p11_class
p11_rv_class(CK_RV rv)
{
	const struct rv_name *n = find(rv);

	return n != NULL ? n->class : P11_CLASS_DEVICE;
}

/* set_msg - format the message */
static void
set_msg(struct p11_err *err, const char *fmt, va_list ap)
{
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
}

/* p11_err_set - record an error; returns -1 for tail calls */
int
p11_err_set(struct p11_err *err, int temporary, CK_RV rv, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL)
		return -1;
	err->temporary = temporary;
	err->absent = 0;
	err->rv = rv;
	va_start(ap, fmt);
	set_msg(err, fmt, ap);
	va_end(ap);
	return -1;
}

/* p11_err_rv - record a failed call "what: CKR_NAME", classed by rv */
int
p11_err_rv(struct p11_err *err, CK_RV rv, const char *fmt, ...)
{
	char	 what[P11_ERR_MSG_MAX - 48], name[32];
	va_list	 ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	if (vsnprintf(what, sizeof(what), fmt, ap) < 0)
		what[0] = '\0';
	va_end(ap);
	err->rv = rv;
	err->absent = 0;
	err->temporary = p11_rv_class(rv) != P11_CLASS_PERMANENT;
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what,
	    p11_rv_name(rv, name, sizeof(name)));
	return -1;
}
