/*
 * dkim_sign.c - the DKIM signing core: one message in, DKIM-Signature
 * fields out (RFC 6376 5, RFC 8463, RFC 8301).  See dkim_sign.h.
 *
 * The header section is parsed and held (bounded); the body streams
 * through one canonicalizer + SHA-256 per body canonicalization in use,
 * shared by the signatures that use it (a dual rsa + ed25519 signature
 * with the same c= hashes the body once).
 *
 * Security: parameters are checked when added, so a bad domain, selector
 * or identity from a configuration never reaches a header field.  A
 * signature of the wrong size from the callback is refused, not emitted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "p11dkim/canon_body.h"
#include "p11dkim/canon_header.h"
#include "p11dkim/dkim_sign.h"
#include "p11dkim/header_section.h"
#include "p11dkim/header_select.h"
#include "p11dkim/sig_field.h"
#include "p11dkim/sign_params.h"

#define NAME_LIST_MAX	256	/* entries in a sign or oversign list */

enum { ST_HEADERS, ST_BODY, ST_ENDED, ST_FAILED };

struct body_hash {
	enum dkim_canon mode;
	EVP_MD_CTX *md;
	struct canon_body canon;
	unsigned char digest[DKIM_DIGEST_LEN];
};

struct sig {
	struct dkim_sign_params params;	/* strings below are owned copies */
	char	*domain, *selector, *identity;
	char	**sign_headers, **oversign_headers;
	struct body_hash *body;
	struct buf field;		/* prefix, then the whole field */
	unsigned char digest[DKIM_DIGEST_LEN];
	int	 signed_;
};

struct dkim_sign {
	struct header_section hs;
	struct body_hash bodies[2];	/* one per body canonicalization */
	size_t	 nbodies;
	struct sig sigs[DKIM_SIGNATURES_MAX];
	size_t	 nsigs;
	int	 state;
};

/* md_sink - canonical body bytes into the SHA-256 context */
static int
md_sink(void *arg, const char *p, size_t n)
{
	return EVP_DigestUpdate(arg, p, n) == 1 ? 0 : -1;
}

/* failed - mark the context failed; returns -1 for tail calls */
static int
failed(struct dkim_sign *ctx)
{
	ctx->state = ST_FAILED;
	return -1;
}

/* dkim_sign_new - context for one message; NULL limits: the defaults */
struct dkim_sign *
dkim_sign_new(const struct dkim_limits *limits, struct dkim_err *err)
{
	struct dkim_sign *ctx;
	size_t	 bytes = DKIM_HEADER_BYTES_DEFAULT;
	size_t	 fields = DKIM_HEADER_FIELDS_DEFAULT;

	if (limits != NULL && limits->header_bytes != 0)
		bytes = limits->header_bytes;
	if (limits != NULL && limits->header_fields != 0)
		fields = limits->header_fields;
	if (bytes > DKIM_HEADER_BYTES_MAX || fields > DKIM_HEADER_FIELDS_MAX) {
		dkim_err_set(err, DKIM_EPARAM, "header limits above the "
		    "maximum (%d bytes, %d fields)", DKIM_HEADER_BYTES_MAX,
		    DKIM_HEADER_FIELDS_MAX);
		return NULL;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		dkim_err_set(err, DKIM_ENOMEM, "out of memory");
		return NULL;
	}
	header_section_init(&ctx->hs, bytes, fields);
	ctx->state = ST_HEADERS;
	return ctx;
}

/* list_dup - owned copy of a NULL-terminated name list (NULL stays NULL) */
static char **
list_dup(const char *const *list)
{
	size_t	 n = 0;
	char	**copy;

	if (list == NULL)
		return NULL;
	while (list[n] != NULL)
		n++;
	if ((copy = calloc(n + 1, sizeof(*copy))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((copy[i] = strdup(list[i])) == NULL)
			goto fail;
	return copy;
fail:
	for (size_t i = 0; copy[i] != NULL; i++)
		free(copy[i]);
	free(copy);
	return NULL;
}

/* list_free - free a list from list_dup */
static void
list_free(char **list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

/* sig_release - free what a signature slot owns */
static void
sig_release(struct sig *s)
{
	free(s->domain);
	free(s->selector);
	free(s->identity);
	list_free(s->sign_headers);
	list_free(s->oversign_headers);
	buf_release(&s->field);
	memset(s, 0, sizeof(*s));
}

/* body_for - the body hash for a canonicalization, created on first use */
static struct body_hash *
body_for(struct dkim_sign *ctx, enum dkim_canon mode, struct dkim_err *err)
{
	struct body_hash *b;

	for (size_t i = 0; i < ctx->nbodies; i++)
		if (ctx->bodies[i].mode == mode)
			return &ctx->bodies[i];
	b = &ctx->bodies[ctx->nbodies];
	if ((b->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		dkim_err_set(err, DKIM_ENOMEM, "cannot set up SHA-256");
		return NULL;
	}
	b->mode = mode;
	canon_body_init(&b->canon, mode, md_sink, b->md);
	ctx->nbodies++;
	return b;
}

/* check_params - the parameters of a signature, before anything is kept */
static int
check_params(const struct dkim_sign_params *p, struct dkim_err *err)
{
	if (p->alg != DKIM_ALG_RSA_SHA256 && p->alg != DKIM_ALG_ED25519_SHA256)
		return dkim_err_set(err, DKIM_EPARAM, "no or unknown "
		    "algorithm (rsa-sha256 or ed25519-sha256)");
	if ((p->hcanon != 0 && p->hcanon != DKIM_CANON_SIMPLE &&
	    p->hcanon != DKIM_CANON_RELAXED) || (p->bcanon != 0 &&
	    p->bcanon != DKIM_CANON_SIMPLE && p->bcanon != DKIM_CANON_RELAXED))
		return dkim_err_set(err, DKIM_EPARAM, "unknown "
		    "canonicalization");
	if (sign_params_domain(p->domain, err) < 0 ||
	    sign_params_selector(p->selector, err) < 0 ||
	    sign_params_names(p->sign_headers, "headers to sign", err) < 0 ||
	    sign_params_names(p->oversign_headers, "headers to oversign",
	    err) < 0)
		return -1;
	return 0;
}

/* keep_params - owned copies of a signature's parameters in slot s */
static int
keep_params(struct sig *s, const struct dkim_sign_params *p,
    struct dkim_err *err)
{
	struct buf id;

	s->params = *p;
	if (s->params.hcanon == 0)
		s->params.hcanon = DKIM_CANON_RELAXED;
	if (s->params.bcanon == 0)
		s->params.bcanon = DKIM_CANON_RELAXED;
	if (p->identity != NULL) {
		buf_init(&id, 512);
		if (sign_params_identity(p->identity, p->domain, &id, err) < 0) {
			buf_release(&id);
			return -1;
		}
		s->identity = id.data;		/* ownership moves */
	}
	s->domain = strdup(p->domain);
	s->selector = strdup(p->selector);
	s->sign_headers = list_dup(p->sign_headers);
	s->oversign_headers = list_dup(p->oversign_headers);
	if (s->domain == NULL || s->selector == NULL ||
	    (p->sign_headers && s->sign_headers == NULL) ||
	    (p->oversign_headers && s->oversign_headers == NULL))
		return dkim_err_set(err, DKIM_ENOMEM, "out of memory");
	s->params.domain = s->domain;
	s->params.selector = s->selector;
	s->params.identity = s->identity;
	s->params.sign_headers = (const char *const *)s->sign_headers;
	s->params.oversign_headers = (const char *const *)s->oversign_headers;
	buf_init(&s->field, SIG_FIELD_MAX);
	return 0;
}

/* dkim_sign_add - one more signature; only before the first body byte */
int
dkim_sign_add(struct dkim_sign *ctx, const struct dkim_sign_params *p,
    struct dkim_err *err)
{
	struct sig *s;

	if (ctx->state != ST_HEADERS)
		return dkim_err_set(err, DKIM_ESTATE, "signatures must be "
		    "added before the body");
	if (ctx->nsigs >= DKIM_SIGNATURES_MAX)
		return dkim_err_set(err, DKIM_EPARAM, "more than %d "
		    "signatures on one message", DKIM_SIGNATURES_MAX);
	if (check_params(p, err) < 0)
		return -1;
	s = &ctx->sigs[ctx->nsigs];
	if (keep_params(s, p, err) < 0 ||
	    (s->body = body_for(ctx, s->params.bcanon, err)) == NULL) {
		sig_release(s);
		return -1;
	}
	ctx->nsigs++;
	return 0;
}

/*
 * check_from - RFC 6376 5.4 and RFC 5322 3.6: exactly one From field.
 * Without one there is nothing to sign for; with two, receivers cannot
 * tell which author the signature vouches for.
 */
static int
check_from(const struct dkim_sign *ctx, struct dkim_err *err)
{
	size_t	 n = header_section_count(&ctx->hs, "from");

	if (n == 0)
		return dkim_err_set(err, DKIM_EMESSAGE, "no From header field");
	if (n > 1)
		return dkim_err_set(err, DKIM_EMESSAGE, "%zu From header "
		    "fields (a message must have exactly one)", n);
	return 0;
}

/* dkim_sign_headers - feed header bytes; *consumed stops at the blank line */
int
dkim_sign_headers(struct dkim_sign *ctx, const char *data, size_t len,
    size_t *consumed, struct dkim_err *err)
{
	*consumed = 0;
	if (ctx->state != ST_HEADERS)
		return dkim_err_set(err, DKIM_ESTATE, "header bytes after "
		    "the header section");
	if (header_section_feed(&ctx->hs, data, len, consumed, err) < 0)
		return failed(ctx);
	if (header_section_complete(&ctx->hs) && check_from(ctx, err) < 0)
		return failed(ctx);
	return 0;
}

/* dkim_sign_headers_end - the message ended inside its header section */
int
dkim_sign_headers_end(struct dkim_sign *ctx, struct dkim_err *err)
{
	if (ctx->state != ST_HEADERS)
		return dkim_err_set(err, DKIM_ESTATE, "header section ended "
		    "after an error or the body");
	if (header_section_complete(&ctx->hs))
		return 0;
	if (header_section_end(&ctx->hs, err) < 0 || check_from(ctx, err) < 0)
		return failed(ctx);
	return 0;
}

/* dkim_sign_headers_complete - 1 once the header section was read */
int
dkim_sign_headers_complete(const struct dkim_sign *ctx)
{
	return header_section_complete(&ctx->hs);
}

/* dkim_sign_body - feed body bytes (the header section is complete) */
int
dkim_sign_body(struct dkim_sign *ctx, const char *data, size_t len,
    struct dkim_err *err)
{
	if (ctx->state == ST_HEADERS && header_section_complete(&ctx->hs)) {
		if (ctx->nsigs == 0)
			return dkim_err_set(err, DKIM_ESTATE, "no signature "
			    "was added before the body");
		ctx->state = ST_BODY;
	}
	if (ctx->state != ST_BODY)
		return dkim_err_set(err, DKIM_ESTATE, "body bytes %s",
		    ctx->state == ST_HEADERS ? "before the end of the header "
		    "section" : "after the end of the message");
	for (size_t i = 0; i < ctx->nbodies; i++)
		if (canon_body_update(&ctx->bodies[i].canon, data, len) < 0) {
			failed(ctx);
			return dkim_err_set(err, DKIM_ENOMEM, "SHA-256 update "
			    "failed");
		}
	return 0;
}

/* dkim_sign_update - feed message bytes, header section then body */
int
dkim_sign_update(struct dkim_sign *ctx, const char *data, size_t len,
    struct dkim_err *err)
{
	size_t	 used = 0;

	if (ctx->state == ST_HEADERS && !header_section_complete(&ctx->hs) &&
	    dkim_sign_headers(ctx, data, len, &used, err) < 0)
		return -1;
	if (used == len)
		return 0;
	return dkim_sign_body(ctx, data + used, len - used, err);
}

/* dkim_sign_header_value - raw value of the last field named name */
const char *
dkim_sign_header_value(const struct dkim_sign *ctx, const char *name,
    size_t *len)
{
	return header_section_value(&ctx->hs, name, len);
}

/* hash_selected - the selected fields, canonicalized, into md (5.4.2) */
static int
hash_selected(struct dkim_sign *ctx, const struct sig *s,
    const struct header_selection *sel, EVP_MD_CTX *md, struct buf *scratch)
{
	const struct header_field *f;

	for (size_t i = 0; i < sel->n; i++) {
		if (sel->fields[i] == HEADER_SELECT_NONE)
			continue;	/* oversigned: contributes nothing */
		f = &ctx->hs.fields[sel->fields[i]];
		buf_truncate(scratch, 0);
		if (canon_header(s->params.hcanon, ctx->hs.text.data + f->off,
		    f->len, f->name_len, scratch) < 0 ||
		    EVP_DigestUpdate(md, scratch->data, scratch->len) != 1)
			return -1;
	}
	return 0;
}

/*
 * hash_sig_field - RFC 6376 3.7: last, the DKIM-Signature field itself,
 * with an empty b= value, canonicalized, without its final CRLF.
 */
static int
hash_sig_field(const struct sig *s, EVP_MD_CTX *md, struct buf *scratch)
{
	struct buf field;
	int	 rc;

	buf_init(&field, SIG_FIELD_MAX);
	rc = buf_append(&field, s->field.data, s->field.len);
	if (rc == 0)
		rc = buf_append(&field, "\r\n", 2);
	buf_truncate(scratch, 0);
	if (rc == 0)
		rc = canon_header(s->params.hcanon, field.data, field.len,
		    strlen(SIG_FIELD_NAME), scratch);
	if (rc == 0 && EVP_DigestUpdate(md, scratch->data,
	    scratch->len - 2) != 1)
		rc = -1;
	buf_release(&field);
	return rc;
}

/*
 * field_failed - a signature field could not be built: too long for the
 * limit, or (errno ENOMEM) no memory, which is worth a retry
 */
static int
field_failed(struct dkim_err *err)
{
	if (errno == ENOMEM)
		return dkim_err_set(err, DKIM_ENOMEM, "out of memory for the "
		    "DKIM-Signature field");
	return dkim_err_set(err, DKIM_ELIMIT, "DKIM-Signature field too long");
}

/* sig_tags_of - the tag values of signature s */
static void
sig_tags_of(const struct sig *s, const char *hlist, struct sig_tags *t)
{
	time_t	 now = s->params.now ? s->params.now : time(NULL);

	memset(t, 0, sizeof(*t));
	t->alg = s->params.alg;
	t->hcanon = s->params.hcanon;
	t->bcanon = s->params.bcanon;
	t->domain = s->domain;
	t->selector = s->selector;
	t->identity = s->identity;
	t->timestamp = s->params.no_timestamp ? -1 : (long long)now;
	t->expire = s->params.expire_secs ?
	    (long long)now + (long long)s->params.expire_secs : -1;
	t->hlist = hlist;
	t->body_hash = s->body->digest;
}

/* prepare_sig - build signature s's field prefix and its digest */
static int
prepare_sig(struct dkim_sign *ctx, struct sig *s, struct buf *scratch,
    struct dkim_err *err)
{
	struct header_selection sel;
	struct sig_tags tags;
	EVP_MD_CTX *md = NULL;
	int	 rc = -1;

	if (header_select(&ctx->hs, s->params.sign_headers,
	    s->params.oversign_headers, &sel, err) < 0)
		return -1;
	sig_tags_of(s, sel.hlist.data, &tags);
	if (sig_field_prefix(&tags, &s->field) < 0) {
		field_failed(err);
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    hash_selected(ctx, s, &sel, md, scratch) < 0 ||
	    hash_sig_field(s, md, scratch) < 0 ||
	    EVP_DigestFinal_ex(md, s->digest, NULL) != 1) {
		dkim_err_set(err, DKIM_ENOMEM, "header hash failed");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	header_selection_release(&sel);
	return rc;
}

/* finish_bodies - end of body: final canonical bytes and body hashes */
static int
finish_bodies(struct dkim_sign *ctx, struct dkim_err *err)
{
	struct body_hash *b;

	for (size_t i = 0; i < ctx->nbodies; i++) {
		b = &ctx->bodies[i];
		if (canon_body_final(&b->canon) < 0 ||
		    EVP_DigestFinal_ex(b->md, b->digest, NULL) != 1)
			return dkim_err_set(err, DKIM_ENOMEM, "body hash "
			    "failed");
	}
	return 0;
}

/* dkim_sign_end - the message is complete: compute what is to be signed */
int
dkim_sign_end(struct dkim_sign *ctx, struct dkim_err *err)
{
	struct buf scratch;
	int	 rc = 0;

	if (ctx->state == ST_HEADERS) {
		if (dkim_sign_headers_end(ctx, err) < 0)
			return -1;
		if (ctx->nsigs == 0)
			return dkim_err_set(err, DKIM_ESTATE, "no signature "
			    "was added");
		ctx->state = ST_BODY;
	}
	if (ctx->state != ST_BODY)
		return dkim_err_set(err, DKIM_ESTATE, "message ended twice "
		    "or after an error");
	if (finish_bodies(ctx, err) < 0)
		return failed(ctx);
	buf_init(&scratch, ctx->hs.text.max + SIG_FIELD_MAX);
	for (size_t i = 0; rc == 0 && i < ctx->nsigs; i++)
		rc = prepare_sig(ctx, &ctx->sigs[i], &scratch, err);
	buf_release(&scratch);
	if (rc < 0)
		return failed(ctx);
	ctx->state = ST_ENDED;
	return 0;
}

/* dkim_sign_count - number of signatures added */
size_t
dkim_sign_count(const struct dkim_sign *ctx)
{
	return ctx->nsigs;
}

/* dkim_sign_digest - after end: the digest signature i must sign */
int
dkim_sign_digest(const struct dkim_sign *ctx, size_t i,
    unsigned char out[DKIM_DIGEST_LEN])
{
	if (ctx->state != ST_ENDED || i >= ctx->nsigs)
		return -1;
	memcpy(out, ctx->sigs[i].digest, DKIM_DIGEST_LEN);
	return 0;
}

/* dkim_sign_body_hash - after end: the bh= of signature i */
int
dkim_sign_body_hash(const struct dkim_sign *ctx, size_t i,
    unsigned char out[DKIM_DIGEST_LEN])
{
	if (ctx->state != ST_ENDED || i >= ctx->nsigs)
		return -1;
	memcpy(out, ctx->sigs[i].body->digest, DKIM_DIGEST_LEN);
	return 0;
}

/* dkim_sign_params_of - the parameters of signature i (for signers) */
const struct dkim_sign_params *
dkim_sign_params_of(const struct dkim_sign *ctx, size_t i)
{
	return i < ctx->nsigs ? &ctx->sigs[i].params : NULL;
}

/* sig_len_ok - is len a plausible signature size for the algorithm? */
static int
sig_len_ok(enum dkim_alg alg, size_t len)
{
	if (alg == DKIM_ALG_ED25519_SHA256)
		return len == DKIM_ED25519_SIG_LEN;
	return len >= 128 && len <= DKIM_SIG_MAX;	/* RSA-1024 .. 8192 */
}

/* dkim_sign_set_signature - signature i's bytes; completes its field */
int
dkim_sign_set_signature(struct dkim_sign *ctx, size_t i,
    const unsigned char *sig, size_t len, struct dkim_err *err)
{
	struct sig *s;

	if (ctx->state != ST_ENDED || i >= ctx->nsigs || ctx->sigs[i].signed_)
		return dkim_err_set(err, DKIM_ESTATE, "no signature %zu "
		    "waiting to be signed", i);
	s = &ctx->sigs[i];
	if (!sig_len_ok(s->params.alg, len))
		return dkim_err_set(err, DKIM_ESIGN_TEMP, "%s signature of "
		    "unexpected length %zu", dkim_alg_name(s->params.alg), len);
	if (sig_field_finish(&s->field, sig, len) < 0)
		return field_failed(err);
	s->signed_ = 1;
	return 0;
}

/* dkim_sign_finish - end, then sign every signature through cb */
int
dkim_sign_finish(struct dkim_sign *ctx, dkim_sign_cb *cb, void *arg,
    struct dkim_err *err)
{
	unsigned char sig[DKIM_SIG_MAX];
	size_t	 len;

	if (dkim_sign_end(ctx, err) < 0)
		return -1;
	for (size_t i = 0; i < ctx->nsigs; i++) {
		len = sizeof(sig);
		if (cb(arg, &ctx->sigs[i].params, ctx->sigs[i].digest, sig,
		    &len, err) < 0) {
			if (err != NULL && !dkim_status_temporary(err->status)
			    && err->status != DKIM_ESIGN_PERM)
				err->status = DKIM_ESIGN_TEMP;
			return -1;
		}
		if (dkim_sign_set_signature(ctx, i, sig, len, err) < 0)
			return -1;
	}
	return 0;
}

/* dkim_sign_field - the complete header field of signature i */
const char *
dkim_sign_field(const struct dkim_sign *ctx, size_t i, size_t *len)
{
	if (i >= ctx->nsigs || !ctx->sigs[i].signed_)
		return NULL;
	if (len != NULL)
		*len = ctx->sigs[i].field.len;
	return ctx->sigs[i].field.data;
}

/* dkim_sign_free - release everything; NULL is fine; returns NULL */
struct dkim_sign *
dkim_sign_free(struct dkim_sign *ctx)
{
	if (ctx == NULL)
		return NULL;
	for (size_t i = 0; i < ctx->nsigs; i++)
		sig_release(&ctx->sigs[i]);
	for (size_t i = 0; i < ctx->nbodies; i++)
		EVP_MD_CTX_free(ctx->bodies[i].md);
	header_section_release(&ctx->hs);
	free(ctx);
	return NULL;
}
