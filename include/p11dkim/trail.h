/*
 * trail.h - the signing trail's writer, in the signer process: one
 * append-only file per institution, <trail-dir>/<code>.trail, a record
 * (include/p11dkim/trail_record.h) a line for every signature made.
 *
 * Records are written with one write(2) each before the signer replies,
 * so a signature the front receives has its record in the file (in the
 * page cache at least); how soon it is on disk is the sync policy: every
 * record (fdatasync before the reply), or every few seconds the files
 * written since (fdatasync each, from a thread of its own).
 *
 * At most open_max files are open for writing at once (the least
 * recently used one is closed for a new one; one with records not synced
 * yet waits for the sync thread, at most open_max so), so 10,000
 * institutions cost no more descriptors than a few.  trail_reopen() closes them all: the next
 * record of each institution opens its file anew, which is how logrotate
 * (rename, then SIGUSR1 to the daemon) starts new files.
 */
#ifndef P11DKIM_TRAIL_H
#define P11DKIM_TRAIL_H

#include <stddef.h>

#include "p11dkim/trail_record.h"

struct trail;

/*
 * trail_new - a writer for the folder dir (opened now: it must exist);
 * sync_s 0: every record is synced before trail_write returns, else the
 * files written every sync_s seconds; NULL and why
 */
struct trail *trail_new(const char *dir, unsigned sync_s, unsigned open_max,
	    char *err, size_t errlen);

/*
 * trail_write - the record appended to its institution's file (and
 * synced, as the policy says); 0, or -1 with why: then the file is as it
 * was (a part of the line written before the failure is cut off)
 */
int	trail_write(struct trail *, const struct trail_record *, char *why,
	    size_t whylen);

/* trail_reopen - close every file: the next record opens it anew */
void	trail_reopen(struct trail *);

/* trail_free - stop the sync thread, close everything; NULL is fine */
void	trail_free(struct trail *);

#endif
