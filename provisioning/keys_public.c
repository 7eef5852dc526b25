/*
 * keys_public.c - an institution's public keys for the commands that
 * need nothing else (dns, check-dns, rotate publish/verify/activate): from
 * its public key records (include/p11dkim/pub_record.h) when the
 * ceremony log vouches for them, so that the PKCS#11 module is not
 * loaded; from the token with --from-token, or for a key that has no
 * record yet (an install from before the records).  See keys.h.
 *
 * Security notes: a record is used only when its SHA-256 is the
 * fingerprint of the last generate of its selector in a log whose whole
 * chain verifies, with no destroy of that selector since.  A record the
 * log does not vouch for is refused, never passed over: whoever could
 * write it could otherwise have us publish their key.  The log is read
 * once per institution (one pass, like 'log verify').
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/atomic_file.h"
#include "p11dkim/ceremony_log.h"
#include "p11dkim/pub_record.h"
#include "keys.h"

#define KINDS	2		/* CONF_KIND_MAIN, CONF_KIND_DUAL */

/* What the log says of the institution's keys, and the keys read. */
struct keys_pub {
	const struct conf_institution *inst;
	char	 fpr[CONF_SELECTORS][KINDS][PUB_RECORD_FPR];	/* "" none */
	unsigned long seq[CONF_SELECTORS][KINDS];	/* their generate */
	EVP_PKEY *key[CONF_SELECTORS][KINDS];		/* a reference */
	int	 done[CONF_SELECTORS][KINDS];
	int	 logged;		/* fpr and seq were read from the log */
	int	 no_log;		/* there is no ceremony log at all */
};

/* collect - each selector's last generate or destroy: the one that counts */
static int
collect(void *ctx, const struct ceremony_record *rec)
{
	struct keys_pub *p = ctx;
	int	 gen = strcmp(rec->action, "generate") == 0;

	if (strcmp(rec->inst, p->inst->code) != 0 ||
	    !ceremony_result_ok(rec->result) ||
	    (!gen && strcmp(rec->action, "destroy") != 0))
		return 0;
	for (size_t k = 0; k < conf_kinds(p->inst); k++)
		for (size_t i = 0; i < CONF_SELECTORS; i++)
			if (strcmp(rec->selector, conf_selector_name(p->inst,
			    i, k)) == 0) {
				snprintf(p->fpr[i][k], PUB_RECORD_FPR, "%s",
				    gen ? rec->fpr : "");
				p->seq[i][k] = rec->seq;
			}
	return 0;		/* never "found": the walk sees them all */
}

/* pub_reset - forget the keys read (another institution, or a write) */
static void
pub_reset(struct keys_pub *p)
{
	for (size_t i = 0; i < CONF_SELECTORS; i++)
		for (size_t k = 0; k < KINDS; k++) {
			EVP_PKEY_free(p->key[i][k]);
			p->key[i][k] = NULL;
			p->done[i][k] = 0;
		}
	p->inst = NULL;
	p->logged = p->no_log = 0;
}

/* keys_public_free - the keys read; the run no longer needs them */
void
keys_public_free(struct keys_run *r)
{
	if (r->pub == NULL)
		return;
	pub_reset(r->pub);
	free(r->pub);
	r->pub = NULL;
}

/* pub_alloc - the run's keys of r->inst, empty at first; NULL printed */
static struct keys_pub *
pub_alloc(struct keys_run *r)
{
	if (r->pub != NULL && r->pub->inst == r->inst)
		return r->pub;
	if (r->pub == NULL && (r->pub = calloc(1, sizeof(*r->pub))) == NULL)
		return keys_fail(EX_OSERR, "out of memory"), NULL;
	pub_reset(r->pub);
	r->pub->inst = r->inst;
	return r->pub;
}

/* pub_of - what the log says of r->inst's keys, read once; NULL printed */
static struct keys_pub *
pub_of(struct keys_run *r)
{
	struct ceremony_record last;
	struct keys_pub *p;
	char	 err[KEYS_WHY_MAX];

	if ((p = pub_alloc(r)) == NULL || p->logged)
		return p;
	memset(p->fpr, 0, sizeof(p->fpr));
	p->no_log = access(r->conf->ceremony_log, F_OK) < 0 && errno == ENOENT;
	if (ceremony_log_last(r->conf->ceremony_log, collect, p, &last,
	    err, sizeof(err)) < 0) {
		keys_fail(EX_DATAERR, "%s: the public key records of %s are "
		    "not trusted while the ceremony log does not verify "
		    "(p11dkim-keys log verify says where); to read the keys "
		    "from the token instead, add --from-token", err,
		    r->inst->code);
		return NULL;
	}
	p->logged = 1;
	return p;
}

/* key_type_of - the EVP type the institution's key of a kind has */
static int
key_type_of(const struct keys_run *r, size_t kind)
{
	return conf_kind_alg(r->inst, kind) == DKIM_ALG_ED25519_SHA256 ?
	    EVP_PKEY_ED25519 : EVP_PKEY_RSA;
}

/* keys_record_path - selector i's record (kind); EX_OK or printed */
int
keys_record_path(struct keys_run *r, size_t i, size_t kind, char *out,
    size_t len)
{
	if (pub_record_path(r->conf->state_dir, r->inst->code,
	    conf_selector_name(r->inst, i, kind), out, len) < 0)
		return keys_fail(EX_USAGE, "state-dir '%s': name too long",
		    r->conf->state_dir);
	return EX_OK;
}

/* from_token - the token's key (a new reference in *pk, NULL: none) */
static int
from_token(struct keys_run *r, size_t i, size_t kind, EVP_PKEY **pk)
{
	struct p11_key *k;
	int	 st;

	*pk = NULL;
	if ((st = keys_token(r)) != EX_OK)
		return st;
	if ((k = keys_key(r, i, kind)) != NULL) {
		*pk = p11_key_public(k);
		if (EVP_PKEY_up_ref(*pk) != 1)
			return keys_fail(EX_SOFTWARE, "EVP_PKEY_up_ref");
	}
	return EX_OK;
}

/* refuse - a record the log does not vouch for */
static int
refuse(struct keys_run *r, const char *path, const char *why)
{
	return keys_fail(EX_DATAERR, "public key record %s: %s; it is not "
	    "used: compare it with the token (p11dkim-keys audit %s, "
	    "--write-records rewrites it from a token key the log vouches "
	    "for), or read the token instead (--from-token)", path, why,
	    r->inst->code);
}

/*
 * from_record - selector i's key (kind) from its record, checked
 * against the log; a key the log says exists but that has no record is
 * read from the token, with a note.
 */
static int
from_record(struct keys_run *r, struct keys_pub *p, size_t i, size_t kind,
    EVP_PKEY **pk)
{
	unsigned char der[PUB_RECORD_MAX];
	char	 path[1024], err[KEYS_WHY_MAX], why[KEYS_WHY_MAX + 64];
	const char *fpr = p->fpr[i][kind];
	size_t	 len;
	int	 rc, st;

	*pk = NULL;
	if (p->no_log) {
		if (i == 0 && kind == 0)
			keys_fail(0, "note: there is no ceremony log (%s) to "
			    "vouch for public key records: %s's keys are read "
			    "from token '%s'", r->conf->ceremony_log,
			    r->inst->code, r->inst->token_label);
		return from_token(r, i, kind, pk);
	}
	if ((st = keys_record_path(r, i, kind, path, sizeof(path))) != EX_OK)
		return st;
	if ((rc = pub_record_read(path, der, &len, err, sizeof(err))) < 0)
		return keys_fail(EX_IOERR, "%s; to read the token instead, add "
		    "--from-token", err);
	if (rc == 0 && fpr[0] == '\0')
		return EX_OK;		/* no key, and none recorded */
	if (rc == 0) {
		keys_fail(0, "note: no public key record for selector %s of "
		    "%s: the key is read from token '%s'; 'p11dkim-keys "
		    "audit %s --write-records' writes the records",
		    conf_selector_name(r->inst, i, kind), r->inst->code,
		    r->inst->token_label, r->inst->code);
		return from_token(r, i, kind, pk);
	}
	if (fpr[0] == '\0')
		return refuse(r, path, "the ceremony log shows no key of this "
		    "selector (none generated, or destroyed since)");
	if (pub_record_check(der, len, fpr, key_type_of(r, kind), pk, err,
	    sizeof(err)) != PUB_RECORD_OK) {
		snprintf(why, sizeof(why), "does not match the ceremony log's "
		    "generate (record %lu): %s", p->seq[i][kind], err);
		return refuse(r, path, why);
	}
	return EX_OK;
}

/* keys_public - selector i's public key of a kind (NULL: none) */
int
keys_public(struct keys_run *r, size_t i, size_t kind, EVP_PKEY **pk)
{
	struct keys_pub *p;
	int	 st;

	*pk = NULL;
	if ((p = r->from_token ? pub_alloc(r) : pub_of(r)) == NULL)
		return r->pub == NULL ? EX_OSERR : EX_DATAERR;
	if (!p->done[i][kind]) {
		st = r->from_token ? from_token(r, i, kind, &p->key[i][kind]) :
		    from_record(r, p, i, kind, &p->key[i][kind]);
		if (st != EX_OK)
			return st;
		p->done[i][kind] = 1;
	}
	*pk = p->key[i][kind];
	return EX_OK;
}

/* keys_publics - every public key of r->inst, read and checked */
int
keys_publics(struct keys_run *r)
{
	EVP_PKEY *pk;
	int	 st;

	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		for (size_t i = 0; i < CONF_SELECTORS; i++)
			if ((st = keys_public(r, i, k, &pk)) != EX_OK)
				return st;
	return EX_OK;
}

/* keys_pub_key - selector i's key (kind) as keys_publics() read it */
EVP_PKEY *
keys_pub_key(struct keys_run *r, size_t i, size_t kind)
{
	if (r->pub == NULL || r->pub->inst != r->inst ||
	    !r->pub->done[i][kind])
		return NULL;
	return r->pub->key[i][kind];
}

/* keys_record_write - selector i's record (kind) holds pk, atomically */
int
keys_record_write(struct keys_run *r, size_t i, size_t kind, EVP_PKEY *pk,
    char *err, size_t errlen)
{
	unsigned char *der;
	char	 path[1024];
	size_t	 len;
	int	 rc;

	if (pub_record_path(r->conf->state_dir, r->inst->code,
	    conf_selector_name(r->inst, i, kind), path, sizeof(path)) < 0)
		return snprintf(err, errlen, "state-dir: name too long"), -1;
	if (pub_record_encode(pk, &der, &len) < 0)
		return snprintf(err, errlen, "%s: the key cannot be encoded",
		    path), -1;
	rc = atomic_file_write(path, der, len, 0644, err, errlen);
	OPENSSL_free(der);
	if (r->pub != NULL)
		pub_reset(r->pub);
	return rc;
}

/* keys_record_remove - selector i's record (kind) is gone */
int
keys_record_remove(struct keys_run *r, size_t i, size_t kind, char *err,
    size_t errlen)
{
	char	 path[1024];

	if (pub_record_path(r->conf->state_dir, r->inst->code,
	    conf_selector_name(r->inst, i, kind), path, sizeof(path)) < 0)
		return snprintf(err, errlen, "state-dir: name too long"), -1;
	if (r->pub != NULL)
		pub_reset(r->pub);
	if (unlink(path) < 0 && errno != ENOENT)
		return snprintf(err, errlen, "%s: %s", path, strerror(errno)),
		    -1;
	return atomic_file_sync_dir(path, err, errlen);
}

/* keys_logged_fpr - the fingerprint the log holds for selector i (kind) */
int
keys_logged_fpr(struct keys_run *r, size_t i, size_t kind, char *fpr,
    size_t len)
{
	struct keys_pub *p;

	if ((p = pub_of(r)) == NULL)
		return -1;
	snprintf(fpr, len, "%s", p->fpr[i][kind]);
	return 0;
}

/* say - a line of the audit: stdout in text, stderr with --json; ret */
static int __attribute__((format(printf, 3, 4)))
say(struct keys_run *r, int ret, const char *fmt, ...)
{
	va_list	 ap;
	FILE	*f = r->json ? stderr : stdout;

	if (r->json)
		fputs("p11dkim-keys: ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	return ret;
}

/* rewrite - --write-records: the token's key, when the log vouches */
static int
rewrite(struct keys_run *r, size_t i, size_t kind, EVP_PKEY *pk,
    const char *path, const char *fpr)
{
	char	 logged[PUB_RECORD_FPR], err[KEYS_WHY_MAX];

	if (keys_logged_fpr(r, i, kind, logged, sizeof(logged)) < 0)
		return 1;
	if (strcmp(logged, fpr) != 0)
		return say(r, 1, "FAIL %s public key record %s: not written: "
		    "the ceremony log does not vouch for the token's key "
		    "(fingerprint %s)", r->inst->code, path, fpr);
	if (keys_record_write(r, i, kind, pk, err, sizeof(err)) < 0)
		return say(r, 1, "FAIL %s public key record %s: %s",
		    r->inst->code, path, err);
	return say(r, 0, "wrote %s public key record %s (fingerprint %s)",
	    r->inst->code, path, fpr);
}

/* keys_record_compare - selector i's record (kind) against key pk */
int
keys_record_compare(struct keys_run *r, size_t i, size_t kind, EVP_PKEY *pk,
    char *path, size_t plen, char *fpr, char *err, size_t errlen)
{
	unsigned char der[PUB_RECORD_MAX], *want = NULL;
	size_t	 len = 0, wlen = 0;
	int	 rc, same;

	fpr[0] = '\0';
	if (pub_record_path(r->conf->state_dir, r->inst->code,
	    conf_selector_name(r->inst, i, kind), path, plen) < 0)
		return snprintf(err, errlen, "state-dir: name too long"), -1;
	if ((rc = pub_record_read(path, der, &len, err, errlen)) < 0)
		return -1;
	if (pk == NULL)
		return rc == 0 ? KEYS_RECORD_NONE : KEYS_RECORD_NO_KEY;
	if (pub_record_encode(pk, &want, &wlen) < 0 ||
	    pub_record_fingerprint(want, wlen, fpr) < 0) {
		OPENSSL_free(want);
		return snprintf(err, errlen, "%s: the token's key cannot be "
		    "encoded", path), -1;
	}
	same = rc == 1 && len == wlen && memcmp(der, want, len) == 0;
	OPENSSL_free(want);
	return rc == 0 ? KEYS_RECORD_MISSING : same ? KEYS_RECORD_SAME :
	    KEYS_RECORD_OTHER;
}

/* audit_one - selector i's record (kind) against the token; 1: wrong */
static int
audit_one(struct keys_run *r, size_t i, size_t kind, int write)
{
	char	 path[1024], err[KEYS_WHY_MAX], fpr[PUB_RECORD_FPR];
	struct p11_key *k = keys_key(r, i, kind);
	EVP_PKEY *pk = k ? p11_key_public(k) : NULL;

	switch (keys_record_compare(r, i, kind, pk, path, sizeof(path), fpr,
	    err, sizeof(err))) {
	case KEYS_RECORD_NONE:
	case KEYS_RECORD_SAME:
		return 0;
	case KEYS_RECORD_NO_KEY:
		return say(r, 1, "FAIL %s public key record %s: the token has "
		    "no key for selector %s; remove the record", r->inst->code,
		    path, conf_selector_name(r->inst, i, kind));
	case KEYS_RECORD_MISSING:
		if (write)
			return rewrite(r, i, kind, pk, path, fpr);
		return say(r, 0, "note %s: no public key record %s: dns reads "
		    "the token for it; 'p11dkim-keys audit %s --write-records' "
		    "writes it", r->inst->code, path, r->inst->code);
	case KEYS_RECORD_OTHER:
		if (write)
			return rewrite(r, i, kind, pk, path, fpr);
		return say(r, 1, "FAIL %s public key record %s holds another "
		    "key than the token's (fingerprint %s): dns refuses it; find "
		    "out who changed it, then --write-records rewrites it",
		    r->inst->code, path, fpr);
	}
	return say(r, 1, "FAIL %s %s", r->inst->code, err);
}

/* keys_records_audit - every record of r->inst against its token */
int
keys_records_audit(struct keys_run *r, int write)
{
	int	 bad = 0;

	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		for (size_t i = 0; i < CONF_SELECTORS; i++)
			bad += audit_one(r, i, k, write);
	return bad;
}
