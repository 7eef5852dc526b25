/*
 * p11_module.c - load a PKCS#11 module once per process, find tokens by
 * label and serial, re-initialize after device failures (see
 * include/p11dkim/p11_module.h).
 *
 * Security: the module path comes from the configuration and is loaded
 * as code: it must be trusted like the binary itself.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libp11.h>

#include "p11dkim/p11_module.h"
#include "slot_index.h"

#define REINIT_BACKOFF_MIN_MS	100
#define REINIT_BACKOFF_MAX_MS	10000
#define RESCAN_MIN_MS		5000	/* a token not found: scan again after */

struct p11_module {
	char	*path;
	char	*init_args;		/* C_Initialize's pReserved, or NULL */
	PKCS11_CTX *ctx;		/* libp11 */
	PKCS11_SLOT *slots;		/* libp11's slot list */
	unsigned int nslots;
	void	*dl;			/* our own handle on the same module */
	CK_FUNCTION_LIST *fn;
	pthread_rwlock_t lock;		/* read: calls; write: re-init */
	pthread_mutex_t reinit_mu;
	unsigned long generation;
	int	 initialized;		/* C_Initialize is in force */
	long	 backoff_ms;
	struct timespec next_try;
	pthread_mutex_t index_mu;	/* the three below */
	struct slot_index *index;	/* NULL: scan before use */
	long long index_at;		/* when it was scanned (ms) */
	unsigned long index_gen;	/* the generation it was scanned in */
	size_t	 probe_next;		/* p11_module_broken's next guess */
	unsigned sessions;		/* pool sessions open (atomic) */
	unsigned session_bound;		/* 0: none */
};

/* now_ms - a monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* function_list - the function list of the module libp11 loaded */
static int
function_list(struct p11_module *m, struct p11_err *err)
{
	CK_C_GetFunctionList get;
	CK_RV	 rv;

	if ((m->dl = dlopen(m->path, RTLD_NOW | RTLD_NOLOAD)) == NULL)
		return p11_err_set(err, 0, CKR_OK, "module %s: not loaded "
		    "(%s)", m->path, dlerror());
	*(void **)&get = dlsym(m->dl, "C_GetFunctionList");
	if (get == NULL)
		return p11_err_set(err, 0, CKR_OK, "module %s: no "
		    "C_GetFunctionList", m->path);
	if ((rv = get(&m->fn)) != CKR_OK)
		return p11_err_rv(err, rv, "module %s: C_GetFunctionList",
		    m->path);
	return 0;
}

/* p11_module_load - load the module at path; NULL and why on failure */
struct p11_module *
p11_module_load(const char *path, struct p11_err *err)
{
	return p11_module_load_args(path, NULL, err);
}

/* p11_module_load_args - the same, with C_Initialize's pReserved */
struct p11_module *
p11_module_load_args(const char *path, const char *init_args,
    struct p11_err *err)
{
	struct p11_module *m;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(path)) == NULL ||
	    (init_args != NULL && (m->init_args = strdup(init_args)) == NULL)) {
		if (m != NULL)
			free(m->path);
		free(m);
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return NULL;
	}
	pthread_rwlock_init(&m->lock, NULL);
	pthread_mutex_init(&m->reinit_mu, NULL);
	pthread_mutex_init(&m->index_mu, NULL);
	if (access(path, R_OK) != 0) {
		p11_err_set(err, 0, CKR_OK, "cannot load PKCS#11 module %s: "
		    "%s", path, strerror(errno));
		return p11_module_free(m);
	}
	if ((m->ctx = PKCS11_CTX_new()) == NULL) {
		p11_err_set(err, 1, CKR_HOST_MEMORY, "libp11: out of memory");
		return p11_module_free(m);
	}
	if (m->init_args != NULL)
		PKCS11_CTX_init_args(m->ctx, m->init_args);
	if (PKCS11_CTX_load(m->ctx, path) != 0) {
		p11_err_set(err, 0, CKR_OK, "cannot load PKCS#11 module %s "
		    "(missing, not a PKCS#11 module, or C_Initialize failed%s)",
		    path, m->init_args == NULL ? "; some modules need "
		    "pkcs11-init-args" : " with the pkcs11-init-args given");
		PKCS11_CTX_free(m->ctx);
		m->ctx = NULL;
		return p11_module_free(m);
	}
	m->initialized = 1;
	if (function_list(m, err) < 0)
		return p11_module_free(m);
	m->backoff_ms = REINIT_BACKOFF_MIN_MS;
	return m;
}

/* p11_module_path - the path it was loaded from */
const char *
p11_module_path(const struct p11_module *m)
{
	return m->path;
}

/* p11_module_functions - the module's PKCS#11 function list */
CK_FUNCTION_LIST *
p11_module_functions(const struct p11_module *m)
{
	return m->fn;
}

/* copy_field - a blank-padded PKCS#11 text field of n bytes as a C string */
static void
copy_field(char *dst, size_t dstlen, const CK_UTF8CHAR *src, size_t n)
{
	if (n > dstlen - 1)
		n = dstlen - 1;
	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

/* token_info - the token in slot s, through the function list */
static int
token_info(struct p11_module *m, CK_SLOT_ID slot, struct p11_token_info *ti,
    struct p11_err *err)
{
	CK_TOKEN_INFO info;
	CK_RV	 rv;

	if ((rv = m->fn->C_GetTokenInfo(slot, &info)) != CKR_OK)
		return p11_err_rv(err, rv, "C_GetTokenInfo on slot %lu",
		    (unsigned long)slot);
	memset(ti, 0, sizeof(*ti));
	ti->slot = slot;
	copy_field(ti->label, sizeof(ti->label), info.label,
	    sizeof(info.label));
	copy_field(ti->serial, sizeof(ti->serial), info.serialNumber,
	    sizeof(info.serialNumber));
	copy_field(ti->manufacturer, sizeof(ti->manufacturer),
	    info.manufacturerID, sizeof(info.manufacturerID));
	copy_field(ti->model, sizeof(ti->model), info.model,
	    sizeof(info.model));
	ti->initialized = (info.flags & CKF_TOKEN_INITIALIZED) != 0;
	ti->user_pin_set = (info.flags & CKF_USER_PIN_INITIALIZED) != 0;
	ti->user_pin_locked = (info.flags & CKF_USER_PIN_LOCKED) != 0;
	return 0;
}

/*
 * p11_module_tokens - every slot with a token, through the function list.
 * (Not through libp11: refreshing its slot list closes every session of
 * every slot, which would log out the tokens already open.)
 */
int
p11_module_tokens(struct p11_module *m, struct p11_token_info **list,
    size_t *n, struct p11_err *err)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG count = 0;
	CK_RV	 rv;
	size_t	 k = 0;

	*list = NULL;
	*n = 0;
	if ((rv = m->fn->C_GetSlotList(CK_TRUE, NULL, &count)) != CKR_OK)
		return p11_err_rv(err, rv, "module %s: C_GetSlotList", m->path);
	if ((ids = calloc(count + 1, sizeof(*ids))) == NULL ||
	    (*list = calloc(count + 1, sizeof(**list))) == NULL) {
		free(ids);
		return p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
	}
	if ((rv = m->fn->C_GetSlotList(CK_TRUE, ids, &count)) != CKR_OK) {
		free(ids);
		free(*list);
		*list = NULL;
		return p11_err_rv(err, rv, "module %s: C_GetSlotList", m->path);
	}
	for (CK_ULONG i = 0; i < count; i++)
		if (token_info(m, ids[i], &(*list)[k], err) == 0)
			k++;
	free(ids);
	*n = k;
	return 0;
}

/*
 * p11_module_libp11_slot - libp11's PKCS11_SLOT for a slot id, after
 * refreshing libp11's slot list (which closes every session of the
 * module: for token set-up before any token is opened).
 */
void *
p11_module_libp11_slot(struct p11_module *m, CK_SLOT_ID id)
{
	if (m->slots != NULL)
		PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
	m->slots = NULL;
	m->nslots = 0;
	if (PKCS11_enumerate_slots(m->ctx, &m->slots, &m->nslots) < 0)
		return NULL;
	for (unsigned int i = 0; i < m->nslots; i++)
		if (PKCS11_get_slotid_from_slot(&m->slots[i]) == id)
			return &m->slots[i];
	return NULL;
}

/* scan_locked - a fresh index of every token (index_mu held) */
static int
scan_locked(struct p11_module *m, struct p11_err *err)
{
	struct p11_token_info *list;
	size_t	 n;

	m->index = slot_index_free(m->index);
	if (p11_module_tokens(m, &list, &n, err) < 0)
		return -1;
	if ((m->index = slot_index_new(list, n)) == NULL)
		return p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
	m->index_at = now_ms();
	m->index_gen = p11_module_generation(m);
	return 0;
}

/* p11_module_rescan - read every slot's token again before the next find */
void
p11_module_rescan(struct p11_module *m)
{
	pthread_mutex_lock(&m->index_mu);
	m->index = slot_index_free(m->index);
	pthread_mutex_unlock(&m->index_mu);
}

/*
 * lookup_locked - the token in the index, scanned first when there is
 * none yet (or the module was re-initialized since), and again when the
 * token is not there and the last scan is RESCAN_MIN_MS old (a token
 * plugged in since); how many matched in *found
 */
static int
lookup_locked(struct p11_module *m, const char *label, const char *serial,
    struct p11_token_info *out, size_t *found, struct p11_err *err)
{
	const struct p11_token_info *t = NULL;

	*found = 0;
	if (m->index != NULL && m->index_gen == p11_module_generation(m))
		t = slot_index_find(m->index, label, serial, found);
	if (*found == 0 && (m->index == NULL || m->index_gen !=
	    p11_module_generation(m) || now_ms() - m->index_at >=
	    RESCAN_MIN_MS)) {
		if (scan_locked(m, err) < 0)
			return -1;
		t = slot_index_find(m->index, label, serial, found);
	}
	if (t != NULL)
		*out = *t;
	return 0;
}

/*
 * p11_module_find_token - the one token with this label (and serial),
 * from the index: the same cost however many tokens the module has
 */
int
p11_module_find_token(struct p11_module *m, const char *label,
    const char *serial, struct p11_token_info *out, struct p11_err *err)
{
	size_t	 found;
	int	 rc;

	pthread_mutex_lock(&m->index_mu);
	rc = lookup_locked(m, label, serial, out, &found, err);
	pthread_mutex_unlock(&m->index_mu);
	if (rc < 0)
		return -1;
	if (found == 0)
		return p11_err_set(err, 1, CKR_TOKEN_NOT_PRESENT, "no token "
		    "labelled '%s'%s%s in module %s", label,
		    serial ? " with serial " : "", serial ? serial : "",
		    m->path);
	if (found > 1)
		return p11_err_set(err, 0, CKR_OK, "%zu tokens labelled '%s'%s"
		    "%s: refusing to guess (configure the token serial)",
		    found, label, serial ? " with serial " : "",
		    serial ? serial : "");
	return 0;
}

/* probe - does the token in slot answer C_GetTokenInfo? */
static int
probe(struct p11_module *m, CK_SLOT_ID slot)
{
	CK_TOKEN_INFO info;

	return m->fn->C_GetTokenInfo(slot, &info) == CKR_OK;
}

/*
 * others_answer - does one of up to three other tokens of the index
 * answer?  -1 when there is no other (index_mu held)
 */
static int
others_answer(struct p11_module *m, CK_SLOT_ID slot)
{
	const struct p11_token_info *t;
	size_t	 n = slot_index_size(m->index), asked = 0;

	for (size_t k = 0; k < n && asked < 3; k++) {
		t = slot_index_at(m->index, (m->probe_next + k) % n);
		if (t->slot == slot || !t->initialized)
			continue;
		asked++;
		if (probe(m, t->slot)) {
			m->probe_next = (m->probe_next + k + 1) % n;
			return 1;
		}
	}
	return asked == 0 ? -1 : 0;
}

/* p11_module_broken - is the module itself broken, not just one token? */
int
p11_module_broken(struct p11_module *m, CK_SLOT_ID slot)
{
	struct p11_err ignored;
	CK_ULONG count = 0;
	int	 rc;

	p11_module_enter(m);
	if (!m->initialized || m->fn->C_GetSlotList(CK_TRUE, NULL, &count) !=
	    CKR_OK) {
		p11_module_leave(m);
		return 1;
	}
	pthread_mutex_lock(&m->index_mu);
	if (m->index == NULL && scan_locked(m, &ignored) < 0)
		rc = 1;
	else
		rc = others_answer(m, slot) != 1;
	pthread_mutex_unlock(&m->index_mu);
	p11_module_leave(m);
	return rc;
}

/* p11_module_set_session_bound - at most n pool sessions; 0: none */
void
p11_module_set_session_bound(struct p11_module *m, unsigned n)
{
	__atomic_store_n(&m->session_bound, n, __ATOMIC_RELAXED);
}

/* p11_module_session_take - room for one more pool session? */
int
p11_module_session_take(struct p11_module *m, int force)
{
	unsigned bound = __atomic_load_n(&m->session_bound, __ATOMIC_RELAXED);
	unsigned n = __atomic_load_n(&m->sessions, __ATOMIC_RELAXED);

	do {
		if (!force && bound > 0 && n >= bound)
			return 0;
	} while (!__atomic_compare_exchange_n(&m->sessions, &n, n + 1, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return 1;
}

/* p11_module_session_give - a pool session closed */
void
p11_module_session_give(struct p11_module *m)
{
	(void)__atomic_sub_fetch(&m->sessions, 1, __ATOMIC_RELAXED);
}

/* p11_module_sessions - pool sessions open now */
unsigned
p11_module_sessions(struct p11_module *m)
{
	return __atomic_load_n(&m->sessions, __ATOMIC_RELAXED);
}

/* p11_module_enter - hold the module while using the function list */
void
p11_module_enter(struct p11_module *m)
{
	pthread_rwlock_rdlock(&m->lock);
}

/* p11_module_leave - end of p11_module_enter */
void
p11_module_leave(struct p11_module *m)
{
	pthread_rwlock_unlock(&m->lock);
}

/* p11_module_generation - changes each time the module is re-initialized */
unsigned long
p11_module_generation(struct p11_module *m)
{
	unsigned long g;

	pthread_mutex_lock(&m->reinit_mu);
	g = m->generation;
	pthread_mutex_unlock(&m->reinit_mu);
	return g;
}

/* init_args - C_Initialize's arguments, as libp11 passes them */
static void
init_args(const struct p11_module *m, CK_C_INITIALIZE_ARGS *args)
{
	memset(args, 0, sizeof(*args));
	args->flags = CKF_OS_LOCKING_OK;
	args->pReserved = m->init_args;
}

/* reinit_locked - finalize and initialize; under both locks */
static int
reinit_locked(struct p11_module *m, struct p11_err *err)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV	 rv;

	if (m->initialized)
		(void)m->fn->C_Finalize(NULL);
	m->initialized = 0;
	m->generation++;		/* every handle is gone now */
	init_args(m, &args);
	rv = m->fn->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return p11_err_rv(err, rv, "module %s: C_Initialize after a "
		    "device error", m->path);
	m->initialized = 1;
	return 0;
}

/* p11_module_reinit - C_Finalize and C_Initialize again, with back-off */
int
p11_module_reinit(struct p11_module *m, unsigned long seen,
    struct p11_err *err)
{
	long long now = now_ms(), next;
	int	 rc = 0;

	pthread_mutex_lock(&m->reinit_mu);
	if (m->generation != seen && m->initialized) {
		pthread_mutex_unlock(&m->reinit_mu);
		return 0;		/* somebody else did it */
	}
	next = (long long)m->next_try.tv_sec * 1000 + m->next_try.tv_nsec /
	    1000000;
	if (now < next) {
		pthread_mutex_unlock(&m->reinit_mu);
		return p11_err_set(err, 1, CKR_DEVICE_ERROR, "module %s: "
		    "down, next recovery attempt in %lld ms", m->path,
		    next - now);
	}
	pthread_rwlock_wrlock(&m->lock);
	rc = reinit_locked(m, err);
	pthread_rwlock_unlock(&m->lock);
	if (rc == 0) {
		m->backoff_ms = REINIT_BACKOFF_MIN_MS;
	} else if ((m->backoff_ms *= 2) > REINIT_BACKOFF_MAX_MS) {
		m->backoff_ms = REINIT_BACKOFF_MAX_MS;
	}
	next = now + m->backoff_ms;
	m->next_try.tv_sec = next / 1000;
	m->next_try.tv_nsec = (next % 1000) * 1000000;
	pthread_mutex_unlock(&m->reinit_mu);
	return rc;
}

/*
 * p11_module_free - finalize and unload.  Order matters (PKCS11-NOTES.md):
 * the caller has closed its sessions; libp11 finalizes and unloads.
 */
struct p11_module *
p11_module_free(struct p11_module *m)
{
	if (m == NULL)
		return NULL;
	if (m->ctx != NULL) {
		CK_C_INITIALIZE_ARGS args;

		if (m->slots != NULL)
			PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
		init_args(m, &args);
		if (!m->initialized && m->fn != NULL &&
		    m->fn->C_Initialize(&args) == CKR_OK)
			m->initialized = 1;	/* libp11 will finalize */
		PKCS11_CTX_unload(m->ctx);
		PKCS11_CTX_free(m->ctx);
	}
	if (m->dl != NULL)
		dlclose(m->dl);
	slot_index_free(m->index);
	pthread_rwlock_destroy(&m->lock);
	pthread_mutex_destroy(&m->reinit_mu);
	free(m->init_args);
	pthread_mutex_destroy(&m->index_mu);
	free(m->path);
	free(m);
	return NULL;
}
