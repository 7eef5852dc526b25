/*
 * trail_record.h - one line of the signing trail: what was signed, when,
 * for whom, written by the signer process (daemon/trail.c) and searched
 * by "p11dkim-keys trail" (provisioning/trail_query.c).  Pure: no I/O.
 *
 * A record is one line of space-separated key=value fields:
 *
 *   t=2026-12-03T16:17:18Z inst=mosa front=native client=uid:1000
 *   d=mosamuseum.com s=stxsel1 a=rsa-sha256 bh=<base64> b-sha256=<hex>
 *   msgid=<id without its angle brackets> size=4096
 *
 * b-sha256 is the SHA-256 of the signature's bytes (the decoded b=), so
 * a b= copied from a complaint, folded or not, finds its record.  A
 * value keeps printable ASCII as it is; a space, a '%', any other byte,
 * and a value that is exactly "-" are written %XX; an empty value is
 * "-".  Nothing of the message beyond these fields is ever recorded.
 */
#ifndef P11DKIM_TRAIL_RECORD_H
#define P11DKIM_TRAIL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define TRAIL_INST_MAX		32
#define TRAIL_FRONT_MAX		8
#define TRAIL_CLIENT_MAX	127	/* "uid:N", "host [addr] queue=ID" */
#define TRAIL_DOMAIN_MAX	253
#define TRAIL_SEL_MAX		63
#define TRAIL_ALG_MAX		31
#define TRAIL_BH_MAX		64	/* base64 of a SHA-256: 44 */
#define TRAIL_BHASH_LEN		64	/* hex of a SHA-256 */
#define TRAIL_MSGID_MAX		255
#define TRAIL_SIG_B64_MAX	2048	/* a b= value, whitespace removed */
#define TRAIL_LINE_MAX		2560	/* a formatted record, newline and NUL */
#define TRAIL_SUFFIX		".trail"	/* the file: <inst>.trail */

struct trail_record {
	int64_t	 t;			/* UTC seconds */
	uint64_t size;			/* message bytes */
	char	 inst[TRAIL_INST_MAX + 1];
	char	 front[TRAIL_FRONT_MAX + 1];
	char	 client[TRAIL_CLIENT_MAX + 1];
	char	 d[TRAIL_DOMAIN_MAX + 1];
	char	 s[TRAIL_SEL_MAX + 1];
	char	 a[TRAIL_ALG_MAX + 1];
	char	 bh[TRAIL_BH_MAX + 1];
	char	 bhash[TRAIL_BHASH_LEN + 1];
	char	 msgid[TRAIL_MSGID_MAX + 1];
};

/*
 * trail_format - the record as one line with its newline into out;
 * its length, or -1 when out is too small or a value is not text
 */
int	trail_format(const struct trail_record *, char *out, size_t len);

/*
 * trail_parse - a line (without or with its newline) as a record; 0, or
 * -1 when it is not one (a field missing, too long, or malformed)
 */
int	trail_parse(const char *line, size_t len, struct trail_record *);

/* trail_bhash - the hex SHA-256 of a signature's bytes; 0 or -1 */
int	trail_bhash(const unsigned char *sig, size_t len,
	    char out[TRAIL_BHASH_LEN + 1]);

/*
 * trail_b64_clean - a tag value as found in a header (folded, with
 * spaces, tabs, CR and LF, maybe with its "bh=" or "b=" and a closing
 * ';') as bare base64 into out; 0, or -1 when something else than
 * base64 is left, nothing is, or it does not fit
 */
int	trail_b64_clean(const char *in, char *out, size_t len);

/*
 * trail_bhash_of_b - the b-sha256 of a b= value as found in a header
 * (cleaned as trail_b64_clean does, then decoded); 0 or -1
 */
int	trail_bhash_of_b(const char *in, char out[TRAIL_BHASH_LEN + 1]);

/*
 * trail_msgid_norm - a Message-ID as compared and recorded: without
 * whitespace and control characters, without one pair of angle
 * brackets; cut at TRAIL_MSGID_MAX bytes.  out holds TRAIL_MSGID_MAX + 1.
 */
void	trail_msgid_norm(const char *in, size_t len, char *out);

/*
 * trail_time_parse - a time for --since: "2026-12-03",
 * "2026-12-03T16:17:18Z" or "2026-12-03 16:17:18" (UTC), or "@" and
 * seconds since 1970; 0, or -1 when it is none of those
 */
int	trail_time_parse(const char *, int64_t *out);

/* A search: a record matches when it has everything asked for. */
struct trail_query {
	int64_t	 since;			/* INT64_MIN: any time */
	int	 has_msgid, has_bh, has_b;
	char	 msgid[TRAIL_MSGID_MAX + 1];
	char	 bh[TRAIL_BH_MAX + 1];
	char	 bhash[TRAIL_BHASH_LEN + 1];
};

/* trail_query_init - a search for every record */
void	trail_query_init(struct trail_query *);

/* trail_match - does the record match the search? */
int	trail_match(const struct trail_query *, const struct trail_record *);

#endif
