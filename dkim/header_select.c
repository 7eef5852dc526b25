/*
 * header_select.c - choose the header fields a signature covers,
 * RFC 6376 5.4 (see include/p11dkim/header_select.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p11dkim/header_select.h"

#define HLIST_MAX	8192	/* h= text; ~1000 field names */

/* RFC 6376 5.4.1's recommended fields, and the MIME fields. */
static const char *const default_sign[] = {
	"from", "reply-to", "subject", "date", "to", "cc",
	"resent-*", "in-reply-to", "references", "list-*",
	"message-id", "mime-version", "content-type",
	"content-transfer-encoding", NULL
};

/* Fields that a second instance of would change what a reader sees. */
static const char *const default_oversign[] = {
	"from", "to", "cc", "subject", "date", "reply-to", "message-id", NULL
};

/* header_select_default_sign - RFC 6376 5.4.1's list, plus MIME fields */
const char *const *
header_select_default_sign(void)
{
	return default_sign;
}

/* header_select_default_oversign - From, To, Cc, Subject, Date, ... */
const char *const *
header_select_default_oversign(void)
{
	return default_oversign;
}

/*
 * header_select_name_ok - may name[0..len) stand in h=?  RFC 5322 3.6.8
 * allows any printable character but ':' in a field name; h= is a tag
 * value (RFC 6376 3.2), whose characters (VALCHAR) exclude ';' as well,
 * and whose entries ':' separates.  A field named otherwise cannot be
 * signed: listed as it is, it would end h= early and change the tags.
 */
int
header_select_name_ok(const char *name, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == ':' ||
		    name[i] == ';')
			return 0;
	return 1;
}

/* name_matches - does pattern ("list-*" or "from") match name[0..len)? */
static int
name_matches(const char *pattern, const char *name, size_t len)
{
	size_t	 plen = strlen(pattern);

	if (plen > 0 && pattern[plen - 1] == '*')
		return len >= plen - 1 &&
		    strncasecmp(pattern, name, plen - 1) == 0;
	return plen == len && strncasecmp(pattern, name, len) == 0;
}

/* listed - is name[0..len) matched by an entry of list? */
static int
listed(const char *const *list, const char *name, size_t len)
{
	for (; *list != NULL; list++)
		if (name_matches(*list, name, len))
			return 1;
	return 0;
}

/* listed_exactly - is name[0..len) an entry of list without a wildcard? */
static int
listed_exactly(const char *const *list, const char *name, size_t len)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == len && strncasecmp(*list, name, len) == 0)
			return 1;
	return 0;
}

/* field_name - the name of field i and its length */
static const char *
field_name(const struct header_section *hs, size_t i, size_t *len)
{
	*len = hs->fields[i].name_len;
	return hs->text.data + hs->fields[i].off;
}

/* in_hlist - is name already in the h= list being built? */
static int
in_hlist(const struct header_selection *sel, const char *name, size_t len)
{
	const char *p = buf_str(&sel->hlist), *colon;

	for (; *p != '\0'; p = *colon ? colon + 1 : colon) {
		if ((colon = strchr(p, ':')) == NULL)
			colon = p + strlen(p);
		if ((size_t)(colon - p) == len && strncasecmp(p, name, len) == 0)
			return 1;
	}
	return 0;
}

/* add_entry - one h= entry for name, hashing field (or ..._NONE) */
static int
add_entry(struct header_selection *sel, const char *name, size_t len,
    size_t field, size_t max, struct dkim_err *err)
{
	size_t	 start = sel->hlist.len;

	if (sel->n >= max)
		return dkim_err_set(err, DKIM_ELIMIT, "too many h= entries");
	if ((start > 0 && buf_append(&sel->hlist, ":", 1) < 0) ||
	    buf_append(&sel->hlist, name, len) < 0)
		return errno == ENOMEM ? dkim_err_set(err, DKIM_ENOMEM,
		    "out of memory for the h= list") : dkim_err_set(err,
		    DKIM_ELIMIT, "h= list longer than %d bytes", HLIST_MAX);
	for (size_t i = sel->hlist.len - len; i < sel->hlist.len; i++) {
		char c = sel->hlist.data[i];

		if (c >= 'A' && c <= 'Z')
			sel->hlist.data[i] = (char)(c - 'A' + 'a');
	}
	sel->fields[sel->n++] = field;
	return 0;
}

/*
 * add_name - h= entries for one name: its instances bottom-up (5.4.2),
 * then one more when the name is oversigned.  A name that cannot stand
 * in h= gets none: its fields are left unsigned.
 */
static int
add_name(const struct header_section *hs, const char *const *oversign,
    const char *name, size_t len, struct header_selection *sel, size_t max,
    struct dkim_err *err)
{
	size_t	 i, flen;
	const char *fname;

	if (!header_select_name_ok(name, len) || in_hlist(sel, name, len))
		return 0;
	for (i = hs->nfields; i-- > 0;) {
		fname = field_name(hs, i, &flen);
		if (flen == len && strncasecmp(fname, name, len) == 0 &&
		    add_entry(sel, name, len, i, max, err) < 0)
			return -1;
	}
	if (listed(oversign, name, len) &&
	    add_entry(sel, name, len, HEADER_SELECT_NONE, max, err) < 0)
		return -1;
	return 0;
}

/*
 * add_pattern - entries for one sign-list entry.  A wildcard takes the
 * matching names in the order they first appear in the message, except
 * those the list names exactly (they get their own place).
 */
static int
add_pattern(const struct header_section *hs, const char *const *sign,
    const char *const *oversign, const char *pattern,
    struct header_selection *sel, size_t max, struct dkim_err *err)
{
	size_t	 i, len, plen = strlen(pattern);
	const char *name;

	if (plen == 0 || pattern[plen - 1] != '*')
		return add_name(hs, oversign, pattern, plen, sel, max, err);
	for (i = 0; i < hs->nfields; i++) {
		name = field_name(hs, i, &len);
		if (!name_matches(pattern, name, len) ||
		    listed_exactly(sign, name, len))
			continue;
		if (add_name(hs, oversign, name, len, sel, max, err) < 0)
			return -1;
	}
	return 0;
}

/* header_select - choose the fields of hs for a signature */
int
header_select(const struct header_section *hs, const char *const *sign,
    const char *const *oversign, struct header_selection *sel,
    struct dkim_err *err)
{
	size_t	 max, nsign = 0;

	if (sign == NULL)
		sign = default_sign;
	if (oversign == NULL)
		oversign = default_oversign;
	while (sign[nsign] != NULL)
		nsign++;
	memset(sel, 0, sizeof(*sel));
	buf_init(&sel->hlist, HLIST_MAX);
	/* Each field once, an oversigned extra per name, absent names. */
	max = 2 * hs->nfields + nsign + 1;
	if ((sel->fields = calloc(max, sizeof(*sel->fields))) == NULL)
		return dkim_err_set(err, DKIM_ENOMEM, "out of memory");
	/* RFC 6376 5.4: From MUST be signed, whatever the list says. */
	if (add_name(hs, oversign, "from", 4, sel, max, err) < 0)
		goto fail;
	for (size_t i = 0; i < nsign; i++)
		if (add_pattern(hs, sign, oversign, sign[i], sel, max, err) < 0)
			goto fail;
	return 0;
fail:
	header_selection_release(sel);
	return -1;
}

/* header_selection_release - free a selection */
void
header_selection_release(struct header_selection *sel)
{
	buf_release(&sel->hlist);
	free(sel->fields);
	sel->fields = NULL;
	sel->n = 0;
}
