/*
 * ceremony_log.h - the append-only, hash-chained log of key ceremonies.
 *
 * Every state-changing step of p11dkim-keys (init-token, generate,
 * publish, activate, revoke, destroy) appends one record: one text line
 * of key=value fields in a fixed order, values percent-encoded.  Each
 * record carries the SHA-256 of the previous record's line, so a record
 * that is altered, removed, inserted or moved breaks the chain, and
 * ceremony_log_verify() names the first line where it breaks.
 *
 * Security notes: the chain is not a signature.  Whoever can write the
 * file can cut off the newest records, or rebuild the chain from an
 * altered record on; both change the head hash and count, which is why
 * verify reports them and the transcript prints them for witnesses to
 * sign: only a comparison with such an anchor detects it (see
 * docs/CEREMONY-LOG.md).  Two anchors are checked by ceremony_log_check():
 * a head hash the caller gives (from a signed transcript), and the anchor
 * file every append rewrites (the count and head after it), which
 * catches a log cut short or rewritten by anyone who does not also
 * rewrite that file.  The parser accepts exactly the text the formatter
 * writes, so each record has one line and one hash.
 *
 * Ownership: no memory crosses this API; records are fixed-size structs
 * owned by the caller.  On failure a function returns -1 and writes a
 * one-line message with context to err (errlen bytes, NUL-terminated;
 * err may be NULL).  No global state; not thread-safe on one record.
 */
#ifndef P11DKIM_CEREMONY_LOG_H
#define P11DKIM_CEREMONY_LOG_H

#include <stddef.h>
#include <stdio.h>

#include "p11dkim/buf.h"

#define CEREMONY_LOG_LINE_MAX	4096	/* bytes in a line, without its LF */
#define CEREMONY_LOG_HASH_HEX	65	/* 64 lower-case hex digits, NUL */
#define CEREMONY_LOG_TIME_SIZE	21	/* "2026-11-26T23:30:00Z", NUL */

/*
 * One record; line keys in order: seq time operator host token serial
 * action inst selector fpr result prev.  The sizes include the NUL and
 * are chosen so that the longest record, every byte percent-encoded,
 * still fits in CEREMONY_LOG_LINE_MAX.  Fields marked "required" may not
 * be empty; the others may.
 */
struct ceremony_record {
	unsigned long seq;			/* 1, 2, ...; set by append */
	char	time[CEREMONY_LOG_TIME_SIZE];	/* UTC; append fills "" */
	char	operator_name[128];		/* who ran it (required) */
	char	host[256];			/* where (required) */
	char	token_label[64];		/* CKA_LABEL of the token */
	char	token_serial[64];		/* its serial number */
	char	action[32];			/* [a-z0-9-]+ (required) */
	char	inst[64];			/* institution code */
	char	selector[128];			/* DKIM selector */
	char	fpr[CEREMONY_LOG_HASH_HEX];	/* hex SHA-256 of SPKI or "" */
	char	result[384];			/* "ok" or "failed: <why>" */
	char	prev[CEREMONY_LOG_HASH_HEX];	/* set by append */
};

/* What verify found: all of it, or the intact part before a bad line. */
struct ceremony_log_summary {
	unsigned long count;		/* records that verified */
	char	head[CEREMONY_LOG_HASH_HEX];	/* hash of the last of them;
					   64 zeros when count is 0 */
	unsigned long bad_line;		/* first line that failed, 0: none */
	int	absent;			/* 1: there is no log file */
};

/*
 * The anchor file: "count=N head=HEX" and a LF, the record count and
 * head hash of the log after the last append.
 */
struct ceremony_anchor {
	unsigned long count;
	char	 head[CEREMONY_LOG_HASH_HEX];
};

/*
 * ceremony_anchor_parse - the text of an anchor file, len bytes (need
 * not be NUL-terminated): exactly "count=N head=HEX" and a LF, N in
 * decimal without leading zeros, HEX 64 lower-case hex digits.  0, or -1
 * for anything else.
 */
int	ceremony_anchor_parse(const char *text, size_t len,
	    struct ceremony_anchor *);

/*
 * ceremony_log_append - add rec to the log at path, creating it (mode
 * 0640, before umask) if absent.  Under an exclusive flock it reads the
 * last line, refuses to go on if that line is not a record (damaged or
 * truncated log: run verify), sets rec->seq and rec->prev to chain to
 * it, sets rec->time to now unless the caller preset it, checks every
 * field, then writes the line with one write() and fsyncs.  Only the
 * last record is checked; verify checks the whole chain.  Then, still
 * under the lock, it replaces the anchor file at anchor_path (unless
 * NULL) with the new count and head, atomically.  The record is durable
 * before the anchor names it: a crash in between leaves the anchor one
 * record behind, which verify accepts, never ahead of the log.  If only
 * the anchor fails, the record stays and -1 says so.
 */
int	ceremony_log_append(const char *path, const char *anchor_path,
	    struct ceremony_record *rec, char *err, size_t errlen);

/*
 * ceremony_log_check_append - would an append work now?  The log opens
 * to append (or, when it does not exist yet, its directory lets us
 * create it), takes the lock, and ends in a valid record; nothing is
 * written.  A ceremony asks this before it touches a token, so that a log
 * it cannot write stops it while nothing has changed.
 */
int	ceremony_log_check_append(const char *path, char *err, size_t errlen);

/*
 * ceremony_log_last - the last record of an intact log for which
 * match(ctx, rec) returns 1.  Returns 1 with the record in *out, 0 when
 * none matches (or there is no log), -1 when the log is broken or cannot
 * be read (err says where).
 */
int	ceremony_log_last(const char *path, int (*match)(void *,
	    const struct ceremony_record *), void *ctx,
	    struct ceremony_record *out, char *err, size_t errlen);

/*
 * ceremony_log_verify - check every line of the log and its chain.
 * Returns 0 when it is intact: an absent or empty log is intact with
 * count 0 (out->absent tells which).  Returns -1 when it is not, with
 * out->bad_line set and the reason in err (a line that is not a record,
 * a seq out of order, a prev that does not match the line before), or
 * on an I/O error (bad_line 0).  Truncation at a line boundary leaves an
 * intact, shorter log: only a saved head hash and count reveal it
 * (ceremony_log_check()).
 */
int	ceremony_log_verify(const char *path,
	    struct ceremony_log_summary *out, char *err, size_t errlen);

/*
 * What ceremony_log_check() holds the log to besides its own chain, and
 * what it found.  In: head and anchor_path, each NULL when not asked.
 */
struct ceremony_log_check {
	const char *head;		/* 64 lower-case hex digits */
	const char *anchor_path;	/* the anchor file */
	/* Out: */
	int	 failed;		/* 1: the chain is intact, an anchor not */
	int	 head_found;		/* the chain passes through head */
	unsigned long head_seq;		/* the record whose hash it is (0: the
					   empty log's 64 zeros) */
	int	 anchor_absent;		/* there is no anchor file */
	struct ceremony_anchor anchor;	/* what the anchor file says */
};

/*
 * ceremony_log_check - ceremony_log_verify(), and under the same lock:
 * the chain must pass through chk->head (the hash of one of its records:
 * an anchor taken earlier stays valid as records are added, and fails
 * once that record is cut off or rewritten), and it must reach the anchor
 * file's count with the anchor's head at that record (the log may be
 * longer: an append that stopped between its record and the anchor).
 * Once the log has records the anchor file must exist; while there are
 * none, it must say none.  Returns 0 when all hold; -1 with chk->failed set and
 * why in err when the chain is intact but an anchor does not hold, or as
 * ceremony_log_verify() does.
 */
int	ceremony_log_check(const char *path, struct ceremony_log_check *chk,
	    struct ceremony_log_summary *out, char *err, size_t errlen);

/*
 * ceremony_log_transcript - print to out, for people to read and sign,
 * the records from seq from_seq on (0 or 1: all), then the head hash and
 * record count of the whole log and lines for the security officer and
 * two witnesses.  The log is verified first, under the same shared lock;
 * a broken log prints nothing and returns -1.  Bytes outside printable
 * ASCII, and '%', are shown as %XX.
 */
int	ceremony_log_transcript(const char *path, unsigned long from_seq,
	    FILE *out, char *err, size_t errlen);

/*
 * ceremony_log_find_generated - the last record of the generation of the
 * key with fingerprint fpr on the token (label and serial): action
 * "generate", result "ok" or "ok: ...".  The whole log is verified in the
 * same pass: a log that does not verify vouches for nothing.  Returns 1
 * with the record in out, 0 when there is none (or no log), -1 when the
 * log cannot be read or does not verify (err says why).
 */
int	ceremony_log_find_generated(const char *path, const char *token_label,
	    const char *token_serial, const char *fpr,
	    struct ceremony_record *out, char *err, size_t errlen);

/*
 * ceremony_result_ok - did the step the record's result describes go
 * well: "ok", or "ok: " and a note (a generate that names the protections
 * its token refused)?  A "failed: ..." record, or anything else, did not.
 */
int	ceremony_result_ok(const char *result);

/*
 * ceremony_log_format - check rec and append its line (without LF) to
 * out.  On failure out keeps its previous contents.
 */
int	ceremony_log_format(const struct ceremony_record *rec,
	    struct buf *out, char *err, size_t errlen);

/*
 * ceremony_log_parse - parse one line of len bytes (without its LF; it
 * need not be NUL-terminated) into rec.  Strict: the fields in order,
 * none missing or unknown, values in canonical percent-encoding and
 * valid, at most CEREMONY_LOG_LINE_MAX bytes.  A line it accepts is
 * exactly what ceremony_log_format() writes for rec.
 */
int	ceremony_log_parse(const char *line, size_t len,
	    struct ceremony_record *rec, char *err, size_t errlen);

#endif
