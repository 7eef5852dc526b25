/*
 * dns_text.c - text helpers of the DNS record modules (see dns_int.h):
 * messages into a caller's buffer, untrusted text quoted for a message,
 * ASCII classes and case that ignore the locale, and domain names
 * compared the way DNS compares them.
 *
 * Security notes: dns_show() copies at most SHOW_MAX bytes and replaces
 * every byte outside printable ASCII, so a hostile zone or answer cannot
 * write terminal escapes into a log through an error message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dns_int.h"

/* dns_say - write a message to err (if any) and return rc */
int
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

/* dns_is_wsp - white space inside records and tag lists (WSP and FWS) */
int
dns_is_wsp(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* dns_is_digit - ASCII digit */
int
dns_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* lower - ASCII lowercase of one byte, whatever the locale */
static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* dns_caseeq - n bytes equal but for ASCII case (RFC 4343) */
int
dns_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* dns_lower_ascii - lowercase a name in place (DNS compares ASCII only) */
void
dns_lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)lower((unsigned char)*s);
}

/* dns_show - copy at most SHOW_MAX bytes of untrusted text, printable only */
const char *
dns_show(const char *s, size_t len, char *out, size_t outlen)
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

/* dns_name_equal - same domain name, case-insensitive, trailing dots aside */
int
dns_name_equal(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && dns_caseeq(a, b, la);
}
