/*
 * failalloc.c - allocation failure injection for the unit tests of dkim/
 * and pkcs11/ (tests/alloc/run.sh drives it; see fuzz/README.md).
 *
 * The libraries under test are linked with their allocation calls renamed
 * (objcopy --redefine-syms=tests/alloc/syms: malloc becomes fa_malloc,
 * and so on), and OpenSSL's allocations come here through
 * CRYPTO_set_mem_functions: so what is counted is what our code
 * allocates, directly or through OpenSSL, and not what the test programs
 * or cmocka do.  FAILALLOC_N=n makes the n-th counted allocation fail
 * (NULL; MAP_FAILED for mmap), once; 0 fails none.  Counting starts once
 * OpenSSL has set itself up (OPENSSL_init_crypto, here, first): OpenSSL
 * 3.0 reports success when one of its first allocations fails, then
 * crashes in its next digest fetch, which no caller can see coming
 * (fuzz/README.md).
 *
 * With FAILALLOC_SEEN=file instead, the allocation that fails is the
 * first whose path is not in the file: the path is the chain of our
 * functions on the stack (return addresses in our code), so the
 * thousandth allocation of a loop is the first one again, and OpenSSL's
 * allocations within one call of ours count as one.  Run after run,
 * with each path added to the file, every path fails once.
 *
 * FAILALLOC_REPORT names a file that gets, as it happens:
 *   injected N PATH FIRST | LAST   the failure: the N-th allocation, its
 *                         path, our function that asked and the one the
 *                         test called
 *   error N KIND MESSAGE  the first error our code recorded after it;
 *                         KIND "memory" when its status says so
 *                         (DKIM_ENOMEM, CKR_HOST_MEMORY), else
 *                         "other:STATUS"
 *   failed                a test failed (cmocka left it)
 *   leaked                ... and LeakSanitizer found a leak then
 *   count C               allocations counted (at exit, or when the
 *                         test that had the failure failed: the run
 *                         ends there, the rest runs with no failure)
 * A crash leaves what was written before it.
 *
 * Leaks: when a test fails, cmocka jumps out of it (__longjmp_chk), and
 * what the test held stays allocated.  So at that jump LeakSanitizer
 * looks for leaks while the test's frames are still on the stack (what
 * it finds then is leaked by our code), and the allocations still live
 * are then marked as the test's (__lsan_ignore_object).  At exit
 * LeakSanitizer checks the rest as usual.  mmap'ed pages, which
 * LeakSanitizer does not see, are counted here: one not unmapped at exit
 * is reported as "leaked-pages N".
 *
 * Needs AddressSanitizer (make SAN=1): the leak checks and the
 * symbolizer are its.
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>

#include "p11dkim/dkim_err.h"
#include "p11dkim/p11_err.h"

#define LIVE_MAX	(1 << 16)	/* open addressing, power of two */
#define FRAMES		64

void	*fa_malloc(size_t);
void	*fa_calloc(size_t, size_t);
void	*fa_realloc(void *, size_t);
void	*fa_reallocarray(void *, size_t, size_t);
char	*fa_strdup(const char *);
char	*fa_strndup(const char *, size_t);
void	 fa_free(void *);
void	*fa_mmap(void *, size_t, int, int, int, off_t);
int	 fa_munmap(void *, size_t);
int	 __real_dkim_err_set(struct dkim_err *, enum dkim_status, const char *,
	    ...);
int	 __wrap_dkim_err_set(struct dkim_err *, enum dkim_status, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
int	 __real_p11_err_set(struct p11_err *, int, CK_RV, const char *, ...);
int	 __wrap_p11_err_set(struct p11_err *, int, CK_RV, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	 __longjmp_chk(struct __jmp_buf_tag *, int)
	    __attribute__((noreturn));

#define SEEN_MAX	(1 << 14)
#define PCS_MAX		(1 << 14)	/* distinct return addresses */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long fail_at, counted;
static int armed;			/* OpenSSL's own set-up is done */
static int by_path;			/* FAILALLOC_SEEN: fail new paths */
static uint64_t seen[SEEN_MAX];		/* paths failed in earlier runs */
static size_t nseen;
static uintptr_t exe_lo, exe_hi;
static int deep;			/* FAILALLOC_DEEP: OpenSSL's paths too */
static struct { uintptr_t lo, hi; } mods[32];
static size_t nmods;
static int injected, error_noted;
static long pages;			/* mmap'ed, not yet unmapped */
static void *live[LIVE_MAX];
static FILE *report;

/* note - a line to the report, at once */
static void
note(const char *fmt, ...)
{
	va_list	 ap;

	if (report == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(report, fmt, ap);
	va_end(ap);
	fputc('\n', report);
	fflush(report);
}

/* slot - where p is, or the free slot where it would go (locked) */
static size_t
slot(const void *p)
{
	size_t	 i = ((uintptr_t)p >> 4) & (LIVE_MAX - 1);

	while (live[i] != NULL && live[i] != p)
		i = (i + 1) & (LIVE_MAX - 1);
	return i;
}

/* track - p was allocated by our code (or untrack it: p freed) */
static void
track(void *p, int add)
{
	size_t	 i, j;

	if (p == NULL)
		return;
	pthread_mutex_lock(&mu);
	i = slot(p);
	if (add)
		live[i] = p;
	else if (live[i] == p) {
		live[i] = NULL;		/* re-insert the rest of its run */
		for (j = (i + 1) & (LIVE_MAX - 1); live[j] != NULL;
		    j = (j + 1) & (LIVE_MAX - 1)) {
			void	*q = live[j];

			live[j] = NULL;
			live[slot(q)] = q;
		}
	}
	pthread_mutex_unlock(&mu);
}

/* our_file - a source file of the code under test */
static int
our_file(const char *file)
{
	static const char *const dirs[] = { "dkim/", "util/", "pkcs11/" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		const char *p = strstr(file, dirs[i]);

		if (p != NULL && (p == file || p[-1] == '/' || p[-1] == ' '))
			return 1;
	}
	return 0;
}

/*
 * our_sites - the first function of ours on the stack (the one that
 * allocated, or called OpenSSL), and the last (the one the test called),
 * each "name file:line"
 */
static void
our_sites(char *first, char *last, size_t len)
{
	void	*pc[FRAMES];
	int	 n = backtrace(pc, FRAMES);
	char	 sym[512];

	snprintf(first, len, "?");
	snprintf(last, len, "?");
	for (int i = 1; i < n; i++) {
		__sanitizer_symbolize_pc(pc[i], "%f %s:%l", sym, sizeof(sym));
		if (!our_file(sym))
			continue;
		if (strcmp(first, "?") == 0)
			snprintf(first, len, "%s", sym);
		snprintf(last, len, "%s", sym);
	}
}

/*
 * ours - is pc in our code (dkim/, util/, pkcs11/)?  Each pc is
 * symbolized once, then remembered.
 */
static int
ours(uintptr_t pc)
{
	static struct { uintptr_t pc; int ours; } memo[PCS_MAX];
	size_t	 i = (pc >> 2) & (PCS_MAX - 1);
	char	 file[512];

	while (memo[i].pc != 0 && memo[i].pc != pc)
		i = (i + 1) & (PCS_MAX - 1);
	if (memo[i].pc == 0) {
		__sanitizer_symbolize_pc((void *)pc, "%s", file, sizeof(file));
		memo[i].pc = pc;
		memo[i].ours = our_file(file);
	}
	return memo[i].ours;
}

/*
 * path_hash - the allocation's path: the chain of our functions that
 * made it (directly or through OpenSSL), as offsets in the executable
 */
static uint64_t
path_hash(void)
{
	void	*pc[FRAMES];
	int	 n = backtrace(pc, FRAMES);
	uint64_t h = 1469598103934665603ULL;

	for (int i = 2; i < n; i++) {		/* past fails_now, fa_* */
		if ((uintptr_t)pc[i] >= exe_lo && (uintptr_t)pc[i] < exe_hi &&
		    ours((uintptr_t)pc[i]))
			h = (h ^ ((uintptr_t)pc[i] - exe_lo)) * 1099511628211ULL;
		for (size_t m = 0; deep && m < nmods; m++)
			if ((uintptr_t)pc[i] >= mods[m].lo &&
			    (uintptr_t)pc[i] < mods[m].hi)
				h = (h ^ (m << 40 ^ ((uintptr_t)pc[i] -
				    mods[m].lo))) * 1099511628211ULL;
	}
	return h;
}

/* was_seen - a path failed in an earlier run */
static int
was_seen(uint64_t h)
{
	for (size_t i = 0; i < nseen; i++)
		if (seen[i] == h)
			return 1;
	return 0;
}

/*
 * fails_now - count one allocation; 1 when it is the one to fail: the
 * n-th, or with FAILALLOC_SEEN the first whose call path is not there
 */
static int
fails_now(void)
{
	char	 site[512], outer[512];
	unsigned long n;
	uint64_t h = 0;

	if (!armed)
		return 0;
	pthread_mutex_lock(&mu);
	n = ++counted;
	pthread_mutex_unlock(&mu);
	if (by_path ? injected || was_seen(h = path_hash()) : n != fail_at)
		return 0;
	injected = 1;
	fail_at = n;
	if (getenv("FAILALLOC_STACK") != NULL)
		__sanitizer_print_stack_trace();
	our_sites(site, outer, sizeof(site));
	note("injected %lu %016llx %s | %s", n, (unsigned long long)h, site,
	    outer);
	return 1;
}

void *
fa_malloc(size_t n)
{
	void	*p = fails_now() ? NULL : malloc(n);

	track(p, 1);
	return p;
}

void *
fa_calloc(size_t n, size_t size)
{
	void	*p = fails_now() ? NULL : calloc(n, size);

	track(p, 1);
	return p;
}

void *
fa_realloc(void *old, size_t n)
{
	void	*p;

	if (fails_now())
		return NULL;
	track(old, 0);			/* moved, or still there: */
	p = realloc(old, n);
	track(p != NULL ? p : old, 1);
	return p;
}

void *
fa_reallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (fails_now())
		return NULL;
	track(old, 0);			/* moved, or still there: */
	p = reallocarray(old, n, size);
	track(p != NULL ? p : old, 1);
	return p;
}

char *
fa_strdup(const char *s)
{
	char	*p = fails_now() ? NULL : strdup(s);

	track(p, 1);
	return p;
}

char *
fa_strndup(const char *s, size_t n)
{
	char	*p = fails_now() ? NULL : strndup(s, n);

	track(p, 1);
	return p;
}

void
fa_free(void *p)
{
	track(p, 0);
	free(p);
}

void *
fa_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void	*p;

	if (fails_now())
		return MAP_FAILED;
	if ((p = mmap(addr, len, prot, flags, fd, off)) != MAP_FAILED)
		__atomic_add_fetch(&pages, 1, __ATOMIC_RELAXED);
	return p;
}

int
fa_munmap(void *addr, size_t len)
{
	int	 rc = munmap(addr, len);

	if (rc == 0)
		__atomic_sub_fetch(&pages, 1, __ATOMIC_RELAXED);
	return rc;
}

/* crypto_malloc, crypto_realloc, crypto_free - OpenSSL's, counted too */
static void *
crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fa_malloc(n);
}

static void *
crypto_realloc(void *old, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fa_realloc(old, n);
}

static void
crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	fa_free(p);
}

/*
 * error_seen - the first error recorded after the failure: "memory" when
 * its status says out of memory, else "other:" and the status
 */
static void
error_seen(int memory, const char *status, const char *msg)
{
	if (injected && !error_noted) {
		error_noted = 1;
		note("error %lu %s%s %s", fail_at, memory ? "memory" : "other:",
		    memory ? "" : status, msg);
	}
}

int
__wrap_dkim_err_set(struct dkim_err *err, enum dkim_status status,
    const char *fmt, ...)
{
	char	 msg[DKIM_ERR_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	error_seen(status == DKIM_ENOMEM, dkim_status_name(status), msg);
	return __real_dkim_err_set(err, status, "%s", msg);
}

int
__wrap_p11_err_set(struct p11_err *err, int temporary, CK_RV rv,
    const char *fmt, ...)
{
	char	 msg[P11_ERR_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	error_seen(rv == CKR_HOST_MEMORY, temporary ? "temporary" : "permanent",
	    msg);
	return __real_p11_err_set(err, temporary, rv, "%s", msg);
}

/*
 * __longjmp_chk - cmocka leaves a failed test: leaks are looked for now,
 * then what is still allocated is the test's
 */
void
__longjmp_chk(struct __jmp_buf_tag *env, int val)
{
	void	(*real)(struct __jmp_buf_tag *, int) =
	    (void (*)(struct __jmp_buf_tag *, int))dlsym(RTLD_NEXT,
	    "__longjmp_chk");

	note("failed");
	if (__lsan_do_recoverable_leak_check() != 0)
		note("leaked");
	if (injected) {			/* its test is over: what follows */
		note("count %lu", counted);	/* runs without a failure */
		fflush(NULL);
		_exit(0);
	}
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < LIVE_MAX; i++)
		if (live[i] != NULL)
			__lsan_ignore_object(live[i]);
	pthread_mutex_unlock(&mu);
	real(env, val);
	abort();
}

/* exe_text - the executable's code, where our libraries are linked; and
 * with FAILALLOC_DEEP, libcrypto's */
static int
exe_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		uintptr_t lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;

		if (info->dlpi_phdr[i].p_type != PT_LOAD ||
		    !(info->dlpi_phdr[i].p_flags & PF_X))
			continue;
		if (arg == NULL) {
			exe_lo = lo;
			exe_hi = lo + info->dlpi_phdr[i].p_memsz;
		} else if (strstr(info->dlpi_name, "libcrypto") && nmods < 32) {
			mods[nmods].lo = lo;
			mods[nmods++].hi = lo + info->dlpi_phdr[i].p_memsz;
		}
	}
	return arg == NULL;		/* the first one is the executable */
}

/* load_seen - the paths failed in earlier runs, one hex number a line */
static void
load_seen(const char *path)
{
	unsigned long long h;
	FILE	*f;

	by_path = 1;
	dl_iterate_phdr(exe_text, NULL);
	if ((deep = getenv("FAILALLOC_DEEP") != NULL))
		dl_iterate_phdr(exe_text, &deep);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (nseen < SEEN_MAX && fscanf(f, "%llx", &h) == 1)
		seen[nseen++] = h;
	fclose(f);
}

/* start - read the settings; OpenSSL's allocations through us */
__attribute__((constructor)) static void
start(void)
{
	const char *n = getenv("FAILALLOC_N"), *path = getenv("FAILALLOC_REPORT"),
	    *seen_path = getenv("FAILALLOC_SEEN");

	fail_at = n ? strtoul(n, NULL, 10) : 0;
	if (seen_path != NULL)
		load_seen(seen_path);
	if (path != NULL && (report = fopen(path, "w")) == NULL)
		abort();
	if (!CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc,
	    crypto_free))
		abort();		/* OpenSSL allocated before us */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		abort();
	armed = 1;
}

/* finish - the count, and mapped pages never unmapped */
__attribute__((destructor)) static void
finish(void)
{
	if (pages > 0)
		note("leaked-pages %ld", pages);
	note("count %lu", counted);
}
