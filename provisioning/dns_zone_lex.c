/*
 * dns_zone_lex.c - the tokens of zone-file text and dig output (RFC 1035
 * 5.1) for the parser in dns_zone.c: words, quoted strings and the ends
 * of logical lines, with parentheses, ';' comments and "\X" escapes
 * dealt with here.  Errors go to the parser as "line N: message".
 *
 * Security notes: the input is untrusted and length-counted; every step
 * checks the end, nothing relies on a NUL, and there is no recursion and
 * no allocation.  A quoted string must end on its line, parentheses do
 * not nest, and a '(' left open is an error.  Input quoted back in a
 * message goes through dns_show().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dns_int.h"

/* zone_fail - "line N: message" into the parser's err; returns -1 */
int
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

/* zone_tok_is - is the token the keyword kw (ASCII case-insensitive)? */
int
zone_tok_is(const struct zone_tok *tok, const char *kw)
{
	return tok->kind == TOK_WORD && tok->len == strlen(kw) &&
	    dns_caseeq(tok->s, kw, tok->len);
}

/* zone_tok_show - a token quoted safely in a message */
const char *
zone_tok_show(const struct zone_tok *tok, char *out, size_t outlen)
{
	return dns_show(tok->s, tok->len, out, outlen);
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
 * zone_lex_next - the next token of the current logical line.  A newline
 * inside parentheses is white space; ';' starts a comment to the end of
 * the line (RFC 1035 5.1).
 */
enum tok_kind
zone_lex_next(struct zone_parser *zp, struct zone_tok *tok)
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

/* zone_lex_skip_line - consume the rest of a logical line */
int
zone_lex_skip_line(struct zone_parser *zp)
{
	struct zone_tok tok;

	for (;;) {
		switch (zone_lex_next(zp, &tok)) {
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
