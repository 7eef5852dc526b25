/*
 * dns_lookup.c - live lookups of TXT and CNAME records through the
 * system resolver (libresolv, /etc/resolv.conf) or one named resolver
 * (dns_lookup_set_resolver: an address and port, e.g. a local
 * authoritative server), and the parsers of the answers they bring (see
 * include/p11dkim/dns_record.h).
 *
 * Security notes: answers are untrusted.  A message is read with
 * ns_initparse() and ns_parserr() within ANSWER_MAX bytes; the
 * character-strings of a TXT are checked against its rdata length, a
 * TXT holding a NUL byte is refused, and what is kept is bounded by the
 * caller's buf.  Names under .invalid are answered without a query
 * (RFC 6761 6.4).
 */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/nameser.h>

#include <arpa/inet.h>
#include <errno.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/buf.h"
#include "p11dkim/dns_record.h"
#include "dns_int.h"

#define ANSWER_MAX	65536		/* a DNS message over TCP */

/* The resolver every lookup asks; port 0: the system's (resolv.conf). */
static struct sockaddr_in resolver;

/* dns_lookup_set_resolver - ask only ADDR[:PORT] (IPv4) from now on */
int
dns_lookup_set_resolver(const char *spec, char *err, size_t errlen)
{
	char	 addr[INET_ADDRSTRLEN], *end;
	const char *colon = strchr(spec, ':');
	size_t	 alen = colon ? (size_t)(colon - spec) : strlen(spec);
	unsigned long port = 53;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port == 0 ||
		    port > 65535)
			return dns_say(err, errlen, -1, "resolver '%.64s': the "
			    "port must be 1 to 65535", spec);
	}
	if (alen >= sizeof(addr))
		return dns_say(err, errlen, -1, "resolver '%.64s': not an IPv4 "
		    "address[:port]", spec);
	memcpy(addr, spec, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return dns_say(err, errlen, -1, "resolver '%.64s': not an IPv4 "
		    "address[:port]", spec);
	sin.sin_port = htons((unsigned short)port);
	resolver = sin;
	return 0;
}

/* under_invalid - RFC 6761 6.4: names under .invalid never exist */
static int
under_invalid(const char *name)
{
	size_t	 len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	return len >= 7 && dns_caseeq(name + len - 7, "invalid", 7) &&
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
	if (resolver.sin_port != 0) {
		res.nscount = 1;
		res.nsaddr_list[0] = resolver;
	}
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
		    !dns_name_equal(ns_rr_name(rr), name))
			continue;
		if (ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg),
		    ns_rr_rdata(rr), target, sizeof target) < 0)
			return dns_say(err, errlen, -1, "%.253s: malformed "
			    "CNAME target in the DNS answer", name);
		dns_lower_ascii(target);
		if (buf_append_str(out, target) < 0)
			return dns_say(err, errlen, -1, "%.253s: CNAME target "
			    "longer than %zu bytes", name, out->max);
		return 1;
	}
	return dns_say(err, errlen, 0, "%.253s: no CNAME record (NODATA)",
	    name);
}

/*
 * answer_read - open an answer message and read its answer section with
 * read_section; out keeps what it held unless the result is 1.
 */
static int
answer_read(const unsigned char *ans, size_t anslen, const char *name,
    int (*read_section)(ns_msg *, const char *, struct buf *, char *,
    size_t), struct buf *out, char *err, size_t errlen)
{
	size_t	 start = out->len;
	ns_msg	 msg;
	int	 rc;

	rc = answer_open(ans, anslen, name, &msg, err, errlen);
	if (rc == 1)
		rc = read_section(&msg, name, out, err, errlen);
	if (rc != 1)
		buf_truncate(out, start);
	return rc;
}

/* dns_answer_txt - the TXT records of a DNS answer message */
int
dns_answer_txt(const unsigned char *ans, size_t anslen, const char *name,
    struct buf *out, char *err, size_t errlen)
{
	return answer_read(ans, anslen, name, answer_txt, out, err, errlen);
}

/* dns_answer_cname - the CNAME target in a DNS answer message */
int
dns_answer_cname(const unsigned char *ans, size_t anslen, const char *name,
    struct buf *out, char *err, size_t errlen)
{
	return answer_read(ans, anslen, name, answer_cname, out, err,
	    errlen);
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
