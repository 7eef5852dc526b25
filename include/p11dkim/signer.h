/*
 * signer.h - the one question a front may ask the signer: "sign this
 * digest with key N".
 *
 * Two implementations, same interface, so tests and production run the
 * same code above it: signer_local (in this process, through the token
 * layer: the signer process itself, and unit tests) and signer_ipc (over
 * the socketpair to the signer process, from a front).  A front never
 * sees a PIN, a session or a key handle: only key numbers from the keytab.
 */
#ifndef P11DKIM_SIGNER_H
#define P11DKIM_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "p11dkim/dkim_alg.h"
#include "p11dkim/trail_record.h"

#define SIGNER_REASON_MAX	192

enum signer_status {
	SIGNER_OK = 0,
	SIGNER_TEMP = 1,	/* retry later: token down, signer busy */
	SIGNER_PERM = 2,	/* will not work: no such key, wrong type */
	SIGNER_LIMIT = 3,	/* retry later: the institution's quota is spent */
	SIGNER_TRAIL = 4	/* retry later: the signing trail's record was */
				/* not written, the signature thrown away */
};

struct signer_reply {
	enum signer_status status;
	size_t	 len;
	unsigned char sig[DKIM_SIG_MAX];
	char	 reason[SIGNER_REASON_MAX];
};

struct signer;

/*
 * What a front says of a signature, for the signing trail (a front of 0:
 * nothing said).  The strings are NUL-terminated in their fields, of
 * printable ASCII; signer_note_check() says whether a note received is.
 */
#define SIGNER_FRONT_NATIVE	'n'
#define SIGNER_FRONT_MILTER	'm'

struct signer_note {
	uint64_t size;				/* message bytes */
	uint8_t	 front;				/* SIGNER_FRONT_* or 0 */
	uint8_t	 pad[7];
	unsigned char bh[DKIM_DIGEST_LEN];	/* the body hash */
	char	 d[TRAIL_DOMAIN_MAX + 1];
	char	 s[TRAIL_SEL_MAX + 1];
	char	 msgid[TRAIL_MSGID_MAX + 1];	/* trail_msgid_norm'ed */
	char	 client[TRAIL_CLIENT_MAX + 1];	/* "uid:N", "host queue=ID" */
};

/* What signer_status reports, per key of the table, from first on. */
#define SIGNER_STATUS_STATES	0	/* a byte a key: SIGNER_KEY_* */
#define SIGNER_STATUS_BAD	1	/* 4 bytes a key (host order): bad signatures */
#define SIGNER_STATUS_QUOTA	2	/* 8 bytes a key (host order): its */
					/* institution's refusals over the */
					/* rate, then over the daily cap */
#define SIGNER_KEY_STATUS	UINT32_MAX	/* the key number that asks */

/* Key states (SIGNER_STATUS_STATES). */
#define SIGNER_KEY_PENDING	0	/* not opened yet */
#define SIGNER_KEY_UP		1
#define SIGNER_KEY_DOWN		2

struct signer_ops {
	void	(*sign)(struct signer *, uint32_t key, enum dkim_alg,
		    const unsigned char digest[DKIM_DIGEST_LEN],
		    struct signer_reply *);
	void	(*free)(struct signer *);
	size_t	(*status)(struct signer *, int what, size_t first,
		    unsigned char *out, size_t max);	/* NULL: none */
	void	(*sign_noted)(struct signer *, uint32_t key, enum dkim_alg,
		    const unsigned char digest[DKIM_DIGEST_LEN],
		    const struct signer_note *, struct signer_reply *);
						/* NULL: sign, the note dropped */
};

struct signer {
	const struct signer_ops *ops;
};

/* signer_sign - sign digest with key; the reply says how it went */
void	signer_sign(struct signer *, uint32_t key, enum dkim_alg,
	    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *);

/*
 * signer_sign_noted - sign digest with key, with what the front says of
 * the signature for the trail (NULL: nothing)
 */
void	signer_sign_noted(struct signer *, uint32_t key, enum dkim_alg,
	    const unsigned char digest[DKIM_DIGEST_LEN],
	    const struct signer_note *, struct signer_reply *);

/*
 * signer_note_check - a note as received: 0, or -1 with why (a front it
 * does not know, a string not terminated in its field or not printable)
 */
int	signer_note_check(const struct signer_note *, char *why, size_t len);

/*
 * signer_status - what the signer knows of its keys (what: one of
 * SIGNER_STATUS_*) from key number first on, at most max bytes into
 * out; how many bytes (0 past the last key, or when it cannot say)
 */
size_t	signer_status(struct signer *, int what, size_t first,
	    unsigned char *out, size_t max);

/* signer_free - release; NULL is fine; returns NULL */
struct signer *signer_free(struct signer *);

/* signer_reply_set - a failure reply with a reason */
void	signer_reply_set(struct signer_reply *, enum signer_status,
	    const char *, ...) __attribute__((format(printf, 3, 4)));

#endif
