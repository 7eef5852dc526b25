/*
 * dns_record.c - DNS records of the key ceremony (see
 * include/p11dkim/dns_record.h): zone-file output, an offline parser for
 * zone files and dig output, live lookups through libresolv, and the
 * comparison of a published DKIM key record with the token's key.
 *
 * Security notes: zone text, dig output and DNS answers are untrusted.
 * The zone parser works on a length-counted input of at most 1 MiB with
 * no recursion, refuses $INCLUDE, and bounds the records it keeps, each
 * character-string (255 bytes) and each TXT (64 KiB).  Names are kept
 * as text (escapes not decoded) and never longer than DNS_NAME_TEXT_MAX.
 * Text quoted back in error messages has non-printable bytes replaced,
 * so a hostile zone cannot write terminal escapes into a log.  A TXT
 * holding a NUL byte is refused rather than silently cut short.
 */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/nameser.h>

#include <errno.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "p11dkim/dns_record.h"

#define TXT_STRING_MAX	255		/* RFC 1035 3.3: <character-string> */
#define ANSWER_MAX	65536		/* a DNS message over TCP */
#define KEY_TAGS_MAX	32		/* tags in one key record */
#define SHOW_MAX	48		/* bytes of input quoted in a message */

static int dns_say(char *, size_t, int, const char *, ...)
	    __attribute__((format(printf, 4, 5)));

/* dns_say - write a message to err (if any) and return rc */
static int
dns_say(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
	return rc;
}

/* is_wsp - white space inside records and tag lists (WSP and FWS) */
static int
is_wsp(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_alpha - ASCII letter, whatever the locale */
static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_digit - ASCII digit */
static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* lower - ASCII lowercase of one byte, whatever the locale */
static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* caseeq - n bytes equal but for ASCII case (RFC 4343) */
static int
caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* lower_ascii - lowercase a name in place (DNS compares ASCII only) */
static void
lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)lower((unsigned char)*s);
}

/* show - copy at most SHOW_MAX bytes of untrusted text, printable only */
static const char *
show(const char *s, size_t len, char *out, size_t outlen)
{
	size_t	 i, n = len < SHOW_MAX ? len : SHOW_MAX;

	if (outlen < SHOW_MAX + 4)
		return "";
	for (i = 0; i < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (n < len) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* name_equal - same domain name, case-insensitive, trailing dots aside */
static int
name_equal(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && caseeq(a, b, la);
}

/* ------------------------------------------------------------------ */
/* Zone-file output                                                    */
/* ------------------------------------------------------------------ */

/*
 * name_printable - a name we are willing to write into a zone file: not
 * empty, no white space, quotes, parentheses, ';' or '\' (which would
 * change the meaning of the line), no empty label, not '@' or '$...'.
 */
static int
name_printable(const char *s)
{
	size_t	 len;

	if (s == NULL || (len = strlen(s)) == 0 || len > DNS_NAME_TEXT_MAX)
		return 0;
	if (strcmp(s, ".") == 0)
		return 1;
	if (s[0] == '.' || s[0] == '$' || strcmp(s, "@") == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"();\\", c) != NULL)
			return 0;
		if (c == '.' && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* name_append_absolute - append a name with exactly one trailing dot */
static int
name_append_absolute(struct buf *out, const char *name)
{
	size_t	 len = strlen(name);

	return buf_printf(out, "%s%s", name,
	    name[len - 1] == '.' ? "" : ".");
}

/*
 * txt_append_string - append one RFC 1035 5.1 quoted character-string:
 * '"' and '\' escaped, bytes outside printable ASCII as \DDD.
 */
static int
txt_append_string(struct buf *out, const char *s, size_t n)
{
	char	 quoted[4 * TXT_STRING_MAX + 3];
	size_t	 q = 0;

	quoted[q++] = '"';
	for (size_t i = 0; i < n && i < TXT_STRING_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f) {
			(void)snprintf(quoted + q, sizeof quoted - q, "\\%03u",
			    (unsigned)c);
			q += 4;
			continue;
		}
		if (c == '"' || c == '\\')
			quoted[q++] = '\\';
		quoted[q++] = (char)c;
	}
	quoted[q++] = '"';
	return buf_append(out, quoted, q);
}

/* txt_append_chunks - n bytes as strings of at most 255, one a line */
static int
txt_append_chunks(struct buf *out, const char *s, size_t n, int *first)
{
	do {
		size_t	 len = n < TXT_STRING_MAX ? n : TXT_STRING_MAX;

		if (buf_append_str(out, *first ? " ( " : "\n\t") < 0 ||
		    txt_append_string(out, s, len) < 0)
			return -1;
		*first = 0;
		s += len;
		n -= len;
	} while (n > 0);
	return 0;
}

/*
 * dkim_p_offset - where the p= tag of a DKIM key record begins (RFC 6376
 * 3.6.1), 0 when the text has none after its first byte.  Splitting the
 * record there puts the tag list and the key on separate lines.
 */
static size_t
dkim_p_offset(const char *text)
{
	const char *semi;
	size_t	 i = 0, j;

	for (;;) {
		while (is_wsp(text[i]))
			i++;
		if (text[i] == 'p') {
			for (j = i + 1; is_wsp(text[j]); j++)
				continue;
			if (text[j] == '=')
				return i;
		}
		if ((semi = strchr(text + i, ';')) == NULL)
			return 0;
		i = (size_t)(semi - text) + 1;
	}
}

/* dns_txt_format - append one zone-file TXT record for text at owner */
int
dns_txt_format(const char *owner, const char *text, struct buf *out)
{
	size_t	 start = out->len, split, len;
	int	 first = 1;

	if (!name_printable(owner) || text == NULL) {
		errno = EINVAL;
		return -1;
	}
	len = strlen(text);
	split = dkim_p_offset(text);
	if (name_append_absolute(out, owner) < 0 ||
	    buf_append_str(out, " IN TXT") < 0 ||
	    (split > 0 && txt_append_chunks(out, text, split, &first) < 0) ||
	    txt_append_chunks(out, text + split, len - split, &first) < 0 ||
	    buf_append_str(out, " )\n") < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

/* dns_cname_format - append "owner. IN CNAME target." and a newline */
int
dns_cname_format(const char *owner, const char *target, struct buf *out)
{
	size_t	 start = out->len;

	if (!name_printable(owner) || !name_printable(target)) {
		errno = EINVAL;
		return -1;
	}
	if (name_append_absolute(out, owner) < 0 ||
	    buf_append_str(out, " IN CNAME ") < 0 ||
	    name_append_absolute(out, target) < 0 ||
	    buf_append_str(out, "\n") < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Zone-file and dig-output parser (RFC 1035 5.1)                      */
/* ------------------------------------------------------------------ */

enum tok_kind {
	TOK_ERR,		/* the message is in the parser's err */
	TOK_EOF,
	TOK_EOL,		/* end of a logical line */
	TOK_WORD,		/* s/len: raw text, escapes not decoded */
	TOK_QUOTED		/* s/len: the text between the quotes */
};

struct zone_tok {
	enum tok_kind	 kind;
	const char	*s;
	size_t		 len;
	size_t		 line;
};

struct zone_parser {
	const char	*p;		/* next byte */
	const char	*end;
	size_t		 line;		/* line of p */
	size_t		 paren_line;	/* line of an open '(', 0 if none */
	struct dns_zone	*zone;
	size_t		 records;	/* records seen, of every type */
	int		 has_origin;
	int		 has_owner;
	char		 origin[DNS_NAME_TEXT_MAX + 1];
	char		 owner[DNS_NAME_TEXT_MAX + 1];	/* for blank owners */
	char		*err;
	size_t		 errlen;
};

static int zone_fail(struct zone_parser *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* zone_fail - "line N: message" into the parser's err; returns -1 */
static int
zone_fail(struct zone_parser *zp, size_t line, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (zp->err == NULL || zp->errlen == 0)
		return -1;
	n = snprintf(zp->err, zp->errlen, "line %zu: ", line);
	if (n < 0 || (size_t)n >= zp->errlen)
		return -1;
	va_start(ap, fmt);
	if (vsnprintf(zp->err + n, zp->errlen - (size_t)n, fmt, ap) < 0)
		zp->err[n] = '\0';
	va_end(ap);
	return -1;
}

/* tok_is - is the token the keyword kw (ASCII case-insensitive)? */
static int
tok_is(const struct zone_tok *tok, const char *kw)
{
	return tok->kind == TOK_WORD && tok->len == strlen(kw) &&
	    caseeq(tok->s, kw, tok->len);
}

/* tok_show - a token quoted safely in a message */
static const char *
tok_show(const struct zone_tok *tok, char *out, size_t outlen)
{
	return show(tok->s, tok->len, out, outlen);
}

/* is_delim - a byte that ends an unquoted word */
static int
is_delim(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' ||
	    c == '(' || c == ')' || c == ';';
}

/* lex_step - the position after one byte, or after a "\X" pair */
static const char *
lex_step(const char *p, const char *end)
{
	if (*p == '\\' && p + 1 < end && p[1] != '\n')
		return p + 2;
	return p + 1;
}

/* lex_quoted - a "..." string, which must end on its line */
static enum tok_kind
lex_quoted(struct zone_parser *zp, struct zone_tok *tok)
{
	const char *p = zp->p + 1;

	tok->s = p;
	while (p < zp->end && *p != '"' && *p != '\n')
		p = lex_step(p, zp->end);
	if (p >= zp->end || *p != '"') {
		zone_fail(zp, zp->line, "unterminated quoted string");
		return TOK_ERR;
	}
	tok->len = (size_t)(p - tok->s);
	zp->p = p + 1;
	return TOK_QUOTED;
}

/* lex_word - an unquoted word; "\X" keeps a delimiter inside it */
static enum tok_kind
lex_word(struct zone_parser *zp, struct zone_tok *tok)
{
	const char *p = zp->p;

	tok->s = p;
	while (p < zp->end && !is_delim(*p))
		p = lex_step(p, zp->end);
	tok->len = (size_t)(p - tok->s);
	zp->p = p;
	return TOK_WORD;
}

/* lex_paren - '(' and ')': a record continues across lines between them */
static int
lex_paren(struct zone_parser *zp)
{
	if (*zp->p == '(') {
		if (zp->paren_line != 0)
			return zone_fail(zp, zp->line, "nested '(' (the "
			    "one on line %zu is still open)", zp->paren_line);
		zp->paren_line = zp->line;
	} else {
		if (zp->paren_line == 0)
			return zone_fail(zp, zp->line, "')' without '('");
		zp->paren_line = 0;
	}
	zp->p++;
	return 0;
}

/*
 * lex_next - the next token of the current logical line.  A newline
 * inside parentheses is white space; ';' starts a comment to the end of
 * the line (RFC 1035 5.1).
 */
static enum tok_kind
lex_next(struct zone_parser *zp, struct zone_tok *tok)
{
	for (;;) {
		tok->line = zp->line;
		tok->s = zp->p;
		tok->len = 0;
		if (zp->p >= zp->end) {
			if (zp->paren_line == 0)
				return tok->kind = TOK_EOF;
			zone_fail(zp, zp->paren_line, "'(' is never "
			    "closed");
			return tok->kind = TOK_ERR;
		}
		if (*zp->p == '\n') {
			zp->p++;
			zp->line++;
			if (zp->paren_line == 0)
				return tok->kind = TOK_EOL;
		} else if (*zp->p == ' ' || *zp->p == '\t' || *zp->p == '\r') {
			zp->p++;
		} else if (*zp->p == ';') {
			while (zp->p < zp->end && *zp->p != '\n')
				zp->p++;
		} else if (*zp->p == '(' || *zp->p == ')') {
			if (lex_paren(zp) < 0)
				return tok->kind = TOK_ERR;
		} else if (*zp->p == '"') {
			return tok->kind = lex_quoted(zp, tok);
		} else {
			return tok->kind = lex_word(zp, tok);
		}
	}
}

/* lex_skip_line - consume the rest of a logical line */
static int
lex_skip_line(struct zone_parser *zp)
{
	struct zone_tok tok;

	for (;;) {
		switch (lex_next(zp, &tok)) {
		case TOK_ERR:
			return -1;
		case TOK_EOF:
		case TOK_EOL:
			return 0;
		default:
			break;
		}
	}
}

/*
 * unescape - the byte at s[*i] of a zone string, with "\X" giving X and
 * "\DDD" the byte of that decimal value (RFC 1035 5.1); -1 when bad.
 */
static int
unescape(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s + *i;
	int	 v;

	if (u[0] != '\\') {
		*i += 1;
		return u[0];
	}
	if (*i + 1 >= len)
		return -1;
	if (!is_digit(u[1])) {
		*i += 2;
		return u[1];
	}
	if (*i + 3 >= len || !is_digit(u[2]) || !is_digit(u[3]))
		return -1;
	v = (u[1] - '0') * 100 + (u[2] - '0') * 10 + (u[3] - '0');
	*i += 4;
	return v <= 255 ? v : -1;
}

/* is_absolute - does a name as written end in an unescaped dot? */
static int
is_absolute(const char *s, size_t len)
{
	size_t	 slashes = 0;

	if (len == 0 || s[len - 1] != '.')
		return 0;
	while (slashes < len - 1 && s[len - 2 - slashes] == '\\')
		slashes++;
	return slashes % 2 == 0;
}

/*
 * zone_name - a name as written, made absolute (RFC 1035 5.1: '@' is the
 * origin, a name without a final dot is relative to it), lowercase and
 * without the final dot.  Escapes are kept as written.
 */
static int
zone_name(struct zone_parser *zp, const struct zone_tok *tok, char *out,
    size_t outlen)
{
	char	 tmp[SHOW_MAX + 4];
	int	 n, len = (int)tok->len;

	if (tok->kind != TOK_WORD)
		return zone_fail(zp, tok->line, "expected a domain name");
	if (tok->len > DNS_NAME_TEXT_MAX)
		n = -1;
	else if (tok->len == 1 && tok->s[0] == '@') {
		if (!zp->has_origin)
			return zone_fail(zp, tok->line, "'@' without $ORIGIN");
		n = snprintf(out, outlen, "%s", zp->origin);
	} else if (is_absolute(tok->s, tok->len))
		n = snprintf(out, outlen, "%.*s", len - 1, tok->s);
	else if (!zp->has_origin)
		return zone_fail(zp, tok->line, "relative name '%s' without "
		    "$ORIGIN", tok_show(tok, tmp, sizeof tmp));
	else
		n = snprintf(out, outlen, "%.*s%s%s", len, tok->s,
		    zp->origin[0] != '\0' ? "." : "", zp->origin);
	if (n < 0 || (size_t)n >= outlen)
		return zone_fail(zp, tok->line, "name '%s' longer than %d "
		    "characters", tok_show(tok, tmp, sizeof tmp),
		    DNS_NAME_TEXT_MAX);
	lower_ascii(out);
	return 0;
}

/* is_ttl - a TTL: digits, or BIND units such as 1h30m */
static int
is_ttl(const struct zone_tok *tok)
{
	if (tok->kind != TOK_WORD || tok->len == 0 || tok->len > 20 ||
	    !is_digit(tok->s[0]))
		return 0;
	for (size_t i = 0; i < tok->len; i++)
		if (!is_digit(tok->s[i]) && strchr("smhdwSMHDW", tok->s[i]) ==
		    NULL)
			return 0;
	return 1;
}

/* is_class - a class mnemonic (RFC 1035 3.2.4, RFC 3597 CLASSnn) */
static int
is_class(const struct zone_tok *tok, int *in)
{
	if (tok_is(tok, "IN") || tok_is(tok, "CLASS1")) {
		*in = 1;
		return 1;
	}
	if (tok_is(tok, "CH") || tok_is(tok, "HS") || tok_is(tok, "CS") ||
	    tok_is(tok, "NONE") || tok_is(tok, "ANY") ||
	    (tok->kind == TOK_WORD && tok->len > 5 &&
	    caseeq(tok->s, "CLASS", 5) && is_digit(tok->s[5]))) {
		*in = 0;
		return 1;
	}
	return 0;
}

/* zone_grow - room for one more record */
static int
zone_grow(struct dns_zone *z)
{
	size_t	 cap = z->cap ? z->cap * 2 : 16;
	struct dns_rr *rr;

	if ((rr = reallocarray(z->rr, cap, sizeof *rr)) == NULL)
		return -1;
	z->rr = rr;
	z->cap = cap;
	return 0;
}

/* zone_add - keep a record at the current owner; data is copied */
static int
zone_add(struct zone_parser *zp, enum dns_rr_type type, const char *data,
    size_t len, size_t line)
{
	struct dns_zone *z = zp->zone;
	struct dns_rr *rr;

	if (z->n == z->cap && zone_grow(z) < 0)
		return zone_fail(zp, line, "out of memory");
	rr = &z->rr[z->n];
	rr->owner = strdup(zp->owner);
	if ((rr->data = malloc(len + 1)) != NULL) {
		memcpy(rr->data, data, len);
		rr->data[len] = '\0';
	}
	if (rr->owner == NULL || rr->data == NULL) {
		free(rr->owner);
		free(rr->data);
		return zone_fail(zp, line, "out of memory");
	}
	rr->type = type;
	rr->len = len;
	rr->line = line;
	z->n++;
	return 0;
}

/*
 * zone_txt_string - decode one <character-string> and append it: at
 * most 255 bytes (RFC 1035 3.3), no NUL (the data becomes a C string).
 */
static int
zone_txt_string(struct zone_parser *zp, const struct zone_tok *tok,
    struct buf *data)
{
	unsigned char s[TXT_STRING_MAX];
	size_t	 n = 0, i = 0;
	int	 c;

	while (i < tok->len) {
		if ((c = unescape(tok->s, tok->len, &i)) < 0)
			return zone_fail(zp, tok->line, "bad escape in a TXT "
			    "string (want \\X or \\DDD with DDD <= 255)");
		if (c == 0)
			return zone_fail(zp, tok->line, "NUL byte (\\000) in "
			    "a TXT string");
		if (n == sizeof s)
			return zone_fail(zp, tok->line, "TXT string longer "
			    "than 255 bytes (RFC 1035 3.3)");
		s[n++] = (unsigned char)c;
	}
	if (buf_append(data, s, n) < 0)
		return zone_fail(zp, tok->line, errno == E2BIG ? "TXT record "
		    "longer than %d bytes" : "out of memory (TXT of %d bytes)",
		    DNS_TXT_MAX);
	return 0;
}

/* tok_generic - RFC 3597 "\#" rdata, which would otherwise read as text */
static int
tok_generic(struct zone_parser *zp, const struct zone_tok *tok)
{
	if (tok->kind == TOK_WORD && tok->len == 2 && tok->s[0] == '\\' &&
	    tok->s[1] == '#')
		return zone_fail(zp, tok->line, "generic rdata (\\#, RFC "
		    "3597) is not supported");
	return 0;
}

/* zone_txt - the character-strings of a TXT record, concatenated */
static int
zone_txt(struct zone_parser *zp, size_t line)
{
	struct zone_tok tok;
	struct buf data;
	size_t	 strings = 0;
	int	 rc = -1;

	buf_init(&data, DNS_TXT_MAX);
	for (;;) {
		if (lex_next(zp, &tok) == TOK_ERR)
			goto out;
		if (tok.kind == TOK_EOL || tok.kind == TOK_EOF)
			break;
		if ((strings == 0 && tok_generic(zp, &tok) < 0) ||
		    zone_txt_string(zp, &tok, &data) < 0)
			goto out;
		strings++;
	}
	if (strings == 0)
		zone_fail(zp, line, "TXT record without text");
	else
		rc = zone_add(zp, DNS_RR_TXT, buf_str(&data), data.len, line);
out:
	buf_release(&data);
	return rc;
}

/* zone_cname - the single target name of a CNAME record */
static int
zone_cname(struct zone_parser *zp, size_t line)
{
	char	 target[DNS_NAME_TEXT_MAX + 1];
	struct zone_tok tok;

	if (lex_next(zp, &tok) == TOK_ERR)
		return -1;
	if (tok.kind == TOK_EOL || tok.kind == TOK_EOF)
		return zone_fail(zp, line, "CNAME without a target");
	if (tok_generic(zp, &tok) < 0 ||
	    zone_name(zp, &tok, target, sizeof target) < 0)
		return -1;
	if (lex_next(zp, &tok) == TOK_ERR)
		return -1;
	if (tok.kind != TOK_EOL && tok.kind != TOK_EOF)
		return zone_fail(zp, tok.line, "more than one name after "
		    "CNAME");
	return zone_add(zp, DNS_RR_CNAME, target, strlen(target), line);
}

/*
 * zone_record - [TTL] [class] type rdata, TTL and class in either order
 * (RFC 1035 5.1).  TXT and CNAME of class IN are kept, the rest skipped.
 */
static int
zone_record(struct zone_parser *zp, struct zone_tok *tok, size_t line)
{
	char	 tmp[SHOW_MAX + 4];
	int	 have_ttl = 0, have_class = 0, in = 1;

	for (;;) {
		if (tok->kind == TOK_ERR)
			return -1;
		if (tok->kind != TOK_WORD)
			return zone_fail(zp, tok->line, "record without a "
			    "type");
		if (!have_ttl && is_ttl(tok))
			have_ttl = 1;
		else if (!have_class && is_class(tok, &in))
			have_class = 1;
		else
			break;
		(void)lex_next(zp, tok);
	}
	if (++zp->records > DNS_ZONE_MAX_RECORDS)
		return zone_fail(zp, line, "more than %d records",
		    DNS_ZONE_MAX_RECORDS);
	if (is_ttl(tok))
		return zone_fail(zp, tok->line, "unexpected number '%s' "
		    "where the type should be", tok_show(tok, tmp, sizeof tmp));
	if (in && tok_is(tok, "TXT"))
		return zone_txt(zp, line);
	if (in && tok_is(tok, "CNAME"))
		return zone_cname(zp, line);
	return lex_skip_line(zp);
}

/* zone_directive - $ORIGIN and $TTL (RFC 1035 5.1); $INCLUDE refused */
static int
zone_directive(struct zone_parser *zp, const struct zone_tok *dir)
{
	char	 name[DNS_NAME_TEXT_MAX + 1], tmp[SHOW_MAX + 4];
	struct zone_tok arg;

	if (!tok_is(dir, "$ORIGIN") && !tok_is(dir, "$TTL"))
		return zone_fail(zp, dir->line, "%s '%s' is not supported",
		    tok_is(dir, "$INCLUDE") ? "directive" : "unknown directive",
		    tok_show(dir, tmp, sizeof tmp));
	if (lex_next(zp, &arg) == TOK_ERR)
		return -1;
	if (tok_is(dir, "$TTL") && !is_ttl(&arg))
		return zone_fail(zp, dir->line, "$TTL without a valid TTL");
	if (tok_is(dir, "$ORIGIN")) {
		if (arg.kind != TOK_WORD)
			return zone_fail(zp, dir->line, "$ORIGIN without a "
			    "name");
		if (zone_name(zp, &arg, name, sizeof name) < 0)
			return -1;
		memcpy(zp->origin, name, strlen(name) + 1);
		zp->has_origin = 1;
	}
	if (lex_next(zp, &arg) == TOK_ERR)
		return -1;
	if (arg.kind != TOK_EOL && arg.kind != TOK_EOF)
		return zone_fail(zp, arg.line, "extra text after %s",
		    tok_show(dir, tmp, sizeof tmp));
	return 0;
}

/*
 * zone_entry - one logical line: nothing, a directive or a record.  A
 * line that starts with white space belongs to the previous owner.
 * Returns 1 to go on, 0 at the end, -1 on error.
 */
static int
zone_entry(struct zone_parser *zp)
{
	struct zone_tok tok;
	size_t	 line = zp->line;
	int	 blank = zp->p < zp->end && (*zp->p == ' ' || *zp->p == '\t');

	switch (lex_next(zp, &tok)) {
	case TOK_ERR:
		return -1;
	case TOK_EOF:
		return 0;
	case TOK_EOL:
		return 1;
	default:
		break;
	}
	if (blank) {
		if (!zp->has_owner)
			return zone_fail(zp, tok.line, "record without an "
			    "owner name");
	} else if (tok.kind == TOK_WORD && tok.s[0] == '$') {
		return zone_directive(zp, &tok) < 0 ? -1 : 1;
	} else {
		if (zone_name(zp, &tok, zp->owner, sizeof zp->owner) < 0)
			return -1;
		zp->has_owner = 1;
		(void)lex_next(zp, &tok);
	}
	return zone_record(zp, &tok, line) < 0 ? -1 : 1;
}

/* line_of - the line number of a position in text */
static size_t
line_of(const char *text, const char *pos)
{
	size_t	 line = 1;

	for (; text < pos; text++)
		if (*text == '\n')
			line++;
	return line;
}

/* dns_zone_parse - parse zone-file text or dig output */
int
dns_zone_parse(struct dns_zone *zone, const char *text, size_t len,
    char *err, size_t errlen)
{
	struct zone_parser zp;
	const char *nul;
	int	 rc;

	memset(zone, 0, sizeof *zone);
	(void)dns_say(err, errlen, 0, "%s", "");
	if (len == 0)
		return 0;
	if (text == NULL || len > DNS_ZONE_MAX_TEXT)
		return dns_say(err, errlen, -1, "zone text of %zu bytes is "
		    "over the limit of %d", len, DNS_ZONE_MAX_TEXT);
	memset(&zp, 0, sizeof zp);
	zp.p = text;
	zp.end = text + len;
	zp.line = 1;
	zp.zone = zone;
	zp.err = err;
	zp.errlen = errlen;
	if ((nul = memchr(text, '\0', len)) != NULL)
		return zone_fail(&zp, line_of(text, nul), "NUL byte in the "
		    "zone text");
	while ((rc = zone_entry(&zp)) > 0)
		continue;
	if (rc < 0) {
		dns_zone_release(zone);
		return -1;
	}
	return 0;
}

/* zone_find - the index-th record of a type at name, NULL if none */
static const struct dns_rr *
zone_find(const struct dns_zone *zone, enum dns_rr_type type,
    const char *name, size_t index)
{
	if (zone == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < zone->n; i++) {
		const struct dns_rr *rr = &zone->rr[i];

		if (rr->type == type && name_equal(rr->owner, name) &&
		    index-- == 0)
			return rr;
	}
	return NULL;
}

/* dns_zone_txt - the index-th TXT record at name, NULL when none */
const char *
dns_zone_txt(const struct dns_zone *zone, const char *name, size_t index)
{
	const struct dns_rr *rr = zone_find(zone, DNS_RR_TXT, name, index);

	return rr != NULL ? rr->data : NULL;
}

/* dns_zone_cname - the CNAME target at name, NULL when none */
const char *
dns_zone_cname(const struct dns_zone *zone, const char *name)
{
	const struct dns_rr *rr = zone_find(zone, DNS_RR_CNAME, name, 0);

	return rr != NULL ? rr->data : NULL;
}

/* dns_zone_release - free the records; the zone is empty */
void
dns_zone_release(struct dns_zone *zone)
{
	if (zone == NULL)
		return;
	for (size_t i = 0; i < zone->n; i++) {
		free(zone->rr[i].owner);
		free(zone->rr[i].data);
	}
	free(zone->rr);
	zone->rr = NULL;
	zone->n = 0;
	zone->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Live lookups (libresolv) and the answers they bring                 */
/* ------------------------------------------------------------------ */

/* under_invalid - RFC 6761 6.4: names under .invalid never exist */
static int
under_invalid(const char *name)
{
	size_t	 len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	return len >= 7 && caseeq(name + len - 7, "invalid", 7) &&
	    (len == 7 || name[len - 8] == '.');
}

/*
 * lookup_no_answer - why res_nsend gave up.  glibc tries each server in
 * turn and skips those answering SERVFAIL, REFUSED or NOTIMP; when none
 * is left errno is ECONNREFUSED if no server was ever reached, else
 * ETIMEDOUT (timeouts, or only such answers).
 */
static int
lookup_no_answer(int sys_err, const char *name, const char *what,
    char *err, size_t errlen)
{
	if (sys_err == ECONNREFUSED)
		return dns_say(err, errlen, -1, "%s lookup of %.253s: no "
		    "resolver reachable (connection refused)", what, name);
	if (sys_err == ETIMEDOUT)
		return dns_say(err, errlen, -1, "%s lookup of %.253s: timeout, "
		    "or SERVFAIL/REFUSED from every resolver", what, name);
	return dns_say(err, errlen, -1, "%s lookup of %.253s: no answer "
	    "(%s)", what, name, sys_err ? strerror(sys_err) :
	    "resolver error");
}

/*
 * lookup_send - send one query for type at name to the resolvers of
 * /etc/resolv.conf (res_nsend retries, and falls back to TCP for a
 * truncated answer).  Returns 1 with the answer in ans, else -1.
 */
static int
lookup_send(const char *name, int type, const char *what,
    unsigned char *ans, size_t *anslen, char *err, size_t errlen)
{
	unsigned char query[NS_PACKETSZ];
	struct __res_state res;
	int	 qlen, n, sys_err;

	memset(&res, 0, sizeof res);
	if (res_ninit(&res) < 0)
		return dns_say(err, errlen, -1, "%s lookup of %.253s: cannot "
		    "initialise the resolver", what, name);
	qlen = res_nmkquery(&res, ns_o_query, name, ns_c_in, type, NULL, 0,
	    NULL, query, sizeof query);
	if (qlen < 0) {
		res_nclose(&res);
		return dns_say(err, errlen, -1, "%s lookup of %.253s: cannot "
		    "build a query for this name", what, name);
	}
	errno = 0;
	n = res_nsend(&res, query, qlen, ans, ANSWER_MAX);
	sys_err = errno;
	res_nclose(&res);
	if (n < 0)
		return lookup_no_answer(sys_err, name, what, err, errlen);
	*anslen = n > ANSWER_MAX ? ANSWER_MAX : (size_t)n;
	return 1;
}

/*
 * answer_open - parse a DNS message and read its rcode (RFC 1035
 * 4.1.1): NOERROR goes on (1), NXDOMAIN means no such name (0), any
 * other rcode is a failure (-1).
 */
static int
answer_open(const unsigned char *ans, size_t anslen, const char *name,
    ns_msg *msg, char *err, size_t errlen)
{
	static const char *const rcodes[] = { "NOERROR", "FORMERR",
	    "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };
	int	 rcode;

	if (anslen > ANSWER_MAX || ns_initparse(ans, (int)anslen, msg) < 0)
		return dns_say(err, errlen, -1, "%.253s: malformed DNS answer",
		    name);
	rcode = ns_msg_getflag(*msg, ns_f_rcode);
	if (rcode == ns_r_noerror)
		return 1;
	if (rcode == ns_r_nxdomain)
		return dns_say(err, errlen, 0, "%.253s: NXDOMAIN (no such "
		    "name)", name);
	if (rcode < (int)(sizeof rcodes / sizeof rcodes[0]))
		return dns_say(err, errlen, -1, "%.253s: the resolver "
		    "answered %s", name, rcodes[rcode]);
	return dns_say(err, errlen, -1, "%.253s: the resolver answered "
	    "rcode %d", name, rcode);
}

/*
 * txt_rdata - append a TXT record's character-strings (RFC 1035
 * 3.3.14: length byte, then the bytes); -1 with a message when the
 * rdata is malformed, holds a NUL byte or does not fit.
 */
static int
txt_rdata(const unsigned char *rd, size_t rdlen, const char *name,
    struct buf *out, char *err, size_t errlen)
{
	size_t	 i = 0, n;

	while (i < rdlen) {
		n = rd[i++];
		if (n > rdlen - i)
			return dns_say(err, errlen, -1, "%.253s: malformed TXT "
			    "record in the answer", name);
		if (memchr(rd + i, '\0', n) != NULL)
			return dns_say(err, errlen, -1, "%.253s: TXT record "
			    "holds a NUL byte", name);
		if (buf_append(out, rd + i, n) < 0)
			return dns_say(err, errlen, -1, "%.253s: TXT records "
			    "longer than %zu bytes", name, out->max);
		i += n;
	}
	return 0;
}

/* answer_txt - every IN TXT record of the answer section, '\n' between */
static int
answer_txt(ns_msg *msg, const char *name, struct buf *out, char *err,
    size_t errlen)
{
	ns_rr	 rr;
	int	 found = 0;

	for (int i = 0; i < ns_msg_count(*msg, ns_s_an); i++) {
		if (ns_parserr(msg, ns_s_an, i, &rr) < 0)
			return dns_say(err, errlen, -1, "%.253s: malformed "
			    "record in the DNS answer", name);
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;
		if (found++ > 0 && buf_append(out, "\n", 1) < 0)
			return dns_say(err, errlen, -1, "%.253s: TXT records "
			    "longer than %zu bytes", name, out->max);
		if (txt_rdata(ns_rr_rdata(rr), ns_rr_rdlen(rr), name, out,
		    err, errlen) < 0)
			return -1;
	}
	if (found == 0)
		return dns_say(err, errlen, 0, "%.253s: no TXT record (NODATA)",
		    name);
	return 1;
}

/* answer_cname - the target of the IN CNAME record owned by name */
static int
answer_cname(ns_msg *msg, const char *name, struct buf *out, char *err,
    size_t errlen)
{
	char	 target[NS_MAXDNAME];
	ns_rr	 rr;

	for (int i = 0; i < ns_msg_count(*msg, ns_s_an); i++) {
		if (ns_parserr(msg, ns_s_an, i, &rr) < 0)
			return dns_say(err, errlen, -1, "%.253s: malformed "
			    "record in the DNS answer", name);
		if (ns_rr_type(rr) != ns_t_cname ||
		    ns_rr_class(rr) != ns_c_in ||
		    !name_equal(ns_rr_name(rr), name))
			continue;
		if (ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg),
		    ns_rr_rdata(rr), target, sizeof target) < 0)
			return dns_say(err, errlen, -1, "%.253s: malformed "
			    "CNAME target in the DNS answer", name);
		lower_ascii(target);
		if (buf_append_str(out, target) < 0)
			return dns_say(err, errlen, -1, "%.253s: CNAME target "
			    "longer than %zu bytes", name, out->max);
		return 1;
	}
	return dns_say(err, errlen, 0, "%.253s: no CNAME record (NODATA)",
	    name);
}

/* dns_answer_txt - the TXT records of a DNS answer message */
int
dns_answer_txt(const unsigned char *ans, size_t anslen, const char *name,
    struct buf *out, char *err, size_t errlen)
{
	size_t	 start = out->len;
	ns_msg	 msg;
	int	 rc;

	rc = answer_open(ans, anslen, name, &msg, err, errlen);
	if (rc == 1)
		rc = answer_txt(&msg, name, out, err, errlen);
	if (rc != 1)
		buf_truncate(out, start);
	return rc;
}

/* dns_answer_cname - the CNAME target in a DNS answer message */
int
dns_answer_cname(const unsigned char *ans, size_t anslen, const char *name,
    struct buf *out, char *err, size_t errlen)
{
	size_t	 start = out->len;
	ns_msg	 msg;
	int	 rc;

	rc = answer_open(ans, anslen, name, &msg, err, errlen);
	if (rc == 1)
		rc = answer_cname(&msg, name, out, err, errlen);
	if (rc != 1)
		buf_truncate(out, start);
	return rc;
}

/*
 * lookup - query the resolver for type at name and read the answer
 * with parse; names under .invalid are answered without a query.
 */
static int
lookup(const char *name, int type, const char *what,
    int (*parse)(const unsigned char *, size_t, const char *,
    struct buf *, char *, size_t), struct buf *out, char *err,
    size_t errlen)
{
	unsigned char *ans;
	size_t	 anslen = 0;
	int	 rc;

	if (name == NULL || name[0] == '\0' || strlen(name) >= NS_MAXDNAME)
		return dns_say(err, errlen, -1, "%s lookup: bad name", what);
	if (under_invalid(name))
		return dns_say(err, errlen, 0, "%.253s: NXDOMAIN (names "
		    "under .invalid never exist, RFC 6761)", name);
	if ((ans = malloc(ANSWER_MAX)) == NULL)
		return dns_say(err, errlen, -1, "%s lookup: out of memory",
		    what);
	rc = lookup_send(name, type, what, ans, &anslen, err, errlen);
	if (rc == 1)
		rc = parse(ans, anslen, name, out, err, errlen);
	free(ans);
	return rc;
}

/* dns_lookup_txt - the TXT records at name, from the system resolver */
int
dns_lookup_txt(const char *name, struct buf *out, char *err, size_t errlen)
{
	return lookup(name, ns_t_txt, "TXT", dns_answer_txt, out, err,
	    errlen);
}

/* dns_lookup_cname - the CNAME target at name, from the system resolver */
int
dns_lookup_cname(const char *name, struct buf *out, char *err,
    size_t errlen)
{
	return lookup(name, ns_t_cname, "CNAME", dns_answer_cname, out, err,
	    errlen);
}

/* ------------------------------------------------------------------ */
/* DKIM key records (RFC 6376 3.2 and 3.6.1, RFC 8463)                 */
/* ------------------------------------------------------------------ */

struct tag_spec {
	const char	*name;
	size_t		 nlen;
	const char	*val;		/* WSP around it already dropped */
	size_t		 vlen;
};

/* is_alnumpunc - RFC 6376 3.2 ALNUMPUNC, the rest of a tag-name */
static int
is_alnumpunc(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* value_ok - tag-value: VALCHAR (%x21-3A / %x3C-7E) and inner WSP */
static int
value_ok(const char *v, size_t len, size_t *bad)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!is_wsp(c) && (c < 0x21 || c > 0x7e || c == ';')) {
			*bad = i;
			return 0;
		}
	}
	return 1;
}

/*
 * tag_next - the next tag-spec of a tag-list (RFC 6376 3.2):
 * [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS], ';' between specs and
 * optionally after the last.  Returns 1, 0 at the end, -1 on error.
 */
static int
tag_next(const char **pp, struct tag_spec *t, char *err, size_t errlen)
{
	const char *p = *pp, *stop, *end;
	size_t	 bad;

	while (is_wsp(*p))
		p++;
	if (*p == '\0')
		return 0;
	if ((stop = strchr(p, ';')) == NULL)
		stop = p + strlen(p);
	if (!is_alpha(*p))
		return dns_say(err, errlen, -1, "tag list: a tag name must "
		    "start with a letter (found byte 0x%02x)",
		    (unsigned char)*p);
	for (t->name = p; p < stop && is_alnumpunc(*p); p++)
		continue;
	t->nlen = (size_t)(p - t->name);
	while (p < stop && is_wsp(*p))
		p++;
	if (p == stop || *p != '=')
		return dns_say(err, errlen, -1, "tag '%.*s': expected '=' "
		    "after the tag name", (int)t->nlen, t->name);
	for (p++; p < stop && is_wsp(*p); p++)
		continue;
	for (end = stop; end > p && is_wsp(end[-1]); end--)
		continue;
	t->val = p;
	t->vlen = (size_t)(end - p);
	if (!value_ok(t->val, t->vlen, &bad))
		return dns_say(err, errlen, -1, "tag %.*s=: byte 0x%02x is "
		    "not allowed in a value", (int)t->nlen, t->name,
		    (unsigned char)t->val[bad]);
	*pp = *stop == ';' ? stop + 1 : stop;
	return 1;
}

/* tag_is - is the tag named name? (tag names are case-sensitive, 3.2) */
static int
tag_is(const struct tag_spec *t, const char *name)
{
	return t->nlen == strlen(name) && memcmp(t->name, name, t->nlen) == 0;
}

/* tag_copy - a short value into a fixed field, refused if too long */
static int
tag_copy(const struct tag_spec *t, char *dst, size_t dstlen, char *err,
    size_t errlen)
{
	if (t->vlen >= dstlen)
		return dns_say(err, errlen, -1, "%.*s= value longer than %zu "
		    "bytes", (int)t->nlen, t->name, dstlen - 1);
	memcpy(dst, t->val, t->vlen);
	dst[t->vlen] = '\0';
	return 0;
}

/*
 * base64_compact - p= without its FWS (RFC 6376 3.6.1 base64string),
 * checked: base64 letters, then at most two '=' at the end, a length
 * that is a multiple of 4.  Returns the count of '=', or -1.
 */
static int
base64_compact(const char *v, size_t vlen, char *out, size_t *outlen,
    char *err, size_t errlen)
{
	size_t	 n = 0, pad = 0;

	for (size_t i = 0; i < vlen; i++) {
		char	 c = v[i];

		if (is_wsp(c))
			continue;
		if (c == '=')
			pad++;
		else if (pad > 0 || !(is_alpha(c) || is_digit(c) ||
		    c == '+' || c == '/'))
			return dns_say(err, errlen, -1, "p=: invalid base64 "
			    "character at offset %zu", i);
		out[n++] = c;
	}
	if (pad > 2 || n % 4 != 0)
		return dns_say(err, errlen, -1, "p=: invalid base64 (%zu "
		    "characters, %zu '=')", n, pad);
	out[n] = '\0';
	*outlen = n;
	return (int)pad;
}

/* key_decode_p - p=: empty means revoked, else base64 decoded */
static int
key_decode_p(const struct tag_spec *t, struct dns_dkim_key *key, char *err,
    size_t errlen)
{
	char	*b64;
	size_t	 n = 0;
	int	 pad, dec;

	if (t->vlen > DNS_TXT_MAX)
		return dns_say(err, errlen, -1, "p= longer than %d bytes",
		    DNS_TXT_MAX);
	if ((b64 = malloc(t->vlen + 1)) == NULL)
		return dns_say(err, errlen, -1, "p=: out of memory");
	if ((pad = base64_compact(t->val, t->vlen, b64, &n, err,
	    errlen)) < 0) {
		free(b64);
		return -1;
	}
	key->revoked = n == 0;
	if (n > 0 && (key->p = malloc(n / 4 * 3)) == NULL) {
		free(b64);
		return dns_say(err, errlen, -1, "p=: out of memory");
	}
	/* EVP_DecodeBlock counts the bytes that padding stands for. */
	dec = n > 0 ? EVP_DecodeBlock(key->p, (unsigned char *)b64,
	    (int)n) : 0;
	free(b64);
	if (dec < pad)
		return dns_say(err, errlen, -1, "p=: invalid base64");
	key->p_len = (size_t)(dec - pad);
	return 0;
}

/*
 * key_tag - one tag of a key record (RFC 6376 3.6.1): v= first and
 * DKIM1, k=, h=, t= kept as text, p= decoded; others ignored.
 */
static int
key_tag(const struct tag_spec *t, size_t index, struct dns_dkim_key *key,
    char *err, size_t errlen)
{
	if (tag_is(t, "v")) {
		if (index != 0)
			return dns_say(err, errlen, -1, "v= must be the first "
			    "tag (RFC 6376 3.6.1)");
		if (t->vlen != 5 || memcmp(t->val, "DKIM1", 5) != 0)
			return dns_say(err, errlen, -1, "v=%.*s: only DKIM1 "
			    "is defined", (int)(t->vlen < 16 ? t->vlen : 16),
			    t->val);
		key->version_ok = 1;
		return 0;
	}
	if (tag_is(t, "k"))
		return t->vlen == 0 ? dns_say(err, errlen, -1, "k= is empty") :
		    tag_copy(t, key->k, sizeof key->k, err, errlen);
	if (tag_is(t, "h"))
		return tag_copy(t, key->h, sizeof key->h, err, errlen);
	if (tag_is(t, "t"))
		return tag_copy(t, key->t, sizeof key->t, err, errlen);
	if (tag_is(t, "p"))
		return key_decode_p(t, key, err, errlen);
	return 0;
}

/* tag_seen - has a tag of this name come before? (3.2: no duplicates) */
static int
tag_seen(const struct tag_spec *seen, size_t n, const struct tag_spec *t)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].nlen == t->nlen &&
		    memcmp(seen[i].name, t->name, t->nlen) == 0)
			return 1;
	return 0;
}

/* key_tags - walk the tag list, refusing duplicates */
static int
key_tags(const char *txt, struct dns_dkim_key *key, int *have_p, char *err,
    size_t errlen)
{
	struct tag_spec seen[KEY_TAGS_MAX], t;
	const char *p = txt;
	size_t	 n = 0;
	int	 rc;

	while ((rc = tag_next(&p, &t, err, errlen)) > 0) {
		if (tag_seen(seen, n, &t))
			return dns_say(err, errlen, -1, "duplicate tag %.*s= "
			    "(RFC 6376 3.2)", (int)t.nlen, t.name);
		if (n == KEY_TAGS_MAX)
			return dns_say(err, errlen, -1, "more than %d tags",
			    KEY_TAGS_MAX);
		if (key_tag(&t, n, key, err, errlen) < 0)
			return -1;
		*have_p |= tag_is(&t, "p");
		seen[n++] = t;
	}
	return rc;
}

/* dns_dkim_key_parse - parse a DKIM key record's tag list */
int
dns_dkim_key_parse(const char *txt, struct dns_dkim_key *key, char *err,
    size_t errlen)
{
	int	 have_p = 0;

	memset(key, 0, sizeof *key);
	memcpy(key->k, "rsa", 4);
	(void)dns_say(err, errlen, 0, "%s", "");
	if (txt == NULL)
		return dns_say(err, errlen, -1, "no key record");
	if (key_tags(txt, key, &have_p, err, errlen) < 0 ||
	    (!have_p && dns_say(err, errlen, -1, "no p= tag (RFC 6376 "
	    "3.6.1 requires it)") < 0)) {
		dns_dkim_key_release(key);
		return -1;
	}
	return 0;
}

/* dns_dkim_key_release - free p; the key is empty */
void
dns_dkim_key_release(struct dns_dkim_key *key)
{
	if (key == NULL)
		return;
	free(key->p);
	key->p = NULL;
	key->p_len = 0;
}

/* ------------------------------------------------------------------ */
/* Published record against the token's key                           */
/* ------------------------------------------------------------------ */

/* list_has - does a colon-separated list (h=, t=) hold item? */
static int
list_has(const char *list, const char *item)
{
	size_t	 ilen = strlen(item);
	const char *p = list, *end;

	for (;;) {
		while (is_wsp(*p))
			p++;
		for (end = p; *end != '\0' && *end != ':'; end++)
			continue;
		while (end > p && is_wsp(end[-1]))
			end--;
		if ((size_t)(end - p) == ilen && memcmp(p, item, ilen) == 0)
			return 1;
		if ((p = strchr(p, ':')) == NULL)
			return 0;
		p++;
	}
}

/* check_parsed - compare a parsed record with the token's key */
static enum dns_check
check_parsed(const struct dns_dkim_key *key, const char *want_k,
    const unsigned char *want_p, size_t want_p_len, char *why,
    size_t whylen)
{
	if (key->revoked)
		return dns_say(why, whylen, DNS_REVOKED, "p= is empty: the "
		    "key is revoked (RFC 6376 3.6.1)");
	if (strcmp(key->k, want_k) != 0)
		return dns_say(why, whylen, DNS_MISMATCH, "published k=%s, "
		    "the token holds an %s key", key->k, want_k);
	if (key->h[0] != '\0' && !list_has(key->h, "sha256"))
		return dns_say(why, whylen, DNS_MISMATCH, "h=%s does not "
		    "allow sha256", key->h);
	if (key->p_len != want_p_len || (want_p_len > 0 &&
	    memcmp(key->p, want_p, want_p_len) != 0))
		return dns_say(why, whylen, DNS_MISMATCH, "published p= "
		    "(%zu bytes) is not the token's key (%zu bytes)",
		    key->p_len, want_p_len);
	return dns_say(why, whylen, DNS_MATCH, "published key is the "
	    "token's key%s", list_has(key->t, "y") ? " (t=y: testing)" : "");
}

/* count_lines - how many '\n'-separated records a lookup returned */
static size_t
count_lines(const char *s)
{
	size_t	 n = 1;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* dns_check_key - compare a published key record with the token's key */
enum dns_check
dns_check_key(const char *txt, const char *want_k,
    const unsigned char *want_p, size_t want_p_len, char *why,
    size_t whylen)
{
	struct dns_dkim_key key;
	char	 perr[256];
	enum dns_check rc;

	if (want_k == NULL)
		want_k = "rsa";
	if (txt == NULL)
		return dns_say(why, whylen, DNS_MISSING, "no key record is "
		    "published");
	if (strchr(txt, '\n') != NULL)
		return dns_say(why, whylen, DNS_MISMATCH, "%zu TXT records "
		    "are published; verifiers need exactly one (RFC 6376 "
		    "3.6.2.2)", count_lines(txt));
	if (dns_dkim_key_parse(txt, &key, perr, sizeof perr) < 0)
		return dns_say(why, whylen, DNS_MISMATCH, "record does not "
		    "parse: %s", perr);
	rc = check_parsed(&key, want_k, want_p, want_p_len, why, whylen);
	dns_dkim_key_release(&key);
	return rc;
}

/* dns_check_name - the outcome as a word for reports */
const char *
dns_check_name(enum dns_check c)
{
	switch (c) {
	case DNS_MATCH:
		return "match";
	case DNS_MISMATCH:
		return "mismatch";
	case DNS_MISSING:
		return "missing";
	case DNS_REVOKED:
		return "revoked";
	}
	return "unknown";
}
