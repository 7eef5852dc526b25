/*
 * canon_body.c - streaming body canonicalization, RFC 6376 3.4.3 (simple)
 * and 3.4.4 (relaxed).  See include/p11dkim/canon_body.h.
 *
 * The output is described as runs of the input ("spans", passed to the
 * sink without copying) interleaved with short literals: a CRLF where the
 * input had a bare LF, the held-back CRLFs of empty lines once content
 * follows them, a single SP for a run of whitespace.  Empty lines are
 * only counted, never stored, so a body of a million empty lines costs
 * no memory; they are written when content follows, or dropped at the
 * end of the body (both algorithms ignore trailing empty lines).
 *
 * Security: input is untrusted; no byte value is special except SP, HTAB,
 * CR and LF, and state carried between chunks is bounded.
 */
#include <stdint.h>
#include <string.h>

#include "p11dkim/canon_body.h"

#define CRLF_BATCH	32
static const char crlf_batch[] =
    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

/* Byte classes for the relaxed algorithm. */
enum { C_OTHER = 0, C_SP, C_TAB, C_CR, C_LF };

static const unsigned char byte_class[256] = {
	['\t'] = C_TAB, ['\n'] = C_LF, ['\r'] = C_CR, [' '] = C_SP,
};

/*
 * Word-at-a-time scanning of text that relaxed canonicalization keeps as
 * it is.  bytes_below() sets the high bit of each byte of w that is below
 * n (n <= 0x80) without carries between bytes; bytes >= 0x80 never match.
 */
#define SWAR_ONES	0x0101010101010101ULL
#define SWAR_HIGHS	0x8080808080808080ULL

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FIRST_LANE(m)	((size_t)__builtin_ctzll(m) >> 3)
#endif

/* bytes_below - high bit set in each byte of w that is below n */
static inline uint64_t
bytes_below(uint64_t w, unsigned n)
{
	return ~(((w & ~SWAR_HIGHS) + SWAR_ONES * (0x80 - n)) | w) & SWAR_HIGHS;
}

/*
 * plain_stop - does a plain run end at p?  At a control byte (CR, LF and
 * HTAB among them), and at a SP followed by SP, a control byte or the end
 * of the chunk (the SP may be trailing or the start of a run).
 */
static int
plain_stop(const char *p, const char *end)
{
	unsigned char c = (unsigned char)*p;

	return c < 0x20 ||
	    (c == ' ' && (p + 1 == end || (unsigned char)p[1] <= 0x20));
}

/*
 * crlf_content - CRLF followed by a byte above SP.  Inside a line that has
 * content no empty line is held back, so that CRLF and the start of the
 * next line are canonical as they are: a plain run goes on across them.
 */
static int
crlf_content(const char *p, const char *end)
{
	return end - p >= 3 && p[0] == '\r' && p[1] == '\n' &&
	    (unsigned char)p[2] > 0x20;
}

/*
 * plain_run - skip what relaxed canonicalization keeps unchanged in a
 * line that has content and no WSP pending: bytes above SP, a single SP
 * before such a byte, a CRLF before such a byte.  Eight bytes are tested
 * at once (with the next byte, for the SP rule); only the stops go back
 * through the state machine.
 */
static const char *
plain_run(const char *p, const char *end)
{
	uint64_t a, b, stop;

	while (end - p > 8) {
		memcpy(&a, p, 8);
		memcpy(&b, p + 1, 8);
		stop = bytes_below(a, 0x20) |
		    (bytes_below(a, 0x21) & bytes_below(b, 0x21));
		if (stop == 0) {
			p += 8;
			continue;
		}
#ifdef FIRST_LANE
		p += FIRST_LANE(stop);
#else
		while (!plain_stop(p, end))
			p++;
#endif
		if (!crlf_content(p, end))
			return p;
		p += 3;
	}
	for (; p < end; p++) {
		if (!plain_stop(p, end))
			continue;
		if (!crlf_content(p, end))
			break;
		p += 2;
	}
	return p;
}

/* canon_body_init - set up a canonicalizer writing to sink */
void
canon_body_init(struct canon_body *cb, enum dkim_canon mode,
    canon_sink *sink, void *arg)
{
	memset(cb, 0, sizeof(*cb));
	cb->mode = mode;
	cb->sink = sink;
	cb->sink_arg = arg;
}

/* emit - pass n canonical bytes on; remembers a sink failure */
static void
emit(struct canon_body *cb, const char *p, size_t n)
{
	if (n == 0 || cb->failed)
		return;
	if (cb->sink(cb->sink_arg, p, n) < 0)
		cb->failed = 1;
	else
		cb->out_bytes += n;
}

/* flush_span - pass on the input run [s, p) unchanged */
static void
flush_span(struct canon_body *cb, const char *s, const char *p)
{
	if (p > s)
		emit(cb, s, (size_t)(p - s));
}

/* emit_pending_crlf - write the empty lines held back so far */
static void
emit_pending_crlf(struct canon_body *cb)
{
	while (cb->pending_crlf > 0) {
		size_t n = cb->pending_crlf > CRLF_BATCH ?
		    CRLF_BATCH : (size_t)cb->pending_crlf;

		emit(cb, crlf_batch, 2 * n);
		cb->pending_crlf -= n;
	}
}

/*
 * content_start - content is about to be produced at p: first write what
 * was held back before it (empty lines, then a WSP run as one SP, 3.4.4),
 * cutting the current span at p.
 */
static void
content_start(struct canon_body *cb, const char **s, const char *p)
{
	if ((!cb->line_content && cb->pending_crlf > 0) || cb->wsp_pending) {
		flush_span(cb, *s, p);
		*s = p;
		if (!cb->line_content)
			emit_pending_crlf(cb);
		if (cb->wsp_pending)
			emit(cb, " ", 1);
	}
	cb->line_content = 1;
	cb->wsp_pending = 0;
}

/* line_end_literal - a line ended where the input's CRLF is not usable */
static void
line_end_literal(struct canon_body *cb)
{
	if (cb->line_content)
		emit(cb, "\r\n", 2);
	else
		cb->pending_crlf++;
	cb->line_content = 0;
	cb->wsp_pending = 0;
}

/*
 * resolve_cr - the previous chunk ended with a CR: it was half of a CRLF
 * if this chunk starts with LF, else a lone CR, which is data.  Returns
 * the number of bytes of this chunk consumed.
 */
static size_t
resolve_cr(struct canon_body *cb, const char *data)
{
	const char *s = data;

	cb->cr_pending = 0;
	if (data[0] == '\n') {
		line_end_literal(cb);
		return 1;
	}
	content_start(cb, &s, data);
	emit(cb, "\r", 1);
	return 0;
}

/*
 * simple_update - RFC 6376 3.4.3: the body as it is, but for empty lines
 * at the end.  Lines are found with memchr; a line whose content is
 * followed by CRLF is passed on as part of the span.
 */
static void
simple_update(struct canon_body *cb, const char *p, const char *end)
{
	const char *s = p, *lf, *eol;

	while (p < end) {
		if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			eol = end[-1] == '\r' ? end - 1 : end;
			if (eol > p && !cb->line_content)
				content_start(cb, &s, p);
			flush_span(cb, s, eol);
			cb->cr_pending = eol < end;
			s = p = end;
			break;
		}
		eol = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
		if (eol > p && !cb->line_content)
			content_start(cb, &s, p);
		if (cb->line_content && eol < lf) {
			p = lf + 1;		/* the input's CRLF is canonical */
			cb->line_content = 0;
			continue;
		}
		flush_span(cb, s, eol);
		line_end_literal(cb);
		s = p = lf + 1;
	}
	flush_span(cb, s, p);
}

/*
 * relaxed_update - RFC 6376 3.4.4: WSP at the end of a line is removed,
 * a WSP run inside a line becomes one SP, empty lines at the end are
 * removed.  Text that is already canonical (words with single spaces,
 * lines that end in CRLF and start with content) stays in the span and is
 * skipped eight bytes at a time by plain_run(), so ordinary text is
 * passed on in long runs.
 */
static void
relaxed_update(struct canon_body *cb, const char *p, const char *end)
{
	const char *s = p;
	int	 k;

	while (p < end) {
		k = byte_class[(unsigned char)*p];
		if (k == C_CR && p + 1 < end && p[1] != '\n')
			k = C_OTHER;			/* a lone CR is data */
		switch (k) {
		case C_OTHER:
			if (!cb->line_content || cb->wsp_pending)
				content_start(cb, &s, p);
			p = plain_run(p + 1, end);
			break;
		case C_SP:
			if (!cb->wsp_pending && p + 1 < end &&
			    byte_class[(unsigned char)p[1]] == C_OTHER) {
				if (!cb->line_content)
					content_start(cb, &s, p);
				p += 2;
				break;
			}
			/* FALLTHROUGH */
		case C_TAB:
			flush_span(cb, s, p);
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			s = p;
			cb->wsp_pending = 1;
			break;
		case C_CR:
			if (p + 1 == end) {
				flush_span(cb, s, p);
				cb->cr_pending = 1;
				s = p = end;
				break;
			}
			cb->wsp_pending = 0;
			if (cb->line_content) {
				p += 2;		/* the input's CRLF is canonical */
			} else {
				flush_span(cb, s, p);
				cb->pending_crlf++;
				s = p += 2;
			}
			cb->line_content = 0;
			break;
		default:			/* bare LF */
			flush_span(cb, s, p);
			line_end_literal(cb);
			s = ++p;
			break;
		}
	}
	flush_span(cb, s, p);
}

/* canon_body_update - canonicalize a chunk; -1 when the sink failed */
int
canon_body_update(struct canon_body *cb, const char *data, size_t len)
{
	size_t	 skip = 0;

	if (len == 0)
		return cb->failed ? -1 : 0;
	if (cb->cr_pending)
		skip = resolve_cr(cb, data);
	if (cb->mode == DKIM_CANON_RELAXED)
		relaxed_update(cb, data + skip, data + len);
	else
		simple_update(cb, data + skip, data + len);
	return cb->failed ? -1 : 0;
}

/*
 * canon_body_final - end of body.  Empty lines still held back are the
 * trailing ones and are dropped; a last line without a line ending gets
 * CRLF; an empty body is CRLF for simple (3.4.3) and empty for relaxed
 * (3.4.4).  A CR that ended the body is a lone CR, so data.
 */
int
canon_body_final(struct canon_body *cb)
{
	const char *none = "";

	if (cb->cr_pending) {
		cb->cr_pending = 0;
		content_start(cb, &none, none);
		emit(cb, "\r", 1);
	}
	if (cb->line_content)
		emit(cb, "\r\n", 2);
	else if (cb->out_bytes == 0 && cb->mode == DKIM_CANON_SIMPLE)
		emit(cb, "\r\n", 2);
	cb->pending_crlf = 0;
	cb->line_content = 0;
	cb->wsp_pending = 0;
	return cb->failed ? -1 : 0;
}
