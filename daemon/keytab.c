/*
 * keytab.c - the table of signing keys (see include/p11dkim/keytab.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/keytab.h"
#include "p11dkim/rotation_state.h"

/* add_entry - the key of one kind of an institution's active selector */
static int
add_entry(struct keytab *t, const struct conf_institution *i, size_t sel,
    size_t kind, char *err, size_t errlen)
{
	struct keytab_entry *e = &t->e[t->n];

	e->inst = i;
	e->selector = sel;
	e->kind = kind;
	e->selector_name = conf_selector_name(i, sel, kind);
	e->alg = conf_kind_alg(i, kind);
	e->dual = KEYTAB_NONE;
	if (conf_key_label(i, sel, kind, e->key_label, sizeof(e->key_label)) <
	    0) {
		snprintf(err, errlen, "institution %s: key label too long",
		    i->code);
		return -1;
	}
	if (kind == CONF_KIND_DUAL)
		t->e[t->n - 1].dual = (uint32_t)t->n;
	t->n++;
	return 0;
}

/* keytab_build - the table for a configuration */
int
keytab_build(const struct conf *c, struct keytab *t, char *err,
    size_t errlen)
{
	struct rotation_state rs;

	t->n = 0;
	if ((t->e = calloc(2 * c->ninst + 1, sizeof(*t->e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->ninst; i++) {
		int	 sel;

		if (rotation_state_load(c, &c->inst[i], &rs, err, errlen) < 0)
			return -1;
		if ((sel = conf_selector_index(&c->inst[i], rs.active)) < 0) {
			snprintf(err, errlen, "institution %s: active selector "
			    "'%s' unknown", c->inst[i].code, rs.active);
			return -1;
		}
		for (size_t k = 0; k < conf_kinds(&c->inst[i]); k++)
			if (add_entry(t, &c->inst[i], (size_t)sel, k, err,
			    errlen) < 0)
				return -1;
	}
	return 0;
}

/* domain_matches - d equals dom, or is a subdomain of it when allowed */
static int
domain_matches(const char *d, const char *dom, int subdomains)
{
	size_t	 a = strlen(d), b = strlen(dom);

	if (a == b)
		return strcmp(d, dom) == 0;
	return subdomains && a > b && d[a - b - 1] == '.' &&
	    strcmp(d + a - b, dom) == 0;
}

/*
 * keytab_for_domain - the institution that signs for domain: the one that
 * owns it exactly, else the one with the longest parent domain that signs
 * for subdomains (whatever the order of the file), or NULL
 */
const struct keytab_entry *
keytab_for_domain(const struct keytab *t, const char *domain,
    uint32_t *index, const char **d_domain)
{
	size_t	 best = SIZE_MAX, best_len = 0, len;

	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; t->e[i].kind == CONF_KIND_MAIN &&
		    k < t->e[i].inst->ndomains; k++) {
			const char *d = t->e[i].inst->domains[k];

			if (!domain_matches(domain, d, t->e[i].inst->subdomains))
				continue;
			if ((len = strlen(d)) <= best_len)
				continue;
			best = i;
			best_len = len;
			*d_domain = d;
		}
	if (best == SIZE_MAX)
		return NULL;
	*index = (uint32_t)best;
	return &t->e[best];
}

/*
 * keytab_request_check - may key number key sign with algorithm alg (a
 * front's request, as received)?  0, or -1 with why
 */
int
keytab_request_check(const struct keytab *t, uint32_t key, uint32_t alg,
    char *why, size_t len)
{
	if (key >= t->n) {
		snprintf(why, len, "no key number %u", key);
		return -1;
	}
	if (alg != DKIM_ALG_RSA_SHA256 && alg != DKIM_ALG_ED25519_SHA256) {
		snprintf(why, len, "no algorithm number %u", alg);
		return -1;
	}
	if (alg != (uint32_t)t->e[key].alg) {
		snprintf(why, len, "key %u is not for %s", key,
		    dkim_alg_name((enum dkim_alg)alg));
		return -1;
	}
	return 0;
}

/* keytab_release - free the table */
void
keytab_release(struct keytab *t)
{
	free(t->e);
	t->e = NULL;
	t->n = 0;
}
