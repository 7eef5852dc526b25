/*
 * token_bench.c - the token's own signing rate: the ceiling that
 * p11dkimd's throughput is compared with (bench/daemon_bench.sh).
 *
 *   token_bench -m MODULE -t TOKEN -p PIN -k KEY [-c THREADS]
 *               [-d SECONDS] [-w SECONDS] [-s SESSIONS] [-M raw|layer|both]
 *               [-i INIT_ARGS]
 *
 * N threads sign SHA-256 digests back to back for D seconds, by two
 * paths on the same logged-in token and key:
 *   raw    the module's C_SignInit + C_Sign with CKM_RSA_PKCS on a
 *          DigestInfo (CKM_EDDSA on the digest for Ed25519), one session
 *          per thread, nothing else: the purest ceiling;
 *   layer  p11_key_sign() of the token layer (include/p11dkim/token.h),
 *          as the daemon's signer calls it: session pool, recovery
 *          checks and the verification of every signature.
 * Signatures are counted in a window after a warm-up, on the main
 * thread's clock, while every thread keeps signing.  The first raw
 * signature of each thread is verified with the key's public half.  The
 * slowest and fastest thread's counts show whether threads share the
 * token fairly.  A failed signature on the layer path (say, no session
 * free within the token layer's wait) is counted and the thread goes on;
 * on the raw path it stops the bench.
 *
 * The PIN comes from a PIN source (file:PATH, fd:N, prompt), never from
 * the command line.  -i hands the module its C_Initialize arguments
 * (CK_C_INITIALIZE_ARGS.pReserved), as p11dkimd's pkcs11-init-args does:
 * NSS softoken needs its database there.
 *
 * The last line is for scripts: "result: raw_s=... layer_s=...
 * raw_cpu_us=... layer_cpu_us=... layer_errors=... raw_all=..."
 * (signatures per second, CPU microseconds of this process per
 * signature, failed layer signatures, and every raw signature of the
 * run, warm-up and set-up included, for CPU time measured from outside).
 * Exit status 0, or 1 when the token, the key, a thread's set-up or a
 * raw signature failed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "bench_util.h"
#include "p11dkim/token.h"

#define THREADS_MAX	256
#define SIG_BUF		1024

enum path { PATH_RAW, PATH_LAYER };

struct opts {
	const char *module, *token, *pin, *key;
	const char *init_args;	/* -i; NULL: none */
	unsigned threads;
	unsigned sessions;	/* the token layer's pool; 0: = threads */
	double	 duration, warmup;
	int	 raw, layer;
};

struct bench {
	struct opts o;
	struct p11_module *mod;
	struct token *tok;
	struct p11_key *key;
	CK_FUNCTION_LIST *fn;
	CK_SLOT_ID slot;
	pthread_barrier_t ready;	/* every thread set up */
	pthread_mutex_t setup;		/* one raw set-up at a time */
	atomic_int stop;
};

struct worker {
	struct bench *b;
	pthread_t th;
	enum path path;
	unsigned id;
	CK_SESSION_HANDLE s;	/* raw: the thread's own session */
	CK_OBJECT_HANDLE o;	/* raw: the private key on it */
	atomic_ulong signs;
	atomic_ulong errors;	/* layer: failed signatures, the thread goes on */
	int	 failed;	/* raw or set-up: the thread stopped */
	char	 why[P11_ERR_MSG_MAX + 64];
};

/* What one path measured. */
struct path_result {
	double	 rate;		/* signatures per second, all threads */
	double	 cpu_us;	/* CPU microseconds per signature */
	unsigned long min, max;	/* signatures of the slowest, fastest thread */
	unsigned long all;	/* signatures of the whole run, set-up's too */
	unsigned long errors;
	char	 why[P11_ERR_MSG_MAX + 64];	/* the first error */
};

/* RFC 8017 9.2 note 1: DER of DigestInfo for SHA-256, before the hash. */
static const unsigned char sha256_digestinfo[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};

/* worker_fail - record why a signature failed; the first reason counts */
static void __attribute__((format(printf, 2, 3)))
worker_fail(struct worker *w, const char *fmt, ...)
{
	va_list	 ap;

	if (w->why[0] != '\0')
		return;
	va_start(ap, fmt);
	if (vsnprintf(w->why, sizeof(w->why), fmt, ap) < 0)
		w->why[0] = '\0';
	va_end(ap);
}

/* digest_make - a different digest for each signature of each thread */
static void
digest_make(unsigned char digest[32], unsigned id, unsigned long n)
{
	memset(digest, 0x5a, 32);
	memcpy(digest, &id, sizeof(id));
	memcpy(digest + sizeof(id), &n, sizeof(n));
}

/* raw_find_key - the private key with this CKA_LABEL, on the session */
static int
raw_find_key(struct worker *w)
{
	CK_FUNCTION_LIST *fn = w->b->fn;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)w->b->o.key,
		    strlen(w->b->o.key) },
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	CK_RV	 rv;

	rv = fn->C_FindObjectsInit(w->s, tmpl, 2);
	if (rv == CKR_OK) {
		rv = fn->C_FindObjects(w->s, found, 2, &n);
		(void)fn->C_FindObjectsFinal(w->s);
	}
	if (rv != CKR_OK || n != 1) {
		worker_fail(w, "finding private key '%s': rv 0x%lx, %lu found",
		    w->b->o.key, (unsigned long)rv, (unsigned long)n);
		return -1;
	}
	w->o = found[0];
	return 0;
}

/* raw_sign - C_SignInit + C_Sign on the thread's session; 0 or -1 */
static int
raw_sign(struct worker *w, const unsigned char digest[32],
    unsigned char *sig, size_t *siglen)
{
	CK_FUNCTION_LIST *fn = w->b->fn;
	int	 rsa = p11_key_type(w->b->key) == P11_KEY_RSA;
	CK_MECHANISM mech = { rsa ? CKM_RSA_PKCS : CKM_EDDSA, NULL, 0 };
	unsigned char data[sizeof(sha256_digestinfo) + 32];
	CK_ULONG len = 32, slen = *siglen;
	CK_RV	 rv;

	if (rsa) {
		memcpy(data, sha256_digestinfo, sizeof(sha256_digestinfo));
		memcpy(data + sizeof(sha256_digestinfo), digest, 32);
		len = sizeof(data);
	} else
		memcpy(data, digest, 32);
	if ((rv = fn->C_SignInit(w->s, &mech, w->o)) != CKR_OK) {
		worker_fail(w, "C_SignInit: rv 0x%lx", (unsigned long)rv);
		return -1;
	}
	if ((rv = fn->C_Sign(w->s, data, len, sig, &slen)) != CKR_OK) {
		worker_fail(w, "C_Sign: rv 0x%lx", (unsigned long)rv);
		return -1;
	}
	*siglen = slen;
	return 0;
}

static int raw_setup_one(struct worker *);

/* verify - does sig verify over the digest with the key's public half? */
static int
verify(EVP_PKEY *pub, int rsa, const unsigned char digest[32],
    const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = NULL;
	int	 ok;

	if (rsa) {
		ok = (pctx = EVP_PKEY_CTX_new(pub, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pctx, sig, siglen, digest, 32) == 1;
	} else {
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
		    EVP_DigestVerify(md, sig, siglen, digest, 32) == 1;
	}
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(md);
	return ok;
}

/*
 * raw_setup - the thread's own session (logged in already: login state
 * belongs to the process, and the token layer holds it), the key handle
 * on it, and one signature that must verify.  Threads set up one at a
 * time (raw_setup_one): tpm2-pkcs11 1.9 sometimes answers concurrent
 * first calls on new sessions with CKR_OPERATION_NOT_INITIALIZED.
 */
static int
raw_setup(struct worker *w)
{
	int	 rc;

	pthread_mutex_lock(&w->b->setup);
	rc = raw_setup_one(w);
	pthread_mutex_unlock(&w->b->setup);
	return rc;
}

/* raw_setup_one - raw_setup's work, under its lock */
static int
raw_setup_one(struct worker *w)
{
	struct bench *b = w->b;
	unsigned char digest[32], sig[SIG_BUF];
	size_t	 len = sizeof(sig);
	CK_RV	 rv;

	rv = b->fn->C_OpenSession(b->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &w->s);
	if (rv != CKR_OK) {
		worker_fail(w, "C_OpenSession: rv 0x%lx", (unsigned long)rv);
		return -1;
	}
	if (raw_find_key(w) < 0)
		return -1;
	digest_make(digest, w->id, ~0UL);
	if (raw_sign(w, digest, sig, &len) < 0)
		return -1;
	if (!verify(p11_key_public(b->key), p11_key_type(b->key) ==
	    P11_KEY_RSA, digest, sig, len)) {
		worker_fail(w, "the raw signature does not verify");
		return -1;
	}
	return 0;
}

/* sign_one - one signature by the worker's path; 0 or -1 */
static int
sign_one(struct worker *w, unsigned long n)
{
	unsigned char digest[32], sig[SIG_BUF];
	size_t	 len = sizeof(sig);
	struct p11_err err;

	digest_make(digest, w->id, n);
	if (w->path == PATH_RAW)
		return raw_sign(w, digest, sig, &len);
	if (p11_key_sign(w->b->key, digest, sig, &len, &err) < 0) {
		worker_fail(w, "p11_key_sign: %s", err.msg);
		return -1;
	}
	return 0;
}

/* worker_run - set up, wait for the others, sign until told to stop */
static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	int	 ok = w->path == PATH_LAYER || raw_setup(w) == 0;

	w->failed = !ok;
	pthread_barrier_wait(&b->ready);
	for (unsigned long n = 0; ok && !atomic_load(&b->stop); n++) {
		if (sign_one(w, n) == 0)
			atomic_fetch_add_explicit(&w->signs, 1,
			    memory_order_relaxed);
		else if (w->path == PATH_LAYER)
			atomic_fetch_add(&w->errors, 1);
		else {
			w->failed = 1;
			break;
		}
	}
	if (w->path == PATH_RAW && w->s != CK_INVALID_HANDLE)
		(void)b->fn->C_CloseSession(w->s);
	return NULL;
}

/* counts - every worker's signatures so far, into n[], and their sum */
static unsigned long
counts(struct worker *w, unsigned threads, unsigned long *n)
{
	unsigned long sum = 0;

	for (unsigned i = 0; i < threads; i++)
		sum += n[i] = atomic_load_explicit(&w[i].signs,
		    memory_order_relaxed);
	return sum;
}

/* sleep_s - sleep this many seconds */
static void
sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) *
	    1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* spread - the slowest and fastest thread's signatures in the window */
static void
spread(const unsigned long *before, const unsigned long *after,
    unsigned threads, struct path_result *r)
{
	r->min = ~0UL;
	r->max = 0;
	for (unsigned i = 0; i < threads; i++) {
		unsigned long d = after[i] - before[i];

		r->min = d < r->min ? d : r->min;
		r->max = d > r->max ? d : r->max;
	}
}

/* collect - errors of every worker; a stopped thread is fatal */
static void
collect(struct worker *w, unsigned threads, enum path path,
    struct path_result *r)
{
	for (unsigned i = 0; i < threads; i++) {
		if (w[i].failed)
			bench_fatal("%s path, thread %u: %s", path == PATH_RAW ?
			    "raw" : "layer", i + 1, w[i].why);
		r->errors += atomic_load(&w[i].errors);
		if (r->why[0] == '\0' && w[i].why[0] != '\0')
			snprintf(r->why, sizeof(r->why), "%s", w[i].why);
	}
}

/*
 * run_path - N threads on one path: signatures per second in the window,
 * the CPU time they took per signature, the spread between threads, and
 * the failed signatures of the token layer (whole run).
 */
static void
run_path(struct bench *b, enum path path, struct path_result *r)
{
	unsigned n = b->o.threads;
	struct worker *w = calloc(n, sizeof(*w));
	unsigned long *before = calloc(n, sizeof(*before));
	unsigned long *after = calloc(n, sizeof(*after));
	unsigned long n0, n1;
	double	 t0, t1, c0, c1;

	if (w == NULL || before == NULL || after == NULL)
		bench_fatal("out of memory");
	memset(r, 0, sizeof(*r));
	atomic_store(&b->stop, 0);
	pthread_barrier_init(&b->ready, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		w[i] = (struct worker){ .b = b, .path = path, .id = i,
		    .s = CK_INVALID_HANDLE };
		if (pthread_create(&w[i].th, NULL, worker_run, &w[i]) != 0)
			bench_fatal("cannot start thread %u", i + 1);
	}
	pthread_barrier_wait(&b->ready);
	sleep_s(b->o.warmup);
	n0 = counts(w, n, before);
	t0 = bench_now();
	c0 = bench_cpu_s();
	sleep_s(b->o.duration);
	n1 = counts(w, n, after);
	t1 = bench_now();
	c1 = bench_cpu_s();
	atomic_store(&b->stop, 1);
	for (unsigned i = 0; i < n; i++)
		pthread_join(w[i].th, NULL);
	pthread_barrier_destroy(&b->ready);
	collect(w, n, path, r);
	spread(before, after, n, r);
	r->all = counts(w, n, after) + (path == PATH_RAW ? n : 0);
	r->cpu_us = n1 > n0 ? (c1 - c0) * 1e6 / (double)(n1 - n0) : 0;
	r->rate = (double)(n1 - n0) / (t1 - t0);
	free(before);
	free(after);
	free(w);
}

/* open_token - load the module, log in, find the key */
static void
open_token(struct bench *b)
{
	struct pin_source *pin;
	struct p11_err err;

	b->mod = p11_module_load_args(b->o.module, b->o.init_args, &err);
	if (b->mod == NULL)
		bench_fatal("%s", err.msg);
	if ((pin = pin_source_parse(b->o.pin, "user PIN", &err)) == NULL)
		bench_fatal("%s", err.msg);
	b->tok = token_open(b->mod, b->o.token, NULL, pin, b->o.sessions ?
	    b->o.sessions : b->o.threads, &err);
	if (b->tok == NULL)
		bench_fatal("%s", err.msg);
	if ((b->key = token_key(b->tok, b->o.key, &err)) == NULL)
		bench_fatal("%s", err.msg);
	b->fn = p11_module_functions(b->mod);
	b->slot = token_info(b->tok)->slot;
}

/* print_path - one row of the table */
static void
print_path(const char *name, const struct path_result *r)
{
	printf("%-36s %10.1f %12.1f %8lu/%-8lu\n", name, r->rate, r->cpu_us,
	    r->min, r->max);
}

/* usage - how to call; exits 1 */
static void
usage(void)
{
	fprintf(stderr, "usage: token_bench -m MODULE -t TOKEN -p PIN -k KEY "
	    "[-c THREADS] [-d SECONDS]\n"
	    "                   [-w SECONDS] [-s SESSIONS] [-M raw|layer|both]\n"
	    "                   [-i INIT_ARGS]\n"
	    "  -m MODULE   the PKCS#11 module\n"
	    "  -t TOKEN    the token label\n"
	    "  -p PIN      the user PIN source: file:PATH, fd:N or prompt\n"
	    "  -k KEY      the CKA_LABEL of the private key\n"
	    "  -c THREADS  signing threads (default 8, at most %d)\n"
	    "  -d SECONDS  measured time per path (default 3)\n"
	    "  -w SECONDS  warm-up per path, not counted (default 0.5)\n"
	    "  -s SESSIONS the token layer's session pool (default: THREADS)\n"
	    "  -M PATH     raw (C_Sign), layer (p11_key_sign) or both "
	    "(default)\n"
	    "  -i ARGS     the module's C_Initialize arguments (pReserved), as "
	    "pkcs11-init-args\n", THREADS_MAX);
	exit(1);
}

/* parse_opts - the command line */
static void
parse_opts(struct opts *o, int argc, char **argv)
{
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->threads = 8;
	o->duration = 3;
	o->warmup = 0.5;
	o->raw = o->layer = 1;
	while ((ch = getopt(argc, argv, "m:t:p:k:c:d:w:s:M:i:")) != -1) {
		switch (ch) {
		case 'm': o->module = optarg; break;
		case 't': o->token = optarg; break;
		case 'p': o->pin = optarg; break;
		case 'k': o->key = optarg; break;
		case 'i': o->init_args = *optarg ? optarg : NULL; break;
		case 'c': o->threads = (unsigned)bench_arg_double(optarg, 1,
		    THREADS_MAX, usage); break;
		case 'd': o->duration = bench_arg_double(optarg,
		    0.05, 3600, usage); break;
		case 'w': o->warmup = bench_arg_double(optarg,
		    0, 3600, usage); break;
		case 's': o->sessions = (unsigned)bench_arg_double(optarg, 1,
		    THREADS_MAX, usage); break;
		case 'M':
			o->raw = strcmp(optarg, "layer") != 0;
			o->layer = strcmp(optarg, "raw") != 0;
			if (strcmp(optarg, "raw") && strcmp(optarg, "layer") &&
			    strcmp(optarg, "both"))
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || !o->module || !o->token || !o->pin || !o->key)
		usage();
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct path_result raw, layer;

	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.setup, NULL);
	memset(&raw, 0, sizeof(raw));
	memset(&layer, 0, sizeof(layer));
	parse_opts(&b.o, argc, argv);
	open_token(&b);
	printf("token_bench: token '%s' (slot %lu), key '%s' (%s-%d), %u "
	    "thread(s), %.1f s per path\n", b.o.token, (unsigned long)b.slot,
	    b.o.key, p11_key_type(b.key) == P11_KEY_RSA ? "RSA" : "Ed25519",
	    p11_key_bits(b.key), b.o.threads, b.o.duration);
	printf("%-36s %10s %12s %17s\n", "path", "signs/s", "CPU us/sign",
	    "thread min/max");
	if (b.o.raw) {
		run_path(&b, PATH_RAW, &raw);
		print_path("C_Sign (raw, a session per thread)", &raw);
	}
	if (b.o.layer) {
		run_path(&b, PATH_LAYER, &layer);
		print_path("p11_key_sign (token layer)", &layer);
		if (raw.rate > 0)
			printf("  token layer: %.1f%% of raw\n",
			    100 * layer.rate / raw.rate);
		if (layer.errors > 0)
			printf("  token layer: %lu signature(s) failed, first: "
			    "%s\n", layer.errors, layer.why);
	}
	printf("result: raw_s=%.1f layer_s=%.1f raw_cpu_us=%.1f "
	    "layer_cpu_us=%.1f layer_errors=%lu raw_all=%lu\n", raw.rate,
	    layer.rate, raw.cpu_us, layer.cpu_us, layer.errors, raw.all);
	fflush(stdout);
	token_close(b.tok);
	p11_module_free(b.mod);
	return 0;
}
