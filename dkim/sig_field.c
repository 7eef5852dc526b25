/*
 * sig_field.c - build the DKIM-Signature header field text, RFC 6376 3.5
 * (see include/p11dkim/sig_field.h).
 *
 * Tag order: v a c d s [i] [t] [x] h bh b.  b= is last, so the data a
 * signature covers is the prefix up to "b=", and the base64 after it can
 * be folded freely: verifiers delete the b= value with its whitespace.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "p11dkim/sig_field.h"

#define FOLD		"\r\n\t"
#define B64_MIN_ON_LINE	8	/* never leave "b=" alone at a line end */

/* column - length of the last line of out so far */
static size_t
column(const struct buf *out)
{
	const char *nl = out->len ? memrchr(out->data, '\n', out->len) : NULL;

	return nl ? out->len - (size_t)(nl + 1 - out->data) : out->len;
}

/*
 * put_token - append an unbreakable token, preceded by a space when space
 * is set; fold first when the token would pass the line limit.
 */
static int
put_token(struct buf *out, const char *tok, size_t n, int space)
{
	size_t	 col = column(out);

	if (col > 1 && col + (space ? 1 : 0) + n > SIG_FIELD_LINE_MAX) {
		if (buf_append(out, FOLD, 3) < 0)
			return -1;
	} else if (space && buf_append(out, " ", 1) < 0) {
		return -1;
	}
	return buf_append(out, tok, n);
}

/* put_tag - append "name=value;" as one token after a space */
static int
put_tag(struct buf *out, const char *name, const char *value)
{
	char	 tok[640];
	int	 n;

	n = snprintf(tok, sizeof(tok), "%s=%s;", name, value);
	if (n < 0 || (size_t)n >= sizeof(tok)) {
		errno = E2BIG;
		return -1;
	}
	return put_token(out, tok, (size_t)n, 1);
}

/* put_hlist - "h=a:b:c;", folded after colons where needed */
static int
put_hlist(struct buf *out, const char *hlist)
{
	const char *p = hlist, *colon;
	char	 tok[300];
	int	 n, first = 1;

	while (*p != '\0') {
		colon = strchr(p, ':');
		n = snprintf(tok, sizeof(tok), "%s%.*s%s", first ? "h=" : "",
		    (int)(colon ? colon - p : (int)strlen(p)), p,
		    colon ? ":" : ";");
		if (n < 0 || (size_t)n >= sizeof(tok)) {
			errno = E2BIG;
			return -1;
		}
		if (put_token(out, tok, (size_t)n, first) < 0)
			return -1;
		first = 0;
		p = colon ? colon + 1 : p + strlen(p);
	}
	return 0;
}

/*
 * put_base64 - append base64 text, filling each line to the limit and
 * folding inside the value (FWS is allowed there, 3.5).
 */
static int
put_base64(struct buf *out, const char *b64, size_t n)
{
	size_t	 col, room;

	while (n > 0) {
		col = column(out);
		room = col < SIG_FIELD_LINE_MAX ? SIG_FIELD_LINE_MAX - col : 0;
		if (room == 0) {
			if (buf_append(out, FOLD, 3) < 0)
				return -1;
			continue;
		}
		if (room > n)
			room = n;
		if (buf_append(out, b64, room) < 0)
			return -1;
		b64 += room;
		n -= room;
	}
	return 0;
}

/* sig_field_base64 - base64 of len bytes into out (NUL-terminated) */
int
sig_field_base64(const unsigned char *p, size_t len, struct buf *out)
{
	char	 b64[4 * ((DKIM_SIG_MAX + 2) / 3) + 1];
	int	 n;

	if (len > DKIM_SIG_MAX) {
		errno = E2BIG;
		return -1;
	}
	n = EVP_EncodeBlock((unsigned char *)b64, p, (int)len);
	if (n < 0) {
		errno = E2BIG;
		return -1;
	}
	return buf_append(out, b64, (size_t)n);
}

/* put_bh - "bh=<base64>;" after a space, folded inside when needed */
static int
put_bh(struct buf *out, const unsigned char *hash)
{
	struct buf b64;
	int	 rc;

	buf_init(&b64, 64);
	rc = sig_field_base64(hash, DKIM_DIGEST_LEN, &b64);
	if (rc == 0)
		rc = put_token(out, "bh=", 3, 1);
	if (rc == 0)
		rc = put_base64(out, b64.data, b64.len);
	if (rc == 0)
		rc = buf_append(out, ";", 1);
	buf_release(&b64);
	return rc;
}

/* sig_field_prefix - the field up to "b=", folded; -1 on overflow */
int
sig_field_prefix(const struct sig_tags *t, struct buf *out)
{
	char	 c[32], num[32];

	snprintf(c, sizeof(c), "%s/%s", dkim_canon_name(t->hcanon),
	    dkim_canon_name(t->bcanon));
	if (buf_append_str(out, SIG_FIELD_NAME ":") < 0 ||
	    put_tag(out, "v", "1") < 0 ||
	    put_tag(out, "a", dkim_alg_name(t->alg)) < 0 ||
	    put_tag(out, "c", c) < 0 ||
	    put_tag(out, "d", t->domain) < 0 ||
	    put_tag(out, "s", t->selector) < 0)
		return -1;
	if (t->identity != NULL && put_tag(out, "i", t->identity) < 0)
		return -1;
	if (t->timestamp >= 0) {
		snprintf(num, sizeof(num), "%lld", t->timestamp);
		if (put_tag(out, "t", num) < 0)
			return -1;
	}
	if (t->expire >= 0) {
		snprintf(num, sizeof(num), "%lld", t->expire);
		if (put_tag(out, "x", num) < 0)
			return -1;
	}
	if (put_hlist(out, t->hlist) < 0 || put_bh(out, t->body_hash) < 0)
		return -1;
	if (column(out) + 1 + 2 + B64_MIN_ON_LINE > SIG_FIELD_LINE_MAX)
		return buf_append(out, FOLD "b=", 5);
	return buf_append(out, " b=", 3);
}

/* sig_field_finish - append the signature's base64 and CRLF */
int
sig_field_finish(struct buf *out, const unsigned char *sig, size_t len)
{
	struct buf b64;
	int	 rc;

	buf_init(&b64, 2 * DKIM_SIG_MAX);
	rc = sig_field_base64(sig, len, &b64);
	if (rc == 0)
		rc = put_base64(out, b64.data, b64.len);
	if (rc == 0)
		rc = buf_append(out, "\r\n", 2);
	buf_release(&b64);
	return rc;
}
