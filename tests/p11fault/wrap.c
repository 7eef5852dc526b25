/*
 * wrap.c - the PKCS#11 face of the fault-injection module: C_GetFunctionList
 * and every C_* function, each passing through to the real module named
 * by P11FAULT_MODULE unless a rule injects a fault (README.md beside this
 * file).  The generic wrappers are made from the list in p11fault_fn.h;
 * the few that keep state are written out below.  Only the C_* names
 * are exported (p11fault.map).
 *
 * Arguments go to the real module unchanged (C_Initialize's pReserved
 * included: NSS needs it).  The real module is loaded once and never
 * unloaded; C_Finalize and a new C_Initialize pass through as they are.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11fault.h"

CK_FUNCTION_LIST *p11fault_real;
static CK_FUNCTION_LIST fault_list;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static int started;			/* control_start done, under start_mu */

#define FN_INFO(name, how, own, key, params, args)	{ #name, HOW_##how },
static const struct {
	const char *name;
	enum fn_how how;
} fns[FN_COUNT] = { P11FAULT_FUNCTIONS(FN_INFO) };
#undef FN_INFO

/* fn_name - "C_Sign" */
const char *
fn_name(int fn)
{
	return fns[fn].name;
}

/* fn_how - how the slot of a call is found */
enum fn_how
fn_how(int fn)
{
	return fns[fn].how;
}

/* fn_lookup - the number of a function name, or -1 */
int
fn_lookup(const char *name)
{
	for (int fn = 0; fn < FN_COUNT; fn++)
		if (strcmp(fns[fn].name, name) == 0)
			return fn;
	return -1;
}

/* The generic wrapper: faults first, then the real function.  Its locals
 * are named apart from the parameter names of p11fault_fn.h. */
#define WRAP_OWN(name, key, params, args)
#define WRAP_GEN(name, key, params, args)				\
CK_RV									\
name params								\
{									\
	struct fault_call fcall;					\
	CK_RV	 frv;							\
									\
	if (!fault_begin(&fcall, FN_##name, (CK_ULONG)(key), &frv))	\
		frv = p11fault_real->name != NULL ?			\
		    p11fault_real->name args : CKR_FUNCTION_NOT_SUPPORTED; \
	return fault_end(&fcall, frv);					\
}
#define WRAP(name, how, own, key, params, args)				\
	WRAP_##own(name, key, params, args)
P11FAULT_FUNCTIONS(WRAP)
#undef WRAP

/* fill_list - our function list: every entry one of our functions */
static void
fill_list(void)
{
	fault_list.version = p11fault_real->version;
#define FILL(name, how, own, key, params, args)	fault_list.name = name;
	P11FAULT_FUNCTIONS(FILL)
#undef FILL
}

/* load_real - dlopen P11FAULT_MODULE and take its function list */
static void
load_real(void)
{
	const char *path = getenv("P11FAULT_MODULE");
	CK_C_GetFunctionList get;
	CK_RV	 rv;
	void	*dl;

	if (path == NULL || *path == '\0') {
		fprintf(stderr, "p11fault: P11FAULT_MODULE is not set: it "
		    "names the PKCS#11 module to wrap\n");
		return;
	}
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11fault: P11FAULT_MODULE: %s\n", dlerror());
		return;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get == C_GetFunctionList) {
		fprintf(stderr, "p11fault: P11FAULT_MODULE=%s: %s\n", path,
		    get == NULL ? "no C_GetFunctionList" : "this module itself");
		return;
	}
	if ((rv = get(&p11fault_real)) != CKR_OK || p11fault_real == NULL) {
		fprintf(stderr, "p11fault: %s: C_GetFunctionList: 0x%lx\n", path,
		    (unsigned long)rv);
		p11fault_real = NULL;
		return;
	}
	fill_list();
	load_rv = CKR_OK;
}

/* C_GetFunctionList - our list, once the real module is loaded */
CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&load_once, load_real);
	if (load_rv != CKR_OK)
		return load_rv;
	*list = &fault_list;
	return CKR_OK;
}

/* start - read the rules once per C_Initialize..C_Finalize; -1 when bad */
static int
start(void)
{
	int	 rc = 0;

	pthread_mutex_lock(&start_mu);
	if (!started && (rc = control_start()) == 0)
		started = 1;
	pthread_mutex_unlock(&start_mu);
	return rc;
}

/* C_Initialize - load, read the rules, pass the arguments on unchanged */
CK_RV
C_Initialize(CK_VOID_PTR args)
{
	struct fault_call c;
	CK_RV	 rv;

	pthread_once(&load_once, load_real);
	if (load_rv != CKR_OK)
		return load_rv;
	if (start() == -1)
		return CKR_GENERAL_ERROR;
	if (!fault_begin(&c, FN_C_Initialize, 0, &rv))
		rv = p11fault_real->C_Initialize(args);
	return fault_end(&c, rv);
}

/* C_Finalize - release hung calls, write the counters, pass on */
CK_RV
C_Finalize(CK_VOID_PTR reserved)
{
	struct fault_call c;
	CK_RV	 rv;

	if (fault_begin(&c, FN_C_Finalize, 0, &rv))
		return fault_end(&c, rv);
	fault_end(&c, CKR_OK);
	pthread_mutex_lock(&start_mu);
	if (started)
		control_stop();
	started = 0;
	pthread_mutex_unlock(&start_mu);
	rv = p11fault_real->C_Finalize(reserved);
	sessions_reset();
	target_forget();
	return rv;
}

/* C_InitToken - pass on; the token's label may have changed */
CK_RV
C_InitToken(CK_SLOT_ID s, CK_UTF8CHAR_PTR pin, CK_ULONG n,
    CK_UTF8CHAR_PTR label)
{
	struct fault_call c;
	CK_RV	 rv;

	if (!fault_begin(&c, FN_C_InitToken, s, &rv))
		rv = p11fault_real->C_InitToken(s, pin, n, label);
	target_forget();
	return fault_end(&c, rv);
}

/* C_OpenSession - within the sessions limit of the slot */
CK_RV
C_OpenSession(CK_SLOT_ID s, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY cb,
    CK_SESSION_HANDLE_PTR h)
{
	struct fault_call c;
	CK_RV	 rv;

	if (fault_begin(&c, FN_C_OpenSession, s, &rv) ||
	    (rv = sessions_admit(&c)) != CKR_OK)
		return fault_end(&c, rv);
	if ((rv = p11fault_real->C_OpenSession(s, flags, app, cb, h)) != CKR_OK)
		sessions_closed(s);
	return fault_end(&c, rv);
}

/* C_CloseSession - pass on; one session fewer in its slot */
CK_RV
C_CloseSession(CK_SESSION_HANDLE h)
{
	struct fault_call c;
	CK_SLOT_ID slot;
	CK_RV	 rv;
	int	 known;

	if (fault_begin(&c, FN_C_CloseSession, h, &rv))
		return fault_end(&c, rv);
	known = target_slot(&c, &slot) == 0;
	if ((rv = p11fault_real->C_CloseSession(h)) == CKR_OK && known)
		sessions_closed(slot);
	return fault_end(&c, rv);
}

/* C_CloseAllSessions - pass on; no session left in the slot */
CK_RV
C_CloseAllSessions(CK_SLOT_ID s)
{
	struct fault_call c;
	CK_RV	 rv;

	if (!fault_begin(&c, FN_C_CloseAllSessions, s, &rv) &&
	    (rv = p11fault_real->C_CloseAllSessions(s)) == CKR_OK)
		sessions_all_closed(s);
	return fault_end(&c, rv);
}

/*
 * finish_sign - after an injected error, end the real signing operation
 * as a failing token does (PKCS#11 2.40 5.12: an error ends it): the real
 * module signs into a scratch buffer that is thrown away.  C_Sign when
 * data is given, C_SignFinal otherwise.
 */
static void
finish_sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, int single)
{
	CK_ULONG n = 0;
	CK_BYTE	*buf;
	CK_RV	 rv;

	rv = single ? p11fault_real->C_Sign(h, d, dn, NULL, &n) :
	    p11fault_real->C_SignFinal(h, NULL, &n);
	if (rv != CKR_OK || (buf = malloc(n > 0 ? n : 1)) == NULL)
		return;
	if (single)
		p11fault_real->C_Sign(h, d, dn, buf, &n);
	else
		p11fault_real->C_SignFinal(h, buf, &n);
	free(buf);
}

/* C_Sign - pass on; an injected error ends the operation; a corrupt rule
 * may flip a byte of the signature */
CK_RV
C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sig,
    CK_ULONG_PTR len)
{
	struct fault_call c;
	CK_RV	 rv;

	if (fault_begin(&c, FN_C_Sign, h, &rv)) {
		if (c.injected)
			finish_sign(h, d, dn, 1);
		return fault_end(&c, rv);
	}
	rv = p11fault_real->C_Sign(h, d, dn, sig, len);
	if (rv == CKR_OK && sig != NULL && len != NULL)
		fault_corrupt(&c, sig, *len);
	return fault_end(&c, rv);
}

/* C_SignFinal - as C_Sign, for multi-part signing */
CK_RV
C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR len)
{
	struct fault_call c;
	CK_RV	 rv;

	if (fault_begin(&c, FN_C_SignFinal, h, &rv)) {
		if (c.injected)
			finish_sign(h, NULL, 0, 0);
		return fault_end(&c, rv);
	}
	rv = p11fault_real->C_SignFinal(h, sig, len);
	if (rv == CKR_OK && sig != NULL && len != NULL)
		fault_corrupt(&c, sig, *len);
	return fault_end(&c, rv);
}
