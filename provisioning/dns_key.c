/*
 * dns_key.c - DKIM key records (RFC 6376 3.2 and 3.6.1, RFC 8463): the
 * parser of a record's tag list, and the comparison of a published
 * record with the key the token holds (see
 * include/p11dkim/dns_record.h).
 *
 * Security notes: the record is untrusted text.  At most KEY_TAGS_MAX
 * tags, duplicates refused, each value checked for the bytes RFC 6376
 * allows; short tags go into fixed fields and are refused when too
 * long; p= (at most DNS_TXT_MAX bytes) is checked as base64 before it is
 * decoded into a buffer sized from its length.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "p11dkim/dns_record.h"
#include "dns_int.h"

#define KEY_TAGS_MAX	32		/* tags in one key record */

struct tag_spec {
	const char	*name;
	size_t		 nlen;
	const char	*val;		/* WSP around it already dropped */
	size_t		 vlen;
};

/* is_alpha - ASCII letter, whatever the locale */
static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_alnumpunc - RFC 6376 3.2 ALNUMPUNC, the rest of a tag-name */
static int
is_alnumpunc(int c)
{
	return is_alpha(c) || dns_is_digit(c) || c == '_';
}

/* value_ok - tag-value: VALCHAR (%x21-3A / %x3C-7E) and inner WSP */
static int
value_ok(const char *v, size_t len, size_t *bad)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!dns_is_wsp(c) && (c < 0x21 || c > 0x7e || c == ';')) {
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

	while (dns_is_wsp(*p))
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
	while (p < stop && dns_is_wsp(*p))
		p++;
	if (p == stop || *p != '=')
		return dns_say(err, errlen, -1, "tag '%.*s': expected '=' "
		    "after the tag name", (int)t->nlen, t->name);
	for (p++; p < stop && dns_is_wsp(*p); p++)
		continue;
	for (end = stop; end > p && dns_is_wsp(end[-1]); end--)
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

		if (dns_is_wsp(c))
			continue;
		if (c == '=')
			pad++;
		else if (pad > 0 || !(is_alpha(c) || dns_is_digit(c) ||
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
		while (dns_is_wsp(*p))
			p++;
		for (end = p; *end != '\0' && *end != ':'; end++)
			continue;
		while (end > p && dns_is_wsp(end[-1]))
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
