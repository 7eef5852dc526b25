/*
 * signer_local.h - the signer in this process: keys on their tokens,
 * through the token layer.  This is what the signer process runs, and
 * what tests use without a second process.
 *
 * It holds key tables: a table numbers the keys of one configuration
 * (one keytab, include/p11dkim/keytab.h) as its fronts know them.  A
 * reload loads a new table next to the old one; keys whose spec did not
 * change are the same entries, logged in and checked already (see
 * include/p11dkim/keyspec.h), new ones are opened in the background.  A
 * view of a table is a struct signer that signs with its key numbers; a
 * table retired by the parent goes when its last view does.
 *
 * A key is opened (its token logged in, the key found, its type checked,
 * a known-answer self-test signature made and verified) by the opener
 * threads (open-threads of them), or at once by a request that needs it.
 * One that fails is tried again with a back-off (1 s doubling to 60 s);
 * until then its requests get a temporary failure that says why.  With
 * strict, a table is in place only once every key that is not optional
 * opened.
 */
#ifndef P11DKIM_SIGNER_LOCAL_H
#define P11DKIM_SIGNER_LOCAL_H

#include <stdint.h>

#include "p11dkim/conf.h"
#include "p11dkim/keyspec.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer.h"

struct signer_local;

/*
 * signer_local_new - load the module of c (kept, with c's token settings,
 * for the signer's life) and start the opener threads; NULL and why
 */
struct signer_local *signer_local_new(const struct conf *c, char *err,
	    size_t errlen);

/* How a table is loaded, and what was found. */
struct signer_load {
	int	 strict;	/* every key opened, or the table is refused */
	int	 settle;	/* every key tried before the answer */
	unsigned unseen;	/* out: new tokens the module does not show */
};

/*
 * signer_local_load - table id for n specs; with strict, wait until every
 * key opened and refuse the table when one that is not optional did not.
 * 0, or -1 and why (nothing changed then).
 */
int	signer_local_load(struct signer_local *, uint32_t id,
	    const struct keyspec *, size_t n, struct signer_load *, char *err,
	    size_t errlen);

/* signer_local_view - a signer for table id's key numbers, or NULL */
struct signer *signer_local_view(struct signer_local *, uint32_t id);

/* signer_local_retire - table id goes once its last view is freed */
void	signer_local_retire(struct signer_local *, uint32_t id);

/* signer_local_reopen - the signing trail's files opened anew */
void	signer_local_reopen(struct signer_local *);

/* signer_local_free - every view must be freed first; NULL is fine */
void	signer_local_free(struct signer_local *);

/*
 * signer_local_open - in one call, for tests and tools: a signer for
 * keytab t's key numbers, every key opened first (as strict); freeing it
 * frees everything.  NULL and why.
 */
struct signer *signer_local_open(const struct conf *, const struct keytab *,
	    char *err, size_t errlen);

#endif
