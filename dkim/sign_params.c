/*
 * sign_params.c - grammar checks on signature parameters (see
 * include/p11dkim/sign_params.h).
 */
#include <string.h>
#include <strings.h>

#include "p11dkim/header_select.h"
#include "p11dkim/sign_params.h"

#define DOMAIN_MAX	253
#define LABEL_MAX	63
#define LOCAL_MAX	64
#define NAMES_MAX	256

/* is_let_dig - RFC 5321 Let-dig */
static int
is_let_dig(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * labels_ok - dot-separated labels of Let-dig and inner hyphens (RFC 5321
 * 4.1.2 sub-domain), each at most 63 octets, at most 253 in all.
 */
static int
labels_ok(const char *s)
{
	size_t	 len = strlen(s), label = 0;

	if (len == 0 || len > DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_let_dig(s[i]) && !(s[i] == '-' && label > 0))
			return 0;
		if (++label > LABEL_MAX)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

/* sign_params_domain - a d= domain (RFC 6376 3.5, RFC 5321 domain) */
int
sign_params_domain(const char *d, struct dkim_err *err)
{
	if (d == NULL || !labels_ok(d) || strchr(d, '.') == NULL)
		return dkim_err_set(err, DKIM_EPARAM, "bad signing domain "
		    "'%.64s' (want a domain name like example.org)",
		    d ? d : "");
	return 0;
}

/* sign_params_selector - an s= selector (RFC 6376 3.1: sub-domains) */
int
sign_params_selector(const char *s, struct dkim_err *err)
{
	if (s == NULL || !labels_ok(s))
		return dkim_err_set(err, DKIM_EPARAM, "bad selector '%.64s' "
		    "(want letters, digits, inner hyphens and dots)",
		    s ? s : "");
	return 0;
}

/* is_atext - RFC 5322 3.2.3 atext, plus '.' for a dot-atom local part */
static int
is_atext(char c)
{
	return is_let_dig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.",
	    c) != NULL);
}

/* within_domain - is sub equal to domain or a subdomain of it? */
static int
within_domain(const char *sub, const char *domain)
{
	size_t	 s = strlen(sub), d = strlen(domain);

	if (s == d)
		return strcasecmp(sub, domain) == 0;
	return s > d && sub[s - d - 1] == '.' &&
	    strcasecmp(sub + s - d, domain) == 0;
}

/*
 * sign_params_identity - check i= and append it as dkim-quoted-printable
 * (RFC 6376 2.11): '=' and ';' in the local part are hex-encoded.
 */
int
sign_params_identity(const char *id, const char *domain, struct buf *out,
    struct dkim_err *err)
{
	const char *at = strrchr(id, '@');
	size_t	 i, local;

	if (at == NULL || (local = (size_t)(at - id)) > LOCAL_MAX)
		return dkim_err_set(err, DKIM_EPARAM, "bad identity '%.64s' "
		    "(want [local-part]@domain)", id);
	for (i = 0; i < local; i++)
		if (!is_atext(id[i]))
			return dkim_err_set(err, DKIM_EPARAM, "bad identity "
			    "'%.64s': local part must be a dot-atom", id);
	if (!labels_ok(at + 1) || !within_domain(at + 1, domain))
		return dkim_err_set(err, DKIM_EPARAM, "identity '%.64s' is "
		    "not within the signing domain %.64s (RFC 6376 3.5)",
		    id, domain);
	for (i = 0; i < local; i++) {
		int rc = id[i] == '=' ?
		    buf_printf(out, "=%02X", (unsigned char)id[i]) :
		    buf_append(out, id + i, 1);

		if (rc < 0)
			return dkim_err_set(err, DKIM_ENOMEM, "out of memory");
	}
	if (buf_append_str(out, at) < 0)
		return dkim_err_set(err, DKIM_ENOMEM, "out of memory");
	return 0;
}

/*
 * name_ok - a field name that may stand in h= (header_select_name_ok:
 * RFC 5322 ftext without ';'), optionally ending in '*'
 */
static int
name_ok(const char *n)
{
	size_t	 len = strlen(n);

	if (len > 0 && n[len - 1] == '*')
		len--;
	return memchr(n, '*', len) == NULL && header_select_name_ok(n, len);
}

/* sign_params_names - a list of field names, "Name" or "Prefix-*" */
int
sign_params_names(const char *const *list, const char *what,
    struct dkim_err *err)
{
	size_t	 n;

	if (list == NULL)
		return 0;
	for (n = 0; list[n] != NULL; n++) {
		if (n >= NAMES_MAX)
			return dkim_err_set(err, DKIM_EPARAM, "%s: more than "
			    "%d names", what, NAMES_MAX);
		if (!name_ok(list[n]))
			return dkim_err_set(err, DKIM_EPARAM, "%s: bad header "
			    "field name '%.64s'", what, list[n]);
	}
	return 0;
}
