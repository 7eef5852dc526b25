/*
 * dns_zone.c - the offline parser for zone files and dig output, and
 * lookups by name in what it kept (see include/p11dkim/dns_record.h).
 * The tokens come from dns_zone_lex.c; this is the grammar: directives,
 * owner names, TTL and class, and the TXT and CNAME records it keeps.
 *
 * Security notes: zone text and dig output are untrusted.  The parser
 * works on a length-counted input of at most 1 MiB with no recursion,
 * refuses $INCLUDE, and bounds the records it keeps, each
 * character-string (255 bytes) and each TXT (64 KiB).  Names are kept
 * as text (escapes not decoded) and never longer than DNS_NAME_TEXT_MAX.
 * A TXT holding a NUL byte is refused rather than silently cut short.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/buf.h"
#include "p11dkim/dns_record.h"
#include "dns_int.h"

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
	if (!dns_is_digit(u[1])) {
		*i += 2;
		return u[1];
	}
	if (*i + 3 >= len || !dns_is_digit(u[2]) || !dns_is_digit(u[3]))
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
		    "$ORIGIN", zone_tok_show(tok, tmp, sizeof tmp));
	else
		n = snprintf(out, outlen, "%.*s%s%s", len, tok->s,
		    zp->origin[0] != '\0' ? "." : "", zp->origin);
	if (n < 0 || (size_t)n >= outlen)
		return zone_fail(zp, tok->line, "name '%s' longer than %d "
		    "characters", zone_tok_show(tok, tmp, sizeof tmp),
		    DNS_NAME_TEXT_MAX);
	dns_lower_ascii(out);
	return 0;
}

/* is_ttl - a TTL: digits, or BIND units such as 1h30m */
static int
is_ttl(const struct zone_tok *tok)
{
	if (tok->kind != TOK_WORD || tok->len == 0 || tok->len > 20 ||
	    !dns_is_digit(tok->s[0]))
		return 0;
	for (size_t i = 0; i < tok->len; i++)
		if (!dns_is_digit(tok->s[i]) &&
		    strchr("smhdwSMHDW", tok->s[i]) == NULL)
			return 0;
	return 1;
}

/* is_class - a class mnemonic (RFC 1035 3.2.4, RFC 3597 CLASSnn) */
static int
is_class(const struct zone_tok *tok, int *in)
{
	if (zone_tok_is(tok, "IN") || zone_tok_is(tok, "CLASS1")) {
		*in = 1;
		return 1;
	}
	if (zone_tok_is(tok, "CH") || zone_tok_is(tok, "HS") ||
	    zone_tok_is(tok, "CS") || zone_tok_is(tok, "NONE") ||
	    zone_tok_is(tok, "ANY") ||
	    (tok->kind == TOK_WORD && tok->len > 5 &&
	    dns_caseeq(tok->s, "CLASS", 5) && dns_is_digit(tok->s[5]))) {
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
		if (zone_lex_next(zp, &tok) == TOK_ERR)
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

	if (zone_lex_next(zp, &tok) == TOK_ERR)
		return -1;
	if (tok.kind == TOK_EOL || tok.kind == TOK_EOF)
		return zone_fail(zp, line, "CNAME without a target");
	if (tok_generic(zp, &tok) < 0 ||
	    zone_name(zp, &tok, target, sizeof target) < 0)
		return -1;
	if (zone_lex_next(zp, &tok) == TOK_ERR)
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
		(void)zone_lex_next(zp, tok);
	}
	if (++zp->records > DNS_ZONE_MAX_RECORDS)
		return zone_fail(zp, line, "more than %d records",
		    DNS_ZONE_MAX_RECORDS);
	if (is_ttl(tok))
		return zone_fail(zp, tok->line, "unexpected number '%s' "
		    "where the type should be", zone_tok_show(tok, tmp,
		    sizeof tmp));
	if (in && zone_tok_is(tok, "TXT"))
		return zone_txt(zp, line);
	if (in && zone_tok_is(tok, "CNAME"))
		return zone_cname(zp, line);
	return zone_lex_skip_line(zp);
}

/* zone_directive - $ORIGIN and $TTL (RFC 1035 5.1); $INCLUDE refused */
static int
zone_directive(struct zone_parser *zp, const struct zone_tok *dir)
{
	char	 name[DNS_NAME_TEXT_MAX + 1], tmp[SHOW_MAX + 4];
	struct zone_tok arg;

	if (!zone_tok_is(dir, "$ORIGIN") && !zone_tok_is(dir, "$TTL"))
		return zone_fail(zp, dir->line, "%s '%s' is not supported",
		    zone_tok_is(dir, "$INCLUDE") ? "directive" :
		    "unknown directive",
		    zone_tok_show(dir, tmp, sizeof tmp));
	if (zone_lex_next(zp, &arg) == TOK_ERR)
		return -1;
	if (zone_tok_is(dir, "$TTL") && !is_ttl(&arg))
		return zone_fail(zp, dir->line, "$TTL without a valid TTL");
	if (zone_tok_is(dir, "$ORIGIN")) {
		if (arg.kind != TOK_WORD)
			return zone_fail(zp, dir->line, "$ORIGIN without a "
			    "name");
		if (zone_name(zp, &arg, name, sizeof name) < 0)
			return -1;
		memcpy(zp->origin, name, strlen(name) + 1);
		zp->has_origin = 1;
	}
	if (zone_lex_next(zp, &arg) == TOK_ERR)
		return -1;
	if (arg.kind != TOK_EOL && arg.kind != TOK_EOF)
		return zone_fail(zp, arg.line, "extra text after %s",
		    zone_tok_show(dir, tmp, sizeof tmp));
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

	switch (zone_lex_next(zp, &tok)) {
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
		(void)zone_lex_next(zp, &tok);
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

		if (rr->type == type && dns_name_equal(rr->owner, name) &&
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
