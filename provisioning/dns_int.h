/*
 * dns_int.h - the inside of the DNS record modules, shared by them only:
 * dns_text.c (messages, ASCII, names), dns_format.c (zone-file output),
 * dns_zone_lex.c and dns_zone.c (zone-file parser), dns_lookup.c (live
 * lookups and answers), dns_key.c (DKIM key records).  Their API is
 * include/p11dkim/dns_record.h; nothing outside provisioning/dns_*.c
 * includes this file.
 *
 * Security notes: everything here handles untrusted text.  The ASCII
 * helpers ignore the locale; dns_show() is the one way input is quoted
 * back in a message.
 */
#ifndef P11DKIM_DNS_INT_H
#define P11DKIM_DNS_INT_H

#include <stddef.h>

#include "p11dkim/dns_record.h"

#define TXT_STRING_MAX	255		/* RFC 1035 3.3: <character-string> */
#define SHOW_MAX	48		/* bytes of input quoted in a message */

/* --- dns_text.c ---------------------------------------------------- */

/* dns_say - write a message to err (if any) and return rc */
int	dns_say(char *err, size_t errlen, int rc, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/*
 * dns_show - at most SHOW_MAX bytes of untrusted text, printable ASCII
 * only, "..." when cut; out needs SHOW_MAX + 4 bytes, else "" is given.
 */
const char *dns_show(const char *s, size_t len, char *out, size_t outlen);

/* dns_is_wsp - white space inside records and tag lists (WSP and FWS) */
int	dns_is_wsp(int c);

/* dns_is_digit - ASCII digit */
int	dns_is_digit(int c);

/* dns_caseeq - n bytes equal but for ASCII case (RFC 4343) */
int	dns_caseeq(const char *a, const char *b, size_t n);

/* dns_lower_ascii - lowercase a name in place */
void	dns_lower_ascii(char *s);

/* dns_name_equal - same domain name, case-insensitive, trailing dots aside */
int	dns_name_equal(const char *a, const char *b);

/* --- dns_zone_lex.c: the tokens dns_zone.c parses ------------------ */

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

/* The state of one dns_zone_parse(): the lexer's and the grammar's. */
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

/* zone_fail - "line N: message" into the parser's err; returns -1 */
int	zone_fail(struct zone_parser *, size_t line, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* zone_tok_is - is the token the keyword kw (ASCII case-insensitive)? */
int	zone_tok_is(const struct zone_tok *, const char *kw);

/* zone_tok_show - a token quoted safely in a message (see dns_show) */
const char *zone_tok_show(const struct zone_tok *, char *out,
	    size_t outlen);

/*
 * zone_lex_next - the next token of the current logical line; TOK_ERR
 * with the message in the parser's err.
 */
enum tok_kind zone_lex_next(struct zone_parser *, struct zone_tok *);

/* zone_lex_skip_line - consume the rest of a logical line; 0 or -1 */
int	zone_lex_skip_line(struct zone_parser *);

#endif
