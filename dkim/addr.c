/*
 * addr.c - the domain of a From address (see include/p11dkim/addr.h).
 *
 * A small scanner over the value that knows quoted strings, escapes and
 * comments (which may nest), so that an '@' or '<' inside a display name
 * or a comment is never taken for part of the address.
 */
#include <string.h>

#include "p11dkim/addr.h"
#include "p11dkim/sign_params.h"

#define ADDR_VALUE_MAX	4096

/*
 * strip - copy value without comments and with folding removed; quoted
 * strings are kept with their quotes.  Returns the length, or -1.
 */
static int
strip(const char *v, size_t len, char *out, size_t outlen)
{
	size_t	 n = 0;
	int	 depth = 0, quoted = 0;

	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c == '\r' || c == '\n')
			continue;
		if (c == '\\' && (quoted || depth) && i + 1 < len) {
			if (!depth && n + 2 < outlen) {
				out[n++] = c;
				out[n++] = v[i + 1];
			}
			i++;
			continue;
		}
		if (!quoted && c == '(') {
			depth++;
			continue;
		}
		if (depth) {
			depth -= c == ')';
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		if (n + 1 >= outlen)
			return -1;
		out[n++] = c;
	}
	if (quoted || depth)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* outside - position of the first c outside quotes at or after from */
static const char *
outside(const char *s, char c)
{
	int	 quoted = 0;

	for (; *s; s++) {
		if (*s == '\\' && quoted && s[1]) {
			s++;
			continue;
		}
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted && *s == c)
			return s;
	}
	return NULL;
}

/* last_at - the last '@' outside quotes in s[0..n) */
static const char *
last_at(const char *s, size_t n)
{
	const char *at = NULL;
	int	 quoted = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && quoted && i + 1 < n) {
			i++;
			continue;
		}
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '@')
			at = s + i;
	}
	return at;
}

/* addr_from_domain - the domain of a From value */
int
addr_from_domain(const char *value, size_t len, char *domain,
    size_t domainlen, const char **why)
{
	char	 buf[ADDR_VALUE_MAX];
	const char *spec, *end, *at, *lt, *gt;
	size_t	 n;

	if (strip(value, len, buf, sizeof(buf)) < 0)
		return *why = "From is not a well-formed address", -1;
	if (outside(buf, ',') != NULL)
		return *why = "From has more than one address", -1;
	if ((lt = outside(buf, '<')) != NULL) {
		if ((gt = strchr(lt, '>')) == NULL)
			return *why = "From has '<' without '>'", -1;
		spec = lt + 1;
		end = gt;
	} else {
		spec = buf;
		end = buf + strlen(buf);
	}
	if ((at = last_at(spec, (size_t)(end - spec))) == NULL)
		return *why = "From has no address with a domain", -1;
	for (at++; at < end && (*at == ' ' || *at == '\t'); at++)
		;
	while (end > at && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((n = (size_t)(end - at)) == 0 || n >= domainlen ||
	    n > ADDR_DOMAIN_MAX)
		return *why = "From has no usable domain", -1;
	for (size_t i = 0; i < n; i++)
		domain[i] = at[i] >= 'A' && at[i] <= 'Z' ?
		    (char)(at[i] - 'A' + 'a') : at[i];
	domain[n] = '\0';
	if (sign_params_domain(domain, NULL) < 0)
		return *why = "From's domain is not a domain name", -1;
	return 0;
}
