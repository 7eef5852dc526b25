/*
 * p11fault_drv.c - a raw PKCS#11 client for the tests of the
 * fault-injection module (p11fault_test.sh): it calls the module
 * directly, with no retry or recovery, so every injected fault shows,
 * and checks every signature with OpenSSL.
 *
 *   p11fault_drv MODULE slots
 *       one line per slot with a token: "0xSLOT LABEL"
 *   p11fault_drv MODULE sign TOKEN PIN-FILE KEY PUBKEY.pem COUNT [THREADS]
 *       COUNT CKM_SHA256_RSA_PKCS signatures over random data, spread
 *       over THREADS sessions, one summary line:
 *       "signs=N ok=N badsig=N failed=N last=CKR_.. min_ms=.. p50_ms=..
 *       max_ms=.. [C_Sign:CKR_..=N ...]" (times: C_Sign alone)
 *   p11fault_drv MODULE sessions TOKEN OPS
 *       OPS is a word of o (C_OpenSession), c (C_CloseSession of the
 *       newest), a (C_CloseAllSessions); one line per step: "o CKR_OK"
 *   p11fault_drv MODULE calls TOKEN COUNT
 *       COUNT calls of C_GetSessionInfo on one session, timed: the cost
 *       of a call through the module, "calls=N ns_per_call=X"
 *   p11fault_drv MODULE init-args
 *       C_Initialize with a non-NULL pReserved, then with NULL: both
 *       results, to show the arguments reach the module unchanged
 *
 * Exit: 0 when the command ran (the counts tell the rest), 1 when the
 * set-up failed (with the reason on stderr), 64 on bad usage.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "p11dkim/p11_err.h"

#define THREADS_MAX	16
#define FAILS_MAX	8
#define SESSIONS_MAX	64
#define SLOTS_MAX	64
#define SIG_MAX		2048

struct fail {
	const char *fn;
	CK_RV	 rv;
	unsigned long n;
};

struct worker {
	pthread_t thread;
	unsigned long count;		/* signatures to make */
	unsigned long ok, badsig, failed;
	CK_RV	 last;
	double	*ms;			/* C_Sign times, count of them */
	unsigned long nms;
	struct fail fails[FAILS_MAX];
};

static CK_FUNCTION_LIST *p11;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static EVP_PKEY *pub;

/* name - the CKR_ name of a return value */
static const char *
name(CK_RV rv)
{
	static _Thread_local char buf[32];

	return p11_rv_name(rv, buf, sizeof(buf));
}

/* die - a set-up failure: message, exit 1 */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	 ap;

	fputs("p11fault_drv: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* usage - how to call; exit 64 */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: p11fault_drv MODULE slots\n"
	    "       p11fault_drv MODULE sign TOKEN PIN-FILE KEY PUB.pem COUNT "
	    "[THREADS]\n"
	    "       p11fault_drv MODULE sessions TOKEN OPS\n"
	    "       p11fault_drv MODULE calls TOKEN COUNT\n"
	    "       p11fault_drv MODULE init-args\n", stderr);
	exit(64);
}

/* load - dlopen the module and take its function list */
static void
load(const char *path)
{
	CK_C_GetFunctionList get;
	void	*dl;
	CK_RV	 rv;

	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		die("%s", dlerror());
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL)
		die("%s: no C_GetFunctionList", path);
	if ((rv = get(&p11)) != CKR_OK)
		die("C_GetFunctionList: %s", name(rv));
}

/* initialize - C_Initialize with OS locking */
static void
initialize(void)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV	 rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = p11->C_Initialize(&args)) != CKR_OK)
		die("C_Initialize: %s", name(rv));
}

/* token_label - a token's label without its padding */
static void
token_label(const CK_TOKEN_INFO *ti, char *out)
{
	size_t	 n = sizeof(ti->label);

	while (n > 0 && ti->label[n - 1] == ' ')
		n--;
	memcpy(out, ti->label, n);
	out[n] = '\0';
}

/* each_slot - call fn for each slot with a token; stops when it says 1 */
static void
each_slot(int (*fn)(CK_SLOT_ID, const char *, const void *), const void *arg)
{
	CK_SLOT_ID ids[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX;
	CK_TOKEN_INFO ti;
	char	 label[sizeof(ti.label) + 1];
	CK_RV	 rv;

	if ((rv = p11->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK)
		die("C_GetSlotList: %s", name(rv));
	for (CK_ULONG i = 0; i < n; i++) {
		if ((rv = p11->C_GetTokenInfo(ids[i], &ti)) != CKR_OK)
			die("C_GetTokenInfo(0x%lx): %s", ids[i], name(rv));
		token_label(&ti, label);
		if (fn(ids[i], label, arg))
			return;
	}
}

/* print_slot - one line of the slots command */
static int
print_slot(CK_SLOT_ID id, const char *label, const void *arg)
{
	(void)arg;
	printf("0x%lx %s\n", id, label);
	return 0;
}

/* match_slot - remember the slot of the token asked for */
static int
match_slot(CK_SLOT_ID id, const char *label, const void *want)
{
	if (strcmp(label, want) != 0)
		return 0;
	slot = id;
	return 1;
}

/* find_slot - the slot of a token by label */
static void
find_slot(const char *label)
{
	slot = (CK_SLOT_ID)-1;
	each_slot(match_slot, label);
	if (slot == (CK_SLOT_ID)-1)
		die("no token '%s'", label);
}

/* open_session - a session on the slot, or die */
static CK_SESSION_HANDLE
open_session(void)
{
	CK_SESSION_HANDLE h;
	CK_RV	 rv;

	if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &h)) != CKR_OK)
		die("C_OpenSession: %s", name(rv));
	return h;
}

/* login - C_Login with the PIN in a file */
static void
login(CK_SESSION_HANDLE h, const char *pin_file)
{
	char	 pin[256];
	FILE	*f;
	CK_RV	 rv;

	if ((f = fopen(pin_file, "r")) == NULL || fgets(pin, sizeof(pin), f) ==
	    NULL)
		die("%s: cannot read the PIN", pin_file);
	fclose(f);
	pin[strcspn(pin, "\r\n")] = '\0';
	rv = p11->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		die("C_Login: %s", name(rv));
}

/* find_key - the private key with a label */
static void
find_key(CK_SESSION_HANDLE h, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_ULONG n = 0;
	CK_RV	 rv;

	if ((rv = p11->C_FindObjectsInit(h, tmpl, 2)) != CKR_OK)
		die("C_FindObjectsInit: %s", name(rv));
	if ((rv = p11->C_FindObjects(h, &key, 1, &n)) != CKR_OK)
		die("C_FindObjects: %s", name(rv));
	if ((rv = p11->C_FindObjectsFinal(h)) != CKR_OK)
		die("C_FindObjectsFinal: %s", name(rv));
	if (n != 1)
		die("no private key '%s'", label);
}

/* load_pub - the public key to verify with */
static void
load_pub(const char *path)
{
	FILE	*f = fopen(path, "r");

	if (f == NULL || (pub = PEM_read_PUBKEY(f, NULL, NULL, NULL)) == NULL)
		die("%s: no PEM public key", path);
	fclose(f);
}

/* verify - whether sig is a valid signature of data */
static int
verify(const unsigned char *data, size_t dlen, const unsigned char *sig,
    size_t slen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int	 ok;

	ok = ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, sig, slen, data, dlen) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* now_ms - the monotonic clock in milliseconds */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* tally - add n failures of a function with a code to the table */
static void
tally(struct worker *w, const char *fn, CK_RV rv, unsigned long n)
{
	for (int i = 0; i < FAILS_MAX; i++) {
		if (w->fails[i].n == 0) {
			w->fails[i].fn = fn;
			w->fails[i].rv = rv;
		}
		if (strcmp(w->fails[i].fn, fn) == 0 && w->fails[i].rv == rv) {
			w->fails[i].n += n;
			return;
		}
	}
}

/* note_fail - count a failed call by function and code */
static void
note_fail(struct worker *w, const char *fn, CK_RV rv)
{
	w->failed++;
	w->last = rv;
	tally(w, fn, rv, 1);
}

/* sign_one - one signature over fresh random data, verified */
static void
sign_one(struct worker *w, CK_SESSION_HANDLE h)
{
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	unsigned char data[64], sig[SIG_MAX];
	CK_ULONG len = sizeof(sig);
	double	 t0;
	CK_RV	 rv;

	if (RAND_bytes(data, sizeof(data)) != 1)
		die("RAND_bytes failed");
	if ((rv = p11->C_SignInit(h, &mech, key)) != CKR_OK) {
		note_fail(w, "C_SignInit", rv);
		return;
	}
	t0 = now_ms();
	rv = p11->C_Sign(h, data, sizeof(data), sig, &len);
	w->ms[w->nms++] = now_ms() - t0;
	if (rv != CKR_OK) {
		note_fail(w, "C_Sign", rv);
		return;
	}
	w->last = CKR_OK;
	if (verify(data, sizeof(data), sig, len))
		w->ok++;
	else
		w->badsig++;
}

/* sign_worker - a session, count signatures, close */
static void *
sign_worker(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE h;
	CK_RV	 rv;

	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
	for (unsigned long i = 0; i < w->count; i++) {
		if (rv != CKR_OK)
			note_fail(w, "C_OpenSession", rv);
		else
			sign_one(w, h);
	}
	if (rv == CKR_OK)
		p11->C_CloseSession(h);
	return NULL;
}

/* cmp_double - for qsort */
static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* report - the summary line of the sign command */
static void
report(struct worker *w, int nw, unsigned long count)
{
	struct worker *t = &w[0];

	for (int i = 1; i < nw; i++) {
		t->ok += w[i].ok;
		t->badsig += w[i].badsig;
		t->failed += w[i].failed;
		for (int k = 0; k < FAILS_MAX && w[i].fails[k].n > 0; k++)
			tally(t, w[i].fails[k].fn, w[i].fails[k].rv,
			    w[i].fails[k].n);
		memmove(t->ms + t->nms, w[i].ms, w[i].nms * sizeof(double));
		t->nms += w[i].nms;
	}
	qsort(t->ms, t->nms, sizeof(double), cmp_double);
	printf("signs=%lu ok=%lu badsig=%lu failed=%lu last=%s", count, t->ok,
	    t->badsig, t->failed, name(t->last));
	if (t->nms > 0)
		printf(" min_ms=%.2f p50_ms=%.2f max_ms=%.2f", t->ms[0],
		    t->ms[t->nms / 2], t->ms[t->nms - 1]);
	for (int i = 0; i < FAILS_MAX && t->fails[i].n > 0; i++)
		printf(" %s:%s=%lu", t->fails[i].fn, name(t->fails[i].rv),
		    t->fails[i].n);
	putchar('\n');
}

/* cmd_sign - COUNT signatures over THREADS sessions */
static void
cmd_sign(char **av, int ac)
{
	unsigned long count = strtoul(av[4], NULL, 10);
	int	 nw = ac > 5 ? atoi(av[5]) : 1;
	struct worker w[THREADS_MAX];
	CK_SESSION_HANDLE anchor;
	double	*ms;
	unsigned long at = 0;

	if (count == 0 || count > 1000000 || nw < 1 || nw > THREADS_MAX)
		usage();
	load_pub(av[3]);
	find_slot(av[0]);
	anchor = open_session();	/* keeps the login for the workers */
	login(anchor, av[1]);
	find_key(anchor, av[2]);
	if ((ms = calloc(count, sizeof(double))) == NULL)
		die("out of memory");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < nw; i++) {
		w[i].count = count / (unsigned long)nw +
		    ((unsigned long)i < count % (unsigned long)nw);
		w[i].ms = ms + at;
		at += w[i].count;
		if (pthread_create(&w[i].thread, NULL, sign_worker, &w[i]) != 0)
			die("pthread_create failed");
	}
	for (int i = 0; i < nw; i++)
		pthread_join(w[i].thread, NULL);
	report(w, nw, count);
	p11->C_CloseSession(anchor);
	free(ms);
	EVP_PKEY_free(pub);
}

/* cmd_sessions - open and close sessions as OPS says, print each result */
static void
cmd_sessions(const char *label, const char *ops)
{
	CK_SESSION_HANDLE h[SESSIONS_MAX];
	int	 n = 0;
	CK_RV	 rv;

	find_slot(label);
	for (const char *op = ops; *op != '\0'; op++) {
		if (*op == 'o' && n < SESSIONS_MAX) {
			rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL,
			    NULL, &h[n]);
			n += rv == CKR_OK;
		} else if (*op == 'c' && n > 0)
			rv = p11->C_CloseSession(h[--n]);
		else if (*op == 'a') {
			rv = p11->C_CloseAllSessions(slot);
			n = 0;
		} else
			usage();
		printf("%c %s\n", *op, name(rv));
	}
}

/* cmd_calls - time COUNT calls of a cheap function */
static void
cmd_calls(const char *label, const char *count_arg)
{
	unsigned long count = strtoul(count_arg, NULL, 10), bad = 0;
	CK_SESSION_HANDLE h;
	CK_SESSION_INFO info;
	double	 t0;

	if (count == 0 || count > 100000000)
		usage();
	find_slot(label);
	h = open_session();
	t0 = now_ms();
	for (unsigned long i = 0; i < count; i++)
		bad += p11->C_GetSessionInfo(h, &info) != CKR_OK;
	printf("calls=%lu failed=%lu ns_per_call=%.0f\n", count, bad,
	    (now_ms() - t0) * 1e6 / (double)count);
	p11->C_CloseSession(h);
}

/* cmd_init_args - C_Initialize's arguments reach the module as given */
static void
cmd_init_args(void)
{
	static char reserved[] = "configdir=''";
	CK_C_INITIALIZE_ARGS args;
	CK_RV	 rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = reserved;
	rv = p11->C_Initialize(&args);
	printf("pReserved=set %s\n", name(rv));
	if (rv == CKR_OK)
		p11->C_Finalize(NULL);
	args.pReserved = NULL;
	rv = p11->C_Initialize(&args);
	printf("pReserved=NULL %s\n", name(rv));
	if (rv == CKR_OK)
		p11->C_Finalize(NULL);
}

int
main(int argc, char **argv)
{
	CK_RV	 rv;

	if (argc < 3)
		usage();
	load(argv[1]);
	if (strcmp(argv[2], "init-args") == 0 && argc == 3) {
		cmd_init_args();
		return 0;
	}
	initialize();
	if (strcmp(argv[2], "slots") == 0 && argc == 3)
		each_slot(print_slot, NULL);
	else if (strcmp(argv[2], "sign") == 0 && (argc == 8 || argc == 9))
		cmd_sign(argv + 3, argc - 3);
	else if (strcmp(argv[2], "sessions") == 0 && argc == 5)
		cmd_sessions(argv[3], argv[4]);
	else if (strcmp(argv[2], "calls") == 0 && argc == 5)
		cmd_calls(argv[3], argv[4]);
	else
		usage();
	fflush(stdout);
	if ((rv = p11->C_Finalize(NULL)) != CKR_OK)
		die("C_Finalize: %s", name(rv));
	return 0;
}
