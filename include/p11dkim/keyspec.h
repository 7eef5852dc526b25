/*
 * keyspec.h - what the signer needs to know of each key of a keytab, and
 * how the parent hands a whole table of them to a running signer.
 *
 * A key is named by its place in a table (the key number a front asks
 * for).  A spec says where the key lives (token label and serial, the
 * PIN source, the key's CKA_LABEL) and what it signs (the algorithm, the
 * institution's code for the log).  Two specs that are equal name the
 * same key: a signer that receives a new table keeps what it has for the
 * specs it already knows, logged in, and opens only the new ones.
 *
 * A spec also carries its institution's signing quota and the key's
 * role in a message (its only signature, or the first or second of a
 * dual-signed one): the signer keeps one quota per institution code,
 * which a new table updates, so neither is part of what names a key.
 *
 * On the wire the table is an array of fixed-size records in a memfd the
 * parent passes ('K' on the control socket); the signer checks every
 * record (magic number, terminated fields, a known algorithm) and refuses
 * the whole table when one is wrong.
 */
#ifndef P11DKIM_KEYSPEC_H
#define P11DKIM_KEYSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"

#define KEYSPEC_MAGIC		0x70313173u	/* "p11s" */
#define KEYSPEC_LABEL_MAX	32		/* CK_TOKEN_INFO.label */
#define KEYSPEC_SERIAL_MAX	16
#define KEYSPEC_KEY_MAX		127
#define KEYSPEC_MAX		(1U << 20)	/* keys in one table */

#define KEYSPEC_OPTIONAL	0x1	/* strict-start may start without it */
#define KEYSPEC_FIRST		0x2	/* the first key of a dual-signed message */
#define KEYSPEC_SECOND		0x4	/* the second (the dual Ed25519 key) */
#define KEYSPEC_ROLES		(KEYSPEC_FIRST | KEYSPEC_SECOND)

struct keyspec {
	uint32_t magic;
	uint32_t alg;			/* enum dkim_alg */
	uint32_t flags;
	struct quota_limits quota;	/* the institution's; burst set */
	char	 code[CONF_CODE_MAX + 1];
	char	 token_label[KEYSPEC_LABEL_MAX + 1];
	char	 token_serial[KEYSPEC_SERIAL_MAX + 1];	/* "": any */
	char	 pin[CONF_PIN_SPEC_MAX + 1];
	char	 key_label[KEYSPEC_KEY_MAX + 1];
};

/*
 * keyspec_build - the specs of a keytab, in its order (*out: an array of
 * t->n, the caller frees); -1 and why when a value does not fit
 */
int	keyspec_build(const struct keytab *, struct keyspec **out, char *err,
	    size_t errlen);

/* keyspec_same_key - do two specs name the same key on the same token? */
int	keyspec_same_key(const struct keyspec *, const struct keyspec *);

/* keyspec_same_token - do two specs name the same token and PIN? */
int	keyspec_same_token(const struct keyspec *, const struct keyspec *);

/*
 * keyspec_request_check - may key number key (its spec, or NULL when the
 * table has no such number) sign with algorithm number alg, as a front
 * asks the signer?  0, or -1 with why (no such key, no such algorithm,
 * not this key's)
 */
int	keyspec_request_check(const struct keyspec *, uint32_t key,
	    uint32_t alg, char *why, size_t len);

/* keyspec_check - one record received: 0, or -1 and why */
int	keyspec_check(const struct keyspec *, char *err, size_t errlen);

/*
 * keyspec_to_fd - n specs in a new sealed memfd, read from its start;
 * the descriptor, or -1 (errno)
 */
int	keyspec_to_fd(const struct keyspec *, size_t n);

/*
 * keyspec_from_fd - every spec of a memfd from keyspec_to_fd, checked
 * (*out: an array of *n, the caller frees); -1 and why when any is wrong
 */
int	keyspec_from_fd(int fd, struct keyspec **out, size_t *n, char *err,
	    size_t errlen);

#endif
