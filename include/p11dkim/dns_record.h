/*
 * dns_record.h - DNS records of the key ceremony: zone-file text for the
 * DKIM key records and the delegating CNAMEs, an offline parser for zone
 * files and dig output, live lookups, and the check that what DNS
 * publishes is the key the token holds.
 *
 * Everything here reads text that an operator pasted or a resolver sent,
 * so every parser is bounded: zone text of at most DNS_ZONE_MAX_TEXT
 * bytes and DNS_ZONE_MAX_RECORDS records, TXT data of at most
 * DNS_TXT_MAX bytes, and an error message that names the line.  Nothing
 * here exits; functions return and say why in a caller's buffer.
 *
 * Ownership: a dns_zone owns its records until dns_zone_release(); a
 * dns_dkim_key owns p until dns_dkim_key_release().  Both release
 * functions accept a zero-filled or already released object.
 */
#ifndef P11DKIM_DNS_RECORD_H
#define P11DKIM_DNS_RECORD_H

#include <stddef.h>

#include "p11dkim/buf.h"

#define DNS_ZONE_MAX_TEXT	(1024 * 1024)	/* bytes of zone text */
#define DNS_ZONE_MAX_RECORDS	10000		/* records of any type */
#define DNS_TXT_MAX		(64 * 1024)	/* bytes of one TXT's data */
#define DNS_NAME_TEXT_MAX	1024		/* a name as text, escapes kept */

/*
 * dns_txt_format - append one zone-file TXT record for text at owner:
 * "owner. IN TXT ( "..." "..." )" and a newline.  The owner is made
 * absolute; the text is cut into character-strings of at most 255 bytes
 * (RFC 1035 3.3.14), a DKIM key record first at its p= tag so that the
 * tag list stands on a line of its own.  '"' and '\' are escaped, other
 * bytes outside printable ASCII written as \DDD.  Returns 0, or -1 with
 * errno E2BIG/ENOMEM (out is left as it was) or EINVAL (owner is not a
 * plain domain name).
 */
int	dns_txt_format(const char *owner, const char *text, struct buf *out);

/* dns_cname_format - append "owner. IN CNAME target." and a newline */
int	dns_cname_format(const char *owner, const char *target,
	    struct buf *out);

enum dns_rr_type {
	DNS_RR_CNAME = 5,
	DNS_RR_TXT = 16
};

struct dns_rr {
	char		*owner;	/* lowercase, absolute, no trailing dot */
	enum dns_rr_type type;
	char		*data;	/* TXT: its strings concatenated; CNAME: the
				 * target, lowercase, no trailing dot */
	size_t		 len;	/* bytes in data, without the NUL */
	size_t		 line;	/* line of the text where the record began */
};

struct dns_zone {
	struct dns_rr	*rr;	/* the TXT and CNAME records, in order */
	size_t		 n;
	size_t		 cap;
};

/*
 * dns_zone_parse - parse len bytes of zone-file text (RFC 1035 5.1:
 * $ORIGIN, $TTL, '@', relative names, blank owners, parentheses, ';'
 * comments, TTL and class in either order, quoted strings with \X and
 * \DDD) or dig output (the same syntax; its ';;' lines are comments).
 * TXT and CNAME records of class IN are kept; other types and classes
 * are skipped, but count towards DNS_ZONE_MAX_RECORDS.  Names are kept
 * as written (escapes such as \. not decoded), lowercased.  Refused with
 * an error: $INCLUDE and unknown directives, RFC 3597 "\#" rdata in a
 * TXT or CNAME, a relative name or '@' before any $ORIGIN, a string over
 * 255 bytes, a NUL byte (also as \000).  The zone is initialised here;
 * on error (-1) it holds nothing and err says "line N: ...".
 */
int	dns_zone_parse(struct dns_zone *, const char *text, size_t len,
	    char *err, size_t errlen);

/*
 * dns_zone_txt - the index-th TXT record at name (case-insensitive, a
 * trailing dot ignored), NULL when there is none.  Points into the zone.
 */
const char *dns_zone_txt(const struct dns_zone *, const char *name,
	    size_t index);

/* dns_zone_cname - the CNAME target at name, NULL when there is none */
const char *dns_zone_cname(const struct dns_zone *, const char *name);

/* dns_zone_release - free the records; the zone is empty */
void	dns_zone_release(struct dns_zone *);

/*
 * dns_lookup_set_resolver - from now on, ask only the resolver at
 * "ADDR[:PORT]" (IPv4, port 53 by default) instead of those of
 * /etc/resolv.conf.  0, or -1 with err set.  Call it before lookups
 * start; lookups may then run in several threads at once (each has its
 * own resolver state).
 */
int	dns_lookup_set_resolver(const char *spec, char *err, size_t errlen);

/*
 * dns_lookup_txt - ask the system resolver (libresolv, /etc/resolv.conf)
 * for the TXT records at name and append their data to out: the strings
 * of one record concatenated, records separated by '\n'.  Returns 1 when
 * found, 0 when the name does not exist or has no TXT (NXDOMAIN, NODATA;
 * names under .invalid are answered so without a query, RFC 6761 6.4),
 * -1 when the lookup failed (SERVFAIL, REFUSED, timeout, no resolver
 * reachable, a malformed answer, a record with a NUL byte, out too
 * small); err says which.  On 0 and -1 out is left as it was.  The
 * resolver is trusted to follow CNAMEs: every TXT of class IN in the
 * answer section counts.
 */
int	dns_lookup_txt(const char *name, struct buf *out, char *err,
	    size_t errlen);

/*
 * dns_lookup_cname - the same for the CNAME owned by name; out gets the
 * target, lowercase, without the trailing dot.
 */
int	dns_lookup_cname(const char *name, struct buf *out, char *err,
	    size_t errlen);

/*
 * dns_answer_txt, dns_answer_cname - read a DNS answer message (RFC 1035
 * 4.1) for name as the two lookups above do, with the same results and
 * messages: rcode NXDOMAIN is 0, another non-zero rcode -1.  They are
 * the lookups' parsers, public for tests and fuzzing.
 */
int	dns_answer_txt(const unsigned char *msg, size_t len, const char *name,
	    struct buf *out, char *err, size_t errlen);
int	dns_answer_cname(const unsigned char *msg, size_t len,
	    const char *name, struct buf *out, char *err, size_t errlen);

/* A DKIM key record, RFC 6376 3.6.1 and RFC 8463 */
struct dns_dkim_key {
	int		 version_ok;	/* 1: began with v=DKIM1; 0: no v= */
	char		 k[16];		/* key type: "rsa" (default), "ed25519" */
	unsigned char	*p;		/* decoded p=, NULL when revoked */
	size_t		 p_len;
	int		 revoked;	/* p= present and empty */
	char		 h[64];		/* h= as published, "" when absent */
	char		 t[64];		/* t= as published, "" when absent */
};

/*
 * dns_dkim_key_parse - parse a key record's tag list (RFC 6376 3.2):
 * whitespace around tags and values ignored, duplicate tags refused,
 * v= if present must be first and DKIM1, p= required (empty: revoked)
 * and base64 (whitespace inside ignored), unknown tags ignored.  Tag
 * names are case-sensitive.  Returns 0, or -1 with err set and key
 * holding nothing.  The key is initialised here.
 */
int	dns_dkim_key_parse(const char *txt, struct dns_dkim_key *,
	    char *err, size_t errlen);

/* dns_dkim_key_release - free p; the key is empty */
void	dns_dkim_key_release(struct dns_dkim_key *);

enum dns_check {
	DNS_MATCH,
	DNS_MISMATCH,
	DNS_MISSING,
	DNS_REVOKED
};

/*
 * dns_check_key - compare a published key record (NULL: none published)
 * with the key the token holds: want_k "rsa" with want_p the DER
 * SubjectPublicKeyInfo, or "ed25519" with want_p the raw 32 bytes
 * (want_k NULL: "rsa").  An empty p= is DNS_REVOKED whatever the rest
 * says.  A record that does not parse, names another k=, has an h= list
 * without sha256, holds other key bytes, or comes as several records
 * ('\n'-separated, as from dns_lookup_txt) is DNS_MISMATCH.  why (may
 * be NULL) says what was found.
 */
enum dns_check dns_check_key(const char *txt_or_null, const char *want_k,
	    const unsigned char *want_p, size_t want_p_len, char *why,
	    size_t whylen);

/* dns_check_name - "match", "mismatch", "missing" or "revoked" */
const char *dns_check_name(enum dns_check);

#endif
