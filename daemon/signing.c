/*
 * signing.c - one message being signed by a front (see signing.h).
 *
 * Security: message content is never logged; the Message-ID in the log
 * is bounded and stripped of control characters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "p11dkim/log.h"
#include "signing.h"

/* signing_begin - a new message */
void
signing_begin(struct signing *s, const struct front *f)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->inst = -1;
	buf_init(&s->fields, 2 * 16384);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
}

/* signing_fail - the message fails (the first reason counts) */
void
signing_fail(struct signing *s, int kind, const char *fmt, ...)
{
	va_list	 ap;

	if (s->fail)
		return;
	s->fail = kind;
	va_start(ap, fmt);
	if (vsnprintf(s->reason, sizeof(s->reason), fmt, ap) < 0)
		s->reason[0] = '\0';
	va_end(ap);
}

/* fail_dkim - a failure of the signing core, classed */
static void
fail_dkim(struct signing *s, const struct dkim_err *err)
{
	signing_fail(s, dkim_status_temporary(err->status) ? SIGNING_TEMP :
	    SIGNING_PERM, "%s", err->msg);
}

/* counted - add n to the size; fails the message past the limit */
static int
counted(struct signing *s, size_t n)
{
	size_t	 max = s->f->conf->daemon.max_message_bytes;

	if (s->fail)
		return 0;
	if ((s->total += n) > max) {
		signing_fail(s, SIGNING_PERM, "message larger than %zu bytes",
		    max);
		return 0;
	}
	return 1;
}

/* signing_headers - bytes of the header section */
int
signing_headers(struct signing *s, const char *p, size_t n, size_t *used)
{
	struct dkim_limits lim = { s->f->conf->daemon.max_header_bytes, 0 };
	struct dkim_err err;

	*used = n;
	if (!counted(s, n))
		return 0;
	if (s->ctx == NULL && (s->ctx = dkim_sign_new(&lim, &err)) == NULL) {
		fail_dkim(s, &err);
		return 0;
	}
	if (dkim_sign_headers(s->ctx, p, n, used, &err) < 0) {
		fail_dkim(s, &err);
		return 0;
	}
	s->total -= n - *used;		/* the rest is counted as body */
	return dkim_sign_headers_complete(s->ctx);
}

/* signing_headers_end - the message ended inside its headers: 1 if closed */
int
signing_headers_end(struct signing *s)
{
	struct dkim_err err;

	if (s->fail)
		return 0;
	if (s->ctx == NULL) {
		signing_fail(s, SIGNING_PERM, "empty message");
		return 0;
	}
	if (dkim_sign_headers_complete(s->ctx))
		return 0;
	if (dkim_sign_headers_end(s->ctx, &err) < 0) {
		fail_dkim(s, &err);
		return 0;
	}
	return 1;
}

/* signing_body - body bytes (after the institution was picked) */
void
signing_body(struct signing *s, const char *p, size_t n)
{
	struct dkim_err err;

	if (n > 0 && counted(s, n) && dkim_sign_body(s->ctx, p, n, &err) < 0)
		fail_dkim(s, &err);
}

/* signing_pick - the institution for domain (NULL: From's domain) */
const struct keytab_entry *
signing_pick(struct signing *s, const char *domain)
{
	char	 from[ADDR_DOMAIN_MAX + 1];
	const char *v, *why;
	size_t	 len;

	if (s->fail)
		return NULL;
	if (domain == NULL) {
		v = dkim_sign_header_value(s->ctx, "from", &len);
		if (v == NULL || addr_from_domain(v, len, from, sizeof(from),
		    &why) < 0) {
			signing_fail(s, SIGNING_PERM, "%s", v ? why : "no From");
			return NULL;
		}
		domain = from;
	}
	s->e = keytab_for_domain(s->f->keys, domain, &s->keys[0], &s->d_domain);
	if (s->e == NULL) {
		signing_fail(s, SIGNING_PERM, "domain %s is not signed here",
		    domain);
		s->not_ours = 1;
		return NULL;
	}
	s->inst = (int)(s->e->inst - s->f->conf->inst);
	if (s->e->pending && !s->e->inst->sign_pending) {
		signing_fail(s, SIGNING_PERM, "institution %s is pending: CNAME "
		    "%s._domainkey.%s not confirmed; run p11dkim-keys check-dns "
		    "%s --promote", s->e->inst->code, s->e->selector_name,
		    s->d_domain, s->e->inst->code);
		return NULL;
	}
	return s->e;
}

/* add_one - a signature with key entry e */
static void
add_one(struct signing *s, const struct keytab_entry *e)
{
	const struct conf_institution *i = e->inst;
	struct dkim_sign_params p;
	struct dkim_err err;

	memset(&p, 0, sizeof(p));
	p.alg = e->alg;
	p.hcanon = i->hcanon;
	p.bcanon = i->bcanon;
	p.domain = s->d_domain;
	p.selector = e->selector_name;
	p.sign_headers = (const char *const *)i->headers;
	p.oversign_headers = (const char *const *)i->oversign;
	p.no_timestamp = !i->timestamp;
	p.expire_secs = i->expire;
	if (dkim_sign_add(s->ctx, &p, &err) < 0)
		fail_dkim(s, &err);
}

/* signing_add - the picked institution's signatures (main, then dual) */
void
signing_add(struct signing *s)
{
	s->nkeys = 1;
	add_one(s, s->e);
	if (s->e->dual != KEYTAB_NONE && !s->fail) {
		s->keys[s->nkeys++] = s->e->dual;
		add_one(s, &s->f->keys->e[s->e->dual]);
	}
}

/* signing_client - who asks, for the signing trail */
void
signing_client(struct signing *s, uint8_t front, const char *client)
{
	size_t	 n = 0;

	s->front = front;
	for (; *client != '\0' && n < sizeof(s->client) - 1; client++)
		if (*client >= ' ' && *client <= '~')
			s->client[n++] = *client;
	s->client[n] = '\0';
}

/* note - what the trail records of signature i besides the signer's */
static void
note(const struct signing *s, size_t i, struct signer_note *n)
{
	const struct keytab_entry *e = &s->f->keys->e[s->keys[i]];
	size_t	 len = 0;
	const char *mid = dkim_sign_header_value(s->ctx, "message-id", &len);

	memset(n, 0, sizeof(*n));
	n->front = s->front;
	n->size = s->total;
	if (dkim_sign_body_hash(s->ctx, i, n->bh) < 0)
		memset(n->bh, 0, sizeof(n->bh));
	snprintf(n->d, sizeof(n->d), "%s", s->d_domain);
	snprintf(n->s, sizeof(n->s), "%s", e->selector_name);
	snprintf(n->client, sizeof(n->client), "%s", s->client);
	if (mid != NULL)
		trail_msgid_norm(mid, len, n->msgid);
}

/* sign_one - signature i through the signer; 0 or -1 (failed) */
static int
sign_one(struct signing *s, size_t i)
{
	unsigned char digest[DKIM_DIGEST_LEN];
	struct signer_reply rep;
	struct signer_note n;
	struct dkim_err err;

	if (dkim_sign_digest(s->ctx, i, digest) < 0) {
		signing_fail(s, SIGNING_TEMP, "no digest for signature %zu", i);
		return -1;
	}
	note(s, i, &n);
	signer_sign_noted(s->f->signer, s->keys[i],
	    s->f->keys->e[s->keys[i]].alg, digest, &n, &rep);
	if (rep.status != SIGNER_OK) {
		if (rep.status == SIGNER_TEMP)
			stats_token_error(s->f->stats, s->inst);
		else if (rep.status == SIGNER_TRAIL)
			stats_trail_failure(s->f->stats, s->inst);
		s->over_quota = rep.status == SIGNER_LIMIT;
		signing_fail(s, rep.status == SIGNER_PERM ? SIGNING_PERM :
		    SIGNING_TEMP, "%s", rep.reason);
		return -1;
	}
	if (dkim_sign_set_signature(s->ctx, i, rep.sig, rep.len, &err) < 0) {
		fail_dkim(s, &err);
		return -1;
	}
	return 0;
}

/*
 * signing_finish - the message is complete: a digest per signature, the
 * signer, the fields (all of them, or none: never half a reply).
 */
const char *
signing_finish(struct signing *s, size_t *len)
{
	struct dkim_err err;
	const char *field;
	size_t	 flen;

	if (s->fail)
		return NULL;
	if (s->e == NULL) {
		signing_fail(s, SIGNING_PERM, "no institution was picked");
		return NULL;
	}
	if (dkim_sign_end(s->ctx, &err) < 0) {
		fail_dkim(s, &err);
		return NULL;
	}
	for (size_t i = 0; i < s->nkeys; i++) {
		if (sign_one(s, i) < 0)
			return NULL;
		field = dkim_sign_field(s->ctx, i, &flen);
		if (buf_append(&s->fields, field, flen) < 0) {
			signing_fail(s, SIGNING_TEMP, "out of memory");
			return NULL;
		}
	}
	*len = s->fields.len;
	return s->fields.data;
}

/* elapsed_ms - milliseconds since t */
static double
elapsed_ms(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1000 +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* message_id - the Message-ID for the log, bounded, without controls */
static void
message_id(const struct signing *s, char *out)
{
	size_t	 len = 0, n = 0;
	const char *v = s->ctx ? dkim_sign_header_value(s->ctx, "message-id",
	    &len) : NULL;

	for (size_t i = 0; v != NULL && i < len && n < 96; i++)
		if (v[i] > ' ' && v[i] < 127)
			out[n++] = v[i];
	if (n == 0)
		out[n++] = '-';
	out[n] = '\0';
}

/*
 * key_names - the selectors (or the algorithms, algs) of the keys the
 * message was given, comma-separated: "stxsel1,stxed1"; "-" when none
 */
static void
key_names(const struct signing *s, int algs, char *out, size_t len)
{
	size_t	 n = 0;
	int	 w;

	out[0] = '\0';
	for (size_t i = 0; i < s->nkeys && n < len; i++) {
		const struct keytab_entry *e = &s->f->keys->e[s->keys[i]];

		w = snprintf(out + n, len - n, "%s%s", i ? "," : "",
		    algs ? dkim_alg_name(e->alg) : e->selector_name);
		n += w > 0 ? (size_t)w : 0;
	}
	if (out[0] == '\0')
		snprintf(out, len, "-");
}

/* passed_as_not_ours - the milter lets through mail that is not ours */
static int
passed_as_not_ours(const struct signing *s)
{
	return s->fail == SIGNING_PERM && s->passes_unsigned && s->not_ours;
}

/*
 * signing_done - log one line (peer says who asked), count, free.  A
 * failure is a warning, except mail the milter passes as not ours.
 */
void
signing_done(struct signing *s, const char *peer)
{
	double	 ms = elapsed_ms(&s->start);
	int	 pass = passed_as_not_ours(s);
	char	 mid[100], sel[2 * 64], alg[64];

	message_id(s, mid);
	key_names(s, 0, sel, sizeof(sel));
	key_names(s, 1, alg, sizeof(alg));
	(s->fail && !pass ? log_warn : log_info)(
	    "%s inst=%s d=%s s=%s alg=%s msgid=%s size=%zu ms=%.1f %s%s%s",
	    pass ? "unsigned" : s->fail == SIGNING_TEMP ? "tempfail" :
	    s->fail ? "permfail" : "signed", s->e ? s->e->inst->code : "-", s->e ? s->d_domain : "-",
	    sel, alg, mid, s->total, ms, peer, s->fail ? " reason=" : "",
	    s->fail ? s->reason : "");
	stats_request(s->f->stats, s->inst, s->fail == SIGNING_TEMP ?
	    STATS_TEMPFAIL : s->fail ? STATS_PERMFAIL : STATS_SIGNED, ms);
	dkim_sign_free(s->ctx);
	s->ctx = NULL;
	buf_release(&s->fields);
}

/* signing_drop - free a message the MTA gave up on: no log, no count */
void
signing_drop(struct signing *s)
{
	dkim_sign_free(s->ctx);
	s->ctx = NULL;
	buf_release(&s->fields);
}
