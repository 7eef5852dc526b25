/*
 * canon_body.h - streaming body canonicalization (RFC 6376 3.4.3, 3.4.4).
 *
 * The body arrives in chunks of any size, split anywhere (a CR and its LF
 * may come in two chunks).  The canonical form is passed to a sink as it
 * is produced; memory does not grow with the body: the state is a few
 * counters, whatever the input.
 *
 * Line endings: CRLF and a bare LF both end a line, and the canonical
 * form always uses CRLF (mailers hand us LF-only messages that go out
 * with CRLF on the wire).  A CR that is not followed by LF is not a line
 * ending: it is kept as an ordinary data byte, as dkimpy and OpenDKIM do.
 *
 * Where the canonical form equals the input (most of any body), the sink
 * receives runs of the caller's buffer, not copies, so hashing runs at
 * close to the raw digest speed.
 */
#ifndef P11DKIM_CANON_BODY_H
#define P11DKIM_CANON_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "p11dkim/dkim_alg.h"

/* canon_sink - receives canonical bytes; returns 0, or -1 to stop */
typedef int canon_sink(void *arg, const char *, size_t);

struct canon_body {
	enum dkim_canon mode;
	canon_sink *sink;
	void	*sink_arg;
	uint64_t pending_crlf;	/* empty lines held back: maybe trailing */
	uint64_t out_bytes;	/* canonical bytes produced so far */
	unsigned cr_pending:1;	/* previous chunk ended with a CR */
	unsigned wsp_pending:1;	/* relaxed: a WSP run not yet written */
	unsigned line_content:1;/* this line has produced content */
	unsigned failed:1;	/* the sink failed; nothing more is sent */
};

/* canon_body_init - set up a canonicalizer writing to sink */
void	canon_body_init(struct canon_body *, enum dkim_canon,
	    canon_sink *, void *);

/* canon_body_update - canonicalize a chunk; -1 when the sink failed */
int	canon_body_update(struct canon_body *, const char *, size_t);

/* canon_body_final - end of body: trailing lines, final CRLF; -1 on failure */
int	canon_body_final(struct canon_body *);

#endif
