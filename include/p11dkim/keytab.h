/*
 * keytab.h - the daemon's table of signing keys: one entry per
 * institution, with the selector that signs for it now (from the
 * rotation state), the token label of its key and the algorithm.
 *
 * Whether the institution is pending (its DNS not yet confirmed) is
 * read from its state file with the rotation state, at start and at
 * each reload: the check a request makes is one flag of its entry.
 *
 * A dual-signing institution has a second entry, for its Ed25519 key,
 * right after the first, which points to it (dual).
 *
 * The parent builds it from the configuration before it starts its
 * children, so the fronts and the signer agree on what key N means: a
 * front asks "sign with key N", the signer looks key N up in the same
 * table.
 */
#ifndef P11DKIM_KEYTAB_H
#define P11DKIM_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "p11dkim/conf.h"
#include "p11dkim/strmap.h"

struct keytab_entry {
	const struct conf_institution *inst;
	size_t	 selector;		/* index: 0 or 1 */
	size_t	 kind;			/* CONF_KIND_MAIN or CONF_KIND_DUAL */
	const char *selector_name;	/* s= */
	char	 key_label[128];	/* on the institution's token */
	enum dkim_alg alg;
	uint32_t dual;			/* the dual entry, or KEYTAB_NONE */
	int	 pending;		/* the state file says pending */
};

#define KEYTAB_NONE	UINT32_MAX

struct keytab_domain {
	uint32_t entry;			/* the institution's main entry */
	const char *domain;		/* one of its domains */
};

struct keytab {
	struct keytab_entry *e;
	size_t	 n;
	struct keytab_domain *dom;	/* every institution's domains */
	size_t	 ndom;
	struct strmap *by_domain;	/* domain -> index in dom */
};

/* keytab_build - the table for a configuration; -1 and why on failure */
int	keytab_build(const struct conf *, struct keytab *, char *err,
	    size_t errlen);

/*
 * keytab_for_domain - the entry of the institution that signs for
 * domain: the one that owns it exactly, else the one that owns its
 * longest parent and signs for subdomains, or NULL.  *index is set to
 * the entry's key number, *d_domain to the institution's domain that
 * matched (the d= to sign with).  A hash lookup per label of domain:
 * the same cost however many institutions there are.
 */
const struct keytab_entry *keytab_for_domain(const struct keytab *,
	    const char *domain, uint32_t *index, const char **d_domain);

/* keytab_release - free the table */
void	keytab_release(struct keytab *);

#endif
