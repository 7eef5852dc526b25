/*
 * ceremony_transcript.c - the ceremony log printed for people to read
 * and sign (see include/p11dkim/ceremony_log.h): the records, the head
 * hash and count that anchor the log, and lines for signatures.
 *
 * Security notes: the log is verified first and printed in a second
 * pass under the same shared lock, so what is printed is what was
 * verified.  Every byte outside printable ASCII, and '%', is printed as
 * %XX, so a record cannot send terminal controls or forge transcript
 * lines.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "ceremony_int.h"

/* What the transcript pass needs. */
struct transcript {
	FILE		*out;
	unsigned long	 from;
};

/*
 * value_print - a value for people: printable ASCII as it is, anything
 * else (and '%') as %XX, so nothing in a record can move the cursor,
 * start a line of its own or change the terminal.
 */
static void
value_print(FILE *out, const char *v)
{
	if (*v == '\0')
		(void)fputs("(none)", out);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c < 0x20 || c >= 0x7f || c == '%')
			(void)fprintf(out, "%%%02X", c);
		else
			(void)putc(c, out);
	}
}

/* row_print - one aligned "label value" line of a record block */
static void
row_print(FILE *out, const char *label, const char *value)
{
	(void)fprintf(out, "  %-13s ", label);
	value_print(out, value);
	(void)putc('\n', out);
}

/*
 * transcript_record - one block per record at or after the first wanted.
 * Output errors are sticky in the stream; ceremony_log_transcript checks
 * them once at the end.
 */
static int
transcript_record(void *ctx, const struct ceremony_record *r,
    const char *hash)
{
	const struct transcript *t = ctx;

	if (r->seq < t->from)
		return 0;
	(void)fprintf(t->out, "\nRecord %lu\n", r->seq);
	row_print(t->out, "time", r->time);
	row_print(t->out, "operator", r->operator_name);
	row_print(t->out, "host", r->host);
	row_print(t->out, "token", r->token_label);
	row_print(t->out, "token serial", r->token_serial);
	row_print(t->out, "action", r->action);
	row_print(t->out, "institution", r->inst);
	row_print(t->out, "selector", r->selector);
	row_print(t->out, "key SHA-256", r->fpr);
	row_print(t->out, "result", r->result);
	row_print(t->out, "prev", r->prev);
	row_print(t->out, "record hash", hash);
	return ferror(t->out) ? -1 : 0;
}

/* transcript_head - what the transcript is of */
static void
transcript_head(FILE *out, const char *path, unsigned long from,
    const struct ceremony_log_summary *sum)
{
	(void)fputs("p11dkim ceremony log transcript\n\n", out);
	row_print(out, "log", path);
	if (sum->absent)
		(void)fputs("  (no log file: no records yet)\n", out);
	else if (from > sum->count)
		(void)fprintf(out, "  (no records from seq %lu: the log has "
		    "%lu)\n", from, sum->count);
	else
		(void)fprintf(out, "  %-13s %lu to %lu of %lu\n", "records",
		    from, sum->count, sum->count);
}

/* transcript_foot - the anchor, and room for signatures */
static void
transcript_foot(FILE *out, const struct ceremony_log_summary *sum)
{
	(void)fputs("\nThe log ends here. To verify it later, it must still "
	    "begin with these\nrecords, and record <count> must still have "
	    "this hash:\n\n", out);
	(void)fprintf(out, "  %-13s %s\n", "head hash", sum->head);
	(void)fprintf(out, "  %-13s %lu\n\n", "record count", sum->count);
	(void)fputs("Security officer: ______________________________  "
	    "Date: ______________\n\n", out);
	(void)fputs("Witness: ______________________________\n\n", out);
	(void)fputs("Witness: ______________________________\n", out);
}

/*
 * transcript_records - verify the whole log, then print it from the
 * start again: both passes run under the one shared lock, so they see
 * the same file.
 */
static int
transcript_records(const char *path, FILE *fp, const struct transcript *t,
    struct ceremony_log_summary *sum, char *err, size_t errlen)
{
	struct transcript copy = *t;
	struct walk w;

	ceremony_walk_init(&w, path, fp, sum);
	if (ceremony_walk_run(&w, NULL, NULL, err, errlen) < 0)
		return -1;
	if (fseek(fp, 0, SEEK_SET) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': rewind: "
		    "%s", path, strerror(errno));
	transcript_head(t->out, path, t->from, sum);
	ceremony_walk_init(&w, path, fp, sum);
	return ceremony_walk_run(&w, transcript_record, &copy, err, errlen);
}

/* ceremony_log_transcript - records from from_seq, anchor, signatures */
int
ceremony_log_transcript(const char *path, unsigned long from_seq,
    FILE *out, char *err, size_t errlen)
{
	struct transcript t = { out, from_seq > 0 ? from_seq : 1 };
	struct ceremony_log_summary sum;
	FILE	*fp;
	int	 rc;

	ceremony_summary_init(&sum);
	if ((rc = ceremony_open_read(path, &fp, err, errlen)) < 0)
		return -1;
	if (rc == 1) {
		sum.absent = 1;
		transcript_head(out, path, t.from, &sum);
	} else {
		rc = transcript_records(path, fp, &t, &sum, err, errlen);
		(void)fclose(fp);	/* read-only: nothing to lose */
		if (rc < 0)
			return -1;
	}
	transcript_foot(out, &sum);
	if (fflush(out) != 0 || ferror(out))
		return ceremony_fail(err, errlen, "writing the transcript: %s",
		    strerror(errno));
	return 0;
}
